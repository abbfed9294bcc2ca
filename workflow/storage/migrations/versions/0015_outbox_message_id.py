"""outbox letters found by Message-ID (issue 15, item 4's benchmark)

``ix_outbox_message_id``: a reply names the letter it answers by its Message-ID
(``In-Reply-To``/``References``, `workflow.inbound.record`). Without the index each
reply read the whole outbox, every stored letter's bytes included (SQLite keeps
``message_id`` after ``message``): in a profile of 1,000 replies to 1,000 letters, 12 %
of the time, growing with the outbox.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-16 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message_id', ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_id')
