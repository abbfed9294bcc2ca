"""What the table-file readers (centers, municipalities, indicators) share: opening a
file, its kind, and its rows as text from CSV or XLSX."""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Collection, Generator, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from workflow.errors import ImportFileError, Problem

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UTF8_SEQUENCE_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


@contextmanager
def opening(filename: str) -> Iterator[None]:
    """Turn the ways a file cannot be opened into an `ImportFileError` naming it."""
    try:
        yield
    except FileNotFoundError:
        raise ImportFileError([Problem(file=filename, message="файл не найден")]) from None
    except IsADirectoryError:
        raise ImportFileError([Problem(file=filename, message="это каталог, а не файл")]) from None
    except PermissionError:
        raise ImportFileError(
            [Problem(file=filename, message="нет прав на чтение файла")]
        ) from None


def table_suffix(filename: str) -> str:
    """``.csv`` or ``.xlsx``: the kind of a table file, by its name.

    Raises:
        ImportFileError: any other kind, named (with advice for an old ``.xls``).
    """

    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        hint = " (сохраните файл Excel как .xlsx)" if suffix == ".xls" else ""
        raise ImportFileError(
            [
                Problem(
                    file=filename,
                    message=f"неподдерживаемый формат файла «{suffix or 'без расширения'}»: "
                    f"нужен .csv или .xlsx{hint}",
                )
            ]
        )
    return suffix


Row = tuple[int, list[str]]
Rows = Generator[Row, None, None]


def csv_rows(
    data: bytes, filename: str, *, headers: Collection[str], counted: bool = True
) -> tuple[int, Rows]:
    """The rows of a CSV file (UTF-8 with or without BOM, or Windows-1251 as Excel saves
    it; separated by ``,``, ``;`` or tabs) and how many follow the header.

    The rows are parsed twice: once here to count them (and to refuse a file the csv
    module cannot parse, naming its line, before any row is used), then one at a time
    as they are read: a file of 200,000 rows is never held as rows, only as its text.

    Args:
        data: the file's bytes.
        filename: the name shown in errors.
        headers: the normalised header names the reader knows: a Windows-1251 reading
            counts only if its first line names one of them.
        counted: False parses the rows once, as they are read, for a reader that holds
            them all anyway: the count is 0, and a line the csv module cannot parse
            raises the same error when it is reached.
    """
    text = _decode_csv(data, filename, headers)
    del data  # the caller's bytes, often its only reference: the text is what is read
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)

    def reader() -> Any:
        return csv.reader(_lines(text), delimiter=delimiter, strict=False)

    def unparsed(line: int, exc: csv.Error) -> ImportFileError:
        return ImportFileError(
            [Problem(file=filename, line=line, message=f"строку CSV не удалось разобрать: {exc}")]
        )

    records = 0
    if counted:
        counting = reader()
        try:
            for _ in counting:
                records += 1
        except csv.Error as exc:
            raise unparsed(counting.line_num, exc) from None

    def rows() -> Rows:
        parsed = reader()
        previous_end = 0
        try:
            for record in parsed:
                yield previous_end + 1, record
                previous_end = parsed.line_num
        except csv.Error as exc:  # only when not counted: the count parsed every line
            raise unparsed(parsed.line_num, exc) from None

    return max(records - 1, 0), rows()


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` as ``io.StringIO(text, newline="")`` gives them (ends kept),
    without its copy of the whole text (four bytes a character)."""
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        # A line ended by a lone CR (Excel for Mac): StringIO splits there too.
        yield from io.StringIO(text, newline="")
        return
    start, find = 0, text.find
    while True:
        end = find("\n", start)
        if end < 0:
            if start < len(text):
                yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def _decode_csv(data: bytes, filename: str, headers: Collection[str]) -> str:
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
        if any(normalise_header(cell) in headers for cell in cells):
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


def open_xlsx(path: Path, filename: str, *, data_only: bool = True) -> tuple[Any, Any] | None:
    """The workbook (read-only; the caller closes it) and its first sheet, or None for a
    workbook without sheets.

    ``data_only=False`` keeps a formula cell's formula (``data_type`` ``f``), for a
    reader that refuses formulas rather than take their cached results.

    Raises:
        ImportFileError: the file is not a workbook.
    """
    # Imported here: openpyxl costs ~140 ms at start-up and CSV files never need it.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; irrelevant here.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, EOFError) as exc:
        raise ImportFileError(
            [
                Problem(
                    file=filename,
                    message=f"файл не открывается как книга Excel (.xlsx): {_why(exc)}",
                )
            ]
        ) from None
    if not workbook.worksheets:
        workbook.close()
        return None
    return workbook, workbook.worksheets[0]


def _why(exc: Exception) -> str:
    """Why openpyxl or zipfile could not open a workbook, in words a person reads (their
    own messages are English)."""
    if isinstance(exc, zipfile.BadZipFile | EOFError):
        return "это не архив .xlsx (возможно, CSV, старый .xls или повреждённый файл)"
    if isinstance(exc, KeyError):
        return "в архиве нет частей книги Excel (файл другой программы или повреждён)"
    if type(exc).__name__ == "InvalidFileException":
        return "формат не поддерживается: сохраните файл как книгу Excel (.xlsx)"
    return "содержимое книги повреждено; сохраните её заново в Excel или LibreOffice"


def xlsx_rows(path: Path, filename: str) -> tuple[int, Rows]:
    """The first sheet's rows as text, and how many follow the header."""
    opened = open_xlsx(path, filename)
    if opened is None:
        return 0, _no_rows()
    workbook, sheet = opened
    declared = sheet.max_row if isinstance(sheet.max_row, int) else 0

    def rows() -> Rows:
        try:
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield line, [cell_text(value) for value in values]
        finally:
            workbook.close()

    return max(declared - 1, 0), rows()


def _no_rows() -> Rows:
    yield from ()


def cell_text(value: object) -> str:
    """A cell's value as the text a person typed."""
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


def normalise_header(cell: str) -> str:
    """A header cell compared without case, spaces, BOM or «ё»."""
    return " ".join(cell.replace("\ufeff", "").split()).casefold().replace("ё", "е")


def is_filled(cells: list[str]) -> bool:
    """Whether a row has any text (blank rows are skipped)."""
    return any(map(str.strip, cells))


def visible(value: str) -> str:
    """The value with control characters escaped, safe to show in a terminal."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
