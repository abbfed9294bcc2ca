"""`workflow.storage.prepared`: a statement run on the driver's cursor stores, reads and
fails exactly as the same statement through SQLAlchemy (issue 16, item 1).

The transition's hot statements take this path on SQLite; the audit goldens and chain
tests cover it end to end, these meet each of its promises alone: the type processors
(an aware datetime, a date, JSON and its None), the result processors, the wrapping of
the driver's errors, and no autocommit outside a transaction. On PostgreSQL the
statement goes through SQLAlchemy itself, and the same tests hold.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.prepared import Prepared
from workflow.storage.tables import EVENT

RECORDED = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)


def _event(roadmap_id: int, seq: int, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "roadmap_id": roadmap_id,
        "seq": seq,
        "entity_kind": "center",
        "entity_id": 1,
        "entity_key": "C1",
        "trigger": "open",
        "from_state": "planned",
        "to_state": "opened",
        "actor": "ivanova",
        "on_behalf_of": None,
        "recorded_at": RECORDED,
        "effective_date": date(2026, 11, 29),
        "evidence": {"department_order": "№ 1"},
        "comment": "Открытие",
        "prev_hash": "0" * 64,
        "hash": f"{seq:064d}",
    }
    fields.update(changes)
    return fields


_INSERT = sa.insert(EVENT)
_COLUMNS = [c for c in EVENT.c if c.name not in ("id", "seq", "hash")]
_SELECT = sa.select(*_COLUMNS).where(EVENT.c.seq == sa.bindparam("seq"))


def _stored_as_text(engine: Engine, seq: int) -> tuple[Any, ...]:
    """The row as the database holds it (no SQLAlchemy type processing on the way out)."""
    names = ", ".join(c.name for c in _COLUMNS)
    with engine.connect() as conn:
        return tuple(
            conn.exec_driver_sql(f"SELECT {names} FROM event WHERE seq = {seq}").one()  # noqa: S608
        )


@pytest.mark.parametrize("evidence", [{"department_order": "№ 1"}, None])
def test_rows_are_stored_and_read_back_as_sqlalchemy_does(
    engine: Engine, stored: StoredRoadmap, evidence: dict[str, str] | None
) -> None:
    prepared = Prepared(_INSERT, column_keys=list(_event(stored.id, 1)))
    with db.write(engine) as conn:
        conn.execute(_INSERT, _event(stored.id, 9001, evidence=evidence))
        prepared.run(conn, _event(stored.id, 9002, evidence=evidence))
        prepared.run(conn, [_event(stored.id, 9003 + n, evidence=evidence) for n in (0, 1)])

    theirs = _stored_as_text(engine, 9001)
    for seq in (9002, 9003, 9004):
        assert _stored_as_text(engine, seq) == theirs

    with db.read(engine) as conn:
        expected = tuple(conn.execute(_SELECT, {"seq": 9001}).one())
        got = Prepared(_SELECT).first(conn, {"seq": 9002})
        assert tuple(got) == expected
        assert got.recorded_at == RECORDED
        assert got.effective_date == date(2026, 11, 29)
        assert got._asdict()["evidence"] == evidence
        assert Prepared(_SELECT).first(conn, {"seq": 1}) is None


def test_a_driver_error_is_wrapped_as_sqlalchemy_wraps_it(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """A duplicate (roadmap, seq) is SQLAlchemy's IntegrityError, which the engine and the
    CLI turn into Russian text, not the driver's own exception."""
    prepared = Prepared(_INSERT, column_keys=list(_event(stored.id, 1)))
    with db.write(engine) as conn:
        prepared.run(conn, _event(stored.id, 9101))
    with pytest.raises(sa.exc.IntegrityError), db.write(engine) as conn:
        prepared.run(conn, _event(stored.id, 9101))


def test_outside_a_transaction_nothing_is_committed_behind_the_callers_back(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """A connection with no transaction begun: the statement begins one, as SQLAlchemy's
    own execute would, and a rollback takes the row away (SQLite's driver, used
    directly, would have committed it at once)."""
    prepared = Prepared(_INSERT, column_keys=list(_event(stored.id, 1)))
    with engine.connect() as conn:
        assert not conn.in_transaction()
        prepared.run(conn, _event(stored.id, 9201))
        conn.rollback()
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(EVENT).where(EVENT.c.seq == 9201)
        ).scalar()
    assert count == 0


class _Counted(sa.types.TypeDecorator[str]):
    """Text whose bind conversions are counted."""

    impl = sa.String
    cache_ok = True
    converted: list[str] = []  # noqa: RUF012  # one list for the test, cleared by it

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        self.converted.append(str(value))
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        self.converted.append(f"read {value}")
        return value  # type: ignore[no-any-return]


def test_many_rows_convert_a_value_they_share_once(engine: Engine, stored: StoredRoadmap) -> None:
    """A batch binds one object (its moment, its effective date) to every row: on the
    driver's cursor it is converted once while it comes again, and each other value on
    its own; what is stored is as one by one."""
    names = list(_event(stored.id, 1))
    insert = sa.insert(EVENT).values(
        {
            name: sa.bindparam(name, type_=_Counted()) if name == "comment" else sa.bindparam(name)
            for name in names
        }
    )
    shared, other = "общий", "другой"
    comments = [shared, shared, other, shared]
    _Counted.converted.clear()
    with db.write(engine) as conn:
        Prepared(insert).run(
            conn, [_event(stored.id, 9301 + n, comment=text) for n, text in enumerate(comments)]
        )
    with engine.connect() as conn:
        stored_comments = conn.execute(
            sa.select(EVENT.c.comment).where(EVENT.c.seq >= 9301).order_by(EVENT.c.seq)
        ).scalars()
        assert list(stored_comments) == comments
    if db.is_sqlite(engine):
        assert _Counted.converted == [shared, other, shared]
    else:  # through SQLAlchemy: every row's value converted
        assert _Counted.converted == comments


def test_rows_process_a_value_equal_to_the_row_befores_once(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """A read of many rows that repeat a value (every center's actor scope, a batch's
    last dates): text, a date, None processed once while it comes again; a JSON object
    each row's own, so a reader that changes one changes no other."""
    comments = ["общий", "общий", "другой", "общий"]
    with db.write(engine) as conn:
        Prepared(_INSERT, column_keys=list(_event(stored.id, 1))).run(
            conn, [_event(stored.id, 9401 + n, comment=text) for n, text in enumerate(comments)]
        )
    select = (
        sa.select(
            sa.type_coerce(EVENT.c.comment, _Counted()).label("comment"),
            EVENT.c.effective_date,
            EVENT.c.evidence,
        )
        .where(EVENT.c.seq >= sa.bindparam("first"))
        .order_by(EVENT.c.seq)
    )
    _Counted.converted.clear()
    with db.read(engine) as conn:
        found = Prepared(select).rows(conn, {"first": 9401})
    assert [row.comment for row in found] == comments
    assert {row.effective_date for row in found} == {date(2026, 11, 29)}
    assert [row.evidence for row in found] == [{"department_order": "№ 1"}] * 4
    assert len({id(row.evidence) for row in found}) == 4
    if db.is_sqlite(engine):
        assert _Counted.converted == ["read общий", "read другой", "read общий"]
    else:  # through SQLAlchemy: every row's value processed
        assert _Counted.converted == [f"read {text}" for text in comments]


def test_runs_one_after_another_convert_a_value_given_again_once(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """A transaction per row binds the same object (the file's effective date) to each
    run, and reads the same raw value (the user's scope) in each: on the driver's cursor
    the object is bound as the run before bound it, an equal object of its own is
    converted again; the raw value read again is processed once, a JSON object is each
    run's own."""
    names = list(_event(stored.id, 1))
    insert = Prepared(
        sa.insert(EVENT).values(
            {
                n: sa.bindparam(n, type_=_Counted()) if n == "comment" else sa.bindparam(n)
                for n in names
            }
        )
    )
    shared = "".join(["об", "щий"])  # an object of its own, not the interned constant
    equal = "".join(["об", "щий"])
    assert shared == equal
    assert shared is not equal
    select = Prepared(
        sa.select(
            sa.type_coerce(EVENT.c.comment, _Counted()).label("comment"), EVENT.c.evidence
        ).where(EVENT.c.seq == sa.bindparam("seq"))
    )
    _Counted.converted.clear()
    for n, text in enumerate([shared, shared, equal]):
        with db.write(engine) as conn:
            insert.run(conn, _event(stored.id, 9501 + n, comment=text))
    assert _Counted.converted == (["общий"] * (2 if db.is_sqlite(engine) else 3))
    _Counted.converted.clear()
    found = []
    for n in range(3):
        with db.read(engine) as conn:
            found.append(select.first(conn, {"seq": 9501 + n}))
    assert [row.comment for row in found] == ["общий"] * 3
    assert [row.evidence for row in found] == [{"department_order": "№ 1"}] * 3
    assert len({id(row.evidence) for row in found}) == 3
    read = ["read общий"] * (1 if db.is_sqlite(engine) else 3)
    assert _Counted.converted == read


def test_a_statements_own_values_and_the_parameters_not_given_bind_as_sqlalchemy_binds(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """A literal of the statement ('center') binds its value unless the caller names its
    parameter (then the caller's value), whether the caller gives every other parameter
    or leaves one with a default out (None here: the comment matches no row, the seq
    does): the rows SQLAlchemy's execute finds."""
    with db.write(engine) as conn:
        Prepared(_INSERT, column_keys=list(_event(stored.id, 1))).run(
            conn,
            [
                _event(stored.id, 9501),
                _event(stored.id, 9502, entity_kind="cycle"),
            ],
        )
    select = (
        sa.select(EVENT.c.seq)
        .where(
            EVENT.c.entity_kind == sa.bindparam("kind", "center"),
            EVENT.c.seq >= sa.bindparam("first"),
            sa.or_(
                EVENT.c.comment == sa.bindparam("comment", None, type_=sa.String), EVENT.c.seq > 0
            ),
        )
        .order_by(EVENT.c.seq)
    )
    cases = [
        ({"first": 9501, "comment": None}, [9501]),
        ({"first": 9501, "comment": None, "kind": "cycle"}, [9502]),
        ({"first": 9501}, [9501]),
        ({"first": 9501, "kind": "cycle"}, [9502]),
    ]
    with db.read(engine) as conn:
        for params, seqs in cases:
            assert [row.seq for row in conn.execute(select, params)] == seqs
            assert [row.seq for row in Prepared(select).rows(conn, params)] == seqs


@pytest.mark.parametrize(
    "evidence",
    [
        {"department_order": "№ 1", "act": 'кавычки " и \\ и\nстрока\u2028'},
        {},
        {"files": [{"name": "акт.pdf", "size": 3}], "act": "1"},
    ],
)
def test_json_is_stored_as_json_dumps_writes_it(
    engine: Engine, stored: StoredRoadmap, evidence: dict[str, Any]
) -> None:
    """The engines' JSON text (`db.json_text`, a mapping of texts written directly) is
    the text json.dumps makes, as the database holds it (PostgreSQL's json type keeps
    the text it was given), and reads back as it was given."""
    with db.write(engine) as conn:
        conn.execute(_INSERT, _event(stored.id, 9601, evidence=evidence))
    column = "evidence" if db.is_sqlite(engine) else "evidence::text"
    with engine.connect() as conn:
        text = conn.exec_driver_sql(f"SELECT {column} FROM event WHERE seq = 9601").scalar()
    assert text == json.dumps(evidence)
    with db.read(engine) as conn:
        found = conn.execute(sa.select(EVENT.c.evidence).where(EVENT.c.seq == 9601)).scalar()
    assert found == evidence
