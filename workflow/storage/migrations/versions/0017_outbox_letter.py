"""outbox letters' bytes in their own table (issue 16, item 3, delivery)

``outbox_letter``: the MIME bytes of each outbox row, keyed by its id, moved out of
``outbox.message``. A claim and each outcome update the row; with the letter in it, SQLite
wrote the whole letter again each time (a school's letter is ~37 KB, a coordinator's
digest MBs): 500 outcome updates took 0.145-0.186 s with the letter in the row,
0.017-0.019 s without. The letter is now written when queued and read once when claimed.

SQLite drops the column with ``ALTER TABLE … DROP COLUMN`` (3.35 and later), not by
copying the table, which ``reminder`` and ``outbox_letter`` refer to.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_letter',
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('message', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.PrimaryKeyConstraint('outbox_id')
    )
    op.execute(
        "INSERT INTO outbox_letter (outbox_id, message) SELECT id, message FROM outbox"
    )
    op.drop_column('outbox', 'message')


def downgrade() -> None:
    bind = op.get_bind()
    empty = "x''" if bind.dialect.name == "sqlite" else "''::bytea"
    op.add_column(
        'outbox',
        sa.Column('message', sa.LargeBinary(), nullable=False, server_default=sa.text(empty)),
    )
    op.execute(
        "UPDATE outbox SET message = (SELECT l.message FROM outbox_letter l"
        " WHERE l.outbox_id = outbox.id)"
        " WHERE EXISTS (SELECT 1 FROM outbox_letter l WHERE l.outbox_id = outbox.id)"
    )
    op.drop_table('outbox_letter')
    if bind.dialect.name != "sqlite":  # SQLite keeps it: dropping it copies the table
        op.alter_column('outbox', 'message', server_default=None)
