"""Command-line usage errors in Russian.

Typer's bundled Click prints its own English text for a missing argument, an unknown
option or a bad value; the ``tochka`` entry point runs the app in non-standalone mode
and reports those errors here, in the same words the rest of the CLI speaks.
"""

from __future__ import annotations

import re
import sys
from typing import Any

# (English pattern from Click/Typer/pydantic, Russian replacement), tried in order.
_MESSAGES: tuple[tuple[str, str], ...] = (
    (r"^Missing argument '(.+)'\.$", "не указан аргумент «{0}»."),
    (r"^Missing option '(.+)'\.$", "не указан обязательный параметр «{0}»."),
    (r"^Missing command\.$", "не указана команда."),
    (r"^No such option: (\S+) Did you mean (\S+)\?$", "нет параметра {0}; может быть, {1}?"),
    (r"^No such option: (\S+)$", "нет параметра {0}."),
    (r"^No such option: (\S+) \(Possible options: (.+)\)$", "нет параметра {0}; есть: {1}."),
    (r"^No such command '(.+)'\. Did you mean '(.+)'\?$", "нет команды «{0}»; может быть, «{1}»?"),
    (r"^No such command '(.+)'\.$", "нет команды «{0}»."),
    # Typer's own bundled Click says «argument(s)», Click «argument»/«arguments».
    (r"^Got unexpected extra argument(?:s|\(s\))? \((.+)\)$", "лишние аргументы: {0}."),
    (r"^Option '(.+)' requires an argument\.$", "параметру {0} нужно значение."),
    (r"^Option '(.+)' does not take a value\.$", "параметр {0} не принимает значения."),
)
_VALUES: tuple[tuple[str, str], ...] = (
    (r"Input should be a valid integer.*", "ожидается целое число"),
    (r"Input should be a valid number.*", "ожидается число"),
    (r"(?:Value error, )?'(.+)' is not one of (.+)\.$", "«{0}» — не одно из: {1}"),
    (r"(?:Value error, )?'(.+)' is not a valid integer\.?", "«{0}» — не целое число"),
)
_INVALID = re.compile(r"^Invalid value for '(.+?)': (.+)$", re.DOTALL)
#: The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def russian(message: str) -> str:
    """The Russian text of a usage error's English message (unchanged if unknown)."""
    message = message.strip()
    invalid = _INVALID.match(message)
    if invalid:
        name, detail = invalid.groups()
        for pattern, text in _VALUES:
            found = re.match(pattern, detail.strip())
            if found:
                detail = text.format(*found.groups())
                break
        name = name.replace("' / '", " / ")
        return f"недопустимое значение {name}: {detail}."
    for pattern, text in _MESSAGES:
        found = re.match(pattern, message)
        if found:
            # Click names an option by all its spellings: '-o' / '--output'.
            return text.format(*(g.replace("' / '", " / ") for g in found.groups()))
    return message


def json_requested(argv: list[str]) -> bool:
    """Whether ``--json`` is among the global options of ``argv`` (before the command):
    a usage error may come before the options are parsed."""
    with_value = {"--db", "--now", "--on-behalf-of"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--json":
            return True
        elif arg in with_value:
            skip = True
        elif not arg.startswith("-"):
            return False
    return False


def show(error: Any, *, code: int = 2) -> None:
    """Print a usage error: the usage line, the Russian message, where help is; under
    ``--json`` the error object of `workflow.cli.context` instead."""
    from rich.console import Console
    from rich.markup import escape

    ctx = getattr(error, "ctx", None)
    if json_requested(sys.argv[1:]):
        from workflow.cli.context import print_error_json

        hint = f"Справка: {ctx.command_path} -h" if ctx is not None else None
        print_error_json(russian(error.format_message()), hint=hint, code=code)
        return
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if ctx is not None:
        err.print(escape(ctx.get_usage().replace("Usage:", "Использование:", 1)))
    err.print(f"[bold red]Ошибка:[/] {escape(russian(error.format_message()))}")
    if ctx is not None:
        err.print(escape(f"Справка: {ctx.command_path} -h"))


def run(app: Any) -> int:
    """Run the Typer app; usage errors in Russian; return the exit code."""
    # Typer bundles its own Click; these are the classes it raises.
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
    from typer.exceptions import Abort

    commits = _commits()
    try:
        code = app(standalone_mode=False, prog_name="tochka")
    except KeyboardInterrupt:  # outside Click's main, which makes one inside exit 130
        code = EXIT_INTERRUPTED
    except NoArgsIsHelpError as error:
        sys.stdout.write(error.ctx.get_help() + "\n")
        return 2
    except UsageError as error:
        show(error)
        return 2
    except ClickException as error:
        show(error, code=error.exit_code)
        return error.exit_code
    except Abort:
        sys.stderr.write("Прервано.\n")
        return 1
    if code == EXIT_INTERRUPTED:
        interrupted(_commits() - commits)
    return code if isinstance(code, int) else 0


def interrupted(committed: int) -> None:
    """Say what an interrupted command (Ctrl-C, SIGINT) left behind.

    Every change is one write transaction (`base.db.write`), which an interruption rolls
    back unless it had reached its commit: ``committed`` counts those that had.
    """
    if committed == 0:
        message = "Прервано: ничего не изменено."
    else:
        message = (
            f"Прервано. До прерывания записано изменений: {committed}, каждое целиком; "
            "остальное не сделано. Повторите команду: сделанное она не повторит."
        )
    if json_requested(sys.argv[1:]):
        from workflow.cli.context import print_error_json

        print_error_json(message, hint=None, code=EXIT_INTERRUPTED)
        return
    sys.stderr.write(f"\n{message}\n")


def _commits() -> int:
    # base.db is imported by the commands that use a database; if none was, none wrote.
    db = sys.modules.get("base.db")
    return int(db.commits()) if db is not None else 0
