"""`db.holding`: the writes inside run on one connection taken from the pool once, each
still its own transaction and commit (issue 16, item 2: a bulk file fired a transaction
per row)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from base import db

SCRATCH = sa.Table("holding_scratch", sa.MetaData(), sa.Column("n", sa.Integer))


@pytest.fixture
def scratch(engine: Engine) -> Iterator[Engine]:
    SCRATCH.create(engine)
    yield engine
    SCRATCH.drop(engine)


def _checkouts(engine: Engine) -> list[object]:
    """Every connection taken from the engine's pool from now on."""
    taken: list[object] = []
    event.listen(engine.pool, "checkout", lambda dbapi, *_: taken.append(dbapi))
    return taken


def _stored(engine: Engine) -> list[int]:
    with db.read(engine) as conn:
        return list(conn.execute(sa.select(SCRATCH.c.n).order_by(SCRATCH.c.n)).scalars())


def test_writes_share_one_connection_and_each_commits(scratch: Engine) -> None:
    taken = _checkouts(scratch)
    committed = db.commits()
    with db.holding(scratch):
        for n in (1, 2, 3):
            with db.write(scratch) as conn:
                conn.execute(sa.insert(SCRATCH).values(n=n))
            # Committed at once, seen from another connection (db.read's own).
            assert _stored(scratch) == list(range(1, n + 1))
    assert db.commits() == committed + 3
    # One checkout for the writes, one for each read between them.
    assert len(taken) == 1 + 3
    assert scratch.pool.checkedout() == 0  # the held connection is given back


def _insert_then_fail(engine: Engine, n: int) -> None:
    with db.write(engine) as conn:
        conn.execute(sa.insert(SCRATCH).values(n=n))
        raise RuntimeError


def test_a_failed_write_rolls_back_alone(scratch: Engine) -> None:
    taken = _checkouts(scratch)
    with db.holding(scratch):
        with db.write(scratch) as conn:
            conn.execute(sa.insert(SCRATCH).values(n=1))
        with pytest.raises(RuntimeError):
            _insert_then_fail(scratch, 2)
        with db.write(scratch) as conn:
            conn.execute(sa.insert(SCRATCH).values(n=3))
    assert len(taken) == 1
    assert _stored(scratch) == [1, 3]


def test_a_write_inside_a_write_takes_its_own_connection(scratch: Engine) -> None:
    if db.is_sqlite(scratch):
        pytest.skip("SQLite: the inner writer would wait for the outer one's write lock")
    taken = _checkouts(scratch)
    with db.holding(scratch), db.write(scratch) as outer:
        outer.execute(sa.insert(SCRATCH).values(n=1))
        with db.write(scratch) as inner:
            assert inner is not outer
            inner.execute(sa.insert(SCRATCH).values(n=2))
    assert len(taken) == 2
    assert _stored(scratch) == [1, 2]
