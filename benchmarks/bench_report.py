"""The quarterly report for 20,000 centers, XLSX and CSV, beside floors measured in the same run.

Floors write the same cells with the bare tools: openpyxl's write-only mode (plain values,
no styles, no sheet settings) and the csv module. Two figures per format:

- *writer*: our writer on the built report vs the floor on the same cells (target <= 1.5x);
- *end to end*: reading the report from SQLite (`quarterly.build`) plus writing, for
  information (the floor has no database to read).

Peak memory (tracemalloc) is measured in separate runs, since tracing slows everything.
The 20,000 centers, their ``open`` events and their indicator values are seeded with
bulk inserts.

Run: python benchmarks/bench_report.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import gc
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
from workflow.engine.indicators import VALUE, parse_period  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.roadmap.loader import load_roadmap  # noqa: E402
from workflow.roadmap.shipped import IVANOVO_159_RP  # noqa: E402
from workflow.storage import schema  # noqa: E402
from workflow.storage.tables import CENTER, EVENT  # noqa: E402
from workflow.views import quarterly  # noqa: E402

SHIPPED = IVANOVO_159_RP
NOW = datetime(2022, 10, 5, 9, tzinfo=UTC)
TARGET = 1.5


def seed(url: str, count: int) -> Any:
    engine = db.make_engine(url, create_dir=True)
    schema.upgrade(engine)
    definition = load_roadmap(SHIPPED)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=NOW)
    with db.write(engine) as conn:
        conn.execute(
            sa.insert(CENTER),
            [
                {
                    "roadmap_id": roadmap_id,
                    "code": f"C{i:05d}",
                    "name": f"МБОУ «Средняя школа № {i}»",
                    "municipality": f"Муниципальный район № {i % 85}",
                    "cohort": 2021 + i % 2,
                    "email": f"s{i}@example.org",
                    "state": "reporting",
                    "previous_state": None,
                    "version": 6,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(count)
            ],
        )
        ids = dict(conn.execute(sa.select(CENTER.c.code, CENTER.c.id)).all())
        # Only the ``open`` events matter to the report; the chain is not verified here.
        conn.execute(
            sa.insert(EVENT),
            [
                {
                    "roadmap_id": roadmap_id,
                    "seq": n + 1,
                    "entity_kind": "center",
                    "entity_id": center_id,
                    "entity_key": code,
                    "trigger": "open",
                    "from_state": "staff_trained",
                    "to_state": "opened",
                    "actor": "bench",
                    "recorded_at": NOW,
                    "effective_date": date(2021, 9, 1),
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
                for n, (code, center_id) in enumerate(ids.items())
            ],
        )
        values = []
        for n, center_id in enumerate(ids.values()):
            if n % 10 == 9:
                continue  # every tenth center has not submitted: missing
            for code, period, value in (
                ("natsci_students", "2022-Q3", 80 + n % 70),
                ("tech_students", "2022-Q3", 20 + n % 30),
                ("extra_programs_students", "2022-Q3", 30 + n % 40),
                ("events", "2022", n % 7),
                ("trained_teachers_share", "2022", 50 + n % 51),
            ):
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
        for start in range(0, len(values), 20_000):
            conn.execute(sa.insert(VALUE), values[start : start + 20_000])
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


def _median(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _peak(func: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--centers", type=int, default=20_000)
    args = parser.parse_args(argv)
    count = args.centers if not args.quick else min(args.centers, 5_000)
    runs = 1 if args.quick else 5
    period = parse_period("2022-Q3")
    assert period is not None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        engine, stored = seed(f"sqlite:///{folder / 'bench.db'}", count)
        print(f"Seeded {count} centers with values in {time.perf_counter() - started:.1f} s")

        def build() -> quarterly.QuarterlyReport:
            with db.read(engine) as conn:
                return quarterly.build(conn, stored, period, generated_at=NOW)

        report = build()
        header = report.headers
        rows = _cells(report)
        assert len(rows) == count
        build_time = _median(build, runs)
        print(f"Quarterly report {period.label}, {count} centers, median of {runs} runs")
        print(f"  build (SQLite, 3 queries)      {build_time * 1000:7.0f} ms")
        for name, ours, floor, cells in (
            ("xlsx", quarterly.write_xlsx, floor_xlsx, rows),
            ("csv", quarterly.write_csv, floor_csv, rows),
        ):
            out = folder / f"ours.{name}"
            floor_out = folder / f"floor.{name}"
            # Alternate so both see the same machine load.
            pairs = [
                (
                    _median(lambda ours=ours, out=out: ours(report, out), 1),
                    _median(
                        lambda floor=floor, floor_out=floor_out, cells=cells: floor(
                            header, cells, floor_out
                        ),
                        1,
                    ),
                )
                for _ in range(runs)
            ]
            ours_time = statistics.median(p[0] for p in pairs)
            floor_time = statistics.median(p[1] for p in pairs)
            ratio = ours_time / floor_time
            verdict = "OK" if ratio <= TARGET else "ABOVE TARGET"
            ours_peak = _peak(lambda ours=ours, out=out: ours(build(), out))
            floor_peak = _peak(
                lambda floor=floor, floor_out=floor_out, cells=cells: floor(
                    header, cells, floor_out
                )
            )
            print(
                f"  {name:4s} writer {ours_time * 1000:7.0f} ms | floor {floor_time * 1000:7.0f} ms"
                f" | {ratio:4.2f}x (target <= {TARGET}x) {verdict}"
            )
            print(
                f"  {name:4s} end to end (build + write) {(build_time + ours_time) * 1000:7.0f} ms"
                f" = {(build_time + ours_time) / floor_time:4.2f}x the floor; peak memory: "
                f"ours (build + write) {ours_peak:6.1f} MiB, floor (write only) "
                f"{floor_peak:6.1f} MiB; file {out.stat().st_size / 2**20:.1f} MiB"
            )
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
