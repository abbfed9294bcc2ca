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

A tick that fails (the database locked, down or frozen) is retried after
``tick_retry_seconds``, doubling up to ``tick_retry_max_seconds``, until one succeeds:
never left to the next day's run. The tick and the delivery of one daemon run one at a
time (one in-process lock): the first delivery never waits for the start-up tick's write
lock with a letter the server has accepted. A `StallWatch` thread logs any database call
of the daemon that takes longer than ``stall_seconds`` (a frozen connection), and its
end.

SIGTERM/SIGINT: the current step finishes, the lock is released, exit 0. Each daemon
keeps a ``daemon_heartbeat`` row, which ``tochka daemon status`` reads
(`workflow.views.daemons`): its whole state is written at every heartbeat (inserted if
missing, e.g. when the first insert failed under a lock), with the interval it promises.
This module imports nothing of the CLI: ``tochka daemon run`` builds a `Daemon` and runs
it.

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
import time as monotonic_time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from base.errors import TochkaError
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
    """Test-only: tick each day of ``start``..``end`` at ``daily_at``, ``step`` s apart.

    ``tochka demo`` replays a whole program with it: ``working_days_only`` ticks on the
    days the real daemon ticks (`Daemon.daily_tick`), ``before_tick`` is called with each
    simulated moment before its tick (the operators' acts of that day), and ``deliver``
    sends the letters each tick queued as of that moment (the real daemon's deliverer).
    """

    start: date
    end: date
    step_seconds: float = 0.0
    working_days_only: bool = False
    before_tick: Callable[[datetime], None] | None = None
    deliver: bool = False


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
        tick_retry_seconds: wait before retrying a failed tick; doubles with each
            failure in a row.
        tick_retry_max_seconds: the longest wait between retries.
        stall_seconds: a database call of the daemon longer than this is logged.
        mail_seconds: interval of the mailbox poll (when ``poll_mail`` is wired).
    """

    daily_at: time = time(9, 0)
    zone: str = "Europe/Moscow"
    delivery_seconds: float = 60.0
    standby_retry_seconds: float = 5.0
    heartbeat_seconds: float = 10.0
    max_attempts: int = 8
    simulation: Simulation | None = None
    standby: bool = False
    tick_retry_seconds: float = 30.0
    tick_retry_max_seconds: float = 600.0
    stall_seconds: float = 30.0
    mail_seconds: float = 300.0

    def retry_delay(self, failures: int) -> float:
        """The wait before the retry after ``failures`` failed ticks in a row (≥ 1)."""
        doubled = self.tick_retry_seconds * float(2 ** min(failures - 1, 30))
        return min(doubled, max(self.tick_retry_max_seconds, self.tick_retry_seconds))


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


class StallWatch:
    """Logs the daemon's database calls that take longer than ``limit`` seconds.

    A connection frozen without being closed (a hung server, a dead network path that
    still acknowledges) blocks its caller for as long as the kernel keeps it: the
    watcher, on a thread of its own, says so in the log within ``limit`` (plus its
    polling step), and says when the call ended. The heartbeat (one small write every
    few seconds) is the probe: its stall is ``event=db_stalled``; a whole tick or
    delivery that runs long is ``event=step_slow`` (it may just have much to do).
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._calls: dict[int, tuple[str, float, bool]] = {}
        self._guard = threading.Lock()
        self._next = 0

    @contextmanager
    def watching(self, what: str) -> Iterator[None]:
        """Watch the database call(s) of the block; ``what`` names it in the log."""
        with self._guard:
            self._next += 1
            token = self._next
            self._calls[token] = (what, monotonic_time.monotonic(), False)
        try:
            yield
        finally:
            with self._guard:
                _, began, reported = self._calls.pop(token)
            if reported:
                took = monotonic_time.monotonic() - began
                done = f"{_OPERATIONS.get(what, what)} завершена через {took:.0f} с"
                if what in _ONE_CALL:
                    event, text = "db_recovered", f"База данных снова отвечает: {done}."
                else:
                    event, text = "step_done", done[0].upper() + done[1:] + "."
                log.warning(
                    "event=%s operation=%s seconds=%.1f message=«%s»", event, what, took, text
                )

    def check(self) -> None:
        """Log each watched call past the limit (once per call)."""
        now = monotonic_time.monotonic()
        with self._guard:
            late = [
                (token, what, now - began)
                for token, (what, began, reported) in self._calls.items()
                if not reported and now - began >= self.limit
            ]
            for token, what, _ in late:
                self._calls[token] = (what, self._calls[token][1], True)
        for _, what, waited in late:
            name = _OPERATIONS.get(what, what)
            if what in _ONE_CALL:
                # One small statement: this long means the database is not answering.
                event = "db_stalled"
                text = f"База данных не отвечает {waited:.0f} с ({name}): демон ждёт ответа."
            else:
                # A step of many statements (and, for letters, the mail server's replies).
                event = "step_slow"
                text = (
                    f"{name.capitalize()} идёт уже {waited:.0f} с: база данных занята или не "
                    "отвечает, либо работы много."
                )
            log.error("event=%s operation=%s seconds=%.1f message=«%s»", event, what, waited, text)

    def run(self, stop: threading.Event) -> None:
        """Check until ``stop`` is set (the watcher thread's body)."""
        step = min(1.0, self.limit / 4)
        while not stop.wait(step):
            self.check()


_OPERATIONS = {
    "heartbeat": "отметка «жив»",
    "tick": "сверка",
    "delivery": "отправка писем",
    "leader_lock": "проверка блокировки ведущего",
}
#: The watched operations that are one small statement (the others are whole steps).
_ONE_CALL = frozenset({"heartbeat", "leader_lock"})


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
        poll_mail: reads the reply mailbox once (`workflow.inbound.poll`), or None (no
            mailbox configured).
        clock: the real time.
    """

    engine: Engine
    queue: ReminderQueue
    options: DaemonOptions = field(default_factory=DaemonOptions)
    deliver: Deliver | None = None
    weekly: WeeklyPlan | None = None
    poll_mail: Callable[[], Any] | None = None
    clock: Clock = system_clock
    daemon_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    stop_event: threading.Event = field(default_factory=threading.Event)
    _lock: LeaderLock | None = None
    _role: str = ROLE_STANDBY
    # The tick and the delivery run one at a time: a delivery never waits for a tick's
    # write lock (SQLite) with a letter the server has already accepted.
    _work: threading.Lock = field(default_factory=threading.Lock)
    # The heartbeat row's columns as they should be now; every heartbeat writes them all.
    _state: dict[str, Any] = field(default_factory=dict)
    _started_at: datetime | None = None
    _failures: int = 0
    _watch: StallWatch | None = None
    # Heartbeats come from the main thread and the jobs: one at a time, each writing the
    # state as it is when it writes (never an older copy over a newer one).
    _beat: threading.Lock = field(default_factory=threading.Lock)

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
        self._started_at = self.clock()
        watcher_stop = threading.Event()
        watcher = threading.Thread(
            target=self.watch.run, args=(watcher_stop,), name="stall-watch", daemon=True
        )
        watcher.start()
        self._heartbeat()
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
            if self.poll_mail is not None and self.options.simulation is None:
                scheduler.add_job(
                    self.poll_mail_once,
                    "interval",
                    seconds=self.options.mail_seconds,
                    id="mail",
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
            watcher_stop.set()
            log.info("event=daemon_stop daemon=%s", self.daemon_id)
        return 0

    @property
    def watch(self) -> StallWatch:
        """The watcher of this daemon's database calls."""
        if self._watch is None:
            self._watch = StallWatch(self.options.stall_seconds)
        return self._watch

    def _lead_or_wait(self, scheduler: Any, *, leading: bool) -> None:
        assert self._lock is not None
        while not self.stop_event.is_set():
            if not leading:
                try:
                    with self.watch.watching("leader_lock"):
                        leading = self._lock.try_acquire()
                except Exception as exc:
                    log.warning(
                        "event=lock_failed message=«Блокировка ведущего не взята: %s»",
                        failure_reason(exc),
                    )
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
                with self.watch.watching("leader_lock"):
                    held = self._lock.still_held()
                if not held:
                    log.warning("event=leadership_lost daemon=%s", self.daemon_id)
                    for job in ("tick", "tick-retry"):
                        try:
                            scheduler.remove_job(job)
                        except JobLookupError:
                            pass
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
            if sim.working_days_only and not is_working_day(day):
                day += timedelta(days=1)
                continue
            if sim.before_tick is not None:
                sim.before_tick(moment)
            reports = self.tick_all(moment)
            if sim.deliver and self.deliver is not None and reports:
                with self._work, self.watch.watching("delivery"):
                    self.deliver(moment)
            day += timedelta(days=1)
            if sim.step_seconds:
                self.stop_event.wait(sim.step_seconds)
        log.info("event=simulation_done daemon=%s last=%s", self.daemon_id, day - timedelta(1))

    # --- the jobs -------------------------------------------------------------------------

    def daily_tick(self, *, retry: bool = False) -> None:
        """The scheduled run: the reconciler on working days (the first run and a retry
        always). A failure schedules a retry (`DaemonOptions.retry_delay`)."""
        now = self.clock()
        today = local_date(now, self.options.zone)
        if self._started_ticking and not retry and not is_working_day(today):
            log.info("event=tick_skipped reason=non_working_day today=%s", today.isoformat())
            return
        self._started_ticking = True
        reports = self._tick(now)
        if reports is None:
            if not self.stop_event.is_set():
                self._schedule_retry()
            return
        self._cancel_retry()
        if any(r.reminders_queued or r.summaries_queued for r in reports):
            self._deliver_soon()

    def _schedule_retry(self) -> None:
        scheduler = self._running
        if scheduler is None:
            return
        run_date = datetime.now(ZoneInfo(self.options.zone)) + timedelta(
            seconds=self.options.retry_delay(self._failures)
        )
        scheduler.add_job(
            lambda: self.daily_tick(retry=True),
            "date",
            run_date=run_date,
            id="tick-retry",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            replace_existing=True,
        )
        log.debug("event=tick_retry_scheduled at=%s", run_date.isoformat())

    def _cancel_retry(self) -> None:
        scheduler = self._running
        if scheduler is None:
            return
        try:
            scheduler.remove_job("tick-retry")
        except JobLookupError:
            pass

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
        reports = self._tick(now)
        return [] if reports is None else reports

    def _tick(self, now: datetime) -> list[Any] | None:
        """`tick_all`, or None when it failed (logged, recorded for the heartbeat) or was
        stopped between two roadmaps."""
        with self._work, self.watch.watching("tick"):
            reports: list[Any] = []
            try:
                with db.read(self.engine) as conn:
                    codes = roadmap_store.codes(conn)
                for code in codes:
                    if self.stop_event.is_set():
                        # SIGTERM between two roadmaps: the rest is the next run's (or the
                        # standby's that takes over). Every region on one database makes a
                        # tick of minutes, longer than a service manager waits for a stop.
                        log.info(
                            "event=tick_stopped as_of=%s reconciled=%d of=%d",
                            now.isoformat(),
                            len(reports),
                            len(codes),
                        )
                        return None
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
                # The database may be down, locked or frozen: the daemon stays up and a
                # retry (level-triggered) does the work.
                self._failures += 1
                reason = failure_reason(exc)
                delay = self.options.retry_delay(self._failures)
                at = self.clock()
                self._state.update(
                    tick_failures=self._failures,
                    last_failure_at=at,
                    last_failure_reason=reason,
                    next_retry_at=at + timedelta(seconds=delay),
                )
                log.error(
                    "event=tick_failed as_of=%s attempt=%d retry_in=%.1f "
                    "message=«Сверка не выполнена: %s Повтор через %s.»",
                    now.isoformat(),
                    self._failures,
                    delay,
                    reason,
                    _seconds_text(delay),
                )
                self._heartbeat()
                return None
            result = json.dumps([r.as_json() for r in reports], ensure_ascii=False)
            if self._failures:
                log.info("event=tick_recovered after_failures=%d", self._failures)
            self._failures = 0
            self._state.update(tick_failures=0, next_retry_at=None)
            self._heartbeat(tick_as_of=now, tick_result=result)
            daemon_anchor(self.engine, clock=self.clock)  # heads that moved → the anchor file
            return reports

    def deliver_once(self) -> None:
        """The outbox job: send due letters, batch after batch until a batch finds none
        (or the server is unavailable); failures are logged, never raised.

        One batch per run sent 50 letters a minute per daemon: a federal day's 22,000
        letters would have taken hours (benchmarks/federal_day.py). Between batches the
        tick may run (one step at a time, `_work`) and a stop request is honoured.
        """
        if self.deliver is None:
            log.info("event=delivery_skipped reason=no_transport")
            return
        while not self.stop_event.is_set():
            with self._work, self.watch.watching("delivery"):
                now = self.clock()
                try:
                    report = self.deliver(now)
                except Exception as exc:
                    log.error(
                        "event=delivery_failed message=«Письма не отправлены: %s»",
                        failure_reason(exc),
                    )
                    return
            log.info("event=delivery %s", _report_words(report))
            self._heartbeat(delivered=now)
            if not getattr(report, "claimed", 0) or getattr(report, "transport_error", None):
                return

    def poll_mail_once(self) -> None:
        """The mailbox job: record new replies; a fault is logged in Russian, never
        raised, and the next interval tries again."""
        if self.poll_mail is None:
            return
        with self.watch.watching("mail"):
            try:
                report = self.poll_mail()
            except TochkaError as exc:
                log.error("event=mail_failed message=«Почта не прочитана: %s»", exc.message)
                return
            except Exception as exc:
                log.error(
                    "event=mail_failed message=«Почта не прочитана: %s»", failure_reason(exc)
                )
                return
        log.info("event=mail message=«%s»", getattr(report, "words", lambda: report)())

    # --- heartbeat ------------------------------------------------------------------------

    def _heartbeat(
        self,
        *,
        stopped: bool = False,
        tick_as_of: datetime | None = None,
        tick_result: str | None = None,
        delivered: datetime | None = None,
    ) -> None:
        """Write this daemon's whole row: updated, or inserted when missing (its first
        insert may have failed under a lock; a later heartbeat makes up for it)."""
        with self._beat:
            self._write_heartbeat(
                stopped=stopped, tick_as_of=tick_as_of, tick_result=tick_result, delivered=delivered
            )

    def _write_heartbeat(
        self,
        *,
        stopped: bool,
        tick_as_of: datetime | None,
        tick_result: str | None,
        delivered: datetime | None,
    ) -> None:
        now = self.clock()
        state = self._state
        if tick_as_of is not None:
            state.update(last_tick_at=now, last_tick_as_of=tick_as_of, last_tick_result=tick_result)
        if delivered is not None:
            state["last_delivery_at"] = delivered
        if stopped:
            state["stopped_at"] = now
        values: dict[str, Any] = {
            **state,
            "role": self._role,
            "last_seen_at": now,
            "heartbeat_seconds": self._promised_interval(),
        }
        try:
            with self.watch.watching("heartbeat"), db.write(self.engine) as conn:
                updated = conn.execute(
                    sa.update(HEARTBEAT)
                    .where(HEARTBEAT.c.daemon_id == self.daemon_id)
                    .values(**values)
                ).rowcount
                if not updated:
                    conn.execute(
                        sa.insert(HEARTBEAT).values(
                            daemon_id=self.daemon_id,
                            host=socket.gethostname()[:255],
                            pid=os.getpid(),
                            started_at=self._started_at or now,
                            **values,
                        )
                    )
        except Exception as exc:
            log.warning(
                "event=heartbeat_failed message=«Отметка «жив» не записана: %s»",
                failure_reason(exc),
            )

    def _promised_interval(self) -> float:
        """The longest the daemon means to go between two heartbeats in its role."""
        if self._role == ROLE_STANDBY:
            return max(self.options.standby_retry_seconds, 0.001)
        if self.options.simulation is not None:
            return max(self.options.heartbeat_seconds, self.options.simulation.step_seconds)
        return self.options.heartbeat_seconds


def failure_reason(exc: BaseException) -> str:
    """Why a step failed, in Russian, on one line: no repr, no library text."""
    if isinstance(exc, TochkaError):
        return _flat(exc.message)
    if isinstance(exc, sa.exc.SQLAlchemyError):
        orig = getattr(exc, "orig", None) or exc
        text = str(orig).lower()
        if "database is locked" in text:
            return (
                "база данных занята другой программой дольше времени ожидания "
                "(TOCHKA_DB_BUSY_TIMEOUT)."
            )
        if "statement timeout" in text:
            return (
                "база данных не выполнила запрос за отведённое время (TOCHKA_DB_STATEMENT_TIMEOUT)."
            )
        if "idle-in-transaction" in text or "idle_in_transaction" in text:
            return "сервер базы данных закрыл простаивавшую транзакцию."
        if "timeout expired" in text or "connection refused" in text or "could not connect" in text:
            return "сервер базы данных не отвечает на подключение."
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and (
            "server closed" in text or "connection" in text or "terminat" in text
        ):
            return "соединение с сервером базы данных потеряно."
        known = db.database_error(exc)
        if not known.message.startswith("Ошибка базы данных:"):
            return _flat(known.message)
        return f"ошибка базы данных ({type(orig).__name__})."
    if isinstance(exc, OSError):
        return f"ошибка ввода-вывода ({type(exc).__name__})."
    return f"внутренняя ошибка ({type(exc).__name__})."


def _flat(text: str) -> str:
    return " ".join(text.split())


def _seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} с"
    return f"{seconds / 60:g} мин"


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def _report_words(report: Any) -> str:
    """A delivery's counts as ``key=value`` words (never a Python repr): claimed, sent,
    retrying, dead, released, the failed rows' count, and the transport's problem."""
    words = [
        f"{name}={getattr(report, name)}"
        for name in ("claimed", "sent", "retrying", "dead", "released")
    ]
    words.append(f"failed_rows={len(report.errors)}")
    if report.transport_error:
        reason = " ".join(str(report.transport_error).split())
        words.append(f"transport_error=«{reason}»")
    return " ".join(words)


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
