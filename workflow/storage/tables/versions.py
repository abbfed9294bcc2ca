"""Every roadmap file ever loaded (``roadmap_version``).

A Core table (see the package); its columns are what ``SQLModel`` made of the fields
(see `centers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column

VERSION = sa.Table(
    "roadmap_version",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # 1, 2, … in loading order
    sa.Column("content_hash", AutoString(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    # «<title> от ДД.ММ.ГГГГ № <number>», as the file cites it.
    sa.Column("amended_by", AutoString, nullable=True),
    sa.Column("loaded_by", AutoString(128), nullable=False),
    utc_column("loaded_at"),
    sa.UniqueConstraint("roadmap_id", "version", name="uq_roadmap_version"),
)
"""Every roadmap file ever loaded, kept: its text, hash and the amending decree it cites
(``amended_by:``), who loaded it and when. ``roadmap`` holds the current one."""
