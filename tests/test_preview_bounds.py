"""``reminders preview`` is bounded (issue 10, item 6).

Overdue reminders repeat for as long as a cycle stays open, so a preview's length grows
with its horizon: ``--until 2099-12-31`` once ran for ten minutes and took 2.5 GB. A
preview now looks at most `PREVIEW_MAX_YEARS` years ahead (refused past that, in
Russian, before anything is printed), and is printed as it is produced: the longest
allowed preview of a region's centers stays under `PEAK_MB` of memory, in a process of
its own, measured by the kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import Result

from base import db
from tests.conftest import SHIPPED, grant, make_rows
from workflow.engine import centers
from workflow.imports.centers_file import CenterRow
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reminders import PREVIEW_MAX_YEARS, preview_limit
from workflow.storage import schema

Cli = Callable[..., Result]
#: The peak a preview process may reach (a bare ``tochka`` command takes about 70 MB).
PEAK_MB = 150
TOCHKA = str(Path(sys.executable).with_name("tochka"))
NOW = date(2021, 3, 1)  # inside the program: the whole of it is previewed
#: Centers per cohort: 90 in all, more than Ivanovo creates in the program (24 in 2023).
PER_COHORT = 500  # enough deadlines that the preview runs past 60,000 lines


def test_a_preview_decades_ahead_is_refused_in_russian(cli: Cli, stored: StoredRoadmap) -> None:
    result = cli("--now", "2021-03-01", "reminders", "preview", "--until", "2099-12-31")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert (
        "Ошибка: Предпросмотр по 31.12.2099: он заглядывает не дальше чем на 5 лет вперёд, "
        "по 01.03.2026." in text
    )
    assert "Напоминания" not in result.output  # refused before anything was printed
    assert PREVIEW_MAX_YEARS == 5  # the command's help says 5 years
    last = cli("--json", "--now", "2021-03-01", "reminders", "preview", "--until", "01.03.2026")
    assert last.exit_code == 0, last.output
    assert json.loads(last.output)
    assert preview_limit(date(2024, 2, 29)) == date(2029, 2, 28)


def test_help_states_the_bound(cli: Cli) -> None:
    text = " ".join(cli("reminders", "preview", "--help").output.split())
    assert f"не дальше {PREVIEW_MAX_YEARS} лет после --now" in text


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


@pytest.mark.parametrize("form", [[], ["--json"]], ids=["table", "json"])
def test_the_longest_preview_is_streamed_within_its_memory_bound(
    region: str, form: list[str]
) -> None:
    until = preview_limit(NOW)
    _, peak, lines = _peak(
        ["--db", region, *form, "--now", NOW.isoformat(), "reminders", "preview"]
        + ["--until", until.isoformat()]
    )
    assert lines > 60_000  # the preview is long: this measures something
    assert peak < PEAK_MB, f"{peak} MB for {lines} lines"
