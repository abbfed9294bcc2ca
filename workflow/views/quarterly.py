"""The quarterly report to the federal operator (measure 9): data, XLSX and CSV.

One line per center that is due to report for the quarter (see `workflow.engine.indicators`)
or has values for it: code, name, municipality, cohort, state, every indicator (the
per-quarter ones for the quarter, the per-year ones for its year), whether the targets
are met («да»; «нет» when a value is below its target; «нет сведений» when a value
with a target the period requires is missing), and whether the values are in. A summary
by municipality and for the region follows (XLSX only: CSV is one table, the centers).

XLSX: sheets «Центры», «Итоги», «Показатели». Above each table, as in the status XLSX
(`workflow.views.dashboard`): row 1 the report's title, row 2 «Сформирован: 06.10.2021
17:35 МСК», a date cell holding ``generated_at`` on the roadmap's clock, row 3 blank; the
header is row `HEADER_ROW`, frozen, wrapped, as tall as its longest title needs. Name and
municipality columns as wide as the longest name (within bounds, wrapped beyond); number
formats set (counts ``#,##0``, shares ``0.0``); every sheet prints on A4 landscape, fitted
to the page width, rows 1 to `HEADER_ROW` (what, when, the header) on every page.
Periods are named as people read them: «(IV квартал 2021 г.)», «(2021 г.)».
CSV: UTF-8 with BOM, ``;``-separated, decimal comma: what Excel with Russian settings
opens without a wizard.

Every text is written as data, never as a formula (`workflow.views.cells`): the names come
from files people give us, and the report goes to the federal operator.

openpyxl is imported inside the XLSX writers: it costs ~140 ms at start-up and the CSV
report never needs it.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import as_utc, zone_name
from notifications.ics import period_text
from states.center import STATE_TITLES
from workflow.engine.indicators import Period, is_due, opened_on_query, required_indicators
from workflow.roadmap.definition import (
    PERIOD_TITLES,
    UNIT_TITLES,
    Indicator,
    IndicatorUnit,
    Roadmap,
)
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, VALUE
from workflow.views.cells import csv_text, xlsx_row, xlsx_typed

__all__ = [
    "CENTER_SHEET",
    "GENERATED_LABEL",
    "HEADER_ROW",
    "INDICATOR_SHEET",
    "SUMMARY_SHEET",
    "CenterLine",
    "QuarterlyReport",
    "SummaryLine",
    "build",
    "write_csv",
    "write_xlsx",
]

CENTER_SHEET = "Центры"
SUMMARY_SHEET = "Итоги"
INDICATOR_SHEET = "Показатели"

STATUS_COMPLETE = "представлены"
STATUS_PARTIAL = "частично"
STATUS_MISSING = "нет сведений"
YES, NO = "да", "нет"

#: Rows above each sheet's table: its title, «Сформирован:» and the time, a blank row; the
#: header is row `HEADER_ROW`. The four print on every page (print titles).
HEADER_ROW = 4
GENERATED_LABEL = "Сформирован:"
#: The date cell's format: the day and the time of day (the report says when it was made).
GENERATED_FORMAT = "DD.MM.YYYY HH:MM"

COUNT_FORMAT = "#,##0"
SHARE_FORMAT = "0.0"

_FIXED_HEADERS = ("Код", "Наименование", "Муниципальное образование", "Год создания", "Состояние")
_TAIL_HEADERS = ("Цели достигнуты", "Сведения")
_FIXED_WIDTHS = (12, 44, 28, 9, 18)
_INDICATOR_WIDTH = 20
_TAIL_WIDTHS = (14, 14)
#: Column widths (characters) a name or municipality column may take: beyond, it wraps.
_NAME_WIDTHS = (30, 60)
_TOWN_WIDTHS = (20, 60)
#: Points per line of an 11 pt header, and around it.
_LINE_POINTS, _PAD_POINTS = 15.0, 6.0


class CenterLine(NamedTuple):
    """One center's line: its facts, a value per report column (None: not submitted).

    ``targets_met`` is True when every targeted value the period requires is in and
    none is below its target, False when a value is below its target, None when it is
    unknown (a required targeted value is missing, or no targeted value is in).

    A named tuple, not a dataclass: a report has a line per center (20,000 and more)
    and a frozen dataclass takes ten times as long to make.
    """

    code: str
    name: str
    municipality: str
    cohort: int
    state: str
    values: tuple[float | None, ...]
    targets_met: bool | None
    status: str
    due: bool

    @property
    def missing(self) -> bool:
        """Due and lacking a required value."""
        return self.status in (STATUS_PARTIAL, STATUS_MISSING)


@dataclass(frozen=True, kw_only=True)
class SummaryLine:
    """Totals of a municipality (or the region): counts, sums of counts, mean shares."""

    name: str
    centers: int
    complete: int
    missing: int
    targets_met: int
    values: tuple[float | None, ...]


@dataclass(frozen=True, kw_only=True)
class QuarterlyReport:
    """The report's data, ready for a writer."""

    roadmap: Roadmap
    period: Period
    generated_at: datetime
    columns: tuple[tuple[Indicator, str], ...]
    lines: tuple[CenterLine, ...]

    @functools.cached_property  # the XLSX's «Итоги» only: the CSV never reads it
    def summary(self) -> tuple[SummaryLine, ...]:
        """A line per municipality (by name), then the region's."""
        return _summary(self.roadmap, self.columns, self.lines)

    @property
    def empty(self) -> bool:
        return not self.lines

    @property
    def empty_text(self) -> str:
        return (
            f"Нет данных за {self.period.title}: ни один центр не должен был отчитываться "
            "и сведений за этот период нет."
        )

    @property
    def title(self) -> str:
        """«Мониторинг показателей центров «Точка роста» — IV квартал 2021 г.»."""
        return f"Мониторинг показателей центров «Точка роста» — {self.period.title}"

    @property
    def headers(self) -> list[str]:
        return [
            *_FIXED_HEADERS,
            *(_indicator_header(i, label) for i, label in self.columns),
            *_TAIL_HEADERS,
        ]

    @functools.cached_property  # asked once per row by the writers
    def has_targets(self) -> bool:
        """Whether any report column has a target (else the targets column stays empty)."""
        return any(i.target is not None for i, _ in self.columns)

    def targets_text(self, line: CenterLine) -> str:
        """The «Цели достигнуты» cell: «да», «нет», «нет сведений» (or empty: no targets)."""
        if line.targets_met is None:
            return STATUS_MISSING if self.has_targets else ""
        return _YES_NO[line.targets_met]

    def csv_rows(self) -> Iterator[list[Any]]:
        """The CSV table, header first: texts, and whole numbers the csv module writes.

        A text from the data (headers name the roadmap's indicators) that would be read as
        a formula begins with «'» (`workflow.views.cells.csv_text`); the other texts are
        Tochka's own words, and the numbers stay numbers.
        """
        yield [csv_text(header) for header in self.headers]
        shares = [
            index for index, (i, _) in enumerate(self.columns) if i.unit is IndicatorUnit.PERCENT
        ]
        targets = {True: YES, False: NO, None: STATUS_MISSING if self.has_targets else ""}
        for line in self.lines:
            # Counts are ints already (see `build`) and None is written empty: only
            # shares need the decimal comma.
            values: Sequence[Any] = line.values
            if shares:
                values = list(values)
                for index in shares:
                    if values[index] is not None:
                        values[index] = _share_text(values[index])
            yield [
                csv_text(line.code),
                csv_text(line.name),
                csv_text(line.municipality),
                line.cohort,
                line.state,
                *values,
                targets[line.targets_met],
                line.status,
            ]


def _indicator_header(indicator: Indicator, label: str) -> str:
    """«<name>, <unit> (IV квартал 2021 г.)» or «… (2021 г.)»: the period as people read it."""
    return f"{indicator.name}, {UNIT_TITLES[indicator.unit]} ({period_text(label)})"


_YES_NO: dict[bool | None, str] = {None: "", True: YES, False: NO}


def _yes_no(value: bool | None) -> str:
    return _YES_NO[value]


def _share_text(value: float) -> str:
    if value.is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").replace(".", ",")


def build(
    conn: Connection, stored: StoredRoadmap, period: Period, *, generated_at: datetime
) -> QuarterlyReport:
    """Read the report for ``period`` (a quarter) in one query (`_lines_query`): the
    database joins each center to its opening day and to its latest values, one column
    each; Python only derives a line's targets and status."""
    roadmap = stored.definition
    columns = tuple(
        (i, period.label if i.period.value == "quarter" else period.year_label)
        for i in roadmap.indicators
    )
    required = {(i.code, label) for i, label in required_indicators(roadmap, period)}
    targeted = [index for index, (i, _) in enumerate(columns) if i.target is not None]
    required_index = [
        index for index, (i, label) in enumerate(columns) if (i.code, label) in required
    ]
    counts = [i.unit is not IndicatorUnit.PERCENT for i, _ in columns]
    lines: list[CenterLine] = []
    append = lines.append
    for code, name, municipality, cohort, state, opened_on, *found in conn.execute(
        _lines_query(stored.id, columns, period)
    ):
        due = is_due(state, opened_on, period)
        # Counts as ints: written as "120", not "120.0", by every writer.
        row = tuple(
            [
                None if value is None else int(value) if whole else value
                for value, whole in zip(found, counts, strict=True)
            ]
        )
        if not due and row.count(None) == len(row):
            continue  # let in by the query for a value of another indicator
        append(
            CenterLine(
                code,
                name,
                municipality,
                cohort,
                _STATE_TITLES[state],
                row,
                _targets_met(row, columns, targeted, required_index),
                _status(row, required_index, due),
                due,
            )
        )
    return QuarterlyReport(
        roadmap=roadmap,
        period=period,
        generated_at=generated_at,
        columns=columns,
        lines=tuple(lines),
    )


_STATE_TITLES = {state.value: title for state, title in STATE_TITLES.items()}


def _lines_query(
    roadmap_id: int, columns: Sequence[tuple[Indicator, str]], period: Period
) -> sa.Select[Any]:
    """The report's centers: code, name, municipality, cohort, state, opening day, then
    the value that counts for each column (None: not submitted), in the report's order.

    The value that counts is the latest row (highest id) per (center, period,
    indicator), as `workflow.engine.indicators.latest_values` reads it: per period, one
    pass over ``ix_indicator_value_cover`` gives each center's latest row id, row count
    and value of every indicator; the value is read by its row id only when the figure
    was corrected (more than one row: the aggregate's value may be an older row's).
    Centers that cannot be due (not opened by the period's end) and have none of the
    values are left out here; `build` decides the rest.
    """
    opened = opened_on_query(roadmap_id)
    joined: Any = CENTER.outerjoin(opened, opened.c.entity_id == CENTER.c.id)
    selected: list[Any] = [None] * len(columns)
    any_value: list[Any] = []
    for number, label in enumerate(sorted({label for _, label in columns})):
        picks = [(index, i.code) for index, (i, own) in enumerate(columns) if own == label]
        aggregates: list[Any] = []
        for index, code in picks:
            mine = VALUE.c.indicator == code
            aggregates += [
                sa.func.max(sa.case((mine, VALUE.c.id))).label(f"id_{index}"),
                sa.func.count(sa.case((mine, 1))).label(f"rows_{index}"),
                sa.func.max(sa.case((mine, VALUE.c.value))).label(f"value_{index}"),
            ]
        # No filter on the indicators: the index's order is (roadmap, period, center,
        # indicator), and the cases leave the others out.
        latest = (
            sa.select(VALUE.c.center_id, *aggregates)
            .where(VALUE.c.roadmap_id == roadmap_id, VALUE.c.period == label)
            .group_by(VALUE.c.center_id)
            .subquery(f"latest_{number}")
        )
        joined = joined.outerjoin(latest, latest.c.center_id == CENTER.c.id)
        any_value.append(latest.c.center_id.is_not(None))
        for index, _ in picks:
            corrected = VALUE.alias(f"corrected_{index}")
            by_id = (
                sa.select(corrected.c.value)
                .where(corrected.c.id == latest.c[f"id_{index}"])
                .scalar_subquery()
            )
            selected[index] = sa.case(
                (latest.c[f"rows_{index}"] > 1, by_id), else_=latest.c[f"value_{index}"]
            )
    return (
        sa.select(
            CENTER.c.code,
            CENTER.c.name,
            CENTER.c.municipality,
            CENTER.c.cohort,
            CENTER.c.state,
            opened.c.opened_on,
            *selected,
        )
        .select_from(joined)
        .where(
            CENTER.c.roadmap_id == roadmap_id,
            sa.or_(opened.c.opened_on <= period.end, *any_value),
        )
        .order_by(CENTER.c.municipality, CENTER.c.code)
    )


def _targets_met(
    row: Sequence[float | None],
    columns: Sequence[tuple[Indicator, str]],
    targeted: Sequence[int],
    required: Sequence[int],
) -> bool | None:
    """False: a value is below its target; None: unknown (a required one is missing)."""
    for index in targeted:
        value, target = row[index], columns[index][0].target
        if value is not None and target is not None and value < target:
            return False
    if any(row[index] is None for index in targeted if index in required):
        # A value with a target the period requires is not in: the targets cannot be
        # called met, however good the values that are in.
        return None
    if all(row[index] is None for index in targeted):
        return None
    return True


def _status(row: Sequence[float | None], required: Sequence[int], due: bool) -> str:
    present = sum(1 for i in required if row[i] is not None)
    if not due or present == len(required):
        return STATUS_COMPLETE
    return STATUS_PARTIAL if present else STATUS_MISSING


def _summary(
    roadmap: Roadmap,
    columns: Sequence[tuple[Indicator, str]],
    lines: Sequence[CenterLine],
) -> tuple[SummaryLine, ...]:
    groups: dict[str, list[CenterLine]] = {}
    for line in lines:
        groups.setdefault(line.municipality, []).append(line)
    result = [_totals(name, group, columns) for name, group in sorted(groups.items())]
    if lines:
        result.append(_totals(f"{roadmap.region}: всего", lines, columns))
    return tuple(result)


def _totals(
    name: str, group: Sequence[CenterLine], columns: Sequence[tuple[Indicator, str]]
) -> SummaryLine:
    totals: list[float | None] = []
    for index, (indicator, _) in enumerate(columns):
        present = [line.values[index] for line in group if line.values[index] is not None]
        numbers = [v for v in present if v is not None]
        if not numbers:
            totals.append(None)
        elif indicator.unit is IndicatorUnit.PERCENT:
            totals.append(round(sum(numbers) / len(numbers), 1))
        else:
            totals.append(sum(numbers))
    return SummaryLine(
        name=name,
        centers=len(group),
        complete=sum(1 for line in group if line.status == STATUS_COMPLETE),
        missing=sum(1 for line in group if line.missing),
        targets_met=sum(1 for line in group if line.targets_met),
        values=tuple(totals),
    )


# ------------------------------------------------------------------------- writers


def write_csv(report: QuarterlyReport, path: Path) -> None:
    """The centers table as CSV (UTF-8 with BOM, ``;``, decimal comma)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        # The BOM by hand: the "utf-8-sig" codec encodes every row in Python code, the
        # "utf-8" one in C; the bytes are the same.
        out.write("\ufeff")
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerows(report.csv_rows())


def write_xlsx(report: QuarterlyReport, path: Path) -> None:
    """The workbook: «Центры», «Итоги», «Показатели» (streamed: constant memory)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    book.properties.title = report.title
    book.properties.creator = "Tochka"
    _centers_sheet(book, report)
    _summary_sheet(book, report)
    _indicators_sheet(book, report)
    book.save(path)


def _header_cells(sheet: Any, titles: Sequence[str]) -> list[Any]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    font = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE7F0")
    align = Alignment(wrap_text=True, vertical="center", horizontal="center")
    border = Border(bottom=Side(style="thin", color="7F8FA6"))
    cells = []
    for title in titles:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font, cell.fill, cell.alignment, cell.border = font, fill, align, border
        cells.append(cell)
    return xlsx_row(sheet, cells)


def _set_widths(sheet: Any, widths: Sequence[float]) -> None:
    from openpyxl.utils import get_column_letter

    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def _fit(texts: Iterable[str], bounds: tuple[int, int]) -> int:
    """A column width that fits the longest of ``texts`` (plus a margin), within bounds."""
    least, most = bounds
    return max(least, min(most, max((len(t) + 3 for t in texts), default=least)))


#: Column-width units a bold header character takes (a width unit is a «0» of the body).
_BOLD = 1.1


def header_widths(titles: Sequence[str], widths: Sequence[float]) -> tuple[float, ...]:
    """``widths``, each widened to hold its title's longest word: a spreadsheet would
    break the word in the middle («общеобразовательн|ые»)."""
    return tuple(
        max(width, round(max(len(w) for w in title.split()) * _BOLD + 2.5, 1))
        for title, width in zip(titles, widths, strict=True)
    )


def header_height(titles: Sequence[str], widths: Sequence[float]) -> float:
    """The header row's height in points: the lines its longest wrapped title takes.

    Words are not broken (a line holds whole words), as Excel and LibreOffice wrap; a
    bold character takes `_BOLD` width units.
    """
    lines = 1
    for title, width in zip(titles, widths, strict=True):
        room = max(int(width / _BOLD) - 1, 1)
        count, used = 1, 0
        for word in title.split():
            need = len(word) if used == 0 else used + 1 + len(word)
            if need > room and used:
                count, used = count + 1, len(word)
            else:
                used = need
        lines = max(lines, count)
    return lines * _LINE_POINTS + _PAD_POINTS


def generated_local(report: QuarterlyReport) -> datetime:
    """``generated_at`` on the roadmap's clock, without a zone (a spreadsheet has none)."""
    zone = ZoneInfo(report.roadmap.timezone)
    return as_utc(report.generated_at).astimezone(zone).replace(tzinfo=None)


def clock_name(report: QuarterlyReport) -> str:
    """Whose clock the time is on (`base.clock.zone_name`), at ``generated_at``."""
    return zone_name(report.generated_at, report.roadmap.timezone)


def generated_format(report: QuarterlyReport) -> str:
    """The date cell's number format: the label, the day, the time and whose clock:
    the cell holds the date and reads «Сформирован: 06.10.2021 17:35 МСК»."""
    # Literals in quotes, shown around the date by Excel and LibreOffice alike: one cell,
    # so that the label is not set apart from its date by a wide column.
    return f'"{GENERATED_LABEL} "{GENERATED_FORMAT}" {clock_name(report)}"'


def generated_text(report: QuarterlyReport) -> str:
    """«Сформирован: 06.10.2021 17:35 МСК»: row 2 as it reads, and the page footer."""
    return f"{GENERATED_LABEL} {generated_local(report):%d.%m.%Y %H:%M} {clock_name(report)}"


def _span(widths: Sequence[float], first: int, least: float) -> int:
    """The last column of a merge from ``first`` wide enough for ``least`` width units."""
    last, room = first, widths[first - 1] if first <= len(widths) else least
    while room < least and last < len(widths):
        last += 1
        room += widths[last - 1]
    return last


def _title_block(sheet: Any, report: QuarterlyReport, widths: Sequence[float]) -> None:
    """Rows 1-3 (the header is `HEADER_ROW`), as the status XLSX has them: the report's
    title; the time the report was made as a date cell (the report's ``generated_at`` on
    the roadmap's clock) reading «Сформирован: …», merged over as many leading columns
    as it needs not to be cut (a number too wide for its cell shows as «###»); a blank
    row."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.cell_range import CellRange

    title = WriteOnlyCell(sheet, value=report.title)
    title.font = Font(bold=True, size=13)
    sheet.row_dimensions[1].height = 21  # a 13 pt line
    sheet.append(xlsx_row(sheet, [title]))

    stamp = WriteOnlyCell(sheet, value=generated_local(report))
    stamp.number_format = generated_format(report)
    stamp.alignment = Alignment(horizontal="left")
    stamp.font = Font(bold=True)
    last = _span(widths, 1, len(generated_text(report)) * _BOLD + 2)
    if last > 1:
        # A write-only sheet has no merge_cells(): its writer writes this set.
        sheet.merged_cells.add(CellRange(min_col=1, min_row=2, max_col=last, max_row=2))
    sheet.append([stamp])
    sheet.append([])


def _print_setup(sheet: Any, report: QuarterlyReport, *, landscape: bool) -> None:
    """A4, fitted to the page width (as many pages down as needed); the title, the date
    and the header (rows 1 to `HEADER_ROW`) on every page, the date in the footer too."""
    sheet.print_title_rows = f"1:{HEADER_ROW}"
    setup = sheet.page_setup
    setup.paperSize = "9"  # A4 (ECMA-376 paper codes; Worksheet.PAPERSIZE_A4)
    setup.orientation = "landscape" if landscape else "portrait"
    setup.fitToWidth = 1
    setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.print_options.horizontalCentered = True
    sheet.oddFooter.center.text = "Страница &P из &N"
    sheet.oddFooter.left.text = generated_text(report)


def _number_cell(sheet: Any, unit: IndicatorUnit) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet)
    cell.number_format = SHARE_FORMAT if unit is IndicatorUnit.PERCENT else COUNT_FORMAT
    return cell


def _centers_sheet(book: Any, report: QuarterlyReport) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    sheet = book.create_sheet(CENTER_SHEET)
    count = len(report.columns)
    code, _, _, cohort, state = _FIXED_WIDTHS
    widths = header_widths(
        report.headers,
        (
            code,
            _fit((line.name for line in report.lines), _NAME_WIDTHS),
            _fit((line.municipality for line in report.lines), _TOWN_WIDTHS),
            cohort,
            state,
            *([_INDICATOR_WIDTH] * count),
            *_TAIL_WIDTHS,
        ),
    )
    _set_widths(sheet, widths)
    sheet.freeze_panes = f"C{HEADER_ROW + 1}"
    sheet.row_dimensions[HEADER_ROW].height = header_height(report.headers, widths)
    _print_setup(sheet, report, landscape=True)
    _title_block(sheet, report, widths)
    sheet.append(_header_cells(sheet, report.headers))
    if report.empty:
        note = WriteOnlyCell(sheet, value=report.empty_text)
        note.font = Font(italic=True)
        sheet.append(xlsx_row(sheet, [note]))
        return
    from openpyxl.cell import Cell

    # A cell per styled column, its value set for each line: append() writes a row's
    # cells before it returns, so a line's cells can be the next line's. A new cell for
    # each value, and each row through xlsx_row, cost a tenth of the writing. The cells
    # are made in the order the styles were always registered (number formats, the
    # wrap, the red font), so that the file is the same, byte for byte.
    fixed = _fixed_cell()
    numbers = [fixed(sheet, _number_cell(sheet, i.unit)._style, "n") for i, _ in report.columns]
    wrapped = WriteOnlyCell(sheet)
    wrapped.alignment = Alignment(wrap_text=True, vertical="top")
    # A name longer than its column wraps, never is cut. Text from files people give us
    # is written as text (`workflow.views.cells`): string cells whatever they begin with,
    # checked as openpyxl checks a text it types (length, illegal characters).
    name = fixed(sheet, wrapped._style, "s")
    town = fixed(sheet, wrapped._style, "s")
    text = name.check_string
    missing_style = WriteOnlyCell(sheet)
    missing_style.font = Font(color="B00020", bold=True)
    missing = fixed(sheet, missing_style._style, "s")
    has_targets = report.has_targets
    append = sheet.append
    for line in report.lines:
        name._value = text(line.name)
        town._value = text(line.municipality)
        key: Any = line.code
        if xlsx_typed(key):
            key = Cell(sheet, 1, 1, key)
            key.data_type = "s"
        row: list[Any] = [key, name, town, line.cohort, line.state]
        for value, cell in zip(line.values, numbers, strict=True):
            if value is None:
                row.append(None)
            else:
                cell._value = value  # an int or a float (`build`): a number cell
                row.append(cell)
        targets = line.targets_met
        row.append(
            _YES_NO[targets] if targets is not None else STATUS_MISSING if has_targets else None
        )
        if line.status in _MISSING_STATUSES:
            missing._value = line.status
            row.append(missing)
        else:
            row.append(line.status)
        append(row)


@functools.cache
def _fixed_cell() -> Any:
    """The class of `_centers_sheet`'s reused cells (made on first use: openpyxl is
    imported by the writers only).

    An openpyxl cell whose type and style are those of its column: the writer takes its
    value as set (``_value``; the ``value`` setter guesses the type again for every
    line), asks its style's id once (the workbook looks the style up by hash for every
    cell written otherwise) and its repr is cheap: ``append`` tries each cell as a value
    first, and openpyxl's refusal formats the cell into its message. The style must not
    change after the first row is written.
    """
    from openpyxl.cell import Cell

    class FixedCell(Cell):  # type: ignore[misc]  # openpyxl has no types here
        __slots__ = ("_style_id",)
        has_style = True  # made with its column's style, never the default one

        def __init__(self, sheet: Any, style: Any, data_type: str) -> None:
            super().__init__(sheet, 1, 1, None, style)
            self.data_type = data_type  # type: ignore[misc]  # a slot of Cell's
            self._style_id: int | None = None

        @property
        def style_id(self) -> int:
            if self._style_id is None:
                self._style_id = Cell.style_id.fget(self)
            return self._style_id

        def __repr__(self) -> str:
            return "<FixedCell>"

    return FixedCell


_MISSING_STATUSES = frozenset((STATUS_PARTIAL, STATUS_MISSING))


def _summary_sheet(book: Any, report: QuarterlyReport) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    sheet = book.create_sheet(SUMMARY_SHEET)
    headers = [
        "Муниципальное образование",
        "Центров",
        "Сведения представлены",
        "Нет сведений (полностью или частично)",
        "Цели достигнуты (центров)",
        *(
            ("среднее: " if i.unit is IndicatorUnit.PERCENT else "всего: ")
            + _indicator_header(i, label)
            for i, label in report.columns
        ),
    ]
    widths = header_widths(
        headers,
        (
            _fit((line.name for line in report.summary), _TOWN_WIDTHS),
            10,
            13,
            15,
            13,
            *([_INDICATOR_WIDTH] * len(report.columns)),
        ),
    )
    _set_widths(sheet, widths)
    sheet.freeze_panes = f"B{HEADER_ROW + 1}"
    sheet.row_dimensions[HEADER_ROW].height = header_height(headers, widths)
    _print_setup(sheet, report, landscape=True)
    _title_block(sheet, report, widths)
    sheet.append(_header_cells(sheet, headers))
    if report.empty:
        note = WriteOnlyCell(sheet, value=report.empty_text)
        note.font = Font(italic=True)
        sheet.append(xlsx_row(sheet, [note]))
        return
    bold = Font(bold=True)
    last = len(report.summary) - 1
    for index, line in enumerate(report.summary):
        cells: list[Any] = [line.name, line.centers, line.complete, line.missing, line.targets_met]
        for value, (indicator, _) in zip(line.values, report.columns, strict=True):
            if value is None:
                cells.append(None)
                continue
            cell = _number_cell(sheet, indicator.unit)
            cell.value = value
            cells.append(cell)
        if index == last:
            # The region's line: bold, so it reads as the total.
            styled = []
            for value in cells:
                cell = value if hasattr(value, "font") else WriteOnlyCell(sheet, value=value)
                cell.font = bold
                styled.append(cell)
            cells = styled
        sheet.append(xlsx_row(sheet, cells))


def _indicators_sheet(book: Any, report: QuarterlyReport) -> None:

    sheet = book.create_sheet(INDICATOR_SHEET)
    # A person reads the indicator by its name: the code (``natsci_students``) is the id
    # of files and the command line, which the federal operator never sees.
    headers = ("№", "Показатель", "Единица", "Периодичность", "Цель", "Период")
    widths = header_widths(headers, (5, 80, 10, 16, 10, 20))
    _set_widths(sheet, widths)
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    _print_setup(sheet, report, landscape=True)
    _title_block(sheet, report, widths)
    sheet.append(_header_cells(sheet, headers))
    for number, (indicator, label) in enumerate(report.columns, start=1):
        sheet.append(
            xlsx_row(
                sheet,
                [
                    number,
                    indicator.name,
                    UNIT_TITLES[indicator.unit],
                    PERIOD_TITLES[indicator.period],
                    indicator.target,
                    period_text(label),
                ],
            )
        )
    # When it was made is row 2: the foot names the decree the report answers.
    sheet.append([])
    decree = f"{_sentence(report.roadmap.decree)} {_sentence(f'Отчёт за {report.period.title}')}"
    sheet.append(xlsx_row(sheet, [decree]))
    sheet.append(["Сформирован программой Tochka по данным базы дорожной карты."])


def _sentence(text: str) -> str:
    """The text ending with one full stop («… 2021 г.» keeps its own, no «г..»)."""
    text = text.rstrip()
    return text if text.endswith(".") else text + "."
