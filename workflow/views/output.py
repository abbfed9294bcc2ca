"""Writing report files atomically: a temporary file beside the target, then a rename.

A report that fails half-way (a full disk, a bug, Ctrl-C) leaves no half file behind and
never replaces a good report with a broken one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from base.errors import os_reason
from workflow.errors import InputError

__all__ = ["atomic_output", "check_output"]


def check_output(path: Path, *, what: str = "отчёт") -> Path:
    """The absolute target path, after checking it can be written.

    A missing folder is not created: a typo in ``-o`` should not leave folders behind,
    and the message names the folder to create.

    Args:
        path: the ``-o`` value.
        what: what is written, for the message (``отчёт``, ``календарь``).

    Raises:
        InputError: the path is a folder, its folder is missing or is a file, or the
            folder may not be written.
    """
    target = path.expanduser().absolute()
    if target.is_dir():
        raise InputError(
            f"«{path}» — папка, а не файл: {what} не записан.",
            hint=f"Укажите имя файла, например -o {target / _EXAMPLE.get(what, 'отчёт.xlsx')}.",
        )
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(
            f"«{parent}» — файл, а не папка: {what} не записан.",
            hint="Укажите в -o путь в существующей папке.",
        )
    if not parent.is_dir():
        raise InputError(
            f"Папка «{parent}» не существует: {what} не записан.",
            hint=f"Создайте папку (mkdir -p {parent}) или укажите другой путь в -o.",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"В папку «{parent}» нельзя записывать: {what} не записан.",
            hint="Укажите в -o папку, открытую для записи.",
        )
    return target


_EXAMPLE = {"отчёт": "отчёт.xlsx", "календарь": "сроки.ics"}


@contextmanager
def atomic_output(path: Path, *, what: str = "отчёт") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    Raises:
        InputError: see `check_output`; or the file cannot be written (a full disk).
    """
    target = check_output(path, what=what)
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _not_written(target, what, exc) from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes the file owner-only; a report is meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        if isinstance(exc, OSError):
            raise _not_written(target, what, exc) from None
        raise


def _not_written(target: Path, what: str, exc: OSError) -> InputError:
    return InputError(
        f"Не удалось записать «{target}»: {os_reason(exc)}; {what} не записан.",
        hint="Проверьте место на диске и права на папку; прежний файл, если был, не изменён.",
    )
