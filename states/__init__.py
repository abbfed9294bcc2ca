"""Pure state-machine definitions: states, triggers, guards. Imports nothing of ours."""

from states.center import CenterState, CenterTrigger
from states.cycle import CycleState, CycleTrigger
from states.errors import GuardRefused, StateError, TochkaError, TriggerNotAllowed
from states.machine import CENTER_WORKFLOW, CYCLE_WORKFLOW, StateHolder, Workflow

__all__ = [
    "CENTER_WORKFLOW",
    "CYCLE_WORKFLOW",
    "CenterState",
    "CenterTrigger",
    "CycleState",
    "CycleTrigger",
    "GuardRefused",
    "StateError",
    "StateHolder",
    "TochkaError",
    "TriggerNotAllowed",
    "Workflow",
]
