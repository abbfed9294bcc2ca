"""``tochka users``: add, list, remove."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import LoginArg, RoadmapCode

app = typer.Typer(help="Пользователи, роли и области действия.", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    login: LoginArg,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="coordinator (координатор), municipality (муниципалитет), school (школа) "
            "или viewer (наблюдатель); можно по-русски.",
        ),
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="Муниципалитет (для municipality, можно несколько раз) или код центра (school).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Фамилия, имя, отчество — так письма называют того, кто отметил событие.",
        ),
    ] = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Добавить пользователя или изменить его роль, область и имя (только координатор)."""
    from workflow.engine.access import ASSIGNABLE_ROLES, ROLE_TITLES, Role
    from workflow.engine.users import UserAdmin
    from workflow.errors import InputError

    st = state(ctx)
    by_name = {r.value: r.value for r in ASSIGNABLE_ROLES} | {
        ROLE_TITLES[r]: r.value for r in ASSIGNABLE_ROLES
    }
    if role.strip().lower() not in by_name:
        raise InputError(
            f"Неизвестная роль «{role}».",
            hint="Роли: "
            + ", ".join(f"{r.value} ({ROLE_TITLES[r]})" for r in ASSIGNABLE_ROLES)
            + ".",
        )
    role = by_name[role.strip().lower()]
    stored = st.roadmap(roadmap)
    user = UserAdmin(st.engine(), stored).add(
        st.actor_ref, login, Role(role), scope or [], now=st.now(), full_name=name
    )
    if st.json:
        print_json(user.as_json())
        return
    where = f", область: {', '.join(user.scope)}" if user.scope else ""
    named = f" ({user.full_name})" if user.full_name else ""
    done(f"Пользователь {user.login}{named}: роль «{ROLE_TITLES[Role(user.role)]}»{where}.")


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, roadmap: RoadmapCode = None) -> None:
    """Пользователи дорожной карты."""
    from base import db
    from workflow.engine.users import list_users

    st = state(ctx)
    roadmap_id = st.roadmap_id(roadmap)
    with db.read(st.engine()) as conn:
        users = list_users(conn, roadmap_id)
    if st.json:
        print_json([u.as_json() for u in users])
        return
    from workflow.cli.listing import Column, Fit, print_table
    from workflow.engine.access import ROLE_TITLES, Role

    print_table(
        f"Пользователи: {len(users)}",
        (
            Column("логин"),
            Column("имя", Fit.WRAP),
            Column("роль"),
            Column("область", Fit.WRAP),
            Column("добавил"),
        ),
        [
            (u.login, u.full_name, ROLE_TITLES[Role(u.role)], ", ".join(u.scope), u.created_by)
            for u in users
        ],
        width=st.width,
    )


@app.command("remove")
@handle_errors
def remove(ctx: typer.Context, login: LoginArg, roadmap: RoadmapCode = None) -> None:
    """Удалить пользователя (только координатор; последнего координатора удалить нельзя)."""
    from workflow.engine.users import UserAdmin

    st = state(ctx)
    stored = st.roadmap(roadmap)
    UserAdmin(st.engine(), stored).remove(st.actor_ref, login, now=st.now())
    if st.json:
        print_json({"login": login, "removed": True})
        return
    done(f"Пользователь {login} удалён.")
