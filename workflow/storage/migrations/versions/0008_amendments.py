"""roadmap versions and deadline revisions (issue 13)

``roadmap_version``: every roadmap file loaded, kept with its hash, its text, the
amending decree it cites and who loaded it; the roadmaps already in the database become
their version 1. ``deadline_revision``: a cycle's due date moved (by an amendment or by
``tochka cycles reschedule``), the original and revised date, the reason, the document.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import base.columns

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('roadmap_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roadmap_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('amended_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('loaded_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('loaded_at', base.columns.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['roadmap_id'], ['roadmap.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('roadmap_id', 'version', name='uq_roadmap_version')
    )
    op.create_table('deadline_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roadmap_id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('original_due', sa.Date(), nullable=False),
    sa.Column('revised_due', sa.Date(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('document', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('recorded_at', base.columns.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['measure_cycle.id'], ),
    sa.ForeignKeyConstraint(['roadmap_id'], ['roadmap.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['roadmap_version.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deadline_revision', schema=None) as batch_op:
        batch_op.create_index('ix_revision_cycle', ['roadmap_id', 'cycle_id'], unique=False)
    # The roadmaps loaded before versions were kept: their current file is version 1.
    op.execute(
        "INSERT INTO roadmap_version (roadmap_id, version, content_hash, source, period_start,"
        " period_end, amended_by, loaded_by, loaded_at) SELECT id, 1, content_hash, source,"
        " period_start, period_end, NULL, '', loaded_at FROM roadmap"
    )


def downgrade() -> None:
    with op.batch_alter_table('deadline_revision', schema=None) as batch_op:
        batch_op.drop_index('ix_revision_cycle')
    op.drop_table('deadline_revision')
    op.drop_table('roadmap_version')
