"""outbox delivery timing (issue 11): the real time a letter was queued and recorded

``queued_at`` is the wall-clock time a letter was queued: the age after which a failing
letter is given up is counted from it, not from ``created_at`` (the effective ``--now``
of the command that queued it, which may lie years in the past). ``recorded_at`` is the
wall-clock time its last outcome was written. Letters queued before this revision get
the time of the upgrade: their age starts then (never given up early).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import base.columns

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('queued_at', base.columns.UTCDateTime(), nullable=True))
    op.add_column('outbox', sa.Column('recorded_at', base.columns.UTCDateTime(), nullable=True))
    outbox = sa.table('outbox', sa.column('queued_at', base.columns.UTCDateTime()))
    op.execute(outbox.update().values(queued_at=datetime.now(UTC)))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('recorded_at')
        batch.drop_column('queued_at')
