"""The quarterly monitoring form: an XLSX a school fills in and sends back by reply.

`MonitoringForm` is what the scheduler knows when it reminds a school of measure 9 (the
center, the period, one `FormRow` per indicator with its unit, range and last period's
value); it travels with the `notifications.values.Reminder` (and its stored JSON), and
`build_form` makes the workbook when the letter is rendered, so an amended digest
attaches the same form. `form_attachments` is the renderer's hook: the forms of a
letter's reminders, as attachments.

The workbook, sheet «Мониторинг», printed on one A4 page wide:

* rows 1-6: the title, the roadmap, the center's code and name, the period and how to
  return the form: fixed text;
* row `HEADER_ROW`: «№», «Показатель», «Единица», «Допустимые значения», the last
  period's value, «Значение»;
* from `FIRST_ROW`: one row per indicator; only the `INPUT_COLUMN` cells are unlocked,
  each with a data validation of its type (whole or decimal) and range.

The sheet is protected (no password: it guards against slips, not against the school)
and so is the workbook's structure; the very hidden sheet `MARKER_SHEET` holds, in A1
(defined name `MARKER_NAME`), the marker: JSON with the form's kind and version
(`FORM_KIND`, `FORM_VERSION`), the roadmap's code, the center's code, the period and
the input cell of each indicator. `workflow.inbound.forms` reads a returned form by it
and refuses one for another center or period.

The bytes are deterministic (fixed timestamps in the archive and its properties): the
same form is the same file, whenever it is rendered.
"""

from __future__ import annotations

import functools
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifications.render import Attachment
    from notifications.values import Reminder

__all__ = [
    "FIRST_ROW",
    "FORM_KIND",
    "FORM_VERSION",
    "HEADER_ROW",
    "INPUT_COLUMN",
    "MARKER_NAME",
    "MARKER_SHEET",
    "SHEET",
    "FormRow",
    "MonitoringForm",
    "build_form",
    "form_attachments",
    "form_filename",
]

FORM_KIND = "tochka-monitoring-form"
FORM_VERSION = 1
SHEET = "Мониторинг"
MARKER_SHEET = "tochka"
MARKER_NAME = "TochkaForm"
HEADER_ROW = 8
FIRST_ROW = HEADER_ROW + 1
#: The column of the values the school enters (F).
INPUT_COLUMN = 6
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
# A zip entry's time is local and has no zone: one fixed moment keeps the bytes stable.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_WIDTHS = {"A": 5, "B": 58, "C": 9, "D": 17, "E": 15, "F": 15}


@dataclass(frozen=True, kw_only=True, slots=True)
class FormRow:
    """One indicator of the form.

    Attributes:
        code: the indicator's code (the marker maps its input cell to it).
        name: its Russian name.
        unit: the unit as printed («чел.», «%»).
        whole: whether only whole numbers are accepted (a count); else two decimals.
        maximum: the largest acceptable value.
        period_title: the period the value is for when it is not the form's («2021
            год» for a per-year indicator in a fourth-quarter form); empty otherwise.
        last: the value of the period before («120», «87,5»), empty when none.
    """

    code: str
    name: str
    unit: str
    whole: bool
    maximum: float
    period_title: str = ""
    last: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "unit": self.unit,
            "whole": self.whole,
            "maximum": self.maximum,
            "period_title": self.period_title,
            "last": self.last,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormRow:
        return cls(
            code=str(data["code"]),
            name=str(data["name"]),
            unit=str(data["unit"]),
            whole=bool(data["whole"]),
            maximum=float(data["maximum"]),
            period_title=str(data.get("period_title", "")),
            last=str(data.get("last", "")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class MonitoringForm:
    """What a school's monitoring form says before it is filled in.

    Attributes:
        roadmap_code: the roadmap's code (in the marker).
        roadmap_title: the roadmap's title, printed in the header.
        center_code: the center's code.
        center_name: the center's (school's) name.
        period: the period label («2021-Q3»).
        period_title: the period as people read it («III квартал 2021 г.»).
        last_title: the period whose values column E shows («II квартал 2021 г.»).
        due: the deadline, printed in the header.
        reply_to: where the form goes back (printed in the instructions).
        rows: the indicators, in the roadmap's order.
        version: the form's layout version (`FORM_VERSION`).
    """

    roadmap_code: str
    roadmap_title: str
    center_code: str
    center_name: str
    period: str
    period_title: str
    last_title: str
    due: date
    reply_to: str
    rows: tuple[FormRow, ...]
    version: int = FORM_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored with the reminder that carries the form)."""
        return {
            "roadmap_code": self.roadmap_code,
            "roadmap_title": self.roadmap_title,
            "center_code": self.center_code,
            "center_name": self.center_name,
            "period": self.period,
            "period_title": self.period_title,
            "last_title": self.last_title,
            "due": self.due.isoformat(),
            "reply_to": self.reply_to,
            "rows": [r.to_json() for r in self.rows],
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> MonitoringForm | None:
        """Rebuild a form stored with `to_json` (None: the reminder carries none)."""
        if not data:
            return None
        return cls(
            roadmap_code=str(data["roadmap_code"]),
            roadmap_title=str(data["roadmap_title"]),
            center_code=str(data["center_code"]),
            center_name=str(data["center_name"]),
            period=str(data["period"]),
            period_title=str(data["period_title"]),
            last_title=str(data["last_title"]),
            due=date.fromisoformat(data["due"]),
            reply_to=str(data["reply_to"]),
            rows=tuple(FormRow.from_json(r) for r in data["rows"]),
            version=int(data.get("version", FORM_VERSION)),
        )

    def input_cell(self, index: int) -> str:
        """The input cell of the ``index``-th row (0-based): «F9»."""
        return f"{chr(ord('A') + INPUT_COLUMN - 1)}{FIRST_ROW + index}"

    def marker(self) -> dict[str, Any]:
        """The marker the returned form is checked by."""
        return {
            "kind": FORM_KIND,
            "version": self.version,
            "roadmap": self.roadmap_code,
            "center": self.center_code,
            "period": self.period,
            "cells": {row.code: self.input_cell(i) for i, row in enumerate(self.rows)},
        }


def form_filename(form: MonitoringForm) -> str:
    """«monitoring-IV-001-2021-Q3.xlsx»: ASCII, whatever the mail client does with names."""
    safe = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_"
        for ch in f"{form.center_code}-{form.period}"
    )
    return f"monitoring-{safe}.xlsx"


def _number(value: float) -> str:
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


def _text(value: str) -> str:
    """A text cell that a spreadsheet never reads as a formula («=…», «+…», «@…»)."""
    return "\u2019" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def build_form(form: MonitoringForm) -> bytes:
    """The workbook of ``form`` (see the module docstring), deterministic bytes."""
    # openpyxl costs ~140 ms to import: only letters that carry a form pay it.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, Protection
    from openpyxl.workbook.defined_name import DefinedName
    from openpyxl.workbook.protection import WorkbookProtection
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.writer.excel import ExcelWriter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET
    bold, wrap, box, entry, head = _styles()

    sheet["A1"] = "Форма мониторинга показателей центра «Точка роста»"
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.merge_cells("A1:F1")
    fixed = [
        ("Дорожная карта", _text(form.roadmap_title)),
        ("Центр", f"{_text(form.center_code)} — {_text(form.center_name)}"),
        ("Отчётный период", f"{form.period_title} (срок сдачи {form.due:%d.%m.%Y})"),
        (
            "Как сдать",
            "Заполните жёлтые ячейки столбца «Значение» и отправьте файл ответом на "
            f"письмо ({form.reply_to}). Доли — в процентах (87,5), численность — целым "
            "числом; пустая ячейка — значение не сдаётся.",
        ),
    ]
    for offset, (label, value) in enumerate(fixed, start=2):
        cell = sheet.cell(row=offset, column=1, value=f"{label}: {value}")
        cell.alignment = wrap
        sheet.merge_cells(start_row=offset, start_column=1, end_row=offset, end_column=6)
        # About 110 characters fit a line of the merged cell.
        sheet.row_dimensions[offset].height = 15 * (1 + len(cell.value) // 110)

    headers = (
        "№",
        "Показатель",
        "Единица",
        "Допустимые значения",
        f"Значение за {form.last_title}" if form.last_title else "Прошлое значение",
        "Значение",
    )
    for column, title in enumerate(headers, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=column, value=title)
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.fill = head
        cell.border = box
    sheet.row_dimensions[HEADER_ROW].height = 45
    for index, row in enumerate(form.rows):
        line = FIRST_ROW + index
        name = row.name + (f" (за {row.period_title})" if row.period_title else "")
        allowed = f"от 0 до {_number(row.maximum)}" + (", целое" if row.whole else "")
        values: tuple[Any, ...] = (index + 1, _text(name), row.unit, allowed, row.last or "—")
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=line, column=column, value=value)
            cell.alignment = wrap
            cell.border = box
        target = sheet.cell(row=line, column=INPUT_COLUMN)
        target.protection = Protection(locked=False)
        target.fill = entry
        target.border = box
        target.number_format = "0" if row.whole else "0.##"
        check = DataValidation(
            type="whole" if row.whole else "decimal",
            operator="between",
            formula1="0",
            formula2=_number(row.maximum).replace(",", "."),
            allow_blank=True,
            showErrorMessage=True,
            showInputMessage=True,
            errorTitle="Недопустимое значение",
            error=f"Допустимо {allowed}.",
            promptTitle=row.unit,
            prompt=f"{allowed}",
        )
        check.add(target)
        sheet.add_data_validation(check)
        # About 55 characters fit a line of column B.
        sheet.row_dimensions[line].height = 15 * (1 + len(name) // 55)
    for letter, width in _WIDTHS.items():
        sheet.column_dimensions[letter].width = width

    sheet.protection.sheet = True
    # Widening a column or a row does not change what the form says.
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_area = f"A1:F{FIRST_ROW + max(len(form.rows), 1) - 1}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.page_margins.left = sheet.page_margins.right = 0.5

    marker = book.create_sheet(MARKER_SHEET)
    marker["A1"] = json.dumps(form.marker(), ensure_ascii=False, sort_keys=True)
    marker.sheet_state = "veryHidden"
    marker.protection.sheet = True
    book.defined_names[MARKER_NAME] = DefinedName(MARKER_NAME, attr_text=f"{MARKER_SHEET}!$A$1")
    book.security = WorkbookProtection(lockStructure=True)
    book.properties.creator = "Tochka"
    book.properties.title = f"Мониторинг {form.center_code} {form.period}"

    # Written straight into an archive of fixed times (what Workbook.save does, without
    # the second pass that rewrote every entry's time: 13 % of a form).
    book.properties.modified = book.properties.created
    buffer = io.BytesIO()
    ExcelWriter(book, _StableArchive(buffer, f"{form.due.isoformat()}T00:00:00Z")).save()
    return buffer.getvalue()


@functools.cache
def _styles() -> tuple[Any, ...]:
    """The form's fonts, alignment, border and fills: the same objects for every form."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="808080")
    return (
        Font(bold=True),
        Alignment(wrap_text=True, vertical="top"),
        Border(left=thin, right=thin, top=thin, bottom=thin),
        PatternFill("solid", fgColor="FFF2CC"),
        PatternFill("solid", fgColor="D9E1F2"),
    )


class _StableArchive(zipfile.ZipFile):
    """The archive openpyxl writes a form into: each entry dated `_ZIP_TIME`, the
    workbook's property timestamps set to ``stamp``, so the same form is the same bytes."""

    def __init__(self, buffer: io.BytesIO, stamp: str) -> None:
        super().__init__(buffer, "w", zipfile.ZIP_DEFLATED)
        self._stamp = stamp

    def writestr(  # type: ignore[override]
        self, zinfo_or_arcname: str | zipfile.ZipInfo, data: str | bytes, *args: Any, **kw: Any
    ) -> None:
        name = getattr(zinfo_or_arcname, "filename", zinfo_or_arcname)
        content = data.encode("utf-8") if isinstance(data, str) else data
        if name == "docProps/core.xml":
            content = _fixed_times(content.decode("utf-8"), self._stamp).encode("utf-8")
        fixed = zipfile.ZipInfo(str(name), date_time=_ZIP_TIME)
        fixed.compress_type = zipfile.ZIP_DEFLATED
        super().writestr(fixed, content)

    def write(self, filename: Any, arcname: Any = None, *args: Any, **kw: Any) -> None:
        with open(filename, "rb") as source:  # a worksheet, written to a temporary file
            self.writestr(str(arcname or filename), source.read())


def _fixed_times(xml: str, stamp: str) -> str:
    return re.sub(
        r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)", rf"\g<1>{stamp}\g<2>", xml
    )


def form_attachments(reminders: Sequence[Reminder]) -> tuple[Attachment, ...]:
    """The forms the reminders of one letter carry, each once, as attachments.

    The renderer's hook: a letter without a form (every letter but a school's
    monitoring reminder) gets none and costs nothing.
    """
    forms: dict[tuple[str, str, str], MonitoringForm] = {}
    for reminder in reminders:
        form = getattr(reminder, "form", None)
        if form is not None:
            forms.setdefault((form.roadmap_code, form.center_code, form.period), form)
    if not forms:
        return ()
    from notifications.render import Attachment

    return tuple(
        Attachment(
            filename=form_filename(form),
            maintype=XLSX_TYPE[0],
            subtype=XLSX_TYPE[1],
            data=build_form(form),
        )
        for form in forms.values()
    )
