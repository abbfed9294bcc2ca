"""Russian wording of dates, day counts and plurals (babel's CLDR data).

«25 августа 2022 г.», «через 3 дня», «просрочено на 1 день», «на 5 дней».
"""

from __future__ import annotations

import functools
from datetime import date

from babel import Locale
from babel.dates import format_date
from babel.units import format_unit

from notifications.memo import memoised

_LOCALE = "ru"


@functools.cache
def _ru() -> Locale:
    return Locale.parse(_LOCALE)


@memoised
def long_date(day: date) -> str:
    """«25 августа 2022 г.»"""
    # CLDR puts a narrow no-break space (U+202F) before «г.»; several mail clients
    # show it as a box or a gap, so we use an ordinary space.
    return str(format_date(day, format="long", locale=_LOCALE)).replace("\u202f", " ")


@memoised
def short_date(day: date) -> str:
    """«25.08.2022»"""
    return str(format_date(day, format="dd.MM.yyyy", locale=_LOCALE))


@memoised
def days(count: int) -> str:
    """«1 день», «3 дня», «5 дней» (CLDR plural rules, so 21 → «21 день»)."""
    return str(format_unit(count, "duration-day", length="long", locale=_LOCALE))


def in_days(count: int) -> str:
    """«через 3 дня»"""
    return f"через {days(count)}"


def overdue_by(count: int) -> str:
    """«просрочено на 1 день»"""
    return f"просрочено на {days(count)}"


def plural_word(count: int, one: str, few: str, many: str) -> str:
    """The form of a word that goes with ``count``, without the number: a verb or an
    adjective agreeing with it, plural_word(21, «просрочен», «просрочены», «просрочены»)
    → «просрочен» (21 этап просрочен)."""
    form = _ru().plural_form(count)
    return {"one": one, "few": few}.get(form, many)


def plural(count: int, one: str, few: str, many: str) -> str:
    """The form of a noun that goes with ``count``: plural(3, «письмо», «письма», «писем»)."""
    return f"{count} {plural_word(count, one, few, many)}"


_OPENING_CONTEXT = frozenset(" \t(«„[—–-/")


@memoised
def typographic_quotes(text: str) -> str:
    """Russian quotation marks, nested right: «…» outside, „…“ inside.

    Straight double quotes become «» (an opening one after a space, a bracket or the
    start; a closing one elsewhere); guillemets and „“ inside an open quotation become
    „“: «МБОУ "СОШ" № 1» → «МБОУ «СОШ» № 1», and «центр «МБОУ «СОШ»»» → «центр «МБОУ „СОШ“»».
    An unbalanced closing mark is kept as it is.
    """
    out: list[str] = []
    depth = 0
    previous = ""
    for ch in text:
        if ch == '"':
            ch = "«" if (not previous or previous in _OPENING_CONTEXT) else "»"
        if ch in "«„":
            out.append("«" if depth == 0 else "„")
            depth += 1
        elif ch in "»“" and depth:
            depth -= 1
            out.append("»" if depth == 0 else "“")
        else:
            out.append(ch)
        previous = ch
    return "".join(out)


def quoted(text: str) -> str:
    """``text`` inside «…», its own quotation marks turned to „…“."""
    return typographic_quotes(f"«{text}»")


def _hanging(word: str) -> bool:
    """A word a cut never leaves last: «№» without its number, a preposition or a
    conjunction («по», «и», «в»)."""
    bare = word.strip(',;:—–-(«„"')
    return bare in ("", "№") or (len(bare) <= 2 and bare.isalpha() and bare.islower())


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters on a word boundary, with «…».

    Never mid-word: the cut is at a space, and a short word left last (a preposition,
    a conjunction, «№» whose number was cut off) goes too, so neither «обучение
    педагогов по…» nor «школа №…». Only a first word longer than ``limit`` is cut
    inside (there is no boundary to cut at). A quotation left open by the cut is
    closed, so «МБОУ «Школа…» stays balanced.
    """
    if len(text) <= limit:
        return text
    if limit < 2:
        return "…"[:limit]
    cut = text[: limit - 1]
    if text[limit - 1] != " ":
        space = cut.rfind(" ")
        if space > 0:
            cut = cut[:space]
    words = cut.rstrip().split(" ")
    while len(words) > 1 and _hanging(words[-1]):
        words.pop()
    cut = " ".join(words).rstrip(' ,;:—–-(«„"') + "…"
    opened = cut.count("«") - cut.count("»")
    inner = cut.count("„") - cut.count("“")
    tail = "“" * max(inner, 0) + "»" * max(opened, 0)
    if tail and len(cut) + len(tail) > limit:
        return shorten(text, limit - len(tail))
    return cut + tail
