"""Tables of the daemon (sent rungs, heartbeats) and of the indicators.

Part of the schema like `workflow.models` (and re-exported from it); kept apart so that
commands which never touch them do not pay for building their SQLModel classes.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.models import _utc_column


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
    queued_at: datetime = Field(sa_column=_utc_column())


class DaemonHeartbeat(SQLModel, table=True):
    """One running (or last run) daemon: who, where, and when it last did its work."""

    __tablename__ = "daemon_heartbeat"

    daemon_id: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    pid: int
    role: str = Field(max_length=16)  # leader, standby, stopped
    started_at: datetime = Field(sa_column=_utc_column())
    last_seen_at: datetime = Field(sa_column=_utc_column())
    last_tick_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The reconciler's "now" of that tick (differs from last_tick_at in a simulation).
    last_tick_as_of: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    last_tick_result: str | None = Field(default=None, sa_type=sa.Text)
    last_delivery_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    stopped_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class IndicatorValue(SQLModel, table=True):
    """A center's figure for one indicator and period, as submitted. Append-only.

    Rows are never updated or deleted: a correction is a new row whose ``supersedes``
    names the row it replaces, and the latest row (highest id) per (center, period,
    indicator) is the one that counts. ``actor`` and ``recorded_at`` say who submitted
    it and when; ``source`` where it came from (the command line, or a file and line).
    """

    __tablename__ = "indicator_value"
    __table_args__ = (
        # The "latest row per key" lookups of reports and reminders.
        sa.Index("ix_indicator_value_key", "roadmap_id", "period", "center_id", "indicator"),
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
    recorded_at: datetime = Field(sa_column=_utc_column())


class MunicipalityContact(SQLModel, table=True):
    """The education authority of a municipality: who is reminded of its centers' stages.

    ``name`` is the municipality as the centers file writes it; ``email`` and
    ``recipient`` (how letters address it) come from ``tochka municipalities import``.
    A municipality without a row is simply not reminded (its schools still are).
    """

    __tablename__ = "municipality_contact"
    __table_args__ = (sa.UniqueConstraint("roadmap_id", "name", name="uq_municipality_contact"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    name: str
    email: str = Field(max_length=254)
    recipient: str = Field(max_length=200)
    updated_at: datetime = Field(sa_column=_utc_column())
