"""Typed wrapper around `transitions`: one module-level Machine per workflow.

A Machine is never attached to a persisted row (SQLModel/pydantic refuses the extra
attributes, and ``add_model`` scans every attached model). The engine builds a plain
`StateHolder` from the row, attaches it for the duration of one fire, and detaches it.
Callbacks do no I/O: there are none; the engine persists around `Workflow.fire`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from transitions import Machine, MachineError

from states import center, cycle
from states.errors import GuardRefused, TriggerNotAllowed


@dataclass(kw_only=True)
class StateHolder:
    """What a guard may look at: the state and the inputs given with the trigger.

    Attributes:
        state: current state name.
        reason: the operator's reason (withdraw, revert, cancel).
        evidence: evidence kind id → text supplied with the trigger.
        required_evidence: evidence kind id → Russian name, what ``complete`` needs.
        previous_state: for a withdrawn center, the state it was withdrawn from.
    """

    state: str
    reason: str | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)
    required_evidence: Mapping[str, str] = field(default_factory=dict)
    previous_state: str | None = None

    # --- named guards -------------------------------------------------------------
    def has_reason(self) -> bool:
        return bool(self.reason and self.reason.strip())

    def has_required_evidence(self) -> bool:
        return not self.missing_evidence()

    def equipped_and_trained(self) -> bool:
        order = [s.value for s in center.LIFECYCLE]
        return self.state in order and order.index(self.state) >= order.index(
            center.CenterState.STAFF_TRAINED.value
        )

    def missing_evidence(self) -> list[str]:
        return [
            kind for kind in self.required_evidence if not (self.evidence.get(kind) or "").strip()
        ]

    def __getattr__(self, name: str) -> Any:
        # ``was_<state>``: guards of the reverts out of ``withdrawn``.
        if name.startswith(center.GUARD_WAS_PREFIX):
            wanted = name[len(center.GUARD_WAS_PREFIX) :]
            return lambda: self.previous_state == wanted
        raise AttributeError(name)


@dataclass(frozen=True, kw_only=True)
class WorkflowSpec:
    """A machine's definition: the states Enum, transitions, titles, initial state."""

    name: str
    entity_title: str
    states: type[StrEnum]
    transitions: Sequence[Mapping[str, Any]]
    initial: str
    titles: Mapping[Any, str]


class Workflow:
    """One `transitions.Machine` shared by every fire of one kind of entity."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        # One holder stays attached for the Machine's life and is loaded with each fire's
        # inputs under the lock: attaching a model per fire (add_model/remove_model) costs
        # several times the fire itself.
        self._slot = StateHolder(state=spec.initial)
        self._machine = Machine(
            model=self._slot,
            states=[s.value for s in spec.states],
            transitions=[dict(t) for t in spec.transitions],
            initial=spec.initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @property
    def triggers(self) -> list[str]:
        """Every trigger name of this workflow, in declaration order."""
        seen: dict[str, None] = {}
        for t in self.spec.transitions:
            seen.setdefault(t["trigger"], None)
        return list(seen)

    def allowed(self, state: str) -> list[str]:
        """Triggers that have a transition out of ``state`` (guards not evaluated)."""
        return [t for t in self.triggers if self._transitions_from(t, state)]

    def _transitions_from(self, trigger: str, state: str) -> list[Mapping[str, Any]]:
        return [
            t for t in self.spec.transitions if t["trigger"] == trigger and t["source"] == state
        ]

    def fire(self, holder: StateHolder, trigger: str, *, entity: str) -> str:
        """Fire ``trigger`` on ``holder`` and return the new state.

        Raises:
            TriggerNotAllowed: the trigger is unknown or has no transition from here.
            GuardRefused: every transition's guards refused; the first failing one is named.
        """
        candidates = self._transitions_from(trigger, holder.state)
        if not candidates:
            raise TriggerNotAllowed(
                entity=entity,
                trigger=trigger,
                state=holder.state,
                allowed=self.allowed(holder.state),
            )
        with self._lock:
            slot = self._slot
            self._machine.set_state(holder.state, model=slot)
            slot.reason = holder.reason
            slot.evidence = holder.evidence
            slot.required_evidence = holder.required_evidence
            slot.previous_state = holder.previous_state
            try:
                moved = getattr(slot, "trigger")(trigger)  # noqa: B009  # added by the Machine
            except MachineError as exc:  # pragma: no cover - pre-checked above
                raise TriggerNotAllowed(
                    entity=entity,
                    trigger=trigger,
                    state=holder.state,
                    allowed=self.allowed(holder.state),
                ) from exc
            new_state = slot.state
        if not moved:
            guard = next(
                cond for cond in candidates[0]["conditions"] if not getattr(holder, cond)()
            )
            raise GuardRefused(
                entity=entity, trigger=trigger, guard=guard, reason=_guard_reason(guard, holder)
            )
        holder.state = new_state
        return new_state


def _guard_reason(guard: str, holder: StateHolder) -> str:
    if guard == center.GUARD_HAS_REASON:
        return "нужно указать причину (--comment)."
    if guard == cycle.GUARD_HAS_EVIDENCE:
        names = "; ".join(
            f"{kind} — {holder.required_evidence[kind]}" for kind in holder.missing_evidence()
        )
        return f"не хватает подтверждающего документа (--evidence): {names}."
    if guard == center.GUARD_EQUIPPED_AND_TRAINED:
        return "центр не может открыться, пока он не оснащён и персонал не обучен."
    return f"условие «{guard}» не выполнено."


def mermaid(spec: WorkflowSpec) -> str:
    """A Mermaid ``stateDiagram-v2`` of the workflow, generated from its definitions."""
    lines = ["stateDiagram-v2", f"    [*] --> {spec.initial}"]
    for t in spec.transitions:
        label = t["trigger"]
        guards = [c for c in t["conditions"] if not c.startswith(center.GUARD_WAS_PREFIX)]
        if guards:
            label += " [" + ", ".join(guards) + "]"
        lines.append(f"    {t['source']} --> {t['dest']}: {label}")
    for state in spec.states:
        lines.append(f"    {state.value}: {state.value} ({spec.titles[state]})")
    return "\n".join(lines) + "\n"


CENTER_SPEC = WorkflowSpec(
    name="center",
    entity_title="Центр",
    states=center.CenterState,
    transitions=center.TRANSITIONS,
    initial=center.CenterState.PLANNED.value,
    titles=center.STATE_TITLES,
)
CYCLE_SPEC = WorkflowSpec(
    name="cycle",
    entity_title="Цикл мероприятия",
    states=cycle.CycleState,
    transitions=cycle.TRANSITIONS,
    initial=cycle.CycleState.SCHEDULED.value,
    titles=cycle.STATE_TITLES,
)

CENTER_WORKFLOW = Workflow(CENTER_SPEC)
CYCLE_WORKFLOW = Workflow(CYCLE_SPEC)
