"""``tochka demo`` as a real process: the daemon's replay on a shortened period.

The replay runs to 20.10.2021 (the 2021 cohort opened, its first quarter reported): it
writes letters dated in simulated time, the dashboard and the reports into var/demo/,
leaves the real database (./var/tochka.db, also named by TOCHKA_DB_URL) byte for byte
as it was, runs again over its own folder, and refuses a folder that is not its own.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from workflow.cli import report_cmd

TOCHKA = str(Path(sys.executable).parent / "tochka")


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    # The real database is named both ways: the demo must use neither.
    env["TOCHKA_DB_URL"] = f"sqlite:///{cwd / 'var' / 'tochka.db'}"
    env["TOCHKA_VAR_DIR"] = str(cwd / "var")
    return subprocess.run(
        [TOCHKA, "demo", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A working folder with a real database in ./var/tochka.db."""
    (tmp_path / "var").mkdir()
    with sqlite3.connect(tmp_path / "var" / "tochka.db") as conn:
        conn.execute("CREATE TABLE kept (value TEXT)")
        conn.execute("INSERT INTO kept VALUES ('рабочие данные')")
    return tmp_path


def _has_final_report() -> bool:
    return any(c.name == "final" for c in report_cmd.app.registered_commands)


@pytest.mark.slow
def test_demo_replays_a_shortened_period_and_reruns(home: Path) -> None:
    real = home / "var" / "tochka.db"
    before = _digest(real)
    result = _run(home, "--until", "2021-10-20")
    assert result.returncode == 0, result.stdout + result.stderr
    demo = home / "var" / "demo"
    mail = sorted((demo / "mail").glob("*.eml"))
    assert len(mail) > 50
    # Letters are the daemon's, dated in simulated time, to the labelled sample.
    dates = set()
    for path in mail:
        msg = message_from_bytes(path.read_bytes(), policy=email_policy.default)
        dates.add(parsedate_to_datetime(str(msg["Date"])).date())
        assert "example.org" in str(msg["To"])
    assert min(dates).year == 2020
    assert max(dates).isoformat() <= "2021-10-20"
    assert (demo / "dashboard.html").stat().st_size > 0
    assert (demo / "dashboard.xlsx").stat().st_size > 0
    assert (demo / "reports" / "quarterly-2021-Q3.xlsx").stat().st_size > 0
    if _has_final_report():
        assert (demo / "final-report.html").stat().st_size > 0
        assert (demo / "final-report.xlsx").stat().st_size > 0
    # The sample: 24 centers, each labelled, opened by the operators' acts.
    with sqlite3.connect(demo / "tochka.db") as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM center")]
        opened = conn.execute(
            "SELECT count(*) FROM center WHERE state IN ('opened', 'reporting')"
        ).fetchone()[0]
        done = conn.execute("SELECT count(*) FROM measure_cycle WHERE state = 'done'").fetchone()
        beats = conn.execute("SELECT count(*) FROM daemon_heartbeat").fetchone()[0]
    assert len(names) == 24
    assert all("(демо)" in n for n in names)
    assert opened >= 5
    assert done[0] >= 5
    assert beats == 1  # the daemon ran the replay
    out = result.stdout
    assert "Сентябрь 2021" in out
    assert f"писем записано: {len(mail)}" in out
    assert str(demo / "dashboard.html") in out
    assert "Рабочая база не изменялась." in out
    assert _digest(real) == before
    if _has_final_report():
        assert _tour_counts(out) == _final_counts(demo / "final-report.xlsx")

    # A second run wipes only the demo's folder and replays from the start.
    (demo / "reports" / "quarterly-2021-Q3.xlsx").unlink()
    again = _run(home, "--until", "2021-02-15")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (demo / "reports" / "quarterly-2021-Q3.xlsx").exists()
    assert 0 < len(list((demo / "mail").glob("*.eml"))) < len(mail)
    assert (demo / ".tochka-demo").is_file()
    assert _digest(real) == before


def _tour_counts(out: str) -> tuple[int, ...]:
    """The tour's «циклов мероприятий завершено: N (в срок A, с опозданием B)» and
    «центров открыто: N (в срок A, с опозданием B…)»."""
    cycles = re.search(
        r"циклов мероприятий завершено: (\d+) \(в срок (\d+), с опозданием (\d+)", out
    )
    centers = re.search(r"центров открыто: (\d+) \(в срок (\d+), с опозданием (\d+)", out)
    assert cycles is not None, out
    assert centers is not None, out
    return tuple(int(n) for n in (*cycles.groups(), *centers.groups()))


def _final_counts(book_path: Path) -> tuple[int, ...]:
    """The same counts read from the final report's workbook: done cycles, on time, late;
    centers that reached «открыт», on time, late."""
    from openpyxl import load_workbook

    book = load_workbook(book_path)
    cycles = [r[5] for r in book["Мероприятия"].iter_rows(min_row=6, values_only=True) if r[4]]
    opened = [
        r[7]
        for r in book["Этапы центров"].iter_rows(min_row=6, values_only=True)
        if r[4] == "открыт" and r[6]
    ]
    counts = []
    for verdicts in (cycles, opened):
        counts += [
            len(verdicts),
            sum(v == "в срок" for v in verdicts),
            sum(str(v).startswith("с опозданием") for v in verdicts),
        ]
    return tuple(counts)


def test_demo_refuses_a_folder_that_is_not_its_own(home: Path) -> None:
    demo = home / "var" / "demo"
    demo.mkdir()
    (demo / "notes.txt").write_text("чужой файл", encoding="utf-8")
    result = _run(home, "--until", "2021-01-15")
    assert result.returncode == 1
    assert "создала не демонстрация" in result.stderr
    assert str(demo) in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in demo.iterdir()) == ["notes.txt"]


def test_demo_refuses_a_day_outside_it(home: Path) -> None:
    result = _run(home, "--until", "2030-01-01")
    assert result.returncode == 1
    assert "--until: 01.01.2030 — вне демонстрации" in result.stderr
    assert not (home / "var" / "demo").exists()


@pytest.mark.parametrize("db", ["var/tochka.db", "mysql://x"])
def test_demo_refuses_a_global_db(home: Path, db: str) -> None:
    """``--db`` cannot name the demo's database: refused as a usage error, not ignored
    (an ignored --db would replay the whole program and write var/demo)."""
    real = home / "var" / "tochka.db"
    before = _digest(real)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["TOCHKA_VAR_DIR"] = str(home / "var")
    result = subprocess.run(
        [TOCHKA, "--db", db, "demo", "--until", "2021-01-15"],
        cwd=home, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "tochka demo работает со своей базой var/demo/tochka.db: --db к ней не относится."
        in result.stderr
    )
    assert "Использование:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "var" / "demo").exists()
    assert _digest(real) == before


def test_demo_reads_the_files_done_dates_in_simulated_time(tmp_path: Path) -> None:
    """The demo checks a ``done:`` date against its simulated time (its last day,
    29.03.2024), never the real clock: a completion dated after the replay is in its
    future and refused, though the real day is long past it."""
    from workflow.cli.demo_cmd import END, START, Replay, _settings
    from workflow.cli.system_cmd import SHIPPED_ROADMAP
    from workflow.config import Settings
    from workflow.errors import RoadmapFileError

    later = END + timedelta(days=66)  # 03.06.2024: after the replay, before today
    assert later < date.today()
    text = SHIPPED_ROADMAP.read_text(encoding="utf-8")
    assert text.count('"on": "2020-12-07"') == 1
    roadmap = tmp_path / "later.yaml"
    roadmap.write_text(text.replace('"on": "2020-12-07"', f'"on": "{later}"'), encoding="utf-8")
    folder = tmp_path / "demo"
    folder.mkdir()
    replay = Replay(
        folder=folder,
        settings=_settings(Settings(), folder),
        until=START + timedelta(days=1),
        roadmap=roadmap,
    )
    with pytest.raises(RoadmapFileError) as refused:
        replay.run()
    assert str(refused.value.problems[0].message) == (
        "дата выполнения 03.06.2024 в будущем (сегодня 29.03.2024): в файле отмечают "
        "только уже выполненное"
    )
