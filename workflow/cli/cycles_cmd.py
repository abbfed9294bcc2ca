"""``tochka cycles``: list, open, fire, reschedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from workflow.cli.centers_cmd import _report
from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import (
    Comment,
    CycleIdArg,
    CycleTriggerArg,
    Evidence,
    EvidenceFiles,
    ExpectVersion,
    RoadmapCode,
    order_documents,
)

if TYPE_CHECKING:
    from workflow.roadmap.definition import Measure, Roadmap

app = typer.Typer(help="Циклы мероприятий дорожной карты.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    measure: Annotated[int | None, typer.Option("--measure", help="Номер мероприятия.")] = None,
    state_filter: Annotated[
        str | None,
        typer.Option("--state", help="Состояние: название (просрочен) или id (overdue)."),
    ] = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Циклы мероприятий по сроку (полное название мероприятия — в «tochka roadmap show»)."""
    from base import db
    from states.cycle import STATE_TITLES, CycleState
    from workflow.cli.names import cycle_state_title, pick_state
    from workflow.engine import cycles
    from workflow.errors import InputError

    st = state(ctx)
    if state_filter is not None:
        state_filter = pick_state(state_filter, CycleState, STATE_TITLES, kinds="Состояния цикла")
    stored = st.roadmap(roadmap)
    if measure is not None and measure not in {m.number for m in stored.definition.measures}:
        raise InputError(
            f"--measure: мероприятия № {measure} нет в дорожной карте «{stored.definition.code}».",
            hint="Мероприятия: "
            + ", ".join(str(m.number) for m in stored.definition.measures)
            + ".",
        )
    with db.read(st.engine()) as conn:
        found = cycles.list_cycles(conn, stored.id, measure=measure, state=state_filter)
    if st.json:
        print_json([c.as_json() for c in found])
        return
    from notifications.ics import period_text
    from workflow.cli.listing import Column, Fit, print_table

    titles = {m.number: m.title for m in stored.definition.measures}
    print_table(
        f"Циклы: {len(found)}",
        (
            Column("цикл", right=True),
            Column("№", right=True),
            Column("мероприятие", Fit.CUT),
            Column("период"),
            Column("срок"),
            Column("состояние", Fit.WRAP),
            Column("версия"),
        ),
        [
            (
                str(c.id),
                str(c.measure),
                titles.get(c.measure, ""),
                period_text(c.period, cohort=stored.definition.by_cohort(c.measure)),
                f"{c.due_date:%d.%m.%Y}",
                cycle_state_title(c.state),
                str(c.version),
            )
            for c in found
        ],
        width=st.width,
    )


@app.command("open")
@handle_errors
def open_(
    ctx: typer.Context,
    measure: Annotated[
        int, typer.Argument(metavar="МЕРОПРИЯТИЕ", help="Номер мероприятия дорожной карты.")
    ],
    due: Annotated[str, typer.Option("--due", help="Срок: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ.")],
    roadmap: RoadmapCode = None,
) -> None:
    """Открыть цикл мероприятия «по необходимости» или «по отдельному графику»."""
    from base.clock import parse_date
    from workflow.cli.names import cycle_label
    from workflow.engine import cycles

    st = state(ctx)
    stored = st.roadmap(roadmap)
    cycle = cycles.open_cycle(
        st.engine(),
        stored,
        measure,
        due=parse_date(due, what="--due"),
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
    )
    if st.json:
        print_json(cycle.as_json())
        return
    label = cycle_label(cycle.id, cycle.measure, cycle.period)
    done(f"Открыт: {label}, срок {cycle.due_date:%d.%m.%Y}.")


@app.command("fire")
@handle_errors
def fire(
    ctx: typer.Context,
    cycle_id: CycleIdArg,
    trigger: CycleTriggerArg,
    evidence: Evidence = None,
    evidence_file: EvidenceFiles = None,
    comment: Comment = None,
    expect_version: ExpectVersion = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Выполнить переход цикла: начало выполнения (start), выполнение (complete),
    отмена (cancel)."""
    from base import db
    from states import CYCLE_WORKFLOW
    from workflow.cli.evidence_cmd import evidence_store, read_evidence_files
    from workflow.cli.names import cycle_label
    from workflow.engine import cycles
    from workflow.engine.transitions import TransitionEngine
    from workflow.roadmap.items import cycle_measure

    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        cycle = cycles.get_cycle(conn, stored.id, cycle_id)
    label = cycle_label(cycle.id, cycle.measure, cycle.period)
    # A typo is named as such, before any check of the user's rights.
    CYCLE_WORKFLOW.require_trigger(trigger, entity=label)
    definition = stored.definition
    documents = parse_evidence(
        evidence or [], definition, cycle_measure(definition, cycle.measure, cycle.period)
    )
    files = read_evidence_files(evidence_file or [], definition, st)
    result = TransitionEngine(
        st.engine(), definition, stored.id, evidence_store=evidence_store(st)
    ).fire_cycle(
        cycle_id,
        trigger,
        actor=st.actor_ref,
        now=st.now(definition.timezone),
        evidence=documents,
        comment=comment,
        expected_version=expect_version,
        files=files,
    )
    _report(st.json, result, label, {"measure": cycle.measure, "period": cycle.period})


def parse_evidence(values: list[str], roadmap: Roadmap, measure: Measure) -> dict[str, str]:
    """``--evidence`` values → {kind: text}.

    ``KIND=TEXT`` names the kind; a bare TEXT is allowed when the measure needs one kind.

    Raises:
        InputError: a bare text where the measure needs several kinds, or an unknown kind.
    """
    from workflow.errors import InputError

    kinds = {k.id for k in roadmap.evidence_kinds}
    result: dict[str, str] = {}
    for value in values:
        kind, sep, text = value.partition("=")
        if sep and kind.strip() in kinds:
            result[kind.strip()] = text.strip()
            continue
        if len(measure.evidence) == 1:
            result[measure.evidence[0]] = value.strip()
            continue
        needed = "; ".join(f"{k}=… ({roadmap.evidence_kind(k).name})" for k in measure.evidence)
        raise InputError(
            f"--evidence «{value}»: мероприятию № {measure.number} нужны документы нескольких "
            "видов, укажите вид: ВИД=ТЕКСТ.",
            hint=f"Виды: {needed}.",
        )
    return result


@app.command("reschedule")
@handle_errors
def reschedule(
    ctx: typer.Context,
    cycle_id: CycleIdArg,
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
    """Перенести срок одного цикла по распоряжению или письму (с причиной и документом);
    прежний срок сохраняется в истории."""
    from base.clock import parse_date
    from workflow.cli.evidence_cmd import evidence_store, read_evidence_files
    from workflow.engine.amendments import reschedule_cycle

    st = state(ctx)
    stored = st.roadmap(roadmap)
    new_due = parse_date(due, what="--due")
    documents = order_documents(evidence or [], stored.definition)
    files = read_evidence_files(evidence_file or [], stored.definition, st)
    original, revised = reschedule_cycle(
        st.engine(),
        stored,
        cycle_id,
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
                "id": cycle_id,
                "original_due": original.isoformat(),
                "due": revised.isoformat(),
                "files": [f.record() for f in files],
            }
        )
        return
    done(f"Срок цикла № {cycle_id} перенесён с {original:%d.%m.%Y} на {revised:%d.%m.%Y}.")
    for f in files:
        typer.echo(f"  документ «{f.name}», SHA-256 {f.sha256}")
