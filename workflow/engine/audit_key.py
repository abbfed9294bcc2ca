"""The key of the keyed audit chain (``audit_key`` / ``TOCHKA_AUDIT_KEY``), for the process.

Set once by the command line when its settings are read (`use`), read by
`workflow.engine.audit` when it seals or checks an event. Kept apart from `audit` so that
setting it costs no import of SQLAlchemy. The key is never stored in the database, shown
or logged.
"""

from __future__ import annotations

_key: bytes | None = None


def use(key: str | None) -> None:
    """The key this process signs and checks events with; empty or None: none."""
    global _key  # noqa: PLW0603  # one key per process, set at start
    _key = key.encode("utf-8") if key else None


def current() -> bytes | None:
    """The key in use, or None."""
    return _key
