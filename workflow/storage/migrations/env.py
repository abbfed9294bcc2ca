"""Alembic environment: runs on the connection handed over by `workflow.storage.schema`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from workflow.storage.tables import all_tables

all_tables()
target_metadata = SQLModel.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through workflow.storage.schema.upgrade()")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
