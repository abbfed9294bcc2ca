"""The indicator values submitted (``indicator_value``).

A Core table (see the package); its columns are what ``SQLModel`` made of the fields
(see `centers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import centers, roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column

VALUE = sa.Table(
    "indicator_value",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("center_id", sa.Integer, sa.ForeignKey("center.id"), nullable=False),
    sa.Column("indicator", AutoString(64), nullable=False),
    # "2022-Q3" (per-quarter) or "2022" (per-year).
    sa.Column("period", AutoString(16), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("supersedes", sa.Integer, sa.ForeignKey("indicator_value.id"), nullable=True),
    sa.Column("actor", AutoString(128), nullable=False),
    sa.Column("on_behalf_of", AutoString(128), nullable=True),
    sa.Column("source", AutoString(255), nullable=False),
    utc_column("recorded_at"),
    # The "latest row per key" lookups of reports and reminders; the value last, so that
    # the quarterly report aggregates from the index alone (migration 0016).
    sa.Index("ix_indicator_value_cover", "roadmap_id", "period", "center_id", "indicator", "value"),
)
"""A center's figure for one indicator and period, as submitted. Append-only.

Rows are never updated or deleted: a correction is a new row whose ``supersedes`` names
the row it replaces, and the latest row (highest id) per (center, period, indicator) is
the one that counts. ``actor`` and ``recorded_at`` say who submitted it and when;
``source`` where it came from (the command line, or a file and line).
"""
