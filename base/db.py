"""Engines, transactions and the schema-version check.

SQLite (the embedded default): WAL, foreign keys, a busy timeout, and write
transactions opened with ``BEGIN IMMEDIATE`` (a deferred transaction that reads then
writes fails at once with "database is locked"). PostgreSQL through psycopg 3.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from base.errors import (
    DatabaseDamaged,
    DatabaseUnavailable,
    DiskFull,
    InputError,
    PermissionDenied,
    ReadOnlyDatabase,
    SchemaTooNew,
    os_reason,
)
from base.jsontext import texts_object

BUSY_TIMEOUT_MS = 60_000
_WRITE_OPTION = "tochka_write"
# In a connection's info while `_held_write` holds the driver's transaction (`_do_begin`).
_JOINED = "tochka_joined"
_commits = 0
# The connection `holding` keeps for each engine, in this thread or task.
_HELD: ContextVar[dict[Engine, Connection] | None] = ContextVar("tochka_held", default=None)


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


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    """How long a connection waits before it gives up, in seconds.

    PostgreSQL's go to libpq as connection parameters (psycopg 3): ``connect_timeout``,
    the TCP keepalives and ``tcp_user_timeout``, and the server's ``statement_timeout``
    and ``idle_in_transaction_session_timeout`` (in the ``options`` parameter, after any
    the URL gives). SQLite uses only ``busy``. Zero turns a server timeout off.

    Attributes:
        busy: SQLite: how long a write waits for the write lock.
        connect: PostgreSQL: how long opening a connection may take.
        statement: PostgreSQL: longest statement; the server cancels it after that.
        idle_in_transaction: PostgreSQL: a session idle inside a transaction that long
            is ended by the server (its locks are freed).
        keepalive: PostgreSQL: seconds of silence before TCP keepalive probes start
            (then every keepalive/3 s, 3 probes); also the limit for unacknowledged
            data (``tcp_user_timeout``).
    """

    busy: float = BUSY_TIMEOUT_MS / 1000
    connect: float = 10.0
    statement: float = 60.0
    idle_in_transaction: float = 60.0
    keepalive: float = 30.0

    def postgres_connect_args(self, url_options: str | None) -> dict[str, Any]:
        """psycopg's connection parameters; ``url_options`` (the URL's own ``options``,
        e.g. a search_path) are kept, ahead of the timeouts."""
        server = (
            f"-c statement_timeout={round(self.statement * 1000)} "
            f"-c idle_in_transaction_session_timeout={round(self.idle_in_transaction * 1000)}"
        )
        idle = max(1, round(self.keepalive))
        return {
            # libpq takes whole seconds (at least 2: it raises 1 to 2).
            "connect_timeout": max(2, round(self.connect)),
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": max(1, idle // 3),
            "keepalives_count": 3,
            "tcp_user_timeout": round(self.keepalive * 1000),
            "options": f"{url_options} {server}" if url_options else server,
        }


def json_text(value: Any) -> str:
    """The stored text of a JSON column's value: ``json.dumps(value)``, as SQLAlchemy
    writes it by default; a mapping of texts (an event's evidence, on every transition)
    written directly (`base.jsontext`)."""
    text = texts_object(value, encode_basestring_ascii, sort=False, colon=": ", comma=", ")
    return json.dumps(value) if text is None else text


def make_engine(
    url: str, *, create_dir: bool = False, timeouts: Timeouts | None = None, **kwargs: Any
) -> Engine:
    """Create an engine with Tochka's connection settings.

    Args:
        url: SQLAlchemy URL; ``postgresql://`` is routed to psycopg 3.
        create_dir: create the SQLite file's folder (owner-only) if missing.
        timeouts: how long connections wait (`Timeouts`' defaults when None).

    Raises:
        InputError: see `normalize_url`.
        DatabaseUnavailable: the folder cannot be created.
    """
    url = normalize_url(url)
    limits = timeouts or Timeouts()
    kwargs.setdefault("json_serializer", json_text)
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
        engine = sa.create_engine(url, connect_args={"timeout": limits.busy}, **kwargs)
        _configure_sqlite(engine, busy_ms=round(limits.busy * 1000))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    options = sa.engine.make_url(url).query.get("options")
    if isinstance(options, tuple):  # given twice in the URL: the last one counts
        options = options[-1]
    connect_args = {**limits.postgres_connect_args(options), **kwargs.pop("connect_args", {})}
    return sa.create_engine(url, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine, *, busy_ms: int = BUSY_TIMEOUT_MS) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so we can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    engine.dialect.do_begin = _do_begin  # type: ignore[method-assign]


# BEGIN is emitted by the dialect's do_begin rather than a "begin" event listener: any
# connection-event listener makes SQLAlchemy dispatch events around every statement,
# which costs a third of a durable transition on SQLite.
def _do_begin(dbapi_connection: Any) -> None:
    info = dbapi_connection.info
    immediate = info.pop(_WRITE_OPTION, False)
    if _JOINED in info:
        return  # `_held_write` began the driver's transaction: SQLAlchemy's joins it
    dbapi_connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(bind: Engine | Connection) -> bool:
    """True for the embedded database."""
    return bind.dialect.name == "sqlite"


@contextmanager
def write(engine: Engine, *, durable: bool = True) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception.

    On SQLite it takes the write lock at BEGIN (``BEGIN IMMEDIATE``), waiting up to the
    busy timeout instead of failing with "database is locked".

    Args:
        engine: the database.
        durable: wait at COMMIT until the change is on disk (the default). False: the
            commit returns once the change is written to the operating system (SQLite
            ``synchronous = NORMAL`` for this transaction, in WAL mode) or to the
            server's log buffer (PostgreSQL ``synchronous_commit = off``): it survives a
            crash of this process, not one of the machine (nor, on PostgreSQL, of the
            server), which may lose it with those committed after it, never partly; the
            next durable commit makes it durable too.
    """
    held = _HELD.get()
    conn = held.get(engine) if held else None
    own = conn is None or conn.closed or conn.invalidated or conn.in_transaction()
    if not own and conn is not None:
        fairy = conn.connection
        own = _JOINED in fairy.info  # inside the held connection's own `_held_write`
        if not own and durable and _short(conn):
            yield from _held_write(conn, fairy)
            return
    if own:
        conn = engine.connect()
    assert conn is not None
    try:
        sqlite = conn.dialect.name == "sqlite"
        raw = conn.connection.driver_connection if sqlite and not durable else None
        if raw is not None:  # not inside a transaction: SQLite refuses it there
            raw.execute("PRAGMA synchronous = NORMAL")
        try:
            # Read by _do_begin on SQLite; harmless elsewhere.
            conn.connection.info[_WRITE_OPTION] = True
            with conn.begin():
                if not durable and not sqlite:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield conn
                # Counted before COMMIT: a commit interrupted half-way counts as a change.
                global _commits  # noqa: PLW0603  # one counter per process, see commits()
                _commits += 1
        finally:
            if raw is not None:
                try:
                    raw.execute("PRAGMA synchronous = FULL")
                except Exception:  # noqa: BLE001  # the connection failed: not reused
                    conn.invalidate()
    finally:
        if own:
            conn.close()


def _short(conn: Connection) -> bool:
    """Whether a held connection's write may take `_held_write`: an engine of
    `make_engine` on SQLite (its `_do_begin`), nobody listening to the connection's
    events or echoing its statements (which SQLAlchemy's begin and commit would serve)."""
    return (
        conn.dialect.do_begin is _do_begin
        and not conn._has_events  # noqa: SLF001  # SQLAlchemy's own test of listeners
        and not conn.engine._has_events  # noqa: SLF001
        and not conn._echo  # noqa: SLF001
    )


def _held_write(conn: Connection, fairy: Any) -> Iterator[Connection]:
    """`write`'s durable transaction on a SQLite connection `holding` keeps, begun and
    committed on the driver's connection: SQLAlchemy's transaction object, its begin and
    commit cost three times the driver's BEGIN IMMEDIATE and COMMIT (an empty write
    65,000 instructions against 14,000), and a file fired a transaction per row runs a
    thousand of them. What SQLAlchemy would do is done: a
    statement run through ``conn.execute`` inside opens SQLAlchemy's transaction, which
    joins the driver's (`_do_begin`, flagged by ``_JOINED``) and then commits or rolls
    back through SQLAlchemy; `workflow.storage.prepared` sees the driver's transaction;
    a failure of BEGIN, COMMIT or ROLLBACK is wrapped as SQLAlchemy wraps it
    (``sqlalchemy.exc.OperationalError``: the write lock not had, the disk full); any
    exception rolls back; the commit is counted before COMMIT (`commits`)."""
    raw = fairy.dbapi_connection
    info = fairy.info
    info[_JOINED] = True
    try:
        _on_driver(conn, raw.execute, "BEGIN IMMEDIATE")
        try:
            yield conn
            global _commits  # noqa: PLW0603  # one counter per process, see commits()
            _commits += 1
            if conn.in_transaction():
                conn.commit()
            else:
                _on_driver(conn, raw.commit)
        except BaseException:
            # SQLAlchemy's transaction, active or left inactive by a COMMIT it could not
            # make; then the driver's, if still open (the next write must begin afresh).
            if conn.get_transaction() is not None:
                conn.rollback()
            if not conn.invalidated and raw.in_transaction:
                _on_driver(conn, raw.rollback)
            raise
    finally:
        info.pop(_JOINED, None)


def _on_driver(conn: Connection, call: Any, *args: Any) -> None:
    """``call(*args)`` on the driver's connection, its failure wrapped (and raised) as
    SQLAlchemy wraps a driver's error (``sqlalchemy.exc.OperationalError`` and the rest)."""
    try:
        call(*args)
    except Exception as exc:  # noqa: BLE001  # wrapped as SQLAlchemy does
        conn._handle_dbapi_exception(exc, None, None, None, None)  # noqa: SLF001


@contextmanager
def holding(engine: Engine) -> Iterator[None]:
    """Every `write` on ``engine`` inside (in this thread) runs on one connection, taken
    from the pool once and given back at the end, instead of a checkout and a return
    (the pool's reset) around each: a run of many small transactions, such as a bulk
    file fired a transaction per row. Each `write` is still its own transaction and
    commit; one begun while another is open on the held connection takes its own."""
    held = _HELD.get()
    if held is not None and engine in held:
        yield
        return
    with engine.connect() as conn:
        token = _HELD.set({**(held or {}), engine: conn})
        try:
            yield
        finally:
            _HELD.reset(token)


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
    known = _known_error(exc, url)
    if known is not None:
        return known
    path = sqlite_path(normalize_url(url))
    if path is not None:  # a local file: there is no server to check
        return DatabaseUnavailable(
            f"Файл базы данных {path} не открывается: {_first_line(exc)}",
            hint=f"Проверьте путь в --db / TOCHKA_DB_URL, права на файл и папку {path.parent} "
            f"и место на диске (df -h {path.parent}).",
        )
    return DatabaseUnavailable(
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
    known = _known_error(exc, url)
    if known is not None:
        return known
    path = sqlite_path(normalize_url(url)) if url else None
    if path is not None:
        return DatabaseUnavailable(
            f"Ошибка файла базы данных {path}: {_first_line(exc)}. Ничего не изменено.",
            hint=f"Проверьте место на диске (df -h {path.parent}) и цельность журнала: "
            f"tochka --db {path} audit verify.",
        )
    return DatabaseUnavailable(
        f"Ошибка базы данных: {_first_line(exc)}",
        hint="Ничего не изменено; повторите команду.",
    )


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


#: SQLite's primary result codes (``sqlite_errorname`` without the extended suffix) and
#: PostgreSQL's SQLSTATEs that name a fault of the file, the disk or the rights.
_SQLITE_KINDS = {
    "SQLITE_FULL": "full",
    "SQLITE_READONLY": "read_only",
    "SQLITE_CORRUPT": "corrupt",
    "SQLITE_NOTADB": "not_a_database",
    "SQLITE_CANTOPEN": "cannot_open",
    "SQLITE_PERM": "permission",
    "SQLITE_AUTH": "permission",
    "SQLITE_IOERR": "io",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
}
_PG_KINDS = {
    "53100": "full",  # disk_full
    "25006": "read_only",  # read_only_sql_transaction
    "42501": "permission",  # insufficient_privilege
    "28000": "login",  # invalid_authorization_specification
    "28P01": "login",  # invalid_password
    "XX001": "corrupt",  # data_corrupted
    "XX002": "corrupt",  # index_corrupted
}
#: Below this much free space a SQLite I/O error is taken for a full disk (the ``-shm``
#: file alone takes 32 KiB).
_NEARLY_FULL_BYTES = 128 * 1024


def _fault_kind(exc: BaseException) -> str | None:
    """What kind of fault the driver's error names: by SQLite's result code or
    PostgreSQL's SQLSTATE when the driver gives one, else by the driver's stable text."""
    orig = getattr(exc, "orig", None) or exc
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        primary = "_".join(name.split("_")[:2])  # SQLITE_IOERR_SHMSIZE → SQLITE_IOERR
        if primary in _SQLITE_KINDS:
            return _SQLITE_KINDS[primary]
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str) and state in _PG_KINDS:
        return _PG_KINDS[state]
    lowered = _first_line(exc).lower()
    for needle, kind in (
        ("readonly database", "read_only"),
        ("read-only transaction", "read_only"),
        ("unable to open database file", "cannot_open"),
        ("database is locked", "locked"),
        ("file is not a database", "not_a_database"),
        ("malformed", "corrupt"),
        ("disk is full", "full"),
        ("no space left", "full"),
        ("disk i/o error", "io"),
        ("permission denied", "permission"),
    ):
        if needle in lowered:
            return kind
    return None


def _known_error(exc: BaseException, url: str | None) -> DatabaseUnavailable | None:
    """The faults recognised by the drivers' codes or stable texts, each with advice that
    fits: a full disk, a read-only file system or file, an account without rights, a
    damaged or foreign file, a locked file, a server that does not answer."""
    kind = _fault_kind(exc)
    lowered = _first_line(exc).lower()
    path = sqlite_path(normalize_url(url)) if url else None
    where = f"База данных {describe_url(url)}" if url else "База данных"
    if kind == "locked":
        return DatabaseUnavailable(
            f"{where} занята другой программой дольше {BUSY_TIMEOUT_MS // 1000} с: "
            "ничего не изменено.",
            hint="Повторите команду, когда та программа закончит.",
        )
    if path is not None:
        return _file_fault(kind, path, where)
    if type(getattr(exc, "orig", None) or exc).__module__ == "sqlite3":
        return _sqlite_fault(kind, where)  # a local file whose path the caller did not give
    if kind == "full":
        return DiskFull(
            f"{where}: на диске сервера базы данных нет места, ничего не изменено.",
            hint="Администратору PostgreSQL: освободить место на диске с данными сервера "
            "(или расширить его); до тех пор ничего не записывается.",
        )
    if kind == "read_only":
        return ReadOnlyDatabase(
            f"{where} открыта только для чтения: ничего не изменено.",
            hint=read_only_hint(None),
        )
    user = _pg_user(url)
    if kind == "permission":
        denied = _DENIED_RE.search(lowered)
        what = f" на {_DENIED_OBJECTS.get(denied[1], 'объект')} «{denied[2]}»" if denied else ""
        return PermissionDenied(
            f"{where}: у пользователя {user} нет прав{what}; ничего не изменено.",
            hint=f"Администратору PostgreSQL: выдать пользователю {user} права на схему и "
            "таблицы Tochka (GRANT) или указать в --db / TOCHKA_DB_URL их владельца.",
        )
    if kind == "login":
        return PermissionDenied(
            f"{where}: сервер не принял вход пользователя {user}.",
            hint="Проверьте имя пользователя и пароль в --db / TOCHKA_DB_URL "
            "и разрешения в pg_hba.conf.",
        )
    if kind == "corrupt":
        return DatabaseDamaged(
            f"{where}: сервер сообщает о повреждённых данных, ничего не изменено.",
            hint="Администратору PostgreSQL: проверить диск и журнал сервера и восстановить "
            "повреждённую таблицу из резервной копии (pg_dump / pg_restore).",
        )
    return _connection_fault(lowered, url, where)


#: PostgreSQL's "permission denied for table center" (the object's kind and name).
_DENIED_RE = re.compile(r"permission denied for (table|relation|schema|sequence) (\w+)")
_DENIED_OBJECTS = {
    "table": "таблицу",
    "relation": "таблицу",
    "schema": "схему",
    "sequence": "последовательность",
}


def _pg_user(url: str | None) -> str:
    """The user of a PostgreSQL URL for a message: «name», or "из URL"."""
    parsed = sa.engine.make_url(normalize_url(url)) if url else None
    return f"«{parsed.username}»" if parsed is not None and parsed.username else "из URL"


def _connection_fault(lowered: str, url: str | None, where: str) -> DatabaseUnavailable | None:
    """A PostgreSQL server that cannot be reached or refuses the login, named in Russian
    from the URL (libpq's text is matched, never shown)."""
    parsed = sa.engine.make_url(normalize_url(url)) if url else None
    user = _pg_user(url)
    name = f"«{parsed.database}»" if parsed is not None and parsed.database else "из URL"
    host = (parsed.host or "localhost") if parsed is not None else "из URL"
    server = f"{host}:{parsed.port or 5432}" if parsed is not None else host
    if "role" in lowered and "does not exist" in lowered:
        return PermissionDenied(
            f"{where}: на сервере нет пользователя {user}.",
            hint="Проверьте имя пользователя в --db / TOCHKA_DB_URL или создайте его (createuser).",
        )
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return PermissionDenied(
            f"{where}: сервер не принял пароль пользователя {user}.",
            hint="Проверьте пароль в --db / TOCHKA_DB_URL (или в ~/.pgpass).",
        )
    if "pg_hba.conf" in lowered:
        return PermissionDenied(
            f"{where}: сервер не разрешает пользователю {user} входить с этого адреса.",
            hint="Администратору PostgreSQL: добавить разрешение в pg_hba.conf.",
        )
    if "database" in lowered and "does not exist" in lowered:
        return DatabaseUnavailable(
            f"{where}: на сервере {server} нет базы {name}.",
            hint="Проверьте имя базы в --db / TOCHKA_DB_URL или создайте её (createdb).",
        )
    if "failed to resolve host" in lowered or "could not translate host name" in lowered:
        return DatabaseUnavailable(
            f"{where} недоступна: имя сервера «{host}» не найдено.",
            hint="Проверьте имя сервера в --db / TOCHKA_DB_URL и DNS.",
        )
    if "timeout expired" in lowered:
        return DatabaseUnavailable(
            f"{where} недоступна: сервер {server} не ответил на подключение вовремя.",
            hint="Проверьте сеть до сервера и что он запущен; время ожидания задаёт "
            "TOCHKA_DB_CONNECT_TIMEOUT.",
        )
    if "connection refused" in lowered or "could not connect" in lowered:
        return DatabaseUnavailable(
            f"{where} недоступна: сервер {server} не принимает подключения.",
            hint="Проверьте адрес и порт в --db / TOCHKA_DB_URL и что сервер PostgreSQL запущен.",
        )
    return None


def _sqlite_fault(kind: str | None, where: str) -> DatabaseUnavailable | None:
    """The Russian error for a fault of a SQLite file whose path is not known here (the
    daemon's log): the same kinds as `_file_fault`, the advice without the path."""
    if kind in ("corrupt", "not_a_database"):
        return DatabaseDamaged(
            f"{where}: файл не база данных SQLite или повреждён.",
            hint="Проверьте путь в --db / TOCHKA_DB_URL; повреждённую базу восстановите из "
            "резервной копии, не выполняя tochka init поверх неё.",
        )
    if kind == "full":
        return DiskFull(
            f"{where}: на диске с файлом базы нет места, ничего не изменено.",
            hint="Освободите место на этом диске (df -h папки базы) или перенесите базу на "
            "другой диск.",
        )
    if kind in ("read_only", "permission", "cannot_open"):
        return ReadOnlyDatabase(
            f"{where}: файл базы не открывается для записи, ничего не изменено.",
            hint="Проверьте, что файл базы и его папка доступны на запись этой учётной "
            "записи (владелец, права, chattr) и что диск не смонтирован только для чтения.",
        )
    if kind == "io":
        return DatabaseUnavailable(
            f"{where}: ошибка ввода-вывода диска с файлом базы; ничего не изменено.",
            hint="Проверьте место на диске (df -h) и журнал ядра (dmesg).",
        )
    return None


def _file_fault(kind: str | None, path: Path, where: str) -> DatabaseUnavailable | None:
    """The Russian error for a fault of a SQLite file ``path``, or None if unknown.

    The driver's code says what failed; the file system says why (a full or read-only
    file system, the file's owner and mode), so that the advice fits the cause.
    """
    folder = path.parent
    if kind in ("corrupt", "not_a_database"):
        return _damaged(kind, path, where)
    if kind not in ("full", "read_only", "cannot_open", "permission", "io"):
        return None
    if kind == "cannot_open" and path.is_dir():
        return DatabaseUnavailable(
            f"«{path}» — папка, а не файл базы данных.",
            hint="Укажите в --db / TOCHKA_DB_URL файл, например var/tochka.db.",
        )
    if kind == "cannot_open" and not folder.is_dir():
        return DatabaseUnavailable(
            f"Папка {folder} не существует: базу данных {path.name} не открыть.",
            hint=f"Проверьте путь в --db / TOCHKA_DB_URL или создайте папку: mkdir -p {folder}",
        )
    free, read_only_fs = _file_system(folder)
    if read_only_fs:
        return ReadOnlyDatabase(
            f"{where} на файловой системе только для чтения: ничего не изменено.",
            hint=read_only_hint(path),
        )
    if kind == "full" or (
        kind in ("io", "cannot_open") and free is not None and free < _NEARLY_FULL_BYTES
    ):
        shown = f"свободно {free // 1024} КБ" if free is not None else "места нет"
        return DiskFull(
            f"{where}: на диске с папкой {folder} нет места ({shown}), ничего не изменено.",
            hint=f"Освободите место на этом диске (df -h {folder} покажет, сколько его) "
            "или перенесите базу на другой диск; после этого команду можно выполнить снова.",
        )
    denied = _denied_to_account(path)
    if denied is not None and kind in ("cannot_open", "permission", "read_only"):
        return PermissionDenied(
            f"{where}: нет прав — {denied}; ничего не изменено.", hint=read_only_hint(path)
        )
    if kind in ("read_only", "permission"):
        return ReadOnlyDatabase(
            f"{where} открыта только для чтения: ничего не изменено.",
            hint=read_only_hint(path),
        )
    if kind == "cannot_open":
        return PermissionDenied(
            f"{where} не открывается: нет прав на файл или на папку {folder}.",
            hint=read_only_hint(path),
        )
    return DatabaseUnavailable(
        f"{where}: ошибка ввода-вывода диска при работе с файлом {path}; ничего не изменено.",
        hint=f"Проверьте диск с папкой {folder}: место (df -h {folder}) и журнал ядра "
        "(dmesg); если файл на сетевом диске, проверьте его подключение.",
    )


def _damaged(kind: str, path: Path, where: str) -> DatabaseDamaged:
    """A file that is not a SQLite database, or a damaged one."""
    size = path.stat().st_size if path.is_file() else None
    if kind == "not_a_database":
        return DatabaseDamaged(
            f"{where}: файл не база данных SQLite или повреждён: в начале файла "
            f"({size if size is not None else '?'} байт) нет заголовка SQLite.",
            hint="Проверьте путь в --db / TOCHKA_DB_URL. Если это была база Tochka, она "
            "испорчена: не выполняйте tochka init поверх неё, сохраните её копию и "
            "восстановите базу из резервной копии.",
        )
    return DatabaseDamaged(
        f"{where}: файл повреждён (обрезан или испорчен внутри), ничего не изменено.",
        hint=f"Не записывайте в него: сохраните его копию (cp {path} {path}.damaged) и "
        "восстановите базу из резервной копии; часть данных может спасти "
        f"sqlite3 {path} .recover.",
    )


def _file_system(folder: Path) -> tuple[int | None, bool]:
    """The bytes this account may still write on the file system holding ``folder``
    (None if unknown; root may use the blocks reserved for it) and whether it is mounted
    read-only."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None, False
    blocks = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail
    return blocks * stat.f_frsize, bool(stat.f_flag & os.ST_RDONLY)


def _account(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _denied_to_account(path: Path) -> str | None:
    """Why this account may not use ``path`` when the file belongs to someone else and
    its mode keeps this account out; None when that is not the reason."""
    try:
        stat = path.stat()
    except OSError:
        return None
    me = os.geteuid()
    if me == stat.st_uid or me == 0 or os.access(path, os.R_OK | os.W_OK):
        return None
    return (
        f"файл {path} принадлежит {_account(stat.st_uid)} (права {stat.st_mode & 0o777:04o}), "
        f"а команда запущена от {_account(me)}"
    )


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
    """What to do about a database Tochka may not write, depending on why: a read-only
    file system, a file protected by its mode, by an attribute or by its owner, a folder
    closed to the ``-wal`` and ``-shm`` files."""
    if path is None:
        return (
            "Сервер не даёт этому пользователю писать: проверьте его права (GRANT) "
            "и default_transaction_read_only."
        )
    folder = path.parent
    _free, read_only_fs = _file_system(folder)
    try:
        stat = path.stat() if path.exists() else None
    except OSError:
        stat = None
    if read_only_fs:
        return (
            f"Файловая система с папкой {folder} смонтирована только для чтения: "
            "перемонтируйте её для записи (mount -o remount,rw) или скопируйте базу на "
            "диск, открытый для записи, и укажите её в --db."
        )
    me = os.geteuid()
    if stat is not None:
        mode = stat.st_mode & 0o777
        if not mode & 0o222:
            return (
                f"Файл {path} защищён от записи (права {mode:04o}). Если так задумано, "
                "его можно только читать (status, history, report); чтобы работать с ним, "
                f"разрешите запись: chmod u+w {path}"
            )
        if me not in (0, stat.st_uid) and not os.access(path, os.R_OK | os.W_OK):
            owner = _account(stat.st_uid)
            return (
                f"Запустите команду от имени владельца базы (sudo -u {owner} tochka …) или "
                "откройте её группе операторов: chgrp ГРУППА и chmod g+rw на файл и папку "
                "(TOCHKA_FILE_MODE_GROUP)."
            )
        if not os.access(path, os.W_OK):
            return (
                f"Права файла {path} ({mode:04o}) разрешают запись, но система её не даёт: "
                f"файл защищён атрибутом (lsattr {path}; снять: chattr -i {path}) или "
                "политикой безопасности."
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
