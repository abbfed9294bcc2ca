"""inbound messages recorded once by Message-ID and content (issue 15, item 2)

``inbound_message.content_key``: the SHA-256 of what the sender wrote that decides the
message's fate (the sender, the subject, the ids it answers, the authentication verdict,
the automatic kind, the body). The unique key becomes ``(dedup_key, content_key)``
(``uq_inbound_dedup``) instead of ``dedup_key`` alone: a hostile message carrying the
Message-ID of a genuine reply, arriving first, no longer makes the reply a duplicate.
Rows recorded before keep ``content_key`` "" and match their Message-ID alone, as they did.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-15 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# SQLite keeps the old unique key unnamed: reflected under this name to be dropped.
_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique(bind: sa.engine.Connection) -> str:
    """The name of the unique key on ``dedup_key`` alone (PostgreSQL named it)."""
    if bind.dialect.name == "sqlite":
        return "uq_inbound_message_dedup_key"
    for unique in sa.inspect(bind).get_unique_constraints("inbound_message"):
        if unique["column_names"] == ["dedup_key"] and unique["name"]:
            return str(unique["name"])
    raise RuntimeError("inbound_message: no unique key on dedup_key to replace")


def upgrade() -> None:
    bind = op.get_bind()
    old = _old_unique(bind)
    with op.batch_alter_table('inbound_message', naming_convention=_CONVENTION) as batch_op:
        batch_op.add_column(
            sa.Column(
                'content_key',
                sqlmodel.sql.sqltypes.AutoString(length=64),
                server_default='',
                nullable=False,
            )
        )
        batch_op.drop_constraint(old, type_='unique')
        batch_op.create_unique_constraint('uq_inbound_dedup', ['dedup_key', 'content_key'])


def downgrade() -> None:
    # Two rows of one Message-ID (a forgery and the genuine reply) cannot both keep the
    # old key: refuse rather than drop either.
    bind = op.get_bind()
    doubled = bind.execute(
        sa.text(
            "SELECT dedup_key FROM inbound_message GROUP BY dedup_key HAVING COUNT(*) > 1"
        )
    ).first()
    if doubled is not None:
        raise RuntimeError(
            "inbound_message: several messages share a Message-ID; the old unique key "
            "cannot be restored"
        )
    with op.batch_alter_table('inbound_message') as batch_op:
        batch_op.drop_constraint('uq_inbound_dedup', type_='unique')
        batch_op.create_unique_constraint('inbound_message_dedup_key_key', ['dedup_key'])
        batch_op.drop_column('content_key')
