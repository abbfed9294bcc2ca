"""Which reminders are due, in SQL: deadlines selected, rungs recorded, the preview.

The pure maths (which rung is due, who gets what) is `workflow.schedule.due`.

A *deadline* is something with a due date that reminds someone: an open measure cycle
(its responsible parties) or a center stage (the school and its municipality). Stage
deadlines depend only on the cohort year, so centers are selected per (cohort, stage) in
SQL: one anti-join against ``sent_rung`` finds the centers whose latest due rung is not
recorded yet, without loading any history.

Idempotency key of one reminder: ``{roadmap}:{deadline-id}:{rung}:{email}``, where
deadline-id is ``cycle:{id}`` or ``center:{code}:{stage}``. The rungs already queued
per deadline live in ``sent_rung`` (one row per deadline and rung, whatever the number
of recipients), written in the same transaction as the outbox rows.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from notifications.queue import queue_reminders
from notifications.render import Renderer
from notifications.values import Recipient, Reminder, item_number
from states.center import LIFECYCLE, CenterState
from states.center import STATE_TITLES as CENTER_TITLES
from states.cycle import CycleState
from workflow.engine.indicators import format_value, owing_with_received
from workflow.engine.municipalities import contacts as municipality_contacts
from workflow.roadmap import closing
from workflow.roadmap.deadlines import StageDeadline, stage_deadlines
from workflow.roadmap.definition import UNIT_TITLES, PartyKind, Roadmap
from workflow.roadmap.recurrence import opens_on, scheduled_cycles
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule import per_center
from workflow.schedule.asks import period_title
from workflow.schedule.due import (
    KIND_CENTER,
    KIND_CYCLE,
    Ask,
    Deadline,
    build_reminders,
    center_deadline,
    cycle_deadline,
    escalation_recipient,
    latest_due,
    monitoring_measure,
    rung_offset,
    sends_from,
)
from workflow.schedule.file_done import without_file_done
from workflow.schedule.ladder import RungDate, cc_coordinator
from workflow.schedule.moved import as_deadline, moved_centers, moved_deadlines
from workflow.storage.tables import CENTER, CYCLE, HEAD, REVISION, SENT
from workflow.views.monitoring_form import forms_for

# Names of the pure reminder maths that the reconciler, the calendar and the tests take
# from here together with the SQL (one import for "the reminders").
__all__ = [
    "KIND_CENTER",
    "KIND_CYCLE",
    "Deadline",
    "ReminderQueue",
    "build_reminders",
    "center_deadline",
    "centers_needing",
    "cycle_deadline",
    "cycles_to_come",
    "earlier_dues",
    "journal_head",
    "latest_due",
    "monitoring_measure",
    "open_cycle_deadline",
    "open_cycles",
    "outbox_queue",
    "preview",
    "record_rungs",
    "rung_offset",
    "schedule_due_by_cohort",
    "schools_owing",
    "sends_from",
    "stage_groups",
    "states_before",
]

if TYPE_CHECKING:
    from notifications.render import Renderer


#: Cycle states that still remind (overdue ones keep reminding until done or cancelled).
REMINDING_CYCLE_STATES: tuple[str, ...] = (
    CycleState.SCHEDULED.value,
    CycleState.IN_PROGRESS.value,
    CycleState.OVERDUE.value,
)
_STAGE_INDEX = {state.value: index for index, state in enumerate(LIFECYCLE)}


class ReminderQueue(Protocol):
    """Records reminders (each key once) inside the caller's write transaction.

    Returns the number of reminders newly recorded.
    """

    def __call__(self, conn: Connection, reminders: Sequence[Reminder], *, now: datetime) -> int:
        """Queue ``reminders`` as of ``now``."""


def outbox_queue(renderer: Renderer | None = None) -> ReminderQueue:
    """The real queue: `notifications.queue.queue_reminders` with one shared renderer."""

    chosen = renderer if renderer is not None else Renderer()

    def queue(conn: Connection, reminders: Sequence[Reminder], *, now: datetime) -> int:
        return queue_reminders(conn, reminders, now=now, renderer=chosen)

    return queue


def schools_owing(
    conn: Connection, stored: StoredRoadmap, *, measure: int, period: str
) -> tuple[Recipient, ...]:
    """For a monitoring cycle: the schools of centers in ``reporting`` that have not
    submitted the period's indicators (they are reminded with the department)."""
    return tuple(r for r, _ask in _owing(conn, stored, measure=measure, period=period))


def _owing(
    conn: Connection,
    stored: StoredRoadmap,
    *,
    measure: int,
    period: str,
    due: date | None = None,
) -> list[tuple[Recipient, Ask]]:
    """`schools_owing` with what each school lacks («название, ед.») and what it has
    already sent («название — 25 чел.»); with ``due``, the monitoring form each
    school's letter attaches (`workflow.views.monitoring_form`)."""
    roadmap = stored.definition
    if measure != monitoring_measure(roadmap):
        return []
    try:
        owing = owing_with_received(conn, stored.id, period, roadmap=roadmap)
    except ValueError:  # an operator-opened cycle labelled by date, not by period
        return []
    forms = (
        {}
        if due is None
        else forms_for(
            conn, stored.id, roadmap, codes=[row[0] for row in owing], period=period, due=due
        )
    )
    return [
        (
            Recipient(email=email, name=name),
            Ask(
                role=PartyKind.SCHOOL.value,
                missing=tuple(f"{i.name}, {UNIT_TITLES[i.unit]}" for i in lacking),
                received=tuple(
                    f"{i.name} — {format_value(i, value)} {UNIT_TITLES[i.unit]}"
                    for i, value in received
                ),
                form=forms.get(code),
            ),
        )
        for code, name, email, _m, lacking, received in owing
    ]


def _cycle_with_schools(
    conn: Connection,
    stored: StoredRoadmap,
    *,
    cycle_id: int,
    measure: int,
    period: str,
    due: date,
) -> Deadline:
    owing = _owing(conn, stored, measure=measure, period=period, due=due)
    # Every center's authority or school for a per-center party; owing schools' asks win.
    centers = per_center.recipients(conn, stored, measure)
    return cycle_deadline(
        stored.definition,
        cycle_id=cycle_id,
        measure=measure,
        period=period,
        due=due,
        also=(*(r for r, _a in owing), *centers.recipients),
        also_asks={**centers.asks, **{r.email.strip().lower(): a for r, a in owing}},
        earlier=earlier_dues(conn, stored.id, cycle_id) if cycle_id else (),
        unaddressed=centers.unaddressed,
        nobody=centers.nobody,
    )


def earlier_dues(conn: Connection, roadmap_id: int, cycle_id: int) -> tuple[date, ...]:
    """The due dates a cycle had before it was moved, oldest first (none: never moved)."""
    return tuple(
        conn.execute(
            sa.select(REVISION.c.original_due)
            .where(REVISION.c.roadmap_id == roadmap_id, REVISION.c.cycle_id == cycle_id)
            .order_by(REVISION.c.id)
        ).scalars()
    )


def open_cycle_deadline(conn: Connection, stored: StoredRoadmap, row: Any) -> Deadline:
    """The deadline of an open cycle row (from `open_cycles`), with the schools that
    owe a monitoring cycle their indicators (and which ones)."""
    return _cycle_with_schools(
        conn, stored, cycle_id=row.id, measure=row.measure, period=row.period, due=row.due_date
    )


# --- selection in SQL -------------------------------------------------------------------

_CENTER_COLUMNS = (CENTER.c.id, CENTER.c.code, CENTER.c.name, CENTER.c.municipality, CENTER.c.email)


def schedule_due_by_cohort(conn: Connection, stored: StoredRoadmap) -> dict[int, dict[int, date]]:
    """For by-schedule stage rules: cohort year → {measure: due date of its cycle}.

    A cohort's date is the latest due date among the measure's cycles (not cancelled)
    due in the cohort year; a cohort without such a cycle has no deadline yet.
    """
    measures = sorted({r.measure for r in stored.definition.stages if r.due_month is None})
    if not measures:
        return {}
    result: dict[int, dict[int, date]] = {}
    rows = conn.execute(
        sa.select(CYCLE.c.measure, CYCLE.c.due_date).where(
            CYCLE.c.roadmap_id == stored.id,
            CYCLE.c.measure.in_(measures),
            CYCLE.c.state != CycleState.CANCELLED.value,
        )
    )
    for measure, due in rows:
        per = result.setdefault(due.year, {})
        if measure not in per or due > per[measure]:
            per[measure] = due
    return result


def cohort_states(conn: Connection, roadmap_id: int) -> dict[int, set[str]]:
    """Cohort year → the states its (not withdrawn) centers are in, aggregated in SQL."""
    result: dict[int, set[str]] = {}
    rows = conn.execute(
        sa.select(CENTER.c.cohort, CENTER.c.state)
        .where(CENTER.c.roadmap_id == roadmap_id, CENTER.c.state != CenterState.WITHDRAWN.value)
        .group_by(CENTER.c.cohort, CENTER.c.state)
    )
    for cohort, state in rows:
        result.setdefault(int(cohort), set()).add(str(state))
    return result


def states_before(stage: str) -> list[str]:
    """Lifecycle states earlier than ``stage`` (centers that still owe it)."""
    index = _STAGE_INDEX[stage]
    return [s.value for s in LIFECYCLE[:index]]


@dataclass(frozen=True, kw_only=True)
class StageGroup:
    """Centers of one cohort that owe one stage, with the stage's dated deadline."""

    cohort: int
    stage: StageDeadline
    states: tuple[str, ...]


def stage_groups(conn: Connection, stored: StoredRoadmap) -> Iterator[StageGroup]:
    """Every (cohort, stage) with a known date and centers that have not reached it.

    A center whose stage deadline was moved is in the group still (``states``), but the
    selections of the group's centers leave it out (`moved.moved_centers`): its own
    deadline is `moved.moved_deadlines`'."""
    roadmap = stored.definition
    present = cohort_states(conn, stored.id)
    if not present:
        return
    schedule = schedule_due_by_cohort(conn, stored)
    for cohort in sorted(present):
        for stage in stage_deadlines(roadmap, cohort=cohort, schedule_due=schedule.get(cohort)):
            if stage.due is None:
                continue
            owing = tuple(s for s in states_before(stage.stage) if s in present[cohort])
            if owing:
                yield StageGroup(cohort=cohort, stage=stage, states=owing)


# Built once: constructing the expression per call costs more than running it.
_CENTERS_NEEDING = (
    sa.select(*_CENTER_COLUMNS)
    .where(
        CENTER.c.roadmap_id == sa.bindparam("roadmap_id"),
        CENTER.c.cohort == sa.bindparam("cohort"),
        CENTER.c.state.in_(sa.bindparam("states", expanding=True)),
        # NOT IN an uncorrelated subquery, not NOT EXISTS: PostgreSQL then hashes the
        # rungs once whatever its statistics say. Right after a bulk import (no ANALYZE
        # yet) the correlated form was planned as a nested loop that rescanned the rungs
        # for every center: minutes at 100,000 centers instead of 50 ms.
        CENTER.c.id.not_in(
            sa.select(SENT.c.entity_id).where(
                SENT.c.roadmap_id == sa.bindparam("roadmap_id"),
                SENT.c.kind == KIND_CENTER,
                SENT.c.stage == sa.bindparam("stage"),
                SENT.c.day_offset >= sa.bindparam("offset"),
            )
        ),
        # A center whose stage was moved is reminded by its own date (`moved`).
        CENTER.c.id.not_in(moved_centers(sa.bindparam("stage"), sa.bindparam("roadmap_id"))),
    )
    .order_by(CENTER.c.id)
)


def centers_needing(conn: Connection, roadmap_id: int, group: StageGroup, offset: int) -> list[Any]:
    """Centers of ``group`` with no rung at or past ``offset`` recorded (id order)."""
    params = {
        "roadmap_id": roadmap_id,
        "cohort": group.cohort,
        "states": list(group.states),
        "stage": group.stage.stage,
        "offset": offset,
    }
    return list(conn.execute(_CENTERS_NEEDING, params))


_LATEST_CYCLE_RUNG = (
    sa.select(sa.func.max(SENT.c.day_offset))
    .where(
        SENT.c.roadmap_id == CYCLE.c.roadmap_id,
        SENT.c.kind == KIND_CYCLE,
        SENT.c.entity_id == CYCLE.c.id,
        SENT.c.stage == "",
    )
    .scalar_subquery()
)
_OPEN_CYCLES = (
    sa.select(
        CYCLE.c.id,
        CYCLE.c.measure,
        CYCLE.c.period,
        CYCLE.c.due_date,
        CYCLE.c.state,
        _LATEST_CYCLE_RUNG.label("sent_offset"),
    )
    .where(
        CYCLE.c.roadmap_id == sa.bindparam("roadmap_id"),
        CYCLE.c.state.in_(REMINDING_CYCLE_STATES),
    )
    .order_by(CYCLE.c.due_date, CYCLE.c.measure, CYCLE.c.id)
)


def open_cycles(conn: Connection, roadmap_id: int) -> list[Any]:
    """Cycles that still remind, with the latest recorded rung offset of each."""
    return list(conn.execute(_OPEN_CYCLES, {"roadmap_id": roadmap_id}))


def journal_head(conn: Connection, roadmap_id: int) -> tuple[int, str] | None:
    """The roadmap's audit chain head (sequence, hash), or None before its first event.

    Printed in the coordinator's letters as ``SEQ:HASH``, the anchor that
    ``tochka audit verify --expect SEQ:HASH`` checks the chain against.
    """
    row = conn.execute(
        sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.roadmap_id == roadmap_id)
    ).first()
    return None if row is None else (int(row.seq), str(row.hash))


def record_rungs(
    conn: Connection,
    roadmap_id: int,
    deadlines: Sequence[Deadline],
    rung: RungDate,
    *,
    send_on: date,
    now: datetime,
) -> set[tuple[int, str]]:
    """Record ``rung`` for each deadline; return the (entity_id, stage) pairs newly recorded.

    ``ON CONFLICT DO NOTHING``: a concurrent reconciler that recorded the same rung first
    wins (on PostgreSQL this waits for its commit), and only our new rows get letters.
    """
    if not deadlines:
        return set()
    rows = [
        {
            "roadmap_id": roadmap_id,
            "kind": d.kind,
            "entity_id": d.entity_id,
            "stage": d.stage,
            "rung": rung.key_part,
            "day_offset": rung_offset(rung),
            "deadline": d.due,
            "send_on": send_on,
            "queued_at": now,
        }
        for d in deadlines
    ]
    if conn.dialect.name == "postgresql":
        statement: Any = pg_insert(SENT).on_conflict_do_nothing()
    else:
        statement = sqlite_insert(SENT).on_conflict_do_nothing()
    returned = conn.execute(statement.returning(SENT.c.entity_id, SENT.c.stage), rows)
    return {(int(entity_id), str(stage)) for entity_id, stage in returned}


# --- preview ----------------------------------------------------------------------------


class PreviewItem(NamedTuple):
    """One reminder a preview expects to be sent.

    A named tuple: a preview makes one per row, hundreds of thousands of them, twice
    (`workflow.cli.daemon_cmd` counts, then prints), and a frozen dataclass takes
    four times as long to make.
    """

    send_on: date
    recipient: str
    deadline: date
    deadline_id: str
    rung: str
    subject: str

    def as_json(self) -> dict[str, str]:
        return {
            "send_on": self.send_on.isoformat(),
            "recipient": self.recipient,
            "deadline": self.deadline.isoformat(),
            "deadline_id": self.deadline_id,
            "rung": self.rung,
            "subject": self.subject,
        }


def _subject(deadline: Deadline) -> str:
    if deadline.kind == KIND_CYCLE:
        when = period_title(deadline.period)
        if item_number(deadline.period) is not None:  # «Мероприятие № 2, пункт 2.3: …»
            return f"Мероприятие № {deadline.measure}, {when}: {deadline.title}"
        return f"Мероприятие № {deadline.measure} ({when}): {deadline.title}"
    stage = CENTER_TITLES[CenterState(deadline.stage)]
    return f"Центр {deadline.center_code} «{deadline.center_name}»: этап «{stage}»"


class _Member(NamedTuple):
    """What a deadline's preview rows need of it (a stream keeps this, not the Deadline)."""

    due: date
    deadline_id: str
    recipients: list[str]
    overdue: list[str]  # with the escalation's address: an overdue rung goes to it too
    subject: str


def _member(deadline: Deadline, escalation: str | None) -> _Member:
    """An overdue rung also goes to ``escalation`` (the coordinator, in its own digest),
    as `build_reminders` does."""
    recipients = sorted(r.email for r in deadline.recipients)
    known = {r.strip().lower() for r in recipients}
    overdue = recipients
    if escalation is not None and escalation.strip().lower() not in known:
        overdue = sorted([*recipients, escalation])
    return _Member(deadline.due, deadline.deadline_id, recipients, overdue, _subject(deadline))


def _preview_items(
    deadline: Deadline, sends: Sequence[tuple[date, RungDate]], escalation: str | None
) -> Iterator[PreviewItem]:
    """The deadline's items in preview order: by day (each day once), then recipient."""
    return _items(sends, [_member(deadline, escalation)])


def _items(
    sends: Sequence[tuple[date, RungDate]], members: Sequence[_Member]
) -> Iterator[PreviewItem]:
    """The items of deadlines reminded on the same days (``sends``), in preview order: by
    day, then as ``members`` are sorted (by due date and deadline id), then recipient."""
    for day, rung in sends:
        key = rung.key_part
        cc = cc_coordinator(rung)
        for due, deadline_id, recipients, overdue, subject in members:
            for recipient in overdue if cc else recipients:
                # send_on, recipient, deadline, deadline_id, rung, subject
                yield PreviewItem(day, recipient, due, deadline_id, key, subject)


def cycles_to_come(
    conn: Connection, stored: StoredRoadmap, *, today: date, until: date
) -> list[Any]:
    """The cycles the recurrences will create by ``until`` that do not exist yet
    (`workflow.roadmap.recurrence.CycleSpec`s; a cancelled cycle is not brought back)."""
    existing = {
        (int(m), str(p))
        for m, p in conn.execute(
            sa.select(CYCLE.c.measure, CYCLE.c.period).where(CYCLE.c.roadmap_id == stored.id)
        )
    }
    horizon = max(0, (until - today).days)
    # A measure the file records as done is created done by the tick, never reminded.
    specs = without_file_done(
        stored.definition,
        scheduled_cycles(stored.definition, as_of=today, horizon_days=horizon),
    )
    return [spec for spec in specs if (spec.measure, spec.period) not in existing]


def preview(
    conn: Connection, stored: StoredRoadmap, *, today: date, until: date
) -> Iterator[PreviewItem]:
    """Every reminder daily ticks from ``today`` to ``until`` would send, if nothing is done.

    Counts the cycles the schedule will create in the meantime (from their opening
    day) and the rungs already recorded; nothing is written. The database is read
    before this returns; the items are then produced one at a time, merged across the
    deadlines in order, so a long preview is printed as it goes and never held whole.

    Any ``until`` will do: a deadline has a bounded ladder of rungs
    (`workflow.schedule.ladder`, silenced after ``overdue_rungs``), the recurrences
    create no cycle past the program and nothing is sent from the day the roadmap
    closes (`workflow.roadmap.closing`), so a date decades ahead adds no rows, and
    the memory taken does not grow with the rows (tests/test_preview_bounds.py).

    Returns:
        Items ordered by day, deadline, deadline id and recipient.
    """
    roadmap = stored.definition
    streams: list[Iterator[PreviewItem]] = []
    contacts: Mapping[str, Recipient] | None = None
    coordinator = escalation_recipient(roadmap)
    escalation = coordinator.email if coordinator is not None else None
    for row in open_cycles(conn, stored.id):
        deadline = open_cycle_deadline(conn, stored, row)
        sends = sends_from(
            row.due_date, roadmap, start=today, until=until, sent_offset=row.sent_offset
        )
        sends = _while_reminded(sends, roadmap, measure=int(row.measure), due=row.due_date)
        streams.append(_preview_items(deadline, sends, escalation))
    for spec in cycles_to_come(conn, stored, today=today, until=until):
        # Schools that owe the period now are reminded unless they submit first.
        deadline = _cycle_with_schools(
            conn, stored, cycle_id=0, measure=spec.measure, period=spec.period, due=spec.due
        )
        deadline = Deadline(**{**deadline.__dict__, "deadline_id": f"cycle:new:{spec.period}"})
        start = max(today, opens_on(spec.due, roadmap.reminders))
        sends = sends_from(spec.due, roadmap, start=start, until=until, sent_offset=None)
        sends = _while_reminded(sends, roadmap, measure=spec.measure, due=spec.due)
        streams.append(_preview_items(deadline, sends, escalation))
    for group in stage_groups(conn, stored):
        latest = (
            sa.select(sa.func.max(SENT.c.day_offset))
            .where(
                SENT.c.roadmap_id == CENTER.c.roadmap_id,
                SENT.c.kind == KIND_CENTER,
                SENT.c.entity_id == CENTER.c.id,
                SENT.c.stage == group.stage.stage,
            )
            .scalar_subquery()
        )
        rows = conn.execute(
            sa.select(*_CENTER_COLUMNS, latest.label("sent_offset"))
            .where(
                CENTER.c.roadmap_id == stored.id,
                CENTER.c.cohort == group.cohort,
                CENTER.c.state.in_(group.states),
                CENTER.c.id.not_in(moved_centers(group.stage.stage, stored.id)),
            )
            .order_by(CENTER.c.code)
        )
        assert group.stage.due is not None
        if contacts is None:
            contacts = municipality_contacts(conn, stored.id)
        # The group's centers share their days (per latest rung sent): one stream for all
        # that share them, not one a center (thousands of streams to merge, row by row).
        cache: dict[int | None, list[tuple[date, RungDate]]] = {}
        members: dict[int | None, list[_Member]] = {}
        for row in rows:
            if row.sent_offset not in cache:
                cache[row.sent_offset] = [
                    (day, rung)
                    for day, rung in sends_from(
                        group.stage.due,
                        roadmap,
                        start=today,
                        until=until,
                        sent_offset=row.sent_offset,
                    )
                    if closing.stages_reminded(roadmap, day)
                ]
            deadline = center_deadline(
                roadmap,
                group.stage,
                cohort=group.cohort,
                center_id=row.id,
                code=row.code,
                name=row.name,
                municipality=row.municipality,
                email=row.email,
                municipality_contact=contacts.get(row.municipality),
            )
            members.setdefault(row.sent_offset, []).append(_member(deadline, escalation))
        for offset, sharing in members.items():
            sharing.sort(key=operator.itemgetter(0, 1))  # due, deadline id
            streams.append(_items(cache[offset], sharing))
    for moved in moved_deadlines(conn, stored):
        assert moved.stage.due is not None
        if contacts is None:
            contacts = municipality_contacts(conn, stored.id)
        sends = [
            (day, rung)
            for day, rung in sends_from(
                moved.stage.due, roadmap, start=today, until=until, sent_offset=moved.sent_offset
            )
            if closing.stages_reminded(roadmap, day)
        ]
        streams.append(_preview_items(as_deadline(roadmap, moved, contacts), sends, escalation))
    # Each stream is in this order already; merge keeps ties in stream order, as the
    # stable sort of the whole list did.
    return heapq.merge(*streams, key=_preview_order)


def _while_reminded(
    sends: list[tuple[date, RungDate]], roadmap: Roadmap, *, measure: int, due: date
) -> list[tuple[date, RungDate]]:
    """The sends the program's close leaves (`workflow.roadmap.closing`), as the tick."""
    return [
        (day, rung)
        for day, rung in sends
        if closing.cycle_reminded(roadmap, measure=measure, due=due, today=day)
    ]


#: A preview's order: (send_on, deadline, deadline_id, recipient) of a `PreviewItem`.
_preview_order = operator.itemgetter(0, 2, 3, 1)


def days(start: date, end: date) -> Iterator[date]:
    """Every date from ``start`` to ``end`` inclusive."""
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)
