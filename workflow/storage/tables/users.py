"""The people known to a roadmap (``app_user``).

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

USER = sa.Table(
    "app_user",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("login", AutoString(128), nullable=False),
    sa.Column("role", AutoString(16), nullable=False),
    # The person's name as letters print it («Иванова Анна Петровна»); "" when not given
    # (a letter then names the role only, never the login).
    sa.Column("full_name", AutoString(200), nullable=False, default="", server_default=""),
    # Municipality names for ``municipality``, one center code for ``school``.
    sa.Column("scope", sa.JSON, nullable=True),
    sa.Column("created_by", AutoString(128), nullable=False),
    utc_column("created_at"),
    sa.UniqueConstraint("roadmap_id", "login", name="uq_user_login"),
)
"""A person known to a roadmap, with a role and, for some roles, a scope."""
