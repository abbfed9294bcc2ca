"""The column the tables share: an aware datetime stored in UTC."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from base.columns import UTCDateTime


def utc_column(name: str | None = None, *, nullable: bool = False) -> Any:
    """A `UTCDateTime` column (a new one each call: a column belongs to one table); a
    SQLModel field names it, a Core table gives its ``name``."""
    if name is None:
        return sa.Column(UTCDateTime(), nullable=nullable)
    return sa.Column(name, UTCDateTime(), nullable=nullable)
