"""Deadlines moved: a cycle's, a center's stage (``deadline_revision``, ``stage_revision``).

Core tables (see the package); their columns are what ``SQLModel`` made of the fields
(see `centers`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

# The tables its foreign keys name: imported so that the keys resolve in the metadata
# whichever table a command loads first.
from workflow.storage.tables import centers, cycles, roadmap, versions  # noqa: F401
from workflow.storage.tables._columns import utc_column

REVISION = sa.Table(
    "deadline_revision",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("cycle_id", sa.Integer, sa.ForeignKey("measure_cycle.id"), nullable=False),
    sa.Column("original_due", sa.Date, nullable=False),  # the due date before this revision
    sa.Column("revised_due", sa.Date, nullable=False),
    sa.Column("reason", AutoString, nullable=False),
    sa.Column("document", AutoString, nullable=True),  # the authorising document, as recorded
    sa.Column("version_id", sa.Integer, sa.ForeignKey("roadmap_version.id"), nullable=True),
    sa.Column("event_seq", sa.Integer, nullable=False),  # the audit event that records it
    sa.Column("actor", AutoString(128), nullable=False),
    utc_column("recorded_at"),
    sa.Index("ix_revision_cycle", "roadmap_id", "cycle_id"),
)
"""A deadline moved: a cycle's due date (by a roadmap amendment or one order), with the
date it had before, the reason and the authorising document."""

STAGE_REVISION = sa.Table(
    "stage_revision",
    SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("roadmap_id", sa.Integer, sa.ForeignKey("roadmap.id"), nullable=False),
    sa.Column("center_id", sa.Integer, sa.ForeignKey("center.id"), nullable=False),
    # A center state: the stage whose deadline moved.
    sa.Column("stage", AutoString(32), nullable=False),
    sa.Column("original_due", sa.Date, nullable=False),  # the due date before this revision
    sa.Column("revised_due", sa.Date, nullable=False),
    sa.Column("reason", AutoString, nullable=False),
    sa.Column("document", AutoString, nullable=True),  # the authorising document, as recorded
    sa.Column("event_seq", sa.Integer, nullable=False),  # the audit event that records it
    sa.Column("actor", AutoString(128), nullable=False),
    utc_column("recorded_at"),
    sa.Index("ix_stage_revision_center", "roadmap_id", "center_id", "stage"),
)
"""A center's stage deadline moved by an order (``tochka centers reschedule``).

A stage deadline is its cohort's (from the roadmap's stage rules); a row here makes it
this center's own: the latest row of a (center, stage) is its due date. Kept apart from
``deadline_revision``, whose target is a cycle: the two are read by different paths and
neither needs the other's columns.
"""
