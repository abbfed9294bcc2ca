"""`base.frozen.stored_at_once`: the value objects built per row of a bulk file store
their fields at once and stay the same frozen dataclasses (issue 16, item 2)."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import tracemalloc
from dataclasses import dataclass, field

import pytest

from base.frozen import stored_at_once
from workflow.engine.audit import NewEvent
from workflow.engine.bulk import BulkRow, RowOutcome
from workflow.engine.transitions import CenterFire, TransitionResult
from workflow.imports.fire_file import FireRow


@dataclass(frozen=True, kw_only=True)
class _Plain:
    code: str
    trigger: str
    evidence: dict[str, str] | None = None
    line: int = 0


@stored_at_once
@dataclass(frozen=True, kw_only=True)
class _Quick:
    code: str
    trigger: str
    evidence: dict[str, str] | None = None
    line: int = 0


def _traced(cls: type[_Plain] | type[_Quick]) -> int:
    """The memory 1,000 instances of ``cls`` take."""
    cls(code="A0", trigger="open")  # the class's shared keys made first
    tracemalloc.start()
    try:
        kept = [cls(code=f"A{n}", trigger="open", line=n) for n in range(1000)]
        return tracemalloc.get_traced_memory()[0] - sys.getsizeof(kept)
    finally:
        tracemalloc.stop()


def test_the_class_is_the_same_frozen_dataclass() -> None:
    quick = _Quick(code="A1", trigger="open", line=3)
    plain = _Plain(code="A1", trigger="open", line=3)
    assert (
        vars(quick)
        == vars(plain)
        == {
            "code": "A1",
            "trigger": "open",
            "evidence": None,
            "line": 3,
        }
    )
    # Near the same memory: the dict shares its keys with the class's other instances
    # (a dict of its own per object took 2.7 times the plain object's).
    assert _traced(_Quick) < 1.5 * _traced(_Plain)
    assert repr(quick) == repr(plain).replace("_Plain", "_Quick")
    assert quick == _Quick(code="A1", trigger="open", line=3)
    assert quick != _Quick(code="A1", trigger="open")
    assert hash(quick) == hash(_Quick(code="A1", trigger="open", line=3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.code = "B2"  # type: ignore[misc]
    assert dataclasses.replace(quick, line=4) == _Quick(code="A1", trigger="open", line=4)
    assert dataclasses.asdict(quick) == dataclasses.asdict(plain)
    assert inspect.signature(_Quick) == inspect.signature(_Plain)
    with pytest.raises(TypeError):
        _Quick("A1", "open")  # type: ignore[misc]  # keyword-only, as before
    with pytest.raises(TypeError):
        _Quick(code="A1")  # type: ignore[call-arg]  # a field without default is required


@pytest.mark.parametrize(
    "cls", [TransitionResult, CenterFire, BulkRow, RowOutcome, NewEvent, FireRow]
)
def test_the_engines_value_objects_keep_the_signature_of_their_fields(cls: type) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(inspect.signature(cls).parameters) == names
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"


def test_what_the_plain_init_would_have_to_run_is_refused() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Factory:
        items: list[str] = field(default_factory=list)

    @dataclass(frozen=True, kw_only=True)
    class Post:
        code: str

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True)
    class Positional:
        code: str

    @dataclass(frozen=True, kw_only=True, slots=True)
    class Slotted:
        code: str

    @dataclass(kw_only=True)
    class Mutable:
        code: str

    for cls in (Factory, Post, Positional, Slotted, Mutable):
        with pytest.raises(TypeError):
            stored_at_once(cls)
