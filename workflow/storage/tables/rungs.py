"""The reminder rungs already queued (``sent_rung``)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


class SentRung(SQLModel, table=True):
    """A reminder rung already queued for one deadline (all its recipients at once).

    The reconciler reads these back to apply the ladder's catch-up rule without loading
    any history: a deadline needs a reminder today only if no rung at or past the
    latest due one (``day_offset``) is recorded. ``kind`` is ``cycle`` (``entity_id`` a
    measure cycle, ``stage`` empty) or ``center`` (``entity_id`` a center, ``stage`` a
    center state).
    """

    __tablename__ = "sent_rung"
    __table_args__ = (
        sa.UniqueConstraint(
            "roadmap_id", "kind", "entity_id", "stage", "rung", name="uq_sent_rung"
        ),
        # Covers the reconciler's anti-join: "is a rung at or past this offset recorded?".
        sa.Index("ix_sent_rung_offset", "roadmap_id", "kind", "entity_id", "stage", "day_offset"),
    )

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    kind: str = Field(max_length=16)
    entity_id: int
    stage: str = Field(default="", max_length=32)
    rung: str = Field(max_length=32)  # the ladder's key_part: before-14, on_day, overdue-7
    day_offset: int  # signed days from the deadline: -14, 0, 7
    deadline: date
    send_on: date
    queued_at: datetime = Field(sa_column=utc_column())


SENT: sa.Table = SentRung.__table__  # type: ignore[attr-defined]
