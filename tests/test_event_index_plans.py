"""The event table's indexes serve each reader of an object's events by that object.

``ix_event_opened`` began as the quarterly report's covering index, with the trigger
before the entity; SQLite then chose it for every transition's read of its object's
last effective date and event count too, and searched the roadmap's every center event
for each fire (200 reads of a 20,000-center roadmap: 3.4 s instead of 2 ms). These
plans hold every search of ``event`` to the object's own entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from workflow.engine import transitions
from workflow.engine.indicators import opened_on_query


def _plan(engine: Engine, statement: Any) -> list[str]:
    compiled = statement.compile(engine)
    params = tuple(None for _ in compiled.positiontup or ())
    with db.read(engine) as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
        return [str(row[-1]) for row in rows]


def _searches_of_event(plan: list[str]) -> list[str]:
    return [step for step in plan if " event " in f"{step} "]


@pytest.fixture
def sqlite_engine(sqlite_template: Path) -> Iterator[Engine]:
    """The migrated SQLite template, read only (PostgreSQL plans by its statistics)."""
    eng = db.make_engine(f"sqlite:///{sqlite_template}")
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.mark.parametrize("name", ["_CENTER_READ", "_CENTER_READ_HEADLESS", "_CYCLE_READ"])
def test_a_transitions_read_searches_only_its_objects_events(
    sqlite_engine: Engine, name: str
) -> None:
    searches = _searches_of_event(_plan(sqlite_engine, getattr(transitions, name)))
    assert len(searches) == 2, searches  # the last effective date and the count
    for step in searches:
        assert step.startswith("SEARCH event USING"), step
        assert "entity_id=?" in step, step


def test_the_opening_days_are_read_from_a_covering_index(sqlite_engine: Engine) -> None:
    statement = sa.select(opened_on_query(1))
    searches = _searches_of_event(_plan(sqlite_engine, statement))
    assert searches, "the opening days are read from event"
    for step in searches:
        assert "COVERING INDEX ix_event_opened" in step, step
