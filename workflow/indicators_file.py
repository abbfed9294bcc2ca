"""Reading indicator values from a CSV or XLSX file: one row per center and period.

The first filled row is the header: the center code («Код», ``code``), the period
(«Период», ``period``: ``2022-Q3`` or ``2022``) and one column per indicator, headed by
its code or its Russian name from the roadmap (a trailing unit such as ``, чел.`` or
``, %`` is ignored). Columns a report or a list of centers carries for people
(«Наименование», «Муниципальное образование», «Год создания», «Состояние») are allowed
and ignored. An empty value cell means "not submitted"; a row whose value cells are all
empty is skipped (a template row nobody filled in).

Encodings and delimiters are those of the centers file (`workflow.centers_file`):
UTF-8 with or without BOM or Windows-1251; ``,``, ``;`` or tab. This module only finds
the cells; `workflow.indicators.record` validates them against the database and the
roadmap, so every problem of a file is reported at once.
"""

from __future__ import annotations

import re
from pathlib import Path

# The centers file's readers already handle encodings, delimiters and workbooks.
from workflow.centers_file import _csv_rows, _is_filled, _normalise_header, _xlsx_rows
from workflow.definition import UNIT_TITLES, Roadmap
from workflow.errors import ImportFileError, Problem
from workflow.indicators import RawRow, RawValue
from workflow.tablefile import opening

__all__ = ["read_indicators_file"]

_CODE = "code"
_PERIOD = "period"
_IGNORED = "ignored"
_FIXED: dict[str, str] = {
    "code": _CODE,
    "код": _CODE,
    "код центра": _CODE,
    "period": _PERIOD,
    "период": _PERIOD,
    "отчетный период": _PERIOD,
    **{
        alias: _IGNORED
        for alias in (
            "name",
            "наименование",
            "название",
            "municipality",
            "муниципальное образование",
            "муниципалитет",
            "cohort",
            "год создания",
            "state",
            "состояние",
            "email",
        )
    },
}
_UNIT_SUFFIX_RE = re.compile(
    r",\s*(?:" + "|".join(re.escape(u) for u in UNIT_TITLES.values()) + r")$"
)


def _header_key(cell: str) -> str:
    return _UNIT_SUFFIX_RE.sub("", _normalise_header(cell)).strip()


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
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ImportFileError(
            [
                Problem(
                    file=filename,
                    message=f"неподдерживаемый формат файла «{suffix or 'без расширения'}»: "
                    "нужен .csv или .xlsx",
                )
            ]
        )
    with opening(filename):
        if suffix == ".csv":
            _, rows = _csv_rows(Path(path).read_bytes(), filename)
        else:
            _, rows = _xlsx_rows(Path(path), filename)
    try:
        header = next((row for row in rows if _is_filled(row[1])), None)
        if header is None:
            raise ImportFileError(
                [Problem(file=filename, message="файл пуст: нет ни одной строки")]
            )
        line, cells = header
        columns, indicators = _header(filename, line, cells, roadmap)
        result: list[RawRow] = []
        for number, row in rows:
            if not _is_filled(row):
                continue

            def cell(index: int, row: list[str] = row) -> str:
                return row[index].strip() if index < len(row) else ""

            values = tuple(
                RawValue(indicator=code, text=cell(index), column=index + 1, field=header_text)
                for index, (code, header_text) in indicators.items()
                if cell(index)
            )
            if not values:
                continue
            result.append(
                RawRow(
                    center=cell(columns[_CODE]),
                    period=cell(columns[_PERIOD]),
                    values=values,
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


def _header(
    filename: str, line: int, cells: list[str], roadmap: Roadmap
) -> tuple[dict[str, int], dict[int, tuple[str, str]]]:
    """Column of the code and period; indicator code and header text by column."""
    by_key: dict[str, str] = {}
    for indicator in roadmap.indicators:
        by_key[_header_key(indicator.code)] = indicator.code
        by_key[_header_key(indicator.name)] = indicator.code
    problems: list[Problem] = []
    columns: dict[str, int] = {}
    indicators: dict[int, tuple[str, str]] = {}
    taken: dict[str, int] = {}
    for index, raw in enumerate(cells):
        written = raw.strip()
        if not written:
            continue
        key = _header_key(written)
        fixed = _FIXED.get(key)
        target = fixed if fixed in (_CODE, _PERIOD) else by_key.get(key)
        if fixed == _IGNORED:
            continue
        if target is None:
            known = ", ".join(i.code for i in roadmap.indicators)
            problems.append(
                Problem(
                    file=filename,
                    line=line,
                    column=index + 1,
                    field=written,
                    message=f"неизвестный столбец «{written}»: ожидаются Код, Период и "
                    f"показатели дорожной карты ({known})",
                )
            )
            continue
        if target in taken:
            problems.append(
                Problem(
                    file=filename,
                    line=line,
                    column=index + 1,
                    field=written,
                    message=f"столбец «{written}» повторяет столбец {taken[target] + 1}",
                )
            )
            continue
        taken[target] = index
        if target in (_CODE, _PERIOD):
            columns[target] = index
        else:
            indicators[index] = (target, written)
    missing = [name for key, name in ((_CODE, "Код"), (_PERIOD, "Период")) if key not in columns]
    if missing:
        problems.append(
            Problem(
                file=filename,
                line=line,
                message=f"в заголовке нет столбцов: {', '.join(missing)}",
            )
        )
    if not indicators and not problems:
        problems.append(
            Problem(file=filename, line=line, message="в заголовке нет ни одного показателя")
        )
    if problems:
        raise ImportFileError(problems)
    return columns, indicators
