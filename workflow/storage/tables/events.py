"""The audit chain: its events and its head (``event``, ``audit_head``).

Core tables (see the package): every change records an event, so their classes'
models and mappings cost every command that changes anything. Their columns are what
``SQLModel`` made of the fields (see `centers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column

EVENT = sa.Table(
    "event",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("entity_kind", AutoString(16), nullable=False),  # "center" or "cycle"
    sa.Column("entity_id", sa.Integer, nullable=False),
    sa.Column("entity_key", AutoString(96), nullable=False),
    sa.Column("trigger", AutoString(32), nullable=False),
    sa.Column("from_state", AutoString(32), nullable=True),
    sa.Column("to_state", AutoString(32), nullable=False),
    sa.Column("actor", AutoString(128), nullable=False),
    sa.Column("on_behalf_of", AutoString(128), nullable=True),
    utc_column("recorded_at"),
    sa.Column("effective_date", sa.Date, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=True),
    sa.Column("comment", AutoString, nullable=True),
    sa.Column("prev_hash", AutoString(64), nullable=False),
    sa.Column("hash", AutoString(64), nullable=False),
    sa.UniqueConstraint("roadmap_id", "seq", name="uq_event_seq"),
    sa.Index("ix_event_entity", "entity_kind", "entity_id"),
    # Covering for both readers of an object's events: the transition's read of its last
    # effective date and count (`workflow.engine.dates.last_event_columns`, the three
    # leading columns), and every center's opening day
    # (`workflow.engine.indicators.opened_on_query`), read by the quarterly report. The
    # entity comes before the trigger: with the trigger second, SQLite searched the
    # roadmap's every center event for each transition's read.
    sa.Index(
        "ix_event_opened", "roadmap_id", "entity_kind", "entity_id", "trigger", "effective_date"
    ),
)
"""Append-only audit record of a state change, chained by SHA-256 per roadmap."""

HEAD = sa.Table(
    "audit_head",
    SQLModel.metadata,
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False, default=0),
    sa.Column("hash", AutoString(64), nullable=False),
)
"""The chain head of a roadmap: last sequence number and hash.

Every transition updates it in its transaction, which serialises the chain (the row lock
on PostgreSQL, the write lock on SQLite) and lets verification notice a deleted tail.
"""
