"""What the table-file readers (centers, indicators) share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workflow.errors import ImportFileError, Problem


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
