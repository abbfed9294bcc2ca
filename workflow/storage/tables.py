"""Every workflow table, as SQLModel classes. Hot paths use their ``__table__`` with Core
statements. (The outbox's tables belong to the notifications layer: `notifications.outbox`.)

Alembic migrations in ``workflow/migrations`` create exactly these tables.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from base.columns import UTCDateTime


def _utc_column(nullable: bool = False) -> Any:
    return sa.Column(UTCDateTime(), nullable=nullable)


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
    loaded_at: datetime = Field(sa_column=_utc_column())
    #: The day this database took the roadmap over mid-program (``tochka init --as-of``):
    #: nothing due before it is reminded. None: run from the program's start.
    adopted_on: date | None = Field(default=None, nullable=True)


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
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())


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
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime = Field(sa_column=_utc_column())


class Event(SQLModel, table=True):
    """Append-only audit record of a state change, chained by SHA-256 per roadmap."""

    __tablename__ = "event"
    __table_args__ = (
        sa.UniqueConstraint("roadmap_id", "seq", name="uq_event_seq"),
        sa.Index("ix_event_entity", "entity_kind", "entity_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    seq: int
    entity_kind: str = Field(max_length=16)  # "center" or "cycle"
    entity_id: int
    entity_key: str = Field(max_length=96)
    trigger: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    on_behalf_of: str | None = Field(default=None, max_length=128)
    recorded_at: datetime = Field(sa_column=_utc_column())
    effective_date: date
    evidence: dict[str, str] | None = Field(default=None, sa_type=sa.JSON)
    comment: str | None = None
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain head of a roadmap: last sequence number and hash.

    Every transition updates it in its transaction, which serialises the chain (the row
    lock on PostgreSQL, the write lock on SQLite) and lets verification notice a
    deleted tail.
    """

    __tablename__ = "audit_head"

    roadmap_id: int = Field(foreign_key="roadmap.id", primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)


class AppUser(SQLModel, table=True):
    """A person known to a roadmap, with a role and, for some roles, a scope."""

    __tablename__ = "app_user"
    __table_args__ = (sa.UniqueConstraint("roadmap_id", "login", name="uq_user_login"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    login: str = Field(max_length=128)
    role: str = Field(max_length=16)
    # The person's name as letters print it («Иванова Анна Петровна»); "" when not given
    # (a letter then names the role only, never the login).
    full_name: str = Field(
        default="", max_length=200, sa_column_kwargs={"server_default": "", "default": ""}
    )
    # Municipality names for ``municipality``, one center code for ``school``.
    scope: list[str] | None = Field(default=None, sa_type=sa.JSON)
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=_utc_column())


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
    started_at: datetime = Field(sa_column=_utc_column())
    last_seen_at: datetime = Field(sa_column=_utc_column())
    last_tick_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The reconciler's "now" of that tick (differs from last_tick_at in a simulation).
    last_tick_as_of: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    last_tick_result: str | None = Field(default=None, sa_type=sa.Text)
    last_delivery_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    stopped_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The interval the daemon promised to write this row at: older than a couple of them,
    # the daemon is not answering (`workflow.views.daemons`).
    heartbeat_seconds: float | None = None
    # Failed ticks in a row (0 after a success), the last failure and the retry planned.
    tick_failures: int | None = None
    last_failure_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    last_failure_reason: str | None = Field(default=None, sa_type=sa.Text)
    next_retry_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


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
    loaded_at: datetime = Field(sa_column=_utc_column())


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
    recorded_at: datetime = Field(sa_column=_utc_column())


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
    recorded_at: datetime = Field(sa_column=_utc_column())


class EvidenceBlob(SQLModel, table=True):
    """The content of an evidence document kept in the database (PostgreSQL without
    ``TOCHKA_EVIDENCE_DIR``), addressed by its SHA-256; `workflow.engine.evidence_store`.

    The audit event records the hash (with the file's name, type and size), so the chain
    covers the document; one row per content, however many events refer to it.
    """

    __tablename__ = "evidence_blob"

    sha256: str = Field(max_length=64, primary_key=True)
    size: int = Field(sa_type=sa.BigInteger)
    media_type: str = Field(max_length=128)
    content: bytes = Field(sa_type=sa.LargeBinary)
    stored_at: datetime = Field(sa_column=_utc_column())


# The Core tables, for the hot paths' statements (one name per table, used everywhere).
ROADMAP: sa.Table = RoadmapRow.__table__  # type: ignore[attr-defined]
CYCLE: sa.Table = MeasureCycle.__table__  # type: ignore[attr-defined]
CENTER: sa.Table = Center.__table__  # type: ignore[attr-defined]
EVENT: sa.Table = Event.__table__  # type: ignore[attr-defined]
HEAD: sa.Table = AuditHead.__table__  # type: ignore[attr-defined]
USER: sa.Table = AppUser.__table__  # type: ignore[attr-defined]
SENT: sa.Table = SentRung.__table__  # type: ignore[attr-defined]
HEARTBEAT: sa.Table = DaemonHeartbeat.__table__  # type: ignore[attr-defined]
VALUE: sa.Table = IndicatorValue.__table__  # type: ignore[attr-defined]
CONTACT: sa.Table = MunicipalityContact.__table__  # type: ignore[attr-defined]
VERSION: sa.Table = RoadmapVersion.__table__  # type: ignore[attr-defined]
REVISION: sa.Table = DeadlineRevision.__table__  # type: ignore[attr-defined]
STAGE_REVISION: sa.Table = StageRevision.__table__  # type: ignore[attr-defined]
EVIDENCE_BLOB: sa.Table = EvidenceBlob.__table__  # type: ignore[attr-defined]


def all_tables() -> list[sa.Table]:
    """Every table of the schema (including the notifications outbox and the inbound
    mail, whose modules are imported here to register their tables in the metadata: a
    command that uses neither does not build them)."""
    import notifications.outbox  # noqa: F401
    import workflow.storage.inbound  # noqa: F401

    return list(SQLModel.metadata.sorted_tables)


GENESIS_HASH = "0" * 64
