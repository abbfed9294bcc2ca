"""The daemon as real processes: leadership, takeover, refusal, graceful stop, status.

Simulated spans (seven months) use the test-only ``--simulate-from/--simulate-to/--simulate-step``
options of ``tochka daemon run``: the leader ticks once per simulated day.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX, REMINDER
from tests.conftest import SHIPPED, T0, grant, make_rows
from tests.test_tick import Recorder
from workflow.engine import centers
from workflow.engine.identity import os_login
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reconcile import tick
from workflow.schedule.weekly import summary_key
from workflow.storage import schema
from workflow.storage.tables import CYCLE, EVENT, DaemonHeartbeat

HEARTBEAT = DaemonHeartbeat.__table__  # type: ignore[attr-defined]
TOCHKA = str(Path(sys.executable).parent / "tochka")
MSK = ZoneInfo("Europe/Moscow")
# A simulated year, across the 2021 cohort's stage deadlines and four quarterly cycles.
START, END = date(2021, 2, 1), date(2022, 1, 31)


class Daemon(subprocess.Popen[str]):
    """A daemon process whose output goes to files, not pipes: a chatty daemon must
    never block on a full pipe while the test waits for another process."""

    out_path: Path
    err_path: Path

    def communicate(  # type: ignore[override]
        self, input: str | None = None, timeout: float | None = None
    ) -> tuple[str, str]:
        self.wait(timeout=timeout)
        return (
            self.out_path.read_text(encoding="utf-8"),
            self.err_path.read_text(encoding="utf-8"),
        )


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start ``tochka --db URL daemon run ...`` processes; kill leftovers at the end."""
    procs: list[Daemon] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["TOCHKA_VAR_DIR"] = str(tmp_path / "var")
    env["TOCHKA_ALLOW_PLACEHOLDER_ADDRESSES"] = "true"  # the letters go to var/mail
    # Every simulated Monday (or the first working day after it) the coordinator's summary.
    env["TOCHKA_WEEKLY_SUMMARY"] = "пн"

    def start(url: str, *args: str) -> Daemon:
        n = len(procs)
        out_path, err_path = tmp_path / f"daemon{n}.out", tmp_path / f"daemon{n}.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = Daemon(
                [TOCHKA, "--db", url, "daemon", "run", *args],
                env=env,
                stdout=out,
                stderr=err,
                text=True,
            )
        proc.out_path, proc.err_path = out_path, err_path
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _grant_me(engine: Engine, stored: StoredRoadmap) -> None:
    """The daemon processes run as this OS account: it coordinates the roadmap."""
    grant(engine, stored.id, [os_login()], "coordinator")


def _setup(engine: Engine, stored: StoredRoadmap) -> None:
    _grant_me(engine, stored)
    centers.import_centers(
        engine, stored, make_rows(3, cohort=2021), filename="t.csv", actor="op", now=T0
    )


def _running_program(engine: Engine, tmp_path: Path) -> None:
    """A second roadmap whose program still runs on the real date (the shipped one closed
    on 30.03.2024): the real-time daemon tests need cycles overdue and letters to send."""
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("code: ivanovo-2021-2023", "code: ivanovo-running").replace(
        'period: {start: "2021-01-01", end: "2023-12-31"}',
        'period: {start: "2021-01-01", end: "2099-12-31"}',
    )
    path = tmp_path / "running.yaml"
    path.write_text(text, encoding="utf-8")
    definition = load_roadmap(path)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=T0)
    grant(engine, roadmap_id, [os_login()], "coordinator")
    grant(engine, roadmap_id, ["op"], "coordinator")
    running = StoredRoadmap(id=roadmap_id, definition=definition)
    centers.import_centers(
        engine, running, make_rows(3, cohort=2021), filename="t.csv", actor="op", now=T0
    )


def _normalised(engine: Engine, keys: list[str]) -> list[str]:
    """Reminder keys with ``cycle:{id}`` replaced by ``cycle:{measure}/{period}``."""
    with engine.connect() as conn:
        names = {
            r.id: f"{r.measure}/{r.period}"
            for r in conn.execute(sa.select(CYCLE.c.id, CYCLE.c.measure, CYCLE.c.period))
        }
    out = []
    for key in keys:
        parts = key.split(":")
        if parts[1] == "cycle":
            parts[2] = names[int(parts[2])]
        out.append(":".join(parts))
    return sorted(out)


def _reference(tmp_path: Path) -> tuple[list[tuple[int, str, date]], list[str]]:
    """Cycles and reminder keys of a simulated year, ticked in-process on a fresh SQLite."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'ref.db'}")
    schema.upgrade(engine)
    definition = load_roadmap(SHIPPED)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=T0)
    grant(engine, roadmap_id, ["op"], "coordinator")
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, definition.code)
    _setup(engine, stored)
    queue = Recorder()
    day = START
    while day <= END:
        moment = datetime.combine(day, datetime.min.time(), MSK).replace(hour=9)
        tick(engine, stored, now=moment, queue=queue)
        day += timedelta(days=1)
    result = _cycles(engine), _normalised(engine, queue.keys())
    engine.dispose()
    return result


def _cycles(engine: Engine) -> list[tuple[int, str, date]]:
    with engine.connect() as conn:
        return sorted(
            (r.measure, r.period, r.due_date)
            for r in conn.execute(sa.select(CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date))
        )


def _outbox_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(REMINDER.c.key)).scalars())


def _heartbeats(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(HEARTBEAT))]


def _wait(what: Callable[[], bool], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _ticked_past(engine: Engine, day: date) -> Callable[[], bool]:
    def check() -> bool:
        for hb in _heartbeats(engine):
            as_of = hb["last_tick_as_of"]
            if isinstance(as_of, datetime) and as_of.astimezone(MSK).date() >= day:
                return True
        return False

    return check


def _kill_the_leader(leader: Daemon, standby: Daemon, engine: Engine, tmp_path: Path) -> None:
    """SIGKILL the leader (in the middle of the year, maybe of a tick): the standby takes
    over and finishes the year, each cycle and reminder once."""
    leader.send_signal(signal.SIGKILL)
    leader.wait(timeout=30)
    _, err = standby.communicate(timeout=600)
    assert standby.returncode == 0, err
    assert "event=leader" in err
    _assert_each_cycle_and_reminder_once(engine, tmp_path)


SIMULATE = ("--simulate-from", START.isoformat(), "--simulate-to", END.isoformat())


def _assert_each_cycle_and_reminder_once(engine: Engine, tmp_path: Path) -> None:
    """The daemons' result equals an in-process reference run: no cycle or reminder
    missing, none twice."""
    cycles, keys = _reference(tmp_path)
    assert _cycles(engine) == cycles
    got = _outbox_keys(engine)
    assert len(got) == len(set(got))
    assert _normalised(engine, got) == keys
    # One weekly summary per Monday of the simulated year (it ticks every day), each once.
    with engine.connect() as conn:
        summaries = list(
            conn.execute(sa.select(OUTBOX.c.key).where(OUTBOX.c.kind == "summary")).scalars()
        )
    days = [START + timedelta(days=n) for n in range((END - START).days + 1)]
    mondays = {d for d in days if d.isoweekday() == 1}
    assert sorted(summaries) == sorted(summary_key("ivanovo-2021-2023", d) for d in mondays)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_second_daemon_refused_a_standby_takes_over_when_the_leader_dies(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    _setup(engine, stored)
    first = spawn(db_url, *SIMULATE, "--simulate-step", "0.01", "--heartbeat", "0.2")
    _wait(_ticked_past(engine, START))
    second = spawn(db_url, *SIMULATE)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert "другой демон уже работает с базой" in err
    assert "tochka.db.daemon.lock" in err
    assert "--standby" in err
    # With --standby the second daemon waits for the lock instead.
    standby = spawn(db_url, *SIMULATE, "--standby", "--standby-retry", "0.2", "--heartbeat", "0.2")
    _wait(lambda: sorted(hb["role"] for hb in _heartbeats(engine)) == ["leader", "standby"])
    _wait(_ticked_past(engine, date(2021, 3, 15)))
    _kill_the_leader(first, standby, engine, tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_standby_takes_over_when_the_leader_is_killed(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    _setup(engine, stored)
    args = (*SIMULATE, "--simulate-step", "0.01", "--standby-retry", "0.2", "--heartbeat", "0.2")
    a = spawn(db_url, *args)
    b = spawn(db_url, *args)
    _wait(lambda: {hb["role"] for hb in _heartbeats(engine)} == {"leader", "standby"})
    leader_pid = next(hb["pid"] for hb in _heartbeats(engine) if hb["role"] == "leader")
    leader, standby = (a, b) if a.pid == leader_pid else (b, a)
    _wait(_ticked_past(engine, date(2021, 3, 15)))
    _kill_the_leader(leader, standby, engine, tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_two_daemons_one_year_each_thing_once(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    """Both run the whole year (the second replays it after the first): nothing doubles."""
    _setup(engine, stored)
    args = (*SIMULATE, "--standby-retry", "0.2", "--heartbeat", "0.2")
    a, b = spawn(db_url, *args), spawn(db_url, *args)
    for proc in (a, b):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    _assert_each_cycle_and_reminder_once(engine, tmp_path)


def test_sigterm_finishes_the_step_and_exits_0_status_shows_heartbeat(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    cli: Callable[..., Result],
    tmp_path: Path,
) -> None:
    _setup(engine, stored)
    _running_program(engine, tmp_path)
    proc = spawn(db_url, "--heartbeat", "0.2", "--standby-retry", "0.2")
    _wait(lambda: any(hb["last_tick_at"] for hb in _heartbeats(engine)))
    running = json.loads(cli("--json", "daemon", "status").output)
    (me,) = running["daemons"]
    assert (me["role"], me["alive"], me["pid"]) == ("leader", True, proc.pid)
    assert json.loads(me["last_tick_result"])[0]["roadmap"] == "ivanovo-2021-2023"
    assert running["overdue_cycles"] > 0
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "event=signal signal=SIGTERM" in err
    assert "event=daemon_stop" in err
    text = cli("daemon", "status")
    assert text.exit_code == 0
    assert "Демон не работает." in text.output
    assert "остановлен" in text.output
    assert "последняя сверка" in text.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_letters_a_tick_queues_go_out_at_once_not_a_minute_later(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    _setup(engine, stored)
    _running_program(engine, tmp_path)
    mail = tmp_path / "var" / "mail"
    started = time.monotonic()
    proc = spawn(db_url, "--heartbeat", "0.2")

    def all_sent() -> bool:
        with engine.connect() as conn:
            statuses = list(conn.execute(sa.select(OUTBOX.c.status)).scalars())
        return bool(statuses) and set(statuses) == {"sent"}

    # The delivery interval is 60 s; the start-up tick's letters must not wait for it.
    _wait(all_sent, timeout=40)
    assert time.monotonic() - started < 40
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar()
    assert len(list(mail.glob("*.eml"))) == rows
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_database_down_at_a_tick_is_logged_and_the_daemon_stays_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import scheduler

    missing = db.make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}")
    daemon = scheduler.Daemon(engine=missing, queue=Recorder())
    with caplog.at_level("ERROR", logger="tochka.daemon"):
        assert daemon.tick_all(datetime(2021, 3, 1, 6, tzinfo=UTC)) == []
    assert "event=tick_failed" in caplog.text
    missing.dispose()


def _refused_start(db_url: str, engine: Engine, **settings: str) -> Any:
    """``tochka daemon run`` that must refuse to start: exit 1, no heartbeat written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    started = subprocess.run(
        [TOCHKA, "--db", db_url, "daemon", "run"],
        env={**env, **settings},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(HEARTBEAT)).scalar_one() == 0
    return started


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_broken_template_is_refused_when_the_daemon_starts(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "reminder_overdue.txt.j2").write_text(
        "Просрочено: {{ deadline_that_does_not_exist }}", encoding="utf-8"
    )
    _grant_me(engine, stored)
    started = _refused_start(db_url, engine, TOCHKA_TEMPLATES_DIR=str(overrides))
    assert "reminder_overdue.txt.j2" in started.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_only_a_coordinator_starts_the_daemon(
    db_url: str, engine: Engine, stored: StoredRoadmap
) -> None:
    """The daemon changes data in every roadmap: an account that is not their coordinator
    is refused before anything starts, and the refusal is in the audit trail."""
    started = _refused_start(db_url, engine)
    text = " ".join(started.stderr.split())
    assert f"Отказано: {os_login()}" in text
    assert "не зарегистрирован" in text
    with engine.connect() as conn:
        refusals = conn.execute(
            sa.select(EVENT.c.actor, EVENT.c.trigger, EVENT.c.entity_key).where(
                EVENT.c.entity_kind == "refusal"
            )
        ).all()
    assert [tuple(r) for r in refusals] == [(os_login(), "reconcile", "tochka daemon run")]
