"""Russian wording of dates, day counts and plurals (babel's CLDR data).

«25 августа 2022 г.», «через 3 дня», «просрочено на 1 день», «на 5 дней».
"""

from __future__ import annotations

import functools
from datetime import date

from babel import Locale
from babel.dates import format_date
from babel.units import format_unit

_LOCALE = "ru"


@functools.cache
def _ru() -> Locale:
    return Locale.parse(_LOCALE)


def long_date(day: date) -> str:
    """«25 августа 2022 г.»"""
    # CLDR puts a narrow no-break space (U+202F) before «г.»; several mail clients
    # show it as a box or a gap, so we use an ordinary space.
    return str(format_date(day, format="long", locale=_LOCALE)).replace("\u202f", " ")


def short_date(day: date) -> str:
    """«25.08.2022»"""
    return str(format_date(day, format="dd.MM.yyyy", locale=_LOCALE))


def days(count: int) -> str:
    """«1 день», «3 дня», «5 дней» (CLDR plural rules, so 21 → «21 день»)."""
    return str(format_unit(count, "duration-day", length="long", locale=_LOCALE))


def in_days(count: int) -> str:
    """«через 3 дня»"""
    return f"через {days(count)}"


def overdue_by(count: int) -> str:
    """«просрочено на 1 день»"""
    return f"просрочено на {days(count)}"


def plural(count: int, one: str, few: str, many: str) -> str:
    """The form of a noun that goes with ``count``: plural(3, «письмо», «письма», «писем»)."""
    form = _ru().plural_form(count)
    word = {"one": one, "few": few}.get(form, many)
    return f"{count} {word}"
