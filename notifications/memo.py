"""Memoised pure functions of the letters, bounded, and one way to empty them all.

A day's letters repeat the same names, titles, dates, addresses, header lines and
calendar events thousands of times: the wording (`notifications.russian`), the header
checks and folding (`notifications.headers`) and the events (`notifications.ics`) keep
what they computed, `MEMO_SIZE` entries each. Only pure functions of hashable arguments
are kept, so a kept result is the result. `clear` empties every one of them (the
benchmark measures each round from cold, as a tick of a new day would start).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

#: Entries kept by each memoised function.
MEMO_SIZE = 8192

_P = ParamSpec("_P")
_R = TypeVar("_R")
_CLEARS: list[Callable[[], None]] = []


def memoised(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """``func`` with its last `MEMO_SIZE` results kept (`functools.lru_cache`)."""
    kept = functools.lru_cache(maxsize=MEMO_SIZE)(func)
    _CLEARS.append(kept.cache_clear)
    return cast("Callable[_P, _R]", kept)


def on_clear(clear: Callable[[], None]) -> None:
    """Have `clear` call ``clear`` too (a memo that is not a function's)."""
    _CLEARS.append(clear)


def clear() -> None:
    """Forget every kept result."""
    for forget in _CLEARS:
        forget()
