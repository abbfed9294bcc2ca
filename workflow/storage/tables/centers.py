"""The centers and their lifecycle state (``center``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


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
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


CENTER: sa.Table = Center.__table__  # type: ignore[attr-defined]
