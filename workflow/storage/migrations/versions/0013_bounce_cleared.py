"""a bounced address's flag cleared (issue 15, item 6)

``bounce.cleared_at``, ``cleared_by`` and ``cleared_reason``: when, by whom and why an
address stopped being flagged (its owner's address changed, a later letter to it was
delivered without a bounce, or the coordinator's ``tochka outbox unflag``). Rows recorded
before stay flagged.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-14 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import base.columns

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('bounce', sa.Column('cleared_at', base.columns.UTCDateTime(), nullable=True))
    op.add_column(
        'bounce',
        sa.Column('cleared_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.add_column('bounce', sa.Column('cleared_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bounce') as batch:
        batch.drop_column('cleared_reason')
        batch.drop_column('cleared_by')
        batch.drop_column('cleared_at')
