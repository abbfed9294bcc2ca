"""File modes of the embedded database: ``./var/`` and the SQLite files, owner-only or
shared with the operators' group (``TOCHKA_FILE_MODE_GROUP``)."""

from __future__ import annotations

import grp
import os
from pathlib import Path

from base.errors import InputError


def file_mode_gid(group: str | None) -> int:
    """The gid of the operators' group (``TOCHKA_FILE_MODE_GROUP``), -1 for none.

    Raises:
        InputError: the group does not exist.
    """
    if not group:
        return -1
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise InputError(f"Группа «{group}» (TOCHKA_FILE_MODE_GROUP) не найдена.") from None


def restrict_file_mode(path: Path, *, folder: Path, gid: int = -1) -> None:
    """Make Tochka's own folder and the SQLite files owner-only (or owner and group).

    Only ``folder`` (``./var/``, which Tochka creates) is changed among directories: a
    database kept elsewhere has its files restricted, never the folder it sits in, which
    may be anyone's (a home directory, ``/tmp``).

    Args:
        path: the database file.
        folder: Tochka's folder (``TOCHKA_VAR_DIR``); created if missing.
        gid: the operators' group (`file_mode_gid`), -1 for owner only.

    Raises:
        InputError: a folder or file whose mode cannot be changed (someone else owns it).
    """
    grouped = gid != -1
    current = folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o2770 if grouped else 0o700)
        if grouped:
            os.chown(folder, -1, gid)
        for current in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if current.exists():
                os.chmod(current, 0o660 if grouped else 0o600)
                if grouped:
                    os.chown(current, -1, gid)
    except OSError as exc:
        raise InputError(
            f"Не удалось ограничить права доступа к {current}: {exc.strerror or exc}.",
            hint="Запустите tochka init от имени владельца этих файлов (того, кто будет "
            "запускать демон) или исправьте владельца: chown.",
        ) from None
