"""user full names and other letter data (issue 12)

``app_user.full_name``: the person's name as letters print it («Кто отметил: Иванова Анна
Петровна, координатор»), instead of the operating-system login. Users added before this
revision have none ("") until ``tochka users add LOGIN --role … --name …`` gives one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        'app_user',
        sa.Column('full_name', sa.String(length=200), nullable=False, server_default=''),
    )


def downgrade() -> None:
    with op.batch_alter_table('app_user') as batch:
        batch.drop_column('full_name')
