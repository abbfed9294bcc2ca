"""The loaded roadmap definition (``roadmap``)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.storage.tables._columns import utc_column


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
    loaded_at: datetime = Field(sa_column=utc_column())
    #: The day this database took the roadmap over mid-program (``tochka init --as-of``):
    #: nothing due before it is reminded. None: run from the program's start.
    adopted_on: date | None = Field(default=None, nullable=True)


ROADMAP: sa.Table = RoadmapRow.__table__  # type: ignore[attr-defined]
