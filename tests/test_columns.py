"""`base.columns.UTCDateTime` reuses the bound value of the datetime object it was given
last (issue 16, item 5: an import binds one ``now`` to 600,000 columns). The value bound
must be the one the conversion gives, whatever came before: the same object again, an
equal moment in another offset, a different moment, None.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from base.columns import UTCDateTime

MOSCOW = timezone(timedelta(hours=3))
NOW = datetime(2021, 1, 11, 9, 5, tzinfo=MOSCOW)
SAME_MOMENT = datetime(2021, 1, 11, 6, 5, tzinfo=UTC)  # equal to NOW, another object
LATER = datetime(2021, 1, 11, 9, 5, 0, 1, tzinfo=MOSCOW)


def _processors(dialect: Dialect) -> tuple[object, object]:
    """(the column's processor, the conversion without any reuse)."""
    impl = UTCDateTime().dialect_impl(dialect)
    plain = sa.types.TypeDecorator.bind_processor(impl, dialect)
    return impl.bind_processor(dialect), plain


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=lambda d: d.name)
def test_each_value_binds_as_converted(dialect: Dialect) -> None:
    bind, plain = _processors(dialect)
    assert callable(bind)
    assert callable(plain)
    values = [NOW, NOW, LATER, NOW, SAME_MOMENT, None, NOW, LATER, LATER, SAME_MOMENT]
    assert [bind(v) for v in values] == [plain(v) for v in values]
    with pytest.raises(ValueError, match="naive"):
        bind(NOW.replace(tzinfo=None))
    assert bind(NOW) == plain(NOW)


def test_the_stored_text_on_sqlite() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UTCDateTime()))
    engine = sa.create_engine("sqlite://")
    table.create(engine)
    rows = [NOW, NOW, LATER, NOW, SAME_MOMENT, None, NOW]
    with engine.begin() as con:
        con.execute(table.insert(), [{"at": v} for v in rows])
        stored = con.exec_driver_sql("SELECT at FROM t ORDER BY rowid").scalars().all()
        back = con.execute(sa.select(table.c.at)).scalars().all()
    now, later = "2021-01-11 06:05:00.000000", "2021-01-11 06:05:00.000001"
    assert stored == [now, now, later, now, now, None, now]
    assert back == [v.astimezone(UTC) if v else None for v in rows]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=lambda d: d.name)
def test_columns_of_one_dialect_share_the_last_bound_value(
    dialect: Dialect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transition binds its one moment to two columns (the center's updated_at, its
    event's recorded_at): the second column reuses what the first converted, and a
    moment one column bound in between is not taken for the other's."""
    converted: list[object] = []
    convert = UTCDateTime.process_bind_param

    def counted(self: UTCDateTime, value: datetime | None, dialect: Dialect) -> object:
        converted.append(value)
        return convert(self, value, dialect)

    monkeypatch.setattr(UTCDateTime, "process_bind_param", counted)
    updated_at, _ = _processors(dialect)
    recorded_at, plain = _processors(dialect)
    assert callable(updated_at)
    assert callable(recorded_at)
    assert callable(plain)
    moment = datetime(2021, 3, 1, 12, 0, 0, 7, tzinfo=MOSCOW)  # bound by no other test
    assert updated_at(moment) == recorded_at(moment) == plain(moment)
    assert converted == [moment, moment]  # one by the columns, one by the plain conversion
    assert [updated_at(LATER), recorded_at(moment), updated_at(moment)] == [
        plain(LATER),
        plain(moment),
        plain(moment),
    ]
