"""Electing the one daemon that reconciles: a file lock on SQLite, an advisory lock on
PostgreSQL (DESIGN.md, principle 6).

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a dedicated
  connection for as long as the daemon leads; its key is derived from the current
  schema, so databases sharing a server elect their leaders independently.
* SQLite: an OS file lock next to the database file, freed when its process dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
from typing import Protocol

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.engine import Connection, Engine

from base import db
from base.errors import TochkaError

log = logging.getLogger("tochka.daemon")


class DaemonRefused(TochkaError):
    """Another daemon already runs on this SQLite database."""

    def __init__(self, *, db_path: str, lock_path: str) -> None:
        self.db_path = db_path
        self.lock_path = lock_path
        super().__init__(
            f"Демон не запущен: другой демон уже работает с базой {db_path} "
            f"(блокировка {lock_path}). С одной базой SQLite работает только один демон.",
            hint="Остановите работающий демон (tochka daemon status покажет его PID) или "
            "запустите этот с --standby: он подождёт в резерве и заменит работающий, когда "
            "тот остановится.",
        )


class LeaderLock(Protocol):
    """Elects the one daemon that reconciles."""

    def try_acquire(self) -> bool:
        """Take the lock if free; True if this daemon holds it now."""

    def still_held(self) -> bool:
        """Whether the lock is still ours (False when its connection was lost)."""

    def release(self) -> None:
        """Give the lock up (idempotent)."""


class FileLeaderLock:
    """SQLite: an OS file lock next to the database file (freed when the process dies)."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.path = f"{db_path}.daemon.lock"
        self._lock = FileLock(self.path)

    def try_acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def still_held(self) -> bool:
        return bool(self._lock.is_locked)

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


class AdvisoryLeaderLock:
    """PostgreSQL: a session advisory lock on a dedicated autocommit connection.

    The key is derived from the current schema, so databases sharing a server (and
    test schemas sharing a database) elect their leaders independently.
    """

    _NAME = "tochka-daemon:"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = self._conn.execute(
                sa.text("SELECT pg_try_advisory_lock(hashtext(:name || current_schema()))"),
                {"name": self._NAME},
            ).scalar()
        except Exception:
            self._drop()
            raise
        return bool(got)

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.exec_driver_sql("SELECT 1")
        except Exception:
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(
                sa.text("SELECT pg_advisory_unlock(hashtext(:name || current_schema()))"),
                {"name": self._NAME},
            )
        except Exception:  # the session is gone, and the lock with it
            log.info("event=lock_release_failed")
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken
                log.debug("event=lock_connection_close_failed")
            self._conn = None


def file_lock_held(engine: Engine) -> bool | None:
    """Whether a daemon holds the SQLite daemon lock of this database right now (None on
    PostgreSQL: not probed). ``tochka daemon status`` tells from it a running daemon that
    could not write its heartbeat (the database locked) from one that is not there.

    The probe never waits and never blocks a daemon for longer than two system calls: a
    shared non-blocking ``flock`` on the lock file (the daemon's `FileLock` takes it
    exclusively), released at once.
    """
    path = db.sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        return None
    try:
        fd = os.open(f"{path.resolve()}.daemon.lock", os.O_RDONLY)
    except OSError:  # no lock file: no daemon ever ran here, or it cannot be read
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def leader_lock(engine: Engine) -> LeaderLock:
    """The lock that fits the database: a file lock for SQLite, an advisory lock else."""
    path = db.sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is not None:
        return FileLeaderLock(str(path.resolve()))
    return AdvisoryLeaderLock(engine)
