"""Creating and upgrading the schema with Alembic (``tochka init``).

Only `upgrade` imports Alembic; everyday commands compare the stored revision with
`KNOWN_REVISIONS` directly, which keeps their start-up cheap.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from base import db

#: Every revision this version knows, oldest first; the last is the head.
KNOWN_REVISIONS: tuple[str, ...] = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
    "0012",
    "0013",
    "0014",
    "0015",
    "0016",
    "0017",
)
HEAD = KNOWN_REVISIONS[-1]


def alembic_config() -> object:
    """An Alembic Config pointing at the packaged migrations."""
    # Imported here: Alembic costs ~230 ms; only init upgrades the schema.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "workflow.storage:migrations")
    return cfg


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the head revision, idempotently.

    Returns:
        The revision before and after.

    Raises:
        SchemaTooNew: the database was written by a newer version (left untouched).
    """
    with engine.connect() as conn:
        before = db.check_schema(conn, KNOWN_REVISIONS)
    if before == HEAD:
        return before, HEAD  # `tochka init` again: no Alembic
    from alembic import command

    with db.write(engine) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
        command.upgrade(cfg, HEAD)  # type: ignore[arg-type]
    return before, HEAD
