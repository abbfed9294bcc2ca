"""Bounced addresses: which are flagged, whose they are, and clearing a flag (audited).

An address is *flagged* from its first permanent bounce (`workflow.inbound.bounce`
records them in ``bounce``) until the flag is cleared. ``tochka status``, the
coordinator's weekly summary and, once per bounce, its daily letter say so
(`workflow.schedule.bounces`). What a coordinator expects to clear it, each in the
transaction that learns it and each an audit event (kind ``bounce``, trigger
``unflag``, the reason in the comment) in the roadmap's chain:

- **the address is replaced**: ``centers update --email``, a ``municipalities import``
  with a new address, a roadmap version whose party has a new ``email`` — unless a
  center, municipality or party of the roadmap still has the old address (its letters
  still go there and still bounce);
- **a later letter got through**: a letter to the address sent after the last letter
  that bounced has gone `DELIVERY_GRACE` days without a bounce (checked by the tick:
  a letter of 10.03 clears the flag on 15.03). A
  server's 250 alone proves nothing: a relay reports a permanent failure when it gives
  up, which takes days (Postfix's ``maximal_queue_lifetime`` is 5 days);
- **the coordinator says so**: ``tochka outbox unflag ADDRESS --reason …`` (the
  mailbox was repaired, the school confirmed by phone).

A bounce recorded after a flag was cleared flags the address again (and is told again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, local_date, system_clock
from notifications.outbox import OUTBOX, OutboxStatus
from workflow.engine import audit, dates
from workflow.engine.access import Action, Actor, as_actor, authorize_action, refusals_recorded
from workflow.errors import InputError, NotFound
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import BOUNCE
from workflow.storage.tables import CENTER, CONTACT

__all__ = [
    "DELIVERY_GRACE",
    "Flag",
    "Owner",
    "flags",
    "owners",
    "unflag",
    "unflag_address",
    "unflag_delivered",
    "unflag_replaced",
]

#: How long a letter sent after a bounce must go without one to clear the flag.
DELIVERY_GRACE = timedelta(days=5)
#: The audit event's entity kind and trigger.
BOUNCE_KIND = "bounce"
UNFLAG_TRIGGER = "unflag"
#: Longest reason of ``outbox unflag`` (it is an event's comment).
MAX_REASON = 500


@dataclass(frozen=True, kw_only=True)
class Flag:
    """A flagged address and what its bounces said."""

    address: str
    #: When the first letter that bounced was sent (the caller's clock).
    since: datetime
    #: Permanent bounces since the flag was raised.
    bounces: int
    #: The latest: its letter (None: not found), status code and the server's words.
    letter_id: int | None
    status: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "since": self.since.isoformat(),
            "bounces": self.bounces,
            "letter": self.letter_id,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True, kw_only=True)
class Owner:
    """Who has an address in a roadmap: a center, a municipality or a party."""

    kind: str  # "center", "municipality", "party"
    key: str  # the center's code, the municipality's name, the party's id
    name: str


def _open(address: str | None = None) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [
        BOUNCE.c.permanent.is_(True),
        BOUNCE.c.cleared_at.is_(None),
    ]
    if address is not None:
        where.append(BOUNCE.c.address == address)
    return where


def flags(conn: Connection) -> list[Flag]:
    """Every flagged address, the longest flagged first."""
    rows = conn.execute(
        sa.select(
            BOUNCE.c.address, BOUNCE.c.since, BOUNCE.c.outbox_id, BOUNCE.c.status, BOUNCE.c.reason
        )
        .where(*_open())
        .order_by(BOUNCE.c.address, BOUNCE.c.received_at, BOUNCE.c.id)
    ).all()
    found: dict[str, Flag] = {}
    for row in rows:
        first = found.get(row.address)
        found[row.address] = Flag(
            address=row.address,
            since=min(row.since, first.since) if first else row.since,
            bounces=(first.bounces if first else 0) + 1,
            letter_id=row.outbox_id,
            status=row.status,
            reason=row.reason,
        )
    return sorted(found.values(), key=lambda f: (f.since, f.address))


def owners(conn: Connection, roadmap_id: int, definition: Roadmap, address: str) -> list[Owner]:
    """Whose address ``address`` is in the roadmap (any case): its centers, municipalities
    and parties, in that order."""
    wanted = address.strip().lower()
    found = [
        Owner(kind="center", key=row.code, name=row.name)
        for row in conn.execute(
            sa.select(CENTER.c.code, CENTER.c.name)
            .where(CENTER.c.roadmap_id == roadmap_id, sa.func.lower(CENTER.c.email) == wanted)
            .order_by(CENTER.c.code)
        )
    ]
    found += [
        Owner(kind="municipality", key=name, name=name)
        for (name,) in conn.execute(
            sa.select(CONTACT.c.name)
            .where(CONTACT.c.roadmap_id == roadmap_id, sa.func.lower(CONTACT.c.email) == wanted)
            .order_by(CONTACT.c.name)
        )
    ]
    found += [
        Owner(kind="party", key=p.id, name=p.name)
        for p in definition.parties
        if p.email and p.email.strip().lower() == wanted
    ]
    return found


def unflag(
    conn: Connection,
    roadmap_id: int,
    address: str,
    *,
    actor: Actor,
    effective: date,
    recorded_at: datetime,
    why: str,
) -> bool:
    """Clear ``address``'s flag in the caller's transaction, with its audit event.

    Returns:
        Whether it was flagged (False: nothing written).
    """
    address = address.strip().lower()
    ids = list(
        conn.execute(
            sa.select(BOUNCE.c.id).where(*_open(address)).order_by(BOUNCE.c.id).with_for_update()
        ).scalars()
    )
    if not ids:
        return False
    conn.execute(
        BOUNCE.update()
        .where(BOUNCE.c.id.in_(ids))
        .values(cleared_at=recorded_at, cleared_by=actor.login[:64], cleared_reason=why)
    )
    audit.append(
        conn,
        roadmap_id,
        [
            audit.NewEvent(
                entity_kind=BOUNCE_KIND,
                entity_id=int(ids[0]),
                entity_key=address[:96],
                trigger=UNFLAG_TRIGGER,
                from_state="flagged",
                to_state="cleared",
                actor=actor.login,
                on_behalf_of=actor.on_behalf_of,
                recorded_at=recorded_at,
                effective_date=effective,
                comment=why,
            )
        ],
    )
    return True


def unflag_replaced(
    conn: Connection,
    roadmap_id: int,
    definition: Roadmap,
    replaced: Iterable[tuple[str, str, str]],
    *,
    actor: Actor,
    effective: date,
    recorded_at: datetime,
) -> list[str]:
    """Clear the flags of addresses replaced in this transaction, after the change.

    Args:
        replaced: (old address, new address, whose: «центра S1»), each change made.
        definition: the roadmap as it is after the change (its parties' addresses).

    Returns:
        The addresses cleared; an old address someone of the roadmap still has stays
        flagged.
    """
    cleared: list[str] = []
    for old, new, whose in replaced:
        address = old.strip().lower()
        if not address or address == new.strip().lower() or address in cleared:
            continue
        if owners(conn, roadmap_id, definition, address):
            continue
        why = f"адрес {whose} изменён на {new.strip()}"
        if unflag(
            conn,
            roadmap_id,
            address,
            actor=actor,
            effective=effective,
            recorded_at=recorded_at,
            why=why,
        ):
            cleared.append(address)
    return cleared


def _recipients(recipient: str, envelope: str) -> set[str]:
    return {recipient.strip().lower()} | {
        a.strip().lower() for a in (envelope or "").split(",") if a.strip()
    }


def unflag_delivered(
    conn: Connection,
    roadmap_id: int,
    *,
    today: date,
    timezone: str,
    actor: Actor,
    recorded_at: datetime,
) -> list[str]:
    """Clear each flag whose address took a later letter: one sent after the last
    letter that bounced, `DELIVERY_GRACE` days or more before ``today`` (local days in
    ``timezone``), with no bounce since.

    Returns:
        The addresses cleared.
    """
    cleared: list[str] = []
    # Sent before the local day that follows the grace's first day: 10.03 clears on 15.03.
    before = datetime.combine(
        today - DELIVERY_GRACE + timedelta(days=1), time(0), ZoneInfo(timezone)
    )
    latest = sa.func.max(BOUNCE.c.since)
    for address, since in conn.execute(
        sa.select(BOUNCE.c.address, latest).where(*_open()).group_by(BOUNCE.c.address)
    ).all():
        # A later letter that bounced too has raised ``since`` to its own sending.
        letters = conn.execute(
            sa.select(OUTBOX.c.id, OUTBOX.c.recipient, OUTBOX.c.envelope, OUTBOX.c.sent_at)
            .where(
                OUTBOX.c.status.in_([OutboxStatus.SENT.value, OutboxStatus.BOUNCED.value]),
                OUTBOX.c.sent_at > since,
                OUTBOX.c.sent_at < before,
                sa.or_(
                    sa.func.lower(OUTBOX.c.recipient) == address,
                    sa.func.lower(OUTBOX.c.envelope).contains(address, autoescape=True),
                ),
            )
            .order_by(OUTBOX.c.sent_at, OUTBOX.c.id)
        ).all()
        letter = next((r for r in letters if address in _recipients(r.recipient, r.envelope)), None)
        if letter is None:
            continue
        why = (
            f"письмо №\u00a0{letter.id} от {local_date(letter.sent_at, timezone):%d.%m.%Y} "
            f"доставлено: отчёта о недоставке нет {DELIVERY_GRACE.days} дней"
        )
        if unflag(
            conn,
            roadmap_id,
            address,
            actor=actor,
            effective=today,
            recorded_at=recorded_at,
            why=why,
        ):
            cleared.append(address)
    return cleared


def unflag_address(
    engine: Engine,
    stored: StoredRoadmap,
    address: str,
    *,
    reason: str,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> Flag:
    """``tochka outbox unflag``: the coordinator clears a flag, with a reason (audited).

    Returns:
        The flag as it was.

    Raises:
        InputError: an empty or overlong reason.
        NotFound: the address is not flagged.
        AccessDenied: the actor may not manage the outbox (recorded, raised).
    """
    by = as_actor(actor)
    text = " ".join(reason.split())
    if not text:
        raise InputError(
            "--reason: укажите, почему адрес снова принимает письма — это записывается в журнал.",
            hint="Например: --reason «ящик школы восстановлен, подтверждено по телефону».",
        )
    if len(text) > MAX_REASON:
        raise InputError(f"--reason: причина длиннее {MAX_REASON} символов ({len(text)}).")
    wanted = address.strip().lower()
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
        authorize_action(conn, stored.id, by, Action.MANAGE_OUTBOX, target=wanted)
        found = [f for f in flags(conn) if f.address == wanted]
        if not found:
            known = ", ".join(f.address for f in flags(conn)) or "таких нет"
            raise NotFound(
                f"Адрес {address.strip()} не отмечен как не принимающий письма.",
                hint=f"Отмеченные адреса: {known} (tochka outbox bounces).",
            )
        unflag(
            conn,
            stored.id,
            wanted,
            actor=by,
            effective=effective,
            recorded_at=recorded_at,
            why=f"снято координатором: {text}",
        )
    return found[0]
