"""evidence documents (issue 15, item 1)

``evidence_blob``: the content of an evidence document attached to a transition
(``--evidence-file``), addressed by its SHA-256, for PostgreSQL without a configured
folder (``TOCHKA_EVIDENCE_DIR``). SQLite keeps the content in files next to the database
(``var/evidence/``) and leaves this table empty. What a transition attached (hash, name,
type, size) is recorded in its audit event's evidence, not here.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import base.columns

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evidence_blob',
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('stored_at', base.columns.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )


def downgrade() -> None:
    op.drop_table('evidence_blob')
