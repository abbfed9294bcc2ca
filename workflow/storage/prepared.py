"""Hot statements compiled once per process and run on the driver's own cursor.

SQLAlchemy spends some 40-50 µs around each execution of even a cached statement
(execution context, parameter processing, result metadata) against a few µs of SQLite's
own work; a transition runs four such statements. `Prepared` compiles a statement once
per dialect class, keeps its SQL, the order of its parameters, their type processors and
the result columns' processors, and runs it on the DBAPI connection inside the
transaction ``db.write`` opened (SQLAlchemy's, or the driver's own in a write on the
connection ``db.holding`` keeps): the same SQL, the same values
stored and read back as SQLAlchemy would, its errors wrapped as SQLAlchemy wraps them
(`sqlalchemy.exc.IntegrityError` and the rest), so callers see no difference.

Only SQLite takes the short path. Elsewhere (PostgreSQL, where the network round trip
dominates) and outside a transaction (SQLite's driver would autocommit each statement)
the statement goes through ``Connection.execute`` as before.
"""

from __future__ import annotations

import datetime
import decimal
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

Processor = Callable[[Any], Any] | None
_NOTHING = object()
#: Processed values a reader cannot change, which rows may share (`Prepared.rows`).
_IMMUTABLE = frozenset(
    {type(None), str, bytes, int, float, bool, decimal.Decimal, datetime.date, datetime.datetime}
)
Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Each positional parameter's name and its type's bind processor.
    binds: tuple[tuple[str, Processor], ...]
    defaults: Mapping[str, Any]
    #: The values the statement holds itself (a literal's bindparam: ``'center'``, the 1
    #: of ``version + 1``), which a caller does not name.
    fixed: Mapping[str, Any]
    #: Every positional parameter's value, in order, from a mapping that has them all.
    take: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    #: The positional parameters that have a processor: (position, processor).
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]
    row: Any  # a namedtuple class of the result columns, or None
    #: The result columns that have a processor: (index, processor).
    results: tuple[tuple[int, Callable[[Any], Any]], ...]
    #: Each processed parameter's last value and its bound value (`Prepared._values`).
    bound: list[tuple[Any, Any]]
    #: Each processed result column's last raw value and what it made (`Prepared.rows`),
    #: kept from one run to the next: a fire a transaction per row reads one row a run.
    last: list[tuple[Any, Any]]


class Prepared:
    """One statement, compiled once per dialect class.

    Args:
        statement: a Core statement whose parameters are all named bindparams (or
            literals); no expanding IN (give the values as separate parameters).
        column_keys: for an INSERT, the columns its parameters give (as
            ``Connection.execute`` would infer from the first row).
    """

    def __init__(self, statement: Statement, *, column_keys: Sequence[str] = ()) -> None:
        self.statement = statement
        self._column_keys = list(column_keys) or None
        self._by_dialect: dict[type[Dialect], _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(type(dialect))
        if found is not None:
            return found
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self._column_keys)
        processors = compiled._bind_processors
        columns = compiled._result_columns
        names = tuple(compiled.positiontup)
        defaults = compiled.construct_params(_check=False)
        found = _Compiled(
            sql=compiled.string,
            binds=tuple((name, processors.get(name)) for name in names),
            defaults=defaults,
            fixed={
                name: value
                for name, value in defaults.items()
                if value is not None and not isinstance(value, sa.util.symbol)
            },
            take=_taker(names),
            processed=tuple(
                (index, process)
                for index, name in enumerate(names)
                if (process := processors.get(name)) is not None
            ),
            row=namedtuple("Row", [c.keyname for c in columns]) if columns else None,  # noqa: PYI024
            results=tuple(
                (index, process)
                for index, column in enumerate(columns)
                if (process := column.type._cached_result_processor(dialect, None)) is not None
            ),
            bound=[],
            last=[],
        )
        found.bound.extend([(_NOTHING, None)] * len(found.processed))
        found.last.extend([(_NOTHING, None)] * len(found.results))
        self._by_dialect[type(dialect)] = found
        return found

    @staticmethod
    def _direct(conn: Connection) -> bool:
        if conn.dialect.name != "sqlite":
            return False
        if conn.in_transaction():
            return True
        # The driver's transaction that a held write began itself (`base.db.write` on a
        # connection `db.holding` keeps), SQLAlchemy's not opened.
        raw: Any = conn.connection.dbapi_connection
        return bool(raw.in_transaction)

    @staticmethod
    def _values(compiled: _Compiled, params: Mapping[str, Any]) -> Sequence[Any]:
        """The positional values of one run: taken at once (`_taker`) when ``params``
        names every parameter the statement does not hold itself, then processed.

        A parameter given the very object it was given last, of a type no one can
        change (a date, a moment, a text), is bound as it was then without converting it
        again: a file fired a transaction per row binds one effective date to every
        row's event. The pair kept holds the object, so its identity is not another's;
        a slot is one pair, replaced whole (threads share the statement)."""
        fixed = compiled.fixed
        try:
            values = compiled.take({**fixed, **params} if fixed else params)
        except KeyError:
            values = _given(compiled, params)
        if not compiled.processed:
            return values
        processed = list(values)
        bound = compiled.bound
        for slot, (index, process) in enumerate(compiled.processed):
            value = processed[index]
            seen, made = bound[slot]
            if value is not seen:
                made = process(value)
                if type(value) in _IMMUTABLE:
                    bound[slot] = (value, made)
            processed[index] = made
        return processed

    def _cursor(
        self, conn: Connection, compiled: _Compiled, values: Any, *, many: bool = False
    ) -> Any:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        try:
            if many:
                return raw.executemany(compiled.sql, values)
            return raw.execute(compiled.sql, values)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(
                compiled.sql,
                values,
                exc,
                conn.dialect.loaded_dbapi.Error,
                dialect=conn.dialect,
                ismulti=many,
            ) from exc

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row of a SELECT (attributes by column name, and ``_asdict()``)."""
        if not self._direct(conn):
            return list(conn.execute(self.statement, dict(params)))
        compiled = self._compiled(conn.dialect)
        cursor = self._cursor(conn, compiled, self._values(compiled, params))
        make, results = compiled.row._make, compiled.results
        if not results:
            return [make(raw) for raw in cursor]
        found = []
        # Each processed column's last raw value and what it made, in this run or an
        # earlier one: a value equal to it (of its type: 1 is not 1.0) is not processed
        # again, when what it made cannot be changed by a reader (text, a date, None:
        # every center's actor scope, a batch's last dates, the user's scope read by
        # each row's transaction of a file), never a list or a dict (each row gets its
        # own). A slot is one pair, replaced whole (threads share the statement).
        last = compiled.last
        for raw in cursor:
            values = list(raw)
            for slot, (index, process) in enumerate(results):
                value = values[index]
                seen, made = last[slot]
                if value != seen or type(value) is not type(seen):
                    made = process(value)
                    if type(made) in _IMMUTABLE:
                        last[slot] = (value, made)
                values[index] = made
            found.append(make(values))
        return found

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row of a SELECT, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None

    def run(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Run an INSERT or UPDATE once (a mapping) or for each of many (a sequence, as
        executemany); the number of rows it changed."""
        if not self._direct(conn):
            if isinstance(params, Mapping):
                return int(conn.execute(self.statement, dict(params)).rowcount)
            return int(conn.execute(self.statement, [dict(p) for p in params]).rowcount)
        compiled = self._compiled(conn.dialect)
        if isinstance(params, Mapping):
            return int(self._cursor(conn, compiled, self._values(compiled, params)).rowcount)
        return int(self._cursor(conn, compiled, self._many(compiled, params), many=True).rowcount)

    @staticmethod
    def _many(compiled: _Compiled, rows: Sequence[Mapping[str, Any]]) -> Sequence[Sequence[Any]]:
        """`_values` of every row, processed a parameter at a time: a value that is the
        same object as the row before's (a batch's one moment, its effective date) is
        converted once. The rows hold every value for the whole call, so an object seen
        is still that object (its id not another's)."""
        fixed, take = compiled.fixed, compiled.take
        try:
            taken = [take({**fixed, **row}) for row in rows] if fixed else list(map(take, rows))
        except KeyError:
            taken = [_given(compiled, row) for row in rows]
        if not compiled.processed:
            return list(taken)
        values = [list(row) for row in taken]
        for index, process in compiled.processed:
            seen: object = _NOTHING
            bound: Any = None
            for row_values in values:
                value = row_values[index]
                if value is not seen:
                    seen, bound = value, process(value)
                row_values[index] = bound
        return values


def _given(compiled: _Compiled, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """Every positional value when ``params`` leaves a parameter out: its default, as
    SQLAlchemy binds it (the slow way, for the calls that `_Compiled.take` cannot serve)."""
    defaults = compiled.defaults
    return tuple([params[n] if n in params else defaults[n] for n, _ in compiled.binds])


def _taker(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``names`` from a mapping, in order, as a tuple: `operator.itemgetter`
    (one C call instead of a lookup per name), which gives a single name's value bare."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        (name,) = names
        return lambda params: (params[name],)
    return lambda params: ()
