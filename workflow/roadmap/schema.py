"""The roadmap file's schema: pydantic models of everything a roadmap YAML file may hold.

The models validate the data the loader makes of the YAML node tree
(`workflow.roadmap.loader`; its scalars: `workflow.roadmap.schema_fields`) and build the
frozen value objects of `workflow.roadmap.definition` (``to_definition``). The same models
give the JSON Schema that ``tochka roadmap schema`` prints for an operator's editor
(`json_schema`). An explicit null is never a value: no field takes one, so the JSON Schema
leaves ``null`` out of optional fields too.

Cross-checks. One mistake is reported once, and every independent mistake is reported in
the same run, so checks that look across sections (a measure names a party; a stage names
a measure; two parties share an id) cannot wait for the whole file to be valid, as a
top-level model validator would. Validators record what the file declares in a
`FileScope` passed as the validation context, and look references up in it. pydantic
validates a model's fields in declaration order, so every section that declares
(``parties``, ``evidence_kinds``, ``measures``) is a field before the sections that refer
to it. Checks inside one entry are its model validators, or field validators reading
``info.data`` (the entry's fields validated so far) where a broken sibling must not hide
them.

About 600 lines, a third of them the Russian descriptions the JSON Schema carries: one
model per section of the file, kept together because the sections refer to one another
through the order of `RoadmapFile`'s fields, which reads right only in one place.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from base.clock import local_date
from notifications.signature import Signature
from states.center import CenterState
from workflow.roadmap.definition import (
    AmendingDecree,
    ClosingPolicy,
    EvidenceKind,
    FormsPolicy,
    Indicator,
    IndicatorPeriod,
    IndicatorUnit,
    Measure,
    MeasureDone,
    MeasureItem,
    MonitoringPolicy,
    Party,
    PartyKind,
    Recurrence,
    ReminderPolicy,
    Roadmap,
    StageRule,
)
from workflow.roadmap.items import marks_in
from workflow.roadmap.parties import PER_CENTER_KINDS
from workflow.roadmap.schema_fields import (
    SUPPORTED_FORMAT,
    CohortYear,
    DayMonth,
    DueDate,
    Email,
    EvidenceRef,
    FileScope,
    FootnoteMark,
    Identifier,
    MonthEnd,
    Number,
    PartyRef,
    PositiveInt,
    RoadmapCode,
    RoadmapDate,
    Roles,
    StageName,
    Text,
    about,
    declare,
    distinct,
    file_scope,
    one_of,
    refusal,
)
from workflow.roadmap.schema_recurrence import (
    CohortsEntry,
    RecurrenceEntry,
    cohort_years,
    refuse_before_program,
)
from workflow.roadmap.schema_relative import check_relative_deadlines

__all__ = [
    "CenterPermissions",
    "CyclePermissions",
    "RoadmapFile",
    "json_schema",
    "validate_roadmap_data",
]


class _Entry(BaseModel):
    """A part of the roadmap file: unknown keys are refused, values are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _config(title: str, description: str) -> ConfigDict:
    # The docstrings are for programmers; the JSON Schema speaks to operators, in Russian.
    return ConfigDict(
        extra="forbid", frozen=True, title=title, json_schema_extra={"description": description}
    )


# ----------------------------------------------------------------------- entries


class PeriodEntry(_Entry):
    """``period``: the program's first and last day."""

    model_config = _config("Период программы", "Первый и последний день программы.")

    start: Annotated[RoadmapDate, about("Начало: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ.")]
    end: Annotated[RoadmapDate, about("Окончание: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ.")]

    @model_validator(mode="after")
    def _ends_after_it_starts(self, info: ValidationInfo) -> Self:
        if self.end < self.start:
            raise refusal(
                f"окончание программы ({self.end:%d.%m.%Y}) раньше её начала "
                f"({self.start:%d.%m.%Y})",
                at="end",
            )
        file_scope(info).period_end = self.end
        file_scope(info).period_start = self.start
        return self


class AmendedByEntry(_Entry):
    """``amended_by``: the decree this version of the file follows (an amendment)."""

    model_config = _config(
        "Изменяющее распоряжение",
        "Распоряжение, которым внесены изменения, отражённые в этой версии файла: его "
        "номер, дата и наименование. Им подписаны переносы сроков при загрузке.",
    )

    number: Annotated[Text, about("Номер распоряжения, например 45-рп.")]
    date: Annotated[RoadmapDate, about("Дата распоряжения: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ.")]
    title: Annotated[Text, about("Наименование, например «О внесении изменений в …».")]

    def to_definition(self) -> AmendingDecree:
        return AmendingDecree(number=self.number, issued=self.date, title=self.title)


class PartyEntry(_Entry):
    """``parties[i]``: a responsible party with its address."""

    model_config = _config("Участник", "Ответственный участник и его адрес для напоминаний.")

    id: Annotated[Identifier, about("Идентификатор: строчные латинские буквы, цифры, «_».")]
    kind: Annotated[PartyKind, one_of(PartyKind, "неизвестный вид"), about("Вид участника.")]
    name: Annotated[Text, about("Название, как его печатают письма и отчёты.")]
    email: Annotated[
        Email | None,
        about(
            "Адрес электронной почты. У муниципалитета и школы без адреса напоминания "
            "получает орган управления образованием муниципалитета каждого центра или "
            "школа каждого центра."
        ),
    ] = None
    contact: Annotated[
        Text | None,
        about("Кому письма говорят «Здравствуйте, …!» (имя и отчество); иначе «Добрый день!»."),
    ] = None

    @field_validator("id", mode="before")
    @classmethod
    def _declare_id(cls, value: object, info: ValidationInfo) -> object:
        return declare(file_scope(info).parties, value, "участник")

    @model_validator(mode="after")
    def _addressed_unless_per_center(self) -> Self:
        # Only municipalities and schools have addresses elsewhere (`workflow.roadmap.parties`).
        if self.email is None and self.kind not in PER_CENTER_KINDS:
            raise refusal(
                f"нужен адрес email: участник вида «{self.kind.value}» получает напоминания "
                "по своему адресу, взять его больше неоткуда (без адреса могут быть только "
                "municipality и school — их адреса у центров)",
                at="email",
            )
        return self

    def to_definition(self) -> Party:
        """The frozen value object."""
        return Party(
            id=self.id,
            kind=self.kind,
            name=self.name,
            email=self.email or "",
            contact=self.contact or "",
        )


class EvidenceKindEntry(_Entry):
    """``evidence_kinds[i]``: a kind of document that closes a measure cycle."""

    model_config = _config("Вид документа", "Вид подтверждающего документа (приказ, письмо…).")

    id: Annotated[Identifier, about("Идентификатор: строчные латинские буквы, цифры, «_».")]
    name: Annotated[Text, about("Название документа.")]
    provided_by: Annotated[
        PartyRef | None,
        about("Кто направляет документ (участник из parties); по умолчанию — координатор."),
    ] = None

    @field_validator("id", mode="before")
    @classmethod
    def _declare_id(cls, value: object, info: ValidationInfo) -> object:
        return declare(file_scope(info).evidence_kinds, value, "вид подтверждающего документа")

    def to_definition(self) -> EvidenceKind:
        """The frozen value object."""
        return EvidenceKind(id=self.id, name=self.name, provided_by=self.provided_by or "")


#: The recurrences whose measure has a single cycle of its own, which ``done`` can close.
_SINGLE_CYCLE = frozenset({Recurrence.ONCE, Recurrence.ONCE_THEN_AS_NEEDED})


class DoneEntry(_Entry):
    """``measures[i].done``: the measure was done before the file was loaded."""

    model_config = _config(
        "Выполнено до загрузки",
        "Мероприятие уже выполнено (например, самим распоряжением): его цикл записывается "
        "выполненным в этот день с этими документами и не напоминается. Только для "
        "мероприятий с одним сроком (once, once_then_as_needed).",
    )

    on: Annotated[
        RoadmapDate,
        about("День выполнения: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ; не в будущем."),
    ]
    evidence: Annotated[
        dict[str, Text],
        about("Документы: вид из evidence мероприятия → реквизиты (номер, дата)."),
    ]

    @field_validator("on")
    @classmethod
    def _not_in_the_future(cls, value: date, info: ValidationInfo) -> date:
        scope = file_scope(info)
        if scope.now is not None:
            today = local_date(scope.now, scope.timezone or "Europe/Moscow")
            if value > today:
                raise refusal(
                    f"дата выполнения {value:%d.%m.%Y} в будущем (сегодня {today:%d.%m.%Y}): "
                    "в файле отмечают только уже выполненное"
                )
        start = scope.period_start
        # The decree's preparatory measures are due the year before the program starts.
        if start is not None and value.year < start.year - 1:
            raise refusal(
                f"дата выполнения {value:%d.%m.%Y} раньше года, предшествующего началу "
                f"программы ({start:%d.%m.%Y})"
            )
        return value

    def to_definition(self) -> MeasureDone:
        return MeasureDone(on=self.on, evidence=tuple(self.evidence.items()))


#: The number of a compound measure's item: the measure's number, a dot, the item's.
_ITEM_NUMBER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)+")

Footnotes = Annotated[
    dict[FootnoteMark, Text],
    about(
        'Сноски источника к текстам: знак → текст сноски, например {"*": "по согласованию '
        'с Минпросвещения России"}; знак стоит в тексте, к которому относится.'
    ),
]


def _refuse_unknown_marks(
    texts: dict[str, str | None], footnotes: dict[str, str], *, at: tuple[str | int, ...] = ()
) -> None:
    """Refuses a footnote mark written in one of ``texts`` (field → text) that no
    footnote explains."""
    for key, text in texts.items():
        for mark in sorted(marks_in([text or ""]) - set(footnotes)):
            raise refusal(
                f"в тексте знак сноски «{mark}», а сноски с таким знаком нет: добавьте её в "
                f'footnotes, например footnotes: {{"{mark}": "текст сноски"}}',
                at=(*at, key),
            )


class ItemEntry(_Entry):
    """``measures[i].items[j]``: a sub-item of a compound measure, its own cycle."""

    model_config = _config(
        "Пункт мероприятия",
        "Пункт составного мероприятия («Утверждение: 1) …; 2) …»): свой цикл, свой срок и "
        "свои документы; мероприятие выполнено, когда выполнены все его пункты.",
    )

    number: Annotated[
        Text,
        Field(json_schema_extra={"pattern": f"^{_ITEM_NUMBER_RE.pattern}$"}),
        about("Номер пункта: номер мероприятия, точка, номер пункта, например 2.1."),
    ]
    title: Annotated[Text, about("Текст пункта, дословно.")]
    due: Annotated[
        DueDate | None,
        about(
            "Срок пункта: ГГГГ-ММ-ДД, ДД.ММ.ГГГГ или месяц ГГГГ-ММ (последний день месяца); "
            "по умолчанию — срок мероприятия."
        ),
    ] = None
    due_text: Annotated[
        Text | None, about("Срок, как он написан в источнике, например «10 ноября 2020* года».")
    ] = None
    evidence: Annotated[
        list[EvidenceRef] | None,
        distinct("«{}» указан дважды"),
        about("Документы, закрывающие пункт; по умолчанию — документы мероприятия."),
    ] = None
    footnotes: Annotated[Footnotes, about("Сноски к текстам пункта.")] = {}

    @field_validator("number")
    @classmethod
    def _item_number(cls, value: str) -> str:
        if not _ITEM_NUMBER_RE.fullmatch(value):
            raise refusal(
                f"«{value}» — не номер пункта: пишите номер мероприятия, точку и номер "
                "пункта, например 2.1"
            )
        return value

    def to_definition(self, measure: MeasureEntry) -> MeasureItem:
        due = self.due or measure.recurrence.first_due
        if due is None:
            raise ValueError("an item without a due date of a measure without first_due")
        return MeasureItem(
            number=self.number,
            title=self.title,
            due=date(due.year, due.month, due.day),
            evidence=tuple(self.evidence if self.evidence is not None else measure.evidence),
            due_text=self.due_text or "",
            month_only=isinstance(due, MonthEnd),
            footnotes=tuple(self.footnotes.items()),
        )


class MeasureEntry(_Entry):
    """``measures[i]``: one row of the decree's table."""

    model_config = _config("Мероприятие", "Строка таблицы распоряжения; тексты дословно.")

    number: Annotated[PositiveInt, about("Номер строки, как в распоряжении; не повторяется.")]
    title: Annotated[Text, about("Наименование мероприятия, дословно.")]
    responsible: Annotated[
        list[PartyRef],
        Field(min_length=1),
        distinct("«{}» указан дважды"),
        about("Идентификаторы ответственных участников из parties."),
    ]
    responsible_text: Annotated[Text, about("Столбец «Ответственный», дословно.")]
    result: Annotated[Text, about("Столбец «Результат», дословно.")]
    evidence: Annotated[
        list[EvidenceRef],
        distinct("«{}» указан дважды"),
        about("Виды документов из evidence_kinds, нужные, чтобы закрыть цикл."),
    ]
    deadline_text: Annotated[Text, about("Столбец «Срок», дословно.")]
    recurrence: Annotated[RecurrenceEntry, about("Как возникают циклы мероприятия.")]
    done: Annotated[
        DoneEntry | None,
        about("Уже выполнено до загрузки файла: день и документы (только для once)."),
    ] = None
    due_text: Annotated[
        Text | None,
        about(
            "Срок, как он написан в источнике, когда в нём больше, чем в deadline_text "
            "(знак сноски): «10 ноября 2020* года»."
        ),
    ] = None
    footnotes: Annotated[Footnotes, about("Сноски к текстам мероприятия.")] = {}
    items: Annotated[
        list[ItemEntry] | None,
        Field(min_length=1),
        about(
            "Пункты составного мероприятия (только для once): у каждого свой цикл, срок и "
            "документы; мероприятие выполнено, когда выполнены все пункты."
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _note_an_unreadable_number(cls, data: object, info: ValidationInfo) -> object:
        if not isinstance(data, dict) or "number" not in data:
            file_scope(info).measures_known = False
        return data

    @field_validator("number", mode="wrap")
    @classmethod
    def _declare_number(
        cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> int:
        scope = file_scope(info)
        try:
            number: int = handler(value)
        except ValidationError:
            scope.measures_known = False
            raise
        if number in scope.measures:
            raise refusal(f"мероприятие № {number} уже есть")
        scope.measures[number] = None
        return number

    @field_validator("recurrence")
    @classmethod
    def _record_the_recurrence(
        cls, value: RecurrenceEntry, info: ValidationInfo
    ) -> RecurrenceEntry:
        # Stages need to know whether their measure keeps its own schedule.
        if (number := info.data.get("number")) is not None:
            file_scope(info).measures[number] = value.kind
        return value

    @field_validator("done")
    @classmethod
    def _done_fits_the_measure(cls, value: DoneEntry | None, info: ValidationInfo) -> Any:
        if value is None:
            return value
        recurrence = info.data.get("recurrence")
        if recurrence is not None and recurrence.kind not in _SINGLE_CYCLE:
            raise refusal(
                f"done задаётся только для мероприятия с одним сроком (once, "
                f"once_then_as_needed), а у этого вид повторения «{recurrence.kind.value}»: "
                "выполненные циклы повторяющегося мероприятия вносят командой tochka adopt "
                "или tochka cycles fire"
            )
        declared = info.data.get("evidence")
        if declared is None:
            return value  # the measure's evidence list is broken: reported there
        for kind in value.evidence:
            if kind not in declared:
                allowed = ", ".join(declared) or "нет ни одного"
                raise refusal(
                    f"вид документа «{kind}» не указан в evidence мероприятия; допустимы: "
                    f"{allowed}",
                    at="evidence",
                )
        missing = [kind for kind in declared if kind not in value.evidence]
        if missing:
            raise refusal(
                f"нет документа вида «{'», «'.join(missing)}»: его требует закрытие цикла "
                "мероприятия",
                at="evidence",
            )
        return value

    @field_validator("items")
    @classmethod
    def _items_fit_the_measure(
        cls, value: list[ItemEntry] | None, info: ValidationInfo
    ) -> list[ItemEntry] | None:
        if value is None:
            return value
        recurrence = info.data.get("recurrence")
        if recurrence is not None and recurrence.kind is not Recurrence.ONCE:
            raise refusal(
                "пункты items задаются только для мероприятия с одним сроком (once), а у "
                f"этого вид повторения «{recurrence.kind.value}»: у повторяющегося "
                "мероприятия каждый цикл — весь перечень"
            )
        if info.data.get("done") is not None:
            raise refusal(
                "у мероприятия с пунктами items нет done: выполненные пункты отмечают "
                "командой tochka cycles fire"
            )
        number = info.data.get("number")
        seen: set[str] = set()
        for index, item in enumerate(value):
            if number is not None and not item.number.startswith(f"{number}."):
                raise refusal(
                    f"номер пункта {item.number} не начинается с номера мероприятия "
                    f"«{number}.»: пишите {number}.1, {number}.2 …",
                    at=(index, "number"),
                )
            if item.number in seen:
                raise refusal(f"пункт {item.number} уже есть", at=(index, "number"))
            seen.add(item.number)
            if item.due is None and recurrence is not None and recurrence.first_due is None:
                raise refusal("нужен срок пункта due", at=(index, "due"))
        return value

    @model_validator(mode="after")
    def _footnotes_explain_marks(self) -> Self:
        _refuse_unknown_marks(
            {
                "title": self.title,
                "responsible_text": self.responsible_text,
                "result": self.result,
                "deadline_text": self.deadline_text,
                "due_text": self.due_text,
            },
            self.footnotes,
        )
        for index, item in enumerate(self.items or ()):
            _refuse_unknown_marks(
                {"title": item.title, "due_text": item.due_text},
                {**self.footnotes, **item.footnotes},
                at=("items", index),
            )
        return self

    def to_definition(self) -> Measure:
        """The frozen value object."""
        fields = self.recurrence.measure_fields()
        first = fields["first_due"]
        if isinstance(first, MonthEnd):
            fields["first_due"] = date(first.year, first.month, first.day)
        return Measure(
            number=self.number,
            title=self.title,
            responsible=tuple(self.responsible),
            responsible_text=self.responsible_text,
            result=self.result,
            evidence=tuple(self.evidence),
            deadline_text=self.deadline_text,
            **fields,
            done=self.done.to_definition() if self.done else None,
            items=tuple(i.to_definition(self) for i in self.items or ()),
            footnotes=tuple(self.footnotes.items()),
            due_text=self.due_text or "",
            month_only=isinstance(first, MonthEnd),
        )


class StageEntry(_Entry):
    """``stages[i]``: which measure a center stage follows, and its deadline."""

    model_config = _config(
        "Этап центра",
        "Какое мероприятие ведёт этап центра и срок этапа в году набора центра.",
    )

    stage: Annotated[
        StageName, one_of(get_args(StageName), "неизвестный этап"), about("Этап центра.")
    ]
    measure: Annotated[PositiveInt, about("Номер мероприятия из measures.")]
    due: Annotated[
        DayMonth | None,
        about("Срок ДД.ММ в кавычках; не нужен, если у мероприятия отдельный график."),
    ] = None
    year: Annotated[
        CohortYear | None,
        about(
            "Год срока относительно года набора центра: cohort (по умолчанию), cohort-1 — "
            "год, предшествующий году создания центра, cohort+1 — следующий."
        ),
    ] = None
    starts: Annotated[
        StrictBool, about("true: дата — начало этапа (отчётность «с 01.10»), а не срок.")
    ] = False
    documents: Annotated[
        list[Text],
        distinct("«{}» указан дважды"),
        about("Что школа направляет координатору к сроку этапа; письма перечисляют это."),
    ] = []

    @field_validator("stage")
    @classmethod
    def _described_once(cls, value: str, info: ValidationInfo) -> str:
        stages = file_scope(info).stages
        if value in stages:
            raise refusal(f"этап «{value}» уже описан")
        stages.add(value)
        return value

    @field_validator("measure")
    @classmethod
    def _declared_measure(cls, value: int, info: ValidationInfo) -> int:
        scope = file_scope(info)
        if scope.measures_known and value not in scope.measures:
            raise refusal(f"мероприятия № {value} нет в measures")
        return value

    @model_validator(mode="after")
    def _dated_unless_by_schedule(self, info: ValidationInfo) -> Self:
        recurrence = file_scope(info).measures.get(self.measure)
        if self.due is None and recurrence not in (None, Recurrence.BY_SCHEDULE):
            raise refusal(
                f"нужен срок due (ДД.ММ): у мероприятия № {self.measure} нет отдельного графика",
                at="due",
            )
        if self.year is not None:
            if self.due is None:
                raise refusal("год срока year задаётся только вместе со сроком due", at="year")
            start = file_scope(info).period_start
            if start is not None:
                refuse_before_program(self.due, self.year, cohort_years(info), start, at="year")
        return self

    def to_definition(self) -> StageRule:
        """The frozen value object."""
        return StageRule(
            stage=CenterState(self.stage).value,
            measure=self.measure,
            due_month=self.due[0] if self.due else None,
            due_day=self.due[1] if self.due else None,
            starts=self.starts,
            documents=tuple(self.documents),
            year_offset=self.year or 0,
        )


_DEFAULT_REMINDERS = ReminderPolicy()
#: The most overdue reminders a roadmap may ask for (a year of weekly ones).
MAX_OVERDUE_RUNGS = 52


class RemindersEntry(_Entry):
    """``reminders``: the reminder ladder; every key has a default."""

    model_config = _config("Напоминания", "Когда напоминать о сроках и кому эскалировать.")

    days_before: Annotated[
        list[PositiveInt],
        distinct("{} указано дважды"),
        about("За сколько дней до срока напоминать."),
    ] = list(_DEFAULT_REMINDERS.days_before)
    on_day: Annotated[StrictBool, about("Напоминать в день срока.")] = _DEFAULT_REMINDERS.on_day
    overdue_every_days: Annotated[
        PositiveInt, about("Раз в сколько дней напоминать о просроченном.")
    ] = _DEFAULT_REMINDERS.overdue_every_days
    overdue_rungs: Annotated[
        StrictInt,
        about(
            "Сколько напоминаний о просрочке получают ответственные (0–"
            f"{MAX_OVERDUE_RUNGS}); дальше просроченное — только в еженедельной сводке "
            "координатора."
        ),
    ] = _DEFAULT_REMINDERS.overdue_rungs
    escalate_to: Annotated[
        PartyRef | None, about("Кому эскалировать просрочку; по умолчанию — координатору.")
    ] = None

    @field_validator("overdue_rungs")
    @classmethod
    def _rungs_in_range(cls, value: int) -> int:
        if not 0 <= value <= MAX_OVERDUE_RUNGS:
            raise refusal(
                f"число напоминаний о просрочке должно быть от 0 до {MAX_OVERDUE_RUNGS}, "
                f"указано {value}"
            )
        return value

    def to_definition(self, coordinator: str) -> ReminderPolicy:
        """The frozen value object; escalation defaults to the ``coordinator``."""
        return ReminderPolicy(
            # Earliest reminder first, whatever order the file lists them in.
            days_before=tuple(sorted(self.days_before, reverse=True)),
            on_day=self.on_day,
            overdue_every_days=self.overdue_every_days,
            overdue_rungs=self.overdue_rungs,
            escalate_to=self.escalate_to or coordinator,
        )


_DEFAULT_CLOSING = ClosingPolicy()
#: The longest grace period after the program's end (a year).
MAX_GRACE_DAYS = 366


class ClosingEntry(_Entry):
    """``closing``: how the program closes (`workflow.roadmap.closing`)."""

    model_config = _config(
        "Завершение программы",
        "После окончания периода программы напоминают только об отчётах, закрывающих её; "
        "по истечении grace_days дней дорожная карта закрыта и письма не отправляются.",
    )

    grace_days: Annotated[
        StrictInt,
        about(
            f"Через сколько дней после окончания программы дорожная карта закрывается (0–"
            f"{MAX_GRACE_DAYS}); по умолчанию {_DEFAULT_CLOSING.grace_days}."
        ),
    ] = _DEFAULT_CLOSING.grace_days
    measures: Annotated[
        list[StrictInt] | None,
        distinct("мероприятие № {} указано дважды"),
        about(
            "Мероприятия, отчёты которых закрывают программу: их циклы за периоды внутри "
            "программы создаются и напоминаются и после её окончания; по умолчанию — все."
        ),
    ] = None

    @field_validator("grace_days")
    @classmethod
    def _grace_in_range(cls, value: int) -> int:
        if not 0 <= value <= MAX_GRACE_DAYS:
            raise refusal(
                f"срок закрытия должен быть от 0 до {MAX_GRACE_DAYS} дней, указано {value}"
            )
        return value

    @field_validator("measures")
    @classmethod
    def _declared_measures(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        scope = file_scope(info)
        if value is not None and scope.measures_known:
            for index, number in enumerate(value):
                if number not in scope.measures:
                    raise refusal(f"мероприятия № {number} нет в measures", at=index)
        return value

    def to_definition(self) -> ClosingPolicy:
        return ClosingPolicy(
            grace_days=self.grace_days,
            measures=None if self.measures is None else tuple(self.measures),
        )


class MonitoringEntry(_Entry):
    """``monitoring``: how returned monitoring forms are handled."""

    model_config = _config(
        "Мониторинг показателей",
        "Что делать с заполненной формой мониторинга, которую школа прислала ответом на "
        "письмо: record — записать верные значения сразу, accept — ждать решения "
        "координатора (tochka replies accept).",
    )

    forms: Annotated[
        FormsPolicy,
        one_of(FormsPolicy, "неизвестный порядок приёма форм"),
        about("record (по умолчанию) — записать сразу; accept — после решения координатора."),
    ] = FormsPolicy.RECORD

    def to_definition(self) -> MonitoringPolicy:
        return MonitoringPolicy(forms=self.forms)


class IndicatorEntry(_Entry):
    """``indicators[i]``: a figure centers report (measure 9's monitoring)."""

    model_config = _config("Показатель", "Показатель, который центры сдают в отчётах.")

    code: Annotated[Identifier, about("Код: строчные латинские буквы, цифры, «_».")]
    name: Annotated[Text, about("Название, как его печатают отчёты.")]
    unit: Annotated[
        IndicatorUnit,
        one_of(IndicatorUnit, "неизвестный код единицы"),
        about("persons и units — целые числа, percent — доля от 0 до 100."),
    ]
    period: Annotated[
        IndicatorPeriod,
        one_of(IndicatorPeriod, "неизвестный период"),
        about("quarter — ежеквартально, year — ежегодно."),
    ]
    target: Annotated[Number | None, about("Цель: значение не ниже неё выполняет её.")] = None
    max: Annotated[Number | None, about("Наибольшее допустимое значение.")] = None

    @field_validator("code", mode="before")
    @classmethod
    def _declare_code(cls, value: object, info: ValidationInfo) -> object:
        return declare(file_scope(info).indicators, value, "показатель")

    @field_validator("target", "max")
    @classmethod
    def _fits_the_unit(cls, value: float | None, info: ValidationInfo) -> float | None:
        unit = info.data.get("unit")
        if value is None:
            return value
        if unit is IndicatorUnit.PERCENT and value > 100:
            raise refusal(f"{value:g} больше 100: это доля в процентах")
        if unit in (IndicatorUnit.PERSONS, IndicatorUnit.UNITS) and not value.is_integer():
            raise refusal(f"показатель считается в целых числах: {value:g} — не целое")
        return value

    @model_validator(mode="after")
    def _target_within_bounds(self) -> Self:
        bound = self.to_definition().upper_bound
        if self.target is not None and bound is not None and self.target > bound:
            raise refusal(
                f"цель {self.target:g} больше наибольшего значения {bound:g}", at="target"
            )
        return self

    def to_definition(self) -> Indicator:
        """The frozen value object."""
        return Indicator(
            code=self.code,
            name=self.name,
            unit=self.unit,
            period=self.period,
            target=self.target,
            maximum=self.max,
        )


class SignatureEntry(_Entry):
    """``signature``: the block the letters end with; every key optional."""

    model_config = _config(
        "Подпись писем",
        "Чем заканчиваются письма: ведомство, контактное лицо, телефон, адрес. Без этого "
        "раздела письма подписаны названием координатора из parties.",
    )

    department: Annotated[
        Text | None, about("Ведомство; по умолчанию — название координатора из parties.")
    ] = None
    contact: Annotated[
        Text | None, about("Контактное лицо: фамилия, имя, отчество, должность.")
    ] = None
    phone: Annotated[Text | None, about("Телефон, как его печатать.")] = None
    address: Annotated[Text | None, about("Почтовый адрес.")] = None

    def to_definition(self, coordinator_name: str) -> Signature:
        """The frozen value object; the department defaults to the coordinator's name."""
        return Signature(
            department=self.department or coordinator_name,
            contact=self.contact or "",
            phone=self.phone or "",
            address=self.address or "",
        )


def _roles(trigger: str) -> Any:
    return Field(default=None, description=f"Роли, которым разрешён переход «{trigger}».")


class _Permissions(_Entry):
    def to_definition(self) -> dict[str, tuple[str, ...]]:
        """Trigger → roles, for the triggers the file names."""
        return {
            name: tuple(roles)
            for name in type(self).model_fields
            if name in self.model_fields_set and (roles := getattr(self, name)) is not None
        }


class CenterPermissions(_Permissions):
    """``permissions.center``: one key per `states.center.CenterTrigger` (a test checks)."""

    model_config = _config("Переходы центра", "Кто может выполнять переходы центра.")

    agree_infrastructure: Roles | None = _roles("agree_infrastructure")
    equip: Roles | None = _roles("equip")
    train_staff: Roles | None = _roles("train_staff")
    open: Roles | None = _roles("open")
    start_reporting: Roles | None = _roles("start_reporting")
    withdraw: Roles | None = _roles("withdraw")
    revert: Roles | None = _roles("revert")


class CyclePermissions(_Permissions):
    """``permissions.cycle``: one key per `states.cycle.CycleTrigger` (a test checks)."""

    model_config = _config("Переходы цикла", "Кто может выполнять переходы цикла мероприятия.")

    start: Roles | None = _roles("start")
    complete: Roles | None = _roles("complete")
    mark_overdue: Roles | None = _roles("mark_overdue")
    cancel: Roles | None = _roles("cancel")


class PermissionsEntry(_Entry):
    """``permissions``: who may fire which trigger; what is not named keeps the default."""

    model_config = _config(
        "Права на переходы",
        "Роли: coordinator, municipality, school, system. Переход, которого здесь нет, "
        "выполняет только координатор.",
    )

    center: Annotated[CenterPermissions | None, about("Переходы центра.")] = None
    cycle: Annotated[CyclePermissions | None, about("Переходы цикла мероприятия.")] = None

    def to_definition(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Machine → trigger → roles, for the machines the file names."""
        return {
            name: entry.to_definition()
            for name in type(self).model_fields
            if name in self.model_fields_set and (entry := getattr(self, name)) is not None
        }


class RoadmapFile(_Entry):
    """The whole file (format 1). Declaring sections come before the ones referring to them."""

    model_config = _config(
        "Дорожная карта Tochka",
        "Файл дорожной карты (формат 1): мероприятия распоряжения, ответственные, сроки, "
        "этапы центров, напоминания, показатели и права на переходы.",
    )

    format: Annotated[
        StrictInt,
        Field(json_schema_extra={"const": SUPPORTED_FORMAT}),
        about("Версия формата файла; поддерживается 1."),
    ]
    code: Annotated[
        RoadmapCode, about("Код дорожной карты: строчные латинские буквы, цифры, дефис.")
    ]
    title: Annotated[Text, about("Наименование, дословно из распоряжения.")]
    decree: Annotated[Text, about("Распоряжение, которым утверждена дорожная карта.")]
    amended_by: Annotated[
        AmendedByEntry | None, about("Распоряжение о внесении изменений (для новой версии).")
    ] = None
    region: Annotated[Text, about("Субъект Российской Федерации.")]
    period: Annotated[PeriodEntry, about("Период программы.")]
    cohorts: Annotated[
        CohortsEntry | None,
        about("Годы наборов центров (первый и последний); по умолчанию — все годы программы."),
    ] = None
    timezone: Annotated[Text, about("Часовой пояс IANA, например Europe/Moscow.")]
    parties: Annotated[list[PartyEntry], Field(min_length=1), about("Ответственные участники.")]
    coordinator: Annotated[PartyRef, about("Идентификатор регионального координатора из parties.")]
    evidence_kinds: Annotated[
        list[EvidenceKindEntry], Field(min_length=1), about("Виды подтверждающих документов.")
    ]
    measures: Annotated[list[MeasureEntry], Field(min_length=1), about("Мероприятия.")]
    stages: Annotated[list[StageEntry], about("Этапы центров и их сроки.")]
    reminders: Annotated[
        RemindersEntry | None, about("Напоминания; у каждого ключа есть умолчание.")
    ] = None
    closing: Annotated[
        ClosingEntry | None, about("Завершение программы; у каждого ключа есть умолчание.")
    ] = None
    indicators: Annotated[list[IndicatorEntry], about("Показатели центров.")] = []
    monitoring: Annotated[
        MonitoringEntry | None,
        about("Приём форм мониторинга; по умолчанию значения записываются сразу."),
    ] = None
    permissions: Annotated[PermissionsEntry | None, about("Кто может выполнять переходы.")] = None
    signature: Annotated[
        SignatureEntry | None, about("Подпись писем; по умолчанию — название координатора.")
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _read_the_grace_ahead(cls, data: object, info: ValidationInfo) -> object:
        # A measure's ``until`` is bounded by the close, but ``closing`` comes after the
        # measures: its grace is read here as written (its own errors are its section's).
        closing = data.get("closing") if isinstance(data, dict) else None
        grace = closing.get("grace_days") if isinstance(closing, dict) else None
        if type(grace) is int and 0 <= grace <= MAX_GRACE_DAYS:
            file_scope(info).grace_days = grace
        return data

    @field_validator("cohorts", mode="before")
    @classmethod
    def _cohorts_unknown_until_valid(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            file_scope(info).cohorts = range(0)  # `CohortsEntry` sets the valid years
        return value

    @field_validator("format")
    @classmethod
    def _supported_format(cls, value: int) -> int:
        if value != SUPPORTED_FORMAT:
            raise refusal(
                f"версия формата {value} не поддерживается; поддерживается {SUPPORTED_FORMAT}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str, info: ValidationInfo) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise refusal(f"неизвестный часовой пояс «{value}»; например, Europe/Moscow") from None
        file_scope(info).timezone = value
        return value

    @field_validator("coordinator")
    @classmethod
    def _coordinator_has_an_address(cls, value: str, info: ValidationInfo) -> str:
        if _per_center_party(info, value):
            raise refusal(
                f"координатор «{value}» получает письма по одному адресу: укажите ему email "
                "в parties (участник без адреса означает орган или школу каждого центра)"
            )
        return value

    @field_validator("reminders")
    @classmethod
    def _escalation_has_an_address(
        cls, value: RemindersEntry | None, info: ValidationInfo
    ) -> RemindersEntry | None:
        if value is not None and value.escalate_to and _per_center_party(info, value.escalate_to):
            raise refusal(
                f"просрочку эскалируют по одному адресу, а у участника «{value.escalate_to}» "
                "его нет (участник без адреса означает орган или школу каждого центра): "
                "укажите ему email в parties или эскалируйте координатору",
                at="escalate_to",
            )
        return value

    @field_validator("measures", mode="before")
    @classmethod
    def _numbers_can_be_known(cls, value: object, info: ValidationInfo) -> object:
        # Until the list is read, a stage cannot tell an unknown number from an unread one.
        file_scope(info).measures_known = isinstance(value, list) and bool(value)
        return value

    @field_validator("measures")
    @classmethod
    def _relative_deadlines_resolve(cls, value: list[MeasureEntry]) -> list[MeasureEntry]:
        check_relative_deadlines(value)  # every measure read: forward references resolve
        return value

    def to_definition(self) -> Roadmap:
        """The frozen roadmap (without ``content_hash`` and ``source``: the loader adds them)."""
        reminders = self.reminders or RemindersEntry()
        return Roadmap(
            code=self.code,
            title=self.title,
            decree=self.decree,
            amended_by=self.amended_by.to_definition() if self.amended_by else None,
            region=self.region,
            period_start=self.period.start,
            period_end=self.period.end,
            cohort_range=self.cohorts.to_definition() if self.cohorts else None,
            timezone=self.timezone,
            coordinator=self.coordinator,
            parties=tuple(p.to_definition() for p in self.parties),
            evidence_kinds=tuple(k.to_definition() for k in self.evidence_kinds),
            measures=tuple(m.to_definition() for m in self.measures),
            stages=tuple(s.to_definition() for s in self.stages),
            reminders=reminders.to_definition(self.coordinator),
            closing=(self.closing or ClosingEntry()).to_definition(),
            indicators=tuple(i.to_definition() for i in self.indicators),
            monitoring=(self.monitoring or MonitoringEntry()).to_definition(),
            permissions=self.permissions.to_definition() if self.permissions else {},
            signature_block=(
                self.signature.to_definition(self._coordinator_name())
                if self.signature is not None
                else None
            ),
        )

    def _coordinator_name(self) -> str:
        return next((p.name for p in self.parties if p.id == self.coordinator), "")


def _per_center_party(info: ValidationInfo, party_id: str) -> bool:
    """Whether ``party_id`` names a valid party without an address (a per-center one)."""
    parties = info.data.get("parties") or ()
    return any(p.id == party_id and p.to_definition().per_center for p in parties)


def validate_roadmap_data(data: object, *, now: datetime | None = None) -> RoadmapFile:
    """Validate a roadmap file's data (see the module docstring for its scalars).

    Args:
        data: what the loader made of the YAML, or ``yaml.safe_load`` output.
        now: the real time of the load: a ``done`` date after its day is refused. None:
            not checked (a definition read back from the database was checked when
            loaded, and the clock only moves on).

    Returns:
        The validated file.

    Raises:
        pydantic.ValidationError: every problem found.
    """
    return RoadmapFile.model_validate(data, context=FileScope(now=now))


# ------------------------------------------------------------------ JSON Schema


class _OperatorsJsonSchema(GenerateJsonSchema):
    """The JSON Schema as an operator's editor should see it.

    No null (the loader never takes one as a value), no English titles made from field
    names, no programmers' docstrings of the shared Enums.
    """

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default", ...) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(
        self, schema: core_schema.CoreSchema, mode: JsonSchemaMode = "validation"
    ) -> JsonSchemaValue:
        result = super().generate(schema, mode)
        for definition in result.get("$defs", {}).values():
            # The Enums of `definition` are documented for programmers, in English.
            if "enum" in definition:
                definition.pop("description", None)
                definition.pop("title", None)
        return result


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a roadmap file, generated from the models."""
    schema = RoadmapFile.model_json_schema(schema_generator=_OperatorsJsonSchema)
    return {"$schema": _OperatorsJsonSchema.schema_dialect, **schema}
