"""Center stages whose deadline an order moved for one center, as deadlines to remind.

A stage deadline is its cohort's and is reminded per (cohort, stage) group
(`workflow.schedule.reminders.stage_groups`); a center whose stage was moved
(`workflow.engine.stage_revisions`) leaves that group for the stage and is reminded here,
by its own date, while it still owes the stage. Its reminders carry the earlier dates
(``Deadline.earlier``): their keys are the new date's, the letters and the calendar say
the deadline was moved, and the event's SEQUENCE grows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from notifications.values import Recipient
from states.center import LIFECYCLE, CenterState
from workflow.engine.stage_revisions import cohort_schedule_due, moved_stages
from workflow.roadmap.deadlines import StageDeadline, stage_deadlines
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.due import KIND_CENTER, Deadline, center_deadline
from workflow.storage.tables import CENTER, SENT, STAGE_REVISION

_ORDER = {state.value: index for index, state in enumerate(LIFECYCLE)}


@dataclass(frozen=True, kw_only=True)
class MovedDeadline:
    """One center's moved stage deadline that the center still owes.

    Attributes:
        stage: the stage at its revised date.
        earlier: the dates it had before, oldest first (the cohort's date first).
        cohort: the center's cohort year.
        center: the center's row (id, code, name, municipality, email, state).
        sent_offset: the latest rung recorded for it since it was moved (None: none).
    """

    stage: StageDeadline
    earlier: tuple[date, ...]
    cohort: int
    center: Any
    sent_offset: int | None


def moved_centers(stage: Any, roadmap_id: Any) -> Any:
    """The ids of the centers whose ``stage`` deadline was moved (a subquery): the
    cohort's group of that stage leaves them out. ``stage`` and ``roadmap_id`` may be
    bind parameters."""
    return (
        sa.select(STAGE_REVISION.c.center_id)
        .where(STAGE_REVISION.c.roadmap_id == roadmap_id, STAGE_REVISION.c.stage == stage)
        .scalar_subquery()
    )


def moved_deadlines(conn: Connection, stored: StoredRoadmap) -> list[MovedDeadline]:
    """Every moved stage deadline whose center has not reached the stage and is not
    withdrawn, by center code and stage order."""
    moved = moved_stages(conn, stored.id)
    if not moved:
        return []
    ids = sorted({center_id for center_id, _stage in moved})
    centers = {
        int(row.id): row
        for row in conn.execute(
            sa.select(
                CENTER.c.id,
                CENTER.c.code,
                CENTER.c.name,
                CENTER.c.municipality,
                CENTER.c.email,
                CENTER.c.cohort,
                CENTER.c.state,
            ).where(CENTER.c.roadmap_id == stored.id, CENTER.c.id.in_(ids))
        )
    }
    sent = {
        (int(entity_id), str(stage)): int(offset)
        for entity_id, stage, offset in conn.execute(
            sa.select(SENT.c.entity_id, SENT.c.stage, sa.func.max(SENT.c.day_offset))
            .where(
                SENT.c.roadmap_id == stored.id,
                SENT.c.kind == KIND_CENTER,
                SENT.c.entity_id.in_(ids),
            )
            .group_by(SENT.c.entity_id, SENT.c.stage)
        )
    }
    schedules: dict[int, dict[int, date]] = {}
    result: list[MovedDeadline] = []
    for (center_id, stage), revision in moved.items():
        row = centers.get(center_id)
        if row is None or row.state == CenterState.WITHDRAWN.value:
            continue
        if _ORDER.get(str(row.state), len(_ORDER)) >= _ORDER[stage]:
            continue  # reached
        cohort = int(row.cohort)
        if cohort not in schedules:
            schedules[cohort] = cohort_schedule_due(conn, stored, cohort)
        rule = next(
            (
                d
                for d in stage_deadlines(
                    stored.definition, cohort=cohort, schedule_due=schedules[cohort]
                )
                if d.stage == stage
            ),
            None,
        )
        if rule is None:
            continue  # the roadmap no longer dates the stage
        result.append(
            MovedDeadline(
                stage=replace(rule, due=revision.due),
                earlier=revision.earlier,
                cohort=cohort,
                center=row,
                sent_offset=sent.get((center_id, stage)),
            )
        )
    result.sort(key=lambda m: (str(m.center.code), _ORDER[m.stage.stage]))
    return result


def as_deadline(
    roadmap: Roadmap, moved: MovedDeadline, contacts: Mapping[str, Recipient]
) -> Deadline:
    """The reminding deadline of a moved stage (as `center_deadline`, with its earlier
    dates)."""
    row = moved.center
    return center_deadline(
        roadmap,
        moved.stage,
        cohort=moved.cohort,
        center_id=int(row.id),
        code=str(row.code),
        name=str(row.name),
        municipality=str(row.municipality),
        email=str(row.email),
        municipality_contact=contacts.get(str(row.municipality)),
        earlier=moved.earlier,
    )
