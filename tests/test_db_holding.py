"""`db.holding`: the writes inside run on one connection taken from the pool once, each
still its own transaction and commit (issue 16, item 2: a bulk file fired a transaction
per row)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from base import db
from workflow.storage.prepared import Prepared

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


def _run_then_fail(engine: Engine, insert: Prepared, n: int, *, then: int | None = None) -> None:
    with db.write(engine) as conn:
        insert.run(conn, {"n": n})
        if then is not None:
            conn.execute(sa.insert(SCRATCH).values(n=then))
        raise RuntimeError


def test_a_held_write_of_the_drivers_statements_commits_or_rolls_back(scratch: Engine) -> None:
    """On SQLite a held write begins and commits on the driver's connection; statements
    run on the driver's cursor alone (`Prepared`: SQLAlchemy's transaction never opened)
    are committed, or rolled back by an exception, as within SQLAlchemy's."""
    insert = Prepared(sa.insert(SCRATCH).values(n=sa.bindparam("n")))
    committed = db.commits()
    with db.holding(scratch):
        with db.write(scratch) as conn:
            insert.run(conn, {"n": 1})
        assert _stored(scratch) == [1]
        with pytest.raises(RuntimeError):
            _run_then_fail(scratch, insert, 2)
        with db.write(scratch) as conn:  # the driver's statement, then SQLAlchemy's
            insert.run(conn, {"n": 3})
            conn.execute(sa.insert(SCRATCH).values(n=4))
        with pytest.raises(RuntimeError):
            _run_then_fail(scratch, insert, 5, then=6)
        with db.write(scratch) as conn:
            insert.run(conn, {"n": 7})
    assert _stored(scratch) == [1, 3, 4, 7]
    assert db.commits() == committed + 3


def test_a_held_write_that_cannot_lock_fails_as_sqlalchemy_says(tmp_path: Path) -> None:
    """The write lock held by another process: BEGIN IMMEDIATE on the held connection
    fails with SQLAlchemy's OperationalError, as an unheld write does, and the next write
    goes on; a write inside a held write takes a connection of its own (SQLite: it waits
    for the outer's lock), never the held one's open transaction."""
    path = tmp_path / "held.db"
    engine = db.make_engine(f"sqlite:///{path}", timeouts=db.Timeouts(busy=0.05))
    SCRATCH.create(engine)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        with db.holding(engine):
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(sa.exc.OperationalError, match="locked"), db.write(engine):
                pass
            other.execute("ROLLBACK")
            with db.write(engine) as outer:
                # The driver's statement alone: SQLAlchemy's transaction is not open.
                Prepared(sa.insert(SCRATCH).values(n=sa.bindparam("n"))).run(outer, {"n": 1})
                with pytest.raises(sa.exc.OperationalError, match="locked"):
                    with db.write(engine) as inner:
                        assert inner is not outer
                outer.execute(sa.insert(SCRATCH).values(n=2))
        assert _stored(engine) == [1, 2]
    finally:
        other.close()
        engine.dispose()


def test_a_held_write_whose_commit_fails_leaves_the_next_write_clean(engine: Engine) -> None:
    """A COMMIT refused (a deferred foreign key) rolls its write back whole: the next
    write on the held connection begins afresh, on the driver and in SQLAlchemy, for a
    durable write (the driver's own transaction) and one that is not (SQLAlchemy's)."""
    meta = sa.MetaData()
    parent = sa.Table("held_parent", meta, sa.Column("id", sa.Integer, primary_key=True))
    child = sa.Table(
        "held_child",
        meta,
        sa.Column(
            "pid",
            sa.Integer,
            sa.ForeignKey("held_parent.id", deferrable=True, initially="DEFERRED"),
        ),
    )
    meta.create_all(engine)
    try:
        for durable in (True, False):
            with db.holding(engine):
                with (
                    pytest.raises(sa.exc.IntegrityError),
                    db.write(engine, durable=durable) as conn,
                ):
                    conn.execute(sa.insert(child).values(pid=99))
                with db.write(engine, durable=durable) as conn:
                    conn.execute(sa.insert(parent).values(id=1 if durable else 2))
        with db.read(engine) as conn:
            assert list(conn.execute(sa.select(parent.c.id)).scalars()) == [1, 2]
            assert list(conn.execute(sa.select(child.c.pid)).scalars()) == []
    finally:
        meta.drop_all(engine)
