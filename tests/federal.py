"""A federal day on one PostgreSQL: many regions' roadmaps, three daemons, one SMTP server.

Shared by ``tests/test_federal_day.py`` (a few small roadmaps: every cycle and letter
exactly once) and ``benchmarks/federal_day.py`` (85 roadmaps of 250 centers, timed
against a hand-written SQL floor).

* `seed`: N copies of the shipped roadmap (each its own code, region and coordinator
  address; one federal operator for all) loaded through ``tochka init``'s API
  (`load_roadmap` + `load_roadmap_as`, which makes this OS account their coordinator),
  and their centers and municipal authorities from generated CSV files through the
  imports (`read_centers_file` + `import_centers`, `read_contacts_file` +
  `import_contacts`).
* `eve`: the day before, one tick per roadmap in this process; its rungs are recorded
  (``sent_rung``) but its letters not rendered (they left yesterday), so the day's
  reminders are the day's rungs only.
* `run_day`: the day itself. Each daemon is ``tochka daemon run`` in a process of its
  own (this file run as a script: the CLI's command with its daemon's clock frozen at
  the day's moment, the one thing the command line cannot set, and its delivery every
  ``delivery_seconds`` instead of every minute), delivering to a local aiosmtpd server
  that counts every Message-ID it receives.
* `problems`: what is not exactly once (cycles, rungs, reminders, letters, Message-IDs,
  ticks).
"""

from __future__ import annotations

import asyncio
import sys

if __name__ == "__main__":
    # Run as a daemon's script: its folder, tests/ (with a ``notifications`` folder of
    # tests), must not shadow the product's packages.
    del sys.path[0]

import contextlib  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications.outbox import OUTBOX, REMINDER
from workflow.engine import centers, municipalities
from workflow.engine.access import Actor
from workflow.engine.audit import CREATE_TRIGGER
from workflow.engine.identity import os_login
from workflow.engine.users import load_roadmap_as
from workflow.imports.centers_file import read_centers_file
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CYCLE, EVENT, HEARTBEAT, SENT

ROOT = Path(__file__).resolve().parent.parent
MSK = ZoneInfo("Europe/Moscow")
#: The federal day: 1 September 2021, the daemons' 09:00 run. The 2021 cohort's
#: centers open that day (on-day rung) and are a week late with their equipment and
#: training (due 25.08: the first overdue rung, escalated to each coordinator).
DAY = datetime(2021, 9, 1, 9, 0, tzinfo=MSK)
EVE = datetime(2021, 8, 31, 9, 0, tzinfo=MSK)
#: When the roadmaps and centers were loaded (the real time of the set-up).
LOADED = datetime(2021, 1, 11, 9, 0, tzinfo=UTC)
MAIL_FROM = "tochka@edu.example.org"
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


# --- the database -------------------------------------------------------------------------


@contextlib.contextmanager
def pg_schema(pg_url: str, prefix: str = "fed") -> Iterator[str]:
    """A new PostgreSQL schema on ``pg_url``'s database, dropped afterwards; yields the URL
    whose ``search_path`` is that schema (for this process and the daemons alike)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = db.make_engine(pg_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    url = sa.engine.make_url(db.normalize_url(pg_url)).update_query_dict(
        {"options": f"-csearch_path={name}"}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            # The daemons are gone by now; a session left behind would block the drop.
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


def region_roadmap(n: int) -> str:
    """The shipped roadmap as region ``n``'s: its own code, region and coordinator address.
    The federal operator (one for the country) keeps its one address."""
    text = IVANOVO_159_RP.read_text(encoding="utf-8")
    for old, new in (
        ("code: ivanovo-2021-2023", f"code: region-{n:02d}-2021-2023"),
        ('region: "Ивановская область"', f'region: "Регион № {n:02d}"'),
        ('email: "coordinator@example.org"', f'email: "coordinator-{n:02d}@example.org"'),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def seed(
    engine: Engine,
    folder: Path,
    *,
    roadmaps: int,
    centers_each: int,
    municipalities_each: int = 10,
) -> list[StoredRoadmap]:
    """Load ``roadmaps`` regions of ``centers_each`` centers (cohort 2021, all planned),
    each municipality with its education authority's address, through the product's API."""
    login = os_login()
    loaded: list[StoredRoadmap] = []
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, roadmaps + 1):
        path = folder / f"region-{n:02d}.yaml"
        path.write_text(region_roadmap(n), encoding="utf-8")
        definition = load_roadmap(path)
        roadmap_id, outcome, bootstrapped = load_roadmap_as(
            engine, definition, Actor(login=login), now=LOADED, clock=lambda: LOADED
        )
        assert outcome == "created", outcome
        assert bootstrapped
        stored = StoredRoadmap(id=roadmap_id, definition=definition)
        districts = [f"Район № {k} региона {n:02d}" for k in range(1, municipalities_each + 1)]
        table = folder / f"centers-{n:02d}.csv"
        table.write_text(
            "Код,Наименование,Муниципальное образование,Год создания,Email\n"
            + "".join(
                f"R{n:02d}-{i:04d},МБОУ «Средняя школа № {i}»,{districts[i % len(districts)]},"
                f"2021,school-{n:02d}-{i:04d}@example.org\n"
                for i in range(1, centers_each + 1)
            ),
            encoding="utf-8",
        )
        rows = read_centers_file(table, program_years=definition.program_years)
        centers.import_centers(
            engine, stored, rows, filename=table.name, actor=login, now=LOADED, clock=lambda: LOADED
        )
        contacts = folder / f"municipalities-{n:02d}.csv"
        contacts.write_text(
            "Муниципальное образование,Email,Получатель\n"
            + "".join(
                f"{d},edu-{n:02d}-{k:02d}@example.org,Управление образования ({d})\n"
                for k, d in enumerate(districts[: min(len(districts), centers_each)], 1)
            ),
            encoding="utf-8",
        )
        municipalities.import_contacts(
            engine,
            stored,
            municipalities.read_contacts_file(contacts),
            filename=contacts.name,
            actor=login,
            now=LOADED,
            clock=lambda: LOADED,
        )
        loaded.append(stored)
    return loaded


def eve(engine: Engine, roadmaps: Sequence[StoredRoadmap], *, at: datetime = EVE) -> None:
    """The day before ``DAY``: every roadmap ticked as of ``at`` (its cycles created, the
    late ones marked overdue, the weekly summary queued and marked sent, the rungs due
    recorded); the reminders' letters are not rendered (null queue), as if they had left."""
    from notifications.render import Renderer
    from workflow.schedule import weekly
    from workflow.schedule.reconcile import tick

    def delivered_yesterday(conn: Any, reminders: Sequence[Any], *, now: datetime) -> int:
        return len(reminders)

    plan = weekly.plan("пн", Renderer())
    for stored in roadmaps:
        tick(engine, stored, now=at, clock=lambda: at, queue=delivered_yesterday, weekly=plan)
    with db.write(engine) as conn:
        conn.execute(OUTBOX.update().values(status="sent", sent_at=at, updated_at=at))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


# --- the SMTP server ------------------------------------------------------------------------


class SmtpSink:
    """aiosmtpd handler: accepts every letter and counts its Message-ID, after ``delay``
    seconds (each connection waits on its own: the server's loop serves the others)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.ids: Counter[str] = Counter()
        self.last = 0.0  # time.time() of the last letter received
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        head = bytes(envelope.content).split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        with self.lock:
            self.ids[found.group(1).decode("ascii") if found else ""] += 1
            self.last = time.time()
        return "250 OK"

    @property
    def received(self) -> int:
        with self.lock:
            return sum(self.ids.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def smtp_server(delay: float = 0.0) -> Iterator[tuple[SmtpSink, int]]:
    """A local SMTP server (aiosmtpd) and its port; each letter is answered after
    ``delay`` seconds (`SmtpSink`)."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink(delay)
    port = free_port()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aiosmtpd's own deprecations under -W error
        controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
        controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


# --- the daemons ----------------------------------------------------------------------------


@dataclass
class DaemonRun:
    """What one daemon process did (written by it as JSON when it stops)."""

    pid: int
    exit_code: int | None
    ticks: list[dict[str, float]] = field(default_factory=list)
    deliveries: list[dict[str, float]] = field(default_factory=list)
    maxrss_kb: int = 0
    log: str = ""

    @property
    def sent(self) -> int:
        """Letters this daemon recorded sent."""
        return sum(int(d["sent"]) for d in self.deliveries)


@dataclass
class DayRun:
    """One federal day: its daemons, the SMTP server's count, and the times."""

    daemons: list[DaemonRun]
    ids: Counter[str]
    started: float  # time.time() when the started daemons were let go together
    last_letter: float  # time.time() of the last letter at the SMTP server

    @property
    def leaders(self) -> list[DaemonRun]:
        return [d for d in self.daemons if d.ticks]

    @property
    def tick(self) -> dict[str, float]:
        """The leader's tick (start, end, letters: seconds spent building letters)."""
        (leader,) = self.leaders
        (only,) = leader.ticks
        return only

    @property
    def sent(self) -> int:
        """Letters the daemons recorded sent."""
        return sum(d.sent for d in self.daemons)


def daemon_env(folder: Path, smtp_port: int) -> dict[str, str]:
    """The daemons' environment: this one without TOCHKA_*, the local SMTP server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env.update(
        TOCHKA_VAR_DIR=str(folder / "var"),
        TOCHKA_SMTP_HOST="127.0.0.1",
        TOCHKA_SMTP_PORT=str(smtp_port),
        TOCHKA_SMTP_TLS="none",
        TOCHKA_MAIL_FROM=MAIL_FROM,
        # The roadmaps' parties are at example.org: deliver anyway (to the local server).
        TOCHKA_ALLOW_PLACEHOLDER_ADDRESSES="true",
        TOCHKA_WEEKLY_SUMMARY="пн",
        PYTHONWARNINGS="ignore",
    )
    return env


def _ticked(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(HEARTBEAT)
                .where(HEARTBEAT.c.last_tick_result.is_not(None))
            ).scalar_one()
        )


def _waiting(engine: Engine, at: datetime) -> tuple[int, set[str]]:
    """Letters due as of ``at`` and not sent yet; the Message-IDs of those sent today."""
    with engine.connect() as conn:
        due = conn.execute(
            sa.select(sa.func.count())
            .select_from(OUTBOX)
            .where(
                OUTBOX.c.status.in_(["pending", "failed", "sending"]),
                OUTBOX.c.next_attempt_at <= at,
            )
        ).scalar_one()
        sent = set(
            conn.execute(
                sa.select(OUTBOX.c.message_id).where(
                    OUTBOX.c.status == "sent", OUTBOX.c.created_at == at
                )
            ).scalars()
        )
    return int(due), {str(m) for m in sent}


def run_day(
    url: str,
    engine: Engine,
    folder: Path,
    *,
    daemons: int = 3,
    at: datetime = DAY,
    delivery_seconds: float = 1.0,
    timeout: float = 1800.0,
    smtp_delay: float = 0.0,
) -> DayRun:
    """Start ``daemons`` daemons on ``url`` with their clocks at ``at``, wait until one
    has reconciled every roadmap and every letter due has reached the SMTP server, stop
    them (SIGTERM: each finishes its step) and return what they did. ``smtp_delay``: the
    SMTP server's answer to each letter takes this long (`SmtpSink`).

    Raises:
        AssertionError: a daemon exited early, or the day did not end within ``timeout``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with smtp_server(smtp_delay) as (sink, port):
        env = daemon_env(folder, port)
        procs: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
        (folder / "go").unlink(missing_ok=True)  # the gate of an earlier day: closed
        try:
            for n in range(daemons):
                results, log = folder / f"daemon{n}.json", folder / f"daemon{n}.log"
                results.unlink(missing_ok=True)
                Path(f"{results}.ready").unlink(missing_ok=True)
                with log.open("wb") as err:
                    proc = subprocess.Popen(
                        [
                            sys.executable,
                            str(Path(__file__).resolve()),
                            url,
                            at.isoformat(),
                            str(results),
                            str(delivery_seconds),
                            str(folder / "go"),
                        ],
                        env=env,
                        cwd=ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                procs.append((proc, results, log))
            deadline = time.monotonic() + timeout
            # Every daemon has imported what it runs before any starts (`_daemon_main`):
            # on a loaded machine the first one started would otherwise reconcile and
            # deliver the whole day while the others were still starting.
            while not all(Path(f"{results}.ready").exists() for _, results, _ in procs):
                if any(p.poll() is not None for p, _, _ in procs):
                    raise AssertionError(f"a daemon exited early: {_tails(procs)}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"the daemons did not start in {timeout:.0f} s")
                time.sleep(0.05)
            (folder / "go").touch()
            started = time.time()  # the day, not the processes' start
            while True:
                if any(p.poll() is not None for p, _, _ in procs):
                    raise AssertionError(f"a daemon exited early: {_tails(procs)}")
                if _ticked(engine):
                    due, sent = _waiting(engine, at)
                    if not due and sent <= set(sink.ids):
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the day did not end in {timeout:.0f} s: {_tails(procs)}")
                time.sleep(0.2)
        finally:
            for proc, _, _ in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc, _, _ in procs:
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
        runs = []
        for proc, results, log in procs:
            data = json.loads(results.read_text()) if results.exists() else {}
            runs.append(
                DaemonRun(
                    pid=proc.pid,
                    exit_code=proc.returncode,
                    ticks=data.get("ticks", []),
                    deliveries=data.get("deliveries", []),
                    maxrss_kb=int(data.get("maxrss_kb", 0)),
                    log=log.read_text(encoding="utf-8", errors="replace"),
                )
            )
        with sink.lock:
            ids, last = Counter(sink.ids), sink.last
        return DayRun(daemons=runs, ids=ids, started=started, last_letter=last)


def _tails(procs: Sequence[tuple[subprocess.Popen[bytes], Path, Path]]) -> list[str]:
    return [log.read_text(encoding="utf-8", errors="replace")[-1500:] for _, _, log in procs]


# --- exactly once -----------------------------------------------------------------------------


def problems(engine: Engine, day: DayRun, *, at: datetime = DAY) -> list[str]:
    """Everything of the day that is not exactly once, in words (empty: nothing doubled,
    nothing lost): cycles by (roadmap, measure, period) and their creation events, rungs
    by deadline, reminders by key, letters by key and by recipient's day, Message-IDs at
    the SMTP server against the letters sent, and the daemons that reconciled."""
    found: list[str] = []
    with engine.connect() as conn:

        def doubled(what: str, query: Any) -> None:
            rows = conn.execute(query).all()
            if rows:
                found.append(f"{what} more than once: {len(rows)}, e.g. {tuple(rows[0])}")

        count = sa.func.count().label("n")
        doubled(
            "cycle",
            sa.select(CYCLE.c.roadmap_id, CYCLE.c.measure, CYCLE.c.period, count)
            .group_by(CYCLE.c.roadmap_id, CYCLE.c.measure, CYCLE.c.period)
            .having(sa.func.count() > 1),
        )
        created = (
            sa.select(EVENT.c.entity_id, count)
            .where(EVENT.c.entity_kind == "cycle", EVENT.c.trigger == CREATE_TRIGGER)
            .group_by(EVENT.c.entity_id)
        )
        doubled("cycle's creation event", created.having(sa.func.count() > 1))
        cycles = conn.execute(sa.select(sa.func.count()).select_from(CYCLE)).scalar_one()
        events = len(conn.execute(created).all())
        if events != cycles:
            found.append(f"{cycles} cycles but {events} with a creation event")
        doubled(
            "cycle marked overdue",
            sa.select(EVENT.c.entity_id, count)
            .where(EVENT.c.entity_kind == "cycle", EVENT.c.trigger == "mark_overdue")
            .group_by(EVENT.c.entity_id)
            .having(sa.func.count() > 1),
        )
        doubled(
            "deadline reminded on one day",
            sa.select(SENT.c.roadmap_id, SENT.c.kind, SENT.c.entity_id, SENT.c.stage, count)
            .group_by(
                SENT.c.roadmap_id, SENT.c.kind, SENT.c.entity_id, SENT.c.stage, SENT.c.send_on
            )
            .having(sa.func.count() > 1),
        )
        doubled(
            "reminder key",
            sa.select(REMINDER.c.key, count).group_by(REMINDER.c.key).having(sa.func.count() > 1),
        )
        doubled(
            "outbox key",
            sa.select(OUTBOX.c.key, count).group_by(OUTBOX.c.key).having(sa.func.count() > 1),
        )
        doubled(
            "letter of one recipient's day",
            sa.select(OUTBOX.c.digest_group, count)
            .where(OUTBOX.c.kind == "digest")
            .group_by(OUTBOX.c.digest_group)
            .having(sa.func.count() > 1),
        )
        today = list(
            conn.execute(
                sa.select(OUTBOX.c.status, OUTBOX.c.message_id, OUTBOX.c.next_attempt_at).where(
                    OUTBOX.c.created_at == at
                )
            )
        )
        lost_reminders = conn.execute(
            sa.select(sa.func.count())
            .select_from(REMINDER.outerjoin(OUTBOX, REMINDER.c.outbox_id == OUTBOX.c.id))
            .where(REMINDER.c.created_at == at, OUTBOX.c.id.is_(None))
        ).scalar_one()
    if lost_reminders:
        found.append(f"{lost_reminders} reminders of the day in no letter")
    if not today:
        found.append("no letter queued on the day")
    sent = {str(r.message_id) for r in today if r.status == "sent"}
    later = [r for r in today if r.status == "pending" and r.next_attempt_at > at]
    stuck = [r.status for r in today if r.status != "sent" and r not in later]
    if stuck:
        found.append(f"{len(stuck)} letters of the day not sent: {Counter(stuck)}")
    twice = {mid: n for mid, n in day.ids.items() if n > 1}
    if twice:
        found.append(f"{len(twice)} Message-IDs received more than once, e.g. {next(iter(twice))}")
    missing, extra = sent - set(day.ids), set(day.ids) - sent
    if missing:
        found.append(f"{len(missing)} letters recorded sent never reached the SMTP server")
    if extra:
        found.append(f"{len(extra)} Message-IDs at the SMTP server of no letter recorded sent")
    if len(day.leaders) != 1 or any(len(d.ticks) != 1 for d in day.leaders):
        found.append(
            f"{len(day.leaders)} daemons reconciled ({[len(d.ticks) for d in day.daemons]} ticks)"
        )
    if any(d.exit_code != 0 for d in day.daemons):
        found.append(f"daemon exit codes {[d.exit_code for d in day.daemons]}")
    return found


# --- one daemon process -----------------------------------------------------------------------


def _daemon_main(url: str, at_text: str, results: str, delivery_seconds: str, gate: str) -> int:
    """``tochka --db URL daemon run``, with the daemon's clock frozen at ``at_text`` and
    its delivery every ``delivery_seconds``; what it did is written to ``results``. The
    daemon starts once its imports are done (``results``.ready written) and the file
    ``gate`` exists, so that the day's daemons start together."""
    at = datetime.fromisoformat(at_text)
    import scheduler
    from notifications import queue as outbox_queue

    building = [0.0]
    build_digest = outbox_queue._build_digest

    def timed_build(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return build_digest(*args, **kwargs)
        finally:
            building[0] += time.perf_counter() - began

    outbox_queue._build_digest = timed_build  # type: ignore[assignment]
    ticks: list[dict[str, float]] = []
    deliveries: list[dict[str, float]] = []

    class FrozenDaemon(scheduler.Daemon):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(clock=lambda: at, **kwargs)
            inner = self.deliver
            if inner is not None:

                def deliver(now: datetime) -> Any:
                    began = time.time()
                    report = inner(now)
                    if report.claimed:
                        deliveries.append({"start": began, "end": time.time(), "sent": report.sent})
                    return report

                self.deliver = deliver

        def _tick(self, now: datetime) -> Any:
            began, letters = time.time(), building[0]
            reports = super()._tick(now)
            if reports is not None:
                ticks.append({"start": began, "end": time.time(), "letters": building[0] - letters})
            return reports

    scheduler.Daemon = FrozenDaemon  # type: ignore[misc]
    scheduler.DaemonOptions = functools.partial(  # type: ignore[misc]
        scheduler.DaemonOptions, delivery_seconds=float(delivery_seconds)
    )
    from workflow.cli.app import app

    Path(f"{results}.ready").touch()
    while not Path(gate).exists():
        time.sleep(0.02)
    code = 0
    try:
        app(
            ["--db", url, "daemon", "run", "--heartbeat", "0.5", "--standby-retry", "0.5"],
            prog_name="tochka",
        )
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        Path(results).write_text(
            json.dumps(
                {
                    "ticks": ticks,
                    "deliveries": deliveries,
                    "maxrss_kb": _peak_rss_kb(),
                }
            )
        )
    return code


def _peak_rss_kb() -> int:
    """This process's peak resident memory, KiB: VmHWM, which starts again at exec (the
    rusage maximum would count the parent's memory the process was forked with)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    raise SystemExit(_daemon_main(*sys.argv[1:6]))
