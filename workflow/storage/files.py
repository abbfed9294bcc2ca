"""File modes of the embedded database: ``./var/`` and the SQLite files, owner-only or
shared with the operators' group (``TOCHKA_FILE_MODE_GROUP``), set when ``tochka init``
creates them and never changed afterwards."""

from __future__ import annotations

import grp
import os
from dataclasses import dataclass
from pathlib import Path

from base import db
from base.errors import DatabaseUnavailable, InputError, os_reason


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


@dataclass(frozen=True, kw_only=True, slots=True)
class Placement:
    """What ``tochka init`` creates: the database file, Tochka's folder for it."""

    new_file: bool
    new_folder: bool


def database_place(path: Path, *, folder: Path) -> Placement:
    """Check where ``tochka init`` is to open or create the SQLite file ``path``.

    Only Tochka's own folder (``TOCHKA_VAR_DIR``, ``./var`` by default) is created when
    missing; a database elsewhere must go into a folder that exists (a typo in ``--db``
    creates nothing).

    Args:
        path: the database file.
        folder: Tochka's folder.

    Raises:
        DatabaseUnavailable: the path is a folder, its folder is missing (and not
            Tochka's), or the existing file may not be written (its mode, its owner, a
            read-only file system): init never changes an existing file's mode.
    """
    if path.is_dir():
        raise DatabaseUnavailable(
            f"«{path}» — папка, а не файл базы данных: ничего не создано.",
            hint="Укажите в --db / TOCHKA_DB_URL файл, например var/tochka.db.",
        )
    if path.exists():
        if not db.is_writable(path):
            raise DatabaseUnavailable(
                f"База данных {path} защищена от записи: init её не меняет.",
                hint=db.read_only_hint(path),
            )
        return Placement(new_file=False, new_folder=False)
    parent = path.parent
    ours = parent.absolute() == folder.absolute()
    if not parent.is_dir() and not ours:
        raise DatabaseUnavailable(
            f"Папка {parent} не существует: база данных не создана.",
            hint=f"Создайте её (mkdir -p {parent}) или укажите другой путь в --db / TOCHKA_DB_URL.",
        )
    return Placement(new_file=True, new_folder=not parent.exists())


def open_mode_note(path: Path, *, gid: int = -1) -> str | None:
    """A warning when an existing database is open to more people than Tochka would let
    (init leaves its mode alone, but says so), or None."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    allowed = 0o660 if gid != -1 else 0o600
    if not mode & ~allowed & 0o777:
        return None
    return (
        f"Внимание: права файла базы {path} — {mode:04o}, шире, чем {allowed:04o}, которые "
        f"Tochka даёт новой базе; init их не меняет (chmod {allowed:o} {path}, если это не "
        "намеренно)."
    )


def restrict_file_mode(path: Path, *, folder: Path | None, gid: int = -1) -> None:
    """Make a new SQLite database owner-only (or owner and group), and Tochka's new folder.

    Called for what ``tochka init`` has just created: an existing database keeps the
    mode its owner gave it (a read-only archive stays read-only), and a folder Tochka did
    not create is never changed (a home directory, ``/tmp``).

    Args:
        path: the database file (its ``-wal`` and ``-shm`` files too).
        folder: Tochka's folder (``TOCHKA_VAR_DIR``) if init created it now, else None.
        gid: the operators' group (`file_mode_gid`), -1 for owner only.

    Raises:
        InputError: a folder or file whose mode cannot be changed (someone else owns it).
    """
    grouped = gid != -1
    current = folder or path
    try:
        if folder is not None:
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
            f"Не удалось ограничить права доступа к {current}: {os_reason(exc)}.",
            hint="Запустите tochka init от имени владельца этих файлов (того, кто будет "
            "запускать демон) или исправьте владельца: chown.",
        ) from None
