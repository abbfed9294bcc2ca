"""``tochka centers``: import, list, show, update, fire, reschedule."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from workflow.cli.bulk_options import (
    AllOrNothing,
    DryRun,
    FromFile,
    OptionalCenterCodeArg,
    OptionalCenterTriggerArg,
)
from workflow.cli.context import console, done, handle_errors, print_json, state
from workflow.cli.options import (
    CenterCodeArg,
    Comment,
    Evidence,
    EvidenceFiles,
    ExpectVersion,
    RoadmapCode,
    TableFileArg,
    order_documents,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Connection

    from workflow.engine.centers import CenterView
    from workflow.roadmap.store import StoredRoadmap

app = typer.Typer(help="Центры «Точка роста».", no_args_is_help=True)


@app.command("import")
@handle_errors
def import_(ctx: typer.Context, file: TableFileArg, roadmap: RoadmapCode = None) -> None:
    """Импорт центров из CSV или XLSX (всё или ничего)."""
    from workflow.engine import centers
    from workflow.imports.centers_file import CenterRow, center_rows
    from workflow.views.cells import center_warnings, formula_prefix

    st = state(ctx)
    stored = st.roadmap(roadmap)
    flagged: list[CenterRow] = []  # rows whose text a spreadsheet would take for a formula

    def imported(progress: Callable[[int, int], None] | None = None) -> int:
        # The file is read as it is written, in one transaction (`centers.import_centers`):
        # the bar moves through the writing too, and the file is never held whole.
        def watched(rows: Iterator[CenterRow]) -> Iterator[CenterRow]:
            for row in rows:
                if any(formula_prefix(t) for t in (row.code, row.name, row.municipality)):
                    flagged.append(row)
                yield row

        rows = center_rows(file, program_years=stored.definition.cohort_years, progress=progress)
        return centers.import_centers(
            st.engine(), stored, watched(rows), filename=str(file), actor=st.actor_ref, now=st.now()
        )

    if sys.stdout.isatty() and not st.json:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("Проверка и запись строк", total=None)

            def tick(done_rows: int, total: int) -> None:
                bar.update(task, completed=done_rows, total=total)

            count = imported(tick)
    else:
        count = imported()
    for warning in center_warnings(str(file), flagged):
        typer.echo(warning, err=True)
    if st.json:
        print_json({"file": str(file), "imported": count})
        return
    done(f"Импортировано центров: {count} (из {file}).")


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    state_filter: Annotated[
        str | None,
        typer.Option("--state", help="Состояние: название (открыт) или id (opened)."),
    ] = None,
    municipality: Annotated[
        str | None, typer.Option("--municipality", help="Муниципалитет.")
    ] = None,
    cohort: Annotated[int | None, typer.Option("--cohort", help="Год создания.")] = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Список центров (полное наименование — в «tochka centers show КОД»)."""
    from base import db
    from states.center import STATE_TITLES, CenterState
    from workflow.cli.names import center_state_title, pick_state, pick_value
    from workflow.engine import centers

    st = state(ctx)
    if state_filter is not None:
        state_filter = pick_state(state_filter, CenterState, STATE_TITLES, kinds="Состояния центра")
    roadmap_id = st.roadmap_id(roadmap)
    with db.read(st.engine()) as conn:
        if municipality is not None:
            municipality = pick_value(
                municipality,
                [str(m) for m in _present(conn, roadmap_id, "municipality")],
                option="--municipality",
                kinds="Муниципалитеты центров",
            )
        if cohort is not None:
            pick_value(
                str(cohort),
                [str(y) for y in _present(conn, roadmap_id, "cohort")],
                option="--cohort",
                kinds="Годы создания центров",
            )
        found = centers.list_centers(
            conn, roadmap_id, state=state_filter, municipality=municipality, cohort=cohort
        )
    if st.json:
        print_json([c.as_json() for c in found])
        return
    from workflow.cli.listing import Column, Fit, print_table

    print_table(
        f"Центры: {len(found)}",
        (
            Column("код"),
            Column("наименование", Fit.CUT),
            Column("муниципалитет", Fit.WRAP),
            Column("год"),
            Column("состояние", Fit.WRAP),
            Column("версия"),
        ),
        [
            (
                c.code,
                c.name,
                c.municipality,
                str(c.cohort),
                center_state_title(c.state),
                str(c.version),
            )
            for c in found
        ],
        width=st.width,
    )


def _present(conn: object, roadmap_id: int, column: str) -> list[object]:
    """The values of ``column`` of the roadmap's centers, each once, in order: what a
    filter on it can match."""
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection

    from workflow.storage.tables import CENTER

    assert isinstance(conn, Connection)
    values = CENTER.c[column]
    query = sa.select(values).distinct().where(CENTER.c.roadmap_id == roadmap_id)
    return list(conn.execute(query.order_by(values)).scalars())


@app.command("show")
@handle_errors
def show(ctx: typer.Context, code: CenterCodeArg, roadmap: RoadmapCode = None) -> None:
    """Карточка центра: состояние, допустимые переходы, сроки этапов."""
    from base import db
    from base.clock import local_date
    from states import CENTER_WORKFLOW
    from states.center import STATE_TITLES, CenterState
    from workflow.cli.names import trigger_to_type
    from workflow.engine import centers

    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        center = centers.get_center(conn, stored.id, code)
        today = local_date(st.now(), stored.definition.timezone)
        deadlines = _stage_deadlines(conn, stored, center, today=today)
    allowed = CENTER_WORKFLOW.allowed(center.state)
    if st.json:
        print_json({**center.as_json(), "allowed_triggers": allowed, "stage_deadlines": deadlines})
        return
    out = console()
    out.print(f"[bold]{center.code}[/] {center.name}")
    out.print(
        f"Муниципалитет: {center.municipality}; год создания: {center.cohort}; {center.email}"
    )
    out.print(f"Состояние: {STATE_TITLES[CenterState(center.state)]}, версия {center.version}")
    out.print(
        "Допустимые переходы: "
        + (", ".join(trigger_to_type("center", t) for t in allowed) or "нет"),
        markup=False,
    )
    out.print(f"Сроки этапов (год создания {center.cohort}):", markup=False)
    for d in deadlines:
        out.print(f"  {_deadline_line(d)}", markup=False)
    if not deadlines:
        out.print("  в дорожной карте нет сроков этапов", markup=False)


@app.command("reschedule")
@handle_errors
def reschedule(
    ctx: typer.Context,
    code: CenterCodeArg,
    stage: Annotated[
        str, typer.Argument(metavar="ЭТАП", help="Этап: название (оснащён) или id (equipped).")
    ],
    due: Annotated[str, typer.Option("--due", help="Новый срок: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Причина переноса (обязательна).")
    ] = None,
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            "--evidence",
            help="Документ, которым перенесён срок: ВИД=ТЕКСТ (вид из evidence_kinds "
            "дорожной карты); можно несколько раз.",
        ),
    ] = None,
    evidence_file: EvidenceFiles = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Перенести срок этапа одного центра по распоряжению или письму (с причиной и
    документом); прежний срок сохраняется в истории, остальные центры его года — при
    прежнем сроке."""
    from base.clock import parse_date
    from workflow.cli.evidence_cmd import evidence_store, read_evidence_files
    from workflow.engine.amendments import reschedule_stage

    st = state(ctx)
    stored = st.roadmap(roadmap)
    chosen = _pick_stage(stage, stored)
    new_due = parse_date(due, what="--due")
    documents = order_documents(evidence or [], stored.definition)
    files = read_evidence_files(evidence_file or [], stored.definition, st)
    original, revised = reschedule_stage(
        st.engine(),
        stored,
        code,
        chosen,
        due=new_due,
        reason=reason,
        documents=documents,
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
        files=files,
        evidence_store=evidence_store(st),
    )
    if st.json:
        print_json(
            {
                "code": code,
                "stage": chosen,
                "original_due": original.isoformat(),
                "due": revised.isoformat(),
                "files": [f.record() for f in files],
            }
        )
        return
    from states.center import STATE_TITLES, CenterState

    done(
        f"Срок этапа «{STATE_TITLES[CenterState(chosen)]}» центра {code} перенесён с "
        f"{original:%d.%m.%Y} на {revised:%d.%m.%Y}."
    )
    for f in files:
        typer.echo(f"  документ «{f.name}», SHA-256 {f.sha256}")


def _pick_stage(text: str, stored: StoredRoadmap) -> str:
    """The stage ``text`` names (its Russian name or its id), among the stages with a
    deadline in the roadmap.

    Raises:
        InputError: none; the hint lists the stages with deadlines, «название (id)».
    """
    from states.center import LIFECYCLE, STATE_TITLES
    from workflow.cli.names import pick
    from workflow.errors import InputError

    dated = {rule.stage for rule in stored.definition.stages}
    known: dict[str, str] = {s.value: STATE_TITLES[s] for s in LIFECYCLE if s.value in dated}
    found = pick(text, known)
    if found is None:
        listed = ", ".join(f"{title} ({value})" for value, title in known.items())
        raise InputError(
            f"Этап «{text}»: у такого этапа нет срока в дорожной карте «{stored.definition.code}».",
            hint=f"Этапы со сроками: {listed}.",
        )
    return found


_STATUS_TITLES = {
    "reached": "достигнут",
    "late": "просрочен",
    "pending": "не достигнут",
    "withdrawn": "не требуется (центр исключён)",
}


def _stage_deadlines(
    conn: Connection, stored: StoredRoadmap, center: CenterView, *, today: date
) -> list[dict[str, object]]:
    """The center's stage deadlines for its cohort, each reached, late or pending."""
    from states.center import LIFECYCLE, STATE_TITLES, CenterState
    from workflow.engine.centers import center_id
    from workflow.engine.stage_revisions import moved_of, revised
    from workflow.roadmap.deadlines import stage_deadlines
    from workflow.roadmap.workdays import is_working_day, next_working_day
    from workflow.schedule.reminders import schedule_due_by_cohort

    order = [s.value for s in LIFECYCLE]
    # A withdrawn center has reached no stage and owes none.
    position = order.index(center.state) if center.state in order else None
    schedule = schedule_due_by_cohort(conn, stored).get(center.cohort)
    # A stage moved for this center alone is at its revised date (the cohort's shown too).
    moved = moved_of(conn, stored.id, center_id(conn, stored.id, center.code))
    cohorts = stage_deadlines(stored.definition, cohort=center.cohort, schedule_due=schedule)
    result: list[dict[str, object]] = []
    for d in revised(cohorts, moved):
        reached = position is not None and position >= order.index(d.stage)
        # A term ending on a day off ends on the next working day (Civil Code, art. 193).
        ends = d.due if d.due is None or is_working_day(d.due) else next_working_day(d.due)
        late = position is not None and not reached and ends is not None and today > ends
        status = "withdrawn" if position is None else "reached" if reached else "pending"
        result.append(
            {
                "stage": d.stage,
                "title": STATE_TITLES[CenterState(d.stage)],
                "measure": d.measure,
                "due": d.due.isoformat() if d.due else None,
                "original_due": moved[d.stage].earlier[0].isoformat() if d.stage in moved else None,
                "starts": d.starts,
                "reached": reached,
                "late": late,
                "status": "late" if late else status,
            }
        )
    return result


def _deadline_line(d: dict[str, object]) -> str:
    due = d["due"]
    if isinstance(due, str):
        when = ("с " if d["starts"] else "до ") + f"{date.fromisoformat(due):%d.%m.%Y}"
    else:
        when = "срок не назначен (по отдельному графику)"
    original = d.get("original_due")
    if isinstance(original, str):
        when += f", срок перенесён с {date.fromisoformat(original):%d.%m.%Y}"
    status = _STATUS_TITLES[str(d["status"])]
    return f"{d['title']} — {when} (мероприятие {d['measure']}): {status}"


@app.command("update")
@handle_errors
def update(
    ctx: typer.Context,
    code: CenterCodeArg,
    name: Annotated[str | None, typer.Option("--name", help="Новое наименование.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Новый адрес эл. почты.")] = None,
    municipality: Annotated[
        str | None, typer.Option("--municipality", help="Новый муниципалитет.")
    ] = None,
    comment: Annotated[
        str | None,
        typer.Option("--comment", help="Причина исправления (записывается в журнал)."),
    ] = None,
    expect_version: ExpectVersion = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Исправить наименование, адрес или муниципалитет центра (записывается в журнал)."""
    from workflow.engine import centers

    st = state(ctx)
    stored = st.roadmap(roadmap)
    result = centers.update_center(
        st.engine(),
        stored,
        code,
        name=name,
        email=email,
        municipality=municipality,
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
        comment=comment,
        expected_version=expect_version,
    )
    if st.json:
        print_json(result.as_json())
        return
    if not result.changes:
        done(f"Центр {code}: значения совпадают с текущими, ничего не изменено.")
        return
    done(f"Центр {code} изменён (версия {result.version}, событие № {result.seq}):")
    for field, (old, new) in result.changes.items():
        done(f"  {centers.UPDATE_FIELDS[field]}: «{old}» → «{new}»")
    for address in result.unflagged:
        done(f"Отметка «адрес не принимает письма» снята с {address}: адрес заменён.")
    from workflow.views.cells import formula_prefix

    for field, (_old, new) in result.changes.items():
        first = formula_prefix(str(new))
        if first is not None:
            # As the import warns: the person sees at once how their text is written.
            shown = {"\t": "табуляции", "\r": "возврата каретки"}.get(first, f"«{first}»")
            typer.echo(
                f"Предупреждение: --{field}: значение начинается с {shown} — в отчётах "
                "оно будет записано как текст, не как формула",
                err=True,
            )
    if result.new_municipality:
        done(
            f"Внимание: муниципалитета «{result.changes['municipality'][1]}» нет ни у одного "
            "другого центра, и его адреса нет (tochka municipalities import): проверьте "
            "написание."
        )


@app.command("fire")
@handle_errors
def fire(
    ctx: typer.Context,
    code: OptionalCenterCodeArg = None,
    trigger: OptionalCenterTriggerArg = None,
    evidence: Evidence = None,
    evidence_file: EvidenceFiles = None,
    comment: Comment = None,
    expect_version: ExpectVersion = None,
    from_file: FromFile = None,
    all_or_nothing: AllOrNothing = False,
    dry_run: DryRun = False,
    roadmap: RoadmapCode = None,
) -> None:
    """Выполнить переход центра: оснащение (equip), открытие центра (open) и другие (см. -h);
    с --from ФАЙЛ — переходы многих центров из таблицы CSV или XLSX, по строке на переход
    (столбцы «Код», «Действие», «Документы», «Комментарий»)."""
    from states import CENTER_WORKFLOW
    from workflow.cli.evidence_cmd import evidence_store, read_evidence_files
    from workflow.engine.transitions import TransitionEngine
    from workflow.mailer import make_renderer
    from workflow.schedule.notices import center_notice_hook

    if from_file is not None or all_or_nothing or dry_run:
        from workflow.cli.bulk_fire import require_bulk_usage, run

        require_bulk_usage(
            from_file,
            code=code,
            trigger=trigger,
            evidence=evidence,
            evidence_file=evidence_file,
            comment=comment,
            expect_version=expect_version,
        )
        assert from_file is not None
        st = state(ctx)
        run(st, st.roadmap(roadmap), from_file, all_or_nothing=all_or_nothing, dry_run=dry_run)
        return
    if code is None or trigger is None:
        from workflow.cli.bulk_fire import missing_argument

        raise missing_argument(ctx, "code" if code is None else "trigger")
    # A typo is named as such, before any check of the user's rights to the center.
    CENTER_WORKFLOW.require_trigger(trigger, entity=f"Центр {code}")
    st = state(ctx)
    stored = st.roadmap(roadmap)
    documents = {"document": "; ".join(evidence)} if evidence else None
    files = read_evidence_files(evidence_file or [], stored.definition, st)
    hook = center_notice_hook(stored.definition, make_renderer(st.settings))
    result = TransitionEngine(
        st.engine(),
        stored.definition,
        stored.id,
        notice_hook=hook,
        evidence_store=evidence_store(st),
    ).fire_center(
        code,
        trigger,
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
        evidence=documents,
        comment=comment,
        expected_version=expect_version,
        files=files,
    )
    _report(st.json, result, f"Центр {code}")


def _report(
    as_json: bool, result: object, label: str, extra: dict[str, object] | None = None
) -> None:
    """A committed transition: ``label`` names the entity («Центр IV-001», a cycle's
    `cycle_label`); ``extra`` adds keys to the JSON (a cycle's measure and period)."""
    from workflow.cli.names import state_title
    from workflow.engine.transitions import TransitionResult

    assert isinstance(result, TransitionResult)
    if as_json:
        print_json(
            {
                "entity": result.entity_kind,
                "id": result.entity_id,
                "key": result.entity_key,
                **(extra or {}),
                "trigger": result.trigger,
                "from_state": result.from_state,
                "state": result.to_state,
                "version": result.version,
                "event": result.seq,
                "effective_date": result.effective_date.isoformat(),
            }
        )
        return
    kind = result.entity_kind
    done(
        f"{label}: {state_title(kind, result.from_state)} → {state_title(kind, result.to_state)} "
        f"(версия {result.version}, событие № {result.seq})."
    )
