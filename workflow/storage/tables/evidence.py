"""Evidence documents kept in the database (``evidence_blob``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from workflow.storage.tables._columns import utc_column


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
    stored_at: datetime = Field(sa_column=utc_column())


EVIDENCE_BLOB: sa.Table = EvidenceBlob.__table__  # type: ignore[attr-defined]
