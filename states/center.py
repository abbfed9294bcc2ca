"""The lifecycle of a "Точка роста" center.

planned → infrastructure_agreed → equipped → staff_trained → opened → reporting;
``withdraw`` from any active state (a reason is required); ``revert`` undoes one step
(a reason is required), including a withdrawal, which returns the center to the state
it was withdrawn from.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class CenterState(StrEnum):
    """States of a center, in lifecycle order (``withdrawn`` last)."""

    PLANNED = "planned"
    INFRASTRUCTURE_AGREED = "infrastructure_agreed"
    EQUIPPED = "equipped"
    STAFF_TRAINED = "staff_trained"
    OPENED = "opened"
    REPORTING = "reporting"
    WITHDRAWN = "withdrawn"


class CenterTrigger(StrEnum):
    """Public trigger names of the center machine."""

    AGREE_INFRASTRUCTURE = "agree_infrastructure"
    EQUIP = "equip"
    TRAIN_STAFF = "train_staff"
    OPEN = "open"
    START_REPORTING = "start_reporting"
    WITHDRAW = "withdraw"
    REVERT = "revert"


#: The forward path: each stage is reached by one trigger from the previous one.
LIFECYCLE: tuple[CenterState, ...] = (
    CenterState.PLANNED,
    CenterState.INFRASTRUCTURE_AGREED,
    CenterState.EQUIPPED,
    CenterState.STAFF_TRAINED,
    CenterState.OPENED,
    CenterState.REPORTING,
)

FORWARD_TRIGGERS: dict[CenterState, CenterTrigger] = {
    CenterState.INFRASTRUCTURE_AGREED: CenterTrigger.AGREE_INFRASTRUCTURE,
    CenterState.EQUIPPED: CenterTrigger.EQUIP,
    CenterState.STAFF_TRAINED: CenterTrigger.TRAIN_STAFF,
    CenterState.OPENED: CenterTrigger.OPEN,
    CenterState.REPORTING: CenterTrigger.START_REPORTING,
}

STATE_TITLES: dict[CenterState, str] = {
    CenterState.PLANNED: "запланирован",
    CenterState.INFRASTRUCTURE_AGREED: "инфраструктурный лист согласован",
    CenterState.EQUIPPED: "оснащён",
    CenterState.STAFF_TRAINED: "персонал обучен",
    CenterState.OPENED: "открыт",
    CenterState.REPORTING: "отчитывается",
    CenterState.WITHDRAWN: "исключён",
}

#: What each trigger does, as a person reads it in ``history`` and ``centers show``.
TRIGGER_TITLES: dict[CenterTrigger, str] = {
    CenterTrigger.AGREE_INFRASTRUCTURE: "согласование инфраструктурного листа",
    CenterTrigger.EQUIP: "оснащение",
    CenterTrigger.TRAIN_STAFF: "обучение персонала",
    CenterTrigger.OPEN: "открытие центра",
    CenterTrigger.START_REPORTING: "начало отчётности",
    CenterTrigger.WITHDRAW: "исключение из дорожной карты",
    CenterTrigger.REVERT: "отмена перехода",
}

# Guard names are methods of the state holder (see states.machine.StateHolder).
GUARD_HAS_REASON = "has_reason"
GUARD_EQUIPPED_AND_TRAINED = "equipped_and_trained"
GUARD_WAS_PREFIX = "was_"


def _transitions() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for previous, state in zip(LIFECYCLE, LIFECYCLE[1:], strict=False):
        conditions = [GUARD_EQUIPPED_AND_TRAINED] if state is CenterState.OPENED else []
        result.append(
            {
                "trigger": FORWARD_TRIGGERS[state].value,
                "source": previous.value,
                "dest": state.value,
                "conditions": conditions,
            }
        )
    for state in LIFECYCLE:
        result.append(
            {
                "trigger": CenterTrigger.WITHDRAW.value,
                "source": state.value,
                "dest": CenterState.WITHDRAWN.value,
                "conditions": [GUARD_HAS_REASON],
            }
        )
    for previous, state in zip(LIFECYCLE, LIFECYCLE[1:], strict=False):
        result.append(
            {
                "trigger": CenterTrigger.REVERT.value,
                "source": state.value,
                "dest": previous.value,
                "conditions": [GUARD_HAS_REASON],
            }
        )
    # Reverting a withdrawal returns to the state the center was withdrawn from.
    for state in LIFECYCLE:
        result.append(
            {
                "trigger": CenterTrigger.REVERT.value,
                "source": CenterState.WITHDRAWN.value,
                "dest": state.value,
                "conditions": [GUARD_HAS_REASON, f"{GUARD_WAS_PREFIX}{state.value}"],
            }
        )
    return result


TRANSITIONS: list[dict[str, Any]] = _transitions()
