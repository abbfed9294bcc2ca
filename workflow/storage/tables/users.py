"""The people known to a roadmap (``app_user``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


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
    created_at: datetime = Field(sa_column=utc_column())


USER: sa.Table = AppUser.__table__  # type: ignore[attr-defined]
