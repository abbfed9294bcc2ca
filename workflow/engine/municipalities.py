"""Municipal education authorities: whom a center's stage reminders also go to.

Issue 3: "a center stage reminds the school and its municipality". The municipality is
the name the centers file gives (``municipality``); its address comes from a contacts
file that `tochka municipalities import` reads (`workflow.imports.municipalities_file`)
and `import_contacts` stores, all or nothing. Every name must be one the roadmap's
centers use, written the same way (a typo would otherwise silently remind nobody); a
row replaces the contact of its municipality, others stay. The change is recorded in the
audit trail.

The import brings the audit chain, the rights, the dates and the bounces (with the
outbox's tables) when it runs: the listing and the contacts a reminder reads need none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from base import db
from base.clock import Clock, system_clock
from notifications.values import Recipient
from workflow.errors import ImportFileError, Problem
from workflow.imports.municipalities_file import (
    MUNICIPALITY_FIELD,
    ContactRow,
    read_contacts_file,
)
from workflow.storage.tables import CENTER, CONTACT

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from notifications.values import Recipient
    from workflow.engine.access import Actor
    from workflow.roadmap.store import StoredRoadmap

__all__ = ["ContactRow", "contacts", "import_contacts", "listing", "read_contacts_file"]


def import_contacts(
    engine: Engine,
    stored: StoredRoadmap,
    rows: Sequence[ContactRow],
    *,
    filename: str,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> tuple[int, int]:
    """Store the contacts of ``rows`` in one transaction; (added, changed).

    Raises:
        AccessDenied: the actor is not a coordinator (the refusal is recorded).
        ImportFileError: a municipality no center of the roadmap names; nothing stored.
        EffectiveDateImplausible: ``now`` is taken for a typo; nothing stored.
        EffectiveDateBeforeLast: ``now`` is earlier than the last change of a contact
            the file changes; nothing stored.
    """
    from workflow.engine import audit, bounces, dates
    from workflow.engine.access import Action, as_actor, authorize_action, refusals_recorded

    table = CONTACT
    by = as_actor(actor)
    recorded_at = clock()
    effective = dates.plausible_effective(stored.definition, now, real=recorded_at)
    with (
        refusals_recorded(
            engine,
            stored.id,
            timezone=stored.definition.timezone,
            actor=by,
            now=now,
            clock=clock,
        ),
        db.write(engine) as conn,
    ):
        authorize_action(conn, stored.id, by, Action.MANAGE_CONTACTS, target=filename)
        known = set(
            conn.execute(
                sa.select(CENTER.c.municipality).distinct().where(CENTER.c.roadmap_id == stored.id)
            ).scalars()
        )
        unknown = [r for r in rows if r.municipality not in known]
        if unknown:
            near = {k.casefold(): k for k in known}
            raise ImportFileError(
                [
                    Problem(
                        file=filename,
                        line=r.line,
                        column=r.column,
                        field=MUNICIPALITY_FIELD,
                        message=f"муниципальное образование «{r.municipality}» не встречается "
                        "среди центров дорожной карты"
                        + (
                            f" (в списке центров: «{near[r.municipality.casefold()]}»)"
                            if r.municipality.casefold() in near
                            else ""
                        ),
                    )
                    for r in unknown
                ]
            )
        existing = {
            row.name: row
            for row in conn.execute(
                sa.select(table.c.id, table.c.name, table.c.email, table.c.recipient).where(
                    table.c.roadmap_id == stored.id
                )
            )
        }
        added = changed = 0
        events: list[audit.NewEvent] = []
        replaced: list[tuple[str, str, str]] = []
        for r in rows:
            before = existing.get(r.municipality)
            if before is None:
                inserted = conn.execute(
                    table.insert().values(
                        roadmap_id=stored.id,
                        name=r.municipality,
                        email=r.email,
                        recipient=r.recipient,
                        updated_at=recorded_at,
                    )
                ).inserted_primary_key
                assert inserted is not None
                contact_id = inserted[0]
                added += 1
            elif (before.email, before.recipient) != (r.email, r.recipient):
                contact_id = before.id
                dates.check_not_before_last(
                    effective,
                    dates.last_effective(conn, stored.id, "municipality", before.id),
                    entity=f"адрес муниципалитета «{r.municipality}» ({filename}, строка {r.line})",
                    what="этого муниципалитета",
                )
                conn.execute(
                    table.update()
                    .where(table.c.id == before.id)
                    .values(email=r.email, recipient=r.recipient, updated_at=recorded_at)
                )
                replaced.append((before.email, r.email, f"муниципалитета «{r.municipality}»"))
                changed += 1
            else:
                continue
            events.append(
                audit.NewEvent(
                    entity_kind="municipality",
                    entity_id=int(contact_id),
                    entity_key=r.municipality[:96],
                    trigger="set_contact",
                    from_state=None if before is None else "set",
                    to_state="set",
                    actor=by.login,
                    on_behalf_of=by.on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    comment=(
                        (f"{before.email} → " if before is not None else "")
                        + f"{r.email}; получатель: {r.recipient}; {filename}, строка {r.line}"
                    ),
                )
            )
        if events:
            audit.append(conn, stored.id, events)
        bounces.unflag_replaced(
            conn,
            stored.id,
            stored.definition,
            replaced,
            actor=by,
            effective=effective,
            recorded_at=recorded_at,
        )
    return added, changed


def contacts(conn: Connection, roadmap_id: int) -> Mapping[str, Recipient]:
    """Municipality name → its recipient, for the reminders."""

    table = CONTACT
    return {
        row.name: Recipient(email=row.email, name=row.recipient)
        for row in conn.execute(
            sa.select(table.c.name, table.c.email, table.c.recipient).where(
                table.c.roadmap_id == roadmap_id
            )
        )
    }


def listing(conn: Connection, roadmap_id: int) -> list[dict[str, Any]]:
    """Every municipality of the roadmap's centers and every contact, by name."""

    table = CONTACT
    centers: dict[str, int] = dict(
        conn.execute(
            sa.select(CENTER.c.municipality, sa.func.count())
            .where(CENTER.c.roadmap_id == roadmap_id)
            .group_by(CENTER.c.municipality)
        ).all()
    )
    stored = {
        row.name: row
        for row in conn.execute(
            sa.select(table.c.name, table.c.email, table.c.recipient).where(
                table.c.roadmap_id == roadmap_id
            )
        )
    }
    return [
        {
            "municipality": name,
            "centers": int(centers.get(name, 0)),
            "email": stored[name].email if name in stored else None,
            "recipient": stored[name].recipient if name in stored else None,
        }
        for name in sorted(set(centers) | set(stored))
    ]
