"""``tochka demo``: the whole program replayed on a labelled sample, in simulated time.

The demo lives in its own folder, ``var/demo/`` (under ``TOCHKA_VAR_DIR``): its own
SQLite database, its letters as ``.eml`` files in ``var/demo/mail/``, its reports. It
never sends mail (no SMTP, whatever the settings say). ``TOCHKA_DB_URL`` is simply not
used; a global ``--db`` is refused as a usage error (exit 2), since it cannot name the
demo's database and ignoring it would replay the whole program for an operator who
meant another one. The folder carries a marker file: a re-run wipes and recreates only
a folder the demo made itself, and refuses one holding anything else.

The replay is the real daemon (`scheduler.Daemon`) in simulated time (`scheduler.
Simulation`): a tick on each working day at ``daily_at``, the letters it queued
delivered by the file transport as of that moment, and before each tick the operators'
acts of that day (`workflow.cli.demo_scenario`: stage transitions, completed measure
cycles with their evidence, indicator values, some of them late, some never filed).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workflow.cli.context import done, handle_errors, state

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from workflow.cli.demo_scenario import Act
    from workflow.config import Settings
    from workflow.roadmap.store import StoredRoadmap

#: The file that says a folder is the demo's own (and may be wiped by the next run).
MARKER = ".tochka-demo"
MARKER_TEXT = "Папка демонстрации Tochka (tochka demo): пересоздаётся при каждом запуске.\n"
#: The first simulated day: the week of the decree (07.12.2020).
START = date(2020, 12, 1)
#: The last simulated day by default: the program (2021–2023), its last quarter's
#: monitoring (due 01.01.2024) and three months after it.
END = date(2024, 3, 29)
ACT_HOUR = 8  # the operators' acts, before the 09:00 tick
#: The setting that lets the daemon write letters to placeholder addresses.
PLACEHOLDER_SETTING = "allow_placeholder_addresses"

_MONTHS = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


@handle_errors
def demo(
    ctx: typer.Context,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Последний моделируемый день (ДД.ММ.ГГГГ или ГГГГ-ММ-ДД; по умолчанию "
            "29.03.2024 — вся программа и её закрытие).",
        ),
    ] = None,
) -> None:
    """Демонстрация: вся программа 2021–2023 на условной выборке из 24 центров.

    Отдельная база в var/demo/ (рабочая база и TOCHKA_DB_URL не затрагиваются): демон
    проходит программу в моделируемом времени, письма записываются в var/demo/mail,
    в конце — сводка, ежеквартальные отчёты и итоговый отчёт. Повторный запуск
    пересоздаёт только папку var/demo.
    """
    from base.clock import parse_date
    from workflow.errors import InputError

    st = state(ctx)
    if st.db_option is not None:
        from typer._click.exceptions import UsageError  # the class Typer's Click raises

        raise UsageError(
            "tochka demo работает со своей базой var/demo/tochka.db: --db к ней не относится.",
            ctx=ctx,
        )
    last = END if until is None else parse_date(until, what="--until")
    if not START < last <= END:
        raise InputError(
            f"--until: {last:%d.%m.%Y} — вне демонстрации (с {START + timedelta(days=1):%d.%m.%Y}"
            f" по {END:%d.%m.%Y})."
        )
    folder = Path(st.settings.var_dir) / "demo"
    _prepare(folder)
    settings = _settings(st.settings, folder)
    began = time.monotonic()
    replay = Replay(folder=folder, settings=settings, until=last)
    replay.run()
    files = _reports(replay, folder)
    _tour(replay, folder, files, seconds=time.monotonic() - began)


def _prepare(folder: Path) -> None:
    """An empty ``folder`` with the marker; a demo folder of an earlier run is wiped.

    Raises:
        InputError: the folder (or a file in its place) is not the demo's own.
    """
    from workflow.errors import InputError

    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(
            f"{folder} — не папка демонстрации (это файл или ссылка): ничего не изменено.",
            hint="Переименуйте или удалите его сами, либо задайте другую TOCHKA_VAR_DIR.",
        )
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise InputError(
                f"В папке {folder} есть файлы, которые создала не демонстрация (нет файла "
                f"{MARKER}): ничего не изменено.",
                hint="Перенесите их в другое место; демонстрация пересоздаёт эту папку.",
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def _settings(base: Settings, folder: Path) -> Settings:
    """The demo's settings: its own database and mail folder, letters as files only.

    The one place that says what the demo changes in the operator's settings.
    """
    values: dict[str, Any] = {
        "db_url": f"sqlite:///{folder / 'tochka.db'}",
        "var_dir": str(folder),
        "mail_dir": str(folder / "mail"),
        "smtp_host": "",  # never SMTP: the sample's addresses are not people's
        "anchor_file": "",  # the operator's anchor file keeps the real chains only
        "templates_dir": "",  # the shipped letters
        "weekly_summary": "пн",  # the coordinator's Monday summary, as in production
    }
    # The sample's addresses are placeholders by design (RFC 2606): the daemon may write
    # letters to them, as files, for this run only (issue 13, item 7: the daemon does not
    # send to placeholder addresses unless this setting allows it).
    if PLACEHOLDER_SETTING in type(base).model_fields:
        values[PLACEHOLDER_SETTING] = True
    return base.model_copy(update=values)


@dataclass
class Replay:
    """The demo's database, its sample and the daemon's run through the program."""

    folder: Path
    settings: Settings
    until: date
    #: The roadmap file replayed: the shipped one (None).
    roadmap: Path | None = None
    engine: Engine | None = None
    stored: StoredRoadmap | None = None
    letters: int = 0
    acts_done: int = 0
    refused: list[str] = field(default_factory=list)
    daemon_problems: list[str] = field(default_factory=list)
    opened: dict[str, date] = field(default_factory=dict)
    _pending: list[Act] = field(default_factory=list)
    _month: tuple[int, int] | None = None
    _month_letters: int = 0
    _month_acts: int = 0

    @property
    def actor(self) -> Any:
        from workflow.engine.access import Actor
        from workflow.engine.identity import os_login

        return Actor(login=os_login())

    def run(self) -> None:
        from base import db
        from workflow.cli import demo_scenario
        from workflow.cli.system_cmd import SHIPPED_ROADMAP
        from workflow.engine import centers, municipalities
        from workflow.engine.users import load_roadmap_as
        from workflow.imports.centers_file import CenterRow
        from workflow.imports.municipalities_file import ContactRow
        from workflow.roadmap import store as roadmap_store
        from workflow.roadmap.loader import load_roadmap
        from workflow.storage import schema

        self.engine = engine = db.make_engine(self.settings.effective_db_url, create_dir=True)
        schema.upgrade(engine)
        # The file's done dates are read in simulated time, as of the demo's last day (the
        # replay records each on its own day), never by the real clock: the same file
        # gives the same demo whenever it runs.
        definition = load_roadmap(self.roadmap or SHIPPED_ROADMAP, now=self._moment(END))
        start = self._moment(START)
        load_roadmap_as(engine, definition, self.actor, now=start)
        with db.read(engine) as conn:
            self.stored = stored = roadmap_store.resolve(conn, definition.code)
        rows = [
            CenterRow(
                code=c.code,
                name=c.name,
                municipality=c.municipality,
                cohort=c.cohort,
                email=c.email,
                line=n + 2,
            )
            for n, c in enumerate(demo_scenario.centers())
        ]
        centers.import_centers(
            engine, stored, rows, filename="демо-центры.csv", actor=self.actor, now=start
        )
        contacts = [
            ContactRow(municipality=m, email=e, recipient=r, line=n + 2)
            for n, (m, e, r) in enumerate(demo_scenario.contacts())
        ]
        municipalities.import_contacts(
            engine,
            stored,
            contacts,
            filename="демо-муниципалитеты.csv",
            actor=self.actor,
            now=start,
        )
        self.plan = demo_scenario.plan(self.until)
        done(
            f"Демонстрация на условной выборке: центров — {len(rows)}, муниципалитетов — "
            f"{len(contacts)}; моделируемые дни с {START:%d.%m.%Y} по {self.until:%d.%m.%Y}."
        )
        self._daemon().run()
        self._month_line()

    def _daemon(self) -> Any:
        import scheduler
        from workflow.mailer import make_renderer
        from workflow.schedule import weekly
        from workflow.schedule.reminders import outbox_queue

        renderer = make_renderer(self.settings)
        renderer.check()
        options = scheduler.DaemonOptions(
            daily_at=scheduler.parse_daily_at(self.settings.daily_at),
            max_attempts=self.settings.max_attempts,
            heartbeat_seconds=3600.0,
            simulation=scheduler.Simulation(
                start=START,
                end=self.until,
                working_days_only=True,
                before_tick=self._before_tick,
                deliver=True,
            ),
        )
        # The daemon's log goes to the demo's problems, not over its progress lines.
        log = logging.getLogger("tochka.daemon")
        log.propagate = False
        log.setLevel(logging.WARNING)
        log.addHandler(_Collect(self.daemon_problems))
        assert self.engine is not None
        return scheduler.Daemon(
            engine=self.engine,
            queue=outbox_queue(renderer),
            weekly=weekly.plan(self.settings.weekly_summary, renderer),
            options=options,
            deliver=self._deliver,
        )

    def _deliver(self, now: datetime) -> None:
        """The file transport's delivery of every letter due ``now`` (all batches)."""
        from notifications.deliver import deliver_due
        from workflow.mailer import delivery_policy, make_transport

        assert self.engine is not None
        transport = make_transport(self.settings)
        policy = {**delivery_policy(self.settings), "max_attempts": self.settings.max_attempts}
        while True:
            report = deliver_due(self.engine, transport, now=now + timedelta(minutes=1), **policy)
            self.letters += report.sent
            self._month_letters += report.sent
            if report.claimed == 0 or report.transport_error:
                if report.transport_error:
                    self.daemon_problems.append(str(report.transport_error))
                return

    def _before_tick(self, moment: datetime) -> None:
        day = moment.date()
        if self._month != (day.year, day.month):
            if self._month is not None:
                self._month_line()
            self._month = (day.year, day.month)
        acts = self._pending + self.plan.on(day)
        self._pending = []
        for act in acts:
            self._act(act, day)

    def _month_line(self) -> None:
        if self._month is None:
            return
        import sqlalchemy as sa

        from base import db
        from workflow.storage.tables import CENTER, CYCLE

        assert self.engine is not None
        assert self.stored is not None
        with db.read(self.engine) as conn:
            cycles = conn.execute(
                sa.select(sa.func.count()).where(CYCLE.c.roadmap_id == self.stored.id)
            ).scalar_one()
            states: Counter[str] = Counter(
                dict(
                    conn.execute(
                        sa.select(CENTER.c.state, sa.func.count())
                        .where(CENTER.c.roadmap_id == self.stored.id)
                        .group_by(CENTER.c.state)
                    ).all()
                )
            )
        year, month = self._month
        working = states["opened"] + states["reporting"]
        done(
            f"{_MONTHS[month - 1].capitalize()} {year}: действий операторов {self._month_acts}, "
            f"писем {self._month_letters}; всего циклов {cycles}, работающих центров {working}."
        )
        self._month_letters = self._month_acts = 0

    def _act(self, act: Act, day: date) -> None:
        """One operator's act at 08:xx of ``day``; a cycle not created yet waits a day."""
        from base.errors import TochkaError
        from workflow.engine import cycles, indicators
        from workflow.engine.transitions import TransitionEngine
        from workflow.roadmap.indicators import RawRow, RawValue

        assert self.engine is not None
        assert self.stored is not None
        now = self._moment(day, minute=act.minute)
        engine, stored = self.engine, self.stored
        try:
            if act.kind == "center":
                code, trigger, *comment = act.args
                TransitionEngine(engine, stored.definition, stored.id).fire_center(
                    str(code),
                    str(trigger),
                    actor=self.actor,
                    now=now,
                    comment=str(comment[0]) if comment else None,
                )
                if trigger == "open":
                    self.opened[str(code)] = day
            elif act.kind == "open_cycle":
                measure, due = act.args
                assert isinstance(due, date)
                cycles.open_cycle(
                    engine, stored, int(str(measure)), due=due, actor=self.actor, now=now
                )
            elif act.kind == "cycle":
                if not self._complete(act, now):
                    self._pending.append(act)
                    return
            elif act.kind == "values":
                center, period, values = act.args
                assert isinstance(values, dict)
                row = RawRow(
                    center=str(center),
                    period=str(period),
                    values=tuple(RawValue(indicator=k, text=str(v)) for k, v in values.items()),
                )
                indicators.record(engine, stored, [row], filename=None, actor=self.actor, now=now)
        except TochkaError as exc:
            self.refused.append(f"{day:%d.%m.%Y} {act.kind} {act.args[:2]}: {exc.message}")
            return
        self.acts_done += 1
        self._month_acts += 1

    def _complete(self, act: Act, now: datetime) -> bool:
        """Start (if needed) and complete the measure's cycle due on the act's date;
        False when the daemon has not created it yet."""
        import sqlalchemy as sa

        from base import db
        from workflow.engine.transitions import TransitionEngine
        from workflow.storage.tables import CYCLE

        assert self.engine is not None
        assert self.stored is not None
        measure, due, evidence = act.args
        assert isinstance(due, date)
        assert isinstance(evidence, dict)
        with db.read(self.engine) as conn:
            row = conn.execute(
                sa.select(CYCLE.c.id, CYCLE.c.state).where(
                    CYCLE.c.roadmap_id == self.stored.id,
                    CYCLE.c.measure == measure,
                    CYCLE.c.due_date == due,
                )
            ).first()
        if row is None:
            return False
        machine = TransitionEngine(self.engine, self.stored.definition, self.stored.id)
        if row.state == "scheduled":
            machine.fire_cycle(row.id, "start", actor=self.actor, now=now)
        machine.fire_cycle(row.id, "complete", actor=self.actor, now=now, evidence=evidence)
        return True

    def _moment(self, day: date, *, minute: int = 0) -> datetime:
        from zoneinfo import ZoneInfo

        return datetime(
            day.year, day.month, day.day, ACT_HOUR, minute, tzinfo=ZoneInfo("Europe/Moscow")
        )


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@dataclass
class Reports:
    dashboard: Path
    dashboard_xlsx: Path
    quarterly: list[Path]
    final: list[Path]
    final_note: str = ""
    #: The tour's counts, taken from the final report's model so that they agree with it.
    counts: TourCounts | None = None


@dataclass(frozen=True)
class TourCounts:
    """Done measure cycles and opened centers, on time or late, as the final report
    judges them (the legal end of a term, art. 193; measure 1 done by the file)."""

    cycles_done: int
    cycles_on_time: int
    cycles_late: int
    opened: int
    opened_on_time: int
    opened_late: list[str]

    @classmethod
    def of(cls, report: Any) -> TourCounts:
        from states.center import CenterState
        from workflow.views.final import Verdict

        cycles = [c.verdict for c in report.cycles if c.done is not None]
        opened = [
            s for s in report.stages if s.stage == CenterState.OPENED.value and s.done is not None
        ]
        return cls(
            cycles_done=len(cycles),
            cycles_on_time=sum(v is Verdict.ON_TIME for v in cycles),
            cycles_late=sum(v is Verdict.LATE for v in cycles),
            opened=len(opened),
            opened_on_time=sum(s.verdict is Verdict.ON_TIME for s in opened),
            opened_late=sorted(s.code for s in opened if s.verdict is Verdict.LATE),
        )


def _reports(replay: Replay, folder: Path) -> Reports:
    """The dashboard, the quarterly reports and the final report as of the last day."""
    from base import db
    from workflow.engine.indicators import period_of
    from workflow.roadmap.definition import IndicatorPeriod
    from workflow.views import dashboard, final
    from workflow.views import quarterly as quarterly_report
    from workflow.views.output import atomic_output

    assert replay.engine is not None
    assert replay.stored is not None
    stored = replay.stored
    now = replay._moment(replay.until) + timedelta(hours=10)
    files = Reports(
        dashboard=folder / "dashboard.html",
        dashboard_xlsx=folder / "dashboard.xlsx",
        quarterly=[],
        final=[],
    )
    with db.read(replay.engine) as conn:
        data = dashboard.build(conn, stored, now=now)
        files.counts = TourCounts.of(final.build(conn, stored, now=now))
        for path, writer in (
            (files.dashboard, dashboard.write_html),
            (files.dashboard_xlsx, dashboard.write_xlsx),
        ):
            with atomic_output(path) as temporary:
                writer(data, temporary)
        for year in range(2021, 2024):
            for quarter in range(1, 5):
                end = date(year + quarter // 4, quarter % 4 * 3 + 1, 1) - timedelta(days=1)
                if end >= replay.until or (year, quarter) < (2021, 3):
                    continue
                period = period_of(
                    f"{year}-Q{quarter}", stored.definition, kind=IndicatorPeriod.QUARTER
                )
                report = quarterly_report.build(conn, stored, period, generated_at=now)
                path = folder / "reports" / f"quarterly-{year}-Q{quarter}.xlsx"
                path.parent.mkdir(exist_ok=True)
                with atomic_output(path) as temporary:
                    quarterly_report.write_xlsx(report, temporary)
                files.quarterly.append(path)
    _final_report(replay, folder, files, now)
    return files


def _final_report(replay: Replay, folder: Path, files: Reports, now: datetime) -> None:
    """The program's final report (``tochka report final``), through the real CLI.

    FINAL REPORT: the one place where the demo writes it. Until ``tochka report final``
    exists, the tour says that it is not written.
    """
    import os
    import subprocess
    import sys

    from workflow.cli import report_cmd

    names = {
        c.name or (c.callback.__name__ if c.callback else "")
        for c in report_cmd.app.registered_commands
    }
    if "final" not in names:
        files.final_note = "итоговый отчёт не записан: в этой версии нет tochka report final."
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["TOCHKA_VAR_DIR"] = str(folder)
    for fmt in ("xlsx", "html"):
        path = folder / f"final-report.{fmt}"
        command = [
            sys.executable, "-c", "from workflow.cli.app import console_main; console_main()",
            "--db", replay.settings.effective_db_url, "--now", now.isoformat(),
            "report", "final", "-o", str(path), "--format", fmt,
        ]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode == 0 and path.exists():
            files.final.append(path)
            files.final_note = result.stdout.strip().splitlines()[-1] if result.stdout else ""
        else:
            files.final_note = (
                "итоговый отчёт не записан: "
                + (result.stderr.strip().splitlines() or ["ошибка"])[-1]
            )


def _tour(replay: Replay, folder: Path, files: Reports, *, seconds: float) -> None:
    """What to open, and the counts (the final report's, `TourCounts`)."""
    mail = sorted((folder / "mail").glob("*.eml")) if (folder / "mail").exists() else []
    counts = files.counts
    assert counts is not None
    late = counts.opened_late
    lines = [
        "",
        f"Готово за {seconds:.0f} с. Что открыть:",
        f"  сводка состояния (в браузере): {files.dashboard}",
        f"  она же в Excel: {files.dashboard_xlsx}",
    ]
    if files.quarterly:
        lines.append(
            f"  ежеквартальные отчёты ({len(files.quarterly)}): {files.quarterly[0].parent}/ — "
            f"например {files.quarterly[-1].name}"
        )
    if files.final:
        lines.append("  итоговый отчёт программы: " + ", ".join(str(p) for p in files.final))
        if files.final_note:
            lines.append(f"    ({files.final_note})")
    else:
        lines.append(f"  {files.final_note}")
    lines.append(f"  письма ({len(mail)}): {folder / 'mail'}/ — например:")
    for path in _examples(mail):
        lines.append(f"    {path}")
    lines += [
        "Итоги:",
        f"  писем записано: {len(mail)}",
        f"  действий операторов: {replay.acts_done}; циклов мероприятий завершено: "
        f"{counts.cycles_done} (в срок {counts.cycles_on_time}, "
        f"с опозданием {counts.cycles_late})",
        f"  центров открыто: {counts.opened} (в срок {counts.opened_on_time}, "
        f"с опозданием {len(late)}" + (f": {', '.join(late)}" if late else "") + ")",
        f"  база демонстрации: {folder / 'tochka.db'} (посмотреть: tochka --db "
        f"{folder / 'tochka.db'} --now {replay.until:%d.%m.%Y} status)",
        "Рабочая база не изменялась.",
    ]
    if replay.refused:
        lines.append(f"Отклонено действий операторов: {len(replay.refused)}:")
        lines += [f"  {r}" for r in replay.refused[:10]]
    if replay.daemon_problems:
        lines.append(f"Демон сообщил о сбоях: {len(replay.daemon_problems)}:")
        lines += [f"  {p}" for p in replay.daemon_problems[:10]]
    for line in lines:
        done(line)
    if replay.refused or replay.daemon_problems:
        raise typer.Exit(1)


def _examples(mail: list[Path]) -> list[str]:
    """A few letters of different kinds, each with its date and subject: a reminder before
    a deadline, an overdue one, a weekly summary, a notice of a transition."""
    from email import message_from_binary_file
    from email import policy as email_policy
    from email.utils import parsedate_to_datetime

    kinds = ("напомина", "просроч", "сводка", "")
    found: dict[str, str] = {}
    for path in mail:
        with path.open("rb") as handle:
            msg = message_from_binary_file(handle, policy=email_policy.default)
        subject = str(msg["Subject"] or "")
        sent = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
        for kind in kinds:
            if kind not in found and kind in subject.lower():
                found[kind] = f"{path} — {sent:%d.%m.%Y}: «{subject}»"
                break
        if len(found) == len(kinds):
            break
    return list(found.values())
