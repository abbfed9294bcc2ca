"""A center's own stage deadlines: the cohort's, unless an order moved them for it.

A stage deadline is its cohort's, from the roadmap's stage rules
(`workflow.roadmap.deadlines.stage_deadlines`). ``tochka centers reschedule`` moves it for
one center (`workflow.engine.amendments.reschedule_stage`): a ``stage_revision`` row, the
latest of a (center, stage) being its due date. Everything that dates a center's stage
(the reminders, overdue marking and days late, the calendar, the final report, ``centers
show``) asks `moved_stages` and `center_deadlines` here, so the moved center leaves its
cohort's group and the others keep the cohort's date.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from states.cycle import CycleState
from workflow.roadmap.deadlines import StageDeadline, stage_deadlines
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CYCLE, STAGE_REVISION


@dataclass(frozen=True, kw_only=True)
class MovedStage:
    """One center's stage deadline as moved.

    Attributes:
        center_id: the center's row id.
        stage: the center state whose deadline moved.
        due: the revised due date (the latest revision's).
        earlier: the due dates it had before, oldest first (the cohort's date first).
        reason, document: the latest revision's.
    """

    center_id: int
    stage: str
    due: date
    earlier: tuple[date, ...]
    reason: str
    document: str | None


def moved_stages(conn: Connection, roadmap_id: int) -> dict[tuple[int, str], MovedStage]:
    """(center id, stage) → its moved deadline, for every stage deadline moved."""
    result: dict[tuple[int, str], MovedStage] = {}
    rows = conn.execute(
        sa.select(
            STAGE_REVISION.c.center_id,
            STAGE_REVISION.c.stage,
            STAGE_REVISION.c.original_due,
            STAGE_REVISION.c.revised_due,
            STAGE_REVISION.c.reason,
            STAGE_REVISION.c.document,
        )
        .where(STAGE_REVISION.c.roadmap_id == roadmap_id)
        .order_by(STAGE_REVISION.c.id)
    )
    for row in rows:
        key = (int(row.center_id), str(row.stage))
        before = result.get(key)
        result[key] = MovedStage(
            center_id=key[0],
            stage=key[1],
            due=row.revised_due,
            earlier=(*(before.earlier if before else ()), row.original_due),
            reason=str(row.reason),
            document=row.document,
        )
    return result


def moved_of(conn: Connection, roadmap_id: int, center_id: int) -> dict[str, MovedStage]:
    """Stage → its moved deadline, for one center."""
    return {
        stage: moved
        for (cid, stage), moved in moved_stages(conn, roadmap_id).items()
        if cid == center_id
    }


def revised(
    deadlines: Sequence[StageDeadline], moved: Mapping[str, MovedStage]
) -> list[StageDeadline]:
    """The cohort's ``deadlines`` with one center's ``moved`` stages at their revised dates."""
    return [replace(d, due=moved[d.stage].due) if d.stage in moved else d for d in deadlines]


def schedule_due_by_year(conn: Connection, stored: StoredRoadmap) -> dict[int, dict[int, date]]:
    """For by-schedule stage rules: cohort year → {measure: the latest due date of its (not
    cancelled) cycles that year} (the rule of
    `workflow.schedule.reminders.schedule_due_by_cohort`)."""
    measures = sorted({r.measure for r in stored.definition.stages if r.due_month is None})
    result: dict[int, dict[int, date]] = {}
    if not measures:
        return result
    for measure, due in conn.execute(
        sa.select(CYCLE.c.measure, CYCLE.c.due_date).where(
            CYCLE.c.roadmap_id == stored.id,
            CYCLE.c.measure.in_(measures),
            CYCLE.c.state != CycleState.CANCELLED.value,
        )
    ):
        per = result.setdefault(due.year, {})
        per[int(measure)] = max(due, per.get(int(measure), due))
    return result


def cohort_schedule_due(conn: Connection, stored: StoredRoadmap, cohort: int) -> dict[int, date]:
    """`schedule_due_by_year` for one cohort."""
    return schedule_due_by_year(conn, stored).get(cohort, {})


def center_deadlines(
    conn: Connection,
    stored: StoredRoadmap,
    *,
    center_id: int,
    cohort: int,
    schedule_due: Mapping[int, date] | None = None,
) -> list[StageDeadline]:
    """One center's stage deadlines: its cohort's, the moved ones at their revised date."""
    schedule = (
        schedule_due if schedule_due is not None else cohort_schedule_due(conn, stored, cohort)
    )
    cohorts = stage_deadlines(stored.definition, cohort=cohort, schedule_due=schedule)
    return revised(cohorts, moved_of(conn, stored.id, center_id))
