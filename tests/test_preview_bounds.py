"""``reminders preview`` is bounded for any horizon (issue 10 item 6, issue 16 item 5).

Overdue reminders repeat while a cycle stays open, so a preview's length could grow with
its horizon: ``--until 2099-12-31`` once ran for ten minutes and took 2.5 GB, and was
then refused past five years. Now any ``--until`` is taken: a deadline's ladder is
bounded (silenced after its overdue rungs), nothing is sent once the roadmap closes,
and the preview is printed as it is produced. Fifty years of a region's centers stay
under `PEAK_MB` of memory in a process of its own, measured by the kernel (ru_maxrss),
and take no more memory than a week's preview: what grows with the rows is the output,
not the process. The rows per second are benchmarks/bench_preview.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import SHIPPED, grant, make_rows
from tests.test_indicators import seed
from workflow.engine import centers
from workflow.imports.centers_file import CenterRow
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.closing import closes_on
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.storage import schema

Cli = Callable[..., Result]
#: The peak a preview process may reach (a bare ``tochka`` command takes about 70 MB).
PEAK_MB = 150
#: How much more a 50-year preview may take than a week's (the same deadlines, in
#: memory either way): streamed, ~6 MB; collected into a list first, 12-24 MB.
GROWTH_MB = 10
TOCHKA = str(Path(sys.executable).with_name("tochka"))
NOW = date(2021, 3, 1)  # inside the program: the whole of it is previewed
FIFTY_YEARS = date(2071, 3, 1)
#: Centers per cohort: 3,000 in all, more than any region creates (Ivanovo: 90).
PER_COHORT = 1000  # enough deadlines that the preview runs past 120,000 lines


def test_a_preview_decades_ahead_lists_what_the_close_leaves(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    """Fifty years or to 2099: the same reminders as to the day the roadmap closes
    (nothing is sent after it), the title naming the day asked for."""
    seed(engine, stored)
    close = closes_on(stored.definition)
    args = ("--json", "--now", "2021-03-01", "reminders", "preview", "--until")
    near = cli(*args, close.isoformat())
    assert near.exit_code == 0, near.output
    assert json.loads(near.output)
    for until in ("2071-03-01", "31.12.2099"):
        far = cli(*args, until)
        assert far.exit_code == 0, far.output
        assert json.loads(far.output) == json.loads(near.output)
    table = cli("--now", "2021-03-01", "reminders", "preview", "--until", "31.12.2099")
    assert table.exit_code == 0, table.output
    assert f"Напоминания до 31.12.2099: {len(json.loads(near.output))}" in table.output


def test_help_names_no_bound(cli: Cli) -> None:
    text = " ".join(cli("reminders", "preview", "--help").output.split())
    assert "5 лет" not in text
    assert "печатаются по мере расчёта" in text


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database with three cohorts of centers, every stage of the oldest long overdue."""
    folder = tmp_path_factory.mktemp("preview")
    url = f"sqlite:///{folder / 'tochka.db'}"
    engine = db.make_engine(url)
    try:
        schema.upgrade(engine)
        start = datetime(2021, 1, 11, 9, 0, tzinfo=UTC)
        definition = load_roadmap(SHIPPED)
        roadmap_id, _ = roadmap_store.store(engine, definition, now=start)
        grant(engine, roadmap_id, ["operator"], "coordinator")
        with db.read(engine) as conn:
            stored = roadmap_store.resolve(conn, definition.code)
        rows = [
            CenterRow(**{**r.__dict__, "code": f"{cohort}-{r.code}", "cohort": cohort})
            for cohort in (2021, 2022, 2023)
            for r in make_rows(PER_COHORT, cohort=cohort)
        ]
        centers.import_centers(engine, stored, rows, filename="c.csv", actor="operator", now=start)
    finally:
        engine.dispose()
    return url


def _peak(args: list[str]) -> tuple[int, int, int]:
    """Run ``tochka ARGS`` in a process of its own (via a fresh parent, so that no other
    child's peak counts): exit code, peak resident memory in MB, lines printed."""
    # The parent counts the lines as they come and keeps none of them.
    script = (
        "import resource, subprocess, sys\n"
        "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)\n"
        "chunks = iter(lambda: child.stdout.read(1 << 16), b'')\n"
        "lines = sum(chunk.count(b'\\n') for chunk in chunks)\n"
        "code = child.wait()\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024\n"
        "print(code, peak, lines)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    done = subprocess.run(
        [sys.executable, "-c", script, TOCHKA, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    code, peak, lines = (int(v) for v in done.stdout.split())
    assert code == 0, done.stderr
    return code, peak, lines


@pytest.mark.slow
@pytest.mark.parametrize("form", [[], ["--json"]], ids=["table", "json"])
def test_fifty_years_of_preview_are_streamed_within_the_memory_bound(
    region: str, form: list[str]
) -> None:
    """The must-show of issue 16: a preview over 50 years, the real CLI in a process of
    its own, stays under `PEAK_MB` and takes no more than `GROWTH_MB` over a week's
    (the rows collected into a list before printing take 12-24 MB more here)."""
    base = ["--db", region, *form, "--now", NOW.isoformat(), "reminders", "preview"]
    _, week, few = _peak([*base, "--until", (NOW + timedelta(days=6)).isoformat()])
    _, peak, lines = _peak([*base, "--until", FIFTY_YEARS.isoformat()])
    assert lines > 120_000  # the preview is long: this measures something
    assert few < 100
    assert peak < PEAK_MB, f"{peak} MB for {lines} lines"
    assert peak - week < GROWTH_MB, f"{peak} MB for {lines} lines, {week} MB for a week"
