"""Relative deadlines (``kind: after``): cycles due N days after another measure's cycle
or a center's stage is done.

Pure schedule maths, as `workflow.roadmap.recurrence`: the completions of the sources
in, the cycles to create and to cancel out. The reconciler
(`workflow.schedule.relative`) reads the completions from the database and applies the
plan in its tick, so a dependent cycle is reminded on the ladder like any other.

The rule
--------
* A measure source (``after: {measure: 4, days: 10}``): one dependent cycle per done
  cycle of measure 4, labelled with that cycle's period (``"2021"``), due 10 days after
  the completion's effective date.
* A stage source (``after: {stage: equipped, days: 5, working: true}``): one dependent
  cycle per center that reached the stage, labelled «центр <code>» («центр A1»: the
  letters' «Мероприятие № 21 (центр A1)» then say whose it is), due on the 5th working
  day after the day it reached it. A stage is reached by each center on its own day, so
  a per-center cycle is the only one with a date to count from.
* ``working``: the N-th working day after the completion (`workflow.roadmap.workdays`,
  the Russian calendar with its holidays); otherwise N calendar days.
* When the source is *not done any more* (a center reverted below the stage or
  withdrawn; a source cycle not in state ``done``), an open dependent cycle is
  cancelled, the reason naming the source; a done dependent stays as it is. When the
  source is done again, a new dependent is created, due from the new completion:
  labelled ``"<label>#2"`` for the second completion, ``#3`` for the third and so on, so
  the cancelled one keeps its history. A dependent an operator cancelled is not
  re-created while its source stays done.
* A done cycle cannot be cancelled or reopened in Tochka (`states.cycle`: ``cancel``
  leaves open states only): a source cycle cancelled while open was never completed,
  so it has no dependent.
* A dependent due after the program's end is created only for a measure that closes the
  program (as `workflow.roadmap.recurrence.scheduled_cycles`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from states.center import STATE_TITLES, CenterState
from workflow.roadmap.definition import Measure, Recurrence, RelativeDeadline, Roadmap
from workflow.roadmap.recurrence import CycleSpec
from workflow.roadmap.workdays import nth_working_day_after


@dataclass(frozen=True, kw_only=True)
class Completion:
    """What is known of one source: a cycle of the source measure, or a center.

    Attributes:
        label: the source cycle's period, or «центр <code>»: the dependent's label.
        count: how many times the source has become done (0: never).
        on: the effective date of the latest time it became done (None if never).
        done: whether it is done now.
    """

    label: str
    count: int
    on: date | None
    done: bool


@dataclass(frozen=True, kw_only=True)
class Cancellation:
    """An open dependent cycle to cancel, and why (Russian, for the audit event)."""

    measure: int
    period: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RelativePlan:
    """What the reconciler does for the relative deadlines as of a tick."""

    create: list[CycleSpec] = field(default_factory=list)
    cancel: list[Cancellation] = field(default_factory=list)


def relative_due(rule: RelativeDeadline, on: date) -> date:
    """The dependent's due date: N calendar days, or the N-th working day, after ``on``.

    10 days after 25.12.2021 → 04.01.2022; 5 working days after 28.12.2021 → 12.01.2022
    (31.12.2021 and 1–9 January 2022 are off).
    """
    if rule.working:
        return nth_working_day_after(on, rule.days)
    return on + timedelta(days=rule.days)


def dependent_period(label: str, count: int) -> str:
    """The dependent's period for the ``count``-th completion: ``"2021"``, ``"2021#2"``."""
    return label if count <= 1 else f"{label}#{count}"


def source_text(rule: RelativeDeadline, label: str) -> str:
    """The source as the audit reason names it: «мероприятие № 4 (2021)», «центр C01»."""
    if rule.measure is not None:
        return f"мероприятие № {rule.measure} (цикл {label})"
    stage = STATE_TITLES.get(CenterState(rule.stage), rule.stage) if rule.stage else ""
    return f"{label} (этап «{stage}»)"


def measure_plan(
    measure: Measure,
    completions: Iterable[Completion],
    dependents: Mapping[str, bool],
    *,
    roadmap: Roadmap | None = None,
) -> RelativePlan:
    """The cycles to create and cancel for one ``after`` measure.

    Args:
        measure: the dependent measure (``recurrence`` ``after``).
        completions: one per source cycle or center.
        dependents: the measure's existing cycles: period → whether it is open.
        roadmap: when given, a dependent due after its end is created only for a
            measure that closes the program.
    """
    rule = measure.after
    plan = RelativePlan()
    if measure.recurrence is not Recurrence.AFTER or rule is None:
        return plan
    for c in sorted(completions, key=lambda c: c.label):
        if c.count < 1:
            continue
        current = dependent_period(c.label, c.count)
        # Earlier completions' dependents (and, if the source is not done, the current
        # one) no longer count from a valid completion: an open one is cancelled.
        stale = range(1, c.count) if c.done else range(1, c.count + 1)
        for n in stale:
            period = dependent_period(c.label, n)
            if dependents.get(period, False):
                why = (
                    "срок пересчитан: источник выполнен снова"
                    if c.done
                    else "источник больше не выполнен"
                )
                plan.cancel.append(
                    Cancellation(
                        measure=measure.number,
                        period=period,
                        reason=f"{source_text(rule, c.label)}: {why}",
                    )
                )
        if not c.done or c.on is None or current in dependents:
            continue
        due = relative_due(rule, c.on)
        if (
            roadmap is not None
            and due > roadmap.period_end
            and not roadmap.closing.closes_program(measure.number)
        ):
            continue
        plan.create.append(CycleSpec(measure=measure.number, period=current, due=due))
    return plan


def after_sources(roadmap: Roadmap) -> dict[int, list[int]]:
    """Each ``after`` measure → the measures it counts from (a stage source: none)."""
    return {
        m.number: [m.after.measure] if m.after is not None and m.after.measure else []
        for m in roadmap.measures
        if m.recurrence is Recurrence.AFTER
    }


def find_cycle(edges: Mapping[int, Iterable[int]], start: int) -> list[int] | None:
    """A cycle of relative deadlines through ``start``: ``[5, 4, 5]`` (5 after 4 after 5),
    or None. A walk along the ``after`` edges (each measure has at most one)."""
    path = [start]
    seen = {start}
    node = start
    while True:
        nexts = list(edges.get(node, ()))
        if not nexts:
            return None
        node = nexts[0]
        path.append(node)
        if node == start:
            return path
        if node in seen:
            return None  # a cycle not through ``start``: reported at its own measures
        seen.add(node)
