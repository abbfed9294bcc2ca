"""Property-based: random trigger sequences against the real engine and database.

Each fire is checked against the rules written out independently of the machine
(`_center_dest`, `_cycle_dest`): a legal trigger must succeed and reach its state, an
illegal one must be refused and change nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import Engine

from base import db
from states import CENTER_WORKFLOW, CYCLE_WORKFLOW, CenterState, CycleState, TochkaError
from states.center import FORWARD_TRIGGERS, LIFECYCLE
from states.center import TRANSITIONS as CENTER_TRANSITIONS
from states.cycle import TRANSITIONS as CYCLE_TRANSITIONS
from tests.conftest import T0, grant, make_rows
from workflow.engine import audit, centers, cycles
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, CYCLE, EVENT

_counter = itertools.count()
CENTER_EDGES = {(t["source"], t["trigger"], t["dest"]) for t in CENTER_TRANSITIONS}
CYCLE_EDGES = {(t["source"], t["trigger"], t["dest"]) for t in CYCLE_TRANSITIONS}
REASONS = st.sampled_from([None, "", "  ", "причина"])


def _center_dest(state: str, previous: str | None, trigger: str, reason: str | None) -> str | None:
    """Where the center rules (DESIGN.md, written out again here) take ``trigger`` from
    ``state``, or None where they refuse: forward one stage at a time; withdraw from any
    active state and revert one step (or out of a withdrawal, to the state withdrawn
    from), both with a reason."""
    order = [s.value for s in LIFECYCLE]
    given = bool(reason and reason.strip())
    if state in order:
        at = order.index(state)
        if trigger == "withdraw":
            return CenterState.WITHDRAWN.value if given else None
        if trigger == "revert":
            return order[at - 1] if at > 0 and given else None
        if at + 1 < len(order) and FORWARD_TRIGGERS[LIFECYCLE[at + 1]].value == trigger:
            return order[at + 1]
        return None
    # withdrawn
    return previous if trigger == "revert" and given and previous in order else None


def _cycle_dest(state: str, trigger: str, reason: str | None, evidenced: bool) -> str | None:
    """Where the cycle rules take ``trigger`` from ``state``, or None where they refuse."""
    open_states = {"scheduled", "in_progress", "overdue"}
    if trigger == "start":
        return "in_progress" if state == "scheduled" else None
    if trigger == "complete":
        return "done" if state in {"in_progress", "overdue"} and evidenced else None
    if trigger == "mark_overdue":
        return "overdue" if state in {"scheduled", "in_progress"} else None
    if trigger == "cancel":
        return "cancelled" if state in open_states and bool(reason and reason.strip()) else None
    return None


@pytest.mark.slow
def test_random_trigger_sequences(engine: Engine, stored: StoredRoadmap) -> None:
    base = stored.definition

    class Walk(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            code = f"prop-{next(_counter)}"
            definition = dataclasses.replace(base, code=code, content_hash=code)
            rid, _ = roadmap_store.store(engine, definition, now=T0)
            grant(engine, rid, ["p"], "coordinator")
            self.stored = StoredRoadmap(id=rid, definition=definition)
            rows = make_rows(2)
            centers.import_centers(engine, self.stored, rows, filename="p.csv", actor="p", now=T0)
            self.codes = [r.code for r in rows]
            self.cycle_id = cycles.open_cycle(
                engine, self.stored, 3, due=date(2021, 2, 15), actor="p", now=T0
            ).id
            self.fire = TransitionEngine(engine, definition, rid)
            self.kinds = list(definition.measure(3).evidence)

        def _state(self, table: sa.Table, where: sa.ColumnElement[bool]) -> str:
            with engine.connect() as conn:
                return str(conn.execute(sa.select(table.c.state).where(where)).scalar_one())

        @rule(
            index=st.integers(0, 1),
            trigger=st.sampled_from(CENTER_WORKFLOW.triggers + ["bogus"]),
            reason=REASONS,
        )
        def fire_center(self, index: int, trigger: str, reason: str | None) -> None:
            code = self.codes[index]
            where = (CENTER.c.roadmap_id == self.stored.id) & (CENTER.c.code == code)
            before, previous = self._row(CENTER, where, CENTER.c.previous_state)
            expected = _center_dest(before, previous, trigger, reason)
            refused: TochkaError | None = None
            try:
                result = self.fire.fire_center(
                    code, trigger, actor=Actor(login="p"), now=T0, comment=reason
                )
            except TochkaError as exc:
                refused = exc
            if refused is not None:
                # A refusal is right only where the rules refuse: a legal trigger must pass.
                assert expected is None, (before, trigger, reason, str(refused))
                assert self._state(CENTER, where) == before
                return
            assert expected is not None, (before, trigger, reason, "fired where refused")
            assert (result.from_state, result.to_state) == (before, expected)
            assert self._state(CENTER, where) == expected

        @rule(
            trigger=st.sampled_from(CYCLE_WORKFLOW.triggers),
            reason=REASONS,
            evidence=st.lists(st.sampled_from([0, 1]), max_size=2, unique=True),
        )
        def fire_cycle(self, trigger: str, reason: str | None, evidence: list[int]) -> None:
            where = CYCLE.c.id == self.cycle_id
            before, stored_evidence = self._row(CYCLE, where, CYCLE.c.evidence)
            docs = {self.kinds[i]: f"документ {i}" for i in evidence}
            supplied = {**(stored_evidence or {}), **docs}
            expected = _cycle_dest(before, trigger, reason, set(self.kinds) <= set(supplied))
            refused: TochkaError | None = None
            try:
                result = self.fire.fire_cycle(
                    self.cycle_id,
                    trigger,
                    actor=Actor(login="p"),
                    now=T0,
                    comment=reason,
                    evidence=docs,
                )
            except TochkaError as exc:
                refused = exc
            if refused is not None:
                assert expected is None, (before, trigger, reason, supplied, str(refused))
                assert self._state(CYCLE, where) == before
                return
            assert expected is not None, (before, trigger, reason, supplied, "fired where refused")
            assert (result.from_state, result.to_state) == (before, expected)
            assert self._state(CYCLE, where) == expected

        def _row(
            self, table: sa.Table, where: sa.ColumnElement[bool], extra: sa.Column[Any]
        ) -> tuple[str, Any]:
            with engine.connect() as conn:
                state, value = conn.execute(sa.select(table.c.state, extra).where(where)).one()
            return str(state), value

        @invariant()
        def states_are_declared_and_the_audit_replays(self) -> None:
            with db.read(engine) as conn:
                report = audit.verify(conn, self.stored.id, self.stored.definition.code)
                center_states = set(
                    conn.execute(
                        sa.select(CENTER.c.state).where(CENTER.c.roadmap_id == self.stored.id)
                    ).scalars()
                )
                cycle_states = set(
                    conn.execute(
                        sa.select(CYCLE.c.state).where(CYCLE.c.roadmap_id == self.stored.id)
                    ).scalars()
                )
                edges = set(
                    conn.execute(
                        sa.select(
                            EVENT.c.entity_kind,
                            EVENT.c.from_state,
                            EVENT.c.trigger,
                            EVENT.c.to_state,
                        ).where(EVENT.c.roadmap_id == self.stored.id, EVENT.c.trigger != "create")
                    ).all()
                )
            assert report.entities == 3
            assert center_states <= {s.value for s in CenterState}
            assert cycle_states <= {s.value for s in CycleState}
            for kind, source, trigger, dest in edges:
                allowed = CENTER_EDGES if kind == "center" else CYCLE_EDGES
                assert (source, trigger, dest) in allowed

    run_state_machine_as_test(
        Walk,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
