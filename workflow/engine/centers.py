"""Centers: the all-or-nothing import, single corrections and the queries behind the CLI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, system_clock
from states.center import CenterState
from workflow.errors import Conflict, ImportFileError, InputError, NotFound, Problem
from workflow.storage.tables import CENTER

if TYPE_CHECKING:
    from workflow.engine.access import Actor
    from workflow.imports.centers_file import CenterRow
    from workflow.roadmap.store import StoredRoadmap

# The changes (import, update) import the audit chain, the rights, the dates and the
# bounces (with the outbox's tables) when they run, and history the events table: the
# queries below (centers list, show), the most frequent commands, need none of it.

#: Rows a centers import writes at a time (a multi-row INSERT and its events).
_WRITE_CHUNK = 1000


def import_centers(
    engine: Engine,
    roadmap: StoredRoadmap,
    rows: Iterable[CenterRow],
    *,
    filename: str,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> int:
    """Create the centers of ``rows`` in one transaction, each with its audit event.

    ``rows`` may be a list or `workflow.imports.centers_file.center_rows`, read as it is
    written: chunks of `_WRITE_CHUNK` rows go into the transaction as they come (the
    centers, then their events, and the progress the reader reports moves with the
    writing), so a file of 200,000 rows is never held whole. It stays all or nothing:
    any refusal rolls the transaction back. The refusals come in the order they always
    have, whatever row they are found on: the file's problems (the reader's, after its
    last row), an implausible date, the actor's rights, codes already in the roadmap;
    once one is found nothing more is written, but the file is still read to the end,
    so that every problem of the file is named.

    Raises:
        AccessDenied: the actor may not import (a municipality: only its own centers);
            the refusal is recorded.
        ImportFileError: the file's problems (raised by the reader), or a code already
            exists in the roadmap (every such row is named with its line); nothing is
            imported.
        EffectiveDateImplausible: ``now`` is taken for a typo; nothing is imported.
    """
    from workflow.engine import audit, dates
    from workflow.engine.access import (
        AccessDenied,
        Action,
        as_actor,
        authorize_action,
        check_action,
        refusals_recorded,
    )
    from workflow.engine.audit import CREATE_TRIGGER, NewEvent
    from workflow.errors import EffectiveDateImplausible

    by = as_actor(actor)
    recorded_at = clock()
    # The centers are new, so no earlier event can follow them: only a typo is refused.
    effective = None
    refusal: Exception | None = None
    try:
        effective = dates.plausible_effective(roadmap.definition, now, real=recorded_at)
    except EffectiveDateImplausible as exc:
        refusal = exc
    taken: list[Problem] = []  # rows whose code the roadmap has already
    count = 0
    with (
        refusals_recorded(
            engine, roadmap.id, timezone=roadmap.definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        who = None
        if refusal is None:
            try:
                who = authorize_action(conn, roadmap.id, by, Action.IMPORT_CENTERS, target=filename)
            except AccessDenied as exc:
                refusal = exc
        existing = set(
            conn.execute(sa.select(CENTER.c.code).where(CENTER.c.roadmap_id == roadmap.id))
            .scalars()
            .all()
        )

        def write(chunk: list[CenterRow]) -> None:
            nonlocal refusal
            if refusal is None and who is not None:
                try:
                    check_action(
                        who,
                        Action.IMPORT_CENTERS,
                        target=filename,
                        centers=[(r.code, r.municipality) for r in chunk],
                    )
                except AccessDenied as exc:
                    refusal = exc
            taken.extend(
                Problem(
                    file=filename,
                    line=r.line,
                    column=1,
                    field="code",
                    message=f"центр с кодом «{r.code}» уже есть в базе.",
                )
                for r in chunk
                if r.code in existing
            )
            if refusal is not None or taken:
                return  # all will be rolled back: the rest of the file is only read
            ids: dict[str, int] = dict(
                conn.execute(
                    sa.insert(CENTER).returning(CENTER.c.code, CENTER.c.id),
                    [
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
                        for r in chunk
                    ],
                ).all()
            )
            assert effective is not None
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
                    for r in chunk
                ],
            )

        chunk: list[CenterRow] = []
        for row in rows:  # the reader raises the file's problems after its last row
            chunk.append(row)
            count += 1
            if len(chunk) == _WRITE_CHUNK:
                write(chunk)
                chunk = []
        if chunk:
            write(chunk)
        if refusal is not None:
            raise refusal
        if taken:
            raise ImportFileError(taken)
    return count


#: The trigger of a correction's audit event (a ``center`` event that keeps the state).
UPDATE_TRIGGER = "update"
#: The fields `update_center` may change, with their Russian names (messages, the event).
UPDATE_FIELDS: dict[str, str] = {
    "name": "наименование",
    "email": "email",
    "municipality": "муниципалитет",
}


@dataclass(frozen=True, kw_only=True)
class CenterUpdate:
    """What `update_center` did.

    Attributes:
        code: the center.
        changes: field → (old value, new value), only the fields that changed; empty if
            every value given was already the center's (nothing was written then).
        version: the center's version after the update.
        seq: the audit event's sequence number; None when nothing changed.
        new_municipality: the new municipality is used by no other center and has no
            contact (a typo would leave its reminders unsent).
        unflagged: the old address, when it was flagged as bouncing and nobody else
            has it: its flag is cleared (`workflow.engine.bounces`).
    """

    code: str
    changes: Mapping[str, tuple[str, str]]
    version: int
    seq: int | None
    new_municipality: bool = False
    unflagged: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "changes": {k: {"old": old, "new": new} for k, (old, new) in self.changes.items()},
            "version": self.version,
            "event": self.seq,
            "new_municipality": self.new_municipality,
            "unflagged": list(self.unflagged),
        }


def update_center(
    engine: Engine,
    roadmap: StoredRoadmap,
    code: str,
    *,
    name: str | None = None,
    email: str | None = None,
    municipality: str | None = None,
    actor: Actor | str,
    now: datetime,
    comment: str | None = None,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> CenterUpdate:
    """Correct a center's name, address or municipality, in one audited transaction.

    The values are checked as the import checks them (filled, no control characters,
    the address by `base.addresses.address_problem`). The audit event is a ``center``
    event with trigger ``update`` that leaves the state as it is (``from_state`` =
    ``to_state``) and names each old and new value in its comment; the version goes up
    by one, like a transition's, so ``audit verify`` still replays the center (one event
    per version) and a concurrent ``--expect-version`` sees the change.

    Raises:
        AccessDenied: the actor may not change centers, or (a municipality) the center,
            or the municipality it is moved to, is outside its scope; recorded.
        NotFound: no such center (said only to a user who may change centers).
        InputError: no field given, or a value the import would refuse.
        Conflict: ``expected_version`` is not the center's version.
        EffectiveDateImplausible, EffectiveDateBeforeLast: ``now`` is taken for a typo,
            or is earlier than the center's last event (as for a transition).
    """
    from workflow.engine import audit, bounces, dates
    from workflow.engine.access import Action, as_actor, authorize_action, refusals_recorded
    from workflow.engine.audit import NewEvent
    from workflow.storage.tables import CONTACT

    by = as_actor(actor)
    given = {
        field: value.strip()
        for field, value in (("name", name), ("email", email), ("municipality", municipality))
        if value is not None
    }
    if not given:
        raise InputError(
            "Не указано, что изменить.",
            hint="Укажите --name, --email и/или --municipality.",
        )
    recorded_at = clock()
    effective = dates.plausible_effective(roadmap.definition, now, real=recorded_at)
    with (
        refusals_recorded(
            engine, roadmap.id, timezone=roadmap.definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        # The role first: a user who may not change centers learns nothing about them.
        authorize_action(conn, roadmap.id, by, Action.UPDATE_CENTER, target=code)
        row = conn.execute(
            sa.select(
                CENTER.c.id,
                CENTER.c.state,
                CENTER.c.version,
                CENTER.c.name,
                CENTER.c.email,
                CENTER.c.municipality,
            )
            .where(CENTER.c.roadmap_id == roadmap.id, CENTER.c.code == code)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(
                f"Центр с кодом «{code}» не найден.", hint="Список центров: tochka centers list."
            )
        # Then the scope, before the values: the center where it is and where it goes
        # (checked again through `authorize_action`, which knows whom an actor acts for).
        authorize_action(
            conn,
            roadmap.id,
            by,
            Action.UPDATE_CENTER,
            target=code,
            centers=[(code, row.municipality), (code, given.get("municipality", row.municipality))],
        )
        _check_update_values(given)
        if expected_version is not None and expected_version != row.version:
            raise Conflict(entity=f"Центр {code}", expected=expected_version, actual=row.version)
        current = {"name": row.name, "email": row.email, "municipality": row.municipality}
        changes = {f: (current[f], v) for f, v in given.items() if v != current[f]}
        if not changes:
            return CenterUpdate(code=code, changes={}, version=row.version, seq=None)
        # A correction is an event of the center's history, which reads in date order.
        dates.check_not_before_last(
            effective,
            dates.last_effective(conn, roadmap.id, "center", row.id),
            entity=f"Центр {code}: изменение",
            what="этого центра",
        )
        new_municipality = False
        if "municipality" in changes:
            target = changes["municipality"][1]
            used = conn.execute(
                sa.select(CENTER.c.id)
                .where(CENTER.c.roadmap_id == roadmap.id, CENTER.c.municipality == target)
                .limit(1)
            ).first()
            contact = conn.execute(
                sa.select(CONTACT.c.id)
                .where(CONTACT.c.roadmap_id == roadmap.id, CONTACT.c.name == target)
                .limit(1)
            ).first()
            new_municipality = used is None and contact is None
        updated = conn.execute(
            sa.update(CENTER)
            .where(CENTER.c.id == row.id, CENTER.c.version == row.version)
            .values(
                **{f: new for f, (_, new) in changes.items()},
                version=row.version + 1,
                updated_at=recorded_at,
            )
        )
        if updated.rowcount != 1:  # pragma: no cover - the row is locked since the read
            raise Conflict(entity=f"Центр {code}", expected=row.version, actual=None)
        described = "; ".join(
            f"{UPDATE_FIELDS[f]} «{old}» → «{new}»" for f, (old, new) in changes.items()
        )
        seq = audit.append(
            conn,
            roadmap.id,
            [
                NewEvent(
                    entity_kind="center",
                    entity_id=row.id,
                    entity_key=code,
                    trigger=UPDATE_TRIGGER,
                    from_state=row.state,
                    to_state=row.state,
                    actor=by.login,
                    on_behalf_of=by.on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    comment=f"изменено: {described}"
                    + (f"; причина: {comment.strip()}" if comment and comment.strip() else ""),
                )
            ],
        )
        unflagged = bounces.unflag_replaced(
            conn,
            roadmap.id,
            roadmap.definition,
            [(*changes["email"], f"центра {code}")] if "email" in changes else [],
            actor=by,
            effective=effective,
            recorded_at=recorded_at,
        )
    return CenterUpdate(
        code=code,
        changes=changes,
        version=row.version + 1,
        seq=seq,
        new_municipality=new_municipality,
        unflagged=tuple(unflagged),
    )


def _check_update_values(given: Mapping[str, str]) -> None:
    """The import's checks of a row (`workflow.imports.centers_file`), for single values."""
    from base.addresses import address_problem
    from workflow.imports.tablefile import visible

    problems: list[str] = []
    for field, value in given.items():
        title = UPDATE_FIELDS[field]
        if not value:
            problems.append(f"{title}: значение не заполнено")
        elif field == "email":
            if problem := address_problem(value):  # the import's rule and words
                problems.append(f"{title}: {problem}")
        elif visible(value) != value:  # `visible` escapes exactly the control characters
            problems.append(
                f"{title}: значение содержит управляющие символы (перевод строки, NUL и т. п.)"
            )
    if problems:
        raise InputError(
            "Центр не изменён: " + "; ".join(problems) + ".",
            hint="Исправьте значение и повторите команду.",
        )


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
    """The events of one entity in effective-date order (ties by sequence), its creation
    first, as JSON-ready dicts.

    The creation is first even when later-recorded history precedes it: a center
    entered by its import and adopted afterwards has its stages dated before the day it
    was entered (`workflow.engine.adoption.IMPORT_TRIGGERS`); it existed before them."""
    from workflow.engine.audit import CREATE_TRIGGER
    from workflow.storage.tables import EVENT

    rows = conn.execute(
        sa.select(EVENT)
        .where(
            EVENT.c.roadmap_id == roadmap_id,
            EVENT.c.entity_kind == kind,
            EVENT.c.entity_id == entity_id,
        )
        # The order in which things took effect; events of one day in the order recorded.
        .order_by(
            sa.case((EVENT.c.trigger == CREATE_TRIGGER, 0), else_=1),
            EVENT.c.effective_date,
            EVENT.c.seq,
        )
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
