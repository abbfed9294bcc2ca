"""Durable transitions per second on a SQLite file: the engine beside a raw-sqlite3 floor.

Both sides do the same work per transition, each in its own transaction: read the center,
read the actor's role, BEGIN IMMEDIATE, versioned UPDATE, read the chain head, INSERT the
hashed audit event, UPDATE the head, COMMIT (WAL, synchronous=FULL). Target: the engine at
least 0.5x the floor.

Run: python benchmarks/bench_transitions.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
CENTERS = 200


def _plan(count: int) -> list[tuple[str, str]]:
    """(code, trigger) pairs walking each center forward through its lifecycle."""
    steps = [FORWARD_TRIGGERS[s].value for s in LIFECYCLE[1:]]
    plan: list[tuple[str, str]] = []
    for step in steps:
        for i in range(CENTERS):
            plan.append((f"C{i:05d}", step))
            if len(plan) == count:
                return plan
    return plan


def _seed(folder: Path) -> tuple[str, int]:
    url = f"sqlite:///{folder / 'tochka.db'}"
    engine = db.make_engine(url, create_dir=True)
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
    return url, rid


def run_engine(url: str, plan: list[tuple[str, str]]) -> float:
    engine = db.make_engine(url)
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


def run_floor(path: Path, roadmap_id: int, plan: list[tuple[str, str]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=60000")
    conn.execute("PRAGMA foreign_keys=ON")
    dest = {FORWARD_TRIGGERS[s].value: s.value for s in LIFECYCLE[1:]}
    started = time.perf_counter()
    for code, trigger in plan:
        cid, state, version = conn.execute(
            "SELECT id, state, version FROM center WHERE roadmap_id=? AND code=?",
            (roadmap_id, code),
        ).fetchone()
        # The engine checks the actor's role on every transition: so does the floor.
        role = conn.execute(
            "SELECT role, scope FROM app_user WHERE roadmap_id=? AND login=?",
            (roadmap_id, "bench"),
        ).fetchone()
        assert role is not None
        new_state = dest[trigger]
        now = datetime.now(UTC)
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "UPDATE center SET state=?, previous_state=NULL, version=?, updated_at=? "
            "WHERE id=? AND version=?",
            (new_state, version + 1, now.replace(tzinfo=None).isoformat(" "), cid, version),
        )
        assert cur.rowcount == 1
        seq, prev = conn.execute(
            "SELECT seq, hash FROM audit_head WHERE roadmap_id=?", (roadmap_id,)
        ).fetchone()
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
            "effective_date": date(2021, 3, 1).isoformat(),
            "evidence": None,
            "comment": None,
            "prev_hash": prev,
        }
        digest = hashlib.sha256(
            json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        conn.execute(
            "INSERT INTO event (roadmap_id, seq, entity_kind, entity_id, entity_key, trigger, "
            "from_state, to_state, actor, on_behalf_of, recorded_at, effective_date, evidence, "
            "comment, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                roadmap_id,
                seq,
                "center",
                cid,
                code,
                trigger,
                state,
                new_state,
                "bench",
                None,
                now.replace(tzinfo=None).isoformat(" "),
                "2021-03-01",
                None,
                None,
                prev,
                digest,
            ),
        )
        conn.execute(
            "UPDATE audit_head SET seq=?, hash=? WHERE roadmap_id=?", (seq, digest, roadmap_id)
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(plan) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    count = 200 if args.quick else 1000
    plan = _plan(count)
    rounds = 2 if args.quick else 5
    size = len(plan) // rounds
    ratios: list[float] = []
    engine_rates: list[float] = []
    floor_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        url_engine, _ = _seed(Path(tmp) / "engine")
        _, rid_floor = _seed(Path(tmp) / "floor")
        # Alternate rounds so both sides see the same disk and machine conditions.
        for n in range(rounds):
            chunk = plan[n * size : (n + 1) * size]
            engine_rates.append(run_engine(url_engine, chunk))
            floor_rates.append(run_floor(Path(tmp) / "floor" / "tochka.db", rid_floor, chunk))
            ratios.append(engine_rates[-1] / floor_rates[-1])
    ratio = statistics.median(ratios)
    print(f"durable transitions, SQLite WAL synchronous=FULL, {len(plan)} transitions")
    print(f"  engine : {statistics.median(engine_rates):8.0f} /s (median of {rounds} rounds)")
    print(
        f"  floor  : {statistics.median(floor_rates):8.0f} /s  (raw sqlite3, same reads and writes)"
    )
    verdict = "OK" if ratio >= 0.5 else "BELOW TARGET"
    print(
        f"  ratio  : {ratio:8.2f}x of floor, median; rounds "
        + " ".join(f"{r:.2f}" for r in ratios)
        + f" (target >= 0.50) {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
