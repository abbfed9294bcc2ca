"""The deadlines as an RFC 5545 calendar: measure cycles and center stages per cohort.

Measure cycles are the open ones in the database plus those the roadmap's recurrences
will create up to the end of the program (the reconciler creates a cycle only about two
weeks before its due date, see `workflow.roadmap.recurrence`). Done and cancelled cycles are
left out.

One all-day event per deadline. UIDs depend only on what the deadline is (the roadmap,
the measure and period; or the cohort and stage), never on a database id, so an event
keeps its UID when its cycle is created later, and re-importing a fresh export updates
the events in place instead of duplicating them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import icalendar
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import local_date
from states.center import STATE_TITLES as CENTER_TITLES
from states.center import CenterState
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState
from workflow.errors import NotFound
from workflow.roadmap.deadlines import stage_deadlines
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reminders import (
    cycles_to_come,
    open_cycles,
    schedule_due_by_cohort,
    states_before,
)
from workflow.storage.tables import CENTER

PRODID = "-//Tochka//Точка роста deadlines//RU"


def _event(
    uid: str, *, day: object, summary: str, description: str, now: datetime
) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))  # type: ignore[operator]
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    return event


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

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Сроки: {roadmap.code}")
    cal.add("x-wr-timezone", roadmap.timezone)
    count = 0
    for cycle in _cycles(conn, stored, today=local_date(now, roadmap.timezone)):
        if not concerns(cycle.measure):
            continue
        measure = roadmap.measure(cycle.measure)
        state = CYCLE_TITLES[cycle.state]
        evidence = "; ".join(roadmap.evidence_kind(k).name for k in measure.evidence)
        cal.add_component(
            _event(
                cycle_uid(roadmap, cycle.measure, cycle.period),
                day=cycle.due,
                summary=f"Мероприятие № {cycle.measure} ({cycle.period}): {measure.title}",
                description=(
                    f"{roadmap.title}\nСрок: {measure.deadline_text}; состояние: {state}.\n"
                    f"Ответственный: {measure.responsible_text}\nДокументы: {evidence}"
                ),
                now=now,
            )
        )
        count += 1
    schedule = schedule_due_by_cohort(conn, stored)
    owing = _owing_by_cohort(conn, stored.id)
    for cohort in sorted(owing):
        for stage in stage_deadlines(roadmap, cohort=cohort, schedule_due=schedule.get(cohort)):
            if stage.due is None or not concerns(stage.measure):
                continue
            left = sum(owing[cohort].get(s, 0) for s in states_before(stage.stage))
            title = CENTER_TITLES[CenterState(stage.stage)]
            verb = "начало этапа" if stage.starts else "этап"
            cal.add_component(
                _event(
                    f"{roadmap.code}-cohort-{cohort}-{stage.stage}@tochka",
                    day=stage.due,
                    summary=f"Центры {cohort} года: {verb} «{title}»",
                    description=(
                        f"{roadmap.title}\nМероприятие № {stage.measure}: "
                        f"{roadmap.measure(stage.measure).title}\n"
                        f"Центров, ещё не достигших этапа: {left}."
                    ),
                    now=now,
                )
            )
            count += 1
    return cal.to_ical(), count


def cycle_uid(roadmap: Roadmap, measure: int, period: str) -> str:
    """The event UID of a measure cycle: the same before and after the cycle is created."""
    return f"{roadmap.code}-cycle-{measure}-{period}@tochka"


@dataclass(frozen=True, kw_only=True)
class _Cycle:
    """A measure cycle to show: an open one in the database or one still to be created."""

    measure: int
    period: str
    due: date
    state: CycleState


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
        )
        for row in open_cycles(conn, stored.id)
    ]
    for spec in cycles_to_come(conn, stored, today=today, until=roadmap.period_end):
        state = CycleState.OVERDUE if spec.due < today else CycleState.SCHEDULED
        result.append(_Cycle(measure=spec.measure, period=spec.period, due=spec.due, state=state))
    result.sort(key=lambda c: (c.due, c.measure, c.period))
    return result


def _owing_by_cohort(conn: Connection, roadmap_id: int) -> dict[int, dict[str, int]]:
    """Cohort → {state: centers}, withdrawn centers left out."""
    result: dict[int, dict[str, int]] = {}
    rows = conn.execute(
        sa.select(CENTER.c.cohort, CENTER.c.state, sa.func.count())
        .where(CENTER.c.roadmap_id == roadmap_id, CENTER.c.state != CenterState.WITHDRAWN.value)
        .group_by(CENTER.c.cohort, CENTER.c.state)
    )
    for cohort, state, n in rows:
        result.setdefault(int(cohort), {})[str(state)] = int(n)
    return result
