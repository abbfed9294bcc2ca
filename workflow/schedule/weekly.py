"""The weekly summary to the coordinator: the status dashboard by mail, once a week.

On the day ``weekly_summary`` (``TOCHKA_WEEKLY_SUMMARY``, Monday by default) names; off
when it is empty or «нет». Each
tick looks at the latest such day on or before today and queues that day's letter unless
it exists (the outbox key is ``<roadmap>:summary:<that date>``). The daemon does not tick
on weekends and holidays, so a letter due on one goes out with the next working day's
tick; after downtime only the latest letter is sent, never a backlog; and the first tick
after the summary is switched on sends the current one. The letter goes to
the roadmap's coordinator party, through the outbox like every other letter: a short
summary in the body and the full dashboard (`workflow.views.dashboard`) attached as a
self-contained HTML page.

Items whose overdue reminders have all been sent (``reminders.overdue_rungs``, see
`workflow.schedule.ladder`) are no longer mailed to anyone day by day: the summary lists
them with their days late, every week until they are done (the centers' stages in
«Напоминания прекращены», the measure cycles flagged in the overdue list).
It also prints the audit chain head (``SEQ:HASH``), an anchor kept outside the database.

The summary is the coordinator's one letter of the day it goes out: that day's digest of
the coordinator's reminders, if not sent yet, is folded in, its items first
(`notifications.queue.queue_summary`). And it lists what was marked on the centers in
the seven days before its day («Отмечено за неделю»: the stage, the school, the date, who
marked it): the schools get a notice of each mark, the coordinator no copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from base import db
from base.clock import local_date
from notifications.outbox import OUTBOX
from notifications.queue import queue_summary
from notifications.render import STAGE_WHAT
from notifications.russian import shorten
from notifications.summary import LateCenterLine, MarkLine, SummaryLine, WeeklySummary
from notifications.values import Recipient
from states.center import LIFECYCLE, CenterTrigger
from workflow.engine.users import actor_title
from workflow.errors import InputError
from workflow.schedule.asks import period_title
from workflow.schedule.moved import moved_centers, moved_deadlines
from workflow.schedule.notices import headline
from workflow.schedule.reminders import journal_head, stage_groups
from workflow.storage.inbound import bounced_addresses
from workflow.storage.tables import CENTER, EVENT
from workflow.views import dashboard

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from notifications.render import Renderer
    from workflow.roadmap.store import StoredRoadmap

_DAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("пн", "понедельник", "mon", "monday"),
        ("вт", "вторник", "tue", "tuesday"),
        ("ср", "среда", "wed", "wednesday"),
        ("чт", "четверг", "thu", "thursday"),
        ("пт", "пятница", "fri", "friday"),
        ("сб", "суббота", "sat", "saturday"),
        ("вс", "воскресенье", "sun", "sunday"),
    ),
    start=1,
):
    _DAYS[str(_number)] = _number
    for _name in _names:
        _DAYS[_name] = _number
_OFF = ("", "нет", "off", "no", "false", "0")
#: The longest measure title or school name a summary line quotes, cut on a word
#: boundary (`notifications.russian.shorten`); what follows it (stage, municipality,
#: dates, days) is never cut.
_TITLE_LIMIT = 80
#: Lifecycle order of the center stages (which of a center's late stages comes first).
_ORDER = {state.value: number for number, state in enumerate(LIFECYCLE)}


def parse_weekday(text: str) -> int | None:
    """The ISO weekday (1 = Monday) named by a setting, or None when the summary is off.

    Accepts ``пн``…``вс``, full Russian names, ``mon``…``sun`` and ``1``…``7``
    (any case); empty, ``нет`` or ``off`` turn it off.

    Raises:
        InputError: anything else.
    """
    value = text.strip().lower()
    if value in _OFF:
        return None
    if value in _DAYS:
        return _DAYS[value]
    raise InputError(
        f"weekly_summary (TOCHKA_WEEKLY_SUMMARY): «{text}» — не день недели.",
        hint="Укажите день недели: пн, вт, ср, чт, пт, сб или вс (пусто или «нет» — не слать).",
    )


def summary_day(today: date, weekday: int) -> date:
    """The latest date on or before ``today`` that falls on ``weekday`` (ISO, 1 = Monday)."""
    return today - timedelta(days=(today.isoweekday() - weekday) % 7)


def summary_key(roadmap_code: str, day: date) -> str:
    """The outbox key of the summary due on ``day``."""
    return f"{roadmap_code}:summary:{day.isoformat()}"


@dataclass(frozen=True, kw_only=True)
class WeeklyPlan:
    """When the summary goes and how it is rendered.

    Attributes:
        weekday: ISO weekday, 1 = Monday.
        renderer: the letter renderer (with the operator's template overrides).
    """

    weekday: int
    renderer: Renderer


def plan(setting: str, renderer: Renderer) -> WeeklyPlan | None:
    """The plan for a ``weekly_summary`` setting, or None when it is off.

    Raises:
        InputError: the setting is not a day of the week.
    """
    weekday = parse_weekday(setting)
    return None if weekday is None else WeeklyPlan(weekday=weekday, renderer=renderer)


#: The most long-overdue centers the summary lists by name; the rest are counted.
SILENCED_SHOWN = 60


@dataclass(frozen=True, kw_only=True)
class LongOverdue:
    """The long-overdue centers of a summary: the first `SILENCED_SHOWN` and how many in all."""

    lines: tuple[LateCenterLine, ...]
    total: int


def silenced_stages(conn: Connection, stored: StoredRoadmap, *, today: date) -> LongOverdue:
    """Centers past the last overdue reminder the roadmap allows on a stage still not reached.

    A center owing a stage more than ``ReminderPolicy.silenced_after`` days past its
    deadline is listed once, with its earliest unmet stage (the longest overdue) and the
    count of its other overdue stages; the longest overdue first, at most
    `SILENCED_SHOWN` lines (``total`` counts them all). Their daily reminders have
    stopped: the weekly summary is where they stay. (Overdue measure cycles are all in
    the summary's overdue list, the silenced ones flagged.)
    """
    after = stored.definition.reminders.silenced_after()
    # center id → (name, municipality, [(lifecycle order, stage, due, days late)])
    late: dict[int, tuple[str, str, list[tuple[int, str, date, int]]]] = {}
    for group in stage_groups(conn, stored):
        due = group.stage.due
        assert due is not None
        days = (today - due).days
        if days <= 0:
            continue
        centers = conn.execute(
            sa.select(CENTER.c.id, CENTER.c.name, CENTER.c.municipality).where(
                CENTER.c.roadmap_id == stored.id,
                CENTER.c.cohort == group.cohort,
                CENTER.c.state.in_(group.states),
                CENTER.c.id.not_in(moved_centers(group.stage.stage, stored.id)),
            )
        )
        for center_id, name, municipality in centers:
            entry = late.setdefault(int(center_id), (str(name), str(municipality), []))
            entry[2].append((_ORDER[group.stage.stage], group.stage.stage, due, days))
    for moved in moved_deadlines(conn, stored):  # by the center's own, revised date
        assert moved.stage.due is not None
        days = (today - moved.stage.due).days
        if days > 0:
            row = moved.center
            entry = late.setdefault(int(row.id), (str(row.name), str(row.municipality), []))
            entry[2].append((_ORDER[moved.stage.stage], moved.stage.stage, moved.stage.due, days))
    lines: list[LateCenterLine] = []
    for name, municipality, stages in late.values():
        _, stage, due, days = min(stages, key=lambda s: (s[2], s[0]))
        if days <= after:
            continue
        lines.append(
            LateCenterLine(
                school=shorten(name, _TITLE_LIMIT),
                municipality=municipality,
                stage=STAGE_WHAT.get(stage, stage),
                due=due,
                days=days,
                more=len(stages) - 1,
            )
        )
    lines.sort(key=lambda line: (-line.days, line.municipality, line.school))
    return LongOverdue(lines=tuple(lines[:SILENCED_SHOWN]), total=len(lines))


#: The most marks of the week the summary lists; the rest are counted.
MARKED_SHOWN = 60


@dataclass(frozen=True, kw_only=True)
class WeekMarks:
    """The centers' marks of a week: the first `MARKED_SHOWN` and how many in all."""

    lines: tuple[MarkLine, ...]
    total: int


def week_marks(conn: Connection, stored: StoredRoadmap, *, start: date, end: date) -> WeekMarks:
    """The center transitions with an effective date in ``start``..``end``, in the order
    they were recorded: what each school's notice said, by whom (full name and role, and
    on whose behalf), never the login."""
    rows = list(
        conn.execute(
            sa.select(
                EVENT.c.trigger,
                EVENT.c.from_state,
                EVENT.c.effective_date,
                EVENT.c.actor,
                EVENT.c.on_behalf_of,
                CENTER.c.name,
                CENTER.c.municipality,
            )
            .join(CENTER, CENTER.c.id == EVENT.c.entity_id)
            .where(
                EVENT.c.roadmap_id == stored.id,
                EVENT.c.entity_kind == "center",
                # The stage marks the schools get notices of (not imports, edits, moves).
                EVENT.c.trigger.in_([t.value for t in CenterTrigger]),
                EVENT.c.effective_date >= start,
                EVENT.c.effective_date <= end,
            )
            .order_by(EVENT.c.effective_date, EVENT.c.seq)
        )
    )
    titles: dict[str, str] = {}

    def title(login: str) -> str:
        if login not in titles:
            titles[login] = actor_title(conn, stored.id, login)
        return titles[login]

    lines = []
    for row in rows[:MARKED_SHOWN]:
        who = title(str(row.actor))
        if row.on_behalf_of:
            who += f", от имени: {title(str(row.on_behalf_of))}"
        lines.append(
            MarkLine(
                headline=headline(str(row.trigger), str(row.from_state)),
                school=shorten(str(row.name), _TITLE_LIMIT),
                municipality=str(row.municipality),
                day=row.effective_date,
                who=who,
            )
        )
    return WeekMarks(lines=tuple(lines), total=len(rows))


def queue_weekly_summary(
    engine: Engine, stored: StoredRoadmap, *, today: date, now: datetime, weekly: WeeklyPlan
) -> int:
    """Queue the latest summary due (see the module) unless it exists; 1 if queued, else 0.

    The dashboard is read in one read transaction; the letter is queued in one write
    transaction that first checks the key, so two reconcilers never queue it twice.
    """

    roadmap = stored.definition
    day = summary_day(today, weekly.weekday)
    key = summary_key(roadmap.code, day)
    # The week before the summary's day (whatever day it goes out): consecutive
    # summaries list every effective date once.
    week_start, week_end = day - timedelta(days=7), day - timedelta(days=1)
    with db.read(engine) as conn:
        if conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.key == key)).first() is not None:
            return 0
        data = dashboard.build(conn, stored, now=now)
        long_overdue = silenced_stages(conn, stored, today=data.today)
        marks = week_marks(conn, stored, start=week_start, end=week_end)
        head = journal_head(conn, stored.id)
        bounced = bounced_addresses(conn)
    after = roadmap.reminders.silenced_after()
    counts: dict[str, int] = {}
    for municipality in data.municipalities:
        for state, count in municipality.counts.items():
            counts[state] = counts.get(state, 0) + count
    coordinator = roadmap.party(roadmap.coordinator)
    summary = WeeklySummary(
        key=key,
        recipient=Recipient(
            email=coordinator.email, name=coordinator.name, contact=coordinator.contact
        ),
        reply_to=coordinator.email,
        roadmap_title=roadmap.title,
        signature=roadmap.signature,
        as_of=data.today,
        total_centers=data.total_centers,
        opened_centers=data.opened_centers,
        late_centers=data.late_centers,
        stages=tuple((s.title, counts.get(s.value, 0)) for s in data.stages),
        overdue=tuple(
            SummaryLine(
                title=(
                    f"Мероприятие № {m.measure} ({period_title(m.period)}): "
                    f"{shorten(data.measure_title(m.measure), _TITLE_LIMIT)}"
                ),
                due=m.due,
                days=m.days_late,
                silenced=m.days_late > after,
            )
            for m in sorted(data.overdue, key=lambda m: (-m.days_late, m.measure, m.period))
        ),
        upcoming=tuple(
            SummaryLine(
                # A cycle's detail is the measure's title: it alone may be cut.
                # A stage's detail is a count: «Центры 2021 года начинают этап … — ещё
                # не достигли 2 центров», not a chain of colons.
                title=f"{u.title}: {shorten(u.detail, _TITLE_LIMIT)}"
                if u.kind == "cycle"
                else f"{u.title} — {u.detail}",
                due=u.due,
                days=u.days_left,
            )
            for u in data.upcoming
        ),
        horizon_days=dashboard.HORIZON_DAYS,
        attachment_name=f"svodka-{data.today.isoformat()}.html",
        attachment=dashboard.render_html(data).encode("utf-8"),
        silenced=long_overdue.lines,
        silenced_total=long_overdue.total,
        silenced_rungs=roadmap.reminders.overdue_rungs,
        journal="" if head is None else f"{head[0]}:{head[1]}",
        marked=marks.lines,
        marked_total=marks.total,
        marked_from=week_start,
        marked_to=week_end,
        bounced=tuple(
            (address, local_date(since, stored.definition.timezone)) for address, since in bounced
        ),
    )
    with db.write(engine) as conn:
        queued = queue_summary(conn, summary, now=now, renderer=weekly.renderer)
    return 1 if queued else 0
