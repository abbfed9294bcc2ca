"""What ``tochka daemon status`` shows: the daemons' heartbeats and what waits for them.

The daemon (``scheduler.py``) writes one ``daemon_heartbeat`` row per process; this view
reads them back with the overdue open cycles and the letters waiting. The Russian text is
the CLI's (`workflow.cli.daemon_cmd`).

A daemon is alive while its last heartbeat is younger than `STALE_HEARTBEATS` of the
intervals it promised (its row's ``heartbeat_seconds``): a killed or frozen daemon is
shown as not answering within a couple of heartbeats, not minutes later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from base.clock import local_date
from notifications.outbox import status_counts
from states.cycle import CycleState
from workflow.roadmap import closing
from workflow.roadmap import store as roadmap_store
from workflow.storage.tables import CYCLE, HEARTBEAT, DaemonRole

#: A daemon whose heartbeat is older than this many of its intervals is not answering.
STALE_HEARTBEATS = 2.5
#: The least staleness allowed (clock steps, a slow commit), in seconds.
MIN_STALE_SECONDS = 1.0


def stale_after(heartbeat_seconds: float | None, fallback: float) -> float:
    """Seconds after its last heartbeat at which a daemon counts as not answering."""
    if heartbeat_seconds is None or heartbeat_seconds <= 0:
        return fallback  # a row written before the daemon recorded its interval
    return max(STALE_HEARTBEATS * heartbeat_seconds, MIN_STALE_SECONDS)


@dataclass(frozen=True, kw_only=True)
class DaemonView:
    """One heartbeat row as ``tochka daemon status`` shows it."""

    daemon_id: str
    host: str
    pid: int
    role: str
    alive: bool
    started_at: datetime
    last_seen_at: datetime
    last_tick_at: datetime | None
    last_tick_as_of: datetime | None
    last_tick_result: str | None
    last_delivery_at: datetime | None
    stopped_at: datetime | None
    heartbeat_seconds: float | None = None
    tick_failures: int = 0
    last_failure_at: datetime | None = None
    last_failure_reason: str | None = None
    next_retry_at: datetime | None = None

    @property
    def leading(self) -> bool:
        """Alive and holding the leader lock."""
        return self.alive and self.role == DaemonRole.LEADER.value

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "daemon_id": self.daemon_id,
            "host": self.host,
            "pid": self.pid,
            "role": self.role,
            "alive": self.alive,
            "started_at": iso(self.started_at),
            "last_seen_at": iso(self.last_seen_at),
            "last_tick_at": iso(self.last_tick_at),
            "last_tick_as_of": iso(self.last_tick_as_of),
            "last_tick_result": self.last_tick_result,
            "last_delivery_at": iso(self.last_delivery_at),
            "stopped_at": iso(self.stopped_at),
            "heartbeat_seconds": self.heartbeat_seconds,
            "tick_failures": self.tick_failures,
            "last_failure_at": iso(self.last_failure_at),
            "last_failure_reason": self.last_failure_reason,
            "next_retry_at": iso(self.next_retry_at),
        }


@dataclass(frozen=True, kw_only=True)
class StatusReport:
    """The daemons, and what waits for them."""

    daemons: list[DaemonView]
    overdue_cycles: int
    letters: dict[str, int]
    # Each ended program's state in Russian (`workflow.roadmap.closing.state_text`).
    programs: list[str] = field(default_factory=list)

    @property
    def leaders(self) -> int:
        """Daemons alive as the leader (more than one only for a moment after a takeover
        that the old leader's last heartbeat has not yet aged out of)."""
        return sum(1 for d in self.daemons if d.leading)

    @property
    def standbys(self) -> int:
        """Daemons alive and waiting for the leader lock."""
        return sum(1 for d in self.daemons if d.alive and d.role == DaemonRole.STANDBY.value)

    def as_json(self) -> dict[str, Any]:
        return {
            "leaders": self.leaders,
            "standbys": self.standbys,
            "daemons": [d.as_json() for d in self.daemons],
            "overdue_cycles": self.overdue_cycles,
            "letters": self.letters,
            "programs": self.programs,
        }


def collect_status(engine: Engine, *, now: datetime, alive_seconds: float) -> StatusReport:
    """Heartbeats (newest first), overdue open cycles and letters waiting, from the DB.

    Args:
        engine: the database.
        now: the time the heartbeats are aged against.
        alive_seconds: the staleness limit of rows that do not say their interval.
    """
    with db.read(engine) as conn:
        rows = conn.execute(
            sa.select(HEARTBEAT).order_by(HEARTBEAT.c.last_seen_at.desc()).limit(20)
        ).all()
        # Overdue: marked so, or past due and not marked yet (the daemon is behind).
        today = local_date(now, "Europe/Moscow")
        overdue = conn.execute(
            sa.select(sa.func.count())
            .select_from(CYCLE)
            .where(
                sa.or_(
                    CYCLE.c.state == CycleState.OVERDUE.value,
                    sa.and_(
                        CYCLE.c.state.in_(
                            [CycleState.SCHEDULED.value, CycleState.IN_PROGRESS.value]
                        ),
                        CYCLE.c.due_date < today,
                    ),
                )
            )
        ).scalar_one()
        programs = []
        for code in roadmap_store.codes(conn):
            definition = roadmap_store.resolve(conn, code).definition
            text = closing.state_text(definition, local_date(now, definition.timezone))
            if text is not None:
                programs.append(f"«{code}»: {text}")
        letters: dict[str, int] = {
            str(s.value): n
            for s, n in status_counts(conn).items()
            if s.value in ("pending", "sending", "failed", "dead")
        }
    daemons = [
        DaemonView(
            daemon_id=r.daemon_id,
            host=r.host,
            pid=r.pid,
            role=r.role,
            alive=r.role != DaemonRole.STOPPED.value
            and (now - r.last_seen_at).total_seconds()
            <= stale_after(r.heartbeat_seconds, alive_seconds),
            started_at=r.started_at,
            last_seen_at=r.last_seen_at,
            last_tick_at=r.last_tick_at,
            last_tick_as_of=r.last_tick_as_of,
            last_tick_result=r.last_tick_result,
            last_delivery_at=r.last_delivery_at,
            stopped_at=r.stopped_at,
            heartbeat_seconds=r.heartbeat_seconds,
            tick_failures=r.tick_failures or 0,
            last_failure_at=r.last_failure_at,
            last_failure_reason=r.last_failure_reason,
            next_retry_at=r.next_retry_at,
        )
        for r in rows
    ]
    return StatusReport(
        daemons=daemons, overdue_cycles=int(overdue), letters=letters, programs=programs
    )
