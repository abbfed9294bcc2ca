"""`tochka -h` in Russian: the usage line, section headings and Click's own phrases.

Typer writes help through its Click's ``HelpFormatter``; a subclass translates the fixed
English parts (``Usage:``, ``Options``, ``[required]``, ``<str>``, "Show this message and
exit.") before the formatter measures its columns, so the layout stays aligned. Our own
help texts are Russian already. `install` sets the subclass on the Context class Typer's
commands use; if a future Typer formats help differently, help falls back to English
rather than breaking (and ``tests/test_usage.py`` says so).

Arguments are named by their metavars, Russian capitals (``КОД``, ``ПЕРЕХОД``). Typer
writes a required one in braces on the usage line (``{КОД}``), its own convention; the
usage line here follows Click's and the group's (``КОМАНДА``): a required argument bare,
an optional one in brackets (``[КОД]``).
"""

from __future__ import annotations

import re
from typing import Any

HEADINGS = {
    "Usage": "Использование",
    "Options": "Параметры",
    "Commands": "Команды",
    "Arguments": "Аргументы",
}
USAGE_WORDS = (
    ("[OPTIONS]", "[ПАРАМЕТРЫ]"),
    ("COMMAND [ARGS]...", "КОМАНДА [АРГУМЕНТЫ]..."),
)
TYPE_NAMES = {
    "str": "текст",
    "int": "целое",
    "float": "число",
    "path": "путь",
    "list[str]": "текст",
    "list[int]": "целое",
    "bool": "да|нет",
}
_REQUIRED = re.compile(r"\{([^{}\s]+)\}")
_TYPE = re.compile(r"<([a-z]+(?:\[[a-z]+\])?)>")
_DEFAULT = re.compile(r"\[default: ([^\]]*)\]")
HELP_OPTION = "Показать эту справку и выйти."


def _type(found: re.Match[str]) -> str:
    name = found.group(1)
    return f"<{TYPE_NAMES[name]}>" if name in TYPE_NAMES else found.group(0)


def term(text: str) -> str:
    """The first column of an option or argument row, with Russian type names."""
    return _TYPE.sub(_type, text)


def description(text: str) -> str:
    """The second column: Click's own phrases and the ``[default: …]`` notes in Russian."""
    if text.strip() == "Show this message and exit.":
        return HELP_OPTION
    text = text.replace("[required]", "[обязательный]")
    return _DEFAULT.sub(lambda m: f"[по умолчанию: {m.group(1)}]", text)


def usage_args(args: str) -> str:
    """The usage line after the command: Russian words, required arguments bare."""
    for english, russian in USAGE_WORDS:
        args = args.replace(english, russian)
    return _REQUIRED.sub(r"\1", args)


def formatter_class(base: type[Any]) -> type[Any]:
    """A subclass of Click's ``HelpFormatter`` ``base`` that writes Russian help."""

    class RussianHelpFormatter(base):  # type: ignore[misc]
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            if prefix is None:
                prefix = f"{HEADINGS['Usage']}: "
            super().write_usage(prog, usage_args(args), prefix)

        def write_heading(self, heading: str) -> None:
            super().write_heading(HEADINGS.get(heading, heading))

        def write_dl(self, rows: Any, *args: Any, **kwargs: Any) -> None:
            rows = [(term(first), description(second)) for first, second in rows]
            super().write_dl(rows, *args, **kwargs)

    return RussianHelpFormatter


def install() -> None:
    """Make every Typer command's help Russian (idempotent)."""
    from typer.core import TyperGroup

    context_class = TyperGroup.context_class
    base = getattr(context_class, "formatter_class", None)
    if base is None or getattr(base, "__name__", "") == "RussianHelpFormatter":
        return
    context_class.formatter_class = formatter_class(base)
