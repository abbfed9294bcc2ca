"""The status dashboard: where the centers are, which municipalities are late, what is due.

`build` reads everything in a handful of aggregate queries (no center is loaded one by
one); `write_html` renders one self-contained HTML file (inline CSS and SVG, nothing
fetched from the network, every text escaped by Jinja's autoescape) that reads on a
phone and prints on A4; `write_xlsx` writes the same tables as a workbook, every text as
text, never a formula (`workflow.views.cells`).

A center is *late* when a stage deadline of its cohort (`workflow.roadmap.deadlines`) has
passed and it has not reached that stage; withdrawn centers are never late. A measure
cycle is *overdue* when it is marked so, or still open after its due date (the
scheduler marks it on its next run).

Over 500 lines: the page's data and its two renderings are one view; they change together
whenever the page does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import local_date
from states.center import LIFECYCLE, CenterState
from states.center import STATE_TITLES as CENTER_TITLES
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState
from workflow.roadmap.deadlines import stage_deadlines
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, CYCLE
from workflow.views.cells import xlsx_row

__all__ = ["Dashboard", "build", "write_html", "write_xlsx"]

HORIZON_DAYS = 30
TEMPLATE = "dashboard.html.j2"
_ORDER = {s.value: i for i, s in enumerate(LIFECYCLE)}
_OPEN_CYCLE = (CycleState.SCHEDULED.value, CycleState.IN_PROGRESS.value, CycleState.OVERDUE.value)
#: One colour per center state, lifecycle order (light to dark), withdrawn grey.
STAGE_COLOURS: dict[str, str] = {
    CenterState.PLANNED.value: "#c9d7e8",
    CenterState.INFRASTRUCTURE_AGREED.value: "#9fbddf",
    CenterState.EQUIPPED.value: "#6f9fd3",
    CenterState.STAFF_TRAINED.value: "#3f7fc0",
    CenterState.OPENED.value: "#2a9d8f",
    CenterState.REPORTING.value: "#1d6f5f",
    CenterState.WITHDRAWN.value: "#b0b0b0",
}
CYCLE_COLOURS: dict[str, str] = {
    CycleState.SCHEDULED.value: "#9fbddf",
    CycleState.IN_PROGRESS.value: "#e9a23b",
    CycleState.OVERDUE.value: "#c62828",
    CycleState.DONE.value: "#2a9d8f",
    CycleState.CANCELLED.value: "#b0b0b0",
}
_MONTHS = ("янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")


@dataclass(frozen=True, kw_only=True)
class Stage:
    value: str
    title: str
    colour: str

    @property
    def short(self) -> str:
        """The title, shortened to fit a chart label."""
        return _SHORT_TITLES.get(self.value, self.title)


_SHORT_TITLES = {CenterState.INFRASTRUCTURE_AGREED.value: "инфраструктура согласована"}


@dataclass(frozen=True, kw_only=True)
class FunnelStep:
    """Centers of a cohort that reached at least ``stage`` (``current``: are in it now)."""

    stage: Stage
    reached: int
    current: int


@dataclass(frozen=True, kw_only=True)
class Cohort:
    year: int
    total: int
    withdrawn: int
    steps: tuple[FunnelStep, ...]


@dataclass(frozen=True, kw_only=True)
class Municipality:
    name: str
    total: int
    counts: dict[str, int]
    late: int

    @property
    def opened(self) -> int:
        """Centers that have opened (opened or reporting)."""
        return self.counts.get(CenterState.OPENED.value, 0) + self.counts.get(
            CenterState.REPORTING.value, 0
        )

    @property
    def opened_percent(self) -> int:
        active = self.total - self.counts.get(CenterState.WITHDRAWN.value, 0)
        return round(100 * self.opened / active) if active else 0


@dataclass(frozen=True, kw_only=True)
class CycleMark:
    """A measure cycle on the timeline."""

    id: int
    measure: int
    period: str
    due: date
    state: str
    state_title: str
    overdue: bool
    days_late: int


@dataclass(frozen=True, kw_only=True)
class Upcoming:
    """A deadline in the next days: a measure cycle or a cohort's stage."""

    due: date
    kind: str  # "cycle" or "stage"
    title: str
    detail: str
    days_left: int


@dataclass(frozen=True, kw_only=True)
class Dashboard:
    """Everything the dashboard shows, as of ``today``."""

    roadmap: Roadmap
    today: date
    generated_at: datetime
    stages: tuple[Stage, ...]
    cohorts: tuple[Cohort, ...]
    municipalities: tuple[Municipality, ...]
    cycles: tuple[CycleMark, ...]
    upcoming: tuple[Upcoming, ...]

    @property
    def total_centers(self) -> int:
        return sum(c.total for c in self.cohorts)

    @property
    def overdue(self) -> list[CycleMark]:
        return [c for c in self.cycles if c.overdue]

    @property
    def late_centers(self) -> int:
        return sum(m.late for m in self.municipalities)

    @property
    def opened_centers(self) -> int:
        return sum(m.opened for m in self.municipalities)

    def measure_title(self, number: int) -> str:
        try:
            return self.roadmap.measure(number).title
        except KeyError:
            return f"Мероприятие № {number}"


def build(conn: Connection, stored: StoredRoadmap, *, now: datetime) -> Dashboard:
    """Read the dashboard as of ``now`` (its local date in the roadmap's zone)."""
    roadmap = stored.definition
    today = local_date(now, roadmap.timezone)
    stages = tuple(
        Stage(value=s.value, title=CENTER_TITLES[s], colour=STAGE_COLOURS[s.value])
        for s in CenterState
    )
    # (municipality, cohort, state) → count: the only center query.
    groups: list[tuple[str, int, str, int]] = [
        (str(m), int(c), str(s), int(n))
        for m, c, s, n in conn.execute(
            sa.select(CENTER.c.municipality, CENTER.c.cohort, CENTER.c.state, sa.func.count())
            .where(CENTER.c.roadmap_id == stored.id)
            .group_by(CENTER.c.municipality, CENTER.c.cohort, CENTER.c.state)
        )
    ]
    schedule = _schedule_due(conn, stored)
    deadlines = {
        cohort: stage_deadlines(roadmap, cohort=cohort, schedule_due=schedule.get(cohort))
        for cohort in {c for _, c, _, _ in groups}
    }
    cycles = _cycles(conn, stored.id, today)
    return Dashboard(
        roadmap=roadmap,
        today=today,
        generated_at=now,
        stages=stages,
        cohorts=_cohorts(groups, stages),
        municipalities=_municipalities(groups, deadlines, today),
        cycles=tuple(cycles),
        upcoming=tuple(_upcoming(roadmap, groups, deadlines, cycles, today)),
    )


def _schedule_due(conn: Connection, stored: StoredRoadmap) -> dict[int, dict[int, date]]:
    """Cohort year → {by-schedule measure: the latest due date of its cycles that year}.

    The same rule as the reminders' (`workflow.schedule.reminders.schedule_due_by_cohort`).
    """
    measures = sorted({r.measure for r in stored.definition.stages if r.due_month is None})
    result: dict[int, dict[int, date]] = {}
    if not measures:
        return result
    for measure, due in conn.execute(
        sa.select(CYCLE.c.measure, CYCLE.c.due_date).where(
            CYCLE.c.roadmap_id == stored.id,
            CYCLE.c.measure.in_(measures),
            CYCLE.c.state != CycleState.CANCELLED.value,
        )
    ):
        per = result.setdefault(due.year, {})
        per[measure] = max(due, per.get(measure, due))
    return result


def _cohorts(
    groups: list[tuple[str, int, str, int]], stages: tuple[Stage, ...]
) -> tuple[Cohort, ...]:
    per: dict[int, dict[str, int]] = {}
    for _, cohort, state, count in groups:
        counts = per.setdefault(cohort, {})
        counts[state] = counts.get(state, 0) + count
    result = []
    for year in sorted(per):
        counts = per[year]
        steps = []
        for stage in stages[: len(LIFECYCLE)]:
            reached = sum(n for s, n in counts.items() if _ORDER.get(s, -1) >= _ORDER[stage.value])
            steps.append(
                FunnelStep(stage=stage, reached=reached, current=counts.get(stage.value, 0))
            )
        result.append(
            Cohort(
                year=year,
                total=sum(counts.values()),
                withdrawn=counts.get(CenterState.WITHDRAWN.value, 0),
                steps=tuple(steps),
            )
        )
    return tuple(result)


def _municipalities(
    groups: list[tuple[str, int, str, int]], deadlines: dict[int, list[Any]], today: date
) -> tuple[Municipality, ...]:
    per: dict[str, dict[str, int]] = {}
    late: dict[str, int] = {}
    for municipality, cohort, state, count in groups:
        counts = per.setdefault(municipality, {})
        counts[state] = counts.get(state, 0) + count
        late.setdefault(municipality, 0)
        if state == CenterState.WITHDRAWN.value:
            continue
        if any(
            d.due is not None and d.due < today and _ORDER[d.stage] > _ORDER[state]
            for d in deadlines[cohort]
        ):
            late[municipality] += count
    return tuple(
        Municipality(name=name, total=sum(counts.values()), counts=counts, late=late[name])
        # The latest first: those are the ones the governor's office asks about.
        for name, counts in sorted(per.items(), key=lambda item: (-late[item[0]], item[0]))
    )


def _cycles(conn: Connection, roadmap_id: int, today: date) -> list[CycleMark]:
    marks = []
    for row in conn.execute(
        sa.select(CYCLE.c.id, CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date, CYCLE.c.state)
        .where(CYCLE.c.roadmap_id == roadmap_id)
        .order_by(CYCLE.c.due_date, CYCLE.c.measure, CYCLE.c.id)
    ):
        is_open = row.state in _OPEN_CYCLE
        overdue = row.state == CycleState.OVERDUE.value or (is_open and row.due_date < today)
        marks.append(
            CycleMark(
                id=row.id,
                measure=row.measure,
                period=row.period,
                due=row.due_date,
                state=row.state,
                state_title=CYCLE_TITLES[CycleState(row.state)],
                overdue=overdue,
                days_late=max((today - row.due_date).days, 0) if overdue else 0,
            )
        )
    return marks


def _upcoming(
    roadmap: Roadmap,
    groups: list[tuple[str, int, str, int]],
    deadlines: dict[int, list[Any]],
    cycles: list[CycleMark],
    today: date,
) -> list[Upcoming]:
    horizon = today + timedelta(days=HORIZON_DAYS)
    result: list[Upcoming] = []
    for mark in cycles:
        if mark.state in _OPEN_CYCLE and today <= mark.due <= horizon:
            result.append(
                Upcoming(
                    due=mark.due,
                    kind="cycle",
                    title=f"Мероприятие № {mark.measure} ({mark.period})",
                    detail=_short(roadmap, mark.measure),
                    days_left=(mark.due - today).days,
                )
            )
    owing: dict[tuple[int, str], int] = {}
    for _, cohort, state, count in groups:
        if state == CenterState.WITHDRAWN.value:
            continue
        for d in deadlines[cohort]:
            if d.due is not None and today <= d.due <= horizon and _ORDER[d.stage] > _ORDER[state]:
                owing[(cohort, d.stage)] = owing.get((cohort, d.stage), 0) + count
    for cohort, deadlines_of in sorted(deadlines.items()):
        for d in deadlines_of:
            count = owing.get((cohort, d.stage), 0)
            if not count or d.due is None:
                continue
            verb = "начинают этап" if d.starts else "должны достичь этапа"
            result.append(
                Upcoming(
                    due=d.due,
                    kind="stage",
                    title=f"Центры {cohort} года: {verb} «{CENTER_TITLES[CenterState(d.stage)]}»",
                    detail=f"ещё не достигли: {count}",
                    days_left=(d.due - today).days,
                )
            )
    result.sort(key=lambda u: (u.due, u.kind, u.title))
    return result


def _short(roadmap: Roadmap, number: int) -> str:
    try:
        title = roadmap.measure(number).title
    except KeyError:
        return ""
    return title if len(title) <= 140 else title[:137].rstrip() + "…"


# -------------------------------------------------------------------------- charts


@dataclass(frozen=True, kw_only=True)
class _Axis:
    start: date
    end: date
    left: float
    width: float

    def x(self, day: date) -> float:
        span = max((self.end - self.start).days, 1)
        return round(self.left + self.width * (day - self.start).days / span, 1)


def _timeline(data: Dashboard) -> dict[str, Any]:
    """Coordinates of the cycles timeline (an SVG 1000 units wide)."""
    dues = [c.due for c in data.cycles]
    start = min([data.roadmap.period_start, data.today, *dues]).replace(day=1)
    end_day = max([data.roadmap.period_end, data.today, *dues])
    end = date(end_day.year + (end_day.month == 12), end_day.month % 12 + 1, 1)
    axis = _Axis(start=start, end=end, left=70, width=910)
    measures = sorted({m.number for m in data.roadmap.measures} | {c.measure for c in data.cycles})
    row_height, top = 30, 34
    rows = {number: top + index * row_height for index, number in enumerate(measures)}
    ticks = []
    month = start
    while month <= end:
        # No label that would be cut off at the right edge.
        if month.month in (1, 4, 7, 10) and axis.x(month) <= axis.left + axis.width - 24:
            ticks.append(
                {
                    "x": axis.x(month),
                    "label": str(month.year) if month.month == 1 else _MONTHS[month.month - 1],
                    "year": month.month == 1,
                }
            )
        month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    marks = [
        {
            "x": axis.x(c.due),
            "y": rows[c.measure],
            "colour": CYCLE_COLOURS[c.state],
            "cycle": c,
        }
        for c in data.cycles
    ]
    height = top + len(measures) * row_height
    return {
        "rows": [{"number": n, "y": y} for n, y in rows.items()],
        "ticks": ticks,
        "marks": marks,
        "today": axis.x(data.today),
        "height": height,
        "bottom": height - row_height // 2,
        "left": axis.left,
        "right": axis.left + axis.width,
    }


def _municipality_bars(data: Dashboard) -> list[dict[str, Any]]:
    bars = []
    for m in data.municipalities:
        x = 0.0
        segments = []
        for stage in data.stages:
            count = m.counts.get(stage.value, 0)
            if not count:
                continue
            width = 100 * count / m.total
            segments.append(
                {"x": round(x, 2), "width": round(width, 2), "stage": stage, "count": count}
            )
            x += width
        bars.append({"municipality": m, "segments": segments})
    return bars


def render_html(data: Dashboard) -> str:
    """The dashboard as one self-contained HTML document."""
    # Imported here: the XLSX export and the weekly figures need no templates (~45 ms).
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["ru_date"] = lambda d: f"{d:%d.%m.%Y}"
    max_total = max((c.total for c in data.cohorts), default=0)
    zone = ZoneInfo(data.roadmap.timezone)
    return environment.get_template(TEMPLATE).render(
        d=data,
        timeline=_timeline(data),
        bars=_municipality_bars(data),
        max_total=max_total,
        cycle_colours=CYCLE_COLOURS,
        cycle_titles={s.value: CYCLE_TITLES[s] for s in CycleState},
        horizon=HORIZON_DAYS,
        local_time=f"{data.generated_at.astimezone(zone):%d.%m.%Y %H:%M}",
    )


def write_html(data: Dashboard, path: Path) -> None:
    """Write `render_html` to ``path`` (UTF-8)."""
    path.write_text(render_html(data), encoding="utf-8")


def write_xlsx(data: Dashboard, path: Path) -> None:
    """The dashboard's tables as a workbook: «Этапы», «Муниципалитеты», «Мероприятия», «Сроки»."""
    # Imported here: openpyxl costs ~140 ms at start-up; the HTML page never needs it.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDE7F0")
    overdue_font = Font(color="B00020", bold=True)

    def sheet(title: str, headers: list[str], widths: list[int], first: bool = False) -> Any:
        ws = book.active if first else book.create_sheet(title)
        ws.title = title
        ws.append(xlsx_row(ws, headers))
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[ws.cell(1, index).column_letter].width = width
            cell = ws.cell(1, index)
            cell.font, cell.fill = bold, head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.freeze_panes = "B2"
        return ws

    lifecycle = data.stages[: len(LIFECYCLE)]
    stages_ws = sheet(
        "Этапы",
        ["Год создания", "Всего", *(s.title for s in data.stages)],
        [12, 8, *([16] * len(data.stages))],
        first=True,
    )
    for cohort in data.cohorts:
        stages_ws.append(
            [cohort.year, cohort.total, *(step.current for step in cohort.steps), cohort.withdrawn]
        )
    towns = sheet(
        "Муниципалитеты",
        [
            "Муниципальное образование",
            "Центров",
            "Открыто, %",
            "Отстают",
            *(s.title for s in data.stages),
        ],
        [32, 9, 10, 9, *([16] * len(data.stages))],
    )
    for m in data.municipalities:
        towns.append(
            xlsx_row(
                towns,
                [
                    m.name,
                    m.total,
                    m.opened_percent,
                    m.late,
                    *(m.counts.get(s.value, 0) for s in data.stages),
                ],
            )
        )
    del lifecycle
    cycles_ws = sheet(
        "Мероприятия",
        ["№", "Период", "Срок", "Состояние", "Просрочено, дней", "Мероприятие"],
        [5, 12, 12, 16, 12, 90],
    )
    for c in data.cycles:
        cycles_ws.append(
            xlsx_row(
                cycles_ws,
                [
                    c.measure,
                    c.period,
                    c.due,
                    c.state_title,
                    c.days_late or None,
                    _short(data.roadmap, c.measure),
                ],
            )
        )
        cycles_ws.cell(cycles_ws.max_row, 3).number_format = "DD.MM.YYYY"
        if c.overdue:
            for cell in cycles_ws[cycles_ws.max_row]:
                cell.font = overdue_font
    soon = sheet(
        "Сроки",
        ["Срок", "Осталось дней", "Что", "Подробнее"],
        [12, 10, 60, 60],
    )
    for u in data.upcoming:
        soon.append(xlsx_row(soon, [u.due, u.days_left, u.title, u.detail]))
        soon.cell(soon.max_row, 1).number_format = "DD.MM.YYYY"
    if not data.upcoming:
        soon.append([f"В ближайшие {HORIZON_DAYS} дней сроков нет."])
    book.save(path)
