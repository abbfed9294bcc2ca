"""Reading the municipalities' contacts from a CSV or XLSX file, all or nothing.

    municipality,email,recipient
    Шуйский муниципальный район,uo@shuya.example.org,Управление образования Шуйского района

Headers may be Russian («Муниципальное образование»/«Муниципалитет», «Email»/«Электронная
почта», «Получатель»/«Орган управления образованием»); ``recipient`` is optional (the
letter then addresses the municipality by name). Encodings, delimiters and workbooks are
those of the centers file. Whether each name is one the roadmap's centers use is checked
on import (`workflow.engine.municipalities.import_contacts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from base.addresses import address_problem
from workflow.errors import ImportFileError, Problem
from workflow.imports.header import EMAIL_COLUMN, MUNICIPALITY_COLUMN, Column, ColumnUse, HeaderSpec
from workflow.imports.tablefile import (
    csv_rows,
    is_filled,
    opening,
    table_suffix,
    xlsx_rows,
)

__all__ = ["MUNICIPALITY_FIELD", "ContactRow", "read_contacts_file"]

_HEADER = HeaderSpec(
    columns=(
        MUNICIPALITY_COLUMN,
        EMAIL_COLUMN,
        Column(
            key="recipient",
            aliases=(
                "recipient",
                "получатель",
                "орган управления образованием",
                "наименование органа",
            ),
            russian_name="Получатель",
            use=ColumnUse.OPTIONAL,
        ),
    ),
    expected="Муниципальное образование, Email и (необязательно) Получатель",
)
_FIELD = {column.key: column.russian_name for column in _HEADER.columns}

#: How problems name the municipality column (the import's own checks too).
MUNICIPALITY_FIELD = _FIELD["municipality"]

_MAX_RECIPIENT = 200


@dataclass(frozen=True, kw_only=True)
class ContactRow:
    """One validated row of a contacts file (``line`` is its line in the file)."""

    municipality: str
    email: str
    recipient: str
    line: int
    column: int = 1


def read_contacts_file(path: str | Path) -> list[ContactRow]:
    """Read and check a contacts file; every problem at once, with line and column.

    Raises:
        ImportFileError: the file cannot be read, or a row or the header is wrong.
    """
    filename = str(path)
    suffix = table_suffix(filename)
    with opening(filename):
        if suffix == ".csv":
            _, rows = csv_rows(Path(path).read_bytes(), filename, headers=_HEADER.known)
        else:
            _, rows = xlsx_rows(Path(path), filename)
    problems: list[Problem] = []
    result: list[ContactRow] = []
    try:
        header = next((row for row in rows if is_filled(row[1])), None)
        if header is None:
            raise ImportFileError(
                [Problem(file=filename, message="файл пуст: нет ни одной строки")]
            )
        header_line, cells = header
        columns = _HEADER.read(cells, filename=filename, line=header_line).columns
        seen: dict[str, int] = {}
        for line, row in rows:
            if not is_filled(row):
                continue

            def cell(key: str, row: list[str] = row) -> str:
                index = columns.get(key)
                return row[index].strip() if index is not None and index < len(row) else ""

            def problem(key: str, message: str, *, line: int = line) -> None:
                problems.append(
                    Problem(
                        file=filename,
                        line=line,
                        column=columns[key] + 1,
                        field=_FIELD[key],
                        message=message,
                    )
                )

            municipality, email, recipient = cell("municipality"), cell("email"), cell("recipient")
            if not municipality:
                problem("municipality", "не указано муниципальное образование")
            elif municipality.casefold() in seen:
                problem(
                    "municipality",
                    f"«{municipality}» уже есть в строке {seen[municipality.casefold()]}",
                )
            else:
                seen[municipality.casefold()] = line
            if not email:
                problem("email", "не указан адрес электронной почты")
            elif email_problem := address_problem(email):
                problem("email", email_problem)
            if len(recipient) > _MAX_RECIPIENT or any(ord(c) < 32 for c in recipient):
                problem(
                    "recipient",
                    f"получатель длиннее {_MAX_RECIPIENT} знаков или содержит перевод строки",
                )
            result.append(
                ContactRow(
                    municipality=municipality,
                    email=email,
                    recipient=recipient or municipality,
                    line=line,
                    column=columns["municipality"] + 1,
                )
            )
        if not result and not problems:
            problems.append(Problem(file=filename, message="в файле нет ни одной строки данных"))
        if problems:
            raise ImportFileError(problems)
        return result
    finally:
        rows.close()
