"""The schema, as SQLModel tables. Hot paths use their ``__table__`` with Core statements.

Alembic migrations in ``workflow/migrations`` create exactly these tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.types import UTCDateTime


def _utc_column(nullable: bool = False) -> Any:
    return sa.Column(UTCDateTime(), nullable=nullable)


class RoadmapRow(SQLModel, table=True):
    """A loaded roadmap definition: its source text and content hash."""

    __tablename__ = "roadmap"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    title: str
    content_hash: str = Field(max_length=64)
    source: str = Field(sa_type=sa.Text)
    timezone: str = Field(max_length=64)
    period_start: date
    period_end: date
    loaded_at: datetime = Field(sa_column=_utc_column())


class MeasureCycle(SQLModel, table=True):
    """One occurrence of a measure: period label, due date, state, evidence."""

    __tablename__ = "measure_cycle"
    __table_args__ = (
        sa.UniqueConstraint("roadmap_id", "measure", "period", name="uq_cycle_period"),
        sa.Index("ix_cycle_state_due", "roadmap_id", "state", "due_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    measure: int
    period: str = Field(max_length=32)
    due_date: date
    state: str = Field(max_length=32)
    version: int = 1
    origin: str = Field(max_length=16)  # "schedule" (recurrence) or "operator"
    evidence: dict[str, str] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())


class Center(SQLModel, table=True):
    """A school with a "Точка роста" center and its lifecycle state."""

    __tablename__ = "center"
    __table_args__ = (
        sa.UniqueConstraint("roadmap_id", "code", name="uq_center_code"),
        sa.Index("ix_center_state", "roadmap_id", "state"),
        sa.Index("ix_center_municipality", "roadmap_id", "municipality"),
        sa.Index("ix_center_cohort", "roadmap_id", "cohort"),
    )

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    code: str = Field(max_length=64)
    name: str
    municipality: str
    cohort: int
    email: str
    state: str = Field(max_length=32)
    # The state a withdrawn center was withdrawn from, so ``revert`` can return to it.
    previous_state: str | None = Field(default=None, max_length=32)
    version: int = 1
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())


class Event(SQLModel, table=True):
    """Append-only audit record of a state change, chained by SHA-256 per roadmap."""

    __tablename__ = "event"
    __table_args__ = (
        sa.UniqueConstraint("roadmap_id", "seq", name="uq_event_seq"),
        sa.Index("ix_event_entity", "entity_kind", "entity_id"),
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
    recorded_at: datetime = Field(sa_column=_utc_column())
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


def all_tables() -> list[sa.Table]:
    """Every table of the schema (including the notifications outbox)."""
    import notifications.outbox  # noqa: F401  # registers the outbox table
    import workflow.access  # noqa: F401  # registers the users table
    import workflow.models_ops  # noqa: F401  # registers the daemon's and indicators' tables

    return list(SQLModel.metadata.sorted_tables)


GENESIS_HASH = "0" * 64
