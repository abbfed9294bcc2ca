"""An option or argument not given costs nothing to parse.

This Typer converts each parameter's value through a Pydantic ``TypeAdapter`` it builds
the first time the parameter is processed, and it processes every parameter of the
command line's commands, given or not: ``tochka centers list`` built ten adapters (some
15 ms of a 0.6 s start) for values that were all None. For a single-valued parameter
Typer's conversion gives None back for None without looking at the type
(``RuntimeParam.coerce``), so `install` has a parameter whose value is None and whose
adapter is not built yet processed with a converter that gives None, and the adapter is
built when a value first comes. The required check and the callback still run as Typer
runs them. If a future Typer changes these internals, `install` leaves it as it is
(``tests/test_cli_start.py`` says so).
"""

from __future__ import annotations

from typing import Any


class _GivesNone:
    """What Typer's conversion does with a single value's None: gives None."""

    @staticmethod
    def coerce(value: None, param: Any, ctx: Any) -> None:
        return None


_GIVES_NONE = _GivesNone()


def install() -> bool:
    """Skip building the converter of a parameter whose value is None (idempotent);
    False if this Typer's parameters are not built the way this expects."""
    from typer import core

    parameter = getattr(core, "_TyperParameter", None)
    original = getattr(parameter, "process_value", None)
    if parameter is None or original is None or not hasattr(parameter, "get_runtime_param"):
        return False
    if getattr(original, "absent_values", False):
        return True

    def process_value(self: Any, ctx: Any, value: Any) -> Any:
        if (
            value is None
            and getattr(self, "_runtime_param", False) is None
            and not (self.multiple or self.nargs == -1)
        ):
            self._runtime_param = _GIVES_NONE
            try:
                return original(self, ctx, value)
            finally:
                self._runtime_param = None  # a value that comes later builds its own
        return original(self, ctx, value)

    process_value.absent_values = True  # type: ignore[attr-defined]
    parameter.process_value = process_value
    return True
