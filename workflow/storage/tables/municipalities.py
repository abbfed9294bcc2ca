"""The municipalities' education authorities (``municipality_contact``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import roadmap  # noqa: F401
from workflow.storage.tables._columns import utc_column


class MunicipalityContact(SQLModel, table=True):
    """The education authority of a municipality: who is reminded of its centers' stages.

    ``name`` is the municipality as the centers file writes it; ``email`` and
    ``recipient`` (how letters address it) come from ``tochka municipalities import``.
    A municipality without a row is simply not reminded (its schools still are).
    """

    __tablename__ = "municipality_contact"
    __table_args__ = (sa.UniqueConstraint("roadmap_id", "name", name="uq_municipality_contact"),)

    id: int | None = Field(default=None, primary_key=True)
    roadmap_id: int = Field(foreign_key="roadmap.id")
    name: str
    email: str = Field(max_length=254)
    recipient: str = Field(max_length=200)
    updated_at: datetime = Field(sa_column=utc_column())


CONTACT: sa.Table = MunicipalityContact.__table__  # type: ignore[attr-defined]
