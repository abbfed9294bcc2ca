from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from workflow.errors import SchemaTooNew
from workflow.storage import schema


def test_upgrade_creates_every_table_and_is_idempotent(engine: Engine) -> None:
    names = set(sa.inspect(engine).get_table_names())
    assert {"roadmap", "measure_cycle", "center", "event", "audit_head", "outbox"} <= names
    assert schema.upgrade(engine) == (schema.HEAD, schema.HEAD)


def test_known_revisions_match_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(schema.alembic_config())  # type: ignore[arg-type]
    revisions = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    assert tuple(revisions) == schema.KNOWN_REVISIONS


def test_database_from_a_newer_version_is_refused(engine: Engine) -> None:
    with db.write(engine) as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaTooNew) as caught:
        schema.upgrade(engine)
    assert "9999" in str(caught.value)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "9999"


def test_migrations_create_exactly_the_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    from workflow.storage.tables import all_tables

    all_tables()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, SQLModel.metadata) == []


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    from alembic import command

    with db.write(engine) as conn:
        cfg = schema.alembic_config()
        cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
        (command.downgrade if down else command.upgrade)(cfg, revision)  # type: ignore[arg-type]


def test_0017_moves_the_letters_bytes_out_of_the_outbox_row_and_back(db_url: str) -> None:
    engine = db.make_engine(db_url, create_dir=True)
    letters = {1: b"A" * 40_000, 2: b""}  # a letter, and a dead one never built
    try:
        _migrate(engine, "0016")
        with db.write(engine) as conn:
            for row_id, message in letters.items():
                conn.execute(
                    sa.text(
                        "INSERT INTO outbox (id, key, kind, recipient, envelope, subject, "
                        "message, status, attempts, next_attempt_at, created_at, updated_at) "
                        "VALUES (:id, :key, 'notice', 'a@example.org', 'a@example.org', 'S', "
                        ":message, 'pending', 0, :at, :at, :at)"
                    ),
                    {"id": row_id, "key": f"k{row_id}", "message": message, "at": "2021-01-11"},
                )
        _migrate(engine, "0017")
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("outbox")}
            moved = conn.execute(sa.text("SELECT outbox_id, message FROM outbox_letter")).all()
        assert "message" not in columns
        assert {row_id: bytes(message) for row_id, message in moved} == letters
        _migrate(engine, "0016", down=True)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            back = conn.execute(sa.text("SELECT id, message FROM outbox")).all()
        assert "outbox_letter" not in tables
        assert {row_id: bytes(message) for row_id, message in back} == letters
    finally:
        engine.dispose()
