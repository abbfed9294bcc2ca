"""The program's close and honest defaults, as `make run` shows them on 02.12.2026.

`make run` is ``tochka init``, ``tochka status`` and ``tochka daemon run`` on the shipped
roadmap (2021–2023, closed 30.03.2024). Run as real processes on a fresh ``var/`` with the
test session's placeholder exemption removed: init and the daemon warn about the
``example.org`` addresses, status says the program is closed, and the daemon, ticking as
of 02.12.2026 (the one simulated day), creates and queues nothing.
The program walk through the close is in tests/test_walk.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import OUTBOX, REMINDER
from tests.conftest import SHIPPED, T0, TEST_COORDINATORS, grant, make_rows
from tests.test_tick import Recorder, run
from workflow.engine import centers
from workflow.roadmap import closing, placeholders
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.definition import ClosingPolicy, ReminderPolicy
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.roadmap.workdays import is_working_day
from workflow.storage.tables import CYCLE

TOCHKA = str(Path(sys.executable).parent / "tochka")
TODAY = "2026-12-02T09:00+03:00"
CLOSED = "Программа завершена 31.12.2023; дорожная карта закрыта 30.03.2024"


def _tochka(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env |= {"TOCHKA_VAR_DIR": str(var), "COLUMNS": "200"}
    return subprocess.run(
        [TOCHKA, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + done.stderr).split())


def test_make_run_today_shows_a_closed_program_not_a_flood(tmp_path: Path) -> None:
    var = tmp_path / "var"
    init = _tochka(var, "init")
    assert init.returncode == 0, init.stderr
    assert "адреса-заглушки" in init.stderr
    assert "coordinator@example.org" in init.stderr
    assert "Демон не отправляет писем, пока они не заменены" in init.stderr

    status = _tochka(var, "--now", TODAY, "status")
    assert status.returncode == 0, status.stderr
    assert CLOSED in _said(status)
    # Measure 3 (by a separate schedule) has no date: nothing would ever remind of it.
    assert "мероприятие № 3 выполняется по отдельному графику, но ни одного срока не задано" in (
        _said(status)
    )

    daemon = _tochka(
        var, "daemon", "run", "--simulate-from", TODAY[:10], "--simulate-to", TODAY[:10]
    )
    assert daemon.returncode == 0, daemon.stderr
    assert "адреса-заглушки" in daemon.stderr
    assert "event=tick_closed roadmap=ivanovo-2021-2023" in daemon.stderr
    engine = sa.create_engine(f"sqlite:///{var / 'tochka.db'}")
    try:
        with engine.connect() as conn:
            for table in (CYCLE, REMINDER, OUTBOX):
                assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    finally:
        engine.dispose()

    daemon_status = _tochka(var, "--now", TODAY, "daemon", "status")
    assert daemon_status.returncode == 0, daemon_status.stderr
    assert f"«ivanovo-2021-2023»: {CLOSED}" in _said(daemon_status)
    assert "Письма в очереди: нет" in _said(daemon_status)


def test_closing_rules_on_the_shipped_roadmap() -> None:
    roadmap = load_roadmap(SHIPPED)
    assert closing.closes_on(roadmap) == date(2024, 3, 30)
    assert not closing.is_closed(roadmap, date(2024, 3, 29))
    assert closing.is_closed(roadmap, date(2024, 3, 30))
    q4, q3 = date(2024, 1, 1), date(2023, 10, 1)
    assert closing.cycle_reminded(roadmap, measure=9, due=q3, today=date(2023, 12, 29))
    assert not closing.cycle_reminded(roadmap, measure=9, due=q3, today=date(2024, 1, 9))
    assert closing.cycle_reminded(roadmap, measure=9, due=q4, today=date(2024, 1, 9))
    assert not closing.cycle_reminded(roadmap, measure=9, due=q4, today=date(2024, 3, 30))
    assert not closing.cycle_reminded(roadmap, measure=5, due=q4, today=date(2024, 1, 9))
    assert closing.stages_reminded(roadmap, date(2023, 12, 31))
    assert not closing.stages_reminded(roadmap, date(2024, 1, 1))
    assert closing.state_text(roadmap, date(2023, 12, 31)) is None
    # The default, when the file has no closing: block: 90 days, every measure.
    default = replace(roadmap, closing=ClosingPolicy())
    assert closing.closes_on(default) == date(2024, 3, 30)
    assert closing.cycle_reminded(default, measure=5, due=q4, today=date(2024, 1, 9))


@pytest.mark.parametrize(
    ("email", "placeholder"),
    [
        ("coordinator@example.org", True),
        ("roo@shuya.example.org", True),
        ("a@EXAMPLE.COM", True),
        ("x@school.test", True),
        ("x@mail.invalid", True),
        ("x@edu.example", True),
        ("coordinator@ivedu.ru", False),
        ("x@example.org.ru", False),
        ("x@notexample.com", False),
    ],
)
def test_placeholder_addresses(email: str, placeholder: bool) -> None:
    assert placeholders.is_placeholder(email) is placeholder


def test_closing_block_errors_name_the_line(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    bad = text.replace("  grace_days: 90\n", "  grace_days: 400\n").replace(
        "  measures: [9]\n", "  measures: [9, 42]\n"
    )
    assert bad != text
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    done = _tochka(tmp_path / "var", "roadmap", "validate", str(path))
    assert done.returncode != 0
    said = _said(done)
    line = bad.splitlines().index("  grace_days: 400") + 1
    assert (
        f"строка {line}, столбец 15, поле «closing.grace_days»: срок закрытия должен быть "
        "от 0 до 366 дней, указано 400"
    ) in said
    assert (
        f"строка {line + 1}, столбец 17, поле «closing.measures[1]»: мероприятия № 42 нет в "
        "measures"
    ) in said


def test_after_the_program_only_its_closing_report_is_reminded(engine: Engine) -> None:
    """With a ladder that would never stop (52 weekly overdue rungs), the open cycles and
    the stuck centers are reminded up to 31.12.2023; after it only the 2023-Q4
    monitoring; from 30.03.2024 nothing, and a tick changes nothing."""
    definition = replace(load_roadmap(SHIPPED), reminders=ReminderPolicy(overdue_rungs=52))
    roadmap_id, _ = roadmap_store.store(engine, definition, now=T0)
    stored = StoredRoadmap(id=roadmap_id, definition=definition)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    centers.import_centers(
        engine, stored, make_rows(2, cohort=2023), filename="t.csv", actor="op", now=T0
    )
    queue = Recorder()
    day = date(2023, 12, 20)
    while day <= date(2024, 4, 5):
        if is_working_day(day):
            report = run(engine, stored, day.isoformat(), queue)
        day += timedelta(days=1)
    assert not report.changed  # 05.04.2024: closed
    with engine.connect() as conn:
        (q4,) = conn.execute(
            sa.select(CYCLE.c.id).where(CYCLE.c.measure == 9, CYCLE.c.period == "2023-Q4")
        ).scalars()
    before = {r.key.split(":")[1] for r in queue.items if r.send_on <= date(2023, 12, 31)}
    assert before == {"cycle", "center"}  # the ladder had plenty to say up to the end
    after = {":".join(r.key.split(":")[1:3]) for r in queue.items if r.send_on > date(2023, 12, 31)}
    assert after == {f"cycle:{q4}"}
    last = max(r.send_on for r in queue.items)
    assert date(2024, 3, 25) <= last < date(2024, 3, 30)  # weekly until the close


def test_the_daemon_holds_letters_to_placeholder_addresses(tmp_path: Path) -> None:
    """Letters queued for example.org stay in the outbox while the daemon runs: it warns
    and sends nothing (the test session's exemption removed)."""
    var = tmp_path / "var"
    assert _tochka(var, "init").returncode == 0
    queued = _tochka(var, "--now", "2023-03-01T09:00+03:00", "tick")
    assert queued.returncode == 0, queued.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env |= {"TOCHKA_VAR_DIR": str(var), "TOCHKA_DAILY_AT": "03:00"}
    err_path = tmp_path / "daemon.err"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [TOCHKA, "daemon", "run", "--heartbeat", "0.5"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "event=delivery claimed=0 sent=0" not in err_path.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, err_path.read_text(encoding="utf-8")
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    said = err_path.read_text(encoding="utf-8")
    assert "адреса-заглушки" in said
    assert "event=delivery_held reason=placeholder_addresses" in said
    assert "Traceback" not in said
    assert not list((var / "mail").glob("*.eml"))
    engine = sa.create_engine(f"sqlite:///{var / 'tochka.db'}")
    try:
        with engine.connect() as conn:
            states = set(conn.execute(sa.select(OUTBOX.c.status)).scalars())
    finally:
        engine.dispose()
    assert states == {"pending"}


def test_the_preview_follows_the_close(cli: Callable[..., Result], stored: StoredRoadmap) -> None:
    """`reminders preview` lists what the ticks would send: after 31.12.2023 only the
    2023-Q4 monitoring, until the close; on 02.12.2026 nothing."""
    now = "2024-01-09"
    result = cli("--json", "--now", now, "reminders", "preview", "--until", "2026-12-31")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert items
    assert {i["deadline_id"] for i in items} == {"cycle:new:2023-Q4"}
    assert max(i["send_on"] for i in items) < "2024-03-30"
    today = cli("--json", "--now", TODAY, "reminders", "preview", "--until", "2027-06-30")
    assert today.exit_code == 0, today.output
    assert json.loads(today.output) == []
