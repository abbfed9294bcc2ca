"""Effective dates: which dates the engine accepts as the day an act took effect.

An act may be recorded after the day it took effect (``--now`` names that day), but:

- never before the effective date of its object's last event, so that every history,
  read in effective-date order, is also the order in which the states changed;
- never before `EARLIEST` or more than a year past the program's end: such a date is
  taken for a typo (9999-12-31, 1021-05-01). The real date is never a typo, so a later
  real date (the daemon keeps running after the program ends) widens the range to it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import local_date
from workflow.errors import EffectiveDateBeforeLast, EffectiveDateImplausible
from workflow.roadmap.definition import Roadmap
from workflow.storage.tables import EVENT

#: No act of a roadmap of this kind took effect before this day.
EARLIEST = date(2000, 1, 1)

#: The object's last effective date, in its own statement (imports and user changes);
#: transitions read it together with the row they lock.
_LAST = sa.select(sa.func.max(EVENT.c.effective_date)).where(
    EVENT.c.roadmap_id == sa.bindparam("rid"),
    EVENT.c.entity_kind == sa.bindparam("kind"),
    EVENT.c.entity_id == sa.bindparam("eid"),
)


def latest_allowed(roadmap: Roadmap, today: date) -> date:
    """The last plausible effective date: a year past the program's end, or ``today``
    (the real date) when that is later."""
    end = roadmap.period_end
    try:
        year_after = end.replace(year=end.year + 1)
    except ValueError:  # 29 February: a year later there is none
        year_after = end.replace(year=end.year + 1, day=28)
    return max(year_after, today)


def plausible_effective(roadmap: Roadmap, now: datetime, *, real: datetime) -> date:
    """The effective date of ``now`` in the roadmap's zone, if it is not a typo.

    Args:
        roadmap: gives the program's end and the time zone.
        now: the effective moment (``--now``, or the real time).
        real: the real time (the engine's clock), which is never a typo.

    Raises:
        EffectiveDateImplausible: before `EARLIEST` or past `latest_allowed`; the
            message names the date and the range.
    """
    today = local_date(real, roadmap.timezone)
    latest = latest_allowed(roadmap, today)
    try:
        effective = local_date(now, roadmap.timezone)
    except OverflowError:  # 9999-12-31T23:00Z is already in year 10000 in Moscow
        effective = date.max
    if EARLIEST <= effective <= latest:
        return effective
    end = f"{roadmap.period_end:%d.%m.%Y}"
    why = (
        f"год после окончания программы {end}"
        if latest > today
        else f"сегодня; программа окончилась {end}"
    )
    raise EffectiveDateImplausible(effective=effective, earliest=EARLIEST, latest=latest, why=why)


def check_not_before_last(
    effective: date, last: date | None, *, entity: str, what: str, act: str | None = None
) -> None:
    """Refuse an act dated before its object's last event.

    Args:
        effective: the act's effective date.
        last: the effective date of the object's last event (None: it has none).
        entity: the object and the act, for the message («Центр A1: open»); or the
            object alone («Центр A1»), with ``act`` («open»): the message is then put
            together only when it is given (a transition checks this on every fire).
        what: the object in the genitive («этого центра», «этого цикла»).
        act: the act, when ``entity`` names only the object.

    Raises:
        EffectiveDateBeforeLast: ``effective`` is earlier than ``last``.
    """
    if last is not None and effective < last:
        named = entity if act is None else f"{entity}: {act}"
        raise EffectiveDateBeforeLast(effective=effective, last=last, entity=named, what=what)


def last_effective(
    conn: Connection,
    roadmap_id: int,
    kind: str,
    entity_id: int,
    *,
    excluding: Collection[str] = (),
) -> date | None:
    """The effective date of the last event of one object (None: it has none).

    ``excluding``: triggers whose events do not count (adoption: a center's import).
    """
    query = _LAST.where(EVENT.c.trigger.not_in(list(excluding))) if excluding else _LAST
    found = conn.execute(query, {"rid": roadmap_id, "kind": kind, "eid": entity_id}).scalar()
    return found if isinstance(found, date) or found is None else date.fromisoformat(str(found))


def last_event_columns(
    kind: str, roadmap_id: sa.ColumnElement[int], entity_id: sa.ColumnElement[int]
) -> tuple[sa.Label[date], sa.Label[int]]:
    """The object's last effective date and its number of events, as columns of the
    statement that reads and locks the object (no extra round trip on the transition's
    hot path); `last_of_row` reads them."""
    events = sa.select(EVENT.c.id).where(
        EVENT.c.roadmap_id == roadmap_id,
        EVENT.c.entity_kind == kind,
        EVENT.c.entity_id == entity_id,
    )
    return (
        events.with_only_columns(sa.func.max(EVENT.c.effective_date))
        .scalar_subquery()
        .label("last_effective"),
        events.with_only_columns(sa.func.count()).scalar_subquery().label("event_count"),
    )


def last_of_row(conn: Connection, roadmap_id: int, kind: str, row: Any) -> date | None:
    """The last effective date of an object read with `last_event_columns`.

    On PostgreSQL a ``SELECT … FOR UPDATE`` that waited for a concurrent writer returns
    the row as that writer left it, but its subqueries still see the snapshot taken
    before the wait, without the writer's event. Each event of a center or cycle adds
    one to its version (``audit verify`` checks it), so a count that differs from the
    version means the subquery is stale: the date is then read again, now that the row
    is locked.
    """
    if row.event_count == row.version:
        return row.last_effective  # type: ignore[no-any-return]
    return last_effective(conn, roadmap_id, kind, row.id)
