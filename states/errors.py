"""The state-machine errors. They derive from `base.errors.TochkaError`, the root."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from base.errors import TochkaError


class StateError(TochkaError):
    """A trigger could not be fired: not allowed now, or a guard refused it."""


def named(triggers: Sequence[str], titles: Mapping[str, str]) -> str:
    """Triggers as a person reads them, each with the id they type: «оснащение (equip),
    открытие центра (open)» (an id without a title alone)."""
    return ", ".join(f"{titles[t]} ({t})" if t in titles else t for t in triggers)


class TriggerNotAllowed(StateError):
    """The trigger has no transition from the current state (`UnknownTrigger`: there is
    no such trigger at all).

    ``state`` is the state's id; the message names it by ``state_title``, its Russian
    name, when one is given.
    """

    def __init__(
        self,
        *,
        entity: str,
        trigger: str,
        state: str,
        allowed: Sequence[str],
        state_title: str | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> None:
        self.entity = entity
        self.trigger = trigger
        self.state = state
        self.allowed = tuple(allowed)
        name = state_title or state
        titles = titles or {}
        allowed_text = named(self.allowed, titles) or "нет допустимых переходов"
        super().__init__(
            f"{entity}: переход «{named([trigger], titles)}» недопустим в состоянии «{name}».",
            hint=f"Допустимые переходы из «{name}»: {allowed_text}.",
        )


class UnknownTrigger(TriggerNotAllowed):
    """The trigger is none of the machine's: a typo rather than a refusal of the state.

    ``known`` lists every trigger; ``state`` and ``allowed`` are set when the entity's
    state is known (empty otherwise).
    """

    def __init__(
        self,
        *,
        entity: str,
        trigger: str,
        known: Sequence[str],
        state: str = "",
        allowed: Sequence[str] = (),
        state_title: str | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> None:
        self.entity = entity
        self.trigger = trigger
        self.state = state
        self.allowed = tuple(allowed)
        self.known = tuple(known)
        titles = titles or {}
        hint = None
        if state:
            name = state_title or state
            now = named(self.allowed, titles) or "нет допустимых переходов"
            hint = f"Допустимые переходы из «{name}»: {now}."
        StateError.__init__(
            self,
            f"{entity}: неизвестное действие «{trigger}»; возможные: {named(self.known, titles)}.",
            hint=hint,
        )


class GuardRefused(StateError):
    """A named guard refused the transition; ``reason`` says why in Russian."""

    def __init__(self, *, entity: str, trigger: str, guard: str, reason: str) -> None:
        self.entity = entity
        self.trigger = trigger
        self.guard = guard
        self.reason = reason
        super().__init__(f"{entity}: переход «{trigger}» отклонён: {reason}")
