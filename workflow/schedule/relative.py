"""The reconciler's step for relative deadlines (``kind: after``).

Reads what the sources' completions are (`workflow.roadmap.relative.Completion`: a
source measure's cycles and their ``done`` events, or the centers and their arrivals at
the stage), asks `workflow.roadmap.relative.measure_plan` what to do and does it: the
new dependent cycles are created like the scheduled ones (unique measure + period,
audited), and a dependent whose source is not done any more is cancelled by the daemon,
its audit event's comment naming the source. The rule is the pure module's docstring.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock
from states.center import FORWARD_TRIGGERS, LIFECYCLE, CenterState, CenterTrigger
from states.cycle import OPEN_STATES, CycleState, CycleTrigger
from workflow.engine import audit
from workflow.engine.access import Actor
from workflow.engine.audit import NewEvent
from workflow.roadmap.definition import Measure, Recurrence, RelativeDeadline
from workflow.roadmap.recurrence import CycleSpec
from workflow.roadmap.relative import Cancellation, Completion, RelativePlan, measure_plan
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, CYCLE, EVENT

log = logging.getLogger("tochka.reconcile")

_OPEN = tuple(s.value for s in OPEN_STATES)


def relative_plan(conn: Connection, stored: StoredRoadmap) -> RelativePlan:
    """What the relative deadlines of ``stored`` need created and cancelled now."""
    plan = RelativePlan()
    roadmap = stored.definition
    for measure in roadmap.measures:
        if measure.recurrence is not Recurrence.AFTER or measure.after is None:
            continue
        one = measure_plan(
            measure,
            completions(conn, stored.id, measure.after),
            _dependents(conn, stored.id, measure),
            roadmap=roadmap,
        )
        plan.create.extend(one.create)
        plan.cancel.extend(one.cancel)
    return plan


def completions(conn: Connection, roadmap_id: int, rule: RelativeDeadline) -> list[Completion]:
    """The completions of the rule's source as the database records them."""
    if rule.measure is not None:
        return _cycle_completions(conn, roadmap_id, rule.measure)
    assert rule.stage is not None
    return _stage_completions(conn, roadmap_id, CenterState(rule.stage))


def _cycle_completions(conn: Connection, roadmap_id: int, measure: int) -> list[Completion]:
    rows = conn.execute(
        sa.select(CYCLE.c.id, CYCLE.c.period, CYCLE.c.state).where(
            CYCLE.c.roadmap_id == roadmap_id, CYCLE.c.measure == measure
        )
    ).all()
    if not rows:
        return []
    done_events = _events(
        conn,
        roadmap_id,
        "cycle",
        [int(r.id) for r in rows],
        EVENT.c.to_state == CycleState.DONE.value,
    )
    result = []
    for r in rows:
        days = done_events.get(int(r.id), [])
        result.append(
            Completion(
                label=str(r.period),
                count=len(days),
                on=days[-1] if days else None,
                done=r.state == CycleState.DONE.value,
            )
        )
    return result


def _stage_completions(conn: Connection, roadmap_id: int, stage: CenterState) -> list[Completion]:
    reached = LIFECYCLE[LIFECYCLE.index(stage) :]
    rows = conn.execute(
        sa.select(CENTER.c.id, CENTER.c.code, CENTER.c.state).where(
            CENTER.c.roadmap_id == roadmap_id
        )
    ).all()
    if not rows:
        return []
    # A center arrives at the stage by its forward trigger, or by a revert of its
    # withdrawal back to the stage or a later one (a revert from a later stage back to
    # this one is not a new arrival: the stage was reached all along).
    arrivals = _events(
        conn,
        roadmap_id,
        "center",
        [int(r.id) for r in rows],
        sa.or_(
            EVENT.c.trigger == FORWARD_TRIGGERS[stage].value,
            sa.and_(
                EVENT.c.trigger == CenterTrigger.REVERT.value,
                EVENT.c.from_state == CenterState.WITHDRAWN.value,
                EVENT.c.to_state.in_([s.value for s in reached]),
            ),
        ),
    )
    result = []
    for r in rows:
        days = arrivals.get(int(r.id), [])
        if not days:
            continue
        result.append(
            Completion(
                label=f"центр {r.code}",
                count=len(days),
                on=days[-1],
                done=r.state in {s.value for s in reached},
            )
        )
    return result


def _events(
    conn: Connection, roadmap_id: int, kind: str, ids: list[int], condition: sa.ColumnElement[bool]
) -> dict[int, list[date]]:
    """The matching events' effective dates per entity, in the chain's order."""
    found: dict[int, list[date]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        query = (
            sa.select(EVENT.c.entity_id, EVENT.c.effective_date)
            .where(
                EVENT.c.roadmap_id == roadmap_id,
                EVENT.c.entity_kind == kind,
                EVENT.c.entity_id.in_(ids[start : start + 500]),
                condition,
            )
            .order_by(EVENT.c.seq)
        )
        for entity_id, effective in conn.execute(query):
            found[int(entity_id)].append(effective)
    return found


def _dependents(conn: Connection, roadmap_id: int, measure: Measure) -> dict[str, bool]:
    return {
        str(period): state in _OPEN
        for period, state in conn.execute(
            sa.select(CYCLE.c.period, CYCLE.c.state).where(
                CYCLE.c.roadmap_id == roadmap_id, CYCLE.c.measure == measure.number
            )
        )
    }


def reconcile_relative(
    engine: Engine, stored: StoredRoadmap, *, today: date, clock: Clock, actor: Actor
) -> list[CycleSpec]:
    """Cancel the stale dependents (a write transaction, only when there are some) and
    return the dependent cycles to create, for the reconciler's creation step."""
    if not any(m.recurrence is Recurrence.AFTER for m in stored.definition.measures):
        return []  # the usual roadmap: no read at all
    with db.read(engine) as conn:
        plan = relative_plan(conn, stored)
    if plan.cancel:
        with db.write(engine) as conn:
            cancelled = cancel_dependents(
                conn,
                stored,
                plan.cancel,
                actor=actor.login,
                effective=today,
                recorded_at=clock(),
            )
        log.info("event=relative_cancelled roadmap=%s cycles=%d", stored.definition.code, cancelled)
    return plan.create


def cancel_dependents(
    conn: Connection,
    stored: StoredRoadmap,
    cancellations: list[Cancellation],
    *,
    actor: str,
    effective: date,
    recorded_at: datetime,
) -> int:
    """Cancel the open dependent cycles whose source is not done any more, in the
    caller's write transaction; audited as ``cancel`` by ``actor``, the comment naming the
    source. A cycle that is no longer open (done or cancelled meanwhile) is left alone.

    Returns:
        The cycles cancelled.
    """
    events: list[NewEvent] = []
    for c in cancellations:
        row = conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.state, CYCLE.c.version).where(
                CYCLE.c.roadmap_id == stored.id,
                CYCLE.c.measure == c.measure,
                CYCLE.c.period == c.period,
            )
        ).first()
        if row is None or row.state not in _OPEN:
            continue
        updated = conn.execute(
            sa.update(CYCLE)
            .where(CYCLE.c.id == row.id, CYCLE.c.version == row.version)
            .values(
                state=CycleState.CANCELLED.value,
                version=row.version + 1,
                updated_at=recorded_at,
            )
        )
        if updated.rowcount != 1:
            continue  # changed by someone else since the read: the next tick looks again
        events.append(
            NewEvent(
                entity_kind="cycle",
                entity_id=int(row.id),
                entity_key=f"{c.measure}/{c.period}",
                trigger=CycleTrigger.CANCEL.value,
                from_state=str(row.state),
                to_state=CycleState.CANCELLED.value,
                actor=actor,
                on_behalf_of=None,
                recorded_at=recorded_at,
                effective_date=effective,
                comment=f"срок отсчитывался от события, которого больше нет: {c.reason}",
            )
        )
    if events:
        audit.append(conn, stored.id, events)
    return len(events)
