"""The center moves the engine remembers (issue 16, item 1): a fire on a (state,
trigger) pair with no guard takes the state the machine gave the first time; any pair
with a guard asks the machine on every fire, so a guard still refuses after the same
pair was let through once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from states import CENTER_WORKFLOW, GuardRefused, StateHolder
from tests.conftest import T0
from workflow.engine import transitions
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap

REAL = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OP = Actor(login="ivanova")


def test_only_pairs_without_a_guard_are_remembered() -> None:
    guarded = {(e.source, e.trigger) for e in CENTER_WORKFLOW.edges() if e.guards}
    assert transitions._CENTER_UNGUARDED
    assert not transitions._CENTER_UNGUARDED & guarded
    for state, trigger in transitions._CENTER_UNGUARDED:
        moved = CENTER_WORKFLOW.fire(StateHolder(state=state), trigger, entity="Центр X")
        assert moved != state


def test_a_guard_refuses_after_the_same_pair_passed_once(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    eng = TransitionEngine(engine, stored.definition, stored.id, clock=lambda: REAL)
    first, second = centers3[0].code, centers3[1].code
    for code in (first, second):  # the unguarded pair, twice: the second from memory
        done = eng.fire_center(code, "agree_infrastructure", actor=OP, now=T0)
        assert done.to_state == "infrastructure_agreed"
    withdrawn = eng.fire_center(first, "withdraw", actor=OP, now=T0, comment="закрыт")
    assert withdrawn.to_state == "withdrawn"
    with pytest.raises(GuardRefused):
        eng.fire_center(second, "withdraw", actor=OP, now=T0)  # no reason given
