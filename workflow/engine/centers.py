"""Centers: the all-or-nothing import and the queries behind the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, local_date, system_clock
from states.center import CenterState
from workflow.engine import audit
from workflow.engine.access import Action, as_actor, authorize_action, refusals_recorded
from workflow.engine.audit import CREATE_TRIGGER, NewEvent
from workflow.errors import ImportFileError, NotFound, Problem
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT

if TYPE_CHECKING:
    from workflow.engine.access import Actor
    from workflow.imports.centers_file import CenterRow

_CHUNK = 500


def import_centers(
    engine: Engine,
    roadmap: StoredRoadmap,
    rows: Sequence[CenterRow],
    *,
    filename: str,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> int:
    """Create the centers of ``rows`` in one transaction, each with its audit event.

    Raises:
        AccessDenied: the actor may not import (a municipality: only its own centers);
            the refusal is recorded.
        ImportFileError: a code already exists in the roadmap (every such row is named
            with its line); nothing is imported.
    """
    # Imported here: listings, the most frequent commands, need no permission machinery.

    by = as_actor(actor)
    recorded_at = clock()
    effective = local_date(now, roadmap.definition.timezone)
    with (
        refusals_recorded(
            engine, roadmap.id, timezone=roadmap.definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        authorize_action(
            conn,
            roadmap.id,
            by,
            Action.IMPORT_CENTERS,
            target=filename,
            centers=[(r.code, r.municipality) for r in rows],
        )
        existing: set[str] = set()
        codes = [r.code for r in rows]
        for start in range(0, len(codes), _CHUNK):
            existing.update(
                conn.execute(
                    sa.select(CENTER.c.code).where(
                        CENTER.c.roadmap_id == roadmap.id,
                        CENTER.c.code.in_(codes[start : start + _CHUNK]),
                    )
                ).scalars()
            )
        if existing:
            raise ImportFileError(
                [
                    Problem(
                        file=filename,
                        line=r.line,
                        column=1,
                        field="code",
                        message=f"центр с кодом «{r.code}» уже есть в базе.",
                    )
                    for r in rows
                    if r.code in existing
                ]
            )
        values: list[dict[str, Any]] = [
            {
                "roadmap_id": roadmap.id,
                "code": r.code,
                "name": r.name,
                "municipality": r.municipality,
                "cohort": r.cohort,
                "email": r.email,
                "state": CenterState.PLANNED.value,
                "previous_state": None,
                "version": 1,
                "created_at": recorded_at,
                "updated_at": recorded_at,
            }
            for r in rows
        ]
        if not values:
            return 0
        conn.execute(sa.insert(CENTER), values)
        ids: dict[str, int] = {}
        for start in range(0, len(codes), _CHUNK):
            ids.update(
                conn.execute(
                    sa.select(CENTER.c.code, CENTER.c.id).where(
                        CENTER.c.roadmap_id == roadmap.id,
                        CENTER.c.code.in_(codes[start : start + _CHUNK]),
                    )
                ).all()
            )
        audit.append(
            conn,
            roadmap.id,
            [
                NewEvent(
                    entity_kind="center",
                    entity_id=ids[r.code],
                    entity_key=r.code,
                    trigger=CREATE_TRIGGER,
                    from_state=None,
                    to_state=CenterState.PLANNED.value,
                    actor=by.login,
                    on_behalf_of=by.on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    comment=f"импорт из {filename}, строка {r.line}",
                )
                for r in rows
            ],
        )
    return len(values)


@dataclass(frozen=True, kw_only=True)
class CenterView:
    """A center as the CLI shows it."""

    code: str
    name: str
    municipality: str
    cohort: int
    email: str
    state: str
    version: int
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "municipality": self.municipality,
            "cohort": self.cohort,
            "email": self.email,
            "state": self.state,
            "version": self.version,
            "updated_at": self.updated_at.isoformat(),
        }


_VIEW_COLUMNS = (
    CENTER.c.code,
    CENTER.c.name,
    CENTER.c.municipality,
    CENTER.c.cohort,
    CENTER.c.email,
    CENTER.c.state,
    CENTER.c.version,
    CENTER.c.updated_at,
)


def list_centers(
    conn: Connection,
    roadmap_id: int,
    *,
    state: str | None = None,
    municipality: str | None = None,
    cohort: int | None = None,
) -> list[CenterView]:
    """Centers of a roadmap, filtered, ordered by code."""
    query = sa.select(*_VIEW_COLUMNS).where(CENTER.c.roadmap_id == roadmap_id)
    if state is not None:
        query = query.where(CENTER.c.state == state)
    if municipality is not None:
        query = query.where(CENTER.c.municipality == municipality)
    if cohort is not None:
        query = query.where(CENTER.c.cohort == cohort)
    return [CenterView(**row._mapping) for row in conn.execute(query.order_by(CENTER.c.code))]


def get_center(conn: Connection, roadmap_id: int, code: str) -> CenterView:
    """One center by code.

    Raises:
        NotFound: no such center.
    """
    row = conn.execute(
        sa.select(*_VIEW_COLUMNS).where(CENTER.c.roadmap_id == roadmap_id, CENTER.c.code == code)
    ).first()
    if row is None:
        raise NotFound(
            f"Центр с кодом «{code}» не найден.", hint="Список центров: tochka centers list."
        )
    return CenterView(**row._mapping)


def center_id(conn: Connection, roadmap_id: int, code: str) -> int:
    """The row id of a center (NotFound if none)."""
    found = conn.execute(
        sa.select(CENTER.c.id).where(CENTER.c.roadmap_id == roadmap_id, CENTER.c.code == code)
    ).scalar()
    if found is None:
        raise NotFound(
            f"Центр с кодом «{code}» не найден.", hint="Список центров: tochka centers list."
        )
    return int(found)


def history(conn: Connection, roadmap_id: int, kind: str, entity_id: int) -> list[dict[str, Any]]:
    """The events of one entity, oldest first, as JSON-ready dicts."""
    rows = conn.execute(
        sa.select(EVENT)
        .where(
            EVENT.c.roadmap_id == roadmap_id,
            EVENT.c.entity_kind == kind,
            EVENT.c.entity_id == entity_id,
        )
        .order_by(EVENT.c.seq)
    )
    return [
        {
            "seq": r.seq,
            "trigger": r.trigger,
            "from_state": r.from_state,
            "to_state": r.to_state,
            "actor": r.actor,
            "on_behalf_of": r.on_behalf_of,
            "recorded_at": r.recorded_at.isoformat(),
            "effective_date": r.effective_date.isoformat(),
            "evidence": r.evidence,
            "comment": r.comment,
        }
        for r in rows
    ]
