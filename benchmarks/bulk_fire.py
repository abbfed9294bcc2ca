"""Bulk transitions from a file (`tochka centers fire --from FILE`) beside a raw-sqlite3 floor.

Both sides read the same CSV file of rows («Код;Действие;Документы»: one center each,
``agree_infrastructure`` with a document) in one process and do the same reads and
writes per row: BEGIN IMMEDIATE, read the center joined with the actor's role and its
last event's date and count, versioned UPDATE, read the chain head, INSERT the hashed
audit event, UPDATE the head, COMMIT (WAL, synchronous=FULL). Ours is
`workflow.imports.fire_file.read_fire_file` and `workflow.engine.bulk.fire_rows`, with
one transaction per row (the default) and with one for all (``--all-or-nothing``),
against a floor committing the same way. Notices are left out on both sides (the floor
would have to render the same letters); the bench_notifications figures cover them.

Rounds alternate between the sides on fresh copies of one seeded database, so both see
the same disk; the spread is the range over rounds. Peak memory (tracemalloc) is
measured in a separate run of each side, since tracing slows everything.
Target: ours at least 0.8x the floor.

Run: python benchmarks/bulk_fire.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
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
    "SELECT c.id, c.state, c.version, c.previous_state, c.name, c.municipality, u.role, "
    "u.scope, (SELECT max(e.effective_date) FROM event e WHERE e.roadmap_id = c.roadmap_id "
    "AND e.entity_kind = 'center' AND e.entity_id = c.id), (SELECT count(*) FROM event e "
    "WHERE e.roadmap_id = c.roadmap_id AND e.entity_kind = 'center' AND e.entity_id = c.id) "
    "FROM center c LEFT JOIN app_user u ON u.roadmap_id = c.roadmap_id AND u.login = ? "
    "WHERE c.roadmap_id = ? AND c.code = ?"
)
_INSERT = (
    "INSERT INTO event (roadmap_id, seq, entity_kind, entity_id, entity_key, trigger, "
    "from_state, to_state, actor, on_behalf_of, recorded_at, effective_date, evidence, "
    "comment, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def floor(db_path: Path, rows_path: Path, *, atomic: bool) -> int:
    """The same reads and writes in raw sqlite3, the file read with the csv module."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=60000")
    conn.execute("PRAGMA foreign_keys=ON")
    (rid,) = conn.execute("SELECT id FROM roadmap").fetchone()
    text = rows_path.read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    if atomic:
        conn.execute("BEGIN IMMEDIATE")
    for code, action, documents in records:
        trigger = TITLES[action]
        kind, _, value = documents.partition("=")
        evidence = {kind: value}
        if not atomic:
            conn.execute("BEGIN IMMEDIATE")
        cid, state, version, *_rest, role, _scope, _last, _count = conn.execute(
            _READ, (ACTOR, rid, code)
        ).fetchone()
        assert role == "coordinator"
        new_state = DEST[trigger]
        now = datetime.now(UTC)
        stamp = now.replace(tzinfo=None).isoformat(" ")
        cur = conn.execute(
            "UPDATE center SET state=?, previous_state=NULL, version=?, updated_at=? "
            "WHERE id=? AND version=?",
            (new_state, version + 1, stamp, cid, version),
        )
        assert cur.rowcount == 1
        seq, prev = conn.execute(
            "SELECT seq, hash FROM audit_head WHERE roadmap_id=?", (rid,)
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
        conn.execute(
            _INSERT,
            (
                rid,
                seq,
                "center",
                cid,
                code,
                trigger,
                state,
                new_state,
                ACTOR,
                None,
                stamp,
                "2021-03-01",
                json.dumps(evidence, ensure_ascii=False),
                None,
                prev,
                digest,
            ),
        )
        conn.execute("UPDATE audit_head SET seq=?, hash=? WHERE roadmap_id=?", (seq, digest, rid))
        if not atomic:
            conn.execute("COMMIT")
    if atomic:
        conn.execute("COMMIT")
    conn.close()
    return len(records)


def _timed(func: Callable[[], int]) -> float:
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
) -> None:
    """Alternate rounds of ours and the floor, then one traced run of each; print them."""
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
    print(f"bulk fire from a CSV file, {count} rows, {mode}, SQLite WAL synchronous=FULL")
    print(
        f"  ours   : {statistics.median(ours_rates):8.0f} rows/s (median of {rounds}; "
        f"{min(ours_rates):.0f}-{max(ours_rates):.0f}); peak memory {ours_mib:.1f} MiB"
    )
    print(
        f"  floor  : {statistics.median(floor_rates):8.0f} rows/s (raw sqlite3, same reads "
        f"and writes; {min(floor_rates):.0f}-{max(floor_rates):.0f}); peak memory "
        f"{floor_mib:.1f} MiB"
    )
    print(
        f"  ratio  : {ratio:8.2f}x of floor, median; rounds "
        + " ".join(f"{r:.2f}" for r in ratios)
        + f" (spread {min(ratios):.2f}-{max(ratios):.2f}; target >= {TARGET}) {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200 rows, 3 rounds")
    args = parser.parse_args(argv)
    count = 200 if args.quick else 1000
    rounds = 3 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed = _seed(folder, count)
        rows_path = _rows_file(folder, count)
        for atomic in (False, True):
            _compare(seed, folder, rows_path, count, rounds, atomic)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
