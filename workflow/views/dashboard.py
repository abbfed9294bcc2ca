"""The status dashboard: where the centers are, which municipalities are late, what is due.

`build` reads everything in a handful of aggregate queries (no center is loaded one by
one); `write_html` renders one self-contained HTML file (inline CSS and SVG, nothing
fetched from the network, every text escaped by Jinja's autoescape) that reads on a
phone and prints on A4; `write_xlsx` writes the same tables as a workbook, every text as
text, never a formula (`workflow.views.cells`).

A center is *late* when a stage deadline of its cohort (`workflow.roadmap.deadlines`) has
passed and it has not reached that stage; withdrawn centers are never late. The page names
every late center (school, municipality, the stage it missed, days late) and the schools
that owe the indicators of an ended period whose monitoring cycle is open, each school
once with the periods it owes (`workflow.views.quarterly`): the governor's office asks
"which school?", not "how many?".

Numbers agree with their nouns by Russian plural rules (CLDR via babel, `plural`); on a
phone every table becomes cards whose cells carry their column's name; nothing is told by
colour alone (states have shapes and words) and every text is at least 4.5:1 against its
background (WCAG AA). A measure
cycle is *overdue* when it is marked so, or still open after its due date (the
scheduler marks it on its next run).

Over 500 lines: the page's data and its two renderings are one view; they change together
whenever the page does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel import Locale
from sqlalchemy.engine import Connection

from base.clock import local_date, zone_name
from notifications.ics import measure_name, period_text
from states.center import LIFECYCLE, CenterState
from states.center import STATE_TITLES as CENTER_TITLES
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState
from workflow.engine.stage_revisions import moved_stages, revised, schedule_due_by_year
from workflow.roadmap.deadlines import StageDeadline, stage_deadlines
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.indicators import parse_period
from workflow.roadmap.items import items_done, measure_done_text
from workflow.roadmap.store import StoredRoadmap
from workflow.roadmap.workdays import term_end
from workflow.storage.tables import CENTER, CYCLE
from workflow.views import quarterly
from workflow.views.cells import xlsx_row

__all__ = ["Dashboard", "build", "plural", "write_html", "write_xlsx"]

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
#: The mark of a cycle state besides its colour (not by colour alone): a shape, and the
#: state's word in the legend and the tooltip.
CYCLE_SHAPES: dict[str, str] = {
    CycleState.SCHEDULED.value: "ring",
    CycleState.IN_PROGRESS.value: "half",
    CycleState.OVERDUE.value: "alert",
    CycleState.DONE.value: "check",
    CycleState.CANCELLED.value: "cross",
}
_MONTHS = ("янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")


@dataclass(frozen=True, kw_only=True)
class Stage:
    value: str
    title: str
    colour: str

    @property
    def label_lines(self) -> tuple[str, ...]:
        """The title in the funnel's label, in the table's words (never a shorter wording
        of its own): on two lines when one would run into the bar."""
        words = self.title.split()
        if len(self.title) <= _LABEL_CHARS or len(words) < 2:
            return (self.title,)
        # The longest first line that fits; the rest below it.
        for cut in range(len(words) - 1, 0, -1):
            first = " ".join(words[:cut])
            if len(first) <= _LABEL_CHARS:
                return first, " ".join(words[cut:])
        return words[0], " ".join(words[1:])


#: Characters of a 12 px funnel label that fit left of the bar (190 of 470 units).
_LABEL_CHARS = 26


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
class LateCenter:
    """A center past a stage deadline of its cohort without having reached the stage."""

    code: str
    name: str
    municipality: str
    cohort: int
    state_title: str
    stage_title: str  # the stage it missed first
    due: date
    days_late: int


@dataclass(frozen=True, kw_only=True)
class OwedPeriod:
    """An ended period whose indicators a school has not (all) submitted."""

    title: str  # «III квартал 2021 г.»
    due: date
    status: str  # «нет сведений» or «частично»


@dataclass(frozen=True, kw_only=True)
class OwingSchool:
    """A school owing the indicators of one or more ended periods (open monitoring cycles)."""

    code: str
    name: str
    municipality: str
    periods: tuple[OwedPeriod, ...]  # the earliest first

    @property
    def due(self) -> date:
        """The earliest due date of what it owes."""
        return self.periods[0].due


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
    late: tuple[LateCenter, ...] = ()
    owing: tuple[OwingSchool, ...] = ()

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

    @property
    def measure_notes(self) -> list[str]:
        """The small print under the measures: a compound measure's state by its items
        («№ 2: выполнено пунктов: 3 из 4») and the source's footnotes («№ 2, пункт 2.1:
        * …»)."""
        states: dict[int, dict[str, str]] = {}
        for c in self.cycles:
            states.setdefault(c.measure, {})[c.period] = c.state
        notes = []
        for m in self.roadmap.measures:
            if m.items:
                done = items_done(m, states.get(m.number, {}))
                notes.append(f"№ {m.number}: {measure_done_text(done)}")
            notes += [f"№ {m.number}: {mark} {text}" for mark, text in m.footnotes]
            for item in m.items:
                notes += [
                    f"№ {m.number}, пункт {item.number}: {mark} {text}"
                    for mark, text in item.footnotes
                ]
        return notes


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
    schedule = schedule_due_by_year(conn, stored)
    deadlines = {
        cohort: stage_deadlines(roadmap, cohort=cohort, schedule_due=schedule.get(cohort))
        for cohort in {c for _, c, _, _ in groups}
    }
    own = _own_deadlines(conn, stored.id, deadlines)
    cycles = _cycles(conn, stored.id, today)
    return Dashboard(
        roadmap=roadmap,
        today=today,
        generated_at=now,
        stages=stages,
        cohorts=_cohorts(groups, stages),
        municipalities=_municipalities(groups, deadlines, today, own),
        cycles=tuple(cycles),
        upcoming=tuple(_upcoming(roadmap, groups, deadlines, cycles, today, own)),
        late=tuple(_late_centers(conn, stored.id, deadlines, today, own)),
        owing=tuple(_owing_schools(conn, stored, cycles, today, now)),
    )


@dataclass(frozen=True, kw_only=True)
class _Own:
    """A center with a stage deadline moved for it alone (`workflow.engine.stage_revisions`):
    its stage deadlines, the moved ones at their revised dates."""

    code: str
    municipality: str
    cohort: int
    state: str
    deadlines: list[StageDeadline]
    moved: dict[str, date]  # stage → the cohort's date it had first


def _own_deadlines(
    conn: Connection, roadmap_id: int, deadlines: dict[int, list[StageDeadline]]
) -> dict[int, _Own]:
    """Center id → its own stage deadlines, for the centers with a moved stage."""
    moved = moved_stages(conn, roadmap_id)
    if not moved:
        return {}
    ids = sorted({center_id for center_id, _ in moved})
    result: dict[int, _Own] = {}
    for row in conn.execute(
        sa.select(
            CENTER.c.id, CENTER.c.code, CENTER.c.municipality, CENTER.c.cohort, CENTER.c.state
        ).where(CENTER.c.roadmap_id == roadmap_id, CENTER.c.id.in_(ids))
    ):
        mine = {stage: m for (cid, stage), m in moved.items() if cid == row.id}
        result[int(row.id)] = _Own(
            code=str(row.code),
            municipality=str(row.municipality),
            cohort=int(row.cohort),
            state=str(row.state),
            deadlines=revised(deadlines.get(int(row.cohort), []), mine),
            moved={stage: m.earlier[0] for stage, m in mine.items()},
        )
    return result


def _missed(deadlines: list[Any], state: str, today: date) -> bool:
    return any(
        d.due is not None and d.due < today and _ORDER[d.stage] > _ORDER[state] for d in deadlines
    )


def _late_centers(
    conn: Connection,
    roadmap_id: int,
    deadlines: dict[int, list[Any]],
    today: date,
    own: dict[int, _Own] | None = None,
) -> list[LateCenter]:
    """Every late center, the latest first: the one query that reads centers by name.
    A center in ``own`` is judged by its own (moved) deadlines."""
    own = own or {}
    result = []
    rows = conn.execute(
        sa.select(
            CENTER.c.id,
            CENTER.c.code,
            CENTER.c.name,
            CENTER.c.municipality,
            CENTER.c.cohort,
            CENTER.c.state,
        ).where(
            CENTER.c.roadmap_id == roadmap_id,
            CENTER.c.state.not_in([CenterState.WITHDRAWN.value, CenterState.REPORTING.value]),
        )
    )
    for row in rows:
        mine: list[Any] | None = own[int(row.id)].deadlines if int(row.id) in own else None
        missed = [
            d
            for d in (mine if mine is not None else deadlines.get(int(row.cohort), []))
            if d.due is not None and term_end(d.due) < today and _ORDER[d.stage] > _ORDER[row.state]
        ]
        if not missed:
            continue
        first = min(missed, key=lambda d: (d.due, _ORDER[d.stage]))
        result.append(
            LateCenter(
                code=str(row.code),
                name=str(row.name),
                municipality=str(row.municipality),
                cohort=int(row.cohort),
                state_title=CENTER_TITLES[CenterState(row.state)],
                stage_title=CENTER_TITLES[CenterState(first.stage)],
                due=first.due,
                days_late=(today - term_end(first.due)).days,  # Civil Code art. 193
            )
        )
    result.sort(key=lambda c: (-c.days_late, c.municipality, c.name, c.code))
    return result


def _monitoring_measure(roadmap: Roadmap) -> int | None:
    """The measure whose cycles collect the indicators (the reporting stage's)."""
    for rule in roadmap.stages:
        if rule.stage == CenterState.REPORTING.value:
            return rule.measure
    return None


def _owing_schools(
    conn: Connection,
    stored: StoredRoadmap,
    cycles: list[CycleMark],
    today: date,
    now: datetime,
) -> list[OwingSchool]:
    """Each school owing indicators, once, with every period it owes.

    A school owes a period's values once the period has ended (its values cannot exist
    before) while the monitoring cycle of that period is open: a quarter still running
    is never listed, however near its due date.
    """
    measure = _monitoring_measure(stored.definition)
    owed: dict[str, tuple[quarterly.CenterLine, list[OwedPeriod]]] = {}
    for mark in cycles:
        if mark.measure != measure or mark.state not in _OPEN_CYCLE:
            continue
        period = parse_period(mark.period)
        if period is None or period.end >= today:
            continue
        report = quarterly.build(conn, stored, period, generated_at=now)
        for line in report.lines:
            if line.missing:
                entry = owed.setdefault(line.code, (line, []))
                entry[1].append(OwedPeriod(title=period.title, due=mark.due, status=line.status))
    result = [
        OwingSchool(
            code=line.code,
            name=line.name,
            municipality=line.municipality,
            periods=tuple(sorted(periods, key=lambda p: p.due)),
        )
        for line, periods in owed.values()
    ]
    result.sort(key=lambda o: (o.due, o.municipality, o.name, o.code))
    return result


@functools.cache
def _ru() -> Locale:
    return Locale.parse("ru")


def plural(count: int, one: str, few: str, many: str) -> str:
    """The word that agrees with ``count`` (CLDR's Russian rules): plural(21, «центр»,
    «центра», «центров») is «центр», 3 → «центра», 11 → «центров»."""
    form = _ru().plural_form(abs(count))
    return {"one": one, "few": few}.get(form, many)


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
    groups: list[tuple[str, int, str, int]],
    deadlines: dict[int, list[Any]],
    today: date,
    own: dict[int, _Own] | None = None,
) -> tuple[Municipality, ...]:
    per: dict[str, dict[str, int]] = {}
    late: dict[str, int] = {}
    for municipality, cohort, state, count in groups:
        counts = per.setdefault(municipality, {})
        counts[state] = counts.get(state, 0) + count
        late.setdefault(municipality, 0)
        if state == CenterState.WITHDRAWN.value:
            continue
        if _missed(deadlines[cohort], state, today):
            late[municipality] += count
    # A center with a moved stage is late by its own deadlines, not its cohort's.
    for center in (own or {}).values():
        if center.state == CenterState.WITHDRAWN.value:
            continue
        late[center.municipality] += _missed(center.deadlines, center.state, today) - _missed(
            deadlines[center.cohort], center.state, today
        )
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
        overdue = row.state == CycleState.OVERDUE.value or (
            is_open and term_end(row.due_date) < today
        )
        marks.append(
            CycleMark(
                id=row.id,
                measure=row.measure,
                period=row.period,
                due=row.due_date,
                state=row.state,
                state_title=CYCLE_TITLES[CycleState(row.state)],
                overdue=overdue,
                days_late=max((today - term_end(row.due_date)).days, 0) if overdue else 0,
            )
        )
    return marks


def _upcoming(
    roadmap: Roadmap,
    groups: list[tuple[str, int, str, int]],
    deadlines: dict[int, list[Any]],
    cycles: list[CycleMark],
    today: date,
    own: dict[int, _Own] | None = None,
) -> list[Upcoming]:
    horizon = today + timedelta(days=HORIZON_DAYS)
    result: list[Upcoming] = []
    for mark in cycles:
        if mark.state in _OPEN_CYCLE and today <= mark.due <= horizon:
            result.append(
                Upcoming(
                    due=mark.due,
                    kind="cycle",
                    title=measure_name(
                        mark.measure, mark.period, cohort=roadmap.by_cohort(mark.measure)
                    ),
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
    for center in (own or {}).values():
        if center.state == CenterState.WITHDRAWN.value:
            continue
        for d in center.deadlines:
            if d.stage not in center.moved or _ORDER[d.stage] <= _ORDER[center.state]:
                continue
            cohort_due = next(c.due for c in deadlines[center.cohort] if c.stage == d.stage)
            if cohort_due is not None and today <= cohort_due <= horizon:
                owing[(center.cohort, d.stage)] -= 1  # it owes the stage by its own date
            if d.due is not None and today <= d.due <= horizon:
                verb = "начинает этап" if d.starts else "должен достичь этапа"
                result.append(
                    Upcoming(
                        due=d.due,
                        kind="stage",
                        title=f"Центр {center.code} {verb} «{CENTER_TITLES[CenterState(d.stage)]}»",
                        detail=f"срок перенесён с {center.moved[d.stage]:%d.%m.%Y}",
                        days_left=(d.due - today).days,
                    )
                )
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
                    title=f"Центры {cohort} года {verb} «{CENTER_TITLES[CenterState(d.stage)]}»",
                    detail=f"ещё не достигли {count} {plural(count, 'центр', 'центра', 'центров')}",
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
            "shape": "alert" if c.overdue else CYCLE_SHAPES[c.state],
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
        words = []
        for stage in data.stages:
            count = m.counts.get(stage.value, 0)
            if not count:
                continue
            width = 100 * count / m.total
            segments.append(
                {"x": round(x, 2), "width": round(width, 2), "stage": stage, "count": count}
            )
            words.append(f"{stage.title}: {count}")
            x += width
        bars.append({"municipality": m, "segments": segments, "words": "; ".join(words)})
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
    roadmap = data.roadmap
    environment.filters["period"] = lambda period, measure=0: period_text(
        period, cohort=roadmap.by_cohort(measure)
    )
    environment.globals["plural"] = plural
    max_total = max((c.total for c in data.cohorts), default=0)
    zone = ZoneInfo(data.roadmap.timezone)
    return environment.get_template(TEMPLATE).render(
        d=data,
        timeline=_timeline(data),
        bars=_municipality_bars(data),
        max_total=max_total,
        cycle_colours=CYCLE_COLOURS,
        cycle_shapes=CYCLE_SHAPES,
        cycle_titles={s.value: CYCLE_TITLES[s] for s in CycleState},
        horizon=HORIZON_DAYS,
        local_time=f"{data.generated_at.astimezone(zone):%d.%m.%Y %H:%M}",
        zone_name=zone_name(data.generated_at, data.roadmap.timezone),
    )


def write_html(data: Dashboard, path: Path) -> None:
    """Write `render_html` to ``path`` (UTF-8)."""
    path.write_text(render_html(data), encoding="utf-8")


#: Rows above each sheet's table: its title, the "as of" date, a blank row; the header
#: is row `_HEADER_ROW`. The three print on every page (print titles).
_HEADER_ROW = 4


def write_xlsx(data: Dashboard, path: Path) -> None:
    """The dashboard's tables as a workbook, one table per sheet: «Этапы», «Муниципалитеты»,
    «Отстающие центры», «Показатели не сданы», «Мероприятия», «Сроки».

    Every sheet says what it is and its date above its table («По состоянию на» and
    beside it the date as a date cell, ДД.ММ.ГГГГ), and prints on A4: its orientation,
    fitted to the page width, the title, date and header repeated on every page, page
    numbers in the footer. One table per sheet: each
    table begins on a page of its own.
    """
    # Imported here: openpyxl costs ~140 ms at start-up; the HTML page never needs it.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    book.properties.title = f"Сводка «Точка роста» на {data.today:%d.%m.%Y}"
    book.properties.creator = "Tochka"
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDE7F0")
    overdue_font = Font(color="B00020", bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    as_of = f"По состоянию на {data.today:%d.%m.%Y}"

    def sheet(
        title: str,
        headers: list[str],
        widths: list[int],
        *,
        landscape: bool,
        first: bool = False,
        freeze: str = "B",
    ) -> Any:
        ws: Worksheet = book.active if first else book.create_sheet(title)
        ws.title = title
        ws.append(xlsx_row(ws, [f"{title}: центры «Точка роста», {data.roadmap.region}"]))
        ws.append([])
        ws.append([])
        ws["A1"].font = Font(bold=True, size=13)
        _as_of_cells(ws, widths, data.today, bold)
        ws.append(xlsx_row(ws, headers))
        for index, width in enumerate(widths, start=1):
            cell = ws.cell(_HEADER_ROW, index)
            ws.column_dimensions[cell.column_letter].width = width
            cell.font, cell.fill = bold, head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.freeze_panes = f"{freeze}{_HEADER_ROW + 1}"
        ws.print_title_rows = f"1:{_HEADER_ROW}"
        setup = ws.page_setup
        setup.paperSize = ws.PAPERSIZE_A4
        setup.orientation = "landscape" if landscape else "portrait"
        setup.fitToWidth = 1
        setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_margins.left = ws.page_margins.right = 0.5
        ws.page_margins.top = ws.page_margins.bottom = 0.6
        ws.print_options.horizontalCentered = True
        ws.oddFooter.center.text = "Страница &P из &N"
        ws.oddFooter.left.text = as_of
        return ws

    def wrapped(ws: Any, *columns: int) -> None:
        for column in columns:
            ws.cell(ws.max_row, column).alignment = wrap

    stages_ws = sheet(
        "Этапы",
        ["Год создания", "Всего", *(s.title for s in data.stages)],
        [12, 8, *([15] * len(data.stages))],
        landscape=True,
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
        [_fit((m.name for m in data.municipalities), 26), 9, 10, 9, *([14] * len(data.stages))],
        landscape=True,
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
    late_ws = sheet(
        "Отстающие центры",
        [
            "Код",
            "Школа (центр)",
            "Муниципальное образование",
            "Не достигнут этап",
            "Срок",
            "Просрочено, дней",
            "Сейчас",
        ],
        [10, 40, _fit((c.municipality for c in data.late), 26), 18, 11, 11, 16],
        landscape=True,
    )
    for lc in data.late:
        late_ws.append(
            xlsx_row(
                late_ws,
                [
                    lc.code,
                    lc.name,
                    lc.municipality,
                    lc.stage_title,
                    lc.due,
                    lc.days_late,
                    lc.state_title,
                ],
            )
        )
        late_ws.cell(late_ws.max_row, 5).number_format = "DD.MM.YYYY"
        wrapped(late_ws, 2, 3)
    if not data.late:
        late_ws.append(["Отстающих центров нет."])
    owing_ws = sheet(
        "Показатели не сданы",
        [
            "Код",
            "Школа (центр)",
            "Муниципальное образование",
            "Не сданы за период",
            "Срок сдачи (самый ранний)",
            "Сведения",
        ],
        [10, 40, _fit((o.municipality for o in data.owing), 26), 22, 13, 16],
        landscape=True,
    )
    for o in data.owing:
        # One row per school; its periods one a line, their statuses beside them.
        owing_ws.append(
            xlsx_row(
                owing_ws,
                [
                    o.code,
                    o.name,
                    o.municipality,
                    "\n".join(p.title for p in o.periods),
                    o.due,
                    "\n".join(p.status for p in o.periods),
                ],
            )
        )
        owing_ws.cell(owing_ws.max_row, 5).number_format = "DD.MM.YYYY"
        wrapped(owing_ws, 2, 3, 4, 6)
    if not data.owing:
        owing_ws.append(["Школ, не сдавших показатели за истёкшие периоды, нет."])
    cycles_ws = sheet(
        "Мероприятия",
        ["№", "Период", "Срок", "Состояние", "Просрочено, дней", "Мероприятие"],
        [5, _fit((_period(data, c) for c in data.cycles), 12, 30), 12, 16, 12, 70],
        landscape=True,
    )
    for c in data.cycles:
        cycles_ws.append(
            xlsx_row(
                cycles_ws,
                [
                    c.measure,
                    _period(data, c),  # «2021 г.», «III квартал 2021 г.», as the page
                    c.due,
                    c.state_title,
                    c.days_late or None,
                    _short(data.roadmap, c.measure),
                ],
            )
        )
        cycles_ws.cell(cycles_ws.max_row, 3).number_format = "DD.MM.YYYY"
        wrapped(cycles_ws, 6)
        if c.overdue:
            for cell in cycles_ws[cycles_ws.max_row]:
                cell.font = overdue_font
    soon = sheet(
        "Сроки",
        ["Срок", "Осталось дней", "Что", "Подробнее"],
        [12, 10, 50, 60],
        landscape=True,
        freeze="A",
    )
    for u in data.upcoming:
        soon.append(xlsx_row(soon, [u.due, u.days_left, u.title, u.detail]))
        soon.cell(soon.max_row, 1).number_format = "DD.MM.YYYY"
        wrapped(soon, 3, 4)
    if not data.upcoming:
        soon.append([f"В ближайшие {HORIZON_DAYS} дней сроков нет."])
    book.save(path)


AS_OF_LABEL = "По состоянию на"


def _as_of_cells(ws: Any, widths: list[int], today: date, font: Any) -> None:
    """Row 2: the label, and beside it the date as a date cell (ДД.ММ.ГГГГ), each merged
    over as many leading columns as it needs not to be cut (a narrow first column)."""
    from openpyxl.styles import Alignment

    def span(first: int, least: int) -> int:
        last, room = first, widths[first - 1] if first <= len(widths) else least
        while room < least and last < len(widths):
            last += 1
            room += widths[last - 1]
        return last

    label_end = span(1, len(AS_OF_LABEL) + 2)
    date_col = label_end + 1
    date_end = span(date_col, 12)
    for first, last in ((1, label_end), (date_col, date_end)):
        if last > first:
            ws.merge_cells(start_row=2, start_column=first, end_row=2, end_column=last)
    label = ws.cell(2, 1, AS_OF_LABEL)
    stamp = ws.cell(2, date_col, today)
    stamp.number_format = "DD.MM.YYYY"
    label.font = stamp.font = font
    stamp.alignment = Alignment(horizontal="left")


def _fit(texts: Any, least: int, most: int = 60) -> int:
    """A column width (in characters) that fits the longest of ``texts``, within bounds."""
    return max(least, min(most, max((len(t) + 2 for t in texts), default=least)))


def _period(data: Dashboard, cycle: Any) -> str:
    """A cycle's period as the page shows it (a per_cohort cycle by its cohort)."""
    return period_text(cycle.period, cohort=data.roadmap.by_cohort(cycle.measure))
