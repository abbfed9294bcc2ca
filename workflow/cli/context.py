"""What every command shares: global options, the database, errors → exit codes.

Heavy modules (SQLAlchemy, SQLModel, Alembic, openpyxl) are imported inside functions so
that ``tochka --help`` stays as cheap as a bare Typer app.

Errors go to stderr. Under ``--json`` an error is one JSON object on stderr (stdout keeps
only data, so a script that reads stdout never takes an error for a result)::

    {"error": {"message": "…", "hint": "…" | null, "exit_code": 1,
               "problems": [{"file", "line", "column", "field", "message"}, …]}}

``problems`` lists what is wrong in a refused file (empty otherwise); ``message`` is then
the refusal's first line, the problems being in the list.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from workflow.config import Settings
    from workflow.engine.access import Action, Actor
    from workflow.roadmap.definition import Roadmap
    from workflow.roadmap.store import StoredRoadmap

P = ParamSpec("P")
R = TypeVar("R")

EXIT_REFUSED = 1
EXIT_USAGE = 2


@dataclass
class CliState:
    """Global options, resolved lazily."""

    db_option: str | None = None
    now_option: str | None = None
    json: bool = False
    on_behalf_of: str | None = None
    #: The running command's path ("centers list"), set by `state`.
    command: str = ""
    wide: bool = False
    _settings: Settings | None = None
    _engine: Engine | None = None
    _now: datetime | None = field(default=None)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from workflow.config import load_settings

            self._settings = load_settings()
        return self._settings

    @property
    def width(self) -> int | None:
        """The width tables fit: the terminal's, or None with ``--wide`` or off a terminal."""
        from workflow.cli.listing import terminal_width

        return None if self.wide else terminal_width()

    @property
    def db_url(self) -> str:
        return self.db_option or self.settings.effective_db_url

    @property
    def actor(self) -> str:
        """The OS account running the command: the only identity the CLI accepts."""
        from workflow.engine import identity

        return identity.os_login()

    @property
    def actor_ref(self) -> Actor:
        """The engine's Actor: the OS account, and whom it acts for."""
        from workflow.engine.access import Actor

        return Actor(login=self.actor, on_behalf_of=self.on_behalf_of)

    def now(self, zone: str = "Europe/Moscow") -> datetime:
        """``--now`` or the real time, aware UTC."""
        if self._now is None:
            from base.clock import parse_now, system_clock

            self._now = parse_now(self.now_option, zone) if self.now_option else system_clock()
        return self._now

    def load_roadmap_file(self, path: str | Path) -> Roadmap:
        """A roadmap file read and validated as of the command's clock (``--now`` or the
        real time, in the file's own zone): a ``done`` date after that day is refused.

        Raises:
            RoadmapFileError: the file is unreadable or breaks the format.
        """
        from workflow.roadmap.loader import load_roadmap

        zone = load_roadmap(path).timezone  # the file's zone reads ``--now``
        return load_roadmap(path, now=self.now(zone))

    def engine(self, *, create: bool = False) -> Engine:
        """The database engine; unless ``create``, the schema must be initialised and known."""
        if self._engine is None:
            from base import db
            from workflow.errors import DatabaseUnavailable
            from workflow.storage import schema

            url = self.db_url
            path = db.sqlite_path(db.normalize_url(url))
            if path is not None and not create:
                from workflow.cli.init_guard import refuse_lost

                # A 0-byte file, or a missing one the anchors remember: data lost. Checked
                # before SQLite opens the file (opening it would write a new header).
                refuse_lost(self, path)
            if path is not None and not create and not path.exists():
                raise DatabaseUnavailable(
                    f"База данных {path} не найдена.",
                    hint="Создайте её: tochka init (или укажите --db / TOCHKA_DB_URL).",
                )
            engine = db.make_engine(url, create_dir=create)
            try:
                with engine.connect() as conn:
                    revision = db.check_schema(conn, schema.KNOWN_REVISIONS)
            except DatabaseUnavailable:
                raise
            except Exception as exc:
                if _is_db_error(exc):
                    raise db.connect_error(url, exc) from exc
                raise
            if not create and revision != schema.HEAD:
                raise DatabaseUnavailable(
                    f"База данных {db.describe_url(url)} не инициализирована или устарела.",
                    hint="Выполните tochka init.",
                )
            self._engine = engine  # disposed by `close`, whatever follows
            named = self.on_behalf_of
            if named is not None and not create and self.command not in _CHECKS_NAMED_USER:
                _check_named_user(engine, named)
        return self._engine

    def close(self) -> None:
        """Dispose of the engine (its pooled connections) when the command ends."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def roadmap_id(self, code: str | None) -> int:
        """The roadmap's row id, without parsing its definition (for listings)."""
        from base import db
        from workflow.roadmap.store import resolve_id

        with db.read(self.engine()) as conn:
            return resolve_id(conn, code)

    def roadmap_ids(self, code: str | None) -> list[int]:
        """The row ids of `roadmaps`, without parsing their definitions (for `authorize`)."""
        from base import db
        from workflow.roadmap import store as roadmap_store

        with db.read(self.engine()) as conn:
            if code is not None:
                return [roadmap_store.resolve_id(conn, code)]
            found = roadmap_store.ids(conn)
            if not found:
                roadmap_store.resolve_id(conn, None)  # raises the "no roadmap" error
            return found

    def roadmaps(self, code: str | None) -> list[StoredRoadmap]:
        """The roadmap named by ``code``, or every roadmap in the database."""
        from base import db
        from workflow.roadmap import store as roadmap_store

        if code is not None:
            return [self.roadmap(code)]
        with db.read(self.engine()) as conn:
            codes = roadmap_store.codes(conn)
            if not codes:
                roadmap_store.resolve(conn, None)  # raises the "no roadmap" error
            return [roadmap_store.resolve(conn, c) for c in codes]

    def roadmap(self, code: str | None) -> StoredRoadmap:
        from base import db
        from workflow.roadmap.store import resolve

        with db.read(self.engine()) as conn:
            return resolve(conn, code)


#: Commands that check the user named by ``--on-behalf-of`` themselves, with role and
#: scope, and record a refusal in the audit trail (`workflow.engine.access`). Every other
#: command refuses an unknown login before it reads anything; a command missing here is
#: refused that way too, which is the safe side.
_CHECKS_NAMED_USER = frozenset(
    {
        "centers fire",
        "centers import",
        "centers update",
        "cycles fire",
        "cycles open",
        "indicators submit",
        "indicators import",
        "users add",
        "users remove",
        "municipalities import",
        "tick",
        "daemon run",
        "outbox send",
        "outbox retry",
    }
)


def _check_named_user(engine: Engine, login: str) -> None:
    """Refuse ``--on-behalf-of`` naming a login no roadmap knows, for every command.

    A write command checks the named user's role and scope later (`workflow.engine.access`);
    a read command has nothing to check them against, so an unknown login would otherwise
    be accepted without a word.
    """
    import sqlalchemy as sa

    from base import db
    from base.errors import InputError
    from workflow.storage.tables import USER

    with db.read(engine) as conn:
        known = conn.execute(sa.select(USER.c.id).where(USER.c.login == login).limit(1)).first()
    if known is None:
        raise InputError(
            f"--on-behalf-of: пользователь «{login}» не зарегистрирован ни в одной дорожной карте.",
            hint=f"Список пользователей: tochka users list. Добавить: tochka users add {login} "
            "--role РОЛЬ.",
        )


def authorize(
    st: CliState,
    roadmap_ids: Sequence[int],
    action: Action,
    target: str,
    *,
    any_of: bool = False,
) -> None:
    """Check the actor may do ``action`` in each of the roadmaps ``roadmap_ids`` (with
    ``any_of``: in at least one). A refusal is recorded in the roadmap that refused, then
    raised. The rights need the roadmaps' ids only: `outbox send` parses no definition."""
    from base import db
    from base.clock import system_clock
    from workflow.engine.access import AccessDenied, authorize_action, refusals_recorded
    from workflow.roadmap import store as roadmap_store

    refusal: tuple[int, AccessDenied] | None = None
    for roadmap_id in roadmap_ids:
        try:
            with db.read(st.engine()) as conn:
                authorize_action(conn, roadmap_id, st.actor_ref, action, target=target)
        except AccessDenied as denied:
            refusal = refusal or (roadmap_id, denied)
            if not any_of:
                break
            continue
        if any_of:
            return
    if refusal is None:
        return
    where, refused = refusal
    with db.read(st.engine()) as conn:
        zone = roadmap_store.timezone(conn, where)
    with refusals_recorded(
        st.engine(),
        where,
        timezone=zone,
        actor=st.actor_ref,
        now=st.now(),
        clock=system_clock,
    ):
        raise refused


def _running_db_url() -> str | None:
    """The database URL of the running command, for an error's message (None if unknown)."""
    from base.errors import InputError

    try:  # Typer bundles its own Click; this is where it keeps the current context.
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - a Typer that moved it: the message names no URL
        return None
    ctx = get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    if not isinstance(obj, CliState):
        return None
    try:
        return obj.db_url
    except InputError:
        return None


def _is_db_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError | DBAPIError)


def state(ctx: typer.Context) -> CliState:
    """The CliState of the running command."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    root.obj.command = " ".join(ctx.command_path.split()[1:])  # without the program's name
    return root.obj


def fail(
    message: str,
    *,
    hint: str | None = None,
    code: int = EXIT_REFUSED,
    problems: Sequence[Any] = (),
    as_json: bool | None = None,
) -> typer.Exit:
    """Report a Russian error on stderr and return the Exit to raise.

    Under ``--json`` (``as_json``; by default the running command's option) the error is
    the JSON object of the module docstring; ``problems`` are `workflow.errors.Problem`s.
    """
    if json_requested() if as_json is None else as_json:
        print_error_json(message, hint=hint, code=code, problems=problems)
        return typer.Exit(code)
    from workflow.cli.listing import terminal_width, wrap

    width = terminal_width(sys.stderr)
    lines = wrap(f"Ошибка: {message}", width, rest="  ")
    if hint:
        lines += wrap(hint, width, rest="  ")
    err = _stderr()
    err.print(f"[bold red]Ошибка:[/]{_escape(lines[0][len('Ошибка:') :])}", highlight=False)
    for line in lines[1:]:
        err.print(_escape(line), highlight=False)
    return typer.Exit(code)


def print_error_json(
    message: str, *, hint: str | None, code: int, problems: Sequence[Any] = ()
) -> None:
    """The ``{"error": …}`` object of the module docstring, on stderr."""
    listed = [
        {
            "file": p.file,
            "line": p.line,
            "column": p.column,
            "field": p.field,
            "message": p.message,
        }
        for p in problems
    ]
    if listed:
        message = message.splitlines()[0]
    error = {"message": message, "hint": hint, "exit_code": code, "problems": listed}
    sys.stderr.write(json.dumps({"error": error}, ensure_ascii=False, indent=2) + "\n")


def json_requested() -> bool:
    """Whether the running command was given ``--json``."""
    try:  # Typer bundles its own Click; this is where it keeps the current context.
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - a Typer that moved it: plain-text errors
        return False
    ctx = get_current_context(silent=True)
    if ctx is None:
        return False
    root = ctx.find_root()
    if isinstance(root.obj, CliState):
        return root.obj.json
    return bool(root.params.get("json_output"))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Tochka errors into a Russian message and exit code 1; nothing else leaks."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from base.errors import TochkaError

        try:
            return func(*args, **kwargs)
        except TochkaError as exc:
            problems = getattr(exc, "problems", ())
            raise fail(exc.message, hint=exc.hint, code=exc.exit_code, problems=problems) from None
        except Exception as exc:
            if _is_db_error(exc):
                from base import db

                # Advice that fits the cause (a read-only file, a full disk, a lock).
                err = db.database_error(exc, _running_db_url())
                raise fail(err.message, hint=err.hint) from None
            raise

    return wrapper


def print_json(data: Any) -> None:
    """Machine-readable output (English keys, ISO dates)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def console() -> Any:
    """A Rich console on stdout; off a terminal it wraps nothing (one line per message)."""
    from rich.console import Console

    from workflow.cli.listing import terminal_width

    if terminal_width() is None:
        return Console(highlight=False, soft_wrap=True, width=10_000)
    return Console(highlight=False, soft_wrap=False)


def done(message: str) -> None:
    """A confirmation on stdout: wrapped on words in a terminal, one line otherwise."""
    from workflow.cli.listing import print_lines, terminal_width, wrap

    print_lines(wrap(message, terminal_width(), rest="  "))
