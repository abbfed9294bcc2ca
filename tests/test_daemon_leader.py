"""Two PostgreSQL daemons at once: only the one holding the advisory lock reconciles, and
the other takes over only after the leader is gone (issue 11, item 10).

Ticks are counted by daemon id from the heartbeat rows: ``last_tick_as_of`` is written
after each tick of the daemon that ran it and is empty in a start-up or standby
heartbeat, so a daemon that only started (or only waits) never counts as ticking.

A daemon writes its row once at start-up, before it tries the lock; every later write
(its row's ``last_seen_at`` changes) comes after a try and carries the role that try
gave it. So "it tried the lock while the other held it, and was refused" is a fact the
tests wait for, not a matter of timing: ``tools/mutation.py`` replaces
``pg_try_advisory_lock`` by ``true`` in a copy of the code (every daemon then leads)
and each test goes red at that write, however slowly the processes start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.conftest import T0, grant, make_rows
from workflow.engine import centers
from workflow.engine.identity import os_login
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import DaemonHeartbeat

pytestmark = pytest.mark.postgres

HEARTBEAT = DaemonHeartbeat.__table__  # type: ignore[attr-defined]
TOCHKA = str(Path(sys.executable).parent / "tochka")
MSK = ZoneInfo("Europe/Moscow")
# A long simulated span at 50 ms a day: the leader is still ticking when the test stops it.
ARGS = (
    "--simulate-from",
    "2021-02-01",
    "--simulate-to",
    "2023-12-31",
    "--simulate-step",
    "0.05",
    "--standby-retry",
    "0.2",
    "--heartbeat",
    "0.2",
)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """Start ``tochka --db URL daemon run ARGS`` processes; kill leftovers at the end."""
    procs: list[subprocess.Popen[str]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["TOCHKA_VAR_DIR"] = str(tmp_path / "var")

    def start(url: str) -> subprocess.Popen[str]:
        err = (tmp_path / f"daemon{len(procs)}.err").open("w")
        proc = subprocess.Popen(
            [TOCHKA, "--db", url, "daemon", "run", *ARGS],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
        err.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _setup(engine: Engine, stored: StoredRoadmap) -> None:
    grant(engine, stored.id, [os_login()], "coordinator")
    centers.import_centers(engine, stored, make_rows(3), filename="t.csv", actor="op", now=T0)


class Ticks:
    """The heartbeat rows sampled over time: each daemon's tick dates, role and pid."""

    def __init__(self, engine: Engine, procs: Sequence[subprocess.Popen[str]], logs: Path) -> None:
        self.engine = engine
        self.procs = procs
        self.logs = logs
        self.days: dict[str, set[date]] = {}
        self.roles: dict[str, str] = {}
        self.pids: dict[str, int] = {}
        self.writes: dict[str, set[datetime]] = {}

    def sample(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    HEARTBEAT.c.daemon_id,
                    HEARTBEAT.c.pid,
                    HEARTBEAT.c.role,
                    HEARTBEAT.c.last_tick_as_of,
                    HEARTBEAT.c.last_seen_at,
                )
            ).all()
        for row in rows:
            self.roles[row.daemon_id] = row.role
            self.pids[row.daemon_id] = row.pid
            self.writes.setdefault(row.daemon_id, set()).add(row.last_seen_at)
            ticked = self.days.setdefault(row.daemon_id, set())
            if isinstance(row.last_tick_as_of, datetime):
                ticked.add(row.last_tick_as_of.astimezone(MSK).date())

    def tried_the_lock(self, daemon_id: str) -> bool:
        """Whether a row of ``daemon_id`` written after its first lock attempt was seen
        (two different ``last_seen_at``: only the start-up write precedes the attempt)."""
        return len(self.writes.get(daemon_id, ())) >= 2

    def ticking(self) -> list[str]:
        """The daemons seen with at least one tick of their own."""
        return sorted(d for d, days in self.days.items() if days)

    def wait(self, until: Callable[[], bool], *, timeout: float = 120.0) -> None:
        """Sample every 50 ms until ``until`` holds (checked after each sample)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(proc.poll() is not None for proc in self.procs):
                errors = [p.read_text(encoding="utf-8")[-2000:] for p in self.logs.glob("*.err")]
                raise AssertionError(f"every daemon exited: {errors}")
            self.sample()
            if until():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out: ticks {self.days}, roles {self.roles}")


def test_two_postgres_daemons_at_once_only_the_leader_ever_reconciles(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[[str], subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    _setup(engine, stored)
    first, second = spawn(db_url), spawn(db_url)
    ticks = Ticks(engine, [first, second], tmp_path)
    # Both have tried the lock, and 12 simulated days ticked with both running: the other
    # was refused and never ticks.
    ticks.wait(
        lambda: (
            len(ticks.roles) == 2
            and all(ticks.tried_the_lock(d) for d in ticks.roles)
            and (any(len(d) >= 12 for d in ticks.days.values()) or len(ticks.ticking()) > 1)
        )
    )
    assert first.poll() is None, "a daemon exited early"
    assert second.poll() is None, "a daemon exited early"

    assert len(ticks.ticking()) == 1, f"more than one daemon reconciled: {ticks.days}"
    (leader,) = ticks.ticking()
    (other,) = set(ticks.roles) - {leader}
    assert ticks.roles[other] == "standby"
    assert len(ticks.days[leader]) >= 12
    assert {ticks.pids[leader], ticks.pids[other]} == {first.pid, second.pid}
    # Their logs agree (each record is flushed as written): one daemon took the lead.
    logs = [(tmp_path / f"daemon{n}.err").read_text(encoding="utf-8") for n in range(2)]
    assert sum(log.count("event=leader ") for log in logs) == 1, logs


def test_postgres_standby_reconciles_only_after_the_leader_is_killed(
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    spawn: Callable[[str], subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    _setup(engine, stored)
    first = spawn(db_url)
    ticks = Ticks(engine, [first], tmp_path)
    # The first daemon alone: it takes the lock and ticks. Only then the second starts.
    ticks.wait(lambda: len(ticks.ticking()) == 1)
    (leader,) = ticks.ticking()
    second = spawn(db_url)
    ticks.procs = [first, second]
    # The second has tried the lock while the first held it (the first never stops
    # leading before it is killed), and the leader ticks on: the second was refused.
    ticks.wait(lambda: any(ticks.tried_the_lock(d) for d in set(ticks.roles) - {leader}))
    (standby,) = set(ticks.roles) - {leader}
    assert ticks.roles[standby] == "standby", f"both daemons took the lock: {ticks.roles}"
    ticks.wait(lambda: len(ticks.days[leader]) >= 6 or bool(ticks.days[standby]))
    assert first.poll() is None, "the leader exited before it was killed"
    assert ticks.roles[leader] == "leader"
    assert ticks.roles[standby] == "standby"
    assert not ticks.days[standby], f"the standby reconciled beside the leader: {ticks.days}"

    by_pid = {first.pid: first, second.pid: second}
    killed_at = time.monotonic()
    by_pid[ticks.pids[leader]].send_signal(signal.SIGKILL)
    by_pid[ticks.pids[leader]].wait(timeout=30)
    # The standby's own ticks (never its start-up or standby heartbeat): several days.
    ticks.wait(lambda: len(ticks.days[standby]) >= 3, timeout=60)
    took_over = time.monotonic() - killed_at

    assert ticks.roles[standby] == "leader"
    assert by_pid[ticks.pids[standby]].poll() is None
    assert took_over < 30, f"takeover took {took_over:.1f} s"
