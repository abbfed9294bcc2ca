"""Measure cycles: creating the ones a recurrence implies, opening operator cycles, queries.

The changes import the audit chain, the rights and the dates when they run: the queries
(`tochka cycles list`, show) need none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, system_clock
from states.cycle import CycleState
from workflow.errors import InputError, NotFound
from workflow.roadmap.definition import Recurrence
from workflow.roadmap.recurrence import CycleSpec, operator_period
from workflow.storage.tables import CYCLE

if TYPE_CHECKING:
    from workflow.engine.access import Actor
    from workflow.roadmap.store import StoredRoadmap

ORIGIN_SCHEDULE = "schedule"
ORIGIN_OPERATOR = "operator"
OPENABLE = frozenset({Recurrence.AS_NEEDED, Recurrence.BY_SCHEDULE, Recurrence.ONCE_THEN_AS_NEEDED})


def create_cycles(
    conn: Connection,
    roadmap: StoredRoadmap,
    specs: Sequence[CycleSpec],
    *,
    origin: str,
    actor: str,
    now: datetime,
    recorded_at: datetime,
    on_behalf_of: str | None = None,
) -> list[int]:
    """Create the cycles of ``specs`` that do not exist yet, inside the caller's transaction.

    Each new cycle starts ``scheduled`` with a creation event. Idempotent: existing
    (measure, period) pairs are left alone.

    Returns:
        The ids of the cycles created.

    Raises:
        EffectiveDateImplausible: ``now`` is taken for a typo (nothing created).
    """
    if not specs:
        return []
    from workflow.engine import audit, dates
    from workflow.engine.audit import CREATE_TRIGGER, NewEvent

    # New cycles have no earlier events: only a mistyped date is refused.
    effective = dates.plausible_effective(roadmap.definition, now, real=recorded_at)
    existing = set(
        conn.execute(
            sa.select(CYCLE.c.measure, CYCLE.c.period).where(CYCLE.c.roadmap_id == roadmap.id)
        ).all()
    )
    new = [s for s in specs if (s.measure, s.period) not in existing]
    if not new:
        return []
    ids: list[int] = []
    for spec in new:
        inserted = conn.execute(
            sa.insert(CYCLE).values(
                roadmap_id=roadmap.id,
                measure=spec.measure,
                period=spec.period,
                due_date=spec.due,
                state=CycleState.SCHEDULED.value,
                version=1,
                origin=origin,
                evidence=None,
                created_at=recorded_at,
                updated_at=recorded_at,
            )
        ).inserted_primary_key
        assert inserted is not None
        ids.append(int(inserted[0]))
    audit.append(
        conn,
        roadmap.id,
        [
            NewEvent(
                entity_kind="cycle",
                entity_id=cycle_id,
                entity_key=f"{spec.measure}/{spec.period}",
                trigger=CREATE_TRIGGER,
                from_state=None,
                to_state=CycleState.SCHEDULED.value,
                actor=actor,
                on_behalf_of=on_behalf_of,
                recorded_at=recorded_at,
                effective_date=effective,
                comment=f"срок {spec.due.isoformat()}",
            )
            for cycle_id, spec in zip(ids, new, strict=True)
        ],
    )
    return ids


def open_cycle(
    engine: Engine,
    roadmap: StoredRoadmap,
    measure_number: int,
    *,
    due: date,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> CycleView:
    """Open an operator cycle of an as-needed or by-schedule measure.

    Raises:
        NotFound: no such measure.
        InputError: the measure's cycles come from its recurrence; or ``due`` lies
            outside the program period.
    """
    from workflow.engine.access import Action, as_actor, authorize_action, refusals_recorded

    by = as_actor(actor)
    definition = roadmap.definition
    try:
        measure = definition.measure(measure_number)
    except KeyError:
        raise NotFound(
            f"Мероприятие № {measure_number} не найдено в дорожной карте «{definition.code}».",
            hint="Мероприятия: tochka roadmap show.",
        ) from None
    if measure.recurrence not in OPENABLE:
        raise InputError(
            f"Мероприятие № {measure_number} повторяется по расписанию "
            f"(«{measure.deadline_text}»): его циклы создаёт планировщик, а не оператор.",
            hint="Вручную открываются циклы мероприятий «по необходимости» и "
            "«согласно отдельному графику».",
        )
    if not (definition.period_start.year - 1 <= due.year <= definition.period_end.year):
        raise InputError(
            f"Срок {due.isoformat()} вне периода программы "
            f"({definition.period_start.isoformat()} — {definition.period_end.isoformat()})."
        )
    with (
        refusals_recorded(
            engine, roadmap.id, timezone=definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        authorize_action(
            conn, roadmap.id, by, Action.OPEN_CYCLE, target=f"мероприятие {measure_number}"
        )
        taken = set(
            conn.execute(
                sa.select(CYCLE.c.period).where(
                    CYCLE.c.roadmap_id == roadmap.id, CYCLE.c.measure == measure_number
                )
            ).scalars()
        )
        spec = CycleSpec(measure=measure_number, period=operator_period(due, taken), due=due)
        (cycle_id,) = create_cycles(
            conn,
            roadmap,
            [spec],
            origin=ORIGIN_OPERATOR,
            actor=by.login,
            on_behalf_of=by.on_behalf_of,
            now=now,
            recorded_at=clock(),
        )
        return get_cycle(conn, roadmap.id, cycle_id)


@dataclass(frozen=True, kw_only=True)
class CycleView:
    """A measure cycle as the CLI shows it."""

    id: int
    measure: int
    period: str
    due_date: date
    state: str
    version: int
    origin: str
    evidence: dict[str, str] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "measure": self.measure,
            "period": self.period,
            "due_date": self.due_date.isoformat(),
            "state": self.state,
            "version": self.version,
            "origin": self.origin,
            "evidence": self.evidence,
        }


_VIEW = (
    CYCLE.c.id,
    CYCLE.c.measure,
    CYCLE.c.period,
    CYCLE.c.due_date,
    CYCLE.c.state,
    CYCLE.c.version,
    CYCLE.c.origin,
    CYCLE.c.evidence,
)


def list_cycles(
    conn: Connection, roadmap_id: int, *, measure: int | None = None, state: str | None = None
) -> list[CycleView]:
    """Cycles of a roadmap ordered by due date, then measure."""
    query = sa.select(*_VIEW).where(CYCLE.c.roadmap_id == roadmap_id)
    if measure is not None:
        query = query.where(CYCLE.c.measure == measure)
    if state is not None:
        query = query.where(CYCLE.c.state == state)
    query = query.order_by(CYCLE.c.due_date, CYCLE.c.measure, CYCLE.c.id)
    return [CycleView(**row._mapping) for row in conn.execute(query)]


def get_cycle(conn: Connection, roadmap_id: int, cycle_id: int) -> CycleView:
    """One cycle by id (NotFound if none)."""
    row = conn.execute(
        sa.select(*_VIEW).where(CYCLE.c.roadmap_id == roadmap_id, CYCLE.c.id == cycle_id)
    ).first()
    if row is None:
        raise NotFound(
            f"Цикл мероприятия № {cycle_id} не найден.", hint="Список циклов: tochka cycles list."
        )
    return CycleView(**row._mapping)
