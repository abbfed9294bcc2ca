"""Reading the audit trail: its events filtered by actor, dates and kind, newest last.

The chain (`workflow.engine.audit`) stores every event with its entity kind and trigger;
a *log kind* is what a person asks for («отказы», «переходы», «импорт»): a condition on
those two columns, evaluated in SQL so that a long trail is filtered by the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow.engine.audit import CREATE_TRIGGER
from workflow.engine.centers import UPDATE_TRIGGER
from workflow.storage.tables import EVENT


class LogKind(StrEnum):
    """What an event is, as the audit log filters and names it."""

    TRANSITION = "transition"
    IMPORT = "import"
    UPDATE = "update"
    CYCLE = "cycle"
    REFUSAL = "refusal"
    ROADMAP = "roadmap"
    USER = "user"
    MUNICIPALITY = "municipality"
    REPLY = "reply"
    BOUNCE = "bounce"


LOG_KIND_TITLES: Mapping[LogKind, str] = {
    LogKind.TRANSITION: "переход",
    LogKind.IMPORT: "импорт",
    LogKind.UPDATE: "изменение",
    LogKind.CYCLE: "новый цикл",
    LogKind.REFUSAL: "отказ",
    LogKind.ROADMAP: "дорожная карта",
    LogKind.USER: "пользователь",
    LogKind.MUNICIPALITY: "муниципалитет",
    LogKind.REPLY: "ответ на письмо",
    LogKind.BOUNCE: "недоставка писем",
}

_MACHINES = ("center", "cycle")
_CREATED_OR_UPDATED = (CREATE_TRIGGER, UPDATE_TRIGGER)


def _condition(kind: LogKind) -> sa.ColumnElement[bool]:
    kind_is, trigger = EVENT.c.entity_kind, EVENT.c.trigger
    match kind:
        case LogKind.TRANSITION:
            return kind_is.in_(_MACHINES) & trigger.not_in(_CREATED_OR_UPDATED)
        case LogKind.IMPORT:
            return (kind_is == "center") & (trigger == CREATE_TRIGGER)
        case LogKind.UPDATE:
            return (kind_is == "center") & (trigger == UPDATE_TRIGGER)
        case LogKind.CYCLE:
            return (kind_is == "cycle") & (trigger == CREATE_TRIGGER)
        case _:  # the other kinds are entity kinds of their own
            return kind_is == kind.value


def kind_of(entity_kind: str, trigger: str) -> LogKind | None:
    """The log kind of a stored event (None: an entity kind this version does not know)."""
    if entity_kind in _MACHINES:
        if trigger == CREATE_TRIGGER:
            return LogKind.IMPORT if entity_kind == "center" else LogKind.CYCLE
        if trigger == UPDATE_TRIGGER and entity_kind == "center":
            return LogKind.UPDATE
        return LogKind.TRANSITION
    try:
        return LogKind(entity_kind)
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One event as the log shows it."""

    seq: int
    kind: LogKind | None
    entity_kind: str
    entity_id: int
    entity_key: str
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    on_behalf_of: str | None
    recorded_at: datetime
    effective_date: date
    evidence: Mapping[str, str] | None
    comment: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind.value if self.kind else None,
            "entity": self.entity_kind,
            "entity_id": self.entity_id,
            "key": self.entity_key,
            "trigger": self.trigger,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "on_behalf_of": self.on_behalf_of,
            "recorded_at": self.recorded_at.isoformat(),
            "effective_date": self.effective_date.isoformat(),
            "evidence": dict(self.evidence) if self.evidence else None,
            "comment": self.comment,
        }


@dataclass(frozen=True, kw_only=True)
class LogPage:
    """The newest ``limit`` matching events, oldest of them first, and how many matched."""

    entries: Sequence[LogEntry]
    matched: int


def actors(conn: Connection, roadmap_id: int) -> list[str]:
    """Every login that acted, or was acted for, in the roadmap's audit trail, sorted."""
    rows = conn.execute(
        sa.union(
            sa.select(EVENT.c.actor.label("login")).where(EVENT.c.roadmap_id == roadmap_id),
            sa.select(EVENT.c.on_behalf_of.label("login")).where(
                EVENT.c.roadmap_id == roadmap_id, EVENT.c.on_behalf_of.is_not(None)
            ),
        )
    ).scalars()
    return sorted(str(r) for r in rows)


def read_log(
    conn: Connection,
    roadmap_id: int,
    *,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
    kinds: Sequence[LogKind] = (),
    limit: int = 50,
) -> LogPage:
    """The roadmap's audit events that match every filter given, newest last.

    Args:
        conn: an open connection (a read transaction).
        roadmap_id: the roadmap's row id.
        actor: events done by this login, or by a coordinator on its behalf.
        since: events whose effective date is on or after this day.
        until: events whose effective date is on or before this day.
        kinds: events of any of these kinds (all kinds when empty).
        limit: at most this many events, the newest ones (chain order).

    Returns:
        The page; ``matched`` counts every matching event, shown or not.
    """
    where: list[sa.ColumnElement[bool]] = [EVENT.c.roadmap_id == roadmap_id]
    if actor is not None:
        where.append((EVENT.c.actor == actor) | (EVENT.c.on_behalf_of == actor))
    if since is not None:
        where.append(EVENT.c.effective_date >= since)
    if until is not None:
        where.append(EVENT.c.effective_date <= until)
    if kinds:
        where.append(sa.or_(*(_condition(k) for k in dict.fromkeys(kinds))))
    matched = conn.execute(sa.select(sa.func.count()).select_from(EVENT).where(*where)).scalar()
    rows = conn.execute(
        sa.select(EVENT).where(*where).order_by(EVENT.c.seq.desc()).limit(limit)
    ).all()
    entries = [
        LogEntry(
            seq=r.seq,
            kind=kind_of(r.entity_kind, r.trigger),
            entity_kind=r.entity_kind,
            entity_id=r.entity_id,
            entity_key=r.entity_key,
            trigger=r.trigger,
            from_state=r.from_state,
            to_state=r.to_state,
            actor=r.actor,
            on_behalf_of=r.on_behalf_of,
            recorded_at=r.recorded_at,
            effective_date=r.effective_date,
            evidence=r.evidence,
            comment=r.comment,
        )
        for r in reversed(rows)
    ]
    return LogPage(entries=entries, matched=int(matched or 0))
