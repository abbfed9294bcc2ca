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
