"""Indicator periods and values as the roadmap defines them: pure functions, no database.

A center reports each indicator of the roadmap (``Roadmap.indicators``) for a period: a
quarter (``"2022-Q3"``) for per-quarter indicators, a year (``"2022"``) for per-year ones.
`RawRow` is a submission as written (a file row or the command line) before validation;
the store and its checks are `workflow.engine.indicators`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from workflow.errors import InputError
from workflow.roadmap.definition import (
    UNIT_TITLES,
    Indicator,
    IndicatorPeriod,
    IndicatorUnit,
    Roadmap,
)

_QUARTER_RE = re.compile(r"([0-9]{4})\s*-?\s*[QqКк]([1-4])")
_YEAR_RE = re.compile(r"[0-9]{4}")
_NUMBER_RE = re.compile(r"[0-9]+(?:[.,][0-9]+)?")
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
#: The largest count (persons, units) one center may report when the roadmap declares
#: no ``max:`` for the indicator: no single school has a million pupils or events, so a
#: larger value is a typing mistake (and would print as ``1e+23`` in reports).
COUNT_CEILING = 1_000_000
_SHOWN_TEXT = 40


# ------------------------------------------------------------------------- periods


@dataclass(frozen=True, kw_only=True)
class Period:
    """A reporting period: a quarter or a year, with its first and last day."""

    label: str
    kind: IndicatorPeriod
    start: date
    end: date

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def quarter(self) -> int | None:
        """1..4 for a quarter, None for a year."""
        if self.kind is IndicatorPeriod.YEAR:
            return None
        return (self.start.month - 1) // 3 + 1

    @property
    def year_label(self) -> str:
        """The label of the year holding the period (``"2022"``)."""
        return str(self.year)

    @property
    def title(self) -> str:
        """The Russian name: ``III квартал 2022 г.`` or ``2022 год``."""
        if self.quarter is None:
            return f"{self.year} год"
        return f"{_ROMAN[self.quarter]} квартал {self.year} г."


def parse_period(text: str) -> Period | None:
    """A period label (``2022-Q3``, also ``2022 Q3`` and ``2022-К3``; or ``2022``), or None."""
    value = text.strip()
    if match := _QUARTER_RE.fullmatch(value):
        year, quarter = int(match.group(1)), int(match.group(2))
        if year < 1:
            return None
        start = date(year, 3 * quarter - 2, 1)
        end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(
            label=f"{year}-Q{quarter}",
            kind=IndicatorPeriod.QUARTER,
            start=start,
            end=date.fromordinal(end.toordinal() - 1),
        )
    if _YEAR_RE.fullmatch(value) and int(value) >= 1:
        year = int(value)
        return Period(
            label=value, kind=IndicatorPeriod.YEAR, start=date(year, 1, 1), end=date(year, 12, 31)
        )
    return None


def period_of(text: str, roadmap: Roadmap, *, kind: IndicatorPeriod | None = None) -> Period:
    """A period inside the roadmap's program, for a command-line argument.

    Raises:
        InputError: not a period label, the wrong kind, or outside the program.
    """
    period = parse_period(text)
    if period is None or (kind is not None and period.kind is not kind):
        example = "2022-Q3" if kind is IndicatorPeriod.QUARTER else "2022-Q3 или 2022"
        raise InputError(f"«{text}» — не отчётный период: ожидается, например, {example}.")
    if problem := outside_program(period, roadmap):
        raise InputError(problem[0].upper() + problem[1:] + ".")
    return period


def outside_program(period: Period, roadmap: Roadmap) -> str | None:
    """Why ``period`` lies outside the roadmap's program, or None when it lies inside."""
    if period.start < roadmap.period_start or period.end > roadmap.period_end:
        return (
            f"период {period.label} вне программы "
            f"({roadmap.period_start:%d.%m.%Y} — {roadmap.period_end:%d.%m.%Y})"
        )
    return None


def required_indicators(roadmap: Roadmap, period: Period) -> list[tuple[Indicator, str]]:
    """The indicators a due center must have reported for ``period``, with their labels.

    A quarter requires the per-quarter indicators, and in its fourth quarter the
    per-year ones too (the year is over); a year requires the per-year ones.
    """
    result: list[tuple[Indicator, str]] = []
    for indicator in roadmap.indicators:
        if indicator.period is IndicatorPeriod.QUARTER and period.quarter is not None:
            result.append((indicator, period.label))
        elif indicator.period is IndicatorPeriod.YEAR and period.quarter in (None, 4):
            result.append((indicator, period.year_label))
    return result


# -------------------------------------------------------------------------- values


def parse_value(indicator: Indicator, text: str) -> float:
    """The value written for an indicator, checked against its unit and range.

    Accepts a decimal comma (``12,5``) and, for shares, a trailing ``%``. A count is at
    most the roadmap's ``max:`` or, when none is declared, `COUNT_CEILING`.

    Raises:
        ValueError: with a Russian message saying what is wrong.
    """
    shown = shown_text(text)
    written = text.strip().replace("\u00a0", "").replace(" ", "")
    share = indicator.unit is IndicatorUnit.PERCENT
    if share:
        written = written.removesuffix("%")
    elif written.endswith("%") and _NUMBER_RE.fullmatch(written.removeprefix("-")[:-1]):
        raise ValueError(
            f"«{shown}» — не число: показатель считается в {UNIT_TITLES[indicator.unit]}, "
            "а не в процентах"
        )
    if written.startswith("-") and _NUMBER_RE.fullmatch(written[1:]):
        raise ValueError(f"значение {shown} отрицательное: допустимо от 0")
    if not _NUMBER_RE.fullmatch(written):
        raise ValueError(f"«{shown}» — не число")
    value = float(written.replace(",", "."))
    # The range first: a huge count (or one too long for a float: inf) is "too large",
    # not "not whole".
    bound = indicator.upper_bound
    why = ""
    if share and bound == 100.0:
        why = "доля не может превышать 100 %"
    elif bound is None:
        bound = float(COUNT_CEILING)
        why = "для одного центра это неправдоподобно много (проверьте, нет ли лишних цифр)"
    if value > bound:
        raise ValueError(
            f"значение {shown} больше допустимого {_number_text(bound)}"
            + (f": {why}" if why else "")
        )
    if share:
        if "," in written or "." in written:
            decimals = len(re.split(r"[.,]", written)[1])
            if decimals > 2:
                raise ValueError(f"{shown}: доля указывается не точнее сотых")
    elif not value.is_integer():
        raise ValueError(f"{shown} — не целое число: показатель считается в целых")
    return value


def _number_text(value: float) -> str:
    """A bound as people write it: ``1000000``, ``99,5`` (never ``1e+06``)."""
    if value.is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


def shown_text(text: str) -> str:
    """The written text for a message: stripped, a very long one cut short."""
    written = text.strip()
    if len(written) <= _SHOWN_TEXT:
        return written
    return written[: _SHOWN_TEXT - 1] + "…"


def format_value(indicator: Indicator, value: float) -> str:
    """The value as people write it: ``120``, ``87,5``."""
    if indicator.unit is not IndicatorUnit.PERCENT or value.is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


# -------------------------------------------------------------------- submissions


@dataclass(frozen=True, kw_only=True)
class RawValue:
    """One indicator value as written: where it is, which indicator, the text."""

    indicator: str
    text: str
    column: int | None = None
    field: str | None = None


@dataclass(frozen=True, kw_only=True)
class RawRow:
    """A center's values for one period, as written in a file row or on the command line.

    ``line`` is None on the command line; columns are 1-based (None on the command line).
    ``unheaded`` holds the filled cells of a file row in columns the header does not
    name, as (column, text): each is refused (a value nobody can attribute).
    """

    center: str
    period: str
    values: tuple[RawValue, ...]
    unheaded: tuple[tuple[int, str], ...] = ()
    line: int | None = None
    center_column: int | None = None
    period_column: int | None = None
    center_field: str | None = None
    period_field: str | None = None
