"""Column types of the notification tables.

`notifications` may not import `workflow`, so the aware-UTC datetime column is our own
small TypeDecorator (the same idea as the workflow tables use): SQLite's DateTime keeps
no offset, so values are stored as naive UTC there and read back aware on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class AwareDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored in UTC and returned aware (UTC) on every backend.

    Raises:
        ValueError: when a naive datetime is bound (convert at the boundary instead).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True
    # Alembic renders a column type as "<module>.<repr>" and the migration template
    # imports only sqlalchemy, sqlmodel and workflow.types (and notifications may not
    # ask workflow for its type). Presenting the type as sqlalchemy's DateTime makes
    # autogenerate write ``sa.DateTime(timezone=True)``: the exact storage format, so
    # the migration needs nothing from this package. Python-side conversion is ours.
    __module__ = "sqlalchemy.types"

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; convert at the boundary")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # A raw SQLite text value when read without the DateTime processor.
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)

    def __repr__(self) -> str:
        return "DateTime(timezone=True)"
