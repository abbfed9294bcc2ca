"""adoption mid-program (issue 13)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# The day a database took the roadmap over mid-program (`tochka init --as-of`).
def upgrade() -> None:
    with op.batch_alter_table("roadmap") as batch:
        batch.add_column(sa.Column("adopted_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("roadmap") as batch:
        batch.drop_column("adopted_on")
