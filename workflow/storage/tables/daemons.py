"""The daemons' heartbeats (``daemon_heartbeat``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.storage.tables._columns import utc_column


class DaemonRole(StrEnum):
    """What a daemon is doing, as its heartbeat row says (``daemon_heartbeat.role``)."""

    LEADER = "leader"
    """It holds the leader lock and reconciles."""
    STANDBY = "standby"
    """It waits for the lock (and delivers letters meanwhile)."""
    STOPPED = "stopped"
    """It stopped cleanly."""


class DaemonHeartbeat(SQLModel, table=True):
    """One running (or last run) daemon: who, where, and when it last did its work."""

    __tablename__ = "daemon_heartbeat"

    daemon_id: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    pid: int
    role: str = Field(max_length=16)  # leader, standby, stopped
    started_at: datetime = Field(sa_column=utc_column())
    last_seen_at: datetime = Field(sa_column=utc_column())
    last_tick_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The reconciler's "now" of that tick (differs from last_tick_at in a simulation).
    last_tick_as_of: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_tick_result: str | None = Field(default=None, sa_type=sa.Text)
    last_delivery_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    stopped_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The interval the daemon promised to write this row at: older than a couple of them,
    # the daemon is not answering (`workflow.views.daemons`).
    heartbeat_seconds: float | None = None
    # Failed ticks in a row (0 after a success), the last failure and the retry planned.
    tick_failures: int | None = None
    last_failure_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_failure_reason: str | None = Field(default=None, sa_type=sa.Text)
    next_retry_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


HEARTBEAT: sa.Table = DaemonHeartbeat.__table__  # type: ignore[attr-defined]
