"""The state-machine errors. They derive from `base.errors.TochkaError`, the root."""

from __future__ import annotations

from collections.abc import Sequence

from base.errors import TochkaError


class StateError(TochkaError):
    """A trigger could not be fired: not allowed now, or a guard refused it."""


class TriggerNotAllowed(StateError):
    """The trigger does not exist or is not allowed from the current state."""

    def __init__(self, *, entity: str, trigger: str, state: str, allowed: Sequence[str]) -> None:
        self.entity = entity
        self.trigger = trigger
        self.state = state
        self.allowed = tuple(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "нет допустимых переходов"
        super().__init__(
            f"{entity}: переход «{trigger}» недопустим в состоянии «{state}».",
            hint=f"Допустимые переходы из «{state}»: {allowed_text}.",
        )


class GuardRefused(StateError):
    """A named guard refused the transition; ``reason`` says why in Russian."""

    def __init__(self, *, entity: str, trigger: str, guard: str, reason: str) -> None:
        self.entity = entity
        self.trigger = trigger
        self.guard = guard
        self.reason = reason
        super().__init__(f"{entity}: переход «{trigger}» отклонён: {reason}")
