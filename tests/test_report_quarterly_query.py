"""The quarterly report's one query (`workflow.views.quarterly.build`, issue 16 item 4)
reads the same lines as the per-center reading it replaced, on both backends.

The reference below is that reading: every center's facts with its opening day
(`center_facts`), the values that count (`latest_values`), joined in Python. The data are
made to catch what a join gets wrong: corrections (the latest row counts, whatever its
value), centers reopened (the first opening counts), a cycle's ``open`` event on an id
that is also a center's, centers that are not due but have values (withdrawn after
submitting, opened after the quarter), values of an indicator the roadmap no longer has
and of a per-quarter indicator under a year, and every state.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from states.center import STATE_TITLES, CenterState
from workflow.engine.indicators import (
    VALUE,
    Period,
    center_facts,
    latest_values,
    parse_period,
)
from workflow.roadmap.definition import IndicatorUnit
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT
from workflow.views import quarterly

NOW = datetime(2022, 4, 5, 9, tzinfo=UTC)
PERIODS = ("2021-Q3", "2021-Q4", "2021", "2022-Q1")
OPEN_DAYS = (date(2021, 9, 1), date(2021, 12, 31), date(2022, 1, 1), date(2022, 3, 15))


def _seed(engine: Engine, stored: StoredRoadmap, count: int = 90) -> None:
    rng = random.Random(16)
    codes = [i.code for i in stored.definition.indicators]
    states = [s.value for s in CenterState]
    with db.write(engine) as conn:
        conn.execute(
            sa.insert(CENTER),
            [
                {
                    "roadmap_id": stored.id,
                    "code": f"Q-{i:03d}",
                    "name": f"Школа № {i}",
                    "municipality": rng.choice(["Шуйский район", "г. Иваново", "Кинешма"]),
                    "cohort": 2021 + i % 2,
                    "email": f"q{i}@example.org",
                    "state": states[i % len(states)],
                    "previous_state": None,
                    "version": 1,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(count)
            ],
        )
        ids = dict(conn.execute(sa.select(CENTER.c.code, CENTER.c.id)).all())
        events: list[dict[str, Any]] = []

        def event(kind: str, entity_id: int, trigger: str, day: date) -> None:
            events.append(
                {
                    "roadmap_id": stored.id,
                    "seq": len(events) + 1,
                    "entity_kind": kind,
                    "entity_id": entity_id,
                    "entity_key": str(entity_id),
                    "trigger": trigger,
                    "from_state": "staff_trained",
                    "to_state": "opened",
                    "actor": "bench",
                    "recorded_at": NOW,
                    "effective_date": day,
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
            )

        for n, center_id in enumerate(ids.values()):
            event("center", center_id, "equip", date(2021, 3, 1))
            if n % 7 != 6:  # some never opened, whatever their state says
                event(
                    "center",
                    center_id,
                    "open",
                    OPEN_DAYS[0] if n % 6 == 0 else rng.choice(OPEN_DAYS),
                )
            if n % 5 == 0:  # reverted and opened again: the first opening counts
                event("center", center_id, "open", rng.choice(OPEN_DAYS))
            if n % 4 == 0:  # a cycle's «open» on the same id is not a center's opening
                event("cycle", center_id, "open", date(2020, 1, 1))
        conn.execute(sa.insert(EVENT), events)
        values: list[dict[str, Any]] = []
        for n, center_id in enumerate(ids.values()):
            if n % 6 == 0:
                continue  # nothing submitted
            for period in PERIODS:
                for code in [*codes, "retired_indicator"]:
                    if rng.random() < 0.45:
                        continue
                    # Up to two corrections, in any direction: the latest row counts.
                    for _ in range(rng.choice((1, 1, 2, 3))):
                        values.append(
                            {
                                "roadmap_id": stored.id,
                                "center_id": center_id,
                                "indicator": code,
                                "period": period,
                                "value": float(rng.randint(0, 150)),
                                "supersedes": None,
                                "actor": "bench",
                                "on_behalf_of": None,
                                "source": "test",
                                "recorded_at": NOW,
                            }
                        )
        rng.shuffle(values)  # ids do not follow the centers
        conn.execute(sa.insert(VALUE), values)


def _reference(engine: Engine, stored: StoredRoadmap, period: Period) -> list[tuple[Any, ...]]:
    """The lines as `build` read them before issue 16: facts and values joined in Python."""
    roadmap = stored.definition
    columns = [
        (i, period.label if i.period.value == "quarter" else period.year_label)
        for i in roadmap.indicators
    ]
    with db.read(engine) as conn:
        values = latest_values(conn, stored.id, sorted({label for _, label in columns}))
        facts = center_facts(conn, stored.id)
    lines = []
    for center in facts.values():
        due = center.due_for(period)
        row: list[float | None] = []
        for indicator, label in columns:
            found = values.get((center.id, label, indicator.code))
            if found is None:
                row.append(None)
            elif indicator.unit is IndicatorUnit.PERCENT:
                row.append(found[1])
            else:
                row.append(int(found[1]))
        if not due and all(v is None for v in row):
            continue
        title = STATE_TITLES[CenterState(center.state)]
        lines.append(
            (center.code, center.name, center.municipality, center.cohort, title, tuple(row), due)
        )
    return lines


@pytest.mark.parametrize("label", ["2021-Q3", "2021-Q4", "2022-Q1"])
def test_one_query_reads_the_lines_the_per_center_reading_did(
    engine: Engine, stored: StoredRoadmap, label: str
) -> None:
    _seed(engine, stored)
    period = parse_period(label)
    assert period is not None
    with db.read(engine) as conn:
        report = quarterly.build(conn, stored, period, generated_at=NOW)
    got = [
        (line.code, line.name, line.municipality, line.cohort, line.state, line.values, line.due)
        for line in report.lines
    ]
    expected = _reference(engine, stored, period)
    assert got == expected
    # The data reach every case the query must get right.
    assert any(not line.due for line in report.lines)  # not due, in for its values
    assert any(line.due and all(v is None for v in line.values) for line in report.lines)
    assert len(expected) < 90  # some centers are neither due nor have values
