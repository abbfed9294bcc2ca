"""Eight processes firing on the same centers: no lost update, every loser told why, and
one race that must end in conflicts (one winner, seven told). A batch of transitions and
a single fire on one of its centers wait for each other instead of deadlocking."""

from __future__ import annotations

import multiprocessing as mp
import random
import threading
import time
from collections import Counter
from multiprocessing.synchronize import Barrier

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from states.center import FORWARD_TRIGGERS, LIFECYCLE
from tests.conftest import T0, make_rows
from workflow.engine import centers
from workflow.engine.access import Actor
from workflow.engine.bulk import BulkMode, BulkRow, Outcome, fire_rows
from workflow.engine.transitions import TransitionEngine
from workflow.errors import Conflict
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT, HEAD

WORKERS = 8
ROUNDS = 25
CENTERS = 3


def _worker(
    url: str,
    code_ids: list[str],
    seed: int,
    out: mp.Queue,  # type: ignore[type-arg]
    race: tuple[str, Barrier],
) -> None:
    rng = random.Random(seed)
    engine = db.make_engine(url)
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, None)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    tally: Counter[str] = Counter()
    # First a race that must end in conflicts: everyone saw the race center planned at
    # version 1 and acts on that together. Worker 0 agrees its infrastructure, the others
    # withdraw it, which stays legal after the agreement: only the version check stops a
    # stale withdrawal from overwriting the agreement (or the agreement a withdrawal).
    race_code, together = race
    trigger, comment = ("agree_infrastructure", None) if seed == 0 else ("withdraw", "устарело")
    together.wait(timeout=120)
    try:
        fire.fire_center(
            race_code,
            trigger,
            actor=Actor(login=f"w{seed}"),
            now=T0,
            comment=comment,
            expected_version=1,
        )
        tally["race:ok"] += 1
    except Conflict:
        tally["race:conflict"] += 1
    except Exception as exc:  # anything else is a defect the test reports
        tally[f"error:{type(exc).__name__}:{exc}"] += 1
    for _ in range(ROUNDS):
        code = rng.choice(code_ids)
        with engine.connect() as conn:
            state, version = conn.execute(
                sa.select(CENTER.c.state, CENTER.c.version).where(CENTER.c.code == code)
            ).one()
        # Pick a trigger that is valid for what we read: any failure is then a race.
        index = LIFECYCLE.index(state)  # type: ignore[arg-type]
        if index + 1 < len(LIFECYCLE):
            trigger, comment = FORWARD_TRIGGERS[LIFECYCLE[index + 1]].value, None
        else:
            trigger, comment = "revert", "возврат для теста"
        try:
            fire.fire_center(
                code,
                trigger,
                actor=Actor(login=f"w{seed}"),
                now=T0,
                comment=comment,
                expected_version=version,
            )
            tally["ok"] += 1
        except Conflict:
            tally["conflict"] += 1
        except Exception as exc:  # anything else is a defect the test reports
            tally[f"error:{type(exc).__name__}:{exc}"] += 1
    engine.dispose()
    out.put(dict(tally))


@pytest.mark.slow
def test_eight_processes_on_the_same_centers(
    db_url: str, engine: Engine, stored: StoredRoadmap
) -> None:
    rows = make_rows(CENTERS + 1)  # the last one is the race center
    centers.import_centers(engine, stored, rows, filename="t.csv", actor="t", now=T0)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    codes = [r.code for r in rows[:CENTERS]]
    race = (rows[CENTERS].code, ctx.Barrier(WORKERS))
    procs = [
        ctx.Process(target=_worker, args=(db_url, codes, i, out, race)) for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    total: Counter[str] = Counter()
    for r in results:
        total.update(r)
    # The optimistic lock at work: one winner, every other writer told of the conflict.
    assert (total["race:ok"], total["race:conflict"]) == (1, WORKERS - 1), total
    errors = {k: v for k, v in total.items() if k.startswith("error")}
    assert errors == {}
    with engine.connect() as conn:
        race_row = conn.execute(
            sa.select(CENTER.c.state, CENTER.c.version).where(CENTER.c.code == race[0])
        ).one()
    assert tuple(race_row) in {("infrastructure_agreed", 2), ("withdrawn", 2)}
    assert total["ok"] + total["conflict"] == WORKERS * ROUNDS
    assert total["ok"] > 0
    total["ok"] += total["race:ok"]
    with engine.connect() as conn:
        versions = conn.execute(sa.select(sa.func.sum(CENTER.c.version - 1))).scalar_one()
        events = conn.execute(
            sa.select(sa.func.count()).select_from(EVENT).where(EVENT.c.trigger != "create")
        ).scalar_one()
    assert total["ok"] == versions == events
    from workflow.engine import audit

    with db.read(engine) as conn:
        assert audit.verify(conn, stored.id, stored.definition.code).events == events + len(rows)


@pytest.mark.postgres
def test_a_batch_and_a_single_fire_on_its_center_do_not_deadlock(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """A writer holds the second center of a batch and takes the chain head only later, as
    a single fire on it does (its center first, then the head). The batch (all or
    nothing) locks its centers in the order of their codes and the head after them: it
    waits for the writer, which gets the head, commits and lets the batch go on. A batch
    holding the head while it waits for a center (as one row after another did) would
    deadlock with the writer, and PostgreSQL would break one of them."""
    rows = make_rows(2)
    centers.import_centers(engine, stored, rows, filename="t.csv", actor="t", now=T0)
    first, second = sorted(r.code for r in rows)
    holding = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with db.write(engine) as conn:
                conn.execute(
                    sa.select(CENTER.c.id).where(CENTER.c.code == second).with_for_update()
                )
                holding.set()
                time.sleep(1.5)  # the batch locks ``first`` meanwhile and waits for ``second``
                conn.execute(sa.select(HEAD.c.seq).with_for_update())
        except BaseException as exc:  # the deadlock, if the batch held the head
            failures.append(exc)
            holding.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(timeout=30)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    try:
        outcomes = fire_rows(
            fire,
            [
                BulkRow(line=2, code=first, trigger="agree_infrastructure"),
                BulkRow(line=3, code=second, trigger="agree_infrastructure"),
            ],
            actor=Actor(login="t"),
            now=T0,
            mode=BulkMode.ALL_OR_NOTHING,
        )
    finally:
        thread.join(timeout=60)
    assert failures == []
    assert [o.outcome for o in outcomes] == [Outcome.DONE, Outcome.DONE]
