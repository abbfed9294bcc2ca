"""The wall clock, frozen: a command run without ``--now`` believes the frozen moment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from typer.testing import Result

from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import EVENT

#: 22:30 UTC on 25 August is already 01:30 on 26 August in Moscow, the roadmap's zone.
FROZEN = datetime(2021, 8, 25, 22, 30, tzinfo=UTC)


def test_tick_without_now_reconciles_as_of_the_wall_clock_in_the_roadmap_zone(
    cli: Callable[..., Result], stored: StoredRoadmap, engine: Engine
) -> None:
    with freeze_time(FROZEN):
        result = cli("tick")
    assert result.exit_code == 0, result.output
    assert f"Сверка «{stored.definition.code}» на 26.08.2021." in result.output
    with engine.connect() as conn:
        events = conn.execute(
            sa.select(
                EVENT.c.entity_key, EVENT.c.trigger, EVENT.c.recorded_at, EVENT.c.effective_date
            ).order_by(EVENT.c.seq)
        ).all()
    # Measures 6 and 7 fall due on 25.08.2021: overdue only because it is the 26th in Moscow
    # (by the UTC date they would still be on time); measure 8 (01.09.2021) is not yet due.
    # Measure 1 is not among them: the file records it done by the decree on 07.12.2020.
    assert [e.entity_key for e in events if e.trigger == "mark_overdue"] == [
        "2/2020",
        "4/2020",
        "5/2021",
        "6/2021",
        "7/2021",
    ]
    # Every event carries the frozen instant and its Moscow date, not the machine's real time;
    # measure 1's, recorded done as the file says, take effect on the file's date.
    assert {
        (e.recorded_at.astimezone(UTC), e.effective_date)
        for e in events
        if e.entity_key != "1/2020"
    } == {(FROZEN, date(2021, 8, 26))}
    assert {
        (e.recorded_at.astimezone(UTC), e.effective_date)
        for e in events
        if e.entity_key == "1/2020"
    } == {(FROZEN, date(2020, 12, 7))}
