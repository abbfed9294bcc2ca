"""The audit chain: its events and its head (``event``, ``audit_head``)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


class Event(SQLModel, table=True):
    """Append-only audit record of a state change, chained by SHA-256 per roadmap."""

    __tablename__ = "event"
    __table_args__ = (
        sa.UniqueConstraint("roadmap_id", "seq", name="uq_event_seq"),
        sa.Index("ix_event_entity", "entity_kind", "entity_id"),
        # Covering for both readers of an object's events: the transition's read of its
        # last effective date and count (`workflow.engine.dates.last_event_columns`,
        # the three leading columns), and every center's opening day
        # (`workflow.engine.indicators.opened_on_query`), read by the quarterly report.
        # The entity comes before the trigger: with the trigger second, SQLite searched
        # the roadmap's every center event for each transition's read.
        sa.Index(
            "ix_event_opened", "roadmap_id", "entity_kind", "entity_id", "trigger", "effective_date"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    seq: int
    entity_kind: str = Field(max_length=16)  # "center" or "cycle"
    entity_id: int
    entity_key: str = Field(max_length=96)
    trigger: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    on_behalf_of: str | None = Field(default=None, max_length=128)
    recorded_at: datetime = Field(sa_column=utc_column())
    effective_date: date
    evidence: dict[str, str] | None = Field(default=None, sa_type=sa.JSON)
    comment: str | None = None
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain head of a roadmap: last sequence number and hash.

    Every transition updates it in its transaction, which serialises the chain (the row
    lock on PostgreSQL, the write lock on SQLite) and lets verification notice a
    deleted tail.
    """

    __tablename__ = "audit_head"

    roadmap_id: int = Field(foreign_key="roadmap.id", primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)


EVENT: sa.Table = Event.__table__  # type: ignore[attr-defined]
HEAD: sa.Table = AuditHead.__table__  # type: ignore[attr-defined]
