"""Plain aligned tables for the listing commands.

Listings are the most frequent commands and their start-up time is budgeted
(benchmarks/bench_cli.py): importing and laying out a Rich table for 100 rows costs about
as much as the rest of the command, so rows of short values are printed here instead.
Rich stays for the views with long, wrapped texts (roadmap show, status).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` under ``columns``, each column as wide as its longest cell."""
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = [title, ""]
    lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    lines.append("  ".join("─" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")
