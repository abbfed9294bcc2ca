"""The roadmap file's relative deadlines: ``recurrence: {kind: after, after: {...}}``.

Part of the file's schema (`workflow.roadmap.schema`): a measure due N calendar or
working days after another measure's cycle or a center's stage is done («в течение 10
дней после заключения соглашения»). The entry checks its own keys; the references
between measures (an unknown measure, the measure itself, a cycle A after B after A)
are checked once every measure is read, by `check_relative_deadlines`. The cycles they
make are `workflow.roadmap.relative`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol, Self, get_args

from pydantic import BaseModel, ConfigDict, StrictBool, model_validator

from states.center import STATE_TITLES, CenterState
from workflow.roadmap.definition import Recurrence, RelativeDeadline
from workflow.roadmap.relative import find_cycle
from workflow.roadmap.schema_fields import PositiveInt, StageName, about, one_of, refusal

__all__ = ["MAX_RELATIVE_DAYS", "RelativeEntry", "check_relative_deadlines", "relative_text"]

#: The most days a relative deadline may count after its event.
MAX_RELATIVE_DAYS = 365


class RelativeEntry(BaseModel):
    """``recurrence.after``: the event the measure's deadline counts from."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Срок после события",
        json_schema_extra={
            "description": "Срок через N дней после выполнения другого мероприятия "
            "(measure) или этапа центра (stage): «в течение 10 дней после заключения "
            "соглашения» — measure: 4, days: 10. Указывается одно из двух: measure или stage."
        },
    )

    measure: Annotated[
        PositiveInt | None,
        about(
            "Номер мероприятия из measures: цикл создаётся, когда выполнен цикл этого "
            "мероприятия, и называется его периодом."
        ),
    ] = None
    stage: Annotated[
        StageName | None,
        one_of(get_args(StageName), "неизвестный этап"),
        about(
            "Этап центра: цикл создаётся для каждого центра, достигшего этапа, и "
            "называется «центр <код>»."
        ),
    ] = None
    days: Annotated[
        PositiveInt, about(f"Через сколько дней после события (1–{MAX_RELATIVE_DAYS}).")
    ]
    working: Annotated[
        StrictBool,
        about("true: рабочие дни по производственному календарю России; иначе календарные."),
    ] = False

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.measure is None) == (self.stage is None):
            raise refusal(
                "укажите одно из двух: measure (номер мероприятия) или stage (этап центра), "
                "после выполнения которого отсчитывается срок"
            )
        if self.days > MAX_RELATIVE_DAYS:
            raise refusal(
                f"не больше {MAX_RELATIVE_DAYS} дней после события, указано {self.days}",
                at="days",
            )
        return self

    def to_definition(self) -> RelativeDeadline:
        return RelativeDeadline(
            measure=self.measure, stage=self.stage, days=self.days, working=self.working
        )


class _HasRecurrence(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def recurrence(self) -> Any: ...


def check_relative_deadlines(measures: Sequence[_HasRecurrence]) -> None:
    """Refuses a relative deadline naming an unknown measure, its own measure, or one in a
    cycle of relative deadlines (5 after 4 after 5): the error is at the first such
    measure's ``recurrence.after.measure``."""
    numbers = {m.number for m in measures}
    edges: dict[int, list[int]] = {}
    for index, m in enumerate(measures):
        after = getattr(m.recurrence, "after", None)
        if m.recurrence.kind is not Recurrence.AFTER or after is None or after.measure is None:
            continue
        at = (index, "recurrence", "after", "measure")
        if after.measure == m.number:
            raise refusal(
                f"мероприятие № {m.number} не может отсчитывать срок от самого себя", at=at
            )
        if after.measure not in numbers:
            raise refusal(f"мероприятия № {after.measure} нет в measures", at=at)
        edges[m.number] = [after.measure]
    for index, m in enumerate(measures):
        if m.number in edges and (cycle := find_cycle(edges, m.number)) is not None:
            chain = " после ".join(f"№ {n}" for n in cycle)
            raise refusal(
                f"сроки мероприятий отсчитываются по кругу ({chain}): ни один из них не "
                "наступит; отсчитывайте срок хотя бы одного от другого события",
                at=(index, "recurrence", "after", "measure"),
            )


def relative_text(rule: RelativeDeadline) -> str:
    """How ``roadmap show`` and the letters say it: «через 10 дней после выполнения
    мероприятия № 4», «через 5 рабочих дней после этапа центра «оснащён»»."""
    days = f"{rule.days} {_days_word(rule.days, working=rule.working)}"
    if rule.measure is not None:
        return f"через {days} после выполнения мероприятия № {rule.measure}"
    stage = STATE_TITLES[CenterState(rule.stage)] if rule.stage else ""
    return f"через {days} после этапа центра «{stage}» (для каждого центра)"


def _days_word(n: int, *, working: bool) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return "рабочий день" if working else "день"
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return "рабочих дня" if working else "дня"
    return "рабочих дней" if working else "дней"
