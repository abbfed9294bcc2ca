"""Engines, transactions and the schema-version check.

SQLite (the embedded default): WAL, foreign keys, a busy timeout, and write
transactions opened with ``BEGIN IMMEDIATE`` (a deferred transaction that reads then
writes fails at once with "database is locked"). PostgreSQL through psycopg 3.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from base.errors import DatabaseUnavailable, InputError, SchemaTooNew, os_reason

BUSY_TIMEOUT_MS = 60_000
_WRITE_OPTION = "tochka_write"
_commits = 0


def commits() -> int:
    """How many write transactions this process has taken to their commit.

    An interrupted command (Ctrl-C) compares it with the count at its start: unchanged
    means the database is exactly as it was (every change is one `write` transaction).
    """
    return _commits


#: The forms ``--db`` and ``TOCHKA_DB_URL`` take, for messages.
SUPPORTED_FORMS = (
    "путь к файлу SQLite (var/tochka.db, /srv/tochka/tochka.db), "
    "sqlite:///путь/к/файлу.db или postgresql://пользователь@сервер/база"
)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
_POSTGRES_DRIVERS = ("postgresql+psycopg",)


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL of a database as an operator writes it.

    A plain path (``var/tochka.db``, ``/srv/t.db``, ``~/t.db``) is a SQLite file;
    ``postgresql://`` and ``postgres://`` use psycopg 3 (SQLAlchemy would pick psycopg2,
    which is not installed).

    Raises:
        InputError: not a path and not a URL of a supported database (SQLite, PostgreSQL).
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if "://" not in url and not _SCHEME_RE.match(url):
        # A new word without a slash or a database suffix is a typo, not a file to create.
        if (
            "/" in url
            or url.lower().endswith(_SQLITE_SUFFIXES)
            or (url != "" and Path(url).exists())
        ):
            return f"sqlite:///{Path(url).expanduser()}"
        raise _unsupported(url)
    try:
        backend = sa.engine.make_url(url).drivername
    except sa.exc.ArgumentError:
        raise _unsupported(url) from None
    if backend not in (*_SQLITE_DRIVERS, *_POSTGRES_DRIVERS):
        raise _unsupported(url)
    return url


def _unsupported(url: str) -> InputError:
    shown = url if "@" not in url else url.split("://", 1)[0] + "://…"  # no password shown
    return InputError(
        f"«{shown}» — не путь к файлу SQLite и не адрес поддерживаемой базы данных.",
        hint=f"Укажите {SUPPORTED_FORMS}.",
    )


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

    Raises:
        InputError: see `normalize_url`.
        DatabaseUnavailable: the folder cannot be created.
    """
    url = normalize_url(url)
    path = sqlite_path(url)
    if path is not None:
        if create_dir:
            try:
                path.parent.mkdir(mode=0o770, parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"Не удалось создать папку {path.parent} для базы данных: {os_reason(exc)}.",
                    hint="Укажите в --db / TOCHKA_DB_URL путь в папке, открытой для записи.",
                ) from None
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
            # Counted before COMMIT: a commit interrupted half-way counts as a change.
            global _commits  # noqa: PLW0603  # one counter per process, see commits()
            _commits += 1


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (a consistent snapshot on both backends)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def describe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return sa.engine.make_url(normalize_url(url)).render_as_string(hide_password=True)


def connect_error(url: str, exc: Exception) -> DatabaseUnavailable:
    """A Russian error, with advice that fits, for a database that cannot be opened."""
    return _known_error(exc, url) or DatabaseUnavailable(
        f"База данных {describe_url(url)} недоступна: {_first_line(exc)}",
        hint="Проверьте --db / TOCHKA_DB_URL и что сервер базы данных запущен.",
    )


def database_error(exc: BaseException, url: str | None = None) -> DatabaseUnavailable:
    """A Russian error, with advice that fits, for an error the database driver raised
    while a command ran (its transaction was rolled back).

    Args:
        exc: the driver's error (SQLAlchemy's wrapper).
        url: the database's URL, if known (named in the message, never its password).
    """
    return _known_error(exc, url) or DatabaseUnavailable(
        f"Ошибка базы данных: {_first_line(exc)}",
        hint="Ничего не изменено; повторите команду.",
    )


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _known_error(exc: BaseException, url: str | None) -> DatabaseUnavailable | None:
    """The errors recognised by the drivers' stable texts, with advice that fits: a
    read-only file or file system, a folder that cannot be written, a locked, full,
    damaged or foreign file, a server that does not answer."""
    text = _first_line(exc)
    lowered = text.lower()
    path = sqlite_path(normalize_url(url)) if url else None
    where = f"База данных {describe_url(url)}" if url else "База данных"
    if "readonly database" in lowered or "read-only transaction" in lowered:
        return DatabaseUnavailable(
            f"{where} открыта только для чтения: ничего не изменено.",
            hint=read_only_hint(path),
        )
    if "unable to open database file" in lowered and path is not None:
        folder = path.parent
        if path.is_dir():
            return DatabaseUnavailable(
                f"«{path}» — папка, а не файл базы данных.",
                hint="Укажите в --db / TOCHKA_DB_URL файл, например var/tochka.db.",
            )
        if not folder.is_dir():
            return DatabaseUnavailable(
                f"Папка {folder} не существует: базу данных {path.name} не открыть.",
                hint=f"Проверьте путь в --db / TOCHKA_DB_URL или создайте папку: mkdir -p {folder}",
            )
        return DatabaseUnavailable(
            f"{where} не открывается: нет прав на файл или на папку {folder}.",
            hint=read_only_hint(path),
        )
    if "database is locked" in lowered:
        return DatabaseUnavailable(
            f"{where} занята другой программой дольше {BUSY_TIMEOUT_MS // 1000} с: "
            "ничего не изменено.",
            hint="Повторите команду, когда та программа закончит.",
        )
    if "file is not a database" in lowered or "malformed" in lowered:
        return DatabaseUnavailable(
            f"{where}: файл не база данных SQLite или повреждён.",
            hint="Проверьте путь в --db / TOCHKA_DB_URL; повреждённую базу восстановите из "
            "резервной копии.",
        )
    if "disk is full" in lowered or "no space left" in lowered:
        return DatabaseUnavailable(
            f"{where}: на диске нет места, ничего не изменено.",
            hint="Освободите место на диске и повторите команду.",
        )
    if path is None and ("connection refused" in lowered or "could not connect" in lowered):
        return DatabaseUnavailable(
            f"{where} недоступна: сервер не отвечает ({text}).",
            hint="Проверьте --db / TOCHKA_DB_URL и что сервер базы данных запущен.",
        )
    return None


def is_writable(path: Path) -> bool:
    """Whether an existing SQLite file may be written: its mode grants writing (even to
    root, who could write anyway: the mode says what its owner meant), the account may
    write it, and its file system is not mounted read-only."""
    try:
        mode = path.stat().st_mode
        read_only_fs = bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(path, os.W_OK) and not read_only_fs


def read_only_hint(path: Path | None) -> str:
    """What to do about a database Tochka may not write, depending on why."""
    if path is None:
        return (
            "Сервер не даёт этому пользователю писать: проверьте его права (GRANT) "
            "и default_transaction_read_only."
        )
    folder = path.parent
    try:
        read_only_fs = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        mode = path.stat().st_mode & 0o777 if path.exists() else None
    except OSError:
        read_only_fs, mode = False, None
    if read_only_fs:
        return (
            f"Файловая система с папкой {folder} смонтирована только для чтения: "
            "скопируйте базу на диск, открытый для записи, и укажите её в --db."
        )
    if mode is not None and (not mode & 0o222 or not os.access(path, os.W_OK)):
        return (
            f"Файл {path} защищён от записи (права {mode:04o}). Если так задумано, "
            "его можно только читать (status, history, report); чтобы работать с ним, "
            f"разрешите запись: chmod u+w {path}"
        )
    return (
        f"SQLite пишет рядом с базой файлы {path.name}-wal и {path.name}-shm: нужна запись "
        f"в папку {folder} и в эти файлы (владелец или chmod)."
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
