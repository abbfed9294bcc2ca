"""Bulk transitions from a file (`tochka centers fire --from FILE`) beside a raw-sqlite3 floor.

Both sides read the same CSV file of rows («Код;Действие;Документы»: one center each,
``agree_infrastructure`` with a document) in one process and do the same reads and
writes (WAL, synchronous=FULL). Ours is `workflow.imports.fire_file.read_fire_file` and
`workflow.engine.bulk.fire_rows`; the floor reads the file with the csv module and runs
the engine's statements by hand on a bare sqlite3 connection, hashing as the engine does.

- A transaction per row (the default): per row BEGIN IMMEDIATE, read the center joined
  with the actor's role, its last event's date and count and the chain head, the
  versioned UPDATE, INSERT the hashed audit event, UPDATE the head, COMMIT. Each row
  waits for its commit to reach the disk, on both sides.
- One transaction for all (``--all-or-nothing``): the file's centers in one read, then
  the head; the rows' UPDATEs as one executemany, their events as one, the head once,
  one COMMIT. Nothing waits for the disk but the last commit: the ratio is the work of
  the process alone, Python against C, which is why it is lower than per row.

Notices are left out on both sides (the floor would have to render the same letters);
the bench_notifications figures cover them. Rounds alternate between the sides on fresh
copies of one seeded database, so both see the same disk and load; each figure is
min/median/max over the rounds. Peak memory (tracemalloc) is measured in a separate run
of each side, since tracing slows everything. Target: ours at least 0.8x the floor.

Run: python benchmarks/bulk_fire.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import gc
import hashlib
import io
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from base import db  # noqa: E402
from workflow.engine import centers  # noqa: E402
from workflow.engine.access import Actor  # noqa: E402
from workflow.engine.bulk import BulkMode, BulkRow, fire_rows  # noqa: E402
from workflow.engine.transitions import TransitionEngine  # noqa: E402
from workflow.engine.users import bootstrap_coordinator  # noqa: E402
from workflow.imports.centers_file import CenterRow  # noqa: E402
from workflow.imports.fire_file import read_fire_file  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.roadmap.loader import load_roadmap  # noqa: E402
from workflow.roadmap.shipped import IVANOVO_159_RP  # noqa: E402
from workflow.storage import schema  # noqa: E402

SEEDED = datetime(2021, 1, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
ACTOR = "bench"
TITLES = {"согласование инфраструктурного листа": "agree_infrastructure"}
DEST = {"agree_infrastructure": "infrastructure_agreed"}
TARGET = 0.8


def _seed(folder: Path, count: int) -> Path:
    path = folder / "seed.db"
    engine = db.make_engine(f"sqlite:///{path}", create_dir=True)
    schema.upgrade(engine)
    rid, _ = roadmap_store.store(engine, load_roadmap(IVANOVO_159_RP), now=SEEDED)
    with db.write(engine) as conn:
        bootstrap_coordinator(conn, rid, ACTOR, SEEDED, SEEDED.date())
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
        for i in range(count)
    ]
    centers.import_centers(engine, stored, rows, filename="bench", actor=ACTOR, now=SEEDED)
    engine.dispose()
    return path


def _rows_file(folder: Path, count: int) -> Path:
    path = folder / "rows.csv"
    lines = ["Код;Действие;Документы"] + [
        f"C{i:05d};согласование инфраструктурного листа;department_order=№ {i} от 01.03.2021"
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _copy(seed: Path, folder: Path, name: str) -> Path:
    path = folder / f"{name}.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(seed, path)
    return path


def ours(db_path: Path, rows_path: Path, *, atomic: bool) -> int:
    """The bulk command's work without its CLI: the roadmap read once, the file read,
    every row fired (`fire_rows`)."""
    engine = db.make_engine(f"sqlite:///{db_path}")
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, None)
    read = read_fire_file(rows_path, roadmap=stored.definition)
    rows = [
        BulkRow(line=r.line, code=r.code, trigger=r.trigger, evidence=r.evidence)
        for r in read
        if r.trigger is not None and not r.problems
    ]
    fire = TransitionEngine(engine, stored.definition, stored.id)
    outcomes = fire_rows(
        fire,
        rows,
        actor=Actor(login=ACTOR),
        now=NOW,
        mode=BulkMode.ALL_OR_NOTHING if atomic else BulkMode.EACH,
    )
    engine.dispose()
    assert all(o.error is None for o in outcomes), outcomes[0].error
    return len(outcomes)


_READ = (
    "SELECT c.id, c.state, c.version, c.previous_state, c.municipality, u.role, u.scope, "
    "(SELECT max(e.effective_date) FROM event e WHERE e.roadmap_id = c.roadmap_id "
    "AND e.entity_kind = 'center' AND e.entity_id = c.id), (SELECT count(*) FROM event e "
    "WHERE e.roadmap_id = c.roadmap_id AND e.entity_kind = 'center' AND e.entity_id = c.id)"
)
# One transition: the center with the chain head (`TransitionEngine.fire_center`).
_READ_ONE = (
    _READ + ", h.seq, h.hash FROM center c LEFT JOIN app_user u ON u.roadmap_id = c.roadmap_id "
    "AND u.login = ? JOIN audit_head h ON h.roadmap_id = c.roadmap_id "
    "WHERE c.roadmap_id = ? AND c.code = ?"
)
# All or nothing: every center of the file in one read, then the head
# (`TransitionEngine.fire_centers_in`).
_READ_MANY = (
    _READ + ", c.code FROM center c LEFT JOIN app_user u ON u.roadmap_id = c.roadmap_id "
    "AND u.login = ? WHERE c.roadmap_id = ? AND c.code IN ({}) ORDER BY c.code"
)
_HEAD_READ = "SELECT seq, hash FROM audit_head WHERE roadmap_id=?"
_UPDATE = (
    "UPDATE center SET state=?, previous_state=NULL, version=?, updated_at=? "
    "WHERE id=? AND version=?"
)
_INSERT = (
    "INSERT INTO event (roadmap_id, seq, entity_kind, entity_id, entity_key, trigger, "
    "from_state, to_state, actor, on_behalf_of, recorded_at, effective_date, evidence, "
    "comment, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_HEAD_UPDATE = "UPDATE audit_head SET seq=?, hash=? WHERE roadmap_id=?"


def _event(
    rid: int,
    seq: int,
    prev: str,
    center: tuple[int, str, str],
    trigger: str,
    evidence: dict[str, str],
) -> tuple[object, ...]:
    """The hashed event row of one transition, as `workflow.engine.audit` hashes it."""
    cid, code, state = center
    now = datetime.now(UTC)
    payload = {
        "seq": seq,
        "entity_kind": "center",
        "entity_id": cid,
        "entity_key": code,
        "trigger": trigger,
        "from_state": state,
        "to_state": DEST[trigger],
        "actor": ACTOR,
        "on_behalf_of": None,
        "recorded_at": now.isoformat(timespec="microseconds"),
        "effective_date": date(2021, 3, 1).isoformat(),
        "evidence": evidence,
        "comment": None,
        "prev_hash": prev,
    }
    digest = hashlib.sha256(
        json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    stamp = now.replace(tzinfo=None).isoformat(" ")
    return (rid, seq, "center", cid, code, trigger, state, DEST[trigger], ACTOR, None) + (
        stamp,
        "2021-03-01",
        json.dumps(evidence, ensure_ascii=False),
        None,
        prev,
        digest,
    )


def _records(rows_path: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(code, trigger, evidence) of each row of the file, read with the csv module."""
    text = rows_path.read_text(encoding="utf-8")
    records = []
    for code, action, documents in list(csv.reader(io.StringIO(text), delimiter=";"))[1:]:
        kind, _, value = documents.partition("=")
        records.append((code, TITLES[action], {kind: value}))
    return records


def floor(db_path: Path, rows_path: Path, *, atomic: bool) -> int:
    """The same reads and writes in raw sqlite3, the file read with the csv module."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=60000")
    conn.execute("PRAGMA foreign_keys=ON")
    (rid,) = conn.execute("SELECT id FROM roadmap").fetchone()
    records = _records(rows_path)
    if atomic:
        _floor_all(conn, rid, records)
    else:
        for code, trigger, evidence in records:
            conn.execute("BEGIN IMMEDIATE")
            cid, state, version, *_rest, role, _scope, last, count, seq, prev = conn.execute(
                _READ_ONE, (ACTOR, rid, code)
            ).fetchone()
            assert role == "coordinator"
            assert count == version
            assert date.fromisoformat(last) <= date(2021, 3, 1)
            row = _event(rid, seq + 1, prev, (cid, code, state), trigger, evidence)
            cur = conn.execute(_UPDATE, (DEST[trigger], version + 1, row[10], cid, version))
            assert cur.rowcount == 1
            conn.execute(_INSERT, row)
            conn.execute(_HEAD_UPDATE, (seq + 1, row[-1], rid))
            conn.execute("COMMIT")
    conn.close()
    return len(records)


def _floor_all(
    conn: sqlite3.Connection, rid: int, records: list[tuple[str, str, dict[str, str]]]
) -> None:
    """One transaction: the centers in one read, then the head; the rows' UPDATEs and
    INSERTs each as one executemany; the head once. (Each center is in one row of the
    file: a second row of a center would need the state the first left.)"""
    conn.execute("BEGIN IMMEDIATE")
    codes = sorted({code for code, _, _ in records})
    found = {
        row[-1]: row
        for row in conn.execute(_READ_MANY.format(",".join("?" * len(codes))), (ACTOR, rid, *codes))
    }
    seq, prev = conn.execute(_HEAD_READ, (rid,)).fetchone()
    updates = []
    events = []
    for code, trigger, evidence in records:
        cid, state, version, _previous, _municipality, role, _scope, last, count, _code = found[
            code
        ]
        assert role == "coordinator"
        assert count == version
        assert date.fromisoformat(last) <= date(2021, 3, 1)
        seq += 1
        row = _event(rid, seq, prev, (cid, code, state), trigger, evidence)
        prev = str(row[-1])
        updates.append((DEST[trigger], version + 1, row[10], cid, version))
        events.append(row)
    assert conn.executemany(_UPDATE, updates).rowcount == len(updates)
    conn.executemany(_INSERT, events)
    conn.execute(_HEAD_UPDATE, (seq, prev, rid))
    conn.execute("COMMIT")


def _timed(func: Callable[[], int]) -> float:
    # Each side starts from a collected heap: the all-or-nothing mode pauses the cyclic
    # collector while its rows fire, and the collection it put off would otherwise fall
    # into the next round, often the floor's.
    gc.collect()
    started = time.perf_counter()
    done = func()
    elapsed = time.perf_counter() - started
    return done / elapsed


def _peak(func: Callable[[], object]) -> float:
    """Peak traced memory of one run, MiB."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _compare(
    seed: Path, folder: Path, rows_path: Path, count: int, rounds: int, atomic: bool
) -> dict[str, object]:
    """Alternate rounds of ours and the floor, then one traced run of each; print them and
    return run_all's summary row."""
    mode = "one transaction for all (--all-or-nothing)" if atomic else "a transaction per row"
    ours_rates: list[float] = []
    floor_rates: list[float] = []
    ratios: list[float] = []
    for _ in range(rounds):
        ours_db = _copy(seed, folder, "ours")
        floor_db = _copy(seed, folder, "floor")
        ours_rates.append(_timed(lambda db_=ours_db: ours(db_, rows_path, atomic=atomic)))
        floor_rates.append(_timed(lambda db_=floor_db: floor(db_, rows_path, atomic=atomic)))
        ratios.append(ours_rates[-1] / floor_rates[-1])
    ours_mib = _peak(lambda: ours(_copy(seed, folder, "ours"), rows_path, atomic=atomic))
    floor_mib = _peak(lambda: floor(_copy(seed, folder, "floor"), rows_path, atomic=atomic))
    ratio = statistics.median(ratios)
    verdict = "OK" if ratio >= TARGET else "BELOW TARGET"
    print(
        f"bulk fire from a CSV file, {count} rows, {mode}, SQLite WAL synchronous=FULL, "
        f"{rounds} rounds (min/median/max)"
    )
    print(f"  ours   : {_spread(ours_rates):>17} rows/s; peak memory {ours_mib:.1f} MiB")
    print(
        f"  floor  : {_spread(floor_rates):>17} rows/s (raw sqlite3, same reads and writes); "
        f"peak memory {floor_mib:.1f} MiB"
    )
    print(f"  ratio  : {_spread(ratios, 2):>17} x of floor (target >= {TARGET}) {verdict}")
    return {
        "key": "bulk",
        "path": f"bulk transitions (centers fire --from), {count:,} rows, "
        + ("--all-or-nothing" if atomic else "a transaction per row"),
        "today": f"{statistics.median(ours_rates):.0f} rows/s",
        "floor": f"raw sqlite3 {statistics.median(floor_rates):.0f} rows/s",
        "ratio": f"{ratio:.2f}x ({min(ratios):.2f}–{max(ratios):.2f})",
        "peak": f"{ours_mib:.1f} MiB (floor {floor_mib:.1f})",
        "goal": f"≥ {TARGET}x",
        "met": ratio >= TARGET,
    }


def _spread(values: list[float], digits: int = 0) -> str:
    return "/".join(
        f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 rows, 5 rounds")
    args = parser.parse_args(argv)
    count = 200 if args.quick else 1000
    rounds = 5 if args.quick else 7
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at start: {load} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed = _seed(folder, count)
        rows_path = _rows_file(folder, count)
        rows = [_compare(seed, folder, rows_path, count, rounds, a) for a in (False, True)]
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at end: {load}")
    return rows


if __name__ == "__main__":
    main()
