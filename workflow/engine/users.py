"""User administration: add, change, remove, list; every change audited and checked.

The changes import the audit chain, the dates and the bounces (with the outbox's tables)
when they run: the listing (`tochka users list`) needs none of it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, system_clock
from workflow.engine.access import (
    ROLE_TITLES,
    SYSTEM,
    AccessDenied,
    Action,
    Actor,
    Role,
    authorize_action,
    refusals_recorded,
)
from workflow.errors import InputError, NotFound
from workflow.roadmap import store as roadmap_store
from workflow.storage.tables import CENTER, ROADMAP, USER

if TYPE_CHECKING:
    from workflow.roadmap.definition import Roadmap
    from workflow.roadmap.store import StoredRoadmap


@dataclass(frozen=True, kw_only=True)
class UserView:
    """A user as listed."""

    login: str
    role: str
    scope: list[str]
    created_by: str
    created_at: datetime
    full_name: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "full_name": self.full_name,
            "role": self.role,
            "scope": self.scope,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def list_users(conn: Connection, roadmap_id: int) -> list[UserView]:
    """Users of a roadmap, by login."""
    rows = conn.execute(
        sa.select(
            USER.c.login,
            USER.c.full_name,
            USER.c.role,
            USER.c.scope,
            USER.c.created_by,
            USER.c.created_at,
        )
        .where(USER.c.roadmap_id == roadmap_id)
        .order_by(USER.c.login)
    )
    return [
        UserView(
            login=r.login,
            full_name=r.full_name,
            role=r.role,
            scope=list(r.scope or []),
            created_by=r.created_by,
            created_at=r.created_at,
        )
        for r in rows
    ]


#: How letters name the daemon and `tochka tick` runs (the system role).
SYSTEM_TITLE = "система Tochka (автоматически)"
#: Longest full name (the column's length).
MAX_FULL_NAME = 200


def actor_title(conn: Connection, roadmap_id: int, login: str) -> str:
    """Who acted, as a letter says it: «Иванова Анна Петровна, координатор»; without a
    recorded name the role alone («координатор»); never the operating-system login."""
    row = conn.execute(
        sa.select(USER.c.full_name, USER.c.role).where(
            USER.c.roadmap_id == roadmap_id, USER.c.login == login
        )
    ).first()
    if row is None:
        return SYSTEM_TITLE if login == SYSTEM.login else "пользователь вне списка дорожной карты"
    if row.role == Role.SYSTEM.value:
        return SYSTEM_TITLE
    known = {r.value: title for r, title in ROLE_TITLES.items()}
    role = known.get(row.role, "пользователь")
    return f"{row.full_name}, {role}" if row.full_name else role


def _clean_full_name(full_name: str) -> str:
    """A full name as given on the command line: one line, single spaces, bounded."""
    cleaned = " ".join(full_name.split())
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in full_name.strip()):
        raise InputError("Имя пользователя (--name) содержит управляющие символы.")
    if len(cleaned) > MAX_FULL_NAME:
        raise InputError(
            f"Имя пользователя (--name) длиннее {MAX_FULL_NAME} символов: {len(cleaned)}."
        )
    return cleaned


def bootstrap_coordinator(
    conn: Connection, roadmap_id: int, login: str, now: datetime, effective: Any
) -> bool:
    """Make ``login`` the coordinator of a roadmap that has no users yet (first init)."""
    exists = conn.execute(
        sa.select(sa.func.count()).select_from(USER).where(USER.c.roadmap_id == roadmap_id)
    ).scalar_one()
    if exists:
        return False
    _insert(
        conn,
        roadmap_id,
        login,
        Role.COORDINATOR,
        [],
        created_by=login,
        now=now,
        effective=effective,
        trigger="bootstrap",
    )
    return True


def _insert(
    conn: Connection,
    roadmap_id: int,
    login: str,
    role: Role,
    scope: list[str],
    *,
    created_by: str,
    now: datetime,
    effective: Any,
    trigger: str,
    on_behalf_of: str | None = None,
    full_name: str = "",
) -> None:
    new_id = conn.execute(
        sa.insert(USER).values(
            roadmap_id=roadmap_id,
            login=login,
            full_name=full_name,
            role=role.value,
            scope=scope or None,
            created_by=created_by,
            created_at=now,
        )
    ).inserted_primary_key
    assert new_id is not None
    _event(
        conn,
        roadmap_id,
        int(new_id[0]),
        login,
        trigger,
        None,
        role.value,
        scope,
        actor=created_by,
        on_behalf_of=on_behalf_of,
        now=now,
        effective=effective,
    )


def _event(
    conn: Connection,
    roadmap_id: int,
    user_id: int,
    login: str,
    trigger: str,
    before: str | None,
    after: str,
    scope: Sequence[str],
    *,
    actor: str,
    on_behalf_of: str | None,
    now: datetime,
    effective: Any,
) -> None:
    from workflow.engine import audit

    audit.append(
        conn,
        roadmap_id,
        [
            audit.NewEvent(
                entity_kind="user",
                entity_id=user_id,
                entity_key=login,
                trigger=trigger,
                from_state=before,
                to_state=after,
                actor=actor,
                on_behalf_of=on_behalf_of,
                recorded_at=now,
                effective_date=effective,
                comment=("область: " + ", ".join(scope)) if scope else None,
            )
        ],
    )


def _validate_scope(
    conn: Connection, roadmap_id: int, role: Role, scope: Sequence[str]
) -> list[str]:
    cleaned = [s.strip() for s in scope if s.strip()]
    if role in (Role.COORDINATOR, Role.VIEWER):
        if cleaned:
            raise InputError(f"Для роли {role.value} область (--scope) не указывается.")
        return []
    if not cleaned:
        what = "муниципалитеты" if role is Role.MUNICIPALITY else "код центра"
        raise InputError(f"Для роли {role.value} нужна область --scope: {what}.")
    if role is Role.SCHOOL:
        if len(cleaned) != 1:
            raise InputError("Для роли school область — ровно один код центра.")
        found = conn.execute(
            sa.select(CENTER.c.id).where(
                CENTER.c.roadmap_id == roadmap_id, CENTER.c.code == cleaned[0]
            )
        ).first()
        if found is None:
            raise InputError(f"--scope: центр с кодом «{cleaned[0]}» не найден.")
        return cleaned
    known = set(
        conn.execute(
            sa.select(CENTER.c.municipality).distinct().where(CENTER.c.roadmap_id == roadmap_id)
        ).scalars()
    )
    unknown = [m for m in cleaned if m not in known]
    if unknown:
        raise InputError(
            "--scope: неизвестный муниципалитет: " + ", ".join(f"«{m}»" for m in unknown) + ".",
            hint="Муниципалитеты берутся из импортированных центров: "
            + (", ".join(sorted(known)) or "центров пока нет")
            + ".",
        )
    return cleaned


class UserAdmin:
    """User changes by an actor, checked and audited; refusals recorded."""

    def __init__(
        self, engine: Engine, stored: StoredRoadmap, *, clock: Clock = system_clock
    ) -> None:
        self.engine = engine
        self.stored = stored
        self.clock = clock

    def _guard(self, conn: Connection, actor: Actor, target: str) -> None:
        # The coordinator check, and --on-behalf-of checked like everywhere else.
        authorize_action(conn, self.stored.id, actor, Action.MANAGE_USERS, target=target)

    def _refusals_recorded(self, actor: Actor, now: datetime) -> Any:
        return refusals_recorded(
            self.engine,
            self.stored.id,
            timezone=self.stored.definition.timezone,
            actor=actor,
            now=now,
            clock=self.clock,
        )

    def add(
        self,
        actor: Actor,
        login: str,
        role: Role,
        scope: Sequence[str],
        *,
        now: datetime,
        full_name: str | None = None,
    ) -> UserView:
        """Add a user, or change an existing user's role and scope.

        ``full_name`` is how letters name the person («Кто отметил: Иванова Анна
        Петровна, координатор»); None keeps a known user's name.

        Raises:
            AccessDenied: the actor is not a coordinator (recorded).
            InputError: a wrong scope, or removing the last coordinator by a role change.
            EffectiveDateImplausible: ``now`` is taken for a typo.
        """
        if role is Role.SYSTEM:
            raise InputError("Роль system назначается только планировщику.")
        login = login.strip()
        if not login or any(c.isspace() for c in login) or len(login) > 128:
            raise InputError(f"Недопустимое имя пользователя «{login}».")
        from workflow.engine import dates

        name = None if full_name is None else _clean_full_name(full_name)
        effective = dates.plausible_effective(self.stored.definition, now, real=self.clock())
        with self._refusals_recorded(actor, now), db.write(self.engine) as conn:
            self._guard(conn, actor, login)
            cleaned = _validate_scope(conn, self.stored.id, role, scope)
            row = conn.execute(
                sa.select(USER.c.id, USER.c.role).where(
                    USER.c.roadmap_id == self.stored.id, USER.c.login == login
                )
            ).first()
            recorded = self.clock()
            if row is None:
                _insert(
                    conn,
                    self.stored.id,
                    login,
                    role,
                    cleaned,
                    created_by=actor.login,
                    now=recorded,
                    effective=effective,
                    trigger="add",
                    on_behalf_of=actor.on_behalf_of,
                    full_name=name or "",
                )
            else:
                if row.role == Role.COORDINATOR and role is not Role.COORDINATOR:
                    self._keep_a_coordinator(conn, login)
                values: dict[str, Any] = {"role": role.value, "scope": cleaned or None}
                if name is not None:
                    values["full_name"] = name
                conn.execute(sa.update(USER).where(USER.c.id == row.id).values(**values))
                _event(
                    conn,
                    self.stored.id,
                    row.id,
                    login,
                    "change",
                    row.role,
                    role.value,
                    cleaned,
                    actor=actor.login,
                    on_behalf_of=actor.on_behalf_of,
                    now=recorded,
                    effective=effective,
                )
            return next(u for u in list_users(conn, self.stored.id) if u.login == login)

    def remove(self, actor: Actor, login: str, *, now: datetime) -> None:
        """Remove a user.

        Raises:
            AccessDenied: the actor is not a coordinator (recorded).
            NotFound: no such user.
            InputError: it is the last coordinator.
            EffectiveDateImplausible: ``now`` is taken for a typo.
        """
        from workflow.engine import dates

        effective = dates.plausible_effective(self.stored.definition, now, real=self.clock())
        with self._refusals_recorded(actor, now), db.write(self.engine) as conn:
            self._guard(conn, actor, login)
            row = conn.execute(
                sa.select(USER.c.id, USER.c.role).where(
                    USER.c.roadmap_id == self.stored.id, USER.c.login == login
                )
            ).first()
            if row is None:
                raise NotFound(
                    f"Пользователь «{login}» не найден.", hint="Список: tochka users list."
                )
            if row.role == Role.COORDINATOR:
                self._keep_a_coordinator(conn, login)
            conn.execute(sa.delete(USER).where(USER.c.id == row.id))
            _event(
                conn,
                self.stored.id,
                row.id,
                login,
                "remove",
                row.role,
                "removed",
                [],
                actor=actor.login,
                on_behalf_of=actor.on_behalf_of,
                now=self.clock(),
                effective=effective,
            )

    def _keep_a_coordinator(self, conn: Connection, login: str) -> None:
        others = conn.execute(
            sa.select(sa.func.count())
            .select_from(USER)
            .where(
                USER.c.roadmap_id == self.stored.id,
                USER.c.role == Role.COORDINATOR.value,
                USER.c.login != login,
            )
        ).scalar_one()
        if not others:
            raise InputError(
                f"«{login}» — последний координатор дорожной карты: его нельзя удалить "
                "или понизить.",
                hint="Сначала назначьте другого координатора: tochka users add ЛОГИН "
                "--role coordinator.",
            )


def load_roadmap_as(
    engine: Engine,
    definition: Roadmap,
    actor: Actor,
    *,
    now: datetime,
    clock: Clock = system_clock,
) -> tuple[int, str, bool]:
    """``tochka init``: store a roadmap; its first loader becomes its coordinator.

    Replacing the stored definition of a roadmap that has users needs a coordinator, and
    so does loading on behalf of another user (who must be a coordinator as well). The
    check, the new definition, its audit event and the bootstrap of the first
    coordinator are one transaction.

    Returns:
        The roadmap id, ``created``/``updated``/``unchanged``, and whether ``actor`` was
        made the coordinator.

    Raises:
        AccessDenied: as above (recorded, when the roadmap is already in the database).
        EffectiveDateImplausible: ``now`` is taken for a typo.
    """
    from workflow.engine import audit, bounces, dates

    with db.read(engine) as conn:
        existing = conn.execute(
            sa.select(ROADMAP.c.id).where(ROADMAP.c.code == definition.code)
        ).scalar()
    guard: Any = (
        nullcontext()
        if existing is None
        else refusals_recorded(
            engine, int(existing), timezone=definition.timezone, actor=actor, now=now, clock=clock
        )
    )
    effective = dates.plausible_effective(definition, now, real=clock())
    if existing is None and actor.on_behalf_of is not None:
        # A roadmap not yet in the database has no users, so nobody to act for (and no
        # audit trail to record the refusal in).
        raise AccessDenied(
            login=actor.login,
            on_behalf_of=actor.on_behalf_of,
            action=Action.LOAD_ROADMAP,
            target=definition.code,
            missing=f"пользователь «{actor.on_behalf_of}», от имени которого действие, не "
            "зарегистрирован в этой дорожной карте (её ещё нет в базе)",
            hint="Первую загрузку выполняют без --on-behalf-of: загрузивший становится "
            "координатором.",
        )
    with guard, db.write(engine) as conn:
        if existing is not None:
            row = conn.execute(
                sa.select(ROADMAP.c.content_hash).where(ROADMAP.c.id == existing)
            ).one()
            has_users = (
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(USER)
                    .where(USER.c.roadmap_id == existing)
                ).scalar_one()
                > 0
            )
            changed = row.content_hash != definition.content_hash
            if (has_users and changed) or actor.on_behalf_of is not None:
                authorize_action(
                    conn, int(existing), actor, Action.LOAD_ROADMAP, target=definition.code
                )
        comparison = None
        if existing is not None:
            previous = roadmap_store.resolve(conn, definition.code).definition
            comparison = roadmap_store.compare_stored(conn, int(existing), previous, definition)
        roadmap_id, outcome, before = roadmap_store.store_in(
            conn, definition, now=now, loaded_by=actor.login
        )
        if outcome != "unchanged":
            # Who loaded which version of the roadmap (its permissions included).
            new_hash = definition.content_hash[:12]
            audit.append(
                conn,
                roadmap_id,
                [
                    audit.NewEvent(
                        entity_kind="roadmap",
                        entity_id=roadmap_id,
                        entity_key=definition.code[:96],
                        trigger="load",
                        from_state=None if before is None else "loaded",
                        to_state="loaded",
                        actor=actor.login,
                        on_behalf_of=actor.on_behalf_of,
                        recorded_at=clock(),
                        effective_date=effective,
                        comment=(
                            f"sha256 {new_hash}"
                            if before is None
                            else f"sha256 {before[:12]} → {new_hash}"
                        )
                        + (f"; {definition.amended_by.text}" if definition.amended_by else ""),
                    )
                ],
            )
        if outcome == "updated" and comparison is not None and comparison.moves:
            # The open cycles whose due date the new version moves, each revised.
            from workflow.engine.amendments import apply_moves

            apply_moves(
                conn,
                roadmap_id,
                comparison.moves,
                decree=definition.amended_by,
                actor=actor.login,
                on_behalf_of=actor.on_behalf_of,
                recorded_at=clock(),
                effective=effective,
            )
        if outcome == "updated" and comparison is not None:
            # A party's new address clears the old one's bounce flag (`bounces`).
            parties = {p.id: p for p in definition.parties}
            bounces.unflag_replaced(
                conn,
                roadmap_id,
                definition,
                [
                    (old.email, parties[old.id].email, f"участника «{parties[old.id].name}»")
                    for old in previous.parties
                    if old.id in parties and old.email and parties[old.id].email
                ],
                actor=actor,
                effective=effective,
                recorded_at=clock(),
            )
        made = bootstrap_coordinator(conn, roadmap_id, actor.login, clock(), effective)
    return roadmap_id, outcome, made
