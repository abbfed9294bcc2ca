"""Every workflow table, a module per concept: Core tables (``sa.Table`` in
``SQLModel.metadata``), since nothing reads them as models, but for the daemons'
heartbeat, a SQLModel class whose ``__table__`` the daemon uses. (The outbox's tables
belong to the notifications layer: `notifications.outbox`; the inbound mail's to
`workflow.storage.inbound`.)

``from workflow.storage.tables import CENTER`` builds the ``center`` table (and the
tables its foreign keys name) and no other: building a SQLModel table costs its
declarative mapping and its pydantic model, a few milliseconds each, which every command
would otherwise pay at start for all of them (PEP 562: the names are looked up in
`_WHERE` when first asked for). What needs the whole schema (creating it, the Alembic
environment, comparing it with the migrations, copying every table) calls `all_tables`.

Alembic migrations in ``workflow/migrations`` create exactly these tables.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

    from workflow.storage.tables.centers import CENTER
    from workflow.storage.tables.cycles import CYCLE
    from workflow.storage.tables.daemons import HEARTBEAT, DaemonHeartbeat, DaemonRole
    from workflow.storage.tables.events import EVENT, HEAD
    from workflow.storage.tables.evidence import EVIDENCE_BLOB
    from workflow.storage.tables.indicators import VALUE
    from workflow.storage.tables.municipalities import CONTACT
    from workflow.storage.tables.revisions import REVISION, STAGE_REVISION
    from workflow.storage.tables.roadmap import ROADMAP
    from workflow.storage.tables.rungs import SENT
    from workflow.storage.tables.users import USER
    from workflow.storage.tables.versions import VERSION

#: The module of this package that defines each name.
_WHERE: dict[str, str] = {
    "ROADMAP": "roadmap",
    "CYCLE": "cycles",
    "CENTER": "centers",
    "EVENT": "events",
    "HEAD": "events",
    "USER": "users",
    "SENT": "rungs",
    "DaemonRole": "daemons",
    "DaemonHeartbeat": "daemons",
    "HEARTBEAT": "daemons",
    "VALUE": "indicators",
    "CONTACT": "municipalities",
    "VERSION": "versions",
    "REVISION": "revisions",
    "STAGE_REVISION": "revisions",
    "EVIDENCE_BLOB": "evidence",
}

__all__ = [
    "CENTER",
    "CONTACT",
    "CYCLE",
    "DaemonHeartbeat",
    "DaemonRole",
    "EVENT",
    "EVIDENCE_BLOB",
    "GENESIS_HASH",
    "HEAD",
    "HEARTBEAT",
    "REVISION",
    "ROADMAP",
    "SENT",
    "STAGE_REVISION",
    "USER",
    "VALUE",
    "VERSION",
    "all_tables",
]

GENESIS_HASH = "0" * 64


def all_tables() -> list[sa.Table]:
    """Every table of the schema, each module imported so that its tables are registered
    in ``SQLModel.metadata`` (the notifications outbox and the inbound mail too: a command
    that uses neither does not build them), in dependency order."""
    import notifications.outbox  # noqa: F401
    import workflow.storage.inbound  # noqa: F401

    for module in sorted(set(_WHERE.values())):
        importlib.import_module(f"{__name__}.{module}")
    from sqlmodel import SQLModel

    return list(SQLModel.metadata.sorted_tables)


if not TYPE_CHECKING:  # mypy sees the imports above; an unknown name stays an error there

    def __getattr__(name: str) -> object:
        module = _WHERE.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value  # found directly from now on
        return value
