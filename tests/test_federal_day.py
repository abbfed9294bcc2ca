"""A federal day in small (issue 16, item 7): five regions' roadmaps on one PostgreSQL,
three ``tochka daemon run`` processes at 09:00 on 1 September 2021, one local SMTP
server. One daemon reconciles every roadmap, all three deliver, and every cycle, rung,
reminder and letter exists exactly once; every letter reaches the server exactly once,
counted by Message-ID. ``benchmarks/federal_day.py`` runs the same day at 85 × 250,
timed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from base import db
from notifications.outbox import OUTBOX, REMINDER
from tests import federal
from workflow.storage import schema
from workflow.storage.tables import CENTER, HEARTBEAT

PG_URL = os.environ.get("TOCHKA_TEST_PG_URL", "")
ROADMAPS, CENTERS = 5, 10

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TOCHKA_TEST_PG_URL (PostgreSQL)")


@pytest.mark.slow
def test_three_daemons_one_federal_day_every_cycle_and_letter_exactly_once(
    tmp_path: Path,
) -> None:
    with federal.pg_schema(PG_URL, prefix="t_fed") as url:
        engine = db.make_engine(url)
        try:
            schema.upgrade(engine)
            roadmaps = federal.seed(
                engine, tmp_path / "files", roadmaps=ROADMAPS, centers_each=CENTERS,
                municipalities_each=3,
            )
            federal.eve(engine, roadmaps)
            # Each letter takes the server 30 ms: the day's letters are more than one claim
            # (50), and while one daemon sends its claim the others, polling every 0.1 s,
            # claim the rest unless starved for a second and more (with an instant server one
            # daemon sent all 71 before the others' next poll: [71, 0, 0], under load).
            day = federal.run_day(
                url, engine, tmp_path / "day", delivery_seconds=0.1, smtp_delay=0.03
            )
            assert federal.problems(engine, day) == []

            with engine.connect() as conn:
                (result,) = conn.execute(
                    sa.select(HEARTBEAT.c.last_tick_result).where(
                        HEARTBEAT.c.last_tick_result.is_not(None)
                    )
                ).scalars()
                schools = set(conn.execute(sa.select(CENTER.c.email)).scalars())
                letters = conn.execute(
                    sa.select(OUTBOX.c.recipient, OUTBOX.c.status).where(
                        OUTBOX.c.created_at == federal.DAY
                    )
                ).all()
                reminders = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(REMINDER)
                    .where(REMINDER.c.created_at == federal.DAY)
                ).scalar_one()
        finally:
            engine.dispose()
    reports = json.loads(result)
    # The leader reconciled every roadmap once; the day's reminders are all recorded.
    assert sorted(r["roadmap"] for r in reports) == [
        f"region-{n:02d}-2021-2023" for n in range(1, ROADMAPS + 1)
    ]
    assert sum(r["reminders_queued"] for r in reports) == reminders > 0
    # Each school has its one letter of the day (its three stages), and it was sent.
    to_schools = [status for recipient, status in letters if recipient in schools]
    assert len(to_schools) == len(schools) == ROADMAPS * CENTERS
    assert set(to_schools) == {"sent"}
    assert len(day.ids) == sum(status == "sent" for _, status in letters) == day.sent
    # The delivery was shared: the standbys sent the letters of the roadmaps reconciled
    # while the leader went on with the next ones.
    assert sum(1 for d in day.daemons if d.sent) >= 2, [d.sent for d in day.daemons]
