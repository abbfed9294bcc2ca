"""A center's stage deadlines, from its cohort year and the roadmap's stage rules.

Pure: the roadmap, the cohort year and (optionally) the by-schedule due dates in, dated
stages out. A rule with ``year: cohort-1`` (``year_offset`` -1) is due in the year before
the cohort's. For the Ivanovo decree and cohort Y: equipped and staff_trained by 25.08.Y,
opened by 01.09.Y, reporting from 01.10.Y, infrastructure_agreed by the due date of
measure 3's cycle for that cohort, which the operator sets per a separate schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from states.center import LIFECYCLE
from workflow.roadmap.definition import Roadmap

_ORDER = {state.value: index for index, state in enumerate(LIFECYCLE)}


@dataclass(frozen=True, kw_only=True)
class StageDeadline:
    """When a center should reach (or, with ``starts``, begin) a stage.

    Attributes:
        stage: a `states.center.CenterState` value.
        measure: the roadmap measure behind the stage.
        due: the date; None while a by-schedule date is not set yet.
        starts: True when ``due`` is when the stage begins (reporting "from 01.10")
            rather than a deadline to reach it.
    """

    stage: str
    measure: int
    due: date | None
    starts: bool


def stage_deadlines(
    roadmap: Roadmap, *, cohort: int, schedule_due: Mapping[int, date] | None = None
) -> list[StageDeadline]:
    """The stage deadlines of a center of ``cohort``, in lifecycle order.

    Args:
        roadmap: the roadmap.
        cohort: the center's cohort year (the year it opens).
        schedule_due: for by-schedule rules (no month/day in the rule), the due date of
            the measure's cycle for this cohort, by measure number. A rule whose measure
            is missing here gets ``due=None``.

    Raises:
        ValueError: a rule names a stage that is not a lifecycle stage, or a month/day
            that does not exist in ``cohort`` (29 February); the loader refuses the
            first and should refuse the second.
    """
    schedule = schedule_due or {}
    result: list[StageDeadline] = []
    for rule in roadmap.stages:
        if rule.stage not in _ORDER:
            raise ValueError(f"stage rule for measure {rule.measure}: unknown stage {rule.stage}")
        if rule.due_month is not None and rule.due_day is not None:
            due: date | None = date(cohort + rule.year_offset, rule.due_month, rule.due_day)
        else:
            due = schedule.get(rule.measure)
        result.append(
            StageDeadline(stage=rule.stage, measure=rule.measure, due=due, starts=rule.starts)
        )
    # Stable sort: rules for the same stage keep the file's order.
    result.sort(key=lambda d: _ORDER[d.stage])
    return result
