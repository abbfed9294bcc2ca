"""The deadlines as an RFC 5545 calendar: measure cycles and the centers' stages.

Measure cycles are the open ones in the database plus those the roadmap's recurrences
will create up to the end of the program (the reconciler creates a cycle only about two
weeks before its due date, see `workflow.roadmap.recurrence`). Done and cancelled cycles are
left out. A center stage is one event per center that still owes it (not withdrawn, not
yet at the stage), the school named: the deadline its letters remind of.

One all-day event per deadline. UIDs depend only on what the deadline is (the roadmap,
the measure and period; or the center, its stage and cohort), never on a database id or
the date (a stage moved for one center keeps its UID: `workflow.engine.stage_revisions`),
and are made by the same function as the letters' attachments
(`notifications.ics`): an event keeps its UID when its cycle is created later, a calendar
that takes both the export and the letters has one event per deadline, and SEQUENCE
(from the due date) makes a moved deadline replace the event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import local_date
from notifications import ics
from notifications.russian import typographic_quotes
from states.center import STATE_TITLES as CENTER_TITLES
from states.center import CenterState
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState
from workflow.engine.stage_revisions import moved_stages
from workflow.errors import NotFound
from workflow.roadmap.deadlines import stage_deadlines
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reminders import (
    cycles_to_come,
    earlier_dues,
    open_cycles,
    schedule_due_by_cohort,
    states_before,
)
from workflow.storage.tables import CENTER


def export(
    conn: Connection, stored: StoredRoadmap, *, party: str | None, now: datetime
) -> tuple[bytes, int]:
    """Build the calendar.

    Args:
        conn: a read transaction.
        stored: the roadmap.
        party: only deadlines of measures this party is responsible for (a party id of
            the roadmap), or None for all.
        now: DTSTAMP of the events.

    Returns:
        The ``.ics`` bytes and the number of events.

    Raises:
        NotFound: ``party`` is not a party of the roadmap.
    """
    roadmap = stored.definition
    if party is not None and party not in {p.id for p in roadmap.parties}:
        raise NotFound(
            f"Сторона «{party}» не найдена в дорожной карте «{roadmap.code}».",
            hint="Стороны: " + ", ".join(p.id for p in roadmap.parties) + ".",
        )

    def concerns(measure_number: int) -> bool:
        return party is None or party in roadmap.measure(measure_number).responsible

    cal = ics.new_calendar(calendar_name(roadmap, party))
    cal.add("x-wr-timezone", roadmap.timezone)
    count = 0
    for cycle in _cycles(conn, stored, today=local_date(now, roadmap.timezone)):
        if not concerns(cycle.measure):
            continue
        measure = roadmap.measure(cycle.measure)
        evidence = "; ".join(roadmap.evidence_kind(k).name for k in measure.evidence)
        cal.add_component(
            ics.deadline_event(
                uid=cycle_uid(roadmap, cycle.measure, cycle.period),
                due=cycle.due,
                summary=ics.cycle_summary(
                    measure=cycle.measure, period=cycle.period, title=measure.title
                ),
                details=[
                    f"{ics.measure_name(cycle.measure, cycle.period)}: {measure.title}",
                    f"Состояние: {CYCLE_TITLES[cycle.state]}.",
                    f"Ответственный: {measure.responsible_text}.",
                    f"Документы: {evidence}.",
                    roadmap.title,
                ],
                now=now,
                earlier=earlier_dues(conn, stored.id, cycle.id) if cycle.id else (),
            )
        )
        count += 1
    schedule = schedule_due_by_cohort(conn, stored)
    centers = _owing_centers(conn, stored.id)
    moved = moved_stages(conn, stored.id)  # a center's own date for a stage, if moved
    for cohort in sorted(centers):
        for stage in stage_deadlines(roadmap, cohort=cohort, schedule_due=schedule.get(cohort)):
            if stage.due is None or not concerns(stage.measure):
                continue
            before = set(states_before(stage.stage))
            measure = roadmap.measure(stage.measure)
            for center in centers[cohort]:
                if center.state not in before:
                    continue
                own = moved.get((center.id, stage.stage))
                cal.add_component(
                    ics.deadline_event(
                        uid=ics.deadline_uid(
                            roadmap=roadmap.code,
                            measure=stage.measure,
                            period=str(cohort),
                            center=center.code,
                            stage=stage.stage,
                        ),
                        due=own.due if own is not None else stage.due,
                        summary=ics.stage_summary(stage=stage.stage, school=center.name),
                        details=[
                            f"Центр «Точка роста» на базе {typographic_quotes(center.name)} "
                            f"(код {center.code}), "
                            f"{center.municipality}; создаётся в {cohort} году.",
                            f"{'Начало этапа' if stage.starts else 'Этап'} "
                            f"«{CENTER_TITLES[CenterState(stage.stage)]}», сейчас: "
                            f"{CENTER_TITLES[CenterState(center.state)]}.",
                            f"Мероприятие № {stage.measure}: {measure.title}",
                            roadmap.title,
                        ],
                        now=now,
                        earlier=own.earlier if own is not None else (),
                    )
                )
                count += 1
    return cal.to_ical(), count


def calendar_name(roadmap: Roadmap, party: str | None) -> str:
    """The calendar's name people see (X-WR-CALNAME): «Сроки «Точка роста»: <region>»."""
    name = f"{ics.LETTER_CALENDAR_NAME}: {roadmap.region}"
    if party is not None:
        name += f" — {roadmap.party(party).name}"
    return name


def cycle_uid(roadmap: Roadmap, measure: int, period: str) -> str:
    """The event UID of a measure cycle: the same before and after the cycle is created,
    and the same as in the letters' attachments (`notifications.ics.deadline_uid`)."""
    return ics.deadline_uid(roadmap=roadmap.code, measure=measure, period=period)


@dataclass(frozen=True, kw_only=True)
class _Center:
    id: int
    code: str
    name: str
    municipality: str
    state: str


def _owing_centers(conn: Connection, roadmap_id: int) -> dict[int, list[_Center]]:
    """Cohort → its centers not yet reporting and not withdrawn, by code: those that
    still owe a stage (the stage's deadline is theirs, as in their letters)."""
    result: dict[int, list[_Center]] = {}
    done = (CenterState.WITHDRAWN.value, CenterState.REPORTING.value)
    rows = conn.execute(
        sa.select(
            CENTER.c.id,
            CENTER.c.cohort,
            CENTER.c.code,
            CENTER.c.name,
            CENTER.c.municipality,
            CENTER.c.state,
        )
        .where(CENTER.c.roadmap_id == roadmap_id, CENTER.c.state.not_in(done))
        .order_by(CENTER.c.cohort, CENTER.c.code)
    )
    for row in rows:
        result.setdefault(int(row.cohort), []).append(
            _Center(
                id=int(row.id),
                code=str(row.code),
                name=str(row.name),
                municipality=str(row.municipality),
                state=str(row.state),
            )
        )
    return result


@dataclass(frozen=True, kw_only=True)
class _Cycle:
    """A measure cycle to show: an open one in the database or one still to be created."""

    measure: int
    period: str
    due: date
    state: CycleState
    id: int = 0  # 0: not created yet


def _cycles(conn: Connection, stored: StoredRoadmap, *, today: date) -> list[_Cycle]:
    """Open cycles and the cycles still to be created, ordered by due date and measure.

    The cycles still to be created are those the recurrences imply up to the program's
    end (as `workflow.schedule.reminders.preview` counts them) with no cycle of the same measure
    and period in the database, in any state: a done or cancelled cycle stays out. Such
    a cycle shows the state the reconciler will give it: scheduled, or overdue when its
    due date has already passed.
    """
    roadmap = stored.definition
    result = [
        _Cycle(
            measure=int(row.measure),
            period=str(row.period),
            due=row.due_date,
            state=CycleState(row.state),
            id=int(row.id),
        )
        for row in open_cycles(conn, stored.id)
    ]
    for spec in cycles_to_come(conn, stored, today=today, until=roadmap.period_end):
        state = CycleState.OVERDUE if spec.due < today else CycleState.SCHEDULED
        result.append(_Cycle(measure=spec.measure, period=spec.period, due=spec.due, state=state))
    result.sort(key=lambda c: (c.due, c.measure, c.period))
    return result
