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

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from workflow.errors import ImportFileError, Problem
from workflow.imports.tablefile import opening, table_suffix

__all__ = ["FIELDS", "CenterRow", "is_valid_email", "read_centers_file"]

#: The canonical column names, in the order a template file lists them.
FIELDS: tuple[str, ...] = ("code", "name", "municipality", "cohort", "email")

_ALIASES: dict[str, str] = {
    "code": "code",
    "код": "code",
    "код центра": "code",
    "name": "name",
    "наименование": "name",
    "название": "name",
    "наименование организации": "name",
    "municipality": "municipality",
    "муниципальное образование": "municipality",
    "муниципалитет": "municipality",
    "cohort": "cohort",
    "год создания": "cohort",
    "год": "cohort",
    "email": "email",
    "e-mail": "email",
    "e mail": "email",
    "электронная почта": "email",
    "эл. почта": "email",
    "адрес электронной почты": "email",
}
_RUSSIAN_NAMES: dict[str, str] = {
    "code": "Код",
    "name": "Наименование",
    "municipality": "Муниципальное образование",
    "cohort": "Год создания",
    "email": "Email",
}

_MAX_CODE_LENGTH = 64
_PROGRESS_EVERY = 1000

# Whitespace and C0/C1 controls: none belongs in a code, a mail address or (CR/LF/NUL
# would break mail headers and CSV exports) a name.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACE_OR_CONTROL_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_EMAIL_FORBIDDEN_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f,;<>()\[\]\\\"]")
_DOMAIN_LABEL_RE = re.compile(r"(?!-)[^\W_]+(?:-+[^\W_]+)*")
_COHORT_RE = re.compile(r"[0-9]{1,4}")
_UTF8_SEQUENCE_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


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


def is_valid_email(value: str) -> bool:
    """Whether ``value`` is a plausible single mail address.

    Deliberately simple: one ``@``, no whitespace, commas, control characters or
    address-list punctuation (a value that could smuggle a second recipient or a
    header into a message is refused), a dotted domain of letter/digit/hyphen labels.
    Internationalised domains (``школа.рф``) are accepted.

    Args:
        value: the text to check, as written.

    Returns:
        True if the value looks like one address.
    """
    if len(value) > 254 or value.count("@") != 1 or _EMAIL_FORBIDDEN_RE.search(value):
        return False
    local, domain = value.split("@")
    if not local or len(local) > 64 or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(len(label) <= 63 and _DOMAIN_LABEL_RE.fullmatch(label) for label in labels)


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
    filename = str(path)
    suffix = table_suffix(filename)
    with opening(filename):
        if suffix == ".csv":
            total, rows = _csv_rows(Path(path).read_bytes(), filename)
        else:
            total, rows = _xlsx_rows(Path(path), filename)
        try:
            return _Reader(filename, program_years, progress).read(total, rows)
        finally:
            rows.close()  # releases the workbook even when reading stops early


# A table row as read: its 1-based line and its cells as text.
_Row = tuple[int, list[str]]
_Rows = Generator[_Row, None, None]


def _csv_rows(data: bytes, filename: str) -> tuple[int, _Rows]:
    text = _decode_csv(data, filename)
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    rows: list[_Row] = []
    previous_end = 0
    try:
        for record in reader:
            rows.append((previous_end + 1, record))
            previous_end = reader.line_num
    except csv.Error as exc:
        raise ImportFileError(
            [
                Problem(
                    file=filename,
                    line=reader.line_num,
                    message=f"строку CSV не удалось разобрать: {exc}",
                )
            ]
        ) from None
    return max(len(rows) - 1, 0), (row for row in rows)


def _decode_csv(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # Excel saves "CSV" in the ANSI code page: cp1251 on Russian Windows. cp1251
    # decodes nearly any bytes, so it only counts if the header then makes sense and
    # the bytes are not mostly UTF-8: a UTF-8 file with one damaged byte must be
    # refused, not imported as mojibake ("РњР‘РћРЈ").
    text: str | None = None
    if not _mostly_utf8(data):
        try:
            text = data.decode("cp1251")
        except UnicodeDecodeError:
            text = None
    if text is not None:
        first = text.split("\n", 1)[0].rstrip("\r")
        cells = re.split(r"[,;\t]", first)
        if any(_normalise_header(cell) in _ALIASES for cell in cells):
            return text
    offset = utf8_error.start
    line_start = data.rfind(b"\n", 0, offset) + 1
    raise ImportFileError(
        [
            Problem(
                file=filename,
                line=data.count(b"\n", 0, offset) + 1,
                column=len(data[line_start:offset].decode("utf-8", errors="replace")) + 1,
                message="файл не в кодировке UTF-8 и не в Windows-1251: "
                "сохраните его как «CSV UTF-8»",
            )
        ]
    )


def _mostly_utf8(data: bytes) -> bool:
    """Whether valid UTF-8 multi-byte sequences outnumber the invalid bytes.

    In cp1251 Russian text a letter (0xC0-0xFF) is nearly always followed by another
    letter or ASCII, which UTF-8 rejects; so real cp1251 has few valid sequences.
    """
    valid = len(_UTF8_SEQUENCE_RE.findall(data))
    invalid = data.decode("utf-8", errors="replace").count("\ufffd")
    return valid > invalid


def _open_xlsx(path: Path, filename: str) -> tuple[Any, Any] | None:
    """The workbook (read-only; the caller closes it) and its first sheet, or None for a
    workbook without sheets.

    Raises:
        ImportFileError: the file is not a workbook.
    """
    # openpyxl costs ~0.3 s to import; only XLSX imports pay for it.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; irrelevant here.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, EOFError) as exc:
        raise ImportFileError(
            [Problem(file=filename, message=f"файл не открывается как книга Excel (.xlsx): {exc}")]
        ) from None
    if not workbook.worksheets:
        workbook.close()
        return None
    return workbook, workbook.worksheets[0]


def _xlsx_rows(path: Path, filename: str) -> tuple[int, _Rows]:
    opened = _open_xlsx(path, filename)
    if opened is None:
        return 0, _no_rows()
    workbook, sheet = opened
    declared = sheet.max_row if isinstance(sheet.max_row, int) else 0

    def rows() -> _Rows:
        try:
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield line, [_cell_text(value) for value in values]
        finally:
            workbook.close()

    return max(declared - 1, 0), rows()


def _no_rows() -> _Rows:
    yield from ()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        # Excel stores every number as a float: 2021 arrives as 2021.0.
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _normalise_header(cell: str) -> str:
    return " ".join(cell.replace("\ufeff", "").split()).casefold().replace("ё", "е")


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

    def read(self, total: int, rows: _Rows) -> list[CenterRow]:
        # Blank rows above the header are tolerated (a title row someone cleared).
        header = next((row for row in rows if _is_filled(row[1])), None)
        if header is None:
            self.problem("файл пуст: нет ни одной строки с центрами")
            raise self.fail()
        header_line, header_cells = header
        columns = self.header(header_line, header_cells)
        if columns is None:
            raise self.fail()
        result = self.data_rows(columns, header_cells, max(total - header_line + 1, 0), rows)
        if self.problems:
            # Row checks report field by field; people read a file left to right.
            self.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
            raise self.fail()
        return result

    def header(self, line: int, cells: list[str]) -> dict[str, int] | None:
        """Column index (0-based) of each canonical field, or None if the header is bad."""
        columns: dict[str, int] = {}
        for index, cell in enumerate(cells):
            written = cell.strip()
            if not written:
                continue
            canonical = _ALIASES.get(_normalise_header(written))
            if canonical is None:
                self.problem(
                    f"неизвестный столбец «{written}»; ожидаются: {_expected_columns()}",
                    line=line,
                    column=index + 1,
                    field=written,
                )
            elif canonical in columns:
                self.problem(
                    f"столбец «{written}» повторяет столбец {columns[canonical] + 1} "
                    f"«{cells[columns[canonical]].strip()}»",
                    line=line,
                    column=index + 1,
                    field=written,
                )
            else:
                columns[canonical] = index
        missing = [f"{name} ({_RUSSIAN_NAMES[name]})" for name in FIELDS if name not in columns]
        if missing:
            self.problem(f"в заголовке нет столбцов: {', '.join(missing)}", line=line)
        return None if self.problems else columns

    def data_rows(
        self,
        columns: dict[str, int],
        header: list[str],
        total: int,
        rows: Iterable[_Row],
    ) -> list[CenterRow]:
        names = {field: header[index].strip() for field, index in columns.items()}
        used = set(columns.values())
        width = len(header)
        first_line_of: dict[str, int] = {}
        result: list[CenterRow] = []
        done = 0
        filled = 0
        progress = self.progress
        for line, cells in rows:
            done += 1
            if progress is not None and done % _PROGRESS_EVERY == 0:
                progress(done, max(total, done))
            if not _is_filled(cells):
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
            if row is not None:
                result.append(row)
        if progress is not None:
            progress(done, done)
        if filled == 0:
            self.problem("нет ни одной строки с центрами: в файле только заголовок")
        return result

    def row(
        self,
        line: int,
        cells: list[str],
        columns: dict[str, int],
        names: dict[str, str],
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
                bad("code", f"код «{_visible(code)}» содержит пробелы или управляющие символы")
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
                bad("cohort", f"год создания «{_visible(values['cohort'])}» — не целое число")
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
        if email and not is_valid_email(email):
            bad("email", f"«{_visible(email)}» — не адрес электронной почты")
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


def _is_filled(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def _expected_columns() -> str:
    return ", ".join(f"{name} ({_RUSSIAN_NAMES[name]})" for name in FIELDS)


def _visible(value: str) -> str:
    """The value with control characters escaped, safe to show in a terminal."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
