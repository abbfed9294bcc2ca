"""``tochka tick``, ``tochka daemon run|status``, ``tochka reminders preview``,
``tochka calendar export``.

The modules behind each command are imported inside it: a command pays only for what it
uses, which keeps the CLI's cold start near its floor (``benchmarks/bench_cli.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from workflow.cli.context import authorize, done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode

if TYPE_CHECKING:
    from workflow.cli.context import CliState
    from workflow.roadmap.store import StoredRoadmap
    from workflow.schedule.reminders import ReminderQueue
    from workflow.schedule.weekly import WeeklyPlan

daemon_app = typer.Typer(help="Демон-планировщик: запуск и состояние.", no_args_is_help=True)
reminders_app = typer.Typer(help="Напоминания о сроках.", no_args_is_help=True)
calendar_app = typer.Typer(help="Календарь сроков (iCalendar).", no_args_is_help=True)

#: How long after its last heartbeat a daemon counts as running when its row does not say
#: the interval it promised (written by a Tochka before issue 11); otherwise a couple of
#: its intervals (`workflow.views.daemons.stale_after`).
ALIVE_SECONDS = 120


def register(app: typer.Typer) -> None:
    """Add ``tick``, ``daemon``, ``reminders`` and ``calendar`` to the ``tochka`` app."""
    app.command("tick")(tick)
    app.add_typer(daemon_app, name="daemon")
    app.add_typer(reminders_app, name="reminders")
    app.add_typer(calendar_app, name="calendar")


def _queue(st: CliState) -> tuple[ReminderQueue, WeeklyPlan | None]:
    """The reminder queue and the weekly summary plan (None when it is off)."""
    from workflow.mailer import make_renderer
    from workflow.schedule import weekly
    from workflow.schedule.reminders import outbox_queue

    renderer = make_renderer(st.settings)
    return outbox_queue(renderer), weekly.plan(st.settings.weekly_summary, renderer)


@handle_errors
def tick(ctx: typer.Context, roadmap: RoadmapCode = None) -> None:
    """Сверка на момент --now: создать циклы, отметить просроченные, поставить напоминания."""
    from workflow.engine.access import Action, Actor
    from workflow.schedule.reconcile import tick as run_tick

    st = state(ctx)
    roadmaps = st.roadmaps(roadmap)
    # The reconciler changes data (cycles, overdue marks, letters): coordinators only.
    authorize(st, [stored.id for stored in roadmaps], Action.RECONCILE, target="tochka tick")
    queue, weekly_plan = _queue(st)
    # The tick's events name the coordinator who ran it; the checks are the system's.
    actor = Actor(login=st.actor, system=True)
    reports = []
    for stored in roadmaps:
        now = st.now(stored.definition.timezone)
        reports.append(
            run_tick(st.engine(), stored, now=now, queue=queue, weekly=weekly_plan, actor=actor)
        )
    if st.json:
        print_json([r.as_json() for r in reports])
        return
    for r in reports:
        done(f"Сверка «{r.roadmap}» на {r.today:%d.%m.%Y}.")
        done(
            f"Создано циклов {r.cycles_created}, просрочено {r.marked_overdue}, "
            f"напоминаний {r.reminders_queued} (сроков {r.deadlines_reminded})."
            + (" Еженедельная сводка поставлена в очередь." if r.summaries_queued else "")
            + ("" if r.changed else " Изменений нет.")
        )


@daemon_app.command("run")
@handle_errors
def run(
    ctx: typer.Context,
    standby: Annotated[
        bool,
        typer.Option(
            "--standby",
            help="SQLite: если демон уже работает, ждать в резерве и заменить его, когда он "
            "остановится (без флага второй демон получает отказ).",
        ),
    ] = False,
    standby_retry: Annotated[
        float, typer.Option("--standby-retry", help="Резервный демон: пауза между попытками, с.")
    ] = 5.0,
    heartbeat: Annotated[
        float, typer.Option("--heartbeat", help="Период отметки «жив», с.")
    ] = 10.0,
    simulate_from: Annotated[
        str | None,
        typer.Option("--simulate-from", help="Только для тестов: первый моделируемый день."),
    ] = None,
    simulate_to: Annotated[
        str | None,
        typer.Option("--simulate-to", help="Только для тестов: последний моделируемый день."),
    ] = None,
    simulate_step: Annotated[
        float,
        typer.Option("--simulate-step", help="Только для тестов: секунд на моделируемый день."),
    ] = 0.0,
) -> None:
    """Запустить демон в текущем терминале (остановка: SIGTERM или Ctrl+C).

    Сверка — при запуске и каждый рабочий день в daily_at (по умолчанию 09:00 МСК),
    отправка писем — каждую минуту. С --simulate-from/--simulate-to (только для тестов)
    демон-лидер выполняет сверку за каждый моделируемый день и завершается.
    """
    import scheduler
    from base.clock import parse_date
    from workflow.errors import InputError

    st = state(ctx)
    settings = st.settings
    simulation = None
    if simulate_from or simulate_to:
        if not (simulate_from and simulate_to):
            raise InputError("Укажите и --simulate-from, и --simulate-to.")
        start = parse_date(simulate_from, what="--simulate-from")
        end = parse_date(simulate_to, what="--simulate-to")
        _check_order(start, end, first="--simulate-from", second="--simulate-to")
        simulation = scheduler.Simulation(start=start, end=end, step_seconds=simulate_step)
    options = scheduler.DaemonOptions(
        daily_at=scheduler.parse_daily_at(settings.daily_at),
        standby_retry_seconds=standby_retry,
        heartbeat_seconds=heartbeat,
        max_attempts=settings.max_attempts,
        simulation=simulation,
        standby=standby,
        tick_retry_seconds=settings.tick_retry_seconds,
        tick_retry_max_seconds=settings.tick_retry_max_seconds,
        stall_seconds=settings.daemon_stall_seconds,
        mail_seconds=settings.imap_poll_seconds,
    )
    st.engine()  # checks the schema, with the errors every command gives
    engine = _daemon_engine(st)
    from workflow.engine.access import Action
    from workflow.schedule import weekly

    # The daemon reconciles every roadmap: its account must coordinate each of them.
    authorize(
        st,
        [stored.id for stored in st.roadmaps(None)],  # each parsed: a broken one stops the start
        Action.RECONCILE,
        target="tochka daemon run",
    )
    from workflow.mailer import make_renderer
    from workflow.schedule.reminders import outbox_queue

    # Every template (with the operator's overrides) is rendered once now, so a broken
    # one stops the start-up instead of the 09:00 run on a deadline.
    renderer = make_renderer(settings)
    renderer.check()
    deliver = _deliverer(st, engine, options.max_attempts)
    if _warn_placeholders(st) and not settings.allow_placeholder_addresses:
        deliver = _held()
    scheduler.configure_logging()
    daemon = scheduler.Daemon(
        engine=engine,
        queue=outbox_queue(renderer),
        weekly=weekly.plan(settings.weekly_summary, renderer),
        options=options,
        deliver=deliver,
        poll_mail=_mail_poller(settings, engine),
    )
    daemon.install_signal_handlers()
    code = daemon.run()
    raise typer.Exit(code)


def _mail_poller(settings: Any, engine: Any) -> Any:
    """The mailbox job (`workflow.inbound.poll.poll_mailbox`), or None when no
    TOCHKA_IMAP_HOST is set."""
    if not settings.imap_host:
        return None
    from workflow.inbound.poll import poll_mailbox

    def poll() -> object:
        return poll_mailbox(engine, settings)

    return poll


def _daemon_engine(st: CliState) -> Any:
    """The daemon's engine, with the configured timeouts (`base.db.Timeouts`)."""
    from base import db

    s = st.settings
    timeouts = db.Timeouts(
        busy=s.db_busy_timeout,
        connect=s.db_connect_timeout,
        statement=s.db_statement_timeout,
        idle_in_transaction=s.db_idle_in_transaction_timeout,
        keepalive=s.db_keepalive,
    )
    return db.make_engine(st.db_url, timeouts=timeouts)


def _warn_placeholders(st: CliState) -> bool:
    """Warn on stderr about placeholder party addresses; whether there are any."""
    from workflow.roadmap import placeholders

    held = not st.settings.allow_placeholder_addresses
    found = False
    for stored in st.roadmaps(None):
        text = placeholders.warning(stored.definition, held=held)
        if text is not None:
            found = True
            typer.echo(text, err=True)
    return found


def _held() -> Any:
    """The outbox job while a party's address is a placeholder: nothing is sent (the
    letters wait in the outbox; a daemon restarted after the roadmap is fixed sends)."""
    import logging

    from notifications.deliver import DeliveryReport

    log = logging.getLogger("tochka.daemon")

    def held(now: datetime) -> object:
        log.warning("event=delivery_held reason=placeholder_addresses")
        return DeliveryReport()  # nothing claimed, nothing sent

    return held


def _deliverer(st: CliState, engine: Any, max_attempts: int) -> Any:
    """The outbox job's batch: `notifications.deliver.Deliverer` over the configured
    transport (the daemon's run sends batch after batch over one connection)."""

    from notifications.deliver import Deliverer
    from workflow.mailer import delivery_policy, make_transport

    transport = make_transport(st.settings)
    policy = {**delivery_policy(st.settings), "max_attempts": max_attempts}
    return Deliverer(engine, transport, **policy)


@daemon_app.command("status")
@handle_errors
def status(ctx: typer.Context) -> None:
    """Когда демон работал в последний раз и что ждёт обработки."""
    from workflow.schedule.leader import file_lock_held
    from workflow.views.daemons import collect_status

    st = state(ctx)
    report = collect_status(st.engine(), now=st.now(), alive_seconds=ALIVE_SECONDS)
    # SQLite: a daemon holding its file lock runs, even if it could not write a heartbeat.
    lock_held = file_lock_held(st.engine())
    if st.json:
        print_json({**report.as_json(), "daemon_lock_held": lock_held})
        return
    from workflow.cli.listing import print_lines, terminal_width, wrap

    width = terminal_width()
    lines = _status_lines(report, lock_held=bool(lock_held))
    print_lines([line for text in lines for line in wrap(text, width, rest="  ")])


_ROLE_TITLES = {"leader": "ведущий", "standby": "резервный", "stopped": "остановлен"}


def _status_lines(report: Any, *, lock_held: bool = False) -> list[str]:
    """``tochka daemon status`` in Russian, for people (the raw values are in ``--json``).

    ``lock_held``: a daemon holds the SQLite daemon lock (it runs, whatever its row says).
    """
    from workflow.cli.names import outbox_status_title

    lines = []
    alive = [d for d in report.daemons if d.alive]
    if lock_held and not alive:
        lines.append(
            "Демон запущен (держит блокировку демона), но не может записать отметку «жив»: "
            "база данных занята другой программой или не отвечает."
        )
    elif not report.daemons:
        lines.append("Демон ещё ни разу не запускался.")
    elif not alive and report.daemons[0].role == "stopped":
        lines.append("Демон не работает.")
    elif not alive:
        # The newest row did not stop cleanly: killed, hung, or its database frozen.
        lines.append(
            f"Демон не отвечает: последний отклик {_moscow(report.daemons[0].last_seen_at)}."
        )
    else:
        lines.append(
            f"Работают демонов: {len(alive)} (ведущий: {report.leaders}, "
            f"резервных: {report.standbys})."
        )
    for d in report.daemons[:5]:
        stopped = d.role == "stopped"
        role = _ROLE_TITLES.get(d.role, d.role) if d.alive or stopped else "не отвечает"
        lines.append(
            f"Демон {d.daemon_id} ({d.host}, PID {d.pid}): {role}; "
            f"запущен {_moscow(d.started_at)}, последний отклик {_moscow(d.last_seen_at)}"
        )
        if d.last_tick_at is not None:
            lines.append(
                f"  последняя сверка {_moscow(d.last_tick_at)} "
                f"(на момент {_moscow(d.last_tick_as_of)}): {_tick_text(d.last_tick_result)}"
            )
        if d.last_failure_at is not None and (
            d.tick_failures or d.last_tick_at is None or d.last_failure_at > d.last_tick_at
        ):
            lines.append(
                f"  сверка не выполнена {_moscow(d.last_failure_at)} "
                f"(неудач подряд: {d.tick_failures}): {d.last_failure_reason or '—'}"
            )
            if d.next_retry_at is not None and d.alive:
                lines.append(f"  следующая попытка {_moscow(d.next_retry_at)}")
        elif d.last_failure_at is not None:
            lines.append(
                f"  последняя неудачная сверка {_moscow(d.last_failure_at)}: "
                f"{d.last_failure_reason or '—'}"
            )
        if d.last_delivery_at is not None:
            lines.append(f"  последняя отправка писем {_moscow(d.last_delivery_at)}")
    lines.extend(report.programs)
    lines.append(f"Просроченных открытых циклов: {report.overdue_cycles}")
    waiting = (
        ", ".join(f"{outbox_status_title(k)}: {v}" for k, v in report.letters.items() if v) or "нет"
    )
    lines.append(f"Письма в очереди: {waiting}")
    return lines


def _tick_text(result: str | None) -> str:
    """A tick's result as the daemon recorded it (the JSON of its reports), in words."""
    import json

    try:
        reports = json.loads(result or "")
        parts = [
            f"«{r['roadmap']}»: создано циклов {r['cycles_created']}, просрочено "
            f"{r['marked_overdue']}, напоминаний {r['reminders_queued']}"
            for r in reports
        ]
    except (ValueError, TypeError, KeyError):
        return "результат не записан" if not result else "результат в --json"
    return "; ".join(parts) or "нет дорожных карт"


def _moscow(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo("Europe/Moscow")).strftime("%d.%m.%Y %H:%M:%S МСК")


def _check_order(first_day: date, last_day: date, *, first: str, second: str) -> None:
    from workflow.errors import InputError

    if last_day < first_day:
        raise InputError(
            f"{second} ({last_day:%d.%m.%Y}) раньше, чем {first} ({first_day:%d.%m.%Y})."
        )


@reminders_app.command("preview")
@handle_errors
def preview(
    ctx: typer.Context,
    until: Annotated[
        str,
        typer.Option(
            "--until",
            help="По какой день (ДД.ММ.ГГГГ или ГГГГ-ММ-ДД).",
        ),
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Какие напоминания уйдут с --now по --until (ничего не ставит в очередь).

    Строки печатаются по мере расчёта, сколько бы их ни было. После закрытия дорожной
    карты напоминаний нет: дата на десятилетия вперёд ничего к ним не добавляет.
    """
    from base import db
    from base.clock import local_date, parse_date
    from workflow.schedule import reminders

    st = state(ctx)
    last = parse_date(until, what="--until")
    runs: list[tuple[StoredRoadmap, date]] = []
    for stored in st.roadmaps(roadmap):
        today = local_date(st.now(stored.definition.timezone), stored.definition.timezone)
        _check_order(today, last, first="--now", second="--until")
        runs.append((stored, today))

    def items() -> Iterator[reminders.PreviewItem]:
        # Each pass reads the database afresh, then produces the items one at a time.
        for stored, today in runs:
            with db.read(st.engine()) as conn:
                stream = reminders.preview(conn, stored, today=today, until=last)
            yield from stream

    if st.json:
        _print_json_array(i.as_json() for i in items())
        return
    _print_preview(items, last, st.width)


def _print_json_array(values: Iterator[dict[str, str]]) -> None:
    """`print_json` of a list, written as it is produced: the same bytes, never the whole
    list in memory."""
    import json
    import sys
    import textwrap

    first = True
    for value in values:
        text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write(("[\n" if first else ",\n") + textwrap.indent(text, "  "))
        first = False
    sys.stdout.write("[]\n" if first else "\n]\n")


def _print_preview(items: Callable[[], Iterator[Any]], last: date, width: int | None) -> None:
    """The preview's table, printed row by row. A first pass counts the rows (the title
    names the count) and measures the columns, the second prints: the memory taken does
    not grow with the preview's length. The layout is `workflow.cli.listing`'s.

    A preview may run to hundreds of thousands of rows, with few distinct dates and
    rungs and a subject shared by every row of its deadline: each text is made once
    (`_Texts`), and the first pass compares lengths only.
    """
    import sys

    from workflow.cli.listing import Column, Fit, column_widths, heading_lines, row_lines, wrap

    texts = _Texts()
    cells = texts.cells
    columns = (
        Column("дата"),
        Column("кому"),
        Column("срок"),
        Column("ступень", Fit.WRAP),
        Column("о чём", Fit.CUT),
    )
    longest = [""] * len(columns)
    count = 0
    for i in items():
        count += 1
        for index, cell in enumerate(cells(i)):
            if len(cell) > len(longest[index]):
                longest[index] = cell
    # The rung with the longest word: the narrowest its column may get.
    words = [(max(map(len, title.split()), default=0), title) for title in texts.rungs.values()]
    wordiest = max(words, key=lambda w: w[0], default=(0, ""))[1]
    widths = column_widths(columns, [longest, ["", "", "", wordiest, ""]], width)
    # Only the rung's column wraps: rows are parted by a blank line when one does.
    spaced = width is not None and len(longest[3]) > widths[3]
    out = sys.stdout
    title = wrap(f"Напоминания до {last:%d.%m.%Y}: {count}", width)
    out.write("\n".join([*title, "", *heading_lines(columns, widths)]) + "\n")
    write = out.write
    for number, i in enumerate(items()):
        lines = row_lines(columns, widths, cells(i), width)
        write(("\n" if spaced and number else "") + "\n".join(lines) + "\n")


class _Texts:
    """A preview row's cells, each date and rung title made once for the whole preview."""

    def __init__(self) -> None:
        from workflow.cli.names import rung_title

        self.days: dict[date, str] = {}
        self.rungs: dict[str, str] = {}
        self._title = rung_title

    def day(self, value: date) -> str:
        text = self.days.get(value)
        if text is None:
            text = self.days[value] = f"{value:%d.%m.%Y}"
        return text

    def cells(self, i: Any) -> tuple[str, str, str, str, str]:
        rung = self.rungs.get(i.rung)
        if rung is None:
            rung = self.rungs[i.rung] = self._title(i.rung)
        return (self.day(i.send_on), i.recipient, self.day(i.deadline), rung, i.subject)


@calendar_app.command("export")
@handle_errors
def export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="Файл .ics.")],
    party: Annotated[
        str | None, typer.Option("--party", help="Только сроки этой стороны (id из карты).")
    ] = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Сроки (циклы мероприятий до конца программы и этапы центров по годам) в файл iCalendar."""
    from base import db
    from workflow.schedule import calendar as calendar_export
    from workflow.views.output import atomic_output, check_output

    st = state(ctx)
    stored = st.roadmap(roadmap)
    check_output(output, what="календарь")
    with db.read(st.engine()) as conn:
        data, count = calendar_export.export(
            conn, stored, party=party, now=st.now(stored.definition.timezone)
        )
    with atomic_output(output, what="календарь") as temporary:
        temporary.write_bytes(data)
    if st.json:
        print_json({"file": str(output), "events": count})
        return
    done(f"Календарь записан в {output}: событий {count}.")
