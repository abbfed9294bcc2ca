"""Russian working days: public holidays, transferred days off and working Saturdays.

The calendar of every deadline rule (recurrences, the reminder ladder). A weekday test
does not know the transfers (2022-03-07 off, 2021-02-20 and 2022-03-05 working);
`holidays.country_holidays("RU").is_working_day` knows both.
"""

from __future__ import annotations

import functools
import threading
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from holidays import HolidayBase

_ONE_DAY = timedelta(days=1)

# Longest run of consecutive Russian non-working days is ~12 (New Year); this bound only
# guards the loops below against a broken calendar.
_MAX_NONWORKING_RUN = 60

# One calendar for the process, made on the first lookup: importing Russia's calendar
# imports the module of every country `holidays` knows (some 100 ms), and most commands
# load this module (a roadmap's recurrences) without asking for a working day.
# `holidays` fills a year on first lookup and marks it filled *before* filling it, so a
# second thread could read a half-filled year; the calendar is made and years are filled
# under a lock, and lookups only touch years already filled.
_calendar: HolidayBase | None = None
_CALENDAR_LOCK = threading.Lock()
_FILLED_YEARS: set[int] = set()
_READY_YEARS: set[int] = set()  # the year and both its neighbours are filled


def _ensure_year(year: int) -> HolidayBase:
    """The calendar, with ``year`` and both its neighbours filled."""
    global _calendar
    if year in _READY_YEARS:
        assert _calendar is not None  # made before any year was filled
        return _calendar
    with _CALENDAR_LOCK:
        if _calendar is None:
            import holidays

            _calendar = holidays.country_holidays("RU")
        # Neighbouring years too: a transfer declared in one year's decree may name a
        # working Saturday in the adjacent year.
        for y in range(max(year - 1, date.min.year), min(year + 1, date.max.year) + 1):
            if y not in _FILLED_YEARS:
                _calendar.get(date(y, 1, 1))  # fills year y as a side effect
                _FILLED_YEARS.add(y)
        _READY_YEARS.add(year)
        return _calendar


@functools.lru_cache(maxsize=8192)
def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day in Russia (five-day week).

    Knows public holidays, transferred days off (2022-03-07) and working Saturdays
    (2021-02-20, 2022-03-05), as far as the installed `holidays` release knows the
    government's transfer decrees; for years it does not know yet, only weekends and
    fixed holidays count.
    """
    return bool(_ensure_year(d.year).is_working_day(d))


def working_day_on_or_before(d: date) -> date:
    """``d`` if it is a working day, else the nearest earlier working day."""
    for _ in range(_MAX_NONWORKING_RUN):
        if is_working_day(d):
            return d
        d -= _ONE_DAY
    raise RuntimeError(f"no working day within {_MAX_NONWORKING_RUN} days before {d}")


def previous_working_day(d: date) -> date:
    """The nearest working day strictly before ``d``."""
    return working_day_on_or_before(d - _ONE_DAY)


def next_working_day(d: date) -> date:
    """The nearest working day strictly after ``d``."""
    for _ in range(_MAX_NONWORKING_RUN):
        d += _ONE_DAY
        if is_working_day(d):
            return d
    raise RuntimeError(f"no working day within {_MAX_NONWORKING_RUN} days after {d}")


def nth_working_day_after(d: date, n: int) -> date:
    """The ``n``-th working day after ``d`` (``n`` ≥ 1): «в течение 5 рабочих дней после
    31.12.2021» ends on 14.01.2022, the fifth working day after the New Year holidays."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    for _ in range(n):
        d = next_working_day(d)
    return d


def term_end(d: date) -> date:
    """The last day a deadline on ``d`` is still met (Civil Code, art. 193).

    ``d`` itself if it is a working day; else the next working day: a term whose last day
    is a non-working day ends on the next working day. A cycle due Saturday 01.01.2022
    is met until the end of Monday 10.01.2022, after the New Year holidays.
    """
    return d if is_working_day(d) else next_working_day(d)
