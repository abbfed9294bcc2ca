"""The centers and their lifecycle state (``center``).

A Core table (see the package), not a SQLModel class: nothing reads it as a model, and
``tochka centers list`` reads it, so a listing builds its columns and no pydantic model
or declarative mapping (with `roadmap`, some 45 M of a listing's 1,860 M instructions).
The columns are what ``SQLModel`` made of its fields: ``str`` is ``AutoString``, a field
with a default has it as the column's default (``version`` 1).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

# The table its foreign key names: imported so that the key resolves in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column

CENTER = sa.Table(
    "center",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("code", AutoString(64), nullable=False),
    sa.Column("name", AutoString, nullable=False),
    sa.Column("municipality", AutoString, nullable=False),
    sa.Column("cohort", sa.Integer, nullable=False),
    sa.Column("email", AutoString, nullable=False),
    sa.Column("state", AutoString(32), nullable=False),
    # The state a withdrawn center was withdrawn from, so ``revert`` can return to it.
    sa.Column("previous_state", AutoString(32), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    utc_column("created_at"),
    utc_column("updated_at"),
    sa.UniqueConstraint("roadmap_id", "code", name="uq_center_code"),
    sa.Index("ix_center_state", "roadmap_id", "state"),
    sa.Index("ix_center_municipality", "roadmap_id", "municipality"),
    sa.Index("ix_center_cohort", "roadmap_id", "cohort"),
)
"""A school with a "Точка роста" center and its lifecycle state."""
