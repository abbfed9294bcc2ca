"""Measure cycles implied by a roadmap's recurrences, as of a date.

Pure schedule maths: the roadmap and an explicit date in, cycle specs out. The
reconciler makes every spec returned here exist (unique on measure + period), so the
function must be stable: a cycle listed once is listed on every later date.

When a cycle comes into being
-----------------------------
A cycle exists from its *opening day*: the day its earliest reminder is sent, i.e.
``working_day_on_or_before(due - lead)`` with ``lead = max(policy.days_before)`` (14
when the policy has no before-reminders). So the cycle is in the database, in state
``scheduled``, by the time its first reminder must go out, and not months earlier
cluttering the lists. ``horizon_days`` looks ahead: a cycle is listed when its opening
day is at or before ``as_of + horizon_days``.

Cycles and period labels
------------------------
* ``once``: one cycle due ``first_due``, labelled with its year (``"2020"``).
* ``once_then_as_needed``: the first cycle like ``once``; later ones are opened by an
  operator (`operator_period` labels them).
* ``annual``: one cycle a year from ``first_due``'s year, on the same month and day
  (29 February falls back to the 28th), labelled with the year.
* ``quarterly``: every 3 months from ``first_due`` (a day past a month's end falls back
  to its last day), labelled with the quarter *reported on*: the quarter before the one
  holding the due date (due 2021-10-01 → ``"2021-Q3"``, due 2022-01-01 → ``"2021-Q4"``).
* ``as_needed`` and ``by_schedule``: nothing; operators open those cycles.
* A cycle exists for every period that lies inside the program, its due date by the
  recurrence even when that date is after ``roadmap.period_end``: the monitoring of
  2023-Q4 is due 01.01.2024 (a quarterly cycle whose reported quarter starts on or
  before the end; an annual or once cycle of a year up to the end's). Of the cycles due
  after the end, `scheduled_cycles` keeps those of the measures that close the program
  (``roadmap.closing``, `workflow.roadmap.closing`). There is no lower bound: measures
  due before the program starts (the decree's 07.12.2020) are cycles like any other.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from workflow.roadmap.definition import Measure, Recurrence, ReminderPolicy, Roadmap
from workflow.roadmap.workdays import working_day_on_or_before

#: The lead used when a policy sends no reminders before the deadline.
DEFAULT_LEAD_DAYS = 14


@dataclass(frozen=True, kw_only=True)
class CycleSpec:
    """A cycle the recurrence implies: the measure, its period label and due date."""

    measure: int
    period: str
    due: date


def quarter_label(d: date) -> str:
    """The label of the quarter holding ``d``: ``"2021-Q3"`` for 2021-08-25."""
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def reported_quarter(due: date) -> str:
    """The quarter a report due on ``due`` is about: the quarter before ``due``'s own.

    2021-10-01 → ``"2021-Q3"``; 2022-01-01 → ``"2021-Q4"``; 2021-10-15 → ``"2021-Q3"``.
    """
    first_month = (due.month - 1) // 3 * 3 + 1
    return quarter_label(date(due.year, first_month, 1) - timedelta(days=1))


def operator_period(due: date, existing: Collection[str]) -> str:
    """The period label of a cycle an operator opens: the ISO due date, made unique.

    ``"2021-02-15"``; if taken, ``"2021-02-15#2"``, then ``"#3"`` and so on (the first
    free number).

    Args:
        due: the due date the operator sets.
        existing: period labels already used by this measure's cycles.
    """
    base = due.isoformat()
    if base not in existing:
        return base
    n = 2
    while f"{base}#{n}" in existing:
        n += 1
    return f"{base}#{n}"


def _shift(first: date, *, months: int) -> date:
    """``first`` moved by whole months, keeping its day where the month has it."""
    index = first.year * 12 + first.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(first.day, calendar.monthrange(year, month)[1]))


def measure_cycles(measure: Measure, *, period_end: date) -> Iterator[CycleSpec]:
    """Every cycle the measure's recurrence implies over the program, regardless of date.

    Args:
        measure: the measure.
        period_end: the program's last day; a cycle is listed while its period (the
            reported quarter, the year) starts on or before it.

    Raises:
        ValueError: a dated recurrence without ``first_due`` (the loader refuses these).
    """
    kind = measure.recurrence
    if kind in (Recurrence.AS_NEEDED, Recurrence.BY_SCHEDULE):
        return
    first = measure.first_due
    if first is None:
        raise ValueError(f"measure {measure.number}: recurrence {kind.value} needs first_due")
    if kind in (Recurrence.ONCE, Recurrence.ONCE_THEN_AS_NEEDED):
        if first.year <= period_end.year:
            yield CycleSpec(measure=measure.number, period=str(first.year), due=first)
        return
    k = 0
    while True:
        if kind is Recurrence.ANNUAL:
            due = _shift(first, months=12 * k)
            if due.year > period_end.year:
                return
            period = str(due.year)
        else:
            due = _shift(first, months=3 * k)
            period = reported_quarter(due)
            if _quarter_start(period) > period_end:
                return
        yield CycleSpec(measure=measure.number, period=period, due=due)
        k += 1


def _quarter_start(label: str) -> date:
    """The first day of the quarter ``"2023-Q4"`` → 2023-10-01."""
    year, quarter = label.split("-Q")
    return date(int(year), (int(quarter) - 1) * 3 + 1, 1)


def lead_days(policy: ReminderPolicy) -> int:
    """How many days before its due date a cycle opens (before the working-day shift)."""
    return max(policy.days_before, default=DEFAULT_LEAD_DAYS)


def opens_on(due: date, policy: ReminderPolicy) -> date:
    """The day a cycle due on ``due`` comes into being: its first reminder's send day."""
    return working_day_on_or_before(due - timedelta(days=lead_days(policy)))


def scheduled_cycles(roadmap: Roadmap, *, as_of: date, horizon_days: int = 0) -> list[CycleSpec]:
    """The cycles that exist as of ``as_of`` (see the module docstring for the rule).

    Args:
        roadmap: the roadmap.
        as_of: the local date of the run, in the roadmap's zone.
        horizon_days: look this many days further ahead (a preview); 0 for the reconciler.

    Returns:
        Specs ordered by measure number, then due date.
    """
    last = as_of + timedelta(days=horizon_days)
    result: list[CycleSpec] = []
    for measure in sorted(roadmap.measures, key=lambda m: m.number):
        for spec in measure_cycles(measure, period_end=roadmap.period_end):
            if spec.due > roadmap.period_end and not roadmap.closing.closes_program(spec.measure):
                break  # due after the end, and not a report that closes the program
            # Due dates increase, and so do opening days: stop at the first one ahead.
            if opens_on(spec.due, roadmap.reminders) > last:
                break
            result.append(spec)
    return result
