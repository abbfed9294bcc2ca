"""Chain heads kept outside the database: the anchors of the audit chain.

The chain of `workflow.engine.audit` proves that stored events were not changed *one by
one*; someone who can write the database can still recompute every hash after an edit
and the head with them, or delete everything. A head written down elsewhere (the anchor
file, a letter, a printed ``SEQ:HASH``) closes that gap: the chain found later must
*extend* it (the event at that sequence number still has that hash, and the chain from
genesis is intact up to the current head).

The anchor file (``anchor_file`` / ``TOCHKA_ANCHOR_FILE``) is a text file outside
``./var`` to which lines are only ever appended, tab-separated::

    roadmap code, sequence number, hash, recorded time (UTC, ISO), database, chain

The database field is where the database was (a SQLite file's path, a URL); the chain
field is the hash of the roadmap's first event (its ``load``), which no copy, restore or
move changes: it names the chain wherever the database now lives. A line is checked
against a database when its chain is that roadmap's chain, or its database field is this
database; a line written before the chain field existed (five fields) is matched by its
roadmap code when no other line is. `select_kept` says which lines apply.

``tochka audit anchor`` and the daemon (after each tick) append the heads that moved
since the file's last line for that roadmap and database.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, system_clock
from base.errors import InputError, TochkaError, os_reason
from workflow.config import Settings
from workflow.storage.tables import EVENT, GENESIS_HASH, HEAD, ROADMAP

__all__ = [
    "Anchor",
    "AnchorCheck",
    "ChainRewritten",
    "Head",
    "anchor_path",
    "append_anchor",
    "append_restart",
    "chain_ids",
    "check_anchors",
    "database_id",
    "daemon_anchor",
    "heads",
    "kept_for",
    "last_known",
    "parse_head",
    "read_anchors",
    "select_kept",
]

log = logging.getLogger("tochka.anchors")

#: The roadmap field of a restart marker (`append_restart`).
RESTART = "*"
# A plain hash is 64 hex digits; a sealed one (keyed chain) ``k:`` and 62.
_HEAD_TEXT = re.compile(r"(\d+):(k:[0-9a-f]{62}|[0-9a-f]{64})")


@dataclass(frozen=True, kw_only=True, slots=True)
class Head:
    """A roadmap's chain head: the last sequence number and its hash."""

    roadmap: str
    seq: int
    hash: str

    @property
    def text(self) -> str:
        """The printable form ``SEQ:HASH`` (the full hash)."""
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Anchor:
    """A kept head: from the anchor file (``line``) or from ``--expect`` (``line`` None)."""

    roadmap: str | None  # None: ``--expect`` without a roadmap (the only one)
    seq: int
    hash: str
    recorded_at: datetime | None = None
    database: str | None = None
    #: The hash of the roadmap's first event when the line was written (None: a line of
    #: the older five-field form, or ``--expect``).
    chain: str | None = None
    source: str = "--expect"
    line: int | None = None

    @property
    def text(self) -> str:
        return f"{self.seq}:{self.hash}"

    @property
    def where(self) -> str:
        """Where the kept head comes from, for messages."""
        if self.line is None:
            return self.source
        when = f", записан {self.recorded_at:%d.%m.%Y %H:%M} UTC" if self.recorded_at else ""
        return f"{self.source}, строка {self.line}{when}"


class ChainRewritten(TochkaError):
    """The chain does not extend a kept head: it was rewritten, cut or wiped."""

    def __init__(self, *, roadmap: str, kept: Anchor, found: str, why: str) -> None:
        self.roadmap = roadmap
        self.kept = kept
        self.found = found
        super().__init__(
            f"Журнал аудита дорожной карты «{roadmap}» переписан: {why} "
            f"Сохранённый заголовок {kept.text} ({kept.where}); в базе {found}.",
            hint="Цепочка в базе не продолжает сохранённую: данные изменены в обход "
            "tochka. Восстановите базу из резервной копии, которая проходит tochka backup "
            "verify, и выясните, кто имел доступ к файлам базы или права владельца схемы.",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class AnchorCheck:
    """What `check_anchors` compared for one roadmap."""

    roadmap: str
    checked: int  # kept heads the chain was found to extend
    ahead: int  # kept heads newer than the chain (a backup older than them)


def parse_head(text: str, *, what: str = "--expect") -> tuple[int, str]:
    """``SEQ:HASH`` → (seq, hash).

    Raises:
        InputError: not a sequence number, a colon and a 64-digit hexadecimal hash.
    """
    match = _HEAD_TEXT.fullmatch(text.strip().lower())
    if match is None:
        raise InputError(
            f"{what}: «{text}» — не заголовок журнала.",
            hint="Нужно «номер:хеш», например 57:" + "ab" * 32 + " (как печатает "
            "tochka --show-head или tochka audit anchor).",
        )
    return int(match[1]), match[2]


def heads(conn: Connection, codes: Iterable[str] | None = None) -> list[Head]:
    """Every roadmap's chain head (or those of ``codes``), by roadmap code.

    A roadmap without events has the genesis head ``0:000…``.
    """
    query = (
        sa.select(ROADMAP.c.code, HEAD.c.seq, HEAD.c.hash)
        .select_from(ROADMAP.outerjoin(HEAD, HEAD.c.roadmap_id == ROADMAP.c.id))
        .order_by(ROADMAP.c.code)
    )
    if codes is not None:
        query = query.where(ROADMAP.c.code.in_(list(codes)))
    return [
        Head(roadmap=r.code, seq=r.seq or 0, hash=r.hash or GENESIS_HASH)
        for r in conn.execute(query)
    ]


def database_id(url: str) -> str:
    """How an anchor names its database: the SQLite file's absolute path, or the URL
    without its password."""
    normalized = db.normalize_url(url)
    path = db.sqlite_path(normalized)
    if path is not None:
        return str(path.expanduser().resolve())
    return db.describe_url(normalized)


def anchor_path(settings: Settings) -> Path | None:
    """The configured anchor file, or None.

    Raises:
        InputError: the file is inside Tochka's data folder (``var_dir``): what wipes
            the database would take its anchors too.
    """
    if not settings.anchor_file:
        return None
    path = Path(settings.anchor_file).expanduser()
    var_dir = Path(settings.var_dir).expanduser().resolve()
    if path.resolve().is_relative_to(var_dir):
        raise InputError(
            f"Файл якорей {path} (anchor_file, TOCHKA_ANCHOR_FILE) лежит в папке данных "
            f"{settings.var_dir}: вместе с базой пропадут и якоря.",
            hint="Укажите файл вне папки данных, например /var/lib/tochka-anchors/anchors.tsv "
            "на другом диске или в каталоге, куда пишет только демон.",
        )
    return path


def read_anchors(path: Path) -> list[Anchor]:
    """The kept heads of an anchor file, in file order (a missing file has none).

    Raises:
        InputError: the file cannot be read, or a line is not an anchor (named by number).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except IsADirectoryError:
        raise InputError(f"Файл якорей {path} — папка, а не файл.") from None
    except UnicodeDecodeError:
        raise InputError(f"Файл якорей {path} не в кодировке UTF-8.") from None
    except OSError as exc:
        raise InputError(f"Файл якорей {path} не прочитан: {os_reason(exc)}.") from None
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            if len(parts) not in (5, 6):
                raise ValueError
            seq, hash_ = parse_head(f"{parts[1]}:{parts[2]}")
            recorded = datetime.fromisoformat(parts[3])
            chain = parts[5].strip() if len(parts) == 6 else ""
            if chain:
                parse_head(f"1:{chain}")
        except (ValueError, InputError):
            raise InputError(
                f"Файл якорей {path}, строка {number}: не якорь журнала.",
                hint="Строка — поля через табуляцию: дорожная карта, номер события, хеш, "
                "время записи, база и (в новых строках) цепочка. Файл пишет только tochka; "
                "проверьте, кто его менял.",
            ) from None
        anchors.append(
            Anchor(
                roadmap=parts[0],
                seq=seq,
                hash=hash_,
                recorded_at=recorded,
                database=parts[4],
                chain=chain or None,
                source=str(path),
                line=number,
            )
        )
    return anchors


def append_anchor(
    engine: Engine, path: Path, *, url: str, clock: Clock = system_clock
) -> list[Head]:
    """Append the heads that moved since the file's last line for each roadmap.

    Args:
        engine: the database.
        path: the anchor file (created, owner-only, if missing; its folder must exist).
        url: the database's URL, for the line's database field.
        clock: the recorded time.

    Returns:
        The heads appended (none when every head is already the file's last).

    Raises:
        InputError: the file cannot be read or written.
    """
    database = database_id(url)
    last = {a.roadmap: a for a in last_known(read_anchors(path), database=database)}
    with db.read(engine) as conn:
        current = heads(conn)
        chains = chain_ids(conn)
    moved = [h for h in current if (kept := last.get(h.roadmap)) is None or kept.text != h.text]
    if not moved:
        return []
    now = clock().astimezone(UTC).isoformat(timespec="seconds")
    _append(
        path,
        "".join(
            f"{h.roadmap}\t{h.seq}\t{h.hash}\t{now}\t{database}\t{chains.get(h.roadmap, '')}\n"
            for h in moved
        ),
    )
    return moved


def chain_ids(conn: Connection) -> dict[str, str]:
    """Each roadmap's chain identity: the hash of its first event (roadmaps without
    events have none). A copy, a restore or a move keeps it; a new ``init`` makes another
    (the load event holds the time it was recorded)."""
    rows = conn.execute(
        sa.select(ROADMAP.c.code, EVENT.c.hash)
        .join(EVENT, EVENT.c.roadmap_id == ROADMAP.c.id)
        .where(EVENT.c.seq == 1)
    )
    return {r.code: str(r.hash) for r in rows}


def select_kept(
    anchors: Sequence[Anchor], *, database: str, chains: Mapping[str, str], codes: Sequence[str]
) -> list[Anchor]:
    """The lines of an anchor file that apply to a database.

    Args:
        anchors: the file's lines (`read_anchors`).
        database: the database as the lines name it (`database_id`).
        chains: its roadmaps' chain identities (`chain_ids`).
        codes: its roadmaps' codes.

    Returns:
        After a restart marker for ``database`` (``init --new``, ``audit anchor
        --restored``): its own lines after the last marker. Otherwise its own lines and
        every line (after its own database's last marker) whose chain is that roadmap's
        chain here: the lines of the database this one was copied or restored from. When
        none of these exist: the lines of this database's roadmap codes that name no
        chain (the older five-field lines), or any chain when the roadmap here has no
        events left to have one.
    """
    own = kept_for(anchors, database=database)
    if any(a.roadmap == RESTART and a.database == database for a in anchors):
        return own
    elsewhere = [
        a
        for a in kept_for(anchors, database=None)
        if a.database != database and a.chain is not None and chains.get(a.roadmap or "") == a.chain
    ]
    if own or elsewhere:
        return own + elsewhere
    return [
        a
        for a in kept_for(anchors, database=None)
        if a.roadmap in codes and (a.chain is None or a.roadmap not in chains)
    ]


def daemon_anchor(engine: Engine, *, clock: Clock = system_clock) -> None:
    """The daemon's call after a tick: append the heads that moved to the configured
    anchor file (none configured: nothing). A failure is logged, never raised: the tick's
    work is done, and the next tick anchors again.

    A configured file that does not exist is not created: it vanished (``init`` creates
    it), and a new file holding only today's heads would make ``audit verify`` pass over
    whatever was lost. The log says so each tick; ``tochka audit anchor`` starts a file.
    """
    from workflow.config import load_settings

    try:
        path = anchor_path(load_settings())
        if path is None:
            return
        if not path.exists():
            log.error(
                "event=anchor_failed error=«Файл якорей %s не найден: демон не создаёт его "
                "заново. Верните файл или начните его: tochka audit anchor»",
                path,
            )
            return
        url = engine.url.render_as_string(hide_password=False)
        for h in append_anchor(engine, path, url=url, clock=clock):
            log.info("event=anchor_appended roadmap=%s head=%s", h.roadmap, h.text)
    except Exception as exc:  # the daemon stays up; said in its log
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.error("event=anchor_failed error=%s", first)


def check_anchors(
    conn: Connection,
    kept: Sequence[Anchor],
    *,
    codes: Sequence[str],
    is_copy: bool = False,
) -> list[AnchorCheck]:
    """Check that each roadmap's chain extends every kept head of that roadmap.

    Run after `audit.verify` has found each chain intact from genesis to its head; this
    compares the hash stored at each kept sequence number with the kept one.

    Args:
        conn: the database (or a backup copy).
        kept: the kept heads (``roadmap`` None: the only roadmap of ``codes``).
        codes: the roadmaps in the database.
        is_copy: a backup: a kept head newer than the chain is counted, not refused
            (a copy made before the head was kept is older, not rewritten) — unless the
            copy has no events at all, or its last event was recorded after the head was
            kept (a copy that new must hold that head: it was cut or rewritten).

    Raises:
        ChainRewritten: a kept head whose sequence number holds another hash (the chain
            was rewritten), is beyond the chain's head (events erased), or names a
            roadmap the database no longer has. The latest kept head is compared first,
            so a refusal names the newest line that fails.
    """
    found = {h.roadmap: h for h in heads(conn)}
    checks = {code: AnchorCheck(roadmap=code, checked=0, ahead=0) for code in codes}
    for anchor in reversed(kept):
        code = anchor.roadmap
        if code is None:
            if not found:
                raise ChainRewritten(
                    roadmap="?",
                    kept=anchor,
                    found="нет ни одной дорожной карты",
                    why="дорожные карты удалены из базы вместе с журналом.",
                )
            if len(found) > 1:
                raise InputError(
                    f"--expect: в базе дорожных карт {len(found)}, чей это заголовок?",
                    hint="Укажите дорожную карту: --roadmap КОД.",
                )
            code = next(iter(found))
        head = found.get(code)
        if head is None:
            raise ChainRewritten(
                roadmap=code,
                kept=anchor,
                found="нет этой дорожной карты",
                why="дорожная карта удалена из базы вместе с журналом.",
            )
        if anchor.seq > head.seq:
            last = _last_recorded(conn, code) if is_copy and head.seq > 0 else None
            if is_copy and head.seq == 0:
                raise ChainRewritten(
                    roadmap=code,
                    kept=anchor,
                    found=f"заголовок {head.text}",
                    why=f"в копии нет ни одного события, а сохранённый заголовок — событие "
                    f"№ {anchor.seq}: журнал в копии очищен.",
                )
            # Anchors are written to the second; an event of the same second is not "after".
            if is_copy and not (
                anchor.recorded_at is not None
                and last is not None
                and anchor.recorded_at < last.replace(microsecond=0)
            ):
                checks[code] = _counted(checks.get(code), code, ahead=1)
                continue
            if is_copy and last is not None:
                raise ChainRewritten(
                    roadmap=code,
                    kept=anchor,
                    found=f"заголовок {head.text}, последнее событие записано "
                    f"{last:%d.%m.%Y %H:%M:%S} UTC",
                    why=f"в копии {head.seq} событий, а сохранённый заголовок — событие "
                    f"№ {anchor.seq}, записанный раньше последнего события копии: копия "
                    "не старше этого заголовка, значит, журнал в ней обрезан или переписан.",
                )
            raise ChainRewritten(
                roadmap=code,
                kept=anchor,
                found=f"заголовок {head.text}",
                why=f"в журнале {head.seq} событий, а сохранённый заголовок — событие "
                f"№ {anchor.seq}: события удалены (журнал обрезан или очищен).",
            )
        stored = _hash_at(conn, code, anchor.seq)
        if stored != anchor.hash:
            raise ChainRewritten(
                roadmap=code,
                kept=anchor,
                found=f"у события № {anchor.seq} хеш {stored}",
                why=f"событие № {anchor.seq} не то, что было сохранено: цепочка пересчитана "
                "после изменения, вставки или удаления событий.",
            )
        checks[code] = _counted(checks.get(code), code, checked=1)
    return list(checks.values())


def _counted(
    check: AnchorCheck | None, code: str, *, checked: int = 0, ahead: int = 0
) -> AnchorCheck:
    before = check or AnchorCheck(roadmap=code, checked=0, ahead=0)
    return AnchorCheck(roadmap=code, checked=before.checked + checked, ahead=before.ahead + ahead)


def _last_recorded(conn: Connection, code: str) -> datetime | None:
    """When the roadmap's last event was recorded (UTC), or None without events."""
    # max() keeps the column's type: read back aware UTC on both backends.
    last: datetime | None = conn.execute(
        sa.select(sa.func.max(EVENT.c.recorded_at))
        .join(ROADMAP, ROADMAP.c.id == EVENT.c.roadmap_id)
        .where(ROADMAP.c.code == code)
    ).scalar()
    return last


def _hash_at(conn: Connection, code: str, seq: int) -> str:
    if seq == 0:
        return GENESIS_HASH
    stored = conn.execute(
        sa.select(EVENT.c.hash)
        .join(ROADMAP, ROADMAP.c.id == EVENT.c.roadmap_id)
        .where(ROADMAP.c.code == code, EVENT.c.seq == seq)
    ).scalar()
    return str(stored) if stored is not None else "нет события"


def kept_for(anchors: Sequence[Anchor], *, database: str | None) -> list[Anchor]:
    """The heads kept for one database: its lines after its last restart marker (a
    database re-created by ``init --new`` or restored from a copy starts a new record).

    Args:
        anchors: the lines of an anchor file (`read_anchors`).
        database: the database (`database_id`); None: every database's, each after its
            own last marker (a copy whose origin is not known).
    """
    kept: dict[str, list[Anchor]] = {}
    for a in anchors:
        if a.database is None:
            continue
        if a.roadmap == RESTART:
            kept[a.database] = []
        else:
            kept.setdefault(a.database, []).append(a)
    if database is not None:
        return kept.get(database, [])
    return [a for lines in kept.values() for a in lines]


def last_known(anchors: Sequence[Anchor], *, database: str) -> list[Anchor]:
    """The last kept head of each roadmap of ``database`` (for init's refusal)."""
    last: dict[str | None, Anchor] = {}
    for a in kept_for(anchors, database=database):
        last[a.roadmap] = a
    return list(last.values())


def append_restart(path: Path, *, url: str, clock: Clock = system_clock) -> None:
    """Record that ``url``'s database starts a new chain record (``init --new``, or
    ``audit anchor --restored`` after a restore): the heads kept before no longer apply.

    Raises:
        InputError: the file cannot be written.
    """
    now = clock().astimezone(UTC).isoformat(timespec="seconds")
    _append(path, f"{RESTART}\t0\t{GENESIS_HASH}\t{now}\t{database_id(url)}\n")


def _append(path: Path, lines: str) -> None:
    try:
        # O_APPEND: concurrent writers (the daemon, an operator) never overwrite a line.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, lines.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputError(
            f"Не удалось дописать файл якорей {path}: {os_reason(exc)}.",
            hint="Проверьте, что папка существует и открыта для записи этой учётной записи.",
        ) from None
