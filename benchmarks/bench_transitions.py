"""Durable transitions per second on a SQLite file: the engine beside a raw-sqlite3 floor.

Both sides do the same reads and writes per transition, each in its own transaction:
BEGIN IMMEDIATE; read the center joined with the actor's role, the center's last event
(its effective date and its number of events) and the chain head; the versioned UPDATE;
INSERT the hashed audit event; UPDATE the head; COMMIT (WAL). The floor is the engine's
statements written by hand on a bare sqlite3 connection, the hash computed the same way.

Each mode is measured in its own pair of seeded databases: ``synchronous=FULL`` (the
engine's setting: every commit waits for the disk, so the disk's fsync is most of a
transition) and ``synchronous=NORMAL`` (a WAL commit does not wait for the disk: what is
left is the work of the process, the engine's Python against the floor's). Rounds of
each side alternate, so both see the same disk and the same load; the ratio is taken per
round and printed as min / median / max. Peak memory (tracemalloc) comes from a separate
traced round of each side. Target: the engine at least 0.6x the floor at FULL.

Run: python benchmarks/bench_transitions.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from base import db  # noqa: E402
from states.center import FORWARD_TRIGGERS, LIFECYCLE  # noqa: E402
from workflow.engine import centers  # noqa: E402
from workflow.engine.access import Actor  # noqa: E402
from workflow.engine.transitions import TransitionEngine  # noqa: E402
from workflow.engine.users import bootstrap_coordinator  # noqa: E402
from workflow.imports.centers_file import CenterRow  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.roadmap.loader import load_roadmap  # noqa: E402
from workflow.roadmap.shipped import IVANOVO_159_RP  # noqa: E402
from workflow.storage import schema  # noqa: E402

SHIPPED = IVANOVO_159_RP
NOW = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
EFFECTIVE = date(2021, 3, 1)
CENTERS = 200
TARGET = 0.6
MODES = ("FULL", "NORMAL")

Plan = list[tuple[str, str]]


def _plan(count: int) -> Plan:
    """(code, trigger) pairs walking each center forward through its lifecycle."""
    steps = [FORWARD_TRIGGERS[s].value for s in LIFECYCLE[1:]]
    plan: Plan = []
    for step in steps:
        for i in range(CENTERS):
            plan.append((f"C{i:05d}", step))
            if len(plan) == count:
                return plan
    return plan


def _seed(folder: Path) -> Path:
    path = folder / "tochka.db"
    engine = db.make_engine(f"sqlite:///{path}", create_dir=True)
    schema.upgrade(engine)
    definition = load_roadmap(SHIPPED)
    rid, _ = roadmap_store.store(engine, definition, now=NOW)
    with db.write(engine) as conn:
        bootstrap_coordinator(conn, rid, "bench", NOW, NOW.date())
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, None)
    rows = [
        CenterRow(
            code=f"C{i:05d}",
            name=f"Школа {i}",
            municipality="Район",
            cohort=2021,
            email=f"s{i}@example.org",
            line=i + 2,
        )
        for i in range(CENTERS)
    ]
    centers.import_centers(engine, stored, rows, filename="bench", actor="bench", now=NOW)
    engine.dispose()
    return path


def run_engine(path: Path, plan: Plan, synchronous: str) -> float:
    """The engine's `fire_center` for each step of ``plan``; transitions per second."""
    engine = db.make_engine(f"sqlite:///{path}")

    # After Tochka's own connect listener (which sets FULL): the mode measured.
    @event.listens_for(engine, "connect")
    def _synchronous(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA synchronous = {synchronous}")

    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, None)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    actor = Actor(login="bench")
    started = time.perf_counter()
    for code, trigger in plan:
        fire.fire_center(code, trigger, actor=actor, now=NOW)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return len(plan) / elapsed


# The engine's statements, by hand (SQLite takes no FOR UPDATE: BEGIN IMMEDIATE locks).
_READ = (
    "SELECT c.id, c.state, c.version, c.previous_state, c.municipality, u.role, u.scope, "
    "(SELECT max(e.effective_date) FROM event e WHERE e.roadmap_id = c.roadmap_id "
    "AND e.entity_kind = 'center' AND e.entity_id = c.id), "
    "(SELECT count(*) FROM event e WHERE e.roadmap_id = c.roadmap_id "
    "AND e.entity_kind = 'center' AND e.entity_id = c.id), h.seq, h.hash "
    "FROM center c LEFT JOIN app_user u ON u.roadmap_id = c.roadmap_id AND u.login = ? "
    "JOIN audit_head h ON h.roadmap_id = c.roadmap_id "
    "WHERE c.roadmap_id = ? AND c.code = ?"
)
_UPDATE = (
    "UPDATE center SET state=?, previous_state=NULL, version=?, updated_at=? "
    "WHERE id=? AND version=?"
)
_INSERT = (
    "INSERT INTO event (roadmap_id, seq, entity_kind, entity_id, entity_key, trigger, "
    "from_state, to_state, actor, on_behalf_of, recorded_at, effective_date, evidence, "
    "comment, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_HEAD = "UPDATE audit_head SET seq=?, hash=? WHERE roadmap_id=?"


def run_floor(path: Path, plan: Plan, synchronous: str) -> float:
    """The same reads and writes on a bare sqlite3 connection; transitions per second."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=60000")
    conn.execute("PRAGMA foreign_keys=ON")
    (rid,) = conn.execute("SELECT id FROM roadmap").fetchone()
    dest = {FORWARD_TRIGGERS[s].value: s.value for s in LIFECYCLE[1:]}
    started = time.perf_counter()
    for code, trigger in plan:
        conn.execute("BEGIN IMMEDIATE")
        cid, state, version, _previous, _municipality, role, _scope, last, count, seq, prev = (
            conn.execute(_READ, ("bench", rid, code)).fetchone()
        )
        # The engine checks the role, and that the act is not dated before the last event.
        assert role == "coordinator"
        assert count == version
        assert date.fromisoformat(last) <= EFFECTIVE
        new_state = dest[trigger]
        now = datetime.now(UTC)
        stamp = now.replace(tzinfo=None).isoformat(" ")
        cur = conn.execute(_UPDATE, (new_state, version + 1, stamp, cid, version))
        assert cur.rowcount == 1
        seq += 1
        payload = {
            "seq": seq,
            "entity_kind": "center",
            "entity_id": cid,
            "entity_key": code,
            "trigger": trigger,
            "from_state": state,
            "to_state": new_state,
            "actor": "bench",
            "on_behalf_of": None,
            "recorded_at": now.isoformat(timespec="microseconds"),
            "effective_date": EFFECTIVE.isoformat(),
            "evidence": None,
            "comment": None,
            "prev_hash": prev,
        }
        digest = hashlib.sha256(
            json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        conn.execute(
            _INSERT,
            (rid, seq, "center", cid, code, trigger, state, new_state, "bench", None)
            + (stamp, EFFECTIVE.isoformat(), None, None, prev, digest),
        )
        conn.execute(_HEAD, (seq, digest, rid))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(plan) / elapsed


def _peak(func: Callable[[], object]) -> float:
    """Peak traced memory of one run, MiB."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _spread(values: list[float], digits: int = 0) -> str:
    return "/".join(
        f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


def measure(folder: Path, synchronous: str, rounds: int, size: int) -> dict[str, object]:
    """Alternating rounds of ``size`` transitions in a fresh pair of databases, then a
    traced round of each; prints the figures and returns run_all's summary row."""
    ours = _seed(folder / f"engine-{synchronous}")
    theirs = _seed(folder / f"floor-{synchronous}")
    plan = _plan((rounds + 1) * size)
    engine_rates: list[float] = []
    floor_rates: list[float] = []
    ratios: list[float] = []
    for n in range(rounds):
        chunk = plan[n * size : (n + 1) * size]
        engine_rates.append(run_engine(ours, chunk, synchronous))
        floor_rates.append(run_floor(theirs, chunk, synchronous))
        ratios.append(engine_rates[-1] / floor_rates[-1])
    last = plan[rounds * size :]
    engine_mib = _peak(lambda: run_engine(ours, last, synchronous))
    floor_mib = _peak(lambda: run_floor(theirs, last, synchronous))
    ratio = statistics.median(ratios)
    print(
        f"durable transitions, SQLite WAL synchronous={synchronous}, "
        f"{rounds} rounds of {size} (min/median/max)"
    )
    print(f"  engine : {_spread(engine_rates):>17} /s; peak memory {engine_mib:.1f} MiB")
    print(
        f"  floor  : {_spread(floor_rates):>17} /s (raw sqlite3, same reads and writes); "
        f"peak memory {floor_mib:.1f} MiB"
    )
    verdict = ""
    if synchronous == "FULL":
        verdict = f" (target >= {TARGET:.2f}) " + ("OK" if ratio >= TARGET else "BELOW TARGET")
    print(f"  ratio  : {_spread(ratios, 2):>17} x of floor{verdict}")
    full = synchronous == "FULL"
    return {
        "key": "transition",
        "path": f"durable transition, SQLite file, synchronous={synchronous}",
        "today": f"{statistics.median(engine_rates):.0f} /s",
        "floor": f"raw sqlite3 {statistics.median(floor_rates):.0f} /s",
        "ratio": f"{ratio:.2f}x ({min(ratios):.2f}–{max(ratios):.2f})",
        "peak": f"{engine_mib:.1f} MiB (floor {floor_mib:.1f})",
        "goal": f"≥ {TARGET}x" if full else "reported",
        "met": ratio >= TARGET if full else None,
    }


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 rounds of 40 per mode")
    args = parser.parse_args(argv)
    rounds, size = (5, 40) if args.quick else (9, 100)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at start: {load} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(Path(tmp), synchronous, rounds, size) for synchronous in MODES]
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at end: {load}")
    return rows


if __name__ == "__main__":
    main()
