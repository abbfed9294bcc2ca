"""stage deadline revisions (issue 13, item 6)

``stage_revision``: one center's stage deadline moved by an order (``tochka centers
reschedule``): the original and revised date, the reason, the document, the audit event.
A new table rather than a nullable ``deadline_revision.cycle_id``: nothing existing is
rebuilt, and the cycles' revision reads stay as they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import base.columns

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stage_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roadmap_id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('original_due', sa.Date(), nullable=False),
    sa.Column('revised_due', sa.Date(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('document', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('recorded_at', base.columns.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['center.id'], ),
    sa.ForeignKeyConstraint(['roadmap_id'], ['roadmap.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stage_revision', schema=None) as batch_op:
        batch_op.create_index(
            'ix_stage_revision_center', ['roadmap_id', 'center_id', 'stage'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('stage_revision', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_revision_center')
    op.drop_table('stage_revision')
