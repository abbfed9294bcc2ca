"""Roadmaps in the database: stored with their source and hash, every loaded version
kept (``roadmap_version``), resolved by code."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from workflow.errors import NotFound, Problem, RoadmapFileError

# The cycles' and versions' tables are imported where they are used: resolving a roadmap,
# which every command does, builds only its own table.
from workflow.storage.tables import ROADMAP

if TYPE_CHECKING:
    from workflow.roadmap.amendment import Comparison
    from workflow.roadmap.definition import Roadmap


@dataclass(frozen=True, kw_only=True)
class StoredRoadmap:
    """A roadmap row and its parsed definition."""

    id: int
    definition: Roadmap


#: Parsed definitions kept per process: every region's roadmap in one database (85, all
#: ticked by one daemon in turn, DESIGN.md) with room for their versions. Fewer, the
#: daemon's round over the roadmaps evicted each one before its next use and parsed all
#: 85 again at every tick (~25 ms each).
PARSED_KEPT = 256


@functools.lru_cache(maxsize=PARSED_KEPT)
def _parse_cached(source: str, code: str) -> Roadmap:
    # Imported here: YAML and validation (~50 ms) are paid only when a stored roadmap is
    # parsed, not by every command that resolves a roadmap code.
    from workflow.roadmap.loader import parse_stored

    return parse_stored(source, code)


def store(engine: Engine, roadmap: Roadmap, *, now: datetime) -> tuple[int, str]:
    """Insert a roadmap, or store a new version of the same code.

    Returns:
        The row id and what happened: ``created``, ``updated`` or ``unchanged``.

    Raises:
        RoadmapFileError: the new version is refused (`workflow.roadmap.amendment`).
    """
    with db.write(engine) as conn:
        roadmap_id, outcome, _ = store_in(conn, roadmap, now=now)
        return roadmap_id, outcome


def store_in(
    conn: Connection, roadmap: Roadmap, *, now: datetime, loaded_by: str = ""
) -> tuple[int, str, str | None]:
    """`store` inside the caller's write transaction.

    The ``roadmap`` row holds the current version; every file loaded is also kept in
    ``roadmap_version`` (its text, hash and ``amended_by:``), the old ones never replaced.

    Returns:
        The row id, ``created``/``updated``/``unchanged``, and the content hash stored
        before (None when created).

    Raises:
        RoadmapFileError: the new version drops a measure that has cycles, or ends the
            program before existing cycles.
    """
    row = conn.execute(
        sa.select(ROADMAP.c.id, ROADMAP.c.content_hash, ROADMAP.c.source).where(
            ROADMAP.c.code == roadmap.code
        )
    ).first()
    values = {
        "code": roadmap.code,
        "title": roadmap.title,
        "content_hash": roadmap.content_hash,
        "source": roadmap.source,
        "timezone": roadmap.timezone,
        "period_start": roadmap.period_start,
        "period_end": roadmap.period_end,
        "loaded_at": now,
    }
    if row is None:
        new_id = conn.execute(sa.insert(ROADMAP).values(**values)).inserted_primary_key
        assert new_id is not None
        _keep_version(conn, int(new_id[0]), roadmap, now=now, loaded_by=loaded_by)
        return int(new_id[0]), "created", None
    if row.content_hash == roadmap.content_hash:
        return int(row.id), "unchanged", str(row.content_hash)
    refusals = compare_stored(conn, int(row.id), _parse_cached(row.source, roadmap.code), roadmap)
    if refusals.refusals:
        raise RoadmapFileError(
            [Problem(file=roadmap.code, message=text) for text in refusals.refusals]
        )
    conn.execute(sa.update(ROADMAP).where(ROADMAP.c.id == row.id).values(**values))
    _keep_version(conn, int(row.id), roadmap, now=now, loaded_by=loaded_by)
    return int(row.id), "updated", str(row.content_hash)


def compare_stored(conn: Connection, roadmap_id: int, old: Roadmap, new: Roadmap) -> Comparison:
    """`workflow.roadmap.amendment.compare` against the cycles stored for the roadmap."""
    from workflow.roadmap.amendment import ExistingCycle, compare
    from workflow.storage.tables import CYCLE

    rows = conn.execute(
        sa.select(CYCLE.c.id, CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date, CYCLE.c.state)
        .where(CYCLE.c.roadmap_id == roadmap_id)
        .order_by(CYCLE.c.id)
    )
    cycles = [
        ExistingCycle(
            id=int(r.id),
            measure=int(r.measure),
            period=str(r.period),
            due=r.due_date,
            state=str(r.state),
        )
        for r in rows
    ]
    return compare(old, new, cycles)


def current_version(conn: Connection, roadmap_id: int) -> int | None:
    """The id of the roadmap's latest ``roadmap_version`` row (None before 0008's rows)."""
    from workflow.storage.tables import VERSION

    return conn.execute(
        sa.select(VERSION.c.id)
        .where(VERSION.c.roadmap_id == roadmap_id)
        .order_by(VERSION.c.version.desc())
        .limit(1)
    ).scalar()


def versions(conn: Connection, roadmap_id: int) -> list[Any]:
    """Every version kept of a roadmap, oldest first (without the texts)."""
    from workflow.storage.tables import VERSION

    return list(
        conn.execute(
            sa.select(
                VERSION.c.version,
                VERSION.c.content_hash,
                VERSION.c.period_start,
                VERSION.c.period_end,
                VERSION.c.amended_by,
                VERSION.c.loaded_by,
                VERSION.c.loaded_at,
            )
            .where(VERSION.c.roadmap_id == roadmap_id)
            .order_by(VERSION.c.version)
        )
    )


def _keep_version(
    conn: Connection, roadmap_id: int, roadmap: Roadmap, *, now: datetime, loaded_by: str
) -> None:
    from workflow.storage.tables import VERSION

    last = conn.execute(
        sa.select(sa.func.max(VERSION.c.version)).where(VERSION.c.roadmap_id == roadmap_id)
    ).scalar()
    conn.execute(
        sa.insert(VERSION).values(
            roadmap_id=roadmap_id,
            version=(last or 0) + 1,
            content_hash=roadmap.content_hash,
            source=roadmap.source,
            period_start=roadmap.period_start,
            period_end=roadmap.period_end,
            amended_by=roadmap.amended_by.text if roadmap.amended_by else None,
            loaded_by=loaded_by[:128],
            loaded_at=now,
        )
    )


def codes(conn: Connection) -> list[str]:
    """Codes of every stored roadmap, sorted."""
    return list(conn.execute(sa.select(ROADMAP.c.code).order_by(ROADMAP.c.code)).scalars())


def ids(conn: Connection) -> list[int]:
    """Row ids of every stored roadmap, in the order of their codes."""
    return list(conn.execute(sa.select(ROADMAP.c.id).order_by(ROADMAP.c.code)).scalars())


def timezone(conn: Connection, roadmap_id: int) -> str:
    """A stored roadmap's time zone (its definition's), without parsing the definition."""
    return str(
        conn.execute(sa.select(ROADMAP.c.timezone).where(ROADMAP.c.id == roadmap_id)).scalar_one()
    )


def resolve(conn: Connection, code: str | None) -> StoredRoadmap:
    """The roadmap named ``code``, or the only one present when ``code`` is None.

    Raises:
        NotFound: no roadmap, an unknown code, or several roadmaps and no code given.
    """
    row = _find(conn, code, with_source=True)
    return StoredRoadmap(id=int(row.id), definition=_parse_cached(row.source, row.code))


def resolve_id(conn: Connection, code: str | None) -> int:
    """Like `resolve`, but only the row id: read-only listings need no parsed definition."""
    return int(_find(conn, code, with_source=False).id)


def _find(conn: Connection, code: str | None, *, with_source: bool) -> Any:
    columns = [ROADMAP.c.id, ROADMAP.c.code] + ([ROADMAP.c.source] if with_source else [])
    query = sa.select(*columns)
    if code is not None:
        row = conn.execute(query.where(ROADMAP.c.code == code)).first()
        if row is None:
            known = ", ".join(codes(conn)) or "нет ни одной"
            raise NotFound(
                f"Дорожная карта «{code}» не найдена.", hint=f"Загруженные карты: {known}."
            )
    else:
        rows = conn.execute(query.limit(2)).all()
        if not rows:
            raise NotFound(
                "В базе нет ни одной дорожной карты.",
                hint="Загрузите её: tochka init (или tochka init --roadmap ФАЙЛ).",
            )
        if len(rows) > 1:
            raise NotFound(
                "В базе несколько дорожных карт: укажите нужную параметром --roadmap.",
                hint="Загруженные карты: " + ", ".join(codes(conn)) + ".",
            )
        row = rows[0]
    return row
