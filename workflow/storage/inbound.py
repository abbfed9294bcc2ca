"""The inbound mail table: every message read from the mailbox or a saved file, once.

``inbound_message``
    One message, recorded in the transaction that decides what it is; the IMAP copy is
    moved to the processed folder only after that transaction commits
    (`workflow.inbound.poll`). Two unique keys make a re-read a no-op: ``(dedup_key,
    content_key)`` — the Message-ID (or ``sha256:<hash of the bytes>`` for a message
    without one) and the hash of what the sender wrote that decides the message's fate
    (`workflow.inbound.record.content_key`: the sender, the subject, the ids it answers,
    the authentication verdict, the automatic kind, the body) — and ``(mailbox,
    uidvalidity, uid)`` for a message read over IMAP. A message delivered twice has both
    keys of the first and is skipped; one carrying another's Message-ID with other
    content (a forgery that arrives first) is recorded beside it and shadows nothing.
    Rows recorded before the content was compared have ``content_key`` "" and match
    their Message-ID alone, as they did. A crash between the commit and the move leaves
    the message in the folder; the next poll finds its key and only moves it.

    ``state`` (`InboundState`) says what it is: matched to one of our letters, held in
    quarantine for the coordinator (``reason`` says why), an automatic message
    (auto-reply, bounce, list mail: recorded, never answered) or refused (too large).
    ``submission`` is the coordinator's decision on a matched reply (``pending`` until
    accepted or rejected; None for every other state); who decided, when and why is an
    audit event of kind ``reply`` (`workflow.inbound.submissions`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from base.columns import UTCDateTime


class InboundState(StrEnum):
    """What a recorded inbound message is."""

    MATCHED = "matched"
    """A reply to one of our letters from its recipient: a submission to decide."""
    QUARANTINE = "quarantine"
    """Held for the coordinator: unknown sender, failed DKIM/DMARC, not matched."""
    AUTO = "auto"
    """An auto-reply, a bounce or list mail (RFC 3834): recorded, never answered."""
    REFUSED = "refused"
    """Not read: larger than the size limit (``reason`` says so)."""


class SubmissionState(StrEnum):
    """The coordinator's decision on a matched reply (issue 15, item 4)."""

    PENDING = "pending"
    """Waiting for ``replies accept`` or ``replies reject``."""
    ACCEPTED = "accepted"
    """Accepted: the deadline's transition fired with the reply's files (one event of
    kind ``reply`` records the decision, `workflow.inbound.submissions`)."""
    REJECTED = "rejected"
    """Rejected with a reason the sender was sent (the ``reply`` event keeps it)."""


class InboundMessage(SQLModel, table=True):
    """One inbound message, recorded once."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        sa.UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_imap_uid"),
        sa.UniqueConstraint("dedup_key", "content_key", name="uq_inbound_dedup"),
        sa.Index("ix_inbound_state", "state"),
        sa.Index("ix_inbound_outbox", "outbox_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The Message-ID as written (angle brackets kept), or "sha256:<hex>" without one.
    dedup_key: str = Field(max_length=1000)
    # SHA-256 (hex) of what the sender wrote that decides the message's fate
    # (`workflow.inbound.record.content_key`); "" for rows recorded before it was kept.
    content_key: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    message_id: str | None = Field(default=None, max_length=1000)
    # "imap:<folder>" for the mailbox, "file" for `tochka replies import`.
    mailbox: str = Field(max_length=255)
    uidvalidity: int | None = Field(default=None, sa_type=sa.BigInteger)
    uid: int | None = Field(default=None, sa_type=sa.BigInteger)
    # Where it was read from: the IMAP host and folder, or the file's path (and the
    # message's number in an mbox).
    source: str = Field(sa_type=sa.Text)
    from_addr: str = Field(default="", max_length=320)
    from_header: str = Field(default="", sa_type=sa.Text)
    subject: str = Field(default="", sa_type=sa.Text)
    date_header: str = Field(default="", max_length=255)
    size: int
    sha256: str = Field(max_length=64)
    state: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    # auto-reply, bounce or list (InboundState.AUTO only).
    auto_kind: str | None = Field(default=None, max_length=16)
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    # in-reply-to, references or token: how the reply was matched to its letter.
    matched_by: str | None = Field(default=None, max_length=16)
    submission: str | None = Field(default=None, max_length=16)
    # The reply's own text (quoted history cut), its attachments ([{name, type, size,
    # sha256}]), notes on parts that could not be read; the message itself (None when
    # refused).
    text: str = Field(default="", sa_type=sa.Text)
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    notes: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    raw: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    # Real (wall-clock) time of recording; None of ``moved_at`` while the IMAP copy is
    # still in the folder (or for a file).
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    moved_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))


INBOUND: sa.Table = InboundMessage.__table__  # type: ignore[attr-defined]


class BounceRecord(SQLModel, table=True):
    """One address a delivery status notification says did not take one of our letters.

    ``bounce``
        Recorded with the notification (``inbound_id``, an ``auto`` message of kind
        ``bounce``), the letter it returns (``outbox_id``: found by the returned letter's
        Message-ID, else the latest letter sent to the address) and, for a permanent
        failure of the letter's main recipient, that letter marked ``bounced``
        (`workflow.inbound.bounce`). An address with a permanent bounce is flagged in
        ``tochka status`` and the coordinator's summary from the day of the letter that
        bounced («Адрес не принимает письма: …, с ДАТА») and told once in the
        coordinator's daily letter, until the flag is cleared (``cleared_at``: the
        address changed, a later letter delivered without a bounce, or ``tochka outbox
        unflag``; `workflow.engine.bounces`).
    """

    __tablename__ = "bounce"
    __table_args__ = (sa.Index("ix_bounce_address", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    inbound_id: int = Field(foreign_key="inbound_message.id")
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    # Lower-case addr-spec.
    address: str = Field(max_length=320)
    permanent: bool
    # The DSN's status code («5.1.1»), or "" when the notification gives none.
    status: str = Field(default="", max_length=16)
    # The receiving server's words (Diagnostic-Code), one line.
    reason: str = Field(default="", sa_type=sa.Text)
    # When the letter that bounced was sent (the caller's clock), else when the
    # notification was recorded: the day the address is flagged from.
    since: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    # When the flag was cleared (real time), by whom (a login, or the daemon's) and why,
    # in Russian (`workflow.engine.bounces`); None while the address is flagged.
    cleared_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    cleared_by: str | None = Field(default=None, max_length=64)
    cleared_reason: str | None = Field(default=None, sa_type=sa.Text)


BOUNCE: sa.Table = BounceRecord.__table__  # type: ignore[attr-defined]


def bounced_addresses(conn: Any) -> list[tuple[str, datetime]]:
    """Every flagged address (a permanent bounce not cleared) and when its first bounced
    letter was sent, the earliest first (``tochka status``, the coordinator's summary)."""
    since = sa.func.min(BOUNCE.c.since)
    rows = conn.execute(
        sa.select(BOUNCE.c.address, since)
        .where(BOUNCE.c.permanent.is_(True), BOUNCE.c.cleared_at.is_(None))
        .group_by(BOUNCE.c.address)
        .order_by(since, BOUNCE.c.address)
    )
    return [(str(address), when) for address, when in rows]
