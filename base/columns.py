"""Column types shared by every table (the workflow's and the outbox's).

SQLite's DateTime keeps no offset, so values are stored as naive UTC there and read
back aware on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

_NOTHING = object()
_UNBOUND: tuple[object, Any] = (_NOTHING, None)
# The last datetime object bound by a UTCDateTime column, and its bound value, for each
# dialect class and impl: one (object, bound value) pair, swapped whole, so that a thread
# sees a matching pair.
_BOUND: dict[tuple[type[Dialect], bool], tuple[object, Any]] = {}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored in UTC; read back aware on every backend (SQLite too)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        """The bound value of the last datetime object given, reused while the same object
        comes again: an import binds one ``now`` to every row (200,000 centers' created_at
        and updated_at, their events' recorded_at), and the conversion (to UTC, then
        SQLite's text) took 2-5 us a value against 0.1 us for the reuse. Keyed on the
        object, which is immutable, so it always binds alike; the pair held keeps it alive,
        so its id is not another's. The pair is shared by every such column of one dialect
        class (`_BOUND`): a transition binds its one moment to the center's updated_at and
        to its event's recorded_at, converted once."""
        process = super().bind_processor(dialect)
        if process is None:
            return None
        convert = process
        key = (type(dialect), self.impl.timezone)

        def bind(value: Any) -> Any:
            seen, bound = _BOUND.get(key, _UNBOUND)
            if value is seen:
                return bound
            bound = convert(value)
            _BOUND[key] = (value, bound)
            return bound

        return bind

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
        if isinstance(value, str):  # raw SQLite text
            value = datetime.fromisoformat(value)
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
