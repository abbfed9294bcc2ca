"""The project's exception hierarchy root and the state-machine errors.

`TochkaError` lives in the innermost layer so that every layer (states, workflow,
notifications) can derive from it without importing a layer above. Each error keeps
its values as attributes; ``str(error)`` is the Russian message shown to people, and
``hint`` (when present) says what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence


class TochkaError(Exception):
    """Base class of every error Tochka reports to a person.

    Attributes:
        message: the Russian text shown to the user.
        hint: optional Russian advice on what to do next.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


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
