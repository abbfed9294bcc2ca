"""Engines, transactions and the schema-version check.

SQLite (the embedded default): WAL, foreign keys, a busy timeout, and write
transactions opened with ``BEGIN IMMEDIATE`` (a deferred transaction that reads then
writes fails at once with "database is locked"). PostgreSQL through psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from base.errors import DatabaseUnavailable, SchemaTooNew

BUSY_TIMEOUT_MS = 60_000
_WRITE_OPTION = "tochka_write"


def normalize_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def make_engine(url: str, *, create_dir: bool = False, **kwargs: Any) -> Engine:
    """Create an engine with Tochka's connection settings.

    Args:
        url: SQLAlchemy URL; ``postgresql://`` is routed to psycopg 3.
        create_dir: create the SQLite file's folder (owner-only) if missing.
    """
    url = normalize_url(url)
    path = sqlite_path(url)
    if path is not None:
        if create_dir:
            path.parent.mkdir(mode=0o770, parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so we can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    # BEGIN is emitted by the dialect's do_begin rather than a "begin" event listener:
    # any connection-event listener makes SQLAlchemy dispatch events around every
    # statement, which costs a third of a durable transition on SQLite.
    def _do_begin(dbapi_connection: Any) -> None:
        immediate = dbapi_connection.info.pop(_WRITE_OPTION, False)
        dbapi_connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    engine.dialect.do_begin = _do_begin  # type: ignore[method-assign]


def is_sqlite(bind: Engine | Connection) -> bool:
    """True for the embedded database."""
    return bind.dialect.name == "sqlite"


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception.

    On SQLite it takes the write lock at BEGIN (``BEGIN IMMEDIATE``), waiting up to the
    busy timeout instead of failing with "database is locked".
    """
    with engine.connect() as conn:
        # Read by _do_begin on SQLite; harmless elsewhere.
        conn.connection.info[_WRITE_OPTION] = True
        with conn.begin():
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (a consistent snapshot on both backends)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def describe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return sa.engine.make_url(normalize_url(url)).render_as_string(hide_password=True)


def connect_error(url: str, exc: Exception) -> DatabaseUnavailable:
    """A Russian error for a database that cannot be opened."""
    return DatabaseUnavailable(
        f"База данных {describe_url(url)} недоступна: {type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else ''}",
        hint="Проверьте --db / TOCHKA_DB_URL и что сервер базы данных запущен.",
    )


def check_schema(conn: Connection, known: tuple[str, ...]) -> str | None:
    """Return the schema revision, or None when the database is empty.

    Raises:
        SchemaTooNew: the revision is not one this version knows (a newer Tochka wrote it).
    """
    # A direct catalogue query: the Inspector's reflection machinery is slow to import.
    if conn.dialect.name == "sqlite":
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).first()
    else:
        exists = conn.exec_driver_sql("SELECT to_regclass('alembic_version')").scalar()
    if not exists:
        return None
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    if revision is None:
        return None
    if revision not in known:
        raise SchemaTooNew(
            f"База данных записана более новой версией Tochka (схема «{revision}», "
            f"эта версия знает до «{known[-1]}»).",
            hint="Обновите Tochka (pip install -U tochka-rosta) или укажите другую базу; "
            "эта версия не будет менять данную базу.",
        )
    return str(revision)
