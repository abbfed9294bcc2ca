"""A measure's occurrences (``measure_cycle``).

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

CYCLE = sa.Table(
    "measure_cycle",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("measure", sa.Integer, nullable=False),
    sa.Column("period", AutoString(32), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("state", AutoString(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("origin", AutoString(16), nullable=False),  # "schedule" (recurrence) or "operator"
    sa.Column("evidence", sa.JSON, nullable=True),
    utc_column("created_at"),
    utc_column("updated_at"),
    sa.UniqueConstraint("roadmap_id", "measure", "period", name="uq_cycle_period"),
    sa.Index("ix_cycle_state_due", "roadmap_id", "state", "due_date"),
)
"""One occurrence of a measure: period label, due date, state, evidence."""
