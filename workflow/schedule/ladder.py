"""The reminder ladder: when each reminder about a deadline is sent.

Pure schedule maths: a deadline (a local date in the roadmap's zone) and the roadmap's
`ReminderPolicy` in, dated rungs out. No clock reads: callers pass ``today``.

Rules:

* Rungs: one ``before-N`` rung for each N in ``policy.days_before`` (nominal date
  ``deadline - N``), an ``on_day`` rung (nominal ``deadline``) when ``policy.on_day``,
  then ``overdue-N`` rungs at N = every, 2·every, … days after the legal end of the
  term (nominal ``term_end(deadline) + N``; `workflow.roadmap.workdays.term_end`: a
  deadline on a non-working day is met until the end of the next working day), where
  every = ``policy.overdue_every_days``, at most ``policy.overdue_rungs`` of them:
  after the last one the ladder stops shouting, and an item still open appears in the
  coordinator's weekly summary instead (`workflow.schedule.weekly`).
* A rung is sent on a Russian working day. A rung whose nominal date is a non-working
  day (weekend, public holiday, transferred day off) moves to the previous working day,
  so a reminder never arrives later than promised. An overdue rung that would thereby
  land on or before the term's end moves instead to the first working day after it:
  an "overdue" letter sent before the term has ended would be false.
* Rungs that land on the same ``send_on`` collapse into the latest of them (the one
  closest to, or furthest past, the deadline): only one letter per deadline per day, and
  the later one carries the more urgent message. Example: deadline 2022-03-08 — both
  ``before-3`` (Sat 05.03, a working Saturday) and ``on_day`` (08.03 holiday, 07.03
  transferred day off, 06.03 Sunday → 05.03) fall on 2022-03-05; only ``on_day`` stays.
* ``send_on`` never decreases along the ladder, so "the latest rung due by today" is
  well defined and does not depend on how far the ladder was computed.

`due_rung` is what the reconciler calls; see its docstring for the catch-up rule.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from workflow.roadmap.definition import ReminderPolicy
from workflow.roadmap.workdays import (
    is_working_day,
    next_working_day,
    previous_working_day,
    term_end,
    working_day_on_or_before,
)

__all__ = [
    "RungDate",
    "RungKind",
    "cc_coordinator",
    "due_rung",
    "is_last_rung",
    "is_working_day",
    "ladder",
    "next_working_day",
    "previous_working_day",
    "upcoming",
    "working_day_on_or_before",
]

_ONE_DAY = timedelta(days=1)


class RungKind(StrEnum):
    """Which part of the ladder a rung belongs to (same values as notifications' Rung)."""

    BEFORE = "before"
    ON_DAY = "on_day"
    OVERDUE = "overdue"


@dataclass(frozen=True, kw_only=True)
class RungDate:
    """One reminder about one deadline.

    Attributes:
        kind: before, on the day, or overdue.
        days: days between the nominal date and the deadline (always >= 0; 0 on the day);
            for an overdue rung, between the nominal date and the term's legal end.
        nominal: the date the policy names (``deadline ± days``).
        send_on: the working day the reminder is actually sent.
        key_part: unique per deadline, stable across runs and policy edits
            (``before-14``, ``on_day``, ``overdue-7``); part of the outbox idempotency key.
    """

    kind: RungKind
    days: int
    nominal: date
    send_on: date
    key_part: str


# --- the ladder -------------------------------------------------------------------------


def _offset(key_part: str) -> int | None:
    """Signed days from the deadline that a key names (-14, 0, 7); None if not a rung key."""
    if key_part == RungKind.ON_DAY.value:
        return 0
    kind, sep, days = key_part.partition("-")
    if not sep or not days.isdigit():
        return None
    if kind == RungKind.BEFORE.value:
        return -int(days)
    if kind == RungKind.OVERDUE.value:
        return int(days)
    return None


def _collapse(rungs: list[RungDate]) -> list[RungDate]:
    """Keep only the last rung of each run sharing a ``send_on`` (input is in order)."""
    kept: list[RungDate] = []
    for rung in rungs:
        if kept and kept[-1].send_on == rung.send_on:
            kept[-1] = rung
        else:
            kept.append(rung)
    return kept


def ladder(deadline: date, policy: ReminderPolicy, *, until: date) -> list[RungDate]:
    """The rungs for ``deadline``, in order, overdue ones up to ``until``.

    Before and on-the-day rungs are always listed, whatever ``until`` is (a preview
    shows them); overdue rungs are listed while their ``send_on`` is at or before
    ``until``, at most ``policy.overdue_rungs`` of them.

    Args:
        deadline: the due date, a local date in the roadmap's zone.
        policy: the roadmap's reminder policy.
        until: the last day an overdue rung may be sent; usually today.

    Returns:
        Rungs in ladder order; ``send_on`` strictly increases along the list.

    Raises:
        ValueError: ``policy.days_before`` holds a value below 1 (the loader refuses them).
    """
    if any(days < 1 for days in policy.days_before):
        raise ValueError(f"days_before must be positive: {policy.days_before}")
    rungs: list[RungDate] = []
    for days in sorted(set(policy.days_before), reverse=True):
        nominal = deadline - timedelta(days=days)
        rungs.append(
            RungDate(
                kind=RungKind.BEFORE,
                days=days,
                nominal=nominal,
                send_on=working_day_on_or_before(nominal),
                key_part=f"{RungKind.BEFORE.value}-{days}",
            )
        )
    if policy.on_day:
        rungs.append(
            RungDate(
                kind=RungKind.ON_DAY,
                days=0,
                nominal=deadline,
                send_on=working_day_on_or_before(deadline),
                key_part=RungKind.ON_DAY.value,
            )
        )
    every = policy.overdue_every_days
    # Overdue counts from the legal end of the term (Civil Code art. 193): a deadline
    # on a non-working day is met until the end of the next working day.
    end = term_end(deadline)
    if every >= 1:
        days = every
        while days <= policy.silenced_after():
            nominal = end + timedelta(days=days)
            send_on = working_day_on_or_before(nominal)
            if send_on <= end:
                send_on = next_working_day(end)
            # send_on never decreases with `days`, so the first one past `until` ends it.
            if send_on > until:
                break
            rungs.append(
                RungDate(
                    kind=RungKind.OVERDUE,
                    days=days,
                    nominal=nominal,
                    send_on=send_on,
                    key_part=f"{RungKind.OVERDUE.value}-{days}",
                )
            )
            days += every
    return _collapse(rungs)


def due_rung(
    deadline: date,
    policy: ReminderPolicy,
    *,
    today: date,
    already_sent: Collection[str],
) -> RungDate | None:
    """The one rung to send as of ``today``, or None.

    The rule: take the latest rung whose ``send_on`` is at or before ``today``. Send it
    unless a rung at the same or a later point of the ladder was already sent (its
    ``key_part`` is in ``already_sent``). Consequences:

    * After downtime only the latest due rung goes out, never a burst of stale ones: a
      daemon down from 14 days before to 20 days after a deadline sends ``overdue-14``
      alone.
    * Nothing older than a sent rung is ever sent: if the latest due rung was sent but
      an older one was not (it was skipped by downtime), the result is None — the older
      one is stale for good.
    * If ``already_sent`` holds a rung later than today's latest (the clock was set back,
      or the policy changed), the result is None too.
    * The result is sent on ``today`` even when ``today`` is not a working day (catching
      up after downtime beats waiting); its ``send_on`` is still a working day.

    Keys that are not rung keys are ignored; keys of rungs the current policy no longer
    has (``overdue-10`` after a switch to weekly) still count by the point they name.

    Args:
        deadline: the due date.
        policy: the reminder policy.
        today: the local date of the run.
        already_sent: ``key_part`` values already queued for this deadline.
    """
    rungs = ladder(deadline, policy, until=today)
    due = [r for r in rungs if r.send_on <= today]
    if not due:
        return None
    latest = due[-1]
    latest_offset = -latest.days if latest.kind is RungKind.BEFORE else latest.days
    for key in already_sent:
        offset = _offset(key)
        if offset is not None and offset >= latest_offset:
            return None
    return latest


def upcoming(deadline: date, policy: ReminderPolicy, *, start: date, end: date) -> list[RungDate]:
    """Rungs whose ``send_on`` falls in ``[start, end]``, in order (for a preview)."""
    return [r for r in ladder(deadline, policy, until=end) if start <= r.send_on <= end]


def cc_coordinator(r: RungDate) -> bool:
    """Whether the coordinator (``policy.escalate_to``) is told of the item: from the first
    overdue reminder on, as an item of its own digest (never a copy of another letter)."""
    return r.kind is RungKind.OVERDUE


def is_last_rung(r: RungDate, policy: ReminderPolicy) -> bool:
    """Whether ``r`` is the last overdue reminder the policy allows."""
    return r.kind is RungKind.OVERDUE and r.days >= policy.silenced_after()
