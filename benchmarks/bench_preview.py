"""``tochka reminders preview`` over 50 years: rows per second and peak memory.

Set-up (not measured): a SQLite database with three cohorts of centers (``--quick``:
1,000 each, else 3,000: more than any region has), imported as ``centers import`` does,
none walked: every stage of the oldest cohort long overdue, so the preview is long.

Ours: the real CLI, ``tochka reminders preview --until <50 years on>`` printing its
table into a pipe, in a process of its own started by a fresh parent (so that its peak
resident memory is the kernel's ru_maxrss of that one child). The floor: a bare Python
process writing the same lines into the same pipe (the interpreter's start and the
writing; no database, no reminder maths). Rounds alternate; per round the ratio of the
times, printed as median (min–max); rows per second from the wall time, and from the
child's CPU time (user + sys), which other helpers' load on the machine disturbs less.

Goals (issue 16, item 5): peak RSS under 150 MB, at least 20,000 rows/s.

Run: python benchmarks/bench_preview.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from base import db  # noqa: E402
from workflow.engine import centers  # noqa: E402
from workflow.engine.users import bootstrap_coordinator  # noqa: E402
from workflow.imports.centers_file import CenterRow  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.roadmap.loader import load_roadmap  # noqa: E402
from workflow.roadmap.shipped import IVANOVO_159_RP  # noqa: E402
from workflow.storage import schema  # noqa: E402

TOCHKA = str(Path(sys.executable).with_name("tochka"))
NOW = date(2021, 3, 1)
UNTIL = date(2071, 3, 1)
PEAK_MB = 150
RATE = 20_000

#: Runs the command in its argv, counts the lines it prints (keeping none) and prints:
#: wall seconds, the child's CPU seconds, its peak RSS in MiB, the lines.
_PARENT = """
import resource, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
lines = sum(chunk.count(b"\\n") for chunk in iter(lambda: child.stdout.read(1 << 16), b""))
code = child.wait()
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, lines)
"""
#: The floor's child: the same lines written to stdout one by one.
_WRITER = """
import sys
write = sys.stdout.write
with open(sys.argv[1], encoding="utf-8") as lines:
    for line in lines:
        write(line)
"""


def seed(folder: Path, per_cohort: int) -> str:
    url = f"sqlite:///{folder / 'tochka.db'}"
    engine = db.make_engine(url, create_dir=True)
    schema.upgrade(engine)
    start = datetime(2021, 1, 11, 9, tzinfo=UTC)
    definition = load_roadmap(IVANOVO_159_RP)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=start)
    with db.write(engine) as conn:
        bootstrap_coordinator(conn, roadmap_id, "bench", start, start.date())
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, definition.code)
    rows = [
        CenterRow(
            code=f"{cohort}-C{i:05d}",
            name=f"МБОУ «Школа № {i}»",
            municipality=f"Муниципальный район № {i % 25}",
            cohort=cohort,
            email=f"school{cohort}-{i}@example.org",
            line=i + 2,
        )
        for cohort in (2021, 2022, 2023)
        for i in range(per_cohort)
    ]
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="bench", now=start)
    engine.dispose()
    return url


def _run(args: list[str]) -> tuple[float, float, float, int]:
    """wall s, child CPU s, child peak RSS MiB, lines of one run through `_PARENT`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    done = subprocess.run(
        [sys.executable, "-c", _PARENT, *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    code, wall, cpu, peak, lines = done.stdout.split()
    if code != "0":
        raise RuntimeError(f"{args}: exit {code}: {done.stderr}")
    return float(wall), float(cpu), float(peak), int(lines)


def _spread(values: list[float], digits: int = 2) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 centers per cohort, 3 rounds")
    args = parser.parse_args(argv)
    per_cohort = 1000 if args.quick else 3000
    rounds = 3 if args.quick else 5
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = seed(folder, per_cohort)
        ours_args = [TOCHKA, "--db", url, "--now", NOW.isoformat(), "reminders", "preview"]
        ours_args += ["--until", UNTIL.isoformat()]
        saved = folder / "preview.txt"
        with saved.open("wb") as out:
            subprocess.run(ours_args, stdout=out, check=True)
        floor_args = [sys.executable, "-c", _WRITER, str(saved)]
        walls, cpus, peaks, floors, ratios = [], [], [], [], []
        lines = 0
        for _ in range(rounds):
            wall, cpu, peak, lines = _run(ours_args)
            floor_wall, _, _, floor_lines = _run(floor_args)
            assert floor_lines == lines
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
            floors.append(floor_wall)
            ratios.append(wall / floor_wall)
    rates = [lines / w for w in walls]
    cpu_rates = [lines / c for c in cpus]
    peak = max(peaks)
    rate = statistics.median(rates)
    met = peak < PEAK_MB and rate >= RATE
    print(
        f"reminders preview --until {UNTIL:%d.%m.%Y} (50 years), {3 * per_cohort} centers, "
        f"{lines:,} lines, table into a pipe; {rounds} rounds, median (min–max)"
    )
    print(f"  ours  : {_spread(walls)} s wall; {_spread(rates, 0)} rows/s")
    print(f"          {_spread(cpus)} s CPU of the process; {_spread(cpu_rates, 0)} rows/s")
    print(f"  floor : {_spread(floors)} s (bare Python writing the same lines)")
    print(f"  ratio : {_spread(ratios)}x the floor")
    print(
        f"  peak RSS: {_spread(peaks, 0)} MiB (goal < {PEAK_MB} MiB); rows/s goal >= {RATE:,}: "
        f"{'OK' if met else 'NOT MET'}"
    )
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    cpu_rate = statistics.median(cpu_rates)
    return [
        {
            "key": "preview",
            "today": f"{rate:,.0f} rows/s ({lines:,} rows; CPU {cpu_rate:,.0f}/s)",
            "floor": f"{statistics.median(floors):.2f} s (bare Python, same lines)",
            "ratio": f"{_spread(ratios)}x",
            "peak": f"{peak:.0f} MiB RSS",
            "goal": f"< {PEAK_MB} MiB, >= {RATE:,} rows/s",
            "met": met,
        }
    ]


if __name__ == "__main__":
    main()
