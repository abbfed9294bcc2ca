"""Spreadsheet cells are data: text is written as text, never as a formula.

Excel and LibreOffice read a cell beginning with «=», «+», «-», «@», a tab or a carriage
return as a formula (OWASP, "CSV injection"): a center named
``=HYPERLINK("http://evil.example/";"Нажмите")`` would be a working link in the report the
federal operator opens. Every report and export writes its text cells through this module:

- XLSX: a text is a string cell (``t="inlineStr"``), never a formula. openpyxl on its own
  makes any text beginning with «=» a formula (``<f>``) and «#N/A» and its like an error.
- CSV: a text beginning with one of those characters gets a leading «'», as OWASP advises;
  the reader sees the text as written, after the quote.

Numbers stay numbers: only ``str`` values are touched, so a negative count is a number.

Such a text is imported all the same (a name may begin with «-»), with a warning naming its
file, line and column (`center_warnings`, `contact_warnings`): the person who gave the file
sees that the report will show it as written.

openpyxl is imported inside the XLSX function: the CSV report never needs it (~140 ms).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from workflow.errors import Problem

if TYPE_CHECKING:
    from workflow.engine.municipalities import ContactRow
    from workflow.imports.centers_file import CenterRow

__all__ = [
    "FORMULA_PREFIXES",
    "center_warnings",
    "contact_warnings",
    "csv_text",
    "formula_prefix",
    "xlsx_row",
    "xlsx_typed",
]

#: The first characters that make a spreadsheet cell a formula.
FORMULA_PREFIXES: frozenset[str] = frozenset(("=", "+", "-", "@", "\t", "\r"))

# Texts openpyxl writes as an error cell rather than a string.
_ERROR_TEXTS = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))


def formula_prefix(text: str) -> str | None:
    """The first character of ``text`` if it would make a cell a formula, else None."""
    first = text[:1]
    return first if first in FORMULA_PREFIXES else None


def csv_text(text: str) -> str:
    """``text`` as a CSV cell: behind a «'» when it would be read as a formula."""
    return "'" + text if text[:1] in FORMULA_PREFIXES else text


def xlsx_typed(text: str) -> bool:
    """Whether openpyxl would write ``text`` as other than a string (a formula, an
    error): `xlsx_row` then makes it a string cell."""
    return text[:1] in FORMULA_PREFIXES or text in _ERROR_TEXTS


def xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """A row for ``sheet.append`` (write-only or not) in which every text is a string cell.

    A text that openpyxl would type otherwise (a formula, an error) becomes a string cell;
    a cell already made (a styled one) holding a text is set to the string type; numbers,
    dates, None and other texts pass unchanged.
    """
    from openpyxl.cell import Cell

    row: list[Any] = []
    for value in values:
        if isinstance(value, str):
            if value[:1] in FORMULA_PREFIXES or value in _ERROR_TEXTS:
                value = Cell(sheet, 1, 1, value)  # placed by append
                value.data_type = "s"
        elif isinstance(value, Cell) and isinstance(value.value, str):
            value.data_type = "s"
        row.append(value)
    return row


_SHOWN = {"\t": "табуляции", "\r": "возврата каретки"}


def formula_warnings(filename: str, texts: Iterable[tuple[int, int | None, str, str]]) -> list[str]:
    """A Russian warning for each imported text that begins like a formula.

    Args:
        filename: the file as the person named it.
        texts: (line, column or None when the row does not say, field, text) of each text.
    """
    warnings = []
    for line, column, field, text in texts:
        first = formula_prefix(text)
        if first is None:
            continue
        shown = _SHOWN.get(first, f"«{first}»")
        where = Problem(
            file=filename,
            line=line,
            column=column,
            field=field,
            message=f"значение начинается с {shown} — в отчётах оно будет записано как текст, "
            "не как формула",
        )
        warnings.append(f"Предупреждение: {where}")
    return warnings


def center_warnings(filename: str, rows: Sequence[CenterRow]) -> list[str]:
    """`formula_warnings` for the code, name and municipality of imported centers.

    A `CenterRow` does not carry its columns (a file may order them freely): the warning
    names the column by its field.
    """
    return formula_warnings(
        filename,
        (
            (row.line, None, field, text)
            for row in rows
            for field, text in (
                ("Код", row.code),
                ("Наименование", row.name),
                ("Муниципальное образование", row.municipality),
            )
        ),
    )


def contact_warnings(filename: str, rows: Sequence[ContactRow]) -> list[str]:
    """`formula_warnings` for the municipality and recipient of imported contacts."""
    texts: list[tuple[int, int | None, str, str]] = []
    for row in rows:
        texts.append((row.line, row.column, "Муниципальное образование", row.municipality))
        if row.recipient != row.municipality:  # an empty recipient is the municipality
            texts.append((row.line, None, "Получатель", row.recipient))
    return formula_warnings(filename, texts)
