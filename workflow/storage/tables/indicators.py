"""The indicator values submitted (``indicator_value``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import centers, roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


class IndicatorValue(SQLModel, table=True):
    """A center's figure for one indicator and period, as submitted. Append-only.

    Rows are never updated or deleted: a correction is a new row whose ``supersedes``
    names the row it replaces, and the latest row (highest id) per (center, period,
    indicator) is the one that counts. ``actor`` and ``recorded_at`` say who submitted
    it and when; ``source`` where it came from (the command line, or a file and line).
    """

    __tablename__ = "indicator_value"
    __table_args__ = (
        # The "latest row per key" lookups of reports and reminders; the value last, so
        # that the quarterly report aggregates from the index alone (migration 0016).
        sa.Index(
            "ix_indicator_value_cover", "roadmap_id", "period", "center_id", "indicator", "value"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    center_id: int = Field(foreign_key="center.id")
    indicator: str = Field(max_length=64)
    period: str = Field(max_length=16)  # "2022-Q3" (per-quarter) or "2022" (per-year)
    value: float
    supersedes: int | None = Field(default=None, foreign_key="indicator_value.id")
    actor: str = Field(max_length=128)
    on_behalf_of: str | None = Field(default=None, max_length=128)
    source: str = Field(max_length=255)
    recorded_at: datetime = Field(sa_column=utc_column())


VALUE: sa.Table = IndicatorValue.__table__  # type: ignore[attr-defined]
