"""Reading a list of centers from a CSV or XLSX file, all or nothing.

The first row is the header: ``code, name, municipality, cohort, email`` in any order,
case-insensitive, or their Russian names («Код», «Наименование», «Муниципальное
образование», «Год создания», «Email»/«Электронная почта»/«E-mail»). Every row is
validated and every problem is reported with its line and column before anything is
imported: a coordinator fixes the file once instead of once per error.

CSV files may be UTF-8 (with or without a BOM) or Windows-1251, which is what Excel
writes when a Russian user saves "CSV (разделители — запятые)"; the delimiter is ``,``,
``;`` or a tab, whichever the header line uses. XLSX files are read from their first
sheet. Fully blank rows are skipped (spreadsheets keep them after the data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from base.addresses import address_problem, is_valid_email
from workflow.errors import ImportFileError, Problem
from workflow.imports.header import EMAIL_COLUMN, MUNICIPALITY_COLUMN, Column, Header, HeaderSpec
from workflow.imports.tablefile import (
    Row,
    Rows,
    csv_rows,
    is_filled,
    opening,
    table_suffix,
    visible,
    xlsx_rows,
)

__all__ = ["FIELDS", "CenterRow", "center_rows", "is_valid_email", "read_centers_file"]

_COLUMNS = (
    Column(key="code", aliases=("code", "код", "код центра"), russian_name="Код"),
    Column(
        key="name",
        aliases=("name", "наименование", "название", "наименование организации"),
        russian_name="Наименование",
    ),
    MUNICIPALITY_COLUMN,
    Column(key="cohort", aliases=("cohort", "год создания", "год"), russian_name="Год создания"),
    EMAIL_COLUMN,
)
_HEADER = HeaderSpec(
    columns=_COLUMNS,
    label="{key} ({russian})",
    unknown="неизвестный столбец «{written}»; ожидаются: {expected}",
    repeated="столбец «{written}» повторяет столбец {column} «{first}»",
)

#: The canonical column names, in the order a template file lists them.
FIELDS: tuple[str, ...] = tuple(column.key for column in _COLUMNS)

_MAX_CODE_LENGTH = 64
_PROGRESS_EVERY = 1000

# Whitespace and C0/C1 controls: none belongs in a code, a mail address or (CR/LF/NUL
# would break mail headers and CSV exports) a name.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACE_OR_CONTROL_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_COHORT_RE = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True, kw_only=True)
class CenterRow:
    """One validated row of a centers file.

    Attributes:
        code: the center's code, unique within the file.
        name: the school's name.
        municipality: the municipal district or city district.
        cohort: the year the center is created (one of the program years).
        email: the school's contact address.
        line: the row's line in the file (1-based; the header is line 1 unless a CSV
            record spans several lines).
    """

    code: str
    name: str
    municipality: str
    cohort: int
    email: str
    line: int


ProgressCallback = Callable[[int, int], None]


def read_centers_file(
    path: str | Path,
    *,
    program_years: range,
    progress: ProgressCallback | None = None,
) -> list[CenterRow]:
    """Read and validate a centers file.

    Args:
        path: a ``.csv`` or ``.xlsx`` file.
        program_years: the years a cohort may take (`Roadmap.program_years`).
        progress: called with (rows done, rows in total) every thousand rows and at
            the end, for a progress bar. For XLSX the total is the sheet's declared
            size, which may count trailing blank rows.

    Returns:
        The rows in file order.

    Raises:
        ImportFileError: the file cannot be read, or any row is invalid; ``problems``
            lists every problem found, in file order.
    """
    return list(center_rows(path, program_years=program_years, progress=progress))


def center_rows(
    path: str | Path,
    *,
    program_years: range,
    progress: ProgressCallback | None = None,
) -> Iterator[CenterRow]:
    """`read_centers_file` one row at a time: each valid row as soon as it is read, so
    that a large file is imported as it is read (`workflow.engine.centers.import_centers`
    writes it in chunks, in one transaction).

    Raises:
        ImportFileError: on the first row asked for, when the file cannot be read or its
            header is wrong; after the last row, when any row was invalid (every problem,
            in file order). The rows given before then are to be discarded, as the import
            does by rolling its transaction back.
    """
    filename = str(path)
    suffix = table_suffix(filename)
    with opening(filename):
        if suffix == ".csv":
            total, rows = csv_rows(Path(path).read_bytes(), filename, headers=_HEADER.known)
        else:
            total, rows = xlsx_rows(Path(path), filename)
        try:
            yield from _Reader(filename, program_years, progress).read(total, rows)
        finally:
            rows.close()  # releases the workbook even when reading stops early


# A table row as read: its 1-based line and its cells as text.
class _Reader:
    """Validates the rows of one file, collecting every problem."""

    def __init__(
        self, filename: str, program_years: range, progress: ProgressCallback | None
    ) -> None:
        self.filename = filename
        self.program_years = program_years
        self.progress = progress
        self.problems: list[Problem] = []

    def problem(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.problems.append(
            Problem(file=self.filename, line=line, column=column, field=field, message=message)
        )

    def fail(self) -> ImportFileError:
        return ImportFileError(self.problems)

    def read(self, total: int, rows: Rows) -> Iterator[CenterRow]:
        # Blank rows above the header are tolerated (a title row someone cleared).
        header = next((row for row in rows if is_filled(row[1])), None)
        if header is None:
            self.problem("файл пуст: нет ни одной строки с центрами")
            raise self.fail()
        header_line, header_cells = header
        columns = _HEADER.read(header_cells, filename=self.filename, line=header_line)
        yield from self.data_rows(columns, len(header_cells), max(total - header_line + 1, 0), rows)
        if self.problems:
            # Row checks report field by field; people read a file left to right.
            self.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
            raise self.fail()

    def data_rows(
        self,
        header: Header,
        width: int,
        total: int,
        rows: Iterable[Row],
    ) -> Iterator[CenterRow]:
        """The valid rows, as they are read; once a row has a problem, none after it
        (they would be discarded)."""
        columns, names = header.columns, header.names
        used = set(columns.values())
        first_line_of: dict[str, int] = {}
        done = 0
        filled = 0
        progress = self.progress
        for line, cells in rows:
            done += 1
            if progress is not None and done % _PROGRESS_EVERY == 0:
                progress(done, max(total, done))
            if not is_filled(cells):
                continue
            filled += 1
            for index in range(len(cells)):
                if index not in used and cells[index].strip():
                    where = "без заголовка" if index < width else "за последним столбцом"
                    self.problem(
                        f"значение «{cells[index].strip()}» в столбце {where}",
                        line=line,
                        column=index + 1,
                    )
            row = self.row(line, cells, columns, names, first_line_of)
            if row is not None and not self.problems:
                yield row
        if progress is not None:
            progress(done, done)
        if filled == 0:
            self.problem("нет ни одной строки с центрами: в файле только заголовок")

    def row(
        self,
        line: int,
        cells: list[str],
        columns: Mapping[str, int],
        names: Mapping[str, str],
        first_line_of: dict[str, int],
    ) -> CenterRow | None:
        values: dict[str, str] = {}
        ok = True
        for field in FIELDS:
            index = columns[field]
            value = cells[index].strip() if index < len(cells) else ""
            if not value:
                self.problem(
                    "значение не заполнено", line=line, column=index + 1, field=names[field]
                )
                ok = False
            values[field] = value

        def bad(field: str, message: str) -> None:
            nonlocal ok
            self.problem(message, line=line, column=columns[field] + 1, field=names[field])
            ok = False

        code = values["code"]
        if code:
            if _SPACE_OR_CONTROL_RE.search(code):
                bad("code", f"код «{visible(code)}» содержит пробелы или управляющие символы")
            elif len(code) > _MAX_CODE_LENGTH:
                bad("code", f"код длиннее {_MAX_CODE_LENGTH} символов ({len(code)})")
            elif code in first_line_of:
                bad("code", f"код «{code}» повторяется: строки {first_line_of[code]} и {line}")
            else:
                first_line_of[code] = line
        for field in ("name", "municipality"):
            if values[field] and _CONTROL_RE.search(values[field]):
                bad(field, "значение содержит управляющие символы (перевод строки, NUL и т. п.)")
        cohort: int | None = None
        if values["cohort"]:
            if not _COHORT_RE.fullmatch(values["cohort"]):
                bad("cohort", f"год создания «{visible(values['cohort'])}» — не целое число")
            else:
                cohort = int(values["cohort"])
                if cohort not in self.program_years:
                    years = self.program_years
                    bad(
                        "cohort",
                        f"год создания {cohort} вне периода программы "
                        f"{years.start}–{years.stop - 1}",
                    )
        email = values["email"]
        email_problem = address_problem(email) if email else None
        if email_problem:
            bad("email", email_problem)
        if not ok or cohort is None:
            return None
        return CenterRow(
            code=code,
            name=values["name"],
            municipality=values["municipality"],
            cohort=cohort,
            email=email,
            line=line,
        )
