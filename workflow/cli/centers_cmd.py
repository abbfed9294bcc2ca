"""``tochka centers``: import, list, show, fire."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from workflow.cli.context import console, done, handle_errors, print_json, state
from workflow.cli.options import (
    CenterCodeArg,
    CenterTriggerArg,
    Comment,
    Evidence,
    ExpectVersion,
    RoadmapCode,
    TableFileArg,
)

app = typer.Typer(help="Центры «Точка роста».", no_args_is_help=True)


@app.command("import")
@handle_errors
def import_(ctx: typer.Context, file: TableFileArg, roadmap: RoadmapCode = None) -> None:
    """Импорт центров из CSV или XLSX (всё или ничего)."""
    from workflow.engine import centers
    from workflow.imports.centers_file import read_centers_file

    st = state(ctx)
    stored = st.roadmap(roadmap)
    show_progress = sys.stdout.isatty() and not st.json
    if show_progress:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("Проверка строк", total=None)

            def tick(done_rows: int, total: int) -> None:
                progress.update(task, completed=done_rows, total=total)

            rows = read_centers_file(
                file, program_years=stored.definition.program_years, progress=tick
            )
    else:
        rows = read_centers_file(file, program_years=stored.definition.program_years)
    count = centers.import_centers(
        st.engine(), stored, rows, filename=str(file), actor=st.actor_ref, now=st.now()
    )
    if st.json:
        print_json({"file": str(file), "imported": count})
        return
    done(f"Импортировано центров: {count} (из {file}).")


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    state_filter: Annotated[str | None, typer.Option("--state", help="Состояние.")] = None,
    municipality: Annotated[
        str | None, typer.Option("--municipality", help="Муниципалитет.")
    ] = None,
    cohort: Annotated[int | None, typer.Option("--cohort", help="Год создания.")] = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Список центров."""
    from base import db
    from states.center import STATE_TITLES, CenterState
    from workflow.engine import centers
    from workflow.errors import InputError

    st = state(ctx)
    if state_filter is not None and state_filter not in set(CenterState):
        raise InputError(
            f"Неизвестное состояние «{state_filter}».",
            hint="Состояния центра: " + ", ".join(s.value for s in CenterState) + ".",
        )
    roadmap_id = st.roadmap_id(roadmap)
    with db.read(st.engine()) as conn:
        found = centers.list_centers(
            conn, roadmap_id, state=state_filter, municipality=municipality, cohort=cohort
        )
    if st.json:
        print_json([c.as_json() for c in found])
        return
    from workflow.cli.listing import print_table

    print_table(
        f"Центры: {len(found)}",
        ("код", "наименование", "муниципалитет", "год", "состояние", "версия"),
        [
            (
                c.code,
                c.name,
                c.municipality,
                str(c.cohort),
                f"{c.state} ({STATE_TITLES[CenterState(c.state)]})",
                str(c.version),
            )
            for c in found
        ],
    )


@app.command("show")
@handle_errors
def show(ctx: typer.Context, code: CenterCodeArg, roadmap: RoadmapCode = None) -> None:
    """Карточка центра: состояние, допустимые переходы, сроки этапов."""
    from base import db
    from states import CENTER_WORKFLOW
    from states.center import STATE_TITLES, CenterState
    from workflow.engine import centers

    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        center = centers.get_center(conn, stored.id, code)
    allowed = CENTER_WORKFLOW.allowed(center.state)
    if st.json:
        print_json({**center.as_json(), "allowed_triggers": allowed})
        return
    out = console()
    out.print(f"[bold]{center.code}[/] {center.name}")
    out.print(
        f"Муниципалитет: {center.municipality}; год создания: {center.cohort}; {center.email}"
    )
    out.print(
        f"Состояние: {center.state} ({STATE_TITLES[CenterState(center.state)]}), "
        f"версия {center.version}"
    )
    out.print("Допустимые переходы: " + (", ".join(allowed) or "нет"))


@app.command("fire")
@handle_errors
def fire(
    ctx: typer.Context,
    code: CenterCodeArg,
    trigger: CenterTriggerArg,
    evidence: Evidence = None,
    comment: Comment = None,
    expect_version: ExpectVersion = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Выполнить переход центра (agree_infrastructure, equip, train_staff, open, ...)."""
    from workflow.engine.transitions import TransitionEngine
    from workflow.mailer import make_renderer
    from workflow.schedule.notices import center_notice_hook

    st = state(ctx)
    stored = st.roadmap(roadmap)
    documents = {"document": "; ".join(evidence)} if evidence else None
    hook = center_notice_hook(stored.definition, make_renderer(st.settings))
    result = TransitionEngine(
        st.engine(), stored.definition, stored.id, notice_hook=hook
    ).fire_center(
        code,
        trigger,
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
        evidence=documents,
        comment=comment,
        expected_version=expect_version,
    )
    _report(st.json, result)


def _report(as_json: bool, result: object) -> None:
    from workflow.engine.transitions import TransitionResult

    assert isinstance(result, TransitionResult)
    if as_json:
        print_json(
            {
                "entity": result.entity_kind,
                "key": result.entity_key,
                "trigger": result.trigger,
                "from_state": result.from_state,
                "state": result.to_state,
                "version": result.version,
                "event": result.seq,
                "effective_date": result.effective_date.isoformat(),
            }
        )
        return
    done(
        f"{'Центр' if result.entity_kind == 'center' else 'Цикл'} {result.entity_key}: "
        f"{result.from_state} → {result.to_state} (версия {result.version}, "
        f"событие № {result.seq})."
    )
