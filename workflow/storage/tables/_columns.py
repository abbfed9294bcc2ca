"""The column the tables share: an aware datetime stored in UTC."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from base.columns import UTCDateTime


def utc_column(nullable: bool = False) -> Any:
    """A `UTCDateTime` column (a new one each call: a column belongs to one table)."""
    return sa.Column(UTCDateTime(), nullable=nullable)
