"""The ``tochka`` command: global options and the command groups.

Only Typer is imported here; each command imports what it needs when it runs.
"""

from __future__ import annotations

import functools
from typing import Annotated

import typer

from workflow.cli import (
    audit_cmd,
    backup_cmd,
    centers_cmd,
    cycles_cmd,
    daemon_cmd,
    demo_cmd,
    evidence_cmd,
    indicators_cmd,
    municipalities_cmd,
    outbox_cmd,
    replies_cmd,
    report_cmd,
    roadmap_cmd,
    system_cmd,
    users_cmd,
)
from workflow.cli.context import CliState
from workflow.cli.help_ru import install as install_russian_help

install_russian_help()

app = typer.Typer(
    name="tochka",
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


system_cmd.register(app)
audit_cmd.register(system_cmd.audit_app)  # audit log, beside audit verify
app.add_typer(roadmap_cmd.app, name="roadmap")
app.add_typer(centers_cmd.app, name="centers")
app.add_typer(municipalities_cmd.app, name="municipalities")
app.add_typer(cycles_cmd.app, name="cycles")
app.add_typer(outbox_cmd.app, name="outbox")
app.add_typer(replies_cmd.app, name="replies")
app.add_typer(indicators_cmd.app, name="indicators")
app.add_typer(report_cmd.app, name="report")
app.add_typer(users_cmd.app, name="users")
app.add_typer(evidence_cmd.app, name="evidence")
daemon_cmd.register(app)
backup_cmd.register(app)
demo_cmd.register(app)


def main() -> None:
    """Console-script entry point: usage errors are reported in Russian (exit 2)."""
    from workflow.cli.usage import run

    raise SystemExit(run(app))
