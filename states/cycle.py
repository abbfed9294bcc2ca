"""The lifecycle of one measure cycle (one occurrence of a roadmap measure).

scheduled → in_progress → done; scheduled/in_progress → overdue (the scheduler's
``mark_overdue`` when the due date passes) → done (late); ``cancel`` from any open state.
``complete`` requires evidence of every kind the measure's "result" names.
``reschedule`` (internal: fired by the engine when an order moves an overdue cycle's
deadline to a term that has not ended) returns it to the open state it was marked overdue
from.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from states.center import GUARD_WAS_PREFIX


class CycleState(StrEnum):
    """States of a measure cycle."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    OVERDUE = "overdue"
    DONE = "done"
    CANCELLED = "cancelled"


class CycleTrigger(StrEnum):
    """Public trigger names of the measure-cycle machine."""

    START = "start"
    COMPLETE = "complete"
    MARK_OVERDUE = "mark_overdue"
    CANCEL = "cancel"


#: Fired by the engine as part of a moved deadline (`workflow.engine.amendments`), never
#: by ``tochka cycles fire``; the move itself is authorised as ``Action.RESCHEDULE``.
RESCHEDULE = "reschedule"
INTERNAL_TRIGGERS: frozenset[str] = frozenset({RESCHEDULE})

OPEN_STATES: frozenset[CycleState] = frozenset(
    {CycleState.SCHEDULED, CycleState.IN_PROGRESS, CycleState.OVERDUE}
)

STATE_TITLES: dict[CycleState, str] = {
    CycleState.SCHEDULED: "запланирован",
    CycleState.IN_PROGRESS: "выполняется",
    CycleState.OVERDUE: "просрочен",
    CycleState.DONE: "выполнен",
    CycleState.CANCELLED: "отменён",
}

#: What each trigger does, as a person reads it in ``history``; the engine's own
#: (`RESCHEDULE`) included.
TRIGGER_TITLES: dict[str, str] = {
    CycleTrigger.START: "начало выполнения",
    CycleTrigger.COMPLETE: "выполнение",
    CycleTrigger.MARK_OVERDUE: "просрочка",
    CycleTrigger.CANCEL: "отмена",
    RESCHEDULE: "перенос срока",
}

GUARD_HAS_EVIDENCE = "has_required_evidence"
GUARD_HAS_REASON = "has_reason"

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "start", "source": "scheduled", "dest": "in_progress", "conditions": []},
    {
        "trigger": "complete",
        "source": "in_progress",
        "dest": "done",
        "conditions": [GUARD_HAS_EVIDENCE],
    },
    {
        "trigger": "complete",
        "source": "overdue",
        "dest": "done",
        "conditions": [GUARD_HAS_EVIDENCE],
    },
    {"trigger": "mark_overdue", "source": "scheduled", "dest": "overdue", "conditions": []},
    {"trigger": "mark_overdue", "source": "in_progress", "dest": "overdue", "conditions": []},
    {
        "trigger": RESCHEDULE,
        "source": "overdue",
        "dest": "scheduled",
        # ``was_<state>``: the open state the cycle was marked overdue from.
        "conditions": [f"{GUARD_WAS_PREFIX}scheduled"],
    },
    {
        "trigger": RESCHEDULE,
        "source": "overdue",
        "dest": "in_progress",
        "conditions": [f"{GUARD_WAS_PREFIX}in_progress"],
    },
    {
        "trigger": "cancel",
        "source": "scheduled",
        "dest": "cancelled",
        "conditions": [GUARD_HAS_REASON],
    },
    {
        "trigger": "cancel",
        "source": "in_progress",
        "dest": "cancelled",
        "conditions": [GUARD_HAS_REASON],
    },
    {
        "trigger": "cancel",
        "source": "overdue",
        "dest": "cancelled",
        "conditions": [GUARD_HAS_REASON],
    },
]
