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

from workflow.errors import InputError

__all__ = ["atomic_output", "check_output"]


def check_output(path: Path) -> Path:
    """The absolute target path, after checking its folder exists.

    Raises:
        InputError: the folder is missing, or the path is a folder itself.
    """
    target = path.expanduser().absolute()
    if target.is_dir():
        raise InputError(
            f"«{path}» — папка, а не файл: отчёт не записан.",
            hint="Укажите имя файла, например -o отчёт.xlsx.",
        )
    if not target.parent.is_dir():
        raise InputError(
            f"Папка «{target.parent}» не существует: отчёт не записан.",
            hint="Создайте папку или укажите другой путь в -o.",
        )
    return target


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    Raises:
        InputError: see `check_output`.
    """
    target = check_output(path)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes the file owner-only; a report is meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
