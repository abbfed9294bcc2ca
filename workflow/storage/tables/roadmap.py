"""The loaded roadmap definition (``roadmap``).

A Core table (see the package), not a SQLModel class: nothing reads it as a model, and
every command that names a roadmap reads it (``tochka centers list`` among them), so it
costs its columns and no pydantic model or declarative mapping (see `centers`). The
columns are what ``SQLModel`` made of its fields: ``str`` is ``AutoString``, a field
with a default has it as the column's default.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from workflow.storage.tables._columns import utc_column

ROADMAP = sa.Table(
    "roadmap",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", AutoString(64), nullable=False, unique=True),
    sa.Column("title", AutoString, nullable=False),
    sa.Column("content_hash", AutoString(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("timezone", AutoString(64), nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    utc_column("loaded_at"),
    #: The day this database took the roadmap over mid-program (``tochka init --as-of``):
    #: nothing due before it is reminded. None: run from the program's start.
    sa.Column("adopted_on", sa.Date, nullable=True),
)
"""A loaded roadmap definition: its source text and content hash."""
