"""The legal end of a term (Civil Code art. 193): a deadline on a non-working day is met
until the end of the next working day; overdue marks and counts start after it.

The New Year case of the shipped roadmap: measure 9's report for 2021-Q4 is due on
Saturday 01.01.2022; the holidays run to Sunday 09.01, so the term ends on Monday
10.01.2022.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from notifications.render import item_view
from notifications.values import Rung
from tests.test_tick import Recorder, at, run
from workflow.roadmap.store import StoredRoadmap
from workflow.roadmap.workdays import term_end
from workflow.storage.tables import CYCLE


def q4_state(engine: Engine) -> str:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(CYCLE.c.state, CYCLE.c.due_date).where(
                CYCLE.c.measure == 9, CYCLE.c.period == "2021-Q4"
            )
        ).one()
    assert row.due_date == date(2022, 1, 1)
    return str(row.state)


def test_term_end_is_the_next_working_day() -> None:
    assert term_end(date(2022, 1, 1)) == date(2022, 1, 10)  # New Year holidays
    assert term_end(date(2021, 8, 25)) == date(2021, 8, 25)  # a Wednesday
    assert term_end(date(2022, 3, 7)) == date(2022, 3, 9)  # 07.03 moved off, 08.03 holiday


def test_new_year_cycle_is_overdue_only_after_the_term_ends(
    engine: Engine, stored: StoredRoadmap
) -> None:
    queue = Recorder()
    run(engine, stored, "2022-01-10", queue)
    assert q4_state(engine) == "scheduled"  # 10.01 is the term's last day
    run(engine, stored, "2022-01-11", queue)
    assert q4_state(engine) == "overdue"


def test_new_year_overdue_count_starts_after_the_term(
    engine: Engine, stored: StoredRoadmap
) -> None:
    queue = Recorder()
    run(engine, stored, "2022-01-10", queue)

    def q4_overdue() -> list[str]:
        return [
            r.key
            for r in queue.items
            if ":cycle:" in r.key and r.period == "2021-Q4" and r.rung is Rung.OVERDUE
        ]

    for day in ("2022-01-11", "2022-01-12", "2022-01-13", "2022-01-14", "2022-01-16"):
        run(engine, stored, day, queue)
    assert q4_overdue() == []  # the first overdue reminder is a week after 10.01
    run(engine, stored, "2022-01-17", queue)
    (key,) = q4_overdue()
    assert key.endswith(":overdue-7:coordinator@example.org")
    (reminder,) = [r for r in queue.items if r.key == key]
    assert reminder.term_end == date(2022, 1, 10)
    assert item_view(reminder, at("2022-01-17")).when_text == "просрочено на 7 дней"
    # A letter written on the term's last day itself is not an overdue one.
    on_last_day = replace(reminder, send_on=date(2022, 1, 10))
    assert item_view(on_last_day, at("2022-01-10")).when_text == "сегодня"


def test_new_year_days_late_in_the_dashboard_and_summary(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """The dashboard (and the weekly summary built from it) counts the days late from the
    term's end too: 1 day on 11.01.2022, not 10."""
    from workflow.views.dashboard import build

    queue = Recorder()
    run(engine, stored, "2022-01-10", queue)
    with engine.connect() as conn:
        on_last_day = build(conn, stored, now=at("2022-01-10"))
    run(engine, stored, "2022-01-11", queue)
    with engine.connect() as conn:
        next_day = build(conn, stored, now=at("2022-01-11"))
    (mark,) = [m for m in next_day.overdue if (m.measure, m.period) == (9, "2021-Q4")]
    assert mark.days_late == 1
    assert (9, "2021-Q4") not in {(m.measure, m.period) for m in on_last_day.overdue}
