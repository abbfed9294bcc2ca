"""The root of Tochka's errors and the errors of the shared base (input, database).

Every error a person may see derives from `TochkaError`, which lives in the bottom layer
so that every package (states, notifications, workflow, the daemon) can derive from it.
Each error keeps its values as attributes; ``str(error)`` is the Russian message shown to
people, and ``hint`` (when present) says what to do next::

    TochkaError
    ├── InputError            a command-line or configuration value is wrong
    ├── SchemaTooNew          the database was written by a newer Tochka
    ├── DatabaseUnavailable   the database cannot be reached or opened
    │   ├── DiskFull, ReadOnlyDatabase, PermissionDenied, DatabaseDamaged
    ├── states.errors.StateError            (trigger not allowed, guard refused)
    ├── notifications.errors.*              (rendering, headers, delivery)
    └── workflow.errors.*                   (files, not found, conflicts, audit)
"""

from __future__ import annotations


class TochkaError(Exception):
    """Base class of every error Tochka reports to a person.

    Attributes:
        message: the Russian text shown to the user.
        hint: optional Russian advice on what to do next.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class InputError(TochkaError):
    """A command-line value is wrong (a date that is not a date, an unknown option value)."""


class SchemaTooNew(TochkaError):
    """The database was written by a newer version of Tochka."""


class DatabaseUnavailable(TochkaError):
    """The database cannot be reached or opened."""


class DiskFull(DatabaseUnavailable):
    """No space is left on the disk of the database's files (or the server's)."""


class ReadOnlyDatabase(DatabaseUnavailable):
    """The database may be read, not written: a read-only file system, a file protected
    by its mode or an attribute, a read-only server session."""


class PermissionDenied(DatabaseUnavailable):
    """This account has no right to the database: the file's owner and mode, the
    server's grants or its login rules."""


class DatabaseDamaged(DatabaseUnavailable):
    """The file is not a SQLite database, or it is damaged (truncated, garbled)."""


#: The Russian words for the operating system's errors a person can act on.
_OS_REASONS = {
    "ENOENT": "нет такого файла или папки",
    "EACCES": "нет прав",
    "EPERM": "нет прав",
    "EROFS": "файловая система смонтирована только для чтения",
    "ENOSPC": "на диске нет места",
    "EDQUOT": "превышена дисковая квота",
    "EISDIR": "это папка",
    "ENOTDIR": "часть пути — не папка",
    "EEXIST": "уже существует",
    "ENAMETOOLONG": "слишком длинное имя",
    "EIO": "ошибка ввода-вывода",
}


def os_reason(exc: OSError) -> str:
    """Why a file operation failed, in Russian (the errno's name for the rest)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    return _OS_REASONS.get(name) or (f"системная ошибка {name}" if name else str(exc))
