"""Pure state-machine definitions: states, triggers, guards. Imports only the shared base.

The machines themselves (and the `transitions` library) load on first use (~20 ms), so
that read-only commands that only need the state Enums start faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from base.errors import TochkaError
from states.center import CenterState, CenterTrigger
from states.cycle import CycleState, CycleTrigger
from states.errors import GuardRefused, StateError, TriggerNotAllowed, UnknownTrigger

if TYPE_CHECKING:
    from states.machine import CENTER_WORKFLOW, CYCLE_WORKFLOW, StateHolder, Workflow

_LAZY = {"CENTER_WORKFLOW", "CYCLE_WORKFLOW", "StateHolder", "Workflow"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from states import machine

        return getattr(machine, name)
    raise AttributeError(f"module 'states' has no attribute {name!r}")


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
    "UnknownTrigger",
    "Workflow",
]
