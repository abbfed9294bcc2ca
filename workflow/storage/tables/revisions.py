"""Deadlines moved: a cycle's, a center's stage (``deadline_revision``, ``stage_revision``)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import centers, cycles, roadmap, versions  # noqa: F401
from workflow.storage.tables._columns import utc_column


class DeadlineRevision(SQLModel, table=True):
    """A deadline moved: a cycle's due date (by a roadmap amendment or one order), with
    the date it had before, the reason and the authorising document."""

    __tablename__ = "deadline_revision"
    __table_args__ = (sa.Index("ix_revision_cycle", "roadmap_id", "cycle_id"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    cycle_id: int = Field(foreign_key="measure_cycle.id")
    original_due: date  # the due date before this revision
    revised_due: date
    reason: str
    document: str | None = None  # the authorising document, as recorded
    version_id: int | None = Field(default=None, foreign_key="roadmap_version.id")
    event_seq: int  # the audit event that records it
    actor: str = Field(max_length=128)
    recorded_at: datetime = Field(sa_column=utc_column())


class StageRevision(SQLModel, table=True):
    """A center's stage deadline moved by an order (``tochka centers reschedule``).

    A stage deadline is its cohort's (from the roadmap's stage rules); a row here makes it
    this center's own: the latest row of a (center, stage) is its due date. Kept apart
    from ``deadline_revision``, whose target is a cycle: the two are read by different
    paths and neither needs the other's columns.
    """

    __tablename__ = "stage_revision"
    __table_args__ = (sa.Index("ix_stage_revision_center", "roadmap_id", "center_id", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    center_id: int = Field(foreign_key="center.id")
    stage: str = Field(max_length=32)  # a center state: the stage whose deadline moved
    original_due: date  # the due date before this revision
    revised_due: date
    reason: str
    document: str | None = None  # the authorising document, as recorded
    event_seq: int  # the audit event that records it
    actor: str = Field(max_length=128)
    recorded_at: datetime = Field(sa_column=utc_column())


REVISION: sa.Table = DeadlineRevision.__table__  # type: ignore[attr-defined]
STAGE_REVISION: sa.Table = StageRevision.__table__  # type: ignore[attr-defined]
