"""A cheaper ``__init__`` for the frozen value objects built once per row of a bulk file.

A frozen dataclass's ``__init__`` stores each field with ``object.__setattr__`` (its own
``__setattr__`` refuses), a call through the type's slot wrapper per field: a transition
builds five such objects (the file's row, the row to fire, the event, the result, the
outcome), some forty fields: 32,000 instructions a row of a bulk file (callgrind,
1,000 rows), a third of what all or nothing costs beyond the raw driver.
`stored_at_once` gives the class an ``__init__`` of the same keyword-only signature and
defaults that fills the instance's ``__dict__`` directly; the class is the same
dataclass otherwise (frozen, its fields, equality, hash, repr, `dataclasses.replace`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["stored_at_once"]

T = TypeVar("T")


def stored_at_once(cls: type[T]) -> type[T]:
    """Give a frozen, keyword-only dataclass (without slots) an ``__init__`` that fills
    its instance's ``__dict__`` directly.

    Raises:
        TypeError: the class is not such a dataclass, or has what the plain ``__init__``
            would have to run (a ``__post_init__``, a default factory, a field left out
            of ``__init__``, an ``InitVar``) or a field named ``self``.
    """
    params: Any = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: not a frozen dataclass without slots")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if (
        hasattr(cls, "__post_init__")
        or any(f.name == "self" for f in fields)
        or len(fields) != len(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        or any(
            not f.init or not f.kw_only or f.default_factory is not dataclasses.MISSING
            for f in fields
        )
    ):
        raise TypeError(f"{cls.__name__}: its __init__ does more than store its fields")
    names: dict[str, Any] = {}
    signature = []
    for f in fields:
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            names[f"_default_{f.name}"] = f.default
            signature.append(f"{f.name}=_default_{f.name}")
    # The instance's own dict, filled in the fields' order: it shares its keys with
    # every instance of the class, as the plain __init__'s stores do (a dict of its own
    # would take some 350 bytes more an object).
    own = "_dict"
    while own in {f.name for f in fields}:
        own += "_"
    stores = "".join(f"    {own}[{f.name!r}] = {f.name}\n" for f in fields)
    source = f"def __init__(self, *, {', '.join(signature)}):\n    {own} = self.__dict__\n{stores}"
    exec(source, names)  # noqa: S102  # the class's own field names, as dataclasses does
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = cls.__init__.__annotations__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
