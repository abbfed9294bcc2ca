"""Benchmark: one reconciler tick over 20,000 and 100,000 centers with nothing to do.

Beside it, in the same run, a hand-written SQL *floor*: the same selections (missing
cycles, passed-due cycles, open cycles with their last rung, centers per cohort and
state, the by-schedule dates, and the per-(cohort, stage) anti-join against
``sent_rung``) through the raw DB-API cursor, no Python logic. Target: the tick under 2x
the floor, and memory that does not grow with the number of ticks (tracemalloc over 20
ticks).

Centers are seeded with bulk inserts (not the import path); the rungs already sent are
seeded with one ``INSERT … SELECT`` per (cohort, stage), which is the state after the
day's tick.

    python benchmarks/bench_tick.py            # 20,000 and 100,000 centers
    python benchmarks/bench_tick.py --quick    # 20,000 only
PostgreSQL runs too when TOCHKA_BENCH_PG_URL or TOCHKA_TEST_PG_URL is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402

from base import db  # noqa: E402
from notifications.values import Reminder  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.roadmap.loader import load_roadmap  # noqa: E402
from workflow.roadmap.shipped import IVANOVO_159_RP  # noqa: E402
from workflow.roadmap.store import StoredRoadmap  # noqa: E402
from workflow.schedule.reconcile import create_due_cycles, mark_overdue, tick  # noqa: E402
from workflow.schedule.reminders import latest_due, rung_offset, stage_groups  # noqa: E402
from workflow.storage import schema  # noqa: E402
from workflow.storage.tables import CENTER

SHIPPED = IVANOVO_159_RP
NOW = datetime(2022, 9, 14, 9, 0, tzinfo=ZoneInfo("Europe/Moscow"))
TODAY = NOW.date()
REAL = datetime(2026, 1, 1, tzinfo=UTC)
COHORTS = (2021, 2022, 2023)
STATES = ("planned", "infrastructure_agreed", "equipped", "staff_trained", "opened")


def null_queue(conn: Connection, reminders: Sequence[Reminder], *, now: datetime) -> int:
    return len(reminders)


def seed(engine: Engine, count: int) -> StoredRoadmap:
    schema.upgrade(engine)
    definition = load_roadmap(SHIPPED)
    roadmap_store.store(engine, definition, now=REAL)
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, definition.code)
    rows: list[dict[str, Any]] = []
    for i in range(count):
        rows.append(
            {
                "roadmap_id": stored.id,
                "code": f"C{i:06d}",
                "name": f"МБОУ «Школа № {i}»",
                "municipality": f"Район {i % 85}",
                "cohort": COHORTS[i % 3],
                "email": f"school{i}@example.org",
                "state": STATES[(i // 3) % len(STATES)],
                "previous_state": None,
                "version": 1,
                "created_at": REAL,
                "updated_at": REAL,
            }
        )
    with db.write(engine) as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(sa.insert(CENTER), rows[start : start + 10_000])
    # The cycles first (a handful), then the rungs sent, then one tick for the rest.
    create_due_cycles(engine, stored, today=TODAY, now=NOW, clock=lambda: REAL)
    mark_overdue(engine, stored, today=TODAY, now=NOW, clock=lambda: REAL)
    # The centers' latest rungs, as the day's tick would have recorded them.
    with db.write(engine) as conn:
        for group in list(stage_groups(conn, stored)):
            assert group.stage.due is not None
            rung = latest_due(group.stage.due, stored.definition, TODAY)
            if rung is None:
                continue
            conn.execute(
                sa.text(
                    "INSERT INTO sent_rung (roadmap_id, kind, entity_id, stage, rung, day_offset,"
                    " deadline, send_on, queued_at) SELECT roadmap_id, 'center', id, :stage,"
                    " :rung, :off, :deadline, :send_on, :queued FROM center WHERE roadmap_id = :r"
                    " AND cohort = :c AND state IN ("
                    + ", ".join(f"'{s}'" for s in group.states)
                    + ")"
                ),
                {
                    "stage": group.stage.stage,
                    "rung": rung.key_part,
                    "off": rung_offset(rung),
                    "deadline": group.stage.due,
                    "send_on": TODAY,
                    "queued": REAL.replace(tzinfo=None) if db.is_sqlite(conn) else REAL,
                    "r": stored.id,
                    "c": group.cohort,
                },
            )
    tick(engine, stored, now=NOW, clock=lambda: REAL, queue=null_queue)  # cycle reminders
    # Fresh statistics, as autovacuum (or SQLite's optimize) would have them by now.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return stored


def floor(engine: Engine, stored: StoredRoadmap) -> int:
    """The same selections in hand-written SQL through the DB-API cursor."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        p = "?" if engine.dialect.name == "sqlite" else "%s"
        r = stored.id
        found = 0
        cur.execute(f"SELECT measure, period FROM measure_cycle WHERE roadmap_id = {p}", (r,))
        found += len(cur.fetchall())
        cur.execute(
            "SELECT id FROM measure_cycle WHERE roadmap_id = "
            f"{p} AND state IN ('scheduled', 'in_progress') AND due_date < {p}",
            (r, TODAY),
        )
        found += len(cur.fetchall())
        cur.execute(
            "SELECT c.id, c.measure, c.period, c.due_date, c.state, (SELECT max(s.day_offset) "
            "FROM sent_rung s WHERE s.roadmap_id = c.roadmap_id AND s.kind = 'cycle' AND "
            "s.entity_id = c.id AND s.stage = '') FROM measure_cycle c WHERE c.roadmap_id = "
            f"{p} AND c.state IN ('scheduled', 'in_progress', 'overdue')",
            (r,),
        )
        found += len(cur.fetchall())
        cur.execute(
            f"SELECT cohort, state FROM center WHERE roadmap_id = {p} AND state <> 'withdrawn' "
            "GROUP BY cohort, state",
            (r,),
        )
        found += len(cur.fetchall())
        cur.execute(
            "SELECT measure, due_date FROM measure_cycle WHERE roadmap_id = "
            f"{p} AND measure IN (3) AND state <> 'cancelled'",
            (r,),
        )
        found += len(cur.fetchall())
        for cohort, stage, states, offset in _groups(engine, stored):
            marks = ", ".join([p] * len(states))
            cur.execute(
                "SELECT c.id, c.code, c.name, c.municipality, c.email FROM center c WHERE "
                f"c.roadmap_id = {p} AND c.cohort = {p} AND c.state IN ({marks}) AND c.id NOT IN "
                f"(SELECT s.entity_id FROM sent_rung s WHERE s.roadmap_id = {p} AND s.kind = "
                f"'center' AND s.stage = {p} AND s.day_offset >= {p}) "
                "ORDER BY c.id",
                (r, cohort, *states, r, stage, offset),
            )
            found += len(cur.fetchall())
        raw.rollback()
        return found
    finally:
        raw.close()


_GROUPS: dict[int, list[tuple[int, str, tuple[str, ...], int]]] = {}


def _groups(engine: Engine, stored: StoredRoadmap) -> list[tuple[int, str, tuple[str, ...], int]]:
    # Computed once: the floor is the SQL alone.
    key = id(engine)
    if key not in _GROUPS:
        with db.read(engine) as conn:
            result = []
            for g in stage_groups(conn, stored):
                assert g.stage.due is not None
                rung = latest_due(g.stage.due, stored.definition, TODAY)
                if rung is not None:
                    result.append((g.cohort, g.stage.stage, g.states, rung_offset(rung)))
        _GROUPS[key] = result
    return _GROUPS[key]


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench(label: str, engine: Engine, count: int, repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    stored = seed(engine, count)
    seeded = time.perf_counter() - started

    def one_tick() -> None:
        report = tick(engine, stored, now=NOW, clock=lambda: REAL, queue=null_queue)
        assert not report.changed, report

    one_tick()
    floor(engine, stored)
    t_tick = timed(one_tick, repeat)
    t_floor = timed(lambda: floor(engine, stored), repeat)
    tracemalloc.start()
    for _ in range(5):
        one_tick()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(15):
        one_tick()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print(
        f"{label:10} {count:>7,} centers  seed {seeded:6.1f} s  tick {t_tick * 1000:8.1f} ms  "
        f"floor {t_floor * 1000:8.1f} ms  ratio {t_tick / t_floor:4.2f}x  "
        f"memory growth over 15 ticks {grown / 1024:7.1f} KiB",
        flush=True,
    )
    return {  # a row of run_all's summary
        "path": f"tick with nothing to do, {label}, {count:,} centers",
        "today": f"{t_tick * 1000:.1f} ms",
        "floor": f"{t_floor * 1000:.1f} ms (hand-written SQL)",
        "ratio": f"{t_tick / t_floor:.2f}x (median of {repeat})",
        "peak": f"+{grown / 1024:.0f} KiB over 15 ticks",
        "goal": "≤ 2x, no growth",
        "met": t_tick / t_floor <= 2,
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20,000 centers only")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = (20_000,) if args.quick else (20_000, 100_000)
    pg_url = os.environ.get("TOCHKA_BENCH_PG_URL") or os.environ.get("TOCHKA_TEST_PG_URL")
    print(f"bench_tick: as of {TODAY}, nothing to do; median of {args.repeat}")
    rows = []
    for count in sizes:
        with tempfile.TemporaryDirectory() as folder:
            engine = db.make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                rows.append(bench("sqlite", engine, count, args.repeat))
            finally:
                engine.dispose()
        if pg_url:
            name = f"bench_{uuid.uuid4().hex[:12]}"
            admin = db.make_engine(pg_url, poolclass=sa.pool.NullPool)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {name}")
            url = sa.engine.make_url(db.normalize_url(pg_url)).update_query_dict(
                {"options": f"-csearch_path={name}"}
            )
            engine = db.make_engine(url.render_as_string(hide_password=False))
            try:
                rows.append(bench("postgresql", engine, count, args.repeat))
            finally:
                engine.dispose()
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
                admin.dispose()
    return rows


if __name__ == "__main__":
    main()
