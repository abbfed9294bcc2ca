"""A measure's occurrences (``measure_cycle``)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


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
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


CYCLE: sa.Table = MeasureCycle.__table__  # type: ignore[attr-defined]
