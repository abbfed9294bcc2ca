"""Reading indicator values from a CSV or XLSX file: one row per center and period.

The first filled row is the header: the center code («Код», ``code``), the period
(«Период», ``period``: ``2022-Q3`` or ``2022``) and one column per indicator, headed by
its code or its Russian name from the roadmap (a trailing unit such as ``, чел.`` or
``, %`` is ignored). Columns a report or a list of centers carries for people
(«Наименование», «Муниципальное образование», «Год создания», «Состояние») are allowed
and ignored. An empty value cell means "not submitted"; a row whose value cells are all
empty is skipped (a template row nobody filled in).

A filled cell in a column without a header is refused (nobody can tell what it is).

Encodings and delimiters are those of the centers file (`workflow.imports.centers_file`):
UTF-8 with or without BOM or Windows-1251; ``,``, ``;`` or tab. In a workbook, a number
in a percent-formatted cell (Excel shows 0,875 as «87,5 %») is read as shown:
``87.5%``. This module only finds the cells; `workflow.engine.indicators.record` validates
them against the database and the roadmap, so every problem of a file is reported at
once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from workflow.errors import ImportFileError, Problem
from workflow.imports.header import Column, ColumnUse, HeaderSpec
from workflow.imports.tablefile import (
    cell_text,
    csv_rows,
    is_filled,
    normalise_header,
    open_xlsx,
    opening,
    table_suffix,
)
from workflow.roadmap.definition import UNIT_TITLES, Roadmap

# The centers file's readers already handle encodings, delimiters and cell values.
from workflow.roadmap.indicators import RawRow, RawValue

__all__ = ["percent_text", "read_indicators_file"]

_UNIT_SUFFIX_RE = re.compile(
    r",\s*(?:" + "|".join(re.escape(u) for u in UNIT_TITLES.values()) + r")$"
)

_CODE = "code"
_PERIOD = "period"
# Indicator columns are keyed apart from the fixed ones: an indicator may be coded
# ``code`` or ``period``.
_INDICATOR = "indicator:"


def _header_key(cell: str) -> str:
    return _UNIT_SUFFIX_RE.sub("", normalise_header(cell)).strip()


def _ignored(key: str, russian_name: str, *aliases: str) -> Column:
    return Column(key=key, aliases=aliases, russian_name=russian_name, use=ColumnUse.IGNORED)


# The fixed columns come first: their names win over an indicator's of the same name.
_FIXED = HeaderSpec(
    columns=(
        Column(key=_CODE, aliases=("code", "код", "код центра"), russian_name="Код"),
        Column(key=_PERIOD, aliases=("period", "период", "отчетный период"), russian_name="Период"),
        _ignored("name", "Наименование", "name", "наименование", "название"),
        _ignored(
            "municipality",
            "Муниципальное образование",
            "municipality",
            "муниципальное образование",
            "муниципалитет",
        ),
        _ignored("cohort", "Год создания", "cohort", "год создания"),
        _ignored("state", "Состояние", "state", "состояние"),
        _ignored("email", "Email", "email"),
    ),
    normalise=_header_key,
)

# Parts of an Excel number format that are not format codes: quoted text, an escaped
# character, a [colour] or [condition]. A "%" there is printed, not a percent format.
_FORMAT_LITERAL_RE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')
# Excel keeps and shows 15 significant digits: 0.8725 computed as 0.87250000000000005
# is 87,25 % on screen, and so here.
_EXCEL_DIGITS = 15

# A table row as read: its 1-based line, its cells as text, and the workbook's
# percent-formatted numbers by 0-based column, as shown (``"87.5%"``).
_Row = tuple[int, list[str], dict[int, str]]
_Rows = Generator[_Row, None, None]


def read_indicators_file(path: str | Path, roadmap: Roadmap) -> list[RawRow]:
    """Read the rows of an indicators file, checking its header.

    Args:
        path: a ``.csv`` or ``.xlsx`` file.
        roadmap: the roadmap whose indicators the columns name.

    Returns:
        The filled rows in file order, cells as written (validated by `record`).

    Raises:
        ImportFileError: the file cannot be read or its header is wrong.
    """
    filename = str(path)
    suffix = table_suffix(filename)
    with opening(filename):
        if suffix == ".csv":
            rows = _csv_table(Path(path).read_bytes(), filename)
        else:
            rows = _xlsx_table(Path(path), filename)
    try:
        header = next((row for row in rows if is_filled(row[1])), None)
        if header is None:
            raise ImportFileError(
                [Problem(file=filename, message="файл пуст: нет ни одной строки")]
            )
        line, cells, _ = header
        columns, indicators = _header(filename, line, cells, roadmap)
        headed = {index for index, text in enumerate(cells) if text.strip()}
        result: list[RawRow] = []
        for number, row, percents in rows:
            if not is_filled(row):
                continue

            def cell(index: int, row: list[str] = row) -> str:
                return row[index].strip() if index < len(row) else ""

            def value(index: int, row: list[str] = row, percents: dict[int, str] = percents) -> str:
                # A percent cell as Excel shows it; `parse_value` refuses it for a count.
                return percents.get(index) or cell(index, row)

            values = tuple(
                RawValue(indicator=code, text=value(index), column=index + 1, field=header_text)
                for index, (code, header_text) in indicators.items()
                if value(index)
            )
            unheaded = tuple(
                (index + 1, text.strip())
                for index, text in enumerate(row)
                if text.strip() and index not in headed
            )
            if not values and not unheaded:
                continue
            result.append(
                RawRow(
                    center=cell(columns[_CODE]),
                    period=cell(columns[_PERIOD]),
                    values=values,
                    unheaded=unheaded,
                    line=number,
                    center_column=columns[_CODE] + 1,
                    period_column=columns[_PERIOD] + 1,
                    center_field=cells[columns[_CODE]].strip(),
                    period_field=cells[columns[_PERIOD]].strip(),
                )
            )
        return result
    finally:
        rows.close()


def _csv_table(data: bytes, filename: str) -> _Rows:
    _, rows = csv_rows(data, filename, headers=_FIXED.known)

    def table() -> _Rows:
        try:
            for line, cells in rows:
                yield line, cells, {}
        finally:
            rows.close()

    return table()


def _xlsx_table(path: Path, filename: str) -> _Rows:
    """The first sheet's rows (as `workflow.imports.centers_file`), percent cells as shown."""
    opened = open_xlsx(path, filename)
    if opened is None:
        return _no_table()
    workbook, sheet = opened

    def table() -> _Rows:
        try:
            for line, row in enumerate(sheet.iter_rows(), start=1):
                texts: list[str] = []
                percents: dict[int, str] = {}
                for index, cell in enumerate(row):
                    value = cell.value
                    texts.append(cell_text(value))
                    # Only numbers look up their format (a style lookup per cell otherwise).
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        shown = percent_text(value, getattr(cell, "number_format", None))
                        if shown is not None:
                            percents[index] = shown
                yield line, texts, percents
        finally:
            workbook.close()

    return table()


def _no_table() -> _Rows:
    yield from ()


def percent_text(value: float, number_format: object) -> str | None:
    """A number in a percent-formatted cell as Excel shows it (0.875 → ``87.5%``), or None."""
    if not isinstance(number_format, str) or "%" not in _FORMAT_LITERAL_RE.sub("", number_format):
        return None
    if not math.isfinite(value):
        return None
    # Decimal arithmetic: 0.875 × 100 is exactly 87.5 (a float product may not be).
    shown = (Decimal(f"{value:.{_EXCEL_DIGITS}g}") * 100).normalize()
    return f"{shown:f}%"


def _header(
    filename: str, line: int, cells: list[str], roadmap: Roadmap
) -> tuple[Mapping[str, int], dict[int, tuple[str, str]]]:
    """Column of the code and period; indicator code and header text by column."""
    header = _spec(roadmap).read(cells, filename=filename, line=line)
    indicators = {
        index: (key.removeprefix(_INDICATOR), header.names[key])
        for key, index in header.columns.items()
        if key.startswith(_INDICATOR)
    }
    if not indicators:
        raise ImportFileError(
            [Problem(file=filename, line=line, message="в заголовке нет ни одного показателя")]
        )
    return header.columns, indicators


def _spec(roadmap: Roadmap) -> HeaderSpec:
    """The fixed columns and one per indicator, headed by its code or its name."""
    # A name two indicators share (or one indicator's name that is another's code)
    # heads the later one's column, as it always has.
    owner: dict[str, str] = {}
    for indicator in roadmap.indicators:
        owner[_header_key(indicator.code)] = indicator.code
        owner[_header_key(indicator.name)] = indicator.code
    columns: list[Column] = []
    for indicator in roadmap.indicators:
        aliases = tuple(
            alias
            for alias in (indicator.code, indicator.name)
            if owner[_header_key(alias)] == indicator.code
        )
        if aliases:
            columns.append(
                Column(
                    key=_INDICATOR + indicator.code,
                    aliases=aliases,
                    russian_name=indicator.name,
                    use=ColumnUse.OPTIONAL,
                )
            )
    known = ", ".join(i.code for i in roadmap.indicators)
    return replace(
        _FIXED,
        columns=(*_FIXED.columns, *columns),
        expected=f"Код, Период и показатели дорожной карты ({known})",
    )
