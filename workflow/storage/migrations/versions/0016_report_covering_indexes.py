"""covering indexes for the quarterly report (issue 16, item 4)

``ix_event_opened`` (roadmap, kind, entity, trigger, effective date): each center's opening
day is read from the index alone, one range of the roadmap's center events in entity order,
not every event of every center looked up row by row through ``ix_event_entity``; and a
transition's read of its object's last effective date and event count is a covering
search of that object's few entries. (With the trigger before the entity, SQLite chose
this index for the transition's read too and searched the roadmap's every center event:
200 reads of a 20,000-center roadmap took 3.4 s instead of 2 ms.)

``ix_indicator_value_cover`` (roadmap, period, center, indicator, value): the latest value
per center and indicator is aggregated from the index alone, the value with it, so that
only a corrected figure is read by its row id. It begins with the columns of
``ix_indicator_value_key`` (a plain index, not a uniqueness constraint), which it replaces.
In a 20,000-center report the query went from 232-287 ms to 174-208 ms on SQLite.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 19:00:00
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
            ['roadmap_id', 'entity_kind', 'entity_id', 'trigger', 'effective_date'],
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
