"""Run every benchmark in this folder (``make bench``); pass --quick for a short run.

After the last one, one summary table: every path of issue 16's table, each with its
figure, its floor measured in the same run, the ratio (median and spread over the
rounds), the peak memory, the goal and whether it is met. Each benchmark's ``main``
returns its rows (and still runs alone: ``python benchmarks/X.py --quick``); a row is a
dict of strings with the keys of `COLUMNS`, ``met`` (True, False or None: not judged)
and ``key``, the path of `ISSUE_ROWS` it measures (none: a row of its own). A path no
benchmark returned is listed as not measured.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

#: The paths of issue 16's table, in its order: key → what is measured.
ISSUE_ROWS: dict[str, str] = {
    "transition": "durable transition, SQLite file",
    "bulk": "bulk transitions (centers fire --from), 1,000 rows",
    "render": "render + queue 20,000 reminders",
    "delivery": "delivery of 500 letters to local SMTP",
    "report_csv": "quarterly report, 20,000 centers: CSV end to end",
    "report_xlsx": "quarterly report, 20,000 centers: XLSX writer",
    "cli": "`tochka centers list` (100) cold",
    "preview": "`reminders preview` over 50 years",
    "import": "import of a 200,000-row centers file",
    "federal": "federal day on one PostgreSQL: the tick",
}
#: The summary's columns: row key → heading.
COLUMNS: dict[str, str] = {
    "path": "path",
    "today": "today",
    "floor": "floor (same run)",
    "ratio": "ratio (spread)",
    "peak": "peak memory",
    "goal": "goal",
    "met": "met?",
}


def benchmarks() -> list[Path]:
    """The benchmarks `main` runs, in order (tests/test_benchmarks_run.py checks that this
    is every script in the folder)."""
    # bulk_fire.py, replies.py and federal_day.py are named for what they run (`centers
    # fire --from`, `replies import`, a federal day), not bench_*.
    return [
        *sorted(HERE.glob("bench_*.py")),
        HERE / "bulk_fire.py",
        HERE / "replies.py",
        HERE / "federal_day.py",
    ]


def _met(value: Any) -> str:
    return {True: "yes", False: "NO", None: "—"}.get(value, str(value))


def summary(collected: Sequence[tuple[str, Any]]) -> list[list[str]]:
    """The summary's lines (cells as text): the issue's paths in order, each with the rows
    that measure it (or «not measured»), then the other rows; ``collected`` is each
    benchmark's name and what its ``main`` returned."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    others: list[dict[str, Any]] = []
    for name, returned in collected:
        if isinstance(returned, BaseException):
            others.append({"path": f"{name}: failed ({type(returned).__name__})", "met": False})
            continue
        rows = returned if isinstance(returned, list) else []
        if not rows:
            others.append({"path": f"{name}: returned no rows (see its output above)"})
        for row in rows:
            if row.get("key") in ISSUE_ROWS:
                by_key.setdefault(row["key"], []).append(row)
            else:
                others.append({**row, "path": row.get("path") or name})
    lines: list[list[str]] = []
    for key, title in ISSUE_ROWS.items():
        for row in by_key.get(key) or [{"path": title, "today": "not measured"}]:
            lines.append(_cells({"path": title, **row}))
    lines.extend(_cells(row) for row in others)
    return lines


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        _met(row.get("met")) if column == "met" else str(row.get(column) or "")
        for column in COLUMNS
    ]


def print_summary(lines: Sequence[Sequence[str]]) -> None:
    headings = list(COLUMNS.values())
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headings)]
    print("\n=== summary (issue 16): each path against its floor in the same run")
    print("  ".join(h.ljust(w) for h, w in zip(headings, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def main() -> int:
    args = [a for a in sys.argv[1:] if a == "--quick"]
    collected: list[tuple[str, Any]] = []
    for path in benchmarks():
        print(f"\n=== {path.stem}", flush=True)
        try:
            module = importlib.import_module(path.stem)
            collected.append((path.stem, module.main(args)))
        except Exception as exc:  # one failing benchmark must not hide the others' figures
            traceback.print_exc()
            collected.append((path.stem, exc))
    print_summary(summary(collected))
    return 1 if any(isinstance(r, BaseException) for _, r in collected) else 0


if __name__ == "__main__":
    raise SystemExit(main())
