"""Evidence documents kept in the database (``evidence_blob``).

A Core table (see the package); its columns are what ``SQLModel`` made of the fields
(see `centers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from workflow.storage.tables._columns import utc_column

EVIDENCE_BLOB = sa.Table(
    "evidence_blob",
    SQLModel.metadata,
    sa.Column("sha256", AutoString(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", AutoString(128), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    utc_column("stored_at"),
)
"""The content of an evidence document kept in the database (PostgreSQL without
``TOCHKA_EVIDENCE_DIR``), addressed by its SHA-256; `workflow.engine.evidence_store`. The
audit event records the hash (with the file's name, type and size), so the chain covers
the document; one row per content, however many events refer to it.
"""
