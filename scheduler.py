"""The daemon: APScheduler as a clock that calls the reconciler and the deliverer.

The database is the only source of truth (DESIGN.md, principle 1). APScheduler keeps an
in-memory job store, never shared, and only says *when* to run: the reconciler
(`workflow.schedule.reconcile.tick`) once at start-up and then each working day at
``Settings.daily_at`` in the roadmap zone; the outbox deliverer every minute. Every run
is level-triggered and idempotent, so misfires, downtime and a SIGKILL in the middle of
a tick cost nothing but a later catch-up.

Only one daemon reconciles at a time (`workflow.schedule.leader`):

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a dedicated
  connection for as long as the daemon leads. A second daemon waits as a standby,
  retrying every few seconds, and takes over when the leader dies (its session ends,
  the lock is freed). Standbys deliver mail too: outbox rows are claimed with
  ``FOR UPDATE SKIP LOCKED``.
* SQLite: a file lock next to the database file. A second daemon on the same file is
  refused (`DaemonRefused`, exit 1); the lock dies with its process.

SIGTERM/SIGINT: the current step finishes, the lock is released, exit 0. Each daemon
keeps a ``daemon_heartbeat`` row, which ``tochka daemon status`` reads
(`workflow.views.daemons`). This module imports nothing of the CLI: ``tochka daemon run``
builds a `Daemon` and runs it.

Test-only: ``simulate`` runs the leader through a span of days (one tick per simulated
day at ``daily_at``) instead of waiting for real days; see ``tochka daemon run --help``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine

from base import db
from base.clock import Clock, local_date, system_clock
from workflow.engine.anchors import daemon_anchor
from workflow.errors import InputError
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.workdays import is_working_day
from workflow.schedule import reconcile
from workflow.schedule.leader import DaemonRefused, FileLeaderLock, LeaderLock, leader_lock
from workflow.schedule.reminders import ReminderQueue
from workflow.schedule.weekly import WeeklyPlan
from workflow.storage.tables import HEARTBEAT, DaemonRole

log = logging.getLogger("tochka.daemon")


ROLE_LEADER = DaemonRole.LEADER.value
ROLE_STANDBY = DaemonRole.STANDBY.value
ROLE_STOPPED = DaemonRole.STOPPED.value

# APScheduler's default misfire grace (1 s) silently drops a run that starts late (a
# suspended VM, a long tick): any late run is still worth doing, once (coalesce).
MISFIRE_GRACE_SECONDS = 12 * 3600


@dataclass(frozen=True, kw_only=True)
class Simulation:
    """Test-only: tick each day of ``start``..``end`` at ``daily_at``, ``step`` s apart."""

    start: date
    end: date
    step_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class DaemonOptions:
    """How the daemon runs.

    Attributes:
        daily_at: local time of the daily reconciler run.
        zone: the zone of ``daily_at`` (the roadmaps' zone).
        delivery_seconds: interval of the outbox deliverer.
        standby_retry_seconds: how often a standby tries to take the lock.
        heartbeat_seconds: how often the heartbeat row is refreshed.
        max_attempts: the deliverer's attempts before a letter is dead.
        simulation: test-only simulated days, or None for real time.
        standby: on SQLite, wait for the running daemon's file lock (and take over when
            that daemon dies) instead of being refused; PostgreSQL daemons always wait.
    """

    daily_at: time = time(9, 0)
    zone: str = "Europe/Moscow"
    delivery_seconds: float = 60.0
    standby_retry_seconds: float = 5.0
    heartbeat_seconds: float = 10.0
    max_attempts: int = 8
    simulation: Simulation | None = None
    standby: bool = False


def parse_daily_at(text: str) -> time:
    """``"09:00"`` → 09:00.

    Raises:
        InputError: not ЧЧ:ММ.
    """
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise InputError(
            f"daily_at: «{text}» — не время (ожидается ЧЧ:ММ, например 09:00)."
        ) from exc


Deliver = Callable[[datetime], Any]


@dataclass
class Daemon:
    """One daemon process: leadership, the jobs, the heartbeat.

    Args:
        engine: the database.
        queue: where reminders go (`workflow.schedule.reminders.outbox_queue`).
        options: timing.
        deliver: sends due outbox letters as of a time, or None (delivery not wired).
        weekly: the weekly summary's day and renderer, or None (not sent).
        clock: the real time.
    """

    engine: Engine
    queue: ReminderQueue
    options: DaemonOptions = field(default_factory=DaemonOptions)
    deliver: Deliver | None = None
    weekly: WeeklyPlan | None = None
    clock: Clock = system_clock
    daemon_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    stop_event: threading.Event = field(default_factory=threading.Event)
    _lock: LeaderLock | None = None
    _role: str = ROLE_STANDBY
    _work: threading.Lock = field(default_factory=threading.Lock)

    # --- lifecycle ------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask for a graceful stop (main thread only)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("event=signal signal=%s", signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> int:
        """Run until stopped; return the exit code (0).

        Raises:
            DaemonRefused: SQLite and another daemon holds the file lock.
        """
        self._lock = lock = leader_lock(self.engine)
        leading = False
        if isinstance(lock, FileLeaderLock):
            leading = lock.try_acquire()
            if not leading and not self.options.standby:
                raise DaemonRefused(db_path=lock.db_path, lock_path=lock.path)
        self._heartbeat(started=True)
        log.info(
            "event=daemon_start daemon=%s host=%s pid=%d db=%s",
            self.daemon_id,
            socket.gethostname(),
            os.getpid(),
            db.describe_url(self.engine.url.render_as_string(hide_password=False)),
        )
        scheduler = self._scheduler()
        scheduler.start()
        self._running = scheduler
        try:
            if self.deliver is not None and self.options.simulation is None:
                scheduler.add_job(
                    self.deliver_once,
                    "interval",
                    seconds=self.options.delivery_seconds,
                    id="deliver",
                    next_run_time=datetime.now(ZoneInfo(self.options.zone)),
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=MISFIRE_GRACE_SECONDS,
                )
            self._lead_or_wait(scheduler, leading=leading)
        finally:
            # Waits for a running job: the current step finishes before we exit.
            scheduler.shutdown(wait=True)
            self._running = None
            self._role = ROLE_STOPPED
            self._heartbeat(stopped=True)
            lock.release()
            log.info("event=daemon_stop daemon=%s", self.daemon_id)
        return 0

    def _lead_or_wait(self, scheduler: Any, *, leading: bool) -> None:
        assert self._lock is not None
        while not self.stop_event.is_set():
            if not leading:
                try:
                    leading = self._lock.try_acquire()
                except Exception as exc:
                    log.warning("event=lock_failed error=%s", _one_line(exc))
                    leading = False
                if not leading:
                    self._role = ROLE_STANDBY
                    self._heartbeat()
                    self.stop_event.wait(self.options.standby_retry_seconds)
                    continue
            self._role = ROLE_LEADER
            log.info("event=leader daemon=%s", self.daemon_id)
            self._heartbeat()
            if self.options.simulation is not None:
                self._simulate(self.options.simulation)
                return
            self._add_tick_job(scheduler)
            while not self.stop_event.wait(self.options.heartbeat_seconds):
                if not self._lock.still_held():
                    log.warning("event=leadership_lost daemon=%s", self.daemon_id)
                    scheduler.remove_job("tick")
                    leading = False
                    break
                self._heartbeat()

    def _scheduler(self) -> Any:
        return BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(2)},
            timezone=ZoneInfo(self.options.zone),
        )

    def _add_tick_job(self, scheduler: Any) -> None:
        at = self.options.daily_at
        # Every day at daily_at; the job itself skips non-working days. The first run is
        # now: the start-up catch-up.
        scheduler.add_job(
            self.daily_tick,
            CronTrigger(hour=at.hour, minute=at.minute, timezone=ZoneInfo(self.options.zone)),
            id="tick",
            next_run_time=datetime.now(ZoneInfo(self.options.zone)),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            replace_existing=True,
        )

    def _simulate(self, sim: Simulation) -> None:
        zone = ZoneInfo(self.options.zone)
        day = sim.start
        while day <= sim.end and not self.stop_event.is_set():
            moment = datetime.combine(day, self.options.daily_at, zone)
            self.tick_all(moment)
            day += timedelta(days=1)
            if sim.step_seconds:
                self.stop_event.wait(sim.step_seconds)
        log.info("event=simulation_done daemon=%s last=%s", self.daemon_id, day - timedelta(1))

    # --- the jobs -------------------------------------------------------------------------

    def daily_tick(self) -> None:
        """The scheduled run: the reconciler on working days (the first run always)."""
        now = self.clock()
        today = local_date(now, self.options.zone)
        if self._started_ticking and not is_working_day(today):
            log.info("event=tick_skipped reason=non_working_day today=%s", today.isoformat())
            return
        self._started_ticking = True
        reports = self.tick_all(now)
        if any(r.reminders_queued or r.summaries_queued for r in reports):
            self._deliver_soon()

    _started_ticking: bool = False
    _running: Any = None  # the APScheduler instance while `run` runs

    def _deliver_soon(self) -> None:
        """Run the delivery job now instead of at its next interval: the letters a tick
        queued go out at 09:00, not a minute later."""
        scheduler = self._running
        if scheduler is None or self.deliver is None:
            return
        try:
            scheduler.modify_job("deliver", next_run_time=datetime.now(ZoneInfo(self.options.zone)))
        except JobLookupError:  # simulation: no delivery job
            pass

    def tick_all(self, now: datetime) -> list[Any]:
        """Reconcile every roadmap as of ``now``; failures are logged, never raised."""
        with self._work:
            reports: list[Any] = []
            try:
                with db.read(self.engine) as conn:
                    codes = roadmap_store.codes(conn)
                for code in codes:
                    with db.read(self.engine) as conn:
                        stored = roadmap_store.resolve(conn, code)
                    reports.append(
                        reconcile.tick(
                            self.engine,
                            stored,
                            now=now,
                            clock=self.clock,
                            queue=self.queue,
                            weekly=self.weekly,
                        )
                    )
            except Exception as exc:
                # The database may be down: the daemon stays up and the next tick
                # (level-triggered) does the work.
                log.error("event=tick_failed as_of=%s error=%s", now.isoformat(), _one_line(exc))
                self._heartbeat(tick_as_of=now, tick_result=f"ошибка: {_one_line(exc)}")
                return reports
            result = json.dumps([r.as_json() for r in reports], ensure_ascii=False)
            self._heartbeat(tick_as_of=now, tick_result=result)
            daemon_anchor(self.engine, clock=self.clock)  # heads that moved → the anchor file
            return reports

    def deliver_once(self) -> None:
        """The outbox job: send due letters; failures are logged, never raised."""
        if self.deliver is None:
            log.info("event=delivery_skipped reason=no_transport")
            return
        now = self.clock()
        try:
            report = self.deliver(now)
        except Exception as exc:
            log.error("event=delivery_failed error=%s", _one_line(exc))
            return
        log.info("event=delivery result=%s", _one_line_obj(report))
        self._heartbeat(delivered=now)

    # --- heartbeat ------------------------------------------------------------------------

    def _heartbeat(
        self,
        *,
        started: bool = False,
        stopped: bool = False,
        tick_as_of: datetime | None = None,
        tick_result: str | None = None,
        delivered: datetime | None = None,
    ) -> None:
        now = self.clock()
        values: dict[str, Any] = {"role": self._role, "last_seen_at": now}
        if tick_as_of is not None:
            values.update(
                last_tick_at=now, last_tick_as_of=tick_as_of, last_tick_result=tick_result
            )
        if delivered is not None:
            values["last_delivery_at"] = delivered
        if stopped:
            values["stopped_at"] = now
        try:
            with db.write(self.engine) as conn:
                if started:
                    conn.execute(
                        sa.insert(HEARTBEAT).values(
                            daemon_id=self.daemon_id,
                            host=socket.gethostname()[:255],
                            pid=os.getpid(),
                            started_at=now,
                            **values,
                        )
                    )
                else:
                    conn.execute(
                        sa.update(HEARTBEAT)
                        .where(HEARTBEAT.c.daemon_id == self.daemon_id)
                        .values(**values)
                    )
        except Exception as exc:
            log.warning("event=heartbeat_failed error=%s", _one_line(exc))


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def _one_line_obj(value: object) -> str:
    return str(value).replace("\n", " ")


def configure_logging(level: int = logging.INFO) -> None:
    """Structured ``key=value`` log lines on stderr."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        force=True,
    )
    # APScheduler's own INFO lines ("Added job", "Running job") drown ours.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
