"""The outbox: letters rendered when queued and delivered later, and the reminder record.

Tables (registered on `SQLModel.metadata`; `workflow.storage.tables.all_tables` imports this
module so the migration creates them):

``outbox``
    One letter: its SMTP recipients (its bytes are in ``outbox_letter``), a unique
    idempotency ``key``, and the delivery state. Status flow::

        pending ─claim→ sending ─250→ sent
           ↑               ├─4xx / connection lost→ failed ─(backoff)→ sending …
           │               ├─5xx, attempts < max→ failed
           │               └─5xx at max attempts, refused recipient, too old→ dead
           └ only ``pending`` letters (never attempted) are amended with later reminders
        sent ─a delivery status notification→ bounced
        held: a reply of ours over the daily limit per sender, never claimed

    A ``sending`` row whose ``lease_until`` has passed belongs to a deliverer that died;
    it is claimed again. ``attempts`` counts claims, so a letter that keeps killing its
    deliverer still reaches ``dead``.

    Two clocks: ``created_at``, ``updated_at``, ``next_attempt_at`` and ``sent_at`` are on
    the caller's clock (the effective ``--now``, which may be a date in the past), while
    ``queued_at`` and ``recorded_at`` are the real time: when the letter was queued (the
    age after which a failing letter is given up is counted from it) and when its last
    outcome was written (for a ``sent`` row, right after the server's 250: the gap
    between the two is the window in which a crash duplicates the letter).

``outbox_letter``
    The stored MIME bytes of each outbox row (without From, Date, Message-ID — the
    deliverer adds them; empty for a letter that could not be built), keyed by the row's
    id: written when the letter is queued (again when a pending digest is amended), read
    once when it is claimed. Kept apart from the row, whose state every claim and outcome
    rewrites: in the row, SQLite rewrote the whole letter (37 KB for a school, MBs for a
    coordinator's digest) with each of those updates.

``reminder``
    Each reminder once, by its key, with the letter (``outbox_id``) that carries it and
    its JSON payload, so a pending digest can be re-rendered when a reminder joins it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from base.columns import UTCDateTime
from notifications.errors import NotRetryable, OutboxRowNotFound


class OutboxStatus(StrEnum):
    """Delivery state of an outbox row."""

    PENDING = "pending"
    """Queued, never attempted; a digest in this state may still be amended."""
    SENDING = "sending"
    """Claimed by a deliverer until ``lease_until``."""
    SENT = "sent"
    """Accepted by the server (250)."""
    FAILED = "failed"
    """The last attempt failed; retried at ``next_attempt_at``."""
    DEAD = "dead"
    """Given up; ``last_error`` says why. `retry` queues it again."""
    BOUNCED = "bounced"
    """Sent, then returned: a delivery status notification says its main recipient does
    not take mail (``last_error``: the server's reason; `workflow.inbound.bounce`)."""
    HELD = "held"
    """Never sent: a reply of ours over the per-sender daily limit, held for the
    coordinator (``last_error`` says so); `retry` sends it after all."""


class LetterKind(StrEnum):
    """What an outbox row carries."""

    DIGEST = "digest"
    """The reminders of one recipient for one day (one or more)."""
    NOTICE = "notice"
    """A transition notice."""
    SUMMARY = "summary"
    """The weekly summary to the coordinator."""


def _utc(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


# Core tables, not SQLModel classes: nothing reads them as models, and every command that
# sends or lists letters imports this module (building the three classes' pydantic
# models and declarative mappings cost more than their columns). The columns are what
# ``SQLModel`` made of the fields: ``str`` is ``AutoString``, a field with a default has
# it as the column's default, an optional field is nullable.
OUTBOX = sa.Table(
    "outbox",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", AutoString(255), nullable=False, unique=True),
    sa.Column("kind", AutoString(16), nullable=False),
    # sha256 of "<recipient>|<send_on>" for digests: finds the day's letter to amend.
    sa.Column("digest_group", AutoString(64), nullable=True),
    sa.Column("recipient", AutoString(320), nullable=False),
    # Every SMTP recipient, comma-separated (To first, then Cc).
    sa.Column("envelope", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("status", AutoString(16), nullable=False, default=OutboxStatus.PENDING.value),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    _utc("next_attempt_at"),
    _utc("lease_until", nullable=True),
    sa.Column("claim_token", AutoString(32), nullable=True),
    _utc("created_at"),
    _utc("updated_at"),
    _utc("sent_at", nullable=True),
    # Real (wall-clock) times. Nullable so that revision 0004 adds them without rebuilding
    # the table; it sets ``queued_at`` of older rows, ``recorded_at`` waits for an outcome.
    _utc("queued_at", nullable=True),
    _utc("recorded_at", nullable=True),
    sa.Column("message_id", AutoString(255), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_digest_group", "digest_group"),
    # A reply names the letter it answers by Message-ID (`workflow.inbound.record`).
    sa.Index("ix_outbox_message_id", "message_id"),
)
"""One letter to deliver, rendered when queued, with a unique idempotency key."""

OUTBOX_LETTER = sa.Table(
    "outbox_letter",
    SQLModel.metadata,
    sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id"), primary_key=True),
    sa.Column("message", sa.LargeBinary, nullable=False),
)
"""The bytes of one outbox row's letter (see the module)."""

REMINDER = sa.Table(
    "reminder",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", AutoString(255), nullable=False, unique=True),
    sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id"), nullable=False),
    sa.Column("recipient", AutoString(320), nullable=False),
    sa.Column("send_on", sa.Date, nullable=False),
    sa.Column("deadline", sa.Date, nullable=False),
    sa.Column("rung", AutoString(16), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    _utc("created_at"),
    sa.Index("ix_reminder_outbox", "outbox_id"),
)
"""A reminder recorded once by its key, and the letter that carries it."""

#: An outbox row with its letter's bytes (``OUTBOX_LETTER.c.message``), for reading both.
OUTBOX_WITH_LETTER = OUTBOX.join(OUTBOX_LETTER, OUTBOX_LETTER.c.outbox_id == OUTBOX.c.id)


def insert_letters(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert outbox rows, each given with its letter's bytes under ``"message"``, and
    their letters; the new rows' ids, in the order of ``rows``."""
    if not rows:
        return []
    values = [{k: v for k, v in row.items() if k != "message"} for row in rows]
    ids = [
        int(i)
        for i in conn.execute(
            OUTBOX.insert().returning(OUTBOX.c.id, sort_by_parameter_order=True), values
        ).scalars()
    ]
    conn.execute(
        OUTBOX_LETTER.insert(),
        [{"outbox_id": i, "message": row["message"]} for i, row in zip(ids, rows, strict=True)],
    )
    return ids


def set_letter(conn: Connection, id: int, message: bytes) -> None:
    """Replace the letter of outbox row ``id`` (an amended pending digest or notice)."""
    conn.execute(
        OUTBOX_LETTER.update().where(OUTBOX_LETTER.c.outbox_id == id).values(message=message)
    )


def delete_rows(conn: Connection, ids: Sequence[int]) -> None:
    """Delete outbox rows and their letters."""
    conn.execute(OUTBOX_LETTER.delete().where(OUTBOX_LETTER.c.outbox_id.in_(ids)))
    conn.execute(OUTBOX.delete().where(OUTBOX.c.id.in_(ids)))


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxEntry:
    """An outbox row as listed for people (without the letter bytes)."""

    id: int
    key: str
    kind: str
    recipient: str
    subject: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    queued_at: datetime | None
    message_id: str | None
    last_error: str | None


_ENTRY_COLUMNS = (
    OUTBOX.c.id,
    OUTBOX.c.key,
    OUTBOX.c.kind,
    OUTBOX.c.recipient,
    OUTBOX.c.subject,
    OUTBOX.c.status,
    OUTBOX.c.attempts,
    OUTBOX.c.next_attempt_at,
    OUTBOX.c.created_at,
    OUTBOX.c.sent_at,
    OUTBOX.c.queued_at,
    OUTBOX.c.message_id,
    OUTBOX.c.last_error,
)


def _entry(row: Any) -> OutboxEntry:
    data = row._asdict()
    data["status"] = OutboxStatus(data["status"])
    return OutboxEntry(**data)


def list_outbox(
    conn: Connection, status: OutboxStatus | str | None = None, *, limit: int | None = None
) -> list[OutboxEntry]:
    """Outbox rows, oldest first, optionally of one status.

    Args:
        conn: a connection (any transaction).
        status: only rows in this state.
        limit: at most this many rows.

    Raises:
        ValueError: ``status`` is not an `OutboxStatus` value.
    """
    query = sa.select(*_ENTRY_COLUMNS).order_by(OUTBOX.c.id)
    if status is not None:
        query = query.where(OUTBOX.c.status == OutboxStatus(status).value)
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in conn.execute(query)]


def status_counts(conn: Connection) -> dict[OutboxStatus, int]:
    """How many rows are in each state (every state listed, zeros included)."""
    counts = dict.fromkeys(OutboxStatus, 0)
    query = sa.select(OUTBOX.c.status, sa.func.count()).group_by(OUTBOX.c.status)
    for status, count in conn.execute(query):
        counts[OutboxStatus(status)] = int(count)
    return counts


def retry(conn: Connection, id: int, now: datetime) -> OutboxEntry:
    """Queue a dead or failed letter again, due at ``now``, with its attempts reset.

    The row becomes ``failed`` (not ``pending``): a letter that was attempted may have
    reached someone, so it is never amended, only resent as it is.

    Args:
        conn: a connection inside the caller's write transaction.
        id: the outbox row id.
        now: the time of the request (aware).

    Raises:
        OutboxRowNotFound: no such row.
        NotRetryable: the row was sent, is being sent, or has no letter (invalid address).
    """
    row = conn.execute(
        sa.select(OUTBOX.c.status, sa.func.length(OUTBOX_LETTER.c.message))
        .select_from(OUTBOX.outerjoin(OUTBOX_LETTER, OUTBOX_LETTER.c.outbox_id == OUTBOX.c.id))
        .where(OUTBOX.c.id == id)
        .with_for_update(of=OUTBOX)
    ).first()
    if row is None:
        raise OutboxRowNotFound(row_id=id)
    status, size = OutboxStatus(row[0]), int(row[1] or 0)
    if status in (OutboxStatus.SENT, OutboxStatus.SENDING):
        reason = "уже отправлено" if status is OutboxStatus.SENT else "сейчас отправляется"
        raise NotRetryable(row_id=id, status=status.value, reason=reason)
    if size == 0:
        raise NotRetryable(
            row_id=id,
            status=status.value,
            reason="письмо не сформировано (недопустимый адрес); исправьте адрес, "
            "и планировщик поставит новое",
        )
    if status is not OutboxStatus.PENDING:
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id == id)
            .values(
                status=OutboxStatus.FAILED.value,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                claim_token=None,
                updated_at=now,
            )
        )
    entry = conn.execute(sa.select(*_ENTRY_COLUMNS).where(OUTBOX.c.id == id)).one()
    return _entry(entry)
