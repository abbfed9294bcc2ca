"""Measures the roadmap file records as done (``done:``), recorded as history by the tick.

A measure done before its file was loaded (Ivanovo's measure 1, done by the decree
itself on 07.12.2020) states it in the file: ``done: {on: DATE, evidence: {KIND: TEXT}}``
(`workflow.roadmap.schema.DoneEntry`). The reconciler never creates such a measure's
cycle as a plain scheduled one, so it is never reminded nor marked overdue. Once the tick's
day has reached ``on``, `record_file_done` creates the cycle (its creation dated ``on``)
and fires ``start`` and ``complete`` through the transition engine with the evidence,
effective ``on``, in one transaction, with a comment naming the roadmap file by its code
and hash. A later tick finds the cycle done and does nothing.

Who acts: the reconciler's actor (the ``system`` role). The file was loaded by a
coordinator (``tochka init``/``roadmap load``), and the file is the authority for the
act: the system may fire ``start`` and ``complete`` for these cycles only — the
permission is granted to the engine instance used here, never to the roadmap's own
permissions.

A cycle that already exists when a new file version adds ``done`` (an amendment) is
completed too; if its last event is dated after ``on`` (it was marked overdue, say),
the completion takes that later date, so that its history still reads in order, and the
comment keeps the file's date.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from base import db
from base.clock import Clock
from states.cycle import CycleState, CycleTrigger
from states.errors import StateError
from workflow.engine import cycles, dates
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.errors import Conflict, EffectiveDateBeforeLast
from workflow.roadmap.definition import Measure, Roadmap
from workflow.roadmap.done_text import done_comment
from workflow.roadmap.recurrence import CycleSpec, measure_cycles
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CYCLE

__all__ = ["done_comment", "record_file_done", "without_file_done"]

log = logging.getLogger("tochka.reconcile")

_CLOSED = (CycleState.DONE.value, CycleState.CANCELLED.value)


def _done_cycle(roadmap: Roadmap, measure: Measure) -> CycleSpec | None:
    """The single scheduled cycle of a measure the file records as done."""
    return next(iter(measure_cycles(measure, period_end=roadmap.period_end)), None)


def without_file_done(roadmap: Roadmap, specs: Sequence[CycleSpec]) -> list[CycleSpec]:
    """The specs the tick creates as plain scheduled cycles: not those of ``done`` measures.

    `record_file_done` creates those, already done, once their day has come.
    """
    done = {m.number for m in roadmap.measures if m.done is not None}
    return [s for s in specs if s.measure not in done]


def record_file_done(
    engine: Engine, stored: StoredRoadmap, *, today: date, clock: Clock, actor: Actor
) -> int:
    """Record the cycles the file says are done, as of ``today`` (idempotent).

    Returns:
        The cycles recorded done by this call.
    """
    roadmap = stored.definition
    wanted: list[tuple[Measure, CycleSpec]] = []
    for measure in roadmap.measures:
        if measure.done is None or measure.done.on > today:
            continue
        spec = _done_cycle(roadmap, measure)
        if spec is not None:
            wanted.append((measure, spec))
    if not wanted:
        return 0
    with db.read(engine) as conn:
        closed = {
            (int(r.measure), str(r.period))
            for r in conn.execute(
                sa.select(CYCLE.c.measure, CYCLE.c.period).where(
                    CYCLE.c.roadmap_id == stored.id,
                    CYCLE.c.measure.in_({s.measure for _, s in wanted}),
                    CYCLE.c.state.in_(_CLOSED),
                )
            )
        }
    wanted = [(m, s) for m, s in wanted if (s.measure, s.period) not in closed]
    if not wanted:
        return 0  # the usual tick: recorded long ago
    # The file is the authority for this act: the system may start and complete here.
    cycle_rules = {
        **roadmap.permissions.get("cycle", {}),
        CycleTrigger.START.value: ("system",),
        CycleTrigger.COMPLETE.value: ("system",),
    }
    machine = TransitionEngine(
        engine,
        replace(roadmap, permissions={**roadmap.permissions, "cycle": cycle_rules}),
        stored.id,
        clock=clock,
    )
    recorded = 0
    for measure, spec in wanted:
        try:
            _record_one(engine, stored, machine, measure, spec, clock=clock, actor=actor)
        except (IntegrityError, Conflict, StateError, EffectiveDateBeforeLast) as exc:
            # Someone changed the cycle first (another reconciler): the next tick sees it.
            log.info(
                "event=file_done_skipped roadmap=%s measure=%d reason=%s",
                roadmap.code,
                measure.number,
                type(exc).__name__,
            )
            continue
        recorded += 1
        log.info("event=file_done roadmap=%s measure=%d", roadmap.code, measure.number)
    return recorded


def _record_one(
    engine: Engine,
    stored: StoredRoadmap,
    machine: TransitionEngine,
    measure: Measure,
    spec: CycleSpec,
    *,
    clock: Clock,
    actor: Actor,
) -> None:
    roadmap = stored.definition
    assert measure.done is not None
    zone = ZoneInfo(roadmap.timezone)
    comment = done_comment(roadmap, measure.done.on)
    with db.write(engine) as conn:
        row = conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.state).where(
                CYCLE.c.roadmap_id == stored.id,
                CYCLE.c.measure == spec.measure,
                CYCLE.c.period == spec.period,
            )
        ).first()
        if row is not None and row.state in _CLOSED:
            return
        day = measure.done.on
        if row is None:
            (cycle_id,) = cycles.create_cycles(
                conn,
                stored,
                [spec],
                origin=cycles.ORIGIN_SCHEDULE,
                actor=actor.login,
                now=datetime.combine(day, time(12, 0), zone),
                recorded_at=clock(),
            )
            state = CycleState.SCHEDULED.value
        else:
            cycle_id, state = int(row.id), str(row.state)
            last = dates.last_effective(conn, stored.id, "cycle", cycle_id)
            day = max(day, last) if last is not None else day
        moment = datetime.combine(day, time(12, 0), zone)
        if state == CycleState.SCHEDULED.value:
            machine.fire_cycle_in(
                conn,
                cycle_id,
                CycleTrigger.START.value,
                actor=actor,
                now=moment,
                comment=comment,
            )
        machine.fire_cycle_in(
            conn,
            cycle_id,
            CycleTrigger.COMPLETE.value,
            actor=actor,
            now=moment,
            evidence=measure.done.evidence_map,
            comment=comment,
        )
