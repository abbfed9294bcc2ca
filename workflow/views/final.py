"""The program's final report: every measure cycle and every center stage, with its verdict.

`build` reads the data as of ``now`` (events whose effective date is on or before that
day) in a few queries; `write_xlsx` and `write_html` lay it out. One line per measure
cycle (number and title, period, due date, when it was done, the verdict, the evidence
recorded and who recorded it) and one line per center stage (code, school, municipality,
cohort, stage, the cohort's deadline for it, when the center reached it, the verdict and
the document it sent). A stage an order moved for one center (`tochka centers reschedule`)
is judged against its revised date, the cohort's date shown beside it. Before the
program's end the report says it is an interim one («промежуточный: программа не
завершена»); nothing here depends on the program being closed.

A cycle the roadmap implies whose term has ended but which the database has no row for
(a database initialised after the program's close, or adopted mid-program without the
earlier history: `tochka init --as-of`, `tochka adopt`) is listed too, as «не выполнено —
нет сведений в базе» (verdict ``not_done``, ``recorded`` false): the report never reads
as a clean program for lack of data. A measure the roadmap file records as done
(``done:``) is listed done on the file's day, with the file's evidence. When a program
that has ended has no cycle in the database at all, the report says so at the top
(`FinalReport.no_data_note`).

Verdicts: «в срок», «с опозданием на N дн.», «не выполнено», «отменено» (a cancelled
cycle; a stage a withdrawn center had not reached when it was withdrawn, if its term had
not ended by then), and, in an interim report, «срок не
наступил» for what is still open before its deadline. A deadline that falls on a
non-working day is met until the end of the next working day (Civil Code, art. 193):
a Saturday deadline met on the Monday is on time, and lateness counts from that Monday.

Every text cell goes through `workflow.views.cells` (never a formula); the HTML is one
self-contained file, Jinja's autoescape on, readable at 390 px and printable on A4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import as_utc, local_date, zone_name
from notifications.ics import measure_name, period_text, shorten
from states.center import LIFECYCLE, CenterState
from states.center import STATE_TITLES as CENTER_TITLES
from states.cycle import CycleState
from workflow.engine.audit import CREATE_TRIGGER
from workflow.engine.evidence import texts as evidence_texts
from workflow.engine.stage_revisions import moved_stages, revised, schedule_due_by_year
from workflow.roadmap.deadlines import stage_deadlines
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.done_text import FILE_DONE_BY, is_file_done
from workflow.roadmap.items import item_of, item_title, items_done, measure_done_text
from workflow.roadmap.recurrence import CycleSpec, scheduled_cycles
from workflow.roadmap.store import StoredRoadmap
from workflow.roadmap.workdays import is_working_day, next_working_day
from workflow.storage.tables import CENTER, CYCLE, EVENT, USER
from workflow.views.cells import xlsx_row
from workflow.views.dashboard import plural

__all__ = [
    "FinalReport",
    "StageLine",
    "CycleLine",
    "Verdict",
    "build",
    "term_end",
    "verdict_of",
    "write_html",
    "write_xlsx",
]

TEMPLATE = "final.html.j2"
MEASURE_SHEET = "Мероприятия"
STAGE_SHEET = "Этапы центров"
SUMMARY_SHEET = "Итоги"
_ORDER = {s.value: i for i, s in enumerate(LIFECYCLE)}


class Verdict(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    NOT_DONE = "not_done"
    CANCELLED = "cancelled"
    PENDING = "pending"
    NO_DEADLINE = "no_deadline"


#: The verdicts' words in totals («в срок: 5 циклов»), in the order they are listed.
VERDICT_TITLES: dict[Verdict, str] = {
    Verdict.ON_TIME: "в срок",
    Verdict.LATE: "с опозданием",
    Verdict.NOT_DONE: "не выполнено",
    Verdict.CANCELLED: "отменено",
    Verdict.PENDING: "срок не наступил",
    Verdict.NO_DEADLINE: "срок не установлен",
}


def term_end(due: date) -> date:
    """The last day of a term due on ``due``: the next working day when ``due`` is not
    one (Civil Code of the Russian Federation, art. 193)."""
    return due if is_working_day(due) else next_working_day(due)


def verdict_of(
    due: date | None, done: date | None, today: date, *, cancelled: bool = False
) -> tuple[Verdict, int]:
    """(verdict, days late) of a deadline ``due`` met on ``done`` (None: not yet), as of
    ``today``."""
    if done is not None:
        if due is None:
            return Verdict.NO_DEADLINE, 0
        late = (done - term_end(due)).days
        return (Verdict.LATE, late) if late > 0 else (Verdict.ON_TIME, 0)
    if cancelled:
        return Verdict.CANCELLED, 0
    if due is None:
        return Verdict.NO_DEADLINE, 0
    if today > term_end(due):
        return Verdict.NOT_DONE, 0
    return Verdict.PENDING, 0


#: The verdict of a cycle the roadmap implies but the database has no row for.
NOT_RECORDED_TEXT = "не выполнено — нет сведений в базе"

#: The note at the top of the report of an ended program with no cycle in the database.
NO_DATA_NOTE = (
    "В базе нет сведений о выполнении: база создана после окончания программы. "
    "Внесите выполненное: tochka init --as-of ДД.ММ.ГГГГ и "
    "tochka adopt --stages ЭТАПЫ.csv --cycles ЦИКЛЫ.csv."
)


def verdict_text(verdict: Verdict, days_late: int) -> str:
    """The verdict as the report prints it: «с опозданием на 3 дн.»."""
    if verdict is Verdict.LATE:
        return f"с опозданием на {days_late} дн."
    return VERDICT_TITLES[verdict]


@dataclass(frozen=True, kw_only=True)
class Record:
    """Who recorded an act, when, and what documents they named."""

    evidence: str = ""
    recorded_by: str = ""
    recorded_at: str = ""


@dataclass(frozen=True, kw_only=True)
class CycleLine:
    #: None: a cycle the roadmap implies that the database has no row for.
    cycle_id: int | None
    measure: int
    title: str
    period: str
    due: date
    done: date | None
    verdict: Verdict
    days_late: int
    record: Record = field(default_factory=Record)
    #: The source's footnotes on the measure's (or its item's) texts: «* текст» each.
    footnotes: tuple[str, ...] = ()
    #: The cycle named in a sentence: «Мероприятие № 9 за II квартал 2023 г.»,
    #: «Мероприятие № 2, пункт 2.3», «Мероприятие № 15 (центр N1)» (`measure_name`).
    name: str = ""
    #: False: the database has no record of this cycle (`NOT_RECORDED_TEXT`).
    recorded: bool = True

    @property
    def verdict_text(self) -> str:
        if not self.recorded and self.verdict is Verdict.NOT_DONE:
            return NOT_RECORDED_TEXT
        return verdict_text(self.verdict, self.days_late)


@dataclass(frozen=True, kw_only=True)
class StageLine:
    code: str
    name: str
    municipality: str
    cohort: int
    stage: str
    stage_title: str
    due: date | None
    done: date | None
    verdict: Verdict
    days_late: int
    record: Record = field(default_factory=Record)
    #: The cohort's date, when an order moved this center's stage (``due`` is the revised
    #: one, which the verdict is judged against).
    original_due: date | None = None

    @property
    def verdict_text(self) -> str:
        return verdict_text(self.verdict, self.days_late)


@dataclass(frozen=True, kw_only=True)
class MeasureTotal:
    number: int
    title: str
    counts: dict[Verdict, int]
    #: A compound measure's state by its items («выполнено пунктов: 3 из 4»); empty else.
    items_text: str = ""


@dataclass(frozen=True, kw_only=True)
class FinalReport:
    roadmap: Roadmap
    today: date
    generated_at: datetime
    cycles: tuple[CycleLine, ...]
    stages: tuple[StageLine, ...]
    #: Compound measures' states by their items, by measure number (`items.items_done`).
    items_text: Mapping[int, str] = field(default_factory=dict)
    #: The database holds no cycle at all (the lines, if any, are all implied ones).
    no_cycles_recorded: bool = False

    @property
    def no_data_note(self) -> str:
        """`NO_DATA_NOTE` for an ended program with no cycle in the database; else ""."""
        return NO_DATA_NOTE if self.no_cycles_recorded and not self.interim else ""

    @property
    def interim(self) -> bool:
        """The program's period has not ended yet."""
        return self.today <= self.roadmap.period_end

    @property
    def title(self) -> str:
        base = "Итоговый отчёт о выполнении дорожной карты"
        return f"{base} (промежуточный: программа не завершена)" if self.interim else base

    @property
    def as_of(self) -> str:
        return f"По состоянию на {self.today:%d.%m.%Y}"

    @property
    def cycle_totals(self) -> dict[Verdict, int]:
        return _count(line.verdict for line in self.cycles)

    @property
    def stage_totals(self) -> dict[Verdict, int]:
        return _count(line.verdict for line in self.stages)

    @property
    def measures(self) -> list[MeasureTotal]:
        numbers = sorted(
            {m.number for m in self.roadmap.measures} | {c.measure for c in self.cycles}
        )
        return [
            MeasureTotal(
                number=n,
                title=_measure_title(self.roadmap, n),
                counts=_count(c.verdict for c in self.cycles if c.measure == n),
                items_text=self.items_text.get(n, ""),
            )
            for n in numbers
        ]

    @property
    def problems(self) -> list[CycleLine | StageLine]:
        """The late and not-done lines, cycles first."""
        bad = (Verdict.LATE, Verdict.NOT_DONE)
        return [c for c in self.cycles if c.verdict in bad] + [
            s for s in self.stages if s.verdict in bad
        ]


def _count(verdicts: Any) -> dict[Verdict, int]:
    counts = dict.fromkeys(Verdict, 0)
    for v in verdicts:
        counts[v] += 1
    return counts


def _measure_title(roadmap: Roadmap, number: int) -> str:
    try:
        return roadmap.measure(number).title
    except KeyError:
        return f"Мероприятие № {number}"


def build(conn: Connection, stored: StoredRoadmap, *, now: datetime) -> FinalReport:
    """Read the report as of ``now`` (its local date in the roadmap's zone)."""
    roadmap = stored.definition
    zone = roadmap.timezone
    today = local_date(now, zone)
    names = {
        str(login): str(full_name)
        for login, full_name in conn.execute(
            sa.select(USER.c.login, USER.c.full_name).where(USER.c.roadmap_id == stored.id)
        )
        if full_name
    }
    events: dict[tuple[str, int], list[Any]] = {}
    for event_row in conn.execute(
        sa.select(
            EVENT.c.entity_kind,
            EVENT.c.entity_id,
            EVENT.c.trigger,
            EVENT.c.from_state,
            EVENT.c.to_state,
            EVENT.c.actor,
            EVENT.c.on_behalf_of,
            EVENT.c.recorded_at,
            EVENT.c.effective_date,
            EVENT.c.evidence,
            EVENT.c.comment,
        )
        .where(
            EVENT.c.roadmap_id == stored.id,
            EVENT.c.entity_kind.in_(("center", "cycle")),
            EVENT.c.effective_date <= today,
        )
        .order_by(EVENT.c.seq)
    ):
        events.setdefault((str(event_row.entity_kind), int(event_row.entity_id)), []).append(
            event_row
        )

    def record(event: Any, kinds: Mapping[str, str]) -> Record:
        evidence = evidence_texts(event.evidence)  # the files by name, not their records
        parts = [f"{kinds[k]}: {v}" if k in kinds else str(v) for k, v in evidence.items() if v]
        if event.comment:
            parts.append(f"комментарий: {event.comment}")
        if is_file_done(event.comment):
            who = FILE_DONE_BY  # the file's own record, whoever ran the tick
        else:
            who = _person(str(event.actor), names)
            if event.on_behalf_of:
                who += f" от имени {_person(str(event.on_behalf_of), names)}"
        at = as_utc(event.recorded_at).astimezone(ZoneInfo(zone))
        return Record(evidence="; ".join(parts), recorded_by=who, recorded_at=f"{at:%d.%m.%Y}")

    kinds = {k.id: k.name for k in roadmap.evidence_kinds}
    cycles: list[CycleLine] = []
    states: dict[int, dict[str, str]] = {}
    stored_periods: set[tuple[int, str]] = set()
    for row in conn.execute(
        sa.select(CYCLE.c.id, CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date)
        .where(CYCLE.c.roadmap_id == stored.id)
        .order_by(CYCLE.c.measure, CYCLE.c.due_date, CYCLE.c.id)
    ):
        stored_periods.add((int(row.measure), str(row.period)))
        history = events.get(("cycle", int(row.id)), [])
        if not any(e.trigger == CREATE_TRIGGER for e in history):
            continue  # created after the report's date
        state = history[-1].to_state
        # The act that closed it (a later event that keeps the state, such as an
        # amendment's revision, is not).
        last = next(
            (e for e in reversed(history) if e.to_state == state and e.from_state != state),
            history[-1],
        )
        done = last.effective_date if state == CycleState.DONE.value else None
        cancelled = state == CycleState.CANCELLED.value
        verdict, days = verdict_of(row.due_date, done, today, cancelled=cancelled)
        states.setdefault(int(row.measure), {})[str(row.period)] = state
        cycles.append(
            CycleLine(
                cycle_id=int(row.id),
                measure=int(row.measure),
                title=_cycle_title(roadmap, int(row.measure), str(row.period)),
                footnotes=_footnotes(roadmap, int(row.measure), str(row.period)),
                period=period_text(str(row.period), cohort=roadmap.by_cohort(int(row.measure))),
                name=measure_name(
                    int(row.measure), str(row.period), cohort=roadmap.by_cohort(int(row.measure))
                ),
                due=row.due_date,
                done=done,
                verdict=verdict,
                days_late=days,
                record=record(last, kinds) if done or cancelled else Record(),
            )
        )

    implied = [
        _implied_line(roadmap, spec, today, kinds)
        for spec in scheduled_cycles(roadmap, as_of=today)
        if (spec.measure, spec.period) not in stored_periods
    ]
    if any(line is not None for line in implied):
        cycles = sorted(
            [*cycles, *(line for line in implied if line is not None)],
            key=lambda c: (c.measure, c.due),
        )

    schedule = schedule_due_by_year(conn, stored)
    moved = moved_stages(conn, stored.id)
    deadlines: dict[int, list[Any]] = {}
    stages: list[StageLine] = []
    for center in conn.execute(
        sa.select(CENTER.c.id, CENTER.c.code, CENTER.c.name, CENTER.c.municipality, CENTER.c.cohort)
        .where(CENTER.c.roadmap_id == stored.id)
        .order_by(CENTER.c.cohort, CENTER.c.municipality, CENTER.c.name, CENTER.c.code)
    ):
        history = events.get(("center", int(center.id)), [])
        if not history:
            continue  # imported after the report's date
        cohort = int(center.cohort)
        if cohort not in deadlines:
            deadlines[cohort] = stage_deadlines(
                roadmap, cohort=cohort, schedule_due=schedule.get(cohort)
            )
        reached, withdrawal = _replay(history)
        mine = {stage: m for (cid, stage), m in moved.items() if cid == int(center.id)}
        for deadline in revised(deadlines[cohort], mine):
            event = reached.get(deadline.stage)
            done = event.effective_date if event is not None else None
            # Withdrawn before the stage's term ended: the stage is cancelled; after it,
            # the stage had already been missed.
            cancelled = withdrawal is not None and (
                deadline.due is None or withdrawal.effective_date <= term_end(deadline.due)
            )
            verdict, days = verdict_of(deadline.due, done, today, cancelled=cancelled)
            shown = event if event is not None else withdrawal
            stages.append(
                StageLine(
                    code=str(center.code),
                    name=str(center.name),
                    municipality=str(center.municipality),
                    cohort=cohort,
                    stage=deadline.stage,
                    stage_title=CENTER_TITLES[CenterState(deadline.stage)],
                    due=deadline.due,
                    done=done,
                    verdict=verdict,
                    days_late=days,
                    record=record(shown, kinds) if shown is not None else Record(),
                    original_due=mine[deadline.stage].earlier[0]
                    if deadline.stage in mine
                    else None,
                )
            )
    items_text = {
        m.number: measure_done_text(items_done(m, states.get(m.number, {})))
        for m in roadmap.measures
        if m.items
    }
    return FinalReport(
        roadmap=roadmap,
        today=today,
        generated_at=now,
        cycles=tuple(cycles),
        stages=tuple(stages),
        items_text=items_text,
        no_cycles_recorded=not stored_periods,
    )


def _implied_line(
    roadmap: Roadmap, spec: CycleSpec, today: date, kinds: Mapping[str, str]
) -> CycleLine | None:
    """The line of a cycle the roadmap implies that the database has no row for: done on
    the file's day when the file records the measure done (``done:``), else not done —
    no record in the database — once its term has ended (None before: not due yet)."""
    measure = roadmap.measure(spec.measure)
    file_done = measure.done
    if file_done is not None:
        done: date | None = file_done.on
        verdict, days = verdict_of(spec.due, file_done.on, today)
        evidence = "; ".join(
            f"{kinds.get(kind, kind)}: {text}" for kind, text in file_done.evidence if text
        )
        record = Record(evidence=evidence, recorded_by=FILE_DONE_BY)
    elif today > term_end(spec.due):
        done, verdict, days, record = None, Verdict.NOT_DONE, 0, Record()
    else:
        return None
    return CycleLine(
        cycle_id=None,
        measure=spec.measure,
        title=_cycle_title(roadmap, spec.measure, spec.period),
        footnotes=_footnotes(roadmap, spec.measure, spec.period),
        period=period_text(spec.period, cohort=roadmap.by_cohort(spec.measure)),
        name=measure_name(spec.measure, spec.period, cohort=roadmap.by_cohort(spec.measure)),
        due=spec.due,
        done=done,
        verdict=verdict,
        days_late=days,
        record=record,
        recorded=False,
    )


def _cycle_title(roadmap: Roadmap, number: int, period: str) -> str:
    """The measure's title, or its item's for an item's cycle, read as a whole phrase
    («2.3. Утверждение показателей деятельности …», `item_title`)."""
    try:
        measure = roadmap.measure(number)
    except KeyError:
        return f"Мероприятие № {number}"
    item = item_of(measure, period)
    return f"{item.number}. {item_title(measure, item)}" if item is not None else measure.title


def _footnotes(roadmap: Roadmap, number: int, period: str) -> tuple[str, ...]:
    """The footnotes a cycle's texts carry: the measure's, then its item's."""
    try:
        measure = roadmap.measure(number)
    except KeyError:
        return ()
    item = item_of(measure, period)
    notes = (*measure.footnotes, *(item.footnotes if item is not None else ()))
    return tuple(f"{mark} {text}" for mark, text in notes)


def _replay(history: list[Any]) -> tuple[dict[str, Any], Any]:
    """From a center's events (in order): the event by which it holds each stage it has
    reached, and its withdrawal (None unless it is withdrawn now). A revert drops the
    stages past the state it returns to."""
    reached: dict[str, Any] = {}
    withdrawal = None
    for event in history:
        state = str(event.to_state)
        if state == CenterState.WITHDRAWN.value:
            withdrawal = event
            continue
        withdrawal = None
        for stage in [s for s in reached if _ORDER[s] > _ORDER[state]]:
            del reached[stage]
        source = event.from_state
        if source == CenterState.WITHDRAWN.value or _ORDER[state] == 0:
            continue  # back from a withdrawal: the stages keep their dates
        if source is None or _ORDER.get(str(source), -1) < _ORDER[state]:
            reached[state] = event
    return reached, withdrawal


def _person(login: str, names: Mapping[str, str]) -> str:
    name = names.get(login)
    return f"{name} ({login})" if name else login


# ------------------------------------------------------------------------------ HTML


def render_html(report: FinalReport) -> str:
    """The report as one self-contained HTML document."""
    # Imported here: the XLSX needs no templates (~45 ms).
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["ru_date"] = lambda d: f"{d:%d.%m.%Y}" if d else "—"
    environment.globals["plural"] = plural
    zone = ZoneInfo(report.roadmap.timezone)
    return environment.get_template(TEMPLATE).render(
        r=report,
        verdicts=list(Verdict),
        titles=VERDICT_TITLES,
        local_time=f"{report.generated_at.astimezone(zone):%d.%m.%Y %H:%M}",
        zone_name=zone_name(report.generated_at, report.roadmap.timezone),
    )


def write_html(report: FinalReport, path: Path) -> None:
    """Write `render_html` to ``path`` (UTF-8)."""
    path.write_text(render_html(report), encoding="utf-8")


# ------------------------------------------------------------------------------ XLSX

#: Rows above each table: the report's title, the decree, «По состоянию на», a blank row
#: (`FinalReport.no_data_note` when the database has no cycle of an ended program);
#: the header is row `HEADER_ROW`. All four print on every page (print titles).
HEADER_ROW = 5


def write_xlsx(report: FinalReport, path: Path) -> None:
    """The report as a workbook: «Итоги» (totals per verdict, per measure), «Мероприятия»
    (one row per measure cycle), «Этапы центров» (one row per center stage). Each sheet
    prints on A4 landscape, fitted to the page width, its title rows on every page."""
    # Imported here: openpyxl costs ~140 ms at start-up; the HTML page never needs it.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    book.properties.title = f"{report.title}, {report.today:%d.%m.%Y}"
    book.properties.creator = "Tochka"
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDE7F0")
    bad_font = Font(color="B00020", bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")

    def sheet(title: str, headers: list[str], widths: list[int], *, first: bool = False) -> Any:
        ws = book.active if first else book.create_sheet(title)
        ws.title = title
        ws.append(xlsx_row(ws, [f"{report.title}: {title.lower()}"]))
        ws.append(xlsx_row(ws, [f"{report.roadmap.decree}, {report.roadmap.region}"]))
        ws.append(xlsx_row(ws, [report.as_of]))
        ws.append(xlsx_row(ws, [report.no_data_note]) if report.no_data_note else [])
        ws["A1"].font = Font(bold=True, size=13)
        ws["A3"].font = bold
        ws["A4"].font = bad_font
        ws.append(xlsx_row(ws, headers))
        for index, width in enumerate(widths, start=1):
            cell = ws.cell(HEADER_ROW, index)
            ws.column_dimensions[cell.column_letter].width = width
            cell.font, cell.fill = bold, head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.row_dimensions[HEADER_ROW].height = 32
        ws.freeze_panes = f"A{HEADER_ROW + 1}"
        ws.print_title_rows = f"1:{HEADER_ROW}"
        setup = ws.page_setup
        setup.paperSize = ws.PAPERSIZE_A4
        setup.orientation = "landscape"
        setup.fitToWidth = 1
        setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_margins.left = ws.page_margins.right = 0.5
        ws.page_margins.top = ws.page_margins.bottom = 0.6
        ws.print_options.horizontalCentered = True
        ws.oddFooter.center.text = "Страница &P из &N"
        ws.oddFooter.left.text = report.as_of
        return ws

    def finish_row(ws: Any, dates: tuple[int, ...], wrapped: tuple[int, ...], bad: bool) -> None:
        for column in dates:
            ws.cell(ws.max_row, column).number_format = "DD.MM.YYYY"
        lines = 1
        for cell in ws[ws.max_row]:
            cell.alignment = top
        for column in wrapped:
            cell = ws.cell(ws.max_row, column)
            cell.alignment = wrap
            lines = max(lines, _lines(cell.value, ws.column_dimensions[cell.column_letter].width))
        # Neither Excel nor LibreOffice grows a row for wrapped text openpyxl wrote: the
        # height is set here, from the text's length and the column's width.
        ws.row_dimensions[ws.max_row].height = 14.5 * lines + 2
        if bad:
            ws.cell(ws.max_row, dates[-1] + 1).font = bad_font

    shown = [v for v in Verdict if report.cycle_totals[v] or report.stage_totals[v]] or [
        Verdict.ON_TIME
    ]
    summary = sheet(
        SUMMARY_SHEET,
        ["№", "Мероприятие / этапы центров", "Всего", *(VERDICT_TITLES[v] for v in shown)],
        [5, 70, 8, *([13] * len(shown))],
        first=True,
    )
    for total in report.measures:
        summary.append(
            xlsx_row(
                summary,
                [
                    total.number,
                    f"{total.title} ({total.items_text})" if total.items_text else total.title,
                    sum(total.counts.values()),
                    *(total.counts[v] for v in shown),
                ],
            )
        )
        for cell in summary[summary.max_row]:
            cell.alignment = top
        summary.cell(summary.max_row, 2).alignment = wrap
        summary.row_dimensions[summary.max_row].height = 14.5 * _lines(total.title, 70) + 2
    for label, counts in (
        ("Все циклы мероприятий", report.cycle_totals),
        ("Все этапы центров", report.stage_totals),
    ):
        summary.append(
            xlsx_row(summary, [None, label, sum(counts.values()), *(counts[v] for v in shown)])
        )
        for cell in summary[summary.max_row]:
            cell.font = bold

    measures = sheet(
        MEASURE_SHEET,
        ["№", "Мероприятие", "Период", "Срок", "Выполнено", "Итог", "Документы", "Кем внесено"],
        [5, 48, 16, 11, 11, 22, 48, 24],
    )
    for c in report.cycles:
        measures.append(
            xlsx_row(
                measures,
                [
                    c.measure,
                    "\n".join((shorten(c.title, 150), *c.footnotes)),
                    c.period,
                    c.due,
                    c.done,
                    c.verdict_text,
                    c.record.evidence,
                    _who(c.record),
                ],
            )
        )
        finish_row(measures, (4, 5), (2, 6, 7, 8), c.verdict in (Verdict.LATE, Verdict.NOT_DONE))
    if not report.cycles:
        measures.append(["Циклов мероприятий нет."])

    stages = sheet(
        STAGE_SHEET,
        [
            "Код",
            "Школа (центр)",
            "Муниципальное образование",
            "Год",
            "Этап",
            "Срок",
            "Выполнено",
            "Итог",
            "Документы",
            "Кем внесено",
            "Срок перенесён с",
        ],
        [9, 30, 22, 7, 20, 11, 11, 22, 40, 22, 11],
    )
    for s in report.stages:
        stages.append(
            xlsx_row(
                stages,
                [
                    s.code,
                    s.name,
                    s.municipality,
                    s.cohort,
                    s.stage_title,
                    s.due,
                    s.done,
                    s.verdict_text,
                    s.record.evidence,
                    _who(s.record),
                    s.original_due,
                ],
            )
        )
        bad = s.verdict in (Verdict.LATE, Verdict.NOT_DONE)
        finish_row(stages, (6, 7), (2, 3, 5, 8, 9, 10), bad)
        stages.cell(stages.max_row, 11).number_format = "DD.MM.YYYY"
    if not report.stages:
        stages.append(["Центров нет."])
    book.save(path)


def _lines(text: Any, width: float) -> int:
    """About how many lines ``text`` takes wrapped in a column ``width`` characters wide."""
    if not isinstance(text, str) or not text:
        return 1
    per_line = max(int(width) - 2, 8)
    return sum(max(1, -(-len(part) // per_line)) for part in text.split("\n"))


def _who(record: Record) -> str:
    if not record.recorded_at:
        return record.recorded_by
    return f"{record.recorded_by}, внесено {record.recorded_at}" if record.recorded_by else ""
