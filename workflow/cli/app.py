"""The ``tochka`` command: global options and the command groups.

Only Typer is imported here; each command imports what it needs when it runs, and each
command module is imported only when one of its commands is (`_LazyGroup`): ``tochka
centers list`` loads ``centers_cmd`` and none of the others. ``tochka -h`` lists every
command, so it loads them all.
"""

from __future__ import annotations

import copy
import functools
import gc
import importlib
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from workflow.cli.context import CliState
from workflow.cli.help_ru import install as install_russian_help

install_russian_help()

#: Every command and group of ``tochka``, in the order ``tochka -h`` lists them (Typer's:
#: commands, then groups, as they were registered), with where it is defined: a module's
#: ``register(app)``, or a module's ``app`` added as a group of that name.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("init", "system_cmd"),
    ("adopt", "system_cmd"),
    ("status", "system_cmd"),
    ("tick", "daemon_cmd"),
    ("demo", "demo_cmd"),
    ("history", "system_cmd"),
    ("audit", "system_cmd"),
    ("roadmap", "roadmap_cmd:app"),
    ("centers", "centers_cmd:app"),
    ("municipalities", "municipalities_cmd:app"),
    ("cycles", "cycles_cmd:app"),
    ("outbox", "outbox_cmd:app"),
    ("replies", "replies_cmd:app"),
    ("indicators", "indicators_cmd:app"),
    ("report", "report_cmd:app"),
    ("users", "users_cmd:app"),
    ("evidence", "evidence_cmd:app"),
    ("daemon", "daemon_cmd"),
    ("reminders", "daemon_cmd"),
    ("calendar", "daemon_cmd"),
    ("backup", "backup_cmd"),
)


def _load(where: str) -> dict[str, Any]:
    """The Click commands ``where`` defines (see `COMMANDS`), built as ``add_typer`` and
    ``app.command`` on the ``tochka`` app would build them; a group's own commands are
    built when first looked up (`_Deferred`)."""
    from typer.main import get_group_from_info
    from typer.models import TyperInfo

    name, _, attribute = where.partition(":")
    module = importlib.import_module(f"workflow.cli.{name}")
    if attribute:
        title = next(command for command, defined in COMMANDS if defined == where)
        group = getattr(module, attribute)
        bare = copy.copy(group)  # the group, its callback and its sub-groups: built now
        bare.registered_commands = []
        info = TyperInfo(bare, name=title)
    else:
        holder = typer.Typer()
        module.register(holder)
        if name == "system_cmd":
            from workflow.cli import audit_cmd

            audit_cmd.register(module.audit_app)  # audit log, beside audit verify
        info = TyperInfo(holder)
    built = get_group_from_info(
        info,
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    if not attribute:
        return dict(built.commands)
    built.commands = _Deferred(group.registered_commands, built.commands)
    return {title: built}


class _Lazy(MutableMapping[str, Any]):
    """Commands listed by name in their order, each made when first looked up
    (`_make`); what is set or deleted is taken as given."""

    def __init__(self, order: list[str], made: MutableMapping[str, Any]) -> None:
        self._order = order
        self._made: dict[str, Any] = dict(made)

    def _make(self, name: str) -> None:
        """Make ``name``'s command into ``_made``, if this mapping knows how."""

    def _forget(self, name: str) -> None:
        """Forget how to make ``name``'s command."""

    def __getitem__(self, name: str) -> Any:
        if name not in self._made:
            self._make(name)
        return self._made[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._order:
            self._order.append(name)
        self._made[name] = command

    def __delitem__(self, name: str) -> None:
        self._order.remove(name)
        self._forget(name)
        self._made.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


class _Deferred(_Lazy):
    """A command group's commands (a module's ``app``): every name listed at once, each
    command built by Typer when it is first looked up, since Typer builds a command from
    its function's signature and options (``tochka centers list`` built the six commands
    of ``centers``). Typer's order: the commands as registered, then the sub-groups."""

    def __init__(self, infos: list[Any], groups: MutableMapping[str, Any]) -> None:
        from typer.main import get_command_name

        self._infos = {
            info.name or get_command_name(info.callback.__name__): info for info in infos
        }
        super().__init__(
            [*self._infos, *(name for name in groups if name not in self._infos)], groups
        )
        for name in groups:
            self._infos.pop(name, None)  # a sub-group of that name replaces the command

    def built(self) -> list[str]:
        """The names whose command is built (for the tests)."""
        return [name for name in self._order if name in self._made]

    def _make(self, name: str) -> None:
        if name in self._infos:
            from typer.main import get_command_from_info

            self._made[name] = get_command_from_info(
                self._infos[name],
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )

    def _forget(self, name: str) -> None:
        self._infos.pop(name, None)


class _Commands(_Lazy):
    """The ``tochka`` group's commands: every name of `COMMANDS` listed at once, each
    module imported when one of its commands is first looked up."""

    def __init__(self, own: MutableMapping[str, Any]) -> None:
        self._where = dict(COMMANDS)
        super().__init__(
            [name for name, _ in COMMANDS] + [n for n in own if n not in self._where], own
        )

    def _make(self, name: str) -> None:
        if name in self._where:
            where = self._where[name]
            if where not in _LOADED:
                _LOADED[where] = _load(where)
            self._made.update(_LOADED[where])

    def _forget(self, name: str) -> None:
        self._where.pop(name, None)


#: The commands of each module of `COMMANDS`, once built (one process, one set).
_LOADED: dict[str, dict[str, Any]] = {}


class _LazyGroup(TyperGroup):
    """Typer's group, with `_Commands` for its commands."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)


app = typer.Typer(
    name="tochka",
    cls=_LazyGroup,
    help="Tochka: дорожная карта «Точка роста» как конечные автоматы.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Файл SQLite (var/tochka.db) или URL: sqlite:///путь, postgresql://… "
            "(по умолчанию TOCHKA_DB_URL или ./var/tochka.db).",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Считать текущим моментом: ДД.ММ.ГГГГ [ЧЧ:ММ], ГГГГ-ММ-ДД или ГГГГ-ММ-ДДTЧЧ:ММ.",
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", help='Вывод в JSON; ошибка — объект {"error": {...}} в stderr.'),
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Таблицы во всю длину строк: ничего не сокращать и не переносить."
        ),
    ] = False,
    on_behalf_of: Annotated[
        str | None,
        typer.Option(
            "--on-behalf-of",
            help="Координатор: действовать от имени другого пользователя (записываются оба).",
        ),
    ] = None,
    show_head: Annotated[
        bool,
        typer.Option(
            "--show-head",
            help="После команды, изменившей базу, напечатать заголовок журнала НОМЕР:ХЕШ "
            "каждой дорожной карты (для tochka audit verify --expect).",
        ),
    ] = False,
) -> None:
    """Global options; they go before the command: tochka --json centers list."""
    if now is not None:
        # Checked here, so a wrong --now is refused (bad input, exit 1, like a wrong
        # --until) whatever the command, even one that would not read it.
        from base.clock import parse_now
        from workflow.cli.context import fail
        from workflow.errors import InputError

        try:
            parse_now(now)
        except InputError as exc:
            raise fail(f"--now: {exc.message}", hint=exc.hint, as_json=json_output) from None
    ctx.obj = CliState(
        db_option=db, now_option=now, json=json_output, on_behalf_of=on_behalf_of, wide=wide
    )
    ctx.call_on_close(ctx.obj.close)
    if show_head:  # run before close (LIFO), while the engine is open
        from base.db import commits
        from workflow.cli import heads

        ctx.call_on_close(functools.partial(heads.after_command, ctx.obj, commits()))
    # A wrong configuration value is refused at start, whatever the command (--db does not
    # make a broken TOCHKA_CONFIG file or TOCHKA_* variable acceptable).
    from workflow.cli.context import fail
    from workflow.errors import InputError

    try:
        settings = ctx.obj.settings  # loaded and validated now
    except InputError as exc:
        raise fail(exc.message, hint=exc.hint) from None
    from workflow.engine import audit_key

    audit_key.use(settings.audit_key)  # the keyed chain: this process seals and checks
    from notifications import reply_limit

    reply_limit.use(settings.reply_daily_limit)  # our answers per sender a day
    _resume_collector()


#: Whether `console_main` holds the cyclic garbage collector paused for the start of the
#: process.
_collector_paused = False


def _resume_collector() -> None:
    """The command is about to run: what the start made is frozen and the cyclic
    garbage collector resumes, if `console_main` paused it.

    The start (Typer and the command line, SQLAlchemy, pydantic, the settings: some
    50,000 objects, a few hundred of them garbage) makes objects that live until the
    process ends, so the collector's passes over them free nothing: frozen
    (`gc.freeze`), they are not examined again, by the command's collections nor by the
    full one at the interpreter's exit. The command's own objects are collected as
    always (a daemon, an import of 200,000 rows). Pausing early, freezing, then
    enabling is the idiom the `gc` module documents for `gc.freeze`.
    """
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


def main() -> None:
    """Run the command line: usage errors are reported in Russian (exit 2). Tests call
    it in-process; the program is `console_main`."""
    from workflow.cli.usage import run

    raise SystemExit(run(app))


def console_main() -> None:
    """The ``tochka`` program (the console script): `main`, with the cyclic garbage
    collector paused until the command runs (`_resume_collector`); when no command runs
    (help, a usage error, a refused option) it is put back as it was on return.

    Only a process of its own may freeze its start: a test calling `main` in-process
    would freeze all of pytest's objects alive then, whose cycles would never be
    collected."""
    global _collector_paused
    _collector_paused = gc.isenabled()
    gc.disable()
    try:
        main()
    finally:
        if _collector_paused:
            _collector_paused = False
            gc.enable()
