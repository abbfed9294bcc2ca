"""The audit trail: append-only events chained by SHA-256, one chain per roadmap.

Each event's hash covers its fields, its sequence number and the previous event's hash,
so changing, deleting or reordering any stored event breaks the chain; the chain head
(`audit_head`) carries the last sequence number and hash, so a deleted tail is noticed
too.

The plain chain is public: whoever can write the database can recompute it after an
edit. Two things close that gap. The heads kept outside the database
(`workflow.engine.anchors`) reveal a rewritten, cut or wiped chain. The keyed chain
(``audit_key`` / ``TOCHKA_AUDIT_KEY``, `workflow.engine.audit_key`) seals each new event
with HMAC-SHA-256 under a key the database never holds; its hash is ``k:`` and 62 hex
digits, so a forged event (appended or rewritten) needs the key. Once the chain has a
sealed event, an unsealed one after it is refused; without the key, sealed events are
checked for their links only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from json.encoder import encode_basestring
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import as_utc
from base.jsontext import texts_object
from workflow.engine import audit_key
from workflow.errors import AuditBroken
from workflow.storage.prepared import Prepared
from workflow.storage.tables import CENTER, CYCLE, EVENT, GENESIS_HASH, HEAD

CREATE_TRIGGER = "create"
_REPLAYED = frozenset({"center", "cycle"})

# Built once: constructing statements per call costs more than running them on SQLite.
_HEAD_LOCK = (
    sa.select(HEAD.c.seq, HEAD.c.hash)
    .where(HEAD.c.roadmap_id == sa.bindparam("rid"))
    .with_for_update()
)
_HEAD_UPDATE = (
    sa.update(HEAD)
    .where(HEAD.c.roadmap_id == sa.bindparam("rid"))
    .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"))
)
_EVENT_INSERT = sa.insert(EVENT)
# These three run on every transition, compiled once and run on the driver's cursor on
# SQLite; `append` gives an event every column but its id.
_PREPARED_INSERT = Prepared(
    _EVENT_INSERT, column_keys=[c.name for c in EVENT.columns if c.name != "id"]
)
_PREPARED_HEAD_UPDATE = Prepared(_HEAD_UPDATE)
_PREPARED_HEAD_LOCK = Prepared(_HEAD_LOCK)


@dataclass(frozen=True, kw_only=True)
class NewEvent:
    """What a caller knows about an event; the chain fields are added on append."""

    entity_kind: str
    entity_id: int
    entity_key: str
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    recorded_at: datetime
    effective_date: date
    # {kind: text}; a transition's files under `workflow.engine.evidence.FILES_KEY`.
    evidence: Mapping[str, Any] | None = None
    comment: str | None = None
    on_behalf_of: str | None = None


#: The start of a sealed (keyed) event's hash.
SEALED = "k:"


def event_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of an event's fields and the previous hash."""
    return hashlib.sha256(_canonical(fields, prev_hash)).hexdigest()


def sealed_hash(fields: Mapping[str, Any], prev_hash: str, key: bytes) -> str:
    """``k:`` and HMAC-SHA-256 under ``key`` (62 hex digits: the column holds 64)."""
    digest = hmac.new(key, _canonical(fields, prev_hash), hashlib.sha256).hexdigest()
    return SEALED + digest[: 64 - len(SEALED)]


# What json.dumps(ensure_ascii=False, sort_keys=True, separators=(",", ":")) builds on
# every call, built once.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))

#: The canonical object with each value a ``%s``, its keys in the order ``sort_keys``
#: writes them; `_canonical` gives the values in that order.
_TEXT = (
    "{"
    + ",".join(
        f"{encode_basestring(key)}:%s"
        for key in (
            "actor",
            "comment",
            "effective_date",
            "entity_id",
            "entity_key",
            "entity_kind",
            "evidence",
            "from_state",
            "on_behalf_of",
            "prev_hash",
            "recorded_at",
            "seq",
            "to_state",
            "trigger",
        )
    )
    + "}"
)
#: A value's text as the encoder writes it inside an object, for the types an event's
#: fields have; any other type is given to the encoder itself (`_CANONICAL.encode` of a
#: value alone writes it as inside an object: a dict with its keys sorted).
_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,
    int: int.__repr__,
    type(None): lambda _none: "null",
}


def _texts(value: dict[Any, Any]) -> str:
    """Evidence as the canonical encoder writes it (`base.jsontext` for texts by kind;
    the files' records, or any other value, by the encoder itself, which refuses what it
    always refused)."""
    text = texts_object(value, encode_basestring, sort=True, colon=":", comma=",")
    return _CANONICAL.encode(value) if text is None else text


_ENCODERS[dict] = _texts


def _canonical(fields: Mapping[str, Any], prev_hash: str) -> bytes:
    """The canonical JSON of an event, each value encoded alone into `_TEXT`: the bytes
    the encoder makes of the whole object (test_audit_canonical), without building that
    object for each event and walking it."""
    evidence = fields["evidence"]
    if evidence and type(evidence) is not dict:
        evidence = dict(evidence)  # any mapping, written as the dict it holds
    values = (
        fields["actor"],
        fields["comment"],
        _iso(fields["effective_date"]),
        fields["entity_id"],
        fields["entity_key"],
        fields["entity_kind"],
        evidence or None,  # no evidence and none given are both null
        fields["from_state"],
        fields["on_behalf_of"],
        prev_hash,
        _moment(fields["recorded_at"]),
        fields["seq"],
        fields["to_state"],
        fields["trigger"],
    )
    encoder, other, text = _ENCODERS.get, _CANONICAL.encode, encode_basestring
    # Most values are texts: written without looking their type's encoder up.
    return (
        _TEXT % tuple([text(v) if type(v) is str else encoder(type(v), other)(v) for v in values])
    ).encode("utf-8")


_NO_MOMENT = object()  # no event's moment (`append`)
# The moment last encoded and its text: the events of one `append` (an import's thousand
# rows) share one ``recorded_at`` object, whose isoformat is a fifth of the encoding.
_last_moment: tuple[object, str] = (object(), "")


def _moment(value: date | datetime | str) -> str:
    global _last_moment
    last, text = _last_moment
    if value is not last:  # the same object, never only an equal one (09:00Z == 12:00+03)
        text = _iso(value)
        _last_moment = (value, text)
    return text


def _iso(value: date | datetime | str) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value.isoformat() if isinstance(value, date) else value


#: The columns of the chain head a caller reads and locks together with its own row
#: (`append`'s ``head``), with `head_join`.
HEAD_SEQ = HEAD.c.seq.label("head_seq")
HEAD_HASH = HEAD.c.hash.label("head_hash")


def head_join(left: sa.FromClause, roadmap_id: sa.ColumnElement[int]) -> sa.Join:
    """``left`` joined with its roadmap's chain head, to read and lock both in one
    statement (``FOR UPDATE OF left, audit_head`` on PostgreSQL: the entity's row before
    the head's, the order every writer takes them in). An inner join: a roadmap whose
    chain has no head yet reads no row, and the caller falls back to a read without it."""
    return left.join(HEAD, HEAD.c.roadmap_id == roadmap_id)


def lock_head(conn: Connection, roadmap_id: int) -> tuple[int, str] | None:
    """The roadmap's chain head (seq, hash), locked until the transaction ends (row lock
    on PostgreSQL; SQLite holds the write lock already); None: the chain has no head
    yet (`append` creates it)."""
    found = _PREPARED_HEAD_LOCK.first(conn, {"rid": roadmap_id})
    return None if found is None else (found.seq, found.hash)


def append(
    conn: Connection,
    roadmap_id: int,
    events: Sequence[NewEvent],
    *,
    head: tuple[int, str] | None = None,
) -> int:
    """Append events to the roadmap's chain inside the caller's transaction.

    Locks the chain head (row lock on PostgreSQL; SQLite holds the write lock already),
    so concurrent transactions extend the chain one after the other.

    Args:
        head: the head's (seq, hash) as the caller already read and locked it in this
            transaction (`head_join`, `lock_head`); None reads and locks it here.

    Returns:
        The sequence number of the last appended event.
    """
    if head is None:
        head = lock_head(conn, roadmap_id)
    if head is None:
        seq, prev = 0, GENESIS_HASH
        conn.execute(sa.insert(HEAD).values(roadmap_id=roadmap_id, seq=0, hash=GENESIS_HASH))
    else:
        seq, prev = head
    rows: list[dict[str, Any]] = []
    key = audit_key.current()  # sealed with the key in use, looked up once per append
    # The events of a batch share one moment: made UTC once while the same object comes.
    given: object = _NO_MOMENT
    moment: datetime | None = None
    for new in events:
        seq += 1
        if new.recorded_at is not given:
            given, moment = new.recorded_at, as_utc(new.recorded_at)
        evidence = new.evidence
        fields: dict[str, Any] = {
            "roadmap_id": roadmap_id,
            "seq": seq,
            "entity_kind": new.entity_kind,
            "entity_id": new.entity_id,
            "entity_key": new.entity_key,
            "trigger": new.trigger,
            "from_state": new.from_state,
            "to_state": new.to_state,
            "actor": new.actor,
            "on_behalf_of": new.on_behalf_of,
            "recorded_at": moment,
            "effective_date": new.effective_date,
            # A dict is written as it is (this call keeps no reference), any other
            # mapping as the dict it holds.
            "evidence": (evidence if type(evidence) is dict else dict(evidence))
            if evidence
            else None,
            "comment": new.comment,
            "prev_hash": prev,
        }
        fields["hash"] = prev = (
            event_hash(fields, prev) if key is None else sealed_hash(fields, prev, key)
        )
        rows.append(fields)
    if rows:
        _PREPARED_INSERT.run(conn, rows if len(rows) > 1 else rows[0])
        _PREPARED_HEAD_UPDATE.run(conn, {"rid": roadmap_id, "new_seq": seq, "new_hash": prev})
    return seq


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """What `verify` checked."""

    roadmap: str
    events: int
    entities: int
    head_hash: str
    sealed: int = 0  # events sealed with the key (checked in full when the key is known)
    unchecked: int = 0  # sealed events whose content could not be checked (no key)


def _events(conn: Connection, roadmap_id: int, page: int = 5000) -> Iterator[Any]:
    # Keyset pages keep memory flat on large chains without server-side cursors.
    after = 0
    while True:
        rows = conn.execute(
            sa.select(EVENT)
            .where(EVENT.c.roadmap_id == roadmap_id, EVENT.c.seq > after)
            .order_by(EVENT.c.seq)
            .limit(page)
        ).all()
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].seq


def verify(conn: Connection, roadmap_id: int, roadmap_code: str) -> VerifyReport:
    """Recompute the chain and replay the events against the stored states.

    Raises:
        AuditBroken: names the first event whose link, hash or sequence is wrong, a tail
            missing against the head, or an entity whose stored state differs from the
            replay of its events.
    """
    prev = GENESIS_HASH
    expected_seq = 0
    secret = audit_key.current()
    sealed = unchecked = 0
    replay: dict[tuple[str, int], tuple[str, int]] = {}
    for row in _events(conn, roadmap_id):
        expected_seq += 1
        fields = row._mapping
        if row.seq != expected_seq:
            raise AuditBroken(
                roadmap=roadmap_code,
                event_id=row.id,
                seq=expected_seq,
                why=f"ожидалось событие № {expected_seq}, найдено № {row.seq} "
                "(событие удалено или порядок изменён).",
            )
        if row.prev_hash != prev:
            raise AuditBroken(
                roadmap=roadmap_code,
                event_id=row.id,
                seq=row.seq,
                why="ссылка на предыдущее событие не совпадает (событие удалено, "
                "вставлено или переставлено).",
            )
        if row.hash.startswith(SEALED):
            sealed += 1
            if secret is None:
                unchecked += 1
            elif sealed_hash(fields, prev, secret) != row.hash:
                raise AuditBroken(
                    roadmap=roadmap_code,
                    event_id=row.id,
                    seq=row.seq,
                    why="содержимое события изменено или подпись сделана другим ключом "
                    "(подпись не совпадает).",
                )
        elif secret is not None and sealed:
            raise AuditBroken(
                roadmap=roadmap_code,
                event_id=row.id,
                seq=row.seq,
                why="событие не подписано ключом, хотя предыдущие подписаны: оно записано "
                "в обход tochka (цепочка пересчитана без ключа).",
            )
        elif event_hash(fields, prev) != row.hash:
            raise AuditBroken(
                roadmap=roadmap_code,
                event_id=row.id,
                seq=row.seq,
                why="содержимое события изменено (хеш не совпадает).",
            )
        prev = row.hash
        if row.entity_kind not in _REPLAYED:
            continue  # refusals and user changes are chained but have no stored state
        key = (row.entity_kind, row.entity_id)
        count = replay.get(key, ("", 0))[1]
        replay[key] = (row.to_state, count + 1)
    head = conn.execute(
        sa.select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.roadmap_id == roadmap_id)
    ).one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != expected_seq or head_hash != prev:
        raise AuditBroken(
            roadmap=roadmap_code,
            event_id=None,
            seq=expected_seq + 1,
            why=f"в журнале {expected_seq} событий, а заголовок цепочки указывает на "
            f"№ {head_seq}: последние события удалены или заголовок подменён.",
        )
    entities = len(replay)
    _check_replay(conn, roadmap_id, roadmap_code, replay)
    return VerifyReport(
        roadmap=roadmap_code,
        events=expected_seq,
        entities=entities,
        head_hash=prev,
        sealed=sealed,
        unchecked=unchecked,
    )


def _check_replay(
    conn: Connection,
    roadmap_id: int,
    roadmap_code: str,
    replay: dict[tuple[str, int], tuple[str, int]],
) -> None:
    for kind, table, key_column in (
        ("center", CENTER, CENTER.c.code),
        ("cycle", CYCLE, CYCLE.c.id),
    ):
        rows = conn.execute(
            sa.select(table.c.id, table.c.state, table.c.version, key_column.label("key")).where(
                table.c.roadmap_id == roadmap_id
            )
        )
        for row in rows:
            state, count = replay.pop((kind, row.id), (None, 0))
            if state != row.state or count != row.version:
                what = "центр" if kind == "center" else "цикл"
                raise AuditBroken(
                    roadmap=roadmap_code,
                    event_id=None,
                    seq=None,
                    why=f"{what} {row.key}: состояние «{row.state}» (версия {row.version}) "
                    f"не совпадает с журналом («{state}», событий {count}).",
                )
    if replay:
        (kind, entity_id), _ = next(iter(replay.items()))
        raise AuditBroken(
            roadmap=roadmap_code,
            event_id=None,
            seq=None,
            why=f"в журнале есть события объекта {kind} {entity_id}, которого нет в базе.",
        )
