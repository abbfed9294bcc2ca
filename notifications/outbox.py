"""The outbox table (placeholder schema; the notifications work owns and extends it)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class OutboxMessage(SQLModel, table=True):
    """One letter to deliver, rendered when queued, with a unique idempotency key."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, sa_column_kwargs={"unique": True})
    recipient: str
    subject: str
    message: bytes = Field(sa_type=sa.LargeBinary)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    last_error: str | None = None
