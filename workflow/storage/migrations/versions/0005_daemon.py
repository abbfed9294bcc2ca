"""daemon heartbeat health (issue 11)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import base.columns

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# What `tochka daemon status` needs to tell a live daemon from a dead one (the interval
# its heartbeat promised) and to show a failed tick and its retry.
_COLUMNS = (
    ('heartbeat_seconds', sa.Float()),
    ('tick_failures', sa.Integer()),
    ('last_failure_at', base.columns.UTCDateTime(timezone=True)),
    ('last_failure_reason', sa.Text()),
    ('next_retry_at', base.columns.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table('daemon_heartbeat') as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('daemon_heartbeat') as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
