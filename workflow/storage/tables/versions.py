"""Every roadmap file ever loaded (``roadmap_version``)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


class RoadmapVersion(SQLModel, table=True):
    """Every roadmap file ever loaded, kept: its text, hash and the amending decree it
    cites (``amended_by:``), who loaded it and when. ``roadmap`` holds the current one."""

    __tablename__ = "roadmap_version"
    __table_args__ = (sa.UniqueConstraint("roadmap_id", "version", name="uq_roadmap_version"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    version: int  # 1, 2, … in loading order
    content_hash: str = Field(max_length=64)
    source: str = Field(sa_type=sa.Text)
    period_start: date
    period_end: date
    amended_by: str | None = None  # «<title> от ДД.ММ.ГГГГ № <number>», as the file cites it
    loaded_by: str = Field(max_length=128)
    loaded_at: datetime = Field(sa_column=utc_column())


VERSION: sa.Table = RoadmapVersion.__table__  # type: ignore[attr-defined]
