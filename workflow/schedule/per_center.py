"""Per-center recipients of a measure cycle: every center's authority or school, in SQL.

A measure whose responsible parties include a per-center party
(`workflow.roadmap.parties`) is reminded, for each of its cycles, to the education
authority of every municipality that has a center of the roadmap (not withdrawn), or
to the school of every such center: one recipient per address, whatever the number of
its centers, so each gets one letter a day as always (its digest). A municipality
without an address is named in ``unaddressed``: its reminder goes to the coordinator.
With no center at all (none registered yet, or all withdrawn) there is nobody to
remind: ``nobody`` says why, and the coordinator is reminded in the parties' place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from notifications.values import Recipient
from states.center import CenterState
from workflow.engine.municipalities import contacts as municipality_contacts
from workflow.roadmap.definition import PartyKind
from workflow.roadmap.parties import Nobody, nobody_reason, routed_per_center
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.due import Ask
from workflow.storage.tables import CENTER


@dataclass(frozen=True, kw_only=True)
class PerCenter:
    """Who a cycle reminds in place of its per-center parties.

    Attributes:
        recipients: the authorities' and schools' addresses, each once, by name.
        asks: what each is asked, by its address in lower case (role, party, centers).
        unaddressed: municipalities with centers but no address (their reminder goes
            to the coordinator), by name.
        nobody: why the per-center parties have nobody at all (no center to take an
            address from): the coordinator is reminded in their place; None: there is.
    """

    recipients: tuple[Recipient, ...] = ()
    asks: Mapping[str, Ask] = field(default_factory=dict)
    unaddressed: tuple[str, ...] = ()
    nobody: Nobody | None = None


NOBODY = PerCenter()


def recipients(conn: Connection, stored: StoredRoadmap, measure: int) -> PerCenter:
    """The per-center recipients of a cycle of ``measure`` (`NOBODY`: it names none)."""
    roadmap = stored.definition
    parties = routed_per_center(roadmap, roadmap.measure(measure))
    if not parties:
        return NOBODY
    rows = conn.execute(
        sa.select(CENTER.c.name, CENTER.c.municipality, CENTER.c.email)
        .where(CENTER.c.roadmap_id == stored.id, CENTER.c.state != CenterState.WITHDRAWN.value)
        .order_by(CENTER.c.municipality, CENTER.c.code)
    ).all()
    if not rows:
        registered = conn.execute(
            sa.select(sa.func.count()).where(CENTER.c.roadmap_id == stored.id)
        ).scalar_one()
        return PerCenter(nobody=nobody_reason(registered=int(registered), active=0))
    found: dict[str, Recipient] = {}
    centers: dict[str, list[str]] = {}
    roles: dict[str, Ask] = {}
    unaddressed: list[str] = []
    contacts = (
        municipality_contacts(conn, stored.id)
        if any(p.kind is PartyKind.MUNICIPALITY for p in parties)
        else {}
    )
    for party in parties:
        for row in rows:
            if party.kind is PartyKind.SCHOOL:
                recipient: Recipient | None = Recipient(email=row.email, name=row.name)
            else:
                recipient = contacts.get(row.municipality)
                if recipient is None:
                    if row.municipality not in unaddressed:
                        unaddressed.append(row.municipality)
                    continue
            assert recipient is not None
            key = recipient.email.strip().lower()
            if key not in roles:
                found[key] = recipient
                roles[key] = Ask(role=party.kind.value, party=party.id)
            if roles[key].party == party.id and row.name not in centers.setdefault(key, []):
                centers[key].append(row.name)
    return PerCenter(
        recipients=tuple(found.values()),
        asks={
            k: Ask(role=a.role, party=a.party, centers=tuple(centers[k])) for k, a in roles.items()
        },
        unaddressed=tuple(sorted(unaddressed)),
    )
