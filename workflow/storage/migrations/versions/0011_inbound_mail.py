"""inbound mail (issue 15, items 2 and 3)

``inbound_message``: every message read from the IMAP mailbox or a saved file, once, by
its Message-ID (``dedup_key``) and its IMAP identity (mailbox, UIDVALIDITY, UID); what it
is (matched to one of our letters, quarantined, automatic, refused) and, for a matched
reply, the submission state the coordinator decides on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import base.columns

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedup_key', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('mailbox', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('uid', sa.BigInteger(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('from_addr', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('from_header', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('date_header', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('auto_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('matched_by', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('submission', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('notes', sa.JSON(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('received_at', base.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('moved_at', base.columns.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedup_key'),
    sa.UniqueConstraint('mailbox', 'uidvalidity', 'uid', name='uq_inbound_imap_uid')
    )
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_outbox', ['outbox_id'], unique=False)
        batch_op.create_index('ix_inbound_state', ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_state')
        batch_op.drop_index('ix_inbound_outbox')
    op.drop_table('inbound_message')
