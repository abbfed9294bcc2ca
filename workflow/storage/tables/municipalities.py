"""The municipalities' education authorities (``municipality_contact``).

A Core table (see the package); its columns are what ``SQLModel`` made of the fields
(see `centers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column

CONTACT = sa.Table(
    "municipality_contact",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("name", AutoString, nullable=False),
    sa.Column("email", AutoString(254), nullable=False),
    sa.Column("recipient", AutoString(200), nullable=False),
    utc_column("updated_at"),
    sa.UniqueConstraint("roadmap_id", "name", name="uq_municipality_contact"),
)
"""The education authority of a municipality: who is reminded of its centers' stages.

``name`` is the municipality as the centers file writes it; ``email`` and ``recipient``
(how letters address it) come from ``tochka municipalities import``. A municipality
without a row is simply not reminded (its schools still are).
"""
