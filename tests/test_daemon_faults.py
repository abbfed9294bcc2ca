"""The daemon under faults, as real processes: a tick that fails under a held SQLite write
lock is retried and completes soon after the lock's release; a PostgreSQL connection
frozen behind a loopback proxy is logged as a stall and the daemon recovers; a killed
leader is shown dead within a couple of heartbeats; the start-up tick and the first
delivery never run at once; the PostgreSQL timeouts reach the server.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.test_daemon import TOCHKA, Daemon, _heartbeats, _running_program, _setup
from tests.test_tick import Recorder
from workflow.roadmap.store import StoredRoadmap

MSK = ZoneInfo("Europe/Moscow")

# Holds SQLite's write lock (BEGIN IMMEDIATE) until a line comes on stdin (at most
# argv[2] seconds), says when it has it.
HOLD_WRITE_LOCK = """
import select, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))
conn.execute("COMMIT")
"""


def _far_daily_at() -> str:
    """A daily run time hours away: only the start-up tick and its retries run."""
    return (datetime.now(MSK) + timedelta(hours=6)).strftime("%H:%M")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start ``tochka --db URL daemon run ...`` with extra settings; kill leftovers."""
    procs: list[Daemon] = []
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    base_env["TOCHKA_VAR_DIR"] = str(tmp_path / "var")
    base_env["TOCHKA_DAILY_AT"] = _far_daily_at()

    def start(url: str, *args: str, **settings: str) -> Daemon:
        n = len(procs)
        out_path, err_path = tmp_path / f"daemon{n}.out", tmp_path / f"daemon{n}.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = Daemon(
                [TOCHKA, "--db", url, "daemon", "run", *args],
                env={**base_env, **settings},
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


def _wait(what: Callable[[], bool], timeout: float, log: Daemon | None = None) -> None:
    """Poll ``what`` until true; on a timeout, show the daemon's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.1)
    raise AssertionError("timed out" + (f"; daemon log:\n{_log(log)[-3000:]}" if log else ""))


def _log(proc: Daemon) -> str:
    return proc.err_path.read_text(encoding="utf-8")


def _last_seen(engine: Engine) -> datetime:
    seen = _heartbeats(engine)[0]["last_seen_at"]
    assert isinstance(seen, datetime)
    return seen


def _status(cli: Callable[..., Result]) -> dict[str, Any]:
    result = cli("--json", "daemon", "status")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def _assert_russian_lines(lines: list[str]) -> None:
    """Each failure line is one line of Russian: no traceback, no repr, no driver text."""
    assert lines
    for line in lines:
        assert "message=«" in line, line
        for foreign in ("Traceback", "OperationalError", "sqlite3.", "psycopg", "Error("):
            assert foreign not in line, line


# --- a tick that fails under a held lock is retried -----------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_tick_failed_under_a_held_write_lock_is_retried_after_the_release(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    cli: Callable[..., Result],
    tmp_path: Path,
) -> None:
    _setup(engine, stored)
    _running_program(engine, tmp_path)  # the shipped program is closed: its tick writes nothing
    path = db.sqlite_path(db_url)
    assert path is not None
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(path), "120"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    # The lock is held far longer than the busy timeout: the start-up tick fails (and the
    # first heartbeat insert with it), then its retries, every 0.5-1 s.
    proc = spawn(
        db_url,
        "--heartbeat",
        "0.3",
        TOCHKA_DB_BUSY_TIMEOUT="0.5",
        TOCHKA_TICK_RETRY_SECONDS="0.5",
        TOCHKA_TICK_RETRY_MAX_SECONDS="1",
    )
    _wait(lambda: _log(proc).count("event=tick_failed") >= 3, timeout=60, log=proc)
    # No heartbeat row could be written yet, but status knows the daemon runs (its lock).
    locked = _status(cli)
    assert (locked["daemons"], locked["daemon_lock_held"]) == ([], True)
    text = " ".join(cli("daemon", "status").output.split())
    assert "Демон запущен (держит блокировку демона), но не может записать отметку" in text
    assert "ни разу не запускался" not in text
    holder.stdin.write("release\n")
    holder.stdin.flush()
    holder.wait(timeout=30)
    holder.stdin.close()
    holder.stdout.close()
    released = time.monotonic()

    def ticked() -> bool:
        return any(str(hb["last_tick_result"] or "").startswith("[") for hb in _heartbeats(engine))

    _wait(ticked, timeout=60, log=proc)
    took = time.monotonic() - released
    # The retry comes within its backoff (≤ 1 s) of the release, plus a tick's time.
    assert took < 15, took
    failed = [line for line in _log(proc).splitlines() if "event=tick_failed" in line]
    _assert_russian_lines(failed)
    assert "Сверка не выполнена: база данных занята другой программой" in failed[0]
    assert "Повтор через 0.5 с" in failed[0]
    # The daemon's row exists though its first insert failed, and says what happened.
    report = _status(cli)
    (me,) = report["daemons"]
    assert (me["pid"], me["role"], me["alive"]) == (proc.pid, "leader", True)
    assert me["tick_failures"] == 0
    assert me["last_failure_reason"].startswith("база данных занята")
    assert json.loads(me["last_tick_result"])[0]["roadmap"] == stored.definition.code
    text = " ".join(cli("daemon", "status").output.split())
    assert "ни разу не запускался" not in text
    assert "последняя неудачная сверка" in text
    assert "ведущий: 1, резервных: 0" in text
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


# --- a frozen database ----------------------------------------------------------------


class FreezableProxy:
    """A TCP proxy on loopback in front of a server; `freeze` stops forwarding in both
    directions without closing anything (a hung network path), `thaw` resumes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed.set()
        self.flowing.set()
        for sock in [self.listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=5)
            server.settimeout(None)
            self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self.closed.is_set():
                if not self.flowing.wait(0.2):
                    continue
                ready, _, _ = select.select([src], [], [], 0.2)
                if not ready or not self.flowing.is_set():
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):  # ValueError: select on a socket `close` closed
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def proxy() -> Iterator[FreezableProxy]:
    p = FreezableProxy(("127.0.0.1", 5432))
    yield p
    p.close()


@pytest.mark.postgres
def test_a_frozen_database_is_logged_as_a_stall_and_the_daemon_recovers(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    cli: Callable[..., Result],
    proxy: FreezableProxy,
) -> None:
    _setup(engine, stored)
    url = sa.engine.make_url(db_url)
    assert (url.host, url.port) == ("127.0.0.1", 5432)
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    stall = 2.0
    proc = spawn(
        through_proxy,
        "--heartbeat",
        "0.5",
        TOCHKA_DAEMON_STALL_SECONDS=str(stall),
        TOCHKA_TICK_RETRY_SECONDS="0.5",
        TOCHKA_TICK_RETRY_MAX_SECONDS="1",
    )
    _wait(lambda: any(hb["last_tick_at"] for hb in _heartbeats(engine)), timeout=60)
    assert _status(cli)["daemons"][0]["alive"] is True
    proxy.freeze()
    frozen = time.monotonic()
    _wait(lambda: "event=db_stalled" in _log(proc), timeout=30)
    logged_after = time.monotonic() - frozen
    # Within the configured limit, plus the heartbeat interval and the watcher's step.
    assert logged_after < stall + 0.5 + 0.5 + 1.5, logged_after
    stalled = [line for line in _log(proc).splitlines() if "event=db_stalled" in line]
    _assert_russian_lines(stalled)
    assert "База данных не отвечает" in stalled[0]
    # Meanwhile `daemon status`, reading the database directly, sees a stale heartbeat.
    _wait(lambda: _status(cli)["daemons"][0]["alive"] is False, timeout=10)
    frozen_text = " ".join(cli("daemon", "status").output.split())
    assert "Демон не отвечает: последний отклик" in frozen_text
    assert f"PID {proc.pid}): не отвечает" in frozen_text
    proxy.thaw()
    _wait(lambda: "event=db_recovered" in _log(proc), timeout=60)
    recovered = [line for line in _log(proc).splitlines() if "event=db_recovered" in line]
    _assert_russian_lines(recovered)
    assert "База данных снова отвечает" in recovered[0]
    thawed_seen = datetime.now(UTC)
    _wait(
        lambda: _last_seen(engine) > thawed_seen and _status(cli)["daemons"][0]["alive"] is True,
        timeout=60,
    )
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


@pytest.mark.postgres
def test_the_postgres_timeouts_reach_the_server(db_url: str, engine: Engine) -> None:
    limits = db.Timeouts(statement=1.5, idle_in_transaction=4, connect=3, keepalive=9)
    timed = db.make_engine(db_url, timeouts=limits)
    try:
        with timed.connect() as conn:
            shown = {
                name: conn.exec_driver_sql(f"SHOW {name}").scalar()
                for name in ("statement_timeout", "idle_in_transaction_session_timeout")
            }
            # The URL's own options (the test schema's search_path) are kept.
            assert (
                conn.exec_driver_sql("SHOW search_path").scalar()
                == str(sa.engine.make_url(db_url).query["options"]).split("=", 1)[1]
            )
        assert shown == {
            "statement_timeout": "1500ms",
            "idle_in_transaction_session_timeout": "4s",
        }
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            with timed.connect() as conn:
                conn.exec_driver_sql("SELECT pg_sleep(10)")
        assert time.monotonic() - started < 5
    finally:
        timed.dispose()


# --- a truthful status ----------------------------------------------------------------


def test_a_killed_leader_is_shown_dead_within_a_couple_of_heartbeats(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[..., Daemon],
    cli: Callable[..., Result],
) -> None:
    _setup(engine, stored)
    beat = "0.5"
    leader = spawn(db_url, "--heartbeat", beat, "--standby-retry", beat)
    _wait(lambda: _status(cli)["leaders"] == 1, timeout=60)
    standby = spawn(db_url, "--standby", "--heartbeat", beat, "--standby-retry", beat)
    _wait(lambda: (_status(cli)["leaders"], _status(cli)["standbys"]) == (1, 1), timeout=60)
    text = " ".join(cli("daemon", "status").output.split())
    assert "Работают демонов: 2 (ведущий: 1, резервных: 1)" in text
    leader_pid = next(d["pid"] for d in _status(cli)["daemons"] if d["role"] == "leader")
    killed, survivor = (leader, standby) if leader.pid == leader_pid else (standby, leader)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    died = time.monotonic()

    def shown_dead() -> bool:
        return not next(d for d in _status(cli)["daemons"] if d["pid"] == killed.pid)["alive"]

    _wait(shown_dead, timeout=120)
    took = time.monotonic() - died
    # 2.5 heartbeats of 0.5 s after its last one, plus the polling (each poll is a whole
    # CLI process, slow under a loaded -n 2 run): far below the old 120 s.
    assert took < 15.0, took
    _wait(lambda: _status(cli)["leaders"] == 1, timeout=60)
    report = _status(cli)
    assert (report["leaders"], report["standbys"]) == (1, 0)
    (alive,) = [d for d in report["daemons"] if d["alive"]]
    assert (alive["pid"], alive["role"]) == (survivor.pid, "leader")
    text = " ".join(cli("daemon", "status").output.split())
    assert f"PID {killed.pid}): не отвечает" in text
    assert "Работают демонов: 1 (ведущий: 1, резервных: 0)" in text
    survivor.send_signal(signal.SIGTERM)
    _, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, err


# --- the start-up tick and the first delivery -----------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_start_up_tick_and_the_first_delivery_never_run_at_once(
    engine: Engine, stored: StoredRoadmap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both are due at start-up; run together, the delivery's "sent" record would wait
    for the tick's write lock with a letter the server has accepted."""
    import scheduler
    from workflow.schedule import reconcile

    _setup(engine, stored)
    ticking = threading.Event()
    real_tick = reconcile.tick

    def slow_tick(*args: Any, **kwargs: Any) -> Any:
        ticking.set()
        try:
            time.sleep(1.0)  # a long start-up tick (a big database)
            return real_tick(*args, **kwargs)
        finally:
            ticking.clear()

    monkeypatch.setattr(reconcile, "tick", slow_tick)  # scheduler calls reconcile.tick
    overlaps: list[bool] = []
    delivered = threading.Event()

    def deliver(now: datetime) -> str:
        overlaps.append(ticking.is_set())
        time.sleep(0.3)
        overlaps.append(ticking.is_set())
        delivered.set()
        return "ok"

    daemon = scheduler.Daemon(
        engine=engine,
        queue=Recorder(),
        deliver=deliver,
        options=scheduler.DaemonOptions(heartbeat_seconds=0.2),
    )
    runner = threading.Thread(target=daemon.run)
    runner.start()
    try:
        assert delivered.wait(30)
        _wait(lambda: any(hb["last_tick_at"] for hb in _heartbeats(engine)), timeout=30)
    finally:
        daemon.stop_event.set()
        runner.join(30)
    assert overlaps
    assert not any(overlaps), overlaps


def test_one_delivery_run_sends_batch_after_batch_until_none_is_left(engine: Engine) -> None:
    """A tick that queued thousands of letters (a federal day: 22,000) has them sent by
    the next delivery run, not one batch of 50 a minute; a batch that finds none ends
    the run, and so does a server that is unavailable (the next interval tries again)."""
    import scheduler
    from notifications.deliver import DeliveryReport

    batches = [DeliveryReport(claimed=50, sent=50), DeliveryReport(claimed=50, sent=49)]
    calls: list[datetime] = []

    def deliver(now: datetime) -> DeliveryReport:
        calls.append(now)
        return batches.pop(0) if batches else DeliveryReport()

    daemon = scheduler.Daemon(engine=engine, queue=Recorder(), deliver=deliver)
    daemon.deliver_once()
    assert len(calls) == 3  # two full batches, then one that found nothing

    down = DeliveryReport(claimed=50, released=50)
    down.transport_error = "Письмо не отправлено: нет соединения с 127.0.0.1:1"
    calls.clear()
    batches[:] = [down, DeliveryReport(claimed=50, sent=50)]
    daemon.deliver_once()
    assert len(calls) == 1


def test_a_stop_between_two_roadmaps_ends_the_tick_there(
    engine: Engine, stored: StoredRoadmap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every region on one database makes a tick of minutes (85 roadmaps: 9 minutes on
    a federal day), longer than systemd waits for a stop (TimeoutStopSec=120): SIGTERM
    during one roadmap's reconciliation ends the tick after it, not after all of them,
    and no tick is recorded as done (the next run reconciles the rest)."""
    import scheduler
    from tests.conftest import SHIPPED, T0
    from workflow.roadmap import store as roadmap_store
    from workflow.roadmap.loader import load_roadmap
    from workflow.schedule import reconcile

    second = tmp_path / "second.yaml"
    second.write_text(
        SHIPPED.read_text(encoding="utf-8").replace(
            "code: ivanovo-2021-2023", "code: second-2021-2023"
        ),
        encoding="utf-8",
    )
    roadmap_store.store(engine, load_roadmap(second), now=T0)
    daemon = scheduler.Daemon(engine=engine, queue=Recorder())
    reconciled: list[str] = []

    def one(engine: Engine, stored: StoredRoadmap, **kwargs: Any) -> reconcile.TickReport:
        reconciled.append(stored.definition.code)
        daemon.stop_event.set()  # SIGTERM while the first roadmap is reconciled
        return reconcile.TickReport(roadmap=stored.definition.code, today=T0.date())

    monkeypatch.setattr(reconcile, "tick", one)
    assert daemon._tick(datetime(2021, 9, 1, 9, 0, tzinfo=MSK)) is None
    assert reconciled == ["ivanovo-2021-2023"]
    assert "last_tick_as_of" not in daemon._state
