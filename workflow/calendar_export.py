"""The deadlines as an RFC 5545 calendar: open measure cycles and center stages per cohort.

One all-day event per deadline. UIDs depend only on what the deadline is (the roadmap,
the cycle id; or the cohort and stage), so re-importing a fresh export updates the
events in place instead of duplicating them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from states.center import STATE_TITLES as CENTER_TITLES
from states.center import CenterState
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState
from workflow.audit import CENTER
from workflow.deadlines import stage_deadlines
from workflow.errors import NotFound
from workflow.reminders import open_cycles, schedule_due_by_cohort, states_before
from workflow.roadmap_store import StoredRoadmap

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
    for row in open_cycles(conn, stored.id):
        if not concerns(row.measure):
            continue
        measure = roadmap.measure(row.measure)
        state = CYCLE_TITLES[CycleState(row.state)]
        evidence = "; ".join(roadmap.evidence_kind(k).name for k in measure.evidence)
        cal.add_component(
            _event(
                f"{roadmap.code}-cycle-{row.id}@tochka",
                day=row.due_date,
                summary=f"Мероприятие № {row.measure} ({row.period}): {measure.title}",
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
