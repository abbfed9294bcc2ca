"""The root of Tochka's errors and the errors of the shared base (input, database).

Every error a person may see derives from `TochkaError`, which lives in the bottom layer
so that every package (states, notifications, workflow, the daemon) can derive from it.
Each error keeps its values as attributes; ``str(error)`` is the Russian message shown to
people, and ``hint`` (when present) says what to do next::

    TochkaError
    ├── InputError            a command-line or configuration value is wrong
    ├── SchemaTooNew          the database was written by a newer Tochka
    ├── DatabaseUnavailable   the database cannot be reached or opened
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
