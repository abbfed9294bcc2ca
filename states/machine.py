"""Typed wrapper around `transitions`: one module-level Machine per workflow.

The Machine holds the definitions and no model (``model=None``). A fire hands the
trigger's `transitions.Event` a plain `StateHolder` built from the row for that one
call: the library reads ``holder.state``, checks the guards (its ``conditions``, resolved
by name on the holder) and sets the new state on it. Nothing is attached: ``add_model``
binds a method per trigger and state on the model and ``remove_model`` scans every
attached one, which would cost more than the fire itself. Since each fire has its own
holder and the Machine is only read, fires from several threads share no mutable state.

The triggers, the triggers allowed from a state, the transitions and the diagram are
the library's answers (`Machine.events`, `Machine.get_triggers`,
`Machine.get_transitions`). Callbacks do no I/O: there are none; the engine persists
around `Workflow.fire`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from transitions import Machine, Transition
from transitions.core import Condition, EventData

from states import center, cycle
from states.errors import GuardRefused, TriggerNotAllowed, UnknownTrigger


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """The guard that refused a fire, and why, in Russian."""

    guard: str
    reason: str


#: The lifecycle's states from ``staff_trained`` on (`StateHolder.equipped_and_trained`).
_TRAINED_OR_LATER = frozenset(
    s.value for s in center.LIFECYCLE[center.LIFECYCLE.index(center.CenterState.STAFF_TRAINED) :]
)


@dataclass(kw_only=True)
class StateHolder:
    """What a guard may look at: the state and the inputs given with the trigger.

    Attributes:
        state: current state name; the Machine sets the new one on a successful fire.
        reason: the operator's reason (withdraw, revert, cancel).
        evidence: evidence kind id → text supplied with the trigger.
        required_evidence: evidence kind id → Russian name, what ``complete`` needs.
        previous_state: for a withdrawn center, the state it was withdrawn from; for an
            overdue cycle, the open state it was marked overdue from.
        refusal: after a refused fire, the first guard that refused and its reason.
    """

    state: str
    reason: str | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)
    required_evidence: Mapping[str, str] = field(default_factory=dict)
    previous_state: str | None = None
    refusal: Refusal | None = field(default=None, init=False)
    _why: str | None = field(default=None, init=False, repr=False, compare=False)

    # --- named guards: the Machine's conditions, looked up on the holder by name -------
    def has_reason(self) -> bool:
        """The operator gave a reason (withdraw, revert, cancel)."""
        if self.reason and self.reason.strip():
            return True
        return self.refuse("нужно указать причину (--comment).")

    def has_required_evidence(self) -> bool:
        """Every evidence kind the measure's result names is supplied."""
        missing = self.missing_evidence()
        if not missing:
            return True
        names = "; ".join(f"{kind} — {self.required_evidence[kind]}" for kind in missing)
        return self.refuse(f"не хватает подтверждающего документа (--evidence): {names}.")

    def equipped_and_trained(self) -> bool:
        """The center is at least at ``staff_trained``: equipped and its staff trained."""
        if self.state in _TRAINED_OR_LATER:
            return True
        return self.refuse("центр не может открыться, пока он не оснащён и персонал не обучен.")

    def missing_evidence(self) -> list[str]:
        """Required evidence kinds with no (or only blank) text supplied."""
        return [
            kind for kind in self.required_evidence if not (self.evidence.get(kind) or "").strip()
        ]

    def refuse(self, why: str) -> bool:
        """Say why the guard being checked refuses; returns False, the guard's answer."""
        self._why = why
        return False

    def _record_refusal(self, guard: str) -> None:
        # Called by the library's condition check the moment ``guard`` answered False.
        why, self._why = self._why, None
        if self.refusal is None:  # the first refusal is the one reported
            self.refusal = Refusal(guard=guard, reason=why or f"условие «{guard}» не выполнено.")

    def __getattr__(self, name: str) -> Any:
        # ``was_<state>``: guards of the reverts out of ``withdrawn`` and of a moved
        # deadline reopening an overdue cycle.
        if name.startswith(center.GUARD_WAS_PREFIX):
            wanted = name[len(center.GUARD_WAS_PREFIX) :]
            return lambda: self.previous_state == wanted
        raise AttributeError(name)


class _NamedGuard(Condition):
    """A condition that, when it refuses, records its name on the fire's holder."""

    def check(self, event_data: EventData) -> bool:
        # Not ``super()``: a frame less per check, and a revert out of ``withdrawn`` makes 12.
        passed = Condition.check(self, event_data)
        if not passed and isinstance(holder := event_data.model, StateHolder):
            holder._record_refusal(str(self.func))  # guards are declared by name
        return passed


class _GuardedTransition(Transition):
    condition_cls = _NamedGuard


class _Machine(Machine):
    transition_cls = _GuardedTransition


@dataclass(frozen=True, kw_only=True)
class WorkflowSpec:
    """A machine's definition: the states Enum, transitions, titles, initial state."""

    name: str
    entity_title: str
    states: type[StrEnum]
    transitions: Sequence[Mapping[str, Any]]
    initial: str
    titles: Mapping[Any, str]
    #: What each trigger does, in Russian (errors name a trigger so, with its id).
    trigger_titles: Mapping[str, str] = field(default_factory=dict)
    #: Triggers the engine fires itself as part of another operation (a moved deadline
    #: reopening an overdue cycle); an operator's ``fire`` does not know them.
    internal: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Edge:
    """One transition as the Machine holds it."""

    trigger: str
    source: str
    dest: str
    guards: tuple[str, ...]


class Workflow:
    """One `transitions.Machine` shared by every fire of one kind of entity."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec
        self._machine = _Machine(
            model=None,
            states=[s.value for s in spec.states],
            transitions=[dict(t) for t in spec.transitions],
            initial=spec.initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @property
    def triggers(self) -> list[str]:
        """Every public trigger name of this workflow (not `WorkflowSpec.internal`), in
        declaration order."""
        return [t for t in self._machine.events if t not in self.spec.internal]

    def require_trigger(self, trigger: str, *, entity: str) -> None:
        """Refuse a trigger this workflow does not have, before anything is read.

        Raises:
            UnknownTrigger: ``trigger`` is none of `triggers` (they are listed).
        """
        if trigger not in self._machine.events or trigger in self.spec.internal:
            raise UnknownTrigger(
                entity=entity,
                trigger=trigger,
                known=self.triggers,
                titles=self.spec.trigger_titles,
            )

    def state_title(self, state: str) -> str:
        """The Russian name of ``state`` (the id itself if the workflow has no such state)."""
        return self.spec.titles.get(state, state)

    def allowed(self, state: str) -> list[str]:
        """Public triggers that have a transition out of ``state`` (guards not evaluated)."""
        return [t for t in self._machine.get_triggers(state) if t not in self.spec.internal]

    def edges(self) -> list[Edge]:
        """Every transition, grouped by trigger in declaration order."""
        return [
            Edge(
                trigger=trigger,
                source=t.source,
                dest=str(t.dest),
                guards=tuple(str(c.func) for c in t.conditions),
            )
            for trigger in self._machine.events
            for t in self._machine.get_transitions(trigger)
        ]

    def fire(
        self, holder: StateHolder, trigger: str, *, entity: str, internal: bool = False
    ) -> str:
        """Fire ``trigger`` on ``holder`` and return the new state.

        ``internal``: the engine's own fire, which may use a `WorkflowSpec.internal`
        trigger.

        Raises:
            UnknownTrigger: the workflow has no such trigger, or it is internal and
                ``internal`` is False (a `TriggerNotAllowed`).
            TriggerNotAllowed: the trigger has no transition from here.
            GuardRefused: every transition's guards refused; the first refusal is named.
        """
        # The event's own table of sources, which `Machine.get_triggers` also reads: asking
        # ``get_triggers`` here would walk every event on each fire.
        event = self._machine.events.get(trigger)
        if event is None or (trigger in self.spec.internal and not internal):
            raise UnknownTrigger(
                entity=entity,
                trigger=trigger,
                known=self.triggers,
                state=holder.state,
                allowed=self.allowed(holder.state),
                state_title=self.state_title(holder.state),
                titles=self.spec.trigger_titles,
            )
        if holder.state not in event.transitions:
            raise TriggerNotAllowed(
                entity=entity,
                trigger=trigger,
                state=holder.state,
                allowed=self.allowed(holder.state),
                state_title=self.state_title(holder.state),
                titles=self.spec.trigger_titles,
            )
        holder.refusal = None
        if event.trigger(holder):
            return holder.state
        refusal = holder.refusal
        if refusal is None:  # pragma: no cover - only a condition can stop a transition here
            raise RuntimeError(f"{entity}: переход «{trigger}» не выполнен без отказа условия.")
        raise GuardRefused(
            entity=entity, trigger=trigger, guard=refusal.guard, reason=refusal.reason
        )

    def mermaid(self) -> str:
        """A Mermaid ``stateDiagram-v2`` of the Machine's states and transitions."""
        lines = ["stateDiagram-v2", f"    [*] --> {self._machine.initial}"]
        for edge in self.edges():
            label = edge.trigger
            # ``was_<state>`` only picks the revert's destination, which the arrow shows.
            guards = [g for g in edge.guards if not g.startswith(center.GUARD_WAS_PREFIX)]
            if guards:
                label += " [" + ", ".join(guards) + "]"
            lines.append(f"    {edge.source} --> {edge.dest}: {label}")
        for name in self._machine.states:
            lines.append(f"    {name}: {name} ({self.spec.titles[self.spec.states(name)]})")
        return "\n".join(lines) + "\n"


def mermaid(spec: WorkflowSpec) -> str:
    """A Mermaid ``stateDiagram-v2`` of the workflow, generated from its definitions."""
    workflow = _BY_NAME.get(spec.name)
    if workflow is None or workflow.spec is not spec:
        workflow = Workflow(spec)
    return workflow.mermaid()


CENTER_SPEC = WorkflowSpec(
    name="center",
    entity_title="Центр",
    states=center.CenterState,
    transitions=center.TRANSITIONS,
    initial=center.CenterState.PLANNED.value,
    titles=center.STATE_TITLES,
    trigger_titles={t.value: title for t, title in center.TRIGGER_TITLES.items()},
)
CYCLE_SPEC = WorkflowSpec(
    name="cycle",
    entity_title="Цикл мероприятия",
    states=cycle.CycleState,
    transitions=cycle.TRANSITIONS,
    initial=cycle.CycleState.SCHEDULED.value,
    titles=cycle.STATE_TITLES,
    trigger_titles={str(t): title for t, title in cycle.TRIGGER_TITLES.items()},
    internal=cycle.INTERNAL_TRIGGERS,
)

CENTER_WORKFLOW = Workflow(CENTER_SPEC)
CYCLE_WORKFLOW = Workflow(CYCLE_SPEC)
_BY_NAME = {w.spec.name: w for w in (CENTER_WORKFLOW, CYCLE_WORKFLOW)}
