"""``tochka centers import`` of a 200,000-row centers file beside a floor, in the same run.

Set-up (not measured): ``tochka init`` of a SQLite database (the shipped roadmap, the OS
account its coordinator), copied afresh for every run; a UTF-8 CSV of N schools (five
columns, Cyrillic names, 85 municipalities, 3 cohorts).

Ours: the real CLI in a process of its own (``tochka centers import FILE``): every row
checked (codes, cohorts, addresses), the centers and their audit events (each hashed
into the chain) written in one transaction. The floor, also a process of its own: the
csv module parses the same file and a bare sqlite3 connection ``executemany``-s the same
center rows and one event per center (its hash a SHA-256 of the row), in one transaction,
with the engine's settings (WAL, synchronous=FULL). Rounds alternate; per round the
ratio of the wall times, printed as median (min–max); peak RSS is each process's
ru_maxrss (read by a fresh parent, so that only that process counts).

Goals (issue 16, item 5): 200,000 rows within 15 s and 300 MB.

Run: python benchmarks/bench_import.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOCHKA = str(Path(sys.executable).with_name("tochka"))
ROWS = 200_000
SECONDS, PEAK_MB = 15.0, 300

#: Runs its argv, prints: exit code, wall seconds, CPU seconds and peak RSS (MiB) of it.
_PARENT = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
if done.returncode:
    sys.stderr.write(done.stdout.decode() + done.stderr.decode())
print(done.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
"""

#: The floor: argv = database file, CSV file.
_FLOOR = """
import csv, hashlib, io, sqlite3, sys
from datetime import datetime, timezone
db, path = sys.argv[1:]
con = sqlite3.connect(db, isolation_level=None)
con.execute("PRAGMA journal_mode = WAL")
con.execute("PRAGMA synchronous = FULL")
text = open(path, "rb").read().decode("utf-8-sig")
reader = csv.reader(io.StringIO(text, newline=""))
next(reader)
now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
con.execute("BEGIN IMMEDIATE")
rid = con.execute("SELECT id FROM roadmap").fetchone()[0]
con.executemany(
    "INSERT INTO center (roadmap_id, code, name, municipality, cohort, email, state,"
    " previous_state, version, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, 'planned', NULL, 1, ?, ?)",
    ((rid, c[0], c[1], c[2], int(c[3]), c[4], now, now) for c in reader),
)
seq, prev = con.execute("SELECT seq, hash FROM audit_head WHERE roadmap_id = ?", (rid,)).fetchone()
events = []
for center_id, code in con.execute(
    "SELECT id, code FROM center WHERE roadmap_id = ? ORDER BY id", (rid,)
):
    seq += 1
    digest = hashlib.sha256(f"{prev}|{seq}|{center_id}|{code}|{now}".encode()).hexdigest()
    events.append((rid, seq, center_id, code, now, prev, digest))
    prev = digest
con.executemany(
    "INSERT INTO event (roadmap_id, seq, entity_kind, entity_id, entity_key, \\"trigger\\","
    " from_state, to_state, actor, recorded_at, effective_date, comment, prev_hash, hash)"
    " VALUES (?, ?, 'center', ?, ?, 'create', NULL, 'planned', 'bench', ?, '2021-01-11',"
    " 'import', ?, ?)",
    events,
)
con.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE roadmap_id = ?", (seq, prev, rid))
con.execute("COMMIT")
"""


def _file(folder: Path, count: int) -> Path:
    path = folder / "centers.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["code", "name", "municipality", "cohort", "email"])
        for i in range(count):
            writer.writerow(
                [
                    f"C{i:06d}",
                    f"МБОУ «Средняя общеобразовательная школа № {i}»",
                    f"Муниципальный район № {i % 85}",
                    2021 + i % 3,
                    f"school{i}@example.org",
                ]
            )
    return path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}


def _template(folder: Path) -> Path:
    path = folder / "template.db"
    subprocess.run(
        [TOCHKA, "--db", f"sqlite:///{path}", "--now", "2021-01-11T09:00", "init"],
        capture_output=True,
        env=_env(),
        check=True,
    )
    return path


def _measure(args: list[str]) -> tuple[float, float, float]:
    """Wall s, CPU s, peak RSS MiB of ``args`` run through `_PARENT`."""
    done = subprocess.run(
        [sys.executable, "-c", _PARENT, *args], capture_output=True, text=True, env=_env()
    )
    code, wall, cpu, peak = done.stdout.split()
    if code != "0":
        raise RuntimeError(f"{args[:4]}: exit {code}: {done.stderr}")
    return float(wall), float(cpu), float(peak)


def _fresh(template: Path, folder: Path, name: str) -> Path:
    path = folder / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return path


def _spread(values: list[float], digits: int = 2) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 5")
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 5
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    ours: list[tuple[float, float, float]] = []
    floor: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _file(folder, args.rows)
        template = _template(folder)
        for _ in range(rounds):
            db = _fresh(template, folder, "ours")
            ours.append(
                _measure(
                    [TOCHKA, "--db", f"sqlite:///{db}", "--now", "2021-01-11T09:05"]
                    + ["centers", "import", str(path)]
                )
            )
            db = _fresh(template, folder, "floor")
            floor.append(_measure([sys.executable, "-c", _FLOOR, str(db), str(path)]))
    walls = [o[0] for o in ours]
    ratios = [o[0] / f[0] for o, f in zip(ours, floor, strict=True)]
    peak = max(o[2] for o in ours)
    wall = statistics.median(walls)
    met = wall <= SECONDS and peak < PEAK_MB if args.rows >= ROWS else None
    print(
        f"centers import of {args.rows:,} rows (CSV, UTF-8), SQLite WAL synchronous=FULL; "
        f"{rounds} rounds, median (min–max)"
    )
    print(
        f"  ours  : {_spread(walls)} s wall, {_spread([o[1] for o in ours])} s CPU; "
        f"{args.rows / wall:,.0f} rows/s; peak RSS {_spread([o[2] for o in ours], 0)} MiB"
    )
    print(
        f"  floor : {_spread([f[0] for f in floor])} s wall, {_spread([f[1] for f in floor])} s "
        f"CPU (csv module + bare sqlite3 executemany, the same rows and an event each); peak "
        f"RSS {_spread([f[2] for f in floor], 0)} MiB"
    )
    print(f"  ratio : {_spread(ratios)}x the floor (wall)")
    print(
        f"  goal  : {args.rows:,} rows within {SECONDS:g} s and {PEAK_MB} MB: "
        + ({True: "OK", False: "NOT MET", None: "judged at 200,000 rows"}[met])
    )
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return [
        {
            "key": "import",
            "today": f"{wall:.1f} s ({args.rows:,} rows)",
            "floor": f"{statistics.median(f[0] for f in floor):.1f} s (csv + executemany)",
            "ratio": f"{_spread(ratios)}x",
            "peak": f"{peak:.0f} MiB RSS",
            "goal": f"<= {SECONDS:g} s, < {PEAK_MB} MB",
            "met": met,
        }
    ]


if __name__ == "__main__":
    main()
