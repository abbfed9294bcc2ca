"""The quarterly report for 20,000 centers, XLSX and CSV, beside floors measured in the same run.

The database is seeded as a region's would be by the third quarter of 2022 (bulk
inserts, not measured): every center walked through its lifecycle (five events each, and
cycle events beside them), values for five quarters and two years, one row in twenty
corrected by a later one; one center in ten has not sent the quarter's values, a few are
withdrawn or not opened yet.

Figures, each side's rounds alternating with its floor's so that both see the same load;
a ratio is taken per round and printed as min/median/max:

- *build*: `quarterly.build` (one query, `_lines_query`) beside the same SQL run by bare
  sqlite3 and fetched (what the database itself costs);
- *CSV writer* and *XLSX writer*: our writer on the built report beside the bare tool
  writing the same cells: the csv module; openpyxl's write-only mode with plain values
  (no styles, no sheet settings). Goal: XLSX writer <= 1.3x;
- *CSV end to end*: build + write, beside the csv module writing the same cells (goal
  <= 3x: the floor reads no database), and beside bare sqlite3 + the csv module (the
  same query and the same file: what is left is ours).

Peak memory: tracemalloc in separate runs (tracing slows everything), and the process's
peak RSS at the end.

Run: python benchmarks/bench_report.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import resource
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from base import db  # noqa: E402
from states.center import FORWARD_TRIGGERS, LIFECYCLE  # noqa: E402
from workflow.engine.indicators import VALUE, Period, parse_period  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.roadmap.loader import load_roadmap  # noqa: E402
from workflow.roadmap.shipped import IVANOVO_159_RP  # noqa: E402
from workflow.roadmap.store import StoredRoadmap  # noqa: E402
from workflow.storage import schema  # noqa: E402
from workflow.storage.tables import CENTER, EVENT  # noqa: E402
from workflow.views import quarterly  # noqa: E402

SHIPPED = IVANOVO_159_RP
NOW = datetime(2022, 10, 5, 9, tzinfo=UTC)
XLSX_TARGET = 1.3
CSV_TARGET = 3.0
QUARTERS = ("2021-Q3", "2021-Q4", "2022-Q1", "2022-Q2", "2022-Q3")
YEARS = ("2021", "2022")
_CHUNK = 20_000


def _state(n: int) -> str:
    if n % 100 == 98:
        return "withdrawn"
    if n % 100 == 99:
        return "staff_trained"  # not opened yet: not due, no values
    return "reporting"


def _values(n: int, *, quarter: bool) -> tuple[tuple[str, int], ...]:
    if quarter:
        return (
            ("natsci_students", 80 + n % 70),
            ("tech_students", 20 + n % 30),
            ("extra_programs_students", 30 + n % 40),
        )
    return (("events", n % 7), ("trained_teachers_share", 50 + n % 51))


def seed(url: str, count: int) -> tuple[Any, StoredRoadmap]:
    engine = db.make_engine(url, create_dir=True)
    schema.upgrade(engine)
    definition = load_roadmap(SHIPPED)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=NOW)
    steps = [
        (FORWARD_TRIGGERS[s].value, p.value, s.value)
        for p, s in zip(LIFECYCLE, LIFECYCLE[1:], strict=False)
    ]
    with db.write(engine) as conn:
        conn.execute(
            sa.insert(CENTER),
            [
                {
                    "roadmap_id": roadmap_id,
                    "code": f"C{i:05d}",
                    "name": f"МБОУ «Средняя общеобразовательная школа № {i}»",
                    "municipality": f"Муниципальный район № {i % 85}",
                    "cohort": 2021 + i % 2,
                    "email": f"s{i}@example.org",
                    "state": _state(i),
                    "previous_state": None,
                    "version": 6,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(count)
            ],
        )
        ids = dict(conn.execute(sa.select(CENTER.c.code, CENTER.c.id)).all())
        events: list[dict[str, Any]] = []

        def event(
            kind: str, entity_id: int, key: str, trigger: str, states: tuple[str, str]
        ) -> None:
            events.append(
                {
                    "roadmap_id": roadmap_id,
                    "seq": len(events) + 1,
                    "entity_kind": kind,
                    "entity_id": entity_id,
                    "entity_key": key,
                    "trigger": trigger,
                    "from_state": states[0],
                    "to_state": states[1],
                    "actor": "bench",
                    "recorded_at": NOW,
                    "effective_date": date(2021, 9, 1),
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
            )

        # The chain is not verified here: only the centers' events matter to the report.
        for n, (code, center_id) in enumerate(ids.items()):
            walked = steps if _state(n) != "staff_trained" else steps[:3]
            for trigger, source, dest in walked:
                event("center", center_id, code, trigger, (source, dest))
            for k in range(3):
                event("cycle", center_id * 3 + k, code, "submit", ("open", "submitted"))
        for start in range(0, len(events), _CHUNK):
            conn.execute(sa.insert(EVENT), events[start : start + _CHUNK])
        values: list[dict[str, Any]] = []
        for n, center_id in enumerate(ids.values()):
            if _state(n) == "staff_trained":
                continue
            for period in (*QUARTERS, *YEARS):
                if period in ("2022-Q3", "2022") and n % 10 == 9:
                    continue  # every tenth center has not submitted: missing
                for code, value in _values(n, quarter=period in QUARTERS):
                    values.append(
                        {
                            "roadmap_id": roadmap_id,
                            "center_id": center_id,
                            "indicator": code,
                            "period": period,
                            "value": float(value),
                            "supersedes": None,
                            "actor": "bench",
                            "on_behalf_of": None,
                            "source": "bench",
                            "recorded_at": NOW,
                        }
                    )
        values += [{**row, "value": row["value"] + 1} for row in values[::20]]  # corrections
        for start in range(0, len(values), _CHUNK):
            conn.execute(sa.insert(VALUE), values[start : start + _CHUNK])
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, definition.code)
    return engine, stored


def _cells(report: quarterly.QuarterlyReport) -> list[list[Any]]:
    return [
        [
            line.code,
            line.name,
            line.municipality,
            line.cohort,
            line.state,
            *line.values,
            "да" if line.targets_met else "нет",
            line.status,
        ]
        for line in report.lines
    ]


def floor_xlsx(header: list[str], rows: list[list[Any]], path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Центры")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)


def floor_csv(header: list[str], rows: list[list[Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(header)
        writer.writerows(rows)


def _sql(engine: Any, stored: StoredRoadmap, period: Period) -> str:
    """`quarterly.build`'s query as text, for the bare sqlite3 floor."""
    columns = tuple(
        (i, period.label if i.period.value == "quarter" else period.year_label)
        for i in stored.definition.indicators
    )
    query = quarterly._lines_query(stored.id, columns, period)
    return str(query.compile(engine, compile_kwargs={"literal_binds": True}))


def _timed(func: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def _peak(func: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _spread(values: list[float], digits: int = 2) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def _pairs(
    ours: Callable[[], object], floor: Callable[[], object], rounds: int
) -> tuple[list[float], list[float], list[float]]:
    """Ours and the floor, alternating: (our seconds, the floor's, ratios per round)."""
    mine, theirs = [], []
    for _ in range(rounds):
        mine.append(_timed(ours))
        theirs.append(_timed(floor))
    return mine, theirs, [a / b for a, b in zip(mine, theirs, strict=True)]


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 centers, 3 rounds")
    parser.add_argument("--centers", type=int, default=20_000)
    args = parser.parse_args(argv)
    count = args.centers if not args.quick else min(args.centers, 5_000)
    rounds = 3 if args.quick else 7
    period = parse_period("2022-Q3")
    assert period is not None
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at start: {load} ({os.cpu_count()} CPUs)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        path = folder / "bench.db"
        engine, stored = seed(f"sqlite:///{path}", count)
        print(
            f"Seeded {count} centers with events and values "
            f"in {time.perf_counter() - started:.1f} s"
        )
        sql = _sql(engine, stored, period)
        raw = sqlite3.connect(path)

        def build() -> quarterly.QuarterlyReport:
            with db.read(engine) as conn:
                return quarterly.build(conn, stored, period, generated_at=NOW)

        def raw_rows() -> list[Any]:
            return raw.execute(sql).fetchall()

        report = build()
        header = report.headers
        cells = _cells(report)
        assert len(raw_rows()) == len(report.lines) == len(cells)
        print(
            f"Quarterly report {period.label}: {len(report.lines)} lines of {count} centers; "
            f"{rounds} rounds, figures median (min–max)"
        )
        built, bare, ratios = _pairs(build, raw_rows, rounds)
        print(
            f"  build (one query)    {_ms(built):>8} | bare sqlite3, same SQL, fetched "
            f"{_ms(bare):>8} | {_spread(ratios)}x"
        )
        out_csv, floor_out = folder / "ours.csv", folder / "floor.csv"
        ours_csv, floor_csv_s, ratios = _pairs(
            lambda: quarterly.write_csv(report, out_csv),
            lambda: floor_csv(header, cells, floor_out),
            rounds,
        )
        print(
            f"  csv writer           {_ms(ours_csv):>8} | csv module         "
            f"{_ms(floor_csv_s):>8} | {_spread(ratios)}x"
        )

        def raw_csv() -> None:
            floor_csv(header, [list(r) for r in raw_rows()], floor_out)

        end_to_end, csv_only, ratios = _pairs(
            lambda: quarterly.write_csv(build(), out_csv),
            lambda: floor_csv(header, cells, floor_out),
            rounds,
        )
        _, raw_end, raw_ratios = _pairs(
            lambda: quarterly.write_csv(build(), out_csv), raw_csv, rounds
        )
        csv_ratio = statistics.median(ratios)
        ours_peak = _peak(lambda: quarterly.write_csv(build(), out_csv))
        floor_peak = _peak(lambda: floor_csv(header, cells, floor_out))
        print(
            f"  csv end to end       {_ms(end_to_end):>8} | csv module         "
            f"{_ms(csv_only):>8} | {_spread(ratios)}x (goal <= {CSV_TARGET}x) "
            f"{'OK' if csv_ratio <= CSV_TARGET else 'ABOVE GOAL'}"
        )
        print(
            f"  csv end to end       {'':>8} | bare sqlite3 + csv  {_ms(raw_end):>8} | "
            f"{_spread(raw_ratios)}x (the database's own work taken out)"
        )
        print(
            f"  csv peak memory (tracemalloc): ours, build + write {ours_peak:.1f} MiB; "
            f"floor, write only {floor_peak:.1f} MiB; file {out_csv.stat().st_size / 2**20:.1f} MiB"
        )
        rows.append(
            {
                "key": "report_csv",
                "today": _ms(end_to_end),
                "floor": f"{_ms(csv_only)} (csv module)",
                "ratio": f"{_spread(ratios)}x",
                "peak": f"{ours_peak:.0f} MiB (tracemalloc)",
                "goal": f"<= {CSV_TARGET:g}x",
                "met": csv_ratio <= CSV_TARGET,
            }
        )
        out_xlsx, floor_xlsx_out = folder / "ours.xlsx", folder / "floor.xlsx"
        xlsx_rounds = max(3, rounds // 2)
        ours_x, floor_x, ratios = _pairs(
            lambda: quarterly.write_xlsx(report, out_xlsx),
            lambda: floor_xlsx(header, cells, floor_xlsx_out),
            xlsx_rounds,
        )
        xlsx_ratio = statistics.median(ratios)
        ours_peak = _peak(lambda: quarterly.write_xlsx(build(), out_xlsx))
        floor_peak = _peak(lambda: floor_xlsx(header, cells, floor_xlsx_out))
        print(
            f"  xlsx writer          {_ms(ours_x):>8} | openpyxl write-only "
            f"{_ms(floor_x):>7} | {_spread(ratios)}x (goal <= {XLSX_TARGET}x, "
            f"{xlsx_rounds} rounds) {'OK' if xlsx_ratio <= XLSX_TARGET else 'ABOVE GOAL'}"
        )
        print(
            f"  xlsx end to end (build + write) "
            f"{statistics.median(built) + statistics.median(ours_x):.2f} s; "
            f"peak memory (tracemalloc): ours, build + write {ours_peak:.1f} MiB; floor, write "
            f"only {floor_peak:.1f} MiB; file {out_xlsx.stat().st_size / 2**20:.1f} MiB"
        )
        rows.append(
            {
                "key": "report_xlsx",
                "today": _ms(ours_x),
                "floor": f"{_ms(floor_x)} (openpyxl write-only)",
                "ratio": f"{_spread(ratios)}x",
                "peak": f"{ours_peak:.0f} MiB (tracemalloc)",
                "goal": f"<= {XLSX_TARGET:g}x",
                "met": xlsx_ratio <= XLSX_TARGET,
            }
        )
        raw.close()
        engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"peak RSS of the whole run: {rss:.0f} MiB; load average at end: {load}")
    return rows


if __name__ == "__main__":
    main()
