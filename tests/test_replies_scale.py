"""What keeps a returned form's cost flat as replies pile up (issue 15, item 4's benchmark).

Each reply with a monitoring form used to read more the more replies came before it:
the letter it answers was looked up by Message-ID over the whole outbox (every stored
letter's bytes), the values that count were read for every center of the period, and
the opening day of every center of the roadmap was grouped for the one center named.
These tests hold the cheaper reads to the same answers, and the lookup to its index.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications.outbox import OUTBOX
from tests.test_indicators import CENTERS, seed
from workflow.engine.indicators import RawRow, RawValue, center_facts, latest_values, record
from workflow.roadmap.store import StoredRoadmap

NOW = datetime(2021, 10, 5, 9, 0, tzinfo=UTC)


def _values(engine: Engine, stored: StoredRoadmap) -> None:
    """Two values of each center for 2021-Q3, the second correcting the first for two."""
    for value in ("10", "12"):
        rows = [
            RawRow(
                center=code,
                period="2021-Q3",
                values=(RawValue(indicator="natsci_students", text=value),),
            )
            for code, *_rest in CENTERS[:3]
            if value == "10" or code != "IV-03"
        ]
        record(engine, stored, rows, filename=None, actor="operator", now=NOW)


def test_latest_values_of_some_centers_are_those_of_all_for_them(
    engine: Engine, stored: StoredRoadmap
) -> None:
    seed(engine, stored)
    _values(engine, stored)
    with db.read(engine) as conn:
        every = latest_values(conn, stored.id, ["2021-Q3"])
        ids = {c.code: c.id for c in center_facts(conn, stored.id).values()}
        some = latest_values(conn, stored.id, ["2021-Q3"], center_ids={ids["IV-01"], ids["IV-03"]})
        none = latest_values(conn, stored.id, ["2021-Q3"], center_ids=set())
    assert len(every) == 3
    assert some == {k: v for k, v in every.items() if k[0] in {ids["IV-01"], ids["IV-03"]}}
    assert {v for _row, v in some.values()} == {12.0, 10.0}  # IV-01 corrected, IV-03 not
    assert none == {}


def test_center_facts_of_some_codes_are_those_of_all_for_them(
    engine: Engine, stored: StoredRoadmap
) -> None:
    seed(engine, stored)
    with db.read(engine) as conn:
        every = center_facts(conn, stored.id)
        some = center_facts(conn, stored.id, ["IV-05", "IV-01", "IV-04", "нет такого"])
    assert list(some) == ["IV-01", "IV-04", "IV-05"]  # by municipality, then code
    assert some == {code: every[code] for code in some}
    assert some["IV-01"].opened_on is not None  # opened on 01.09.2021
    assert some["IV-05"].opened_on is None  # never opened


def test_a_replys_letter_is_found_by_the_message_id_index(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan read is SQLite's; PostgreSQL plans by its statistics")
    query = sa.select(OUTBOX.c.id).where(OUTBOX.c.message_id.in_(["<a.tochka@x>"]))
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with db.read(engine) as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
    assert "ix_outbox_message_id" in plan, plan
