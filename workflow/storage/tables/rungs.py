"""The reminder rungs already queued (``sent_rung``).

A Core table (see the package); its columns are what ``SQLModel`` made of the fields
(see `centers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column

SENT = sa.Table(
    "sent_rung",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("kind", AutoString(16), nullable=False),
    sa.Column("entity_id", sa.Integer, nullable=False),
    sa.Column("stage", AutoString(32), nullable=False, default=""),
    # The ladder's key_part: before-14, on_day, overdue-7.
    sa.Column("rung", AutoString(32), nullable=False),
    sa.Column("day_offset", sa.Integer, nullable=False),  # signed days from the deadline: -14, 0, 7
    sa.Column("deadline", sa.Date, nullable=False),
    sa.Column("send_on", sa.Date, nullable=False),
    utc_column("queued_at"),
    sa.UniqueConstraint("roadmap_id", "kind", "entity_id", "stage", "rung", name="uq_sent_rung"),
    # Covers the reconciler's anti-join: "is a rung at or past this offset recorded?".
    sa.Index("ix_sent_rung_offset", "roadmap_id", "kind", "entity_id", "stage", "day_offset"),
)
"""A reminder rung already queued for one deadline (all its recipients at once).

The reconciler reads these back to apply the ladder's catch-up rule without loading any
history: a deadline needs a reminder today only if no rung at or past the latest due one
(``day_offset``) is recorded. ``kind`` is ``cycle`` (``entity_id`` a measure cycle,
``stage`` empty) or ``center`` (``entity_id`` a center, ``stage`` a center state).
"""
