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
* A compound measure (``items``, `workflow.roadmap.items`; ``once`` only): one cycle per
  item instead of the measure's own, due on the item's deadline, labelled
  ``"<due year>/<item number>"`` (``"2020/2.3"``).
* ``once_then_as_needed``: the first cycle like ``once``; later ones are opened by an
  operator (`operator_period` labels them).
* ``annual``: one cycle a year from ``first_due``'s year, on the same month and day
  (29 February falls back to the 28th), labelled with the year.
* ``quarterly``: every 3 months from ``first_due`` (a day past a month's end falls back
  to its last day), labelled with the quarter *reported on*: the quarter before the one
  holding the due date (due 2021-10-01 → ``"2021-Q3"``, due 2022-01-01 → ``"2021-Q4"``).
* ``monthly``: every month from ``first_due`` (the same day-of-month rule as
  quarterly: due on the 31st gives 28.02 or 29.02, 30.04, and 31.05 again, as each
  month is counted from ``first_due`` itself, never from the previous cycle), labelled
  with the month *reported on*: the month before the due date's (due 2022-03-05 →
  ``"2022-02"``).
* With a deadline rule (``due_rule``; monthly, quarterly or annual): one cycle per
  reported period from ``first_period`` (a month ``"2022-02"``, a quarter ``"2022-Q1"``,
  a year ``"2022"``), due N calendar days or the N-th working day after the period's
  last day, or on a day of the month after the period (a day past that month's end
  falls back to its last day).
* ``dates_yearly``: one cycle on each listed day (``dates``) of every year from
  ``first_due`` on, labelled with the ISO due date (``"2022-06-15"``).
* ``per_cohort``: one cycle per cohort year Y of the program (`Roadmap.cohort_years`),
  due on ``cohort_day`` of year ``Y + cohort_offset`` (``year: cohort-1``: the year
  before), labelled with the cohort's year.
* ``until``: no cycle of any kind is due after it.
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

from workflow.roadmap.definition import DueRule, Measure, Recurrence, ReminderPolicy, Roadmap
from workflow.roadmap.items import item_period
from workflow.roadmap.workdays import nth_working_day_after, working_day_on_or_before

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


def month_label(d: date) -> str:
    """The label of the month holding ``d``: ``"2022-03"`` for 2022-03-05."""
    return f"{d.year}-{d.month:02d}"


def reported_month(due: date) -> str:
    """The month a report due on ``due`` is about: the month before ``due``'s own.

    2022-03-05 → ``"2022-02"``; 2022-01-10 → ``"2021-12"``.
    """
    return month_label(date(due.year, due.month, 1) - timedelta(days=1))


#: Months in the period a periodic measure reports on, by its kind.
PERIOD_MONTHS: dict[Recurrence, int] = {
    Recurrence.MONTHLY: 1,
    Recurrence.QUARTERLY: 3,
    Recurrence.ANNUAL: 12,
}


def period_label(kind: Recurrence, start: date) -> str:
    """The label of the period of a ``kind`` measure starting on ``start``:
    ``"2022-03"``, ``"2022-Q1"``, ``"2022"``."""
    if kind is Recurrence.MONTHLY:
        return month_label(start)
    if kind is Recurrence.QUARTERLY:
        return quarter_label(start)
    return str(start.year)


def rule_due(rule: DueRule, *, period_last: date) -> date:
    """The due date of a report on a period ending ``period_last``, by ``rule``.

    5 working days after 31.12.2021 → 14.01.2022 (the New Year holidays are off); 5
    days → 05.01.2022; the 10th of the next month → 10.01.2022; the 31st of the month
    after 31.01.2022 → 28.02.2022.
    """
    if rule.day_of_next_month is not None:
        after = period_last + timedelta(days=1)
        last_day = calendar.monthrange(after.year, after.month)[1]
        return date(after.year, after.month, min(rule.day_of_next_month, last_day))
    if rule.days_after is None:
        raise ValueError("a deadline rule needs days_after or day_of_next_month")
    if rule.working:
        return nth_working_day_after(period_last, rule.days_after)
    return period_last + timedelta(days=rule.days_after)


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


def measure_cycles(
    measure: Measure, *, period_end: date, cohorts: range = range(0)
) -> Iterator[CycleSpec]:
    """Every cycle the measure's recurrence implies over the program, regardless of date.

    Args:
        measure: the measure.
        period_end: the program's last day; a cycle is listed while its period (the
            reported month or quarter, the year) starts on or before it.
        cohorts: the program's cohort years (`Roadmap.cohort_years`), for ``per_cohort``.

    Raises:
        ValueError: a dated recurrence without ``first_due`` (the loader refuses these).
    """
    for spec in _cycles(measure, period_end=period_end, cohorts=cohorts):
        if measure.until is not None and spec.due > measure.until:
            return  # due dates increase: none later is due by ``until`` either
        yield spec


def _cycles(measure: Measure, *, period_end: date, cohorts: range) -> Iterator[CycleSpec]:
    kind = measure.recurrence
    if kind in (Recurrence.AS_NEEDED, Recurrence.BY_SCHEDULE, Recurrence.AFTER):
        return
    if kind is Recurrence.PER_COHORT:
        yield from _cohort_cycles(measure, cohorts)
        return
    if measure.due_rule is not None:
        yield from _rule_cycles(measure, measure.due_rule, period_end=period_end)
        return
    first = measure.first_due
    if first is None:
        raise ValueError(f"measure {measure.number}: recurrence {kind.value} needs first_due")
    if kind in (Recurrence.ONCE, Recurrence.ONCE_THEN_AS_NEEDED):
        if measure.items:
            yield from _item_cycles(measure, period_end=period_end)
            return
        if first.year <= period_end.year:
            yield CycleSpec(measure=measure.number, period=str(first.year), due=first)
        return
    if kind is Recurrence.DATES_YEARLY:
        yield from _dates_yearly(measure, first, period_end=period_end)
        return
    k = 0
    while True:
        if kind is Recurrence.ANNUAL:
            due = _shift(first, months=12 * k)
            if due.year > period_end.year:
                return
            period = str(due.year)
        elif kind is Recurrence.MONTHLY:
            due = _shift(first, months=k)
            period = reported_month(due)
            if date.fromisoformat(f"{period}-01") > period_end:
                return
        else:
            due = _shift(first, months=3 * k)
            period = reported_quarter(due)
            if _quarter_start(period) > period_end:
                return
        yield CycleSpec(measure=measure.number, period=period, due=due)
        k += 1


def _rule_cycles(measure: Measure, rule: DueRule, *, period_end: date) -> Iterator[CycleSpec]:
    """One cycle per reported period from ``first_period``, due by the rule."""
    start = measure.first_period
    if start is None:
        raise ValueError(f"measure {measure.number}: a deadline rule needs first_period")
    months = PERIOD_MONTHS[measure.recurrence]
    k = 0
    while (begins := _shift(start, months=months * k)) <= period_end:
        last = _shift(start, months=months * (k + 1)) - timedelta(days=1)
        yield CycleSpec(
            measure=measure.number,
            period=period_label(measure.recurrence, begins),
            due=rule_due(rule, period_last=last),
        )
        k += 1


def _item_cycles(measure: Measure, *, period_end: date) -> Iterator[CycleSpec]:
    """A compound measure's items, a cycle each on its own deadline, earliest first."""
    for item in sorted(measure.items, key=lambda i: i.due):
        if item.due.year <= period_end.year:
            yield CycleSpec(measure=measure.number, period=item_period(item), due=item.due)


def _dates_yearly(measure: Measure, first: date, *, period_end: date) -> Iterator[CycleSpec]:
    """Each listed day of every year from ``first`` up to the end's year."""
    for year in range(first.year, period_end.year + 1):
        for month, day in measure.dates:
            due = date(year, month, day)
            if due >= first:
                yield CycleSpec(measure=measure.number, period=due.isoformat(), due=due)


def _cohort_cycles(measure: Measure, cohorts: range) -> Iterator[CycleSpec]:
    """One cycle per cohort, due on its day of the cohort's year plus the offset."""
    if measure.cohort_day is None:
        raise ValueError(f"measure {measure.number}: per_cohort needs its day")
    month, day = measure.cohort_day
    for cohort in cohorts:
        yield CycleSpec(
            measure=measure.number,
            period=str(cohort),
            due=date(cohort + measure.cohort_offset, month, day),
        )


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
        specs = measure_cycles(measure, period_end=roadmap.period_end, cohorts=roadmap.cohort_years)
        for spec in specs:
            if spec.due > roadmap.period_end and not roadmap.closing.closes_program(spec.measure):
                break  # due after the end, and not a report that closes the program
            # Due dates increase, and so do opening days: stop at the first one ahead.
            if opens_on(spec.due, roadmap.reminders) > last:
                break
            result.append(spec)
    return result
