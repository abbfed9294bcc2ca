"""JSON of a small mapping of texts, written directly (an event's evidence, on every
transition): setting a `json.JSONEncoder` up for one small object costs more than
writing it. Callers give the string function and separators of the encoder they stand
for, and keep that encoder for everything else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def texts_object(
    value: Any, encode: Callable[[str], str], *, sort: bool, colon: str, comma: str
) -> str | None:
    """``value``'s JSON as the encoder whose string function is ``encode`` writes it
    (``sort``: sort_keys; ``colon``, ``comma``: its separators), when it is a dict of
    texts; None for anything else (another type, a key or value not a text), which the
    caller's encoder writes or refuses."""
    if type(value) is not dict:
        return None
    try:
        items = sorted(value.items()) if sort else value.items()
        pairs = [f"{encode(k)}{colon}{encode(v)}" for k, v in items]
    except TypeError:
        return None
    return "{" + comma.join(pairs) + "}"
