"""The value types of a roadmap file's fields, and what their validators share.

Used by the models of `workflow.roadmap.schema`. Input: mappings arrive as dicts,
sequences as lists, and scalars typed by their YAML tag: a string as ``str``, a plain
decimal integer as ``int``, a boolean as ``bool``. Every other scalar (a null, an unquoted
date or ``25.08``, a float) arrives as a `YamlScalar` keeping the text as written: only the
types that read written text (`RoadmapDate`, `DayMonth`, `Number`) accept one. So
``title: 5`` is refused instead of becoming ``"5"``, an unquoted ``2021-02-30`` is reported
as a date that does not exist, and ``due: 01.10`` is not read as the float 1.1. Data from
``yaml.safe_load`` (quoted dates, as the shipped file writes them) is accepted too.

Our validators raise `refusal` errors carrying the Russian message; the loader words
pydantic's own error types (missing key, unknown key, wrong type) from the YAML node.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from base.addresses import address_problem
from workflow.roadmap.definition import Recurrence

__all__ = [
    "ROADMAP_ERROR",
    "SUPPORTED_FORMAT",
    "CohortYear",
    "DayMonth",
    "DueDate",
    "FootnoteMark",
    "MonthEnd",
    "Email",
    "EvidenceRef",
    "FileScope",
    "Identifier",
    "Number",
    "PartyRef",
    "PositiveInt",
    "RoadmapCode",
    "RoadmapDate",
    "Role",
    "Roles",
    "StageName",
    "Text",
    "YamlScalar",
    "about",
    "declare",
    "distinct",
    "file_scope",
    "one_of",
    "refusal",
]

SUPPORTED_FORMAT = 1

#: The error type of our own validators; ``ctx["message"]`` is the Russian message and
#: ``ctx["at"]``, when present, the key (or list index) below the error's location.
ROADMAP_ERROR = "roadmap"

_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_CODE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ID_RE = re.compile(r"[a-z][a-z0-9_]*")
_ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_RU_DATE_RE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})")
_DAY_MONTH_RE = re.compile(r"([0-9]{2})\.([0-9]{2})")
_YEAR_MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
#: A footnote mark: asterisks or superscript digits (`workflow.roadmap.items.marks_in`).
_FOOTNOTE_MARK_RE = re.compile(r"\*+|[¹²³⁴⁵⁶⁷⁸⁹⁰]+")
_COHORT_YEAR_RE = re.compile(r"cohort(?:([+-])([0-9]))?")
#: The largest offset ``year: cohort±N`` may take.
MAX_COHORT_OFFSET = 5
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

#: Only the stages after "planned" can be tied to a measure: every center starts planned,
#: and "withdrawn" is not a step of the plan. A test keeps this equal to LIFECYCLE[1:].
StageName = Literal["infrastructure_agreed", "equipped", "staff_trained", "opened", "reporting"]
#: Roles a ``permissions`` entry may name; a test keeps this equal to PERMISSION_ROLES.
Role = Literal["coordinator", "municipality", "school", "system"]

_T = TypeVar("_T", bound=Hashable)


@dataclass(frozen=True)
class YamlScalar:
    """A YAML scalar with no JSON type we accept as is: kept as written, with its tag."""

    text: str
    tag: str


def refusal(
    message: str, *, at: str | int | tuple[str | int, ...] | None = None
) -> PydanticCustomError:
    """The error our validators raise: a ready Russian message, optionally about ``at``
    (a key or list index below the error's location, or a path of them)."""
    ctx: dict[str, str | int | tuple[str | int, ...]] = {"message": message}
    if at is not None:
        ctx["at"] = at
    # The template is not the message: a value quoted from the file may hold braces.
    return PydanticCustomError(ROADMAP_ERROR, "{message}", ctx)


@dataclass(kw_only=True)
class FileScope:
    """What validation has met so far in one file, shared by the validators as context.

    Attributes:
        parties, evidence_kinds, indicators: every id declared, valid or not, so a
            reference to a misspelt declaration is not reported a second time.
        period_end: the program's last day, once the period is valid.
        grace_days: the program's closing grace (``closing.grace_days``, read ahead of
            the measures: it bounds their ``until``); None: not readable.
        cohorts: the cohort years of a valid ``cohorts``; empty while it is not valid;
            None without ``cohorts`` (every program year).
        measures: each readable measure number → its recurrence (None until valid).
        measures_known: False when some measure number could not be read: a stage
            naming an unknown number may then mean that measure, so it is not reported.
        stages: the stages described so far.
        period_start: the program's first day, once the period is valid.
        timezone: the roadmap's zone, once valid.
        now: the real time of the load, which a ``done`` date may not follow (None:
            not checked, as for a definition read back from the database).
    """

    parties: set[str] = field(default_factory=set)
    evidence_kinds: set[str] = field(default_factory=set)
    indicators: set[str] = field(default_factory=set)
    period_end: date | None = None
    grace_days: int | None = None
    cohorts: range | None = None
    measures: dict[int, Recurrence | None] = field(default_factory=dict)
    measures_known: bool = False
    stages: set[str] = field(default_factory=set)
    period_start: date | None = None
    timezone: str | None = None
    now: datetime | None = None


def file_scope(info: ValidationInfo) -> FileScope:
    """The scope of the file being validated (a validator's ``info.context``)."""
    context = info.context
    if not isinstance(context, FileScope):
        raise TypeError("validate roadmap data with validate_roadmap_data(), which adds a scope")
    return context


def declare(names: set[str], value: object, what: str) -> object:
    """Record an id as declared; a second declaration of the same raw text is refused."""
    if isinstance(value, str):
        if value in names:
            raise refusal(f"{what} с идентификатором «{value}» уже объявлен")
        names.add(value)
    return value


# ------------------------------------------------------------------ value types


def _not_blank(value: str) -> str:
    if not value.strip():
        raise refusal("значение не должно быть пустым")
    return value


#: A non-blank string written as a string (quoted, if YAML would read it otherwise).
Text = Annotated[StrictStr, AfterValidator(_not_blank), Field(json_schema_extra={"pattern": r"\S"})]


def _identifier_check(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    def check(value: str) -> str:
        _not_blank(value)
        if not pattern.fullmatch(value):
            raise refusal(f"недопустимый идентификатор «{value}»: допустимы {rule}")
        return value

    return AfterValidator(check)


def _whole(pattern: re.Pattern[str]) -> Any:
    """The pattern for the JSON Schema, where a pattern may match anywhere in the text."""
    return Field(json_schema_extra={"pattern": f"^{pattern.pattern}$"})


#: The id of a party, an evidence kind or an indicator.
Identifier = Annotated[
    StrictStr,
    _identifier_check(_ID_RE, "строчные латинские буквы, цифры и «_», первая — буква"),
    _whole(_ID_RE),
]
#: The roadmap's own code.
RoadmapCode = Annotated[
    StrictStr,
    _identifier_check(_CODE_RE, "строчные латинские буквы, цифры и дефис"),
    _whole(_CODE_RE),
]


def one_of(values: Iterable[str], unknown: str) -> BeforeValidator:
    """A membership check with a Russian message; other types fall through to pydantic's."""
    allowed = tuple(values)

    def check(value: object) -> object:
        if isinstance(value, str):
            _not_blank(value)
            if value not in allowed:
                raise refusal(f"{unknown} «{value}»; допустимы: {', '.join(allowed)}")
        return value

    return BeforeValidator(check)


def distinct(message: str, show: Callable[[Any], str] = str) -> AfterValidator:
    """Refuses the first repeated item of a list; ``message`` has a ``{}`` for it, the
    item as ``show`` writes it (a parsed day and month as «15.06», not «(6, 15)»)."""

    def check(values: list[_T]) -> list[_T]:
        seen: set[_T] = set()
        for index, value in enumerate(values):
            if value in seen:
                raise refusal(message.format(show(value)), at=index)
            seen.add(value)
        return values

    return AfterValidator(check)


def _written_text(value: object) -> str:
    """The text of any non-null scalar, for the fields that read what was written."""
    if isinstance(value, YamlScalar):
        text = "" if value.tag == _TAG_NULL else value.text.strip()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value).strip()
    else:
        # A mapping or a list: the loader words it from the node ("…а не словарь").
        raise PydanticCustomError("string_type", "ожидается текст")
    if not text:
        raise refusal("значение не задано")
    return text


def _date(value: object) -> date:
    if type(value) is date:  # what yaml.safe_load makes of an unquoted date
        return value
    text = _written_text(value)
    if match := _ISO_DATE_RE.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _RU_DATE_RE.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    else:
        raise refusal(f"«{text}» — не дата: пишите ГГГГ-ММ-ДД или ДД.ММ.ГГГГ")
    try:
        return date(year, month, day)
    except ValueError:
        raise refusal(f"даты {text} не существует") from None


def _day_month(value: object) -> tuple[int, int]:
    text = _written_text(value)
    match = _DAY_MONTH_RE.fullmatch(text)
    if not match:
        raise refusal(f"«{text}» — не день и месяц: пишите ДД.ММ, например 25.08")
    day, month = int(match.group(1)), int(match.group(2))
    try:
        # A non-leap year: a stage deadline must exist in every cohort year.
        date(2021, month, day)
    except ValueError:
        raise refusal(f"дня {text} нет в каждом году") from None
    return month, day


def _cohort_year(value: object) -> int:
    """``cohort``, ``cohort-1``, ``cohort+1`` as the offset from the cohort's year."""
    text = _written_text(value).replace(" ", "")
    match = _COHORT_YEAR_RE.fullmatch(text)
    if not match:
        raise refusal(
            f"«{text}» — не год относительно года набора: пишите cohort, cohort-1 или cohort+1"
        )
    if match.group(1) is None:
        return 0
    offset = int(match.group(2))
    if not 1 <= offset <= MAX_COHORT_OFFSET:
        raise refusal(f"сдвиг от года набора должен быть от 1 до {MAX_COHORT_OFFSET}: «{text}»")
    return -offset if match.group(1) == "-" else offset


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if (
        isinstance(value, YamlScalar)
        and value.tag == _TAG_FLOAT
        and _NUMBER_RE.fullmatch(value.text)
    ):
        return float(value.text)
    raise PydanticCustomError("float_type", "ожидается число")


def _email(value: str) -> str:
    problem = address_problem(value)
    if problem:
        raise refusal(problem)
    return value


def _declared_party(value: str, info: ValidationInfo) -> str:
    if value not in file_scope(info).parties:
        raise refusal(f"участник «{value}» не объявлен в parties")
    return value


def _declared_evidence(value: str, info: ValidationInfo) -> str:
    if value not in file_scope(info).evidence_kinds:
        raise refusal(f"вид документа «{value}» не объявлен в evidence_kinds")
    return value


_DATE_PATTERN = f"^({_ISO_DATE_RE.pattern}|{_RU_DATE_RE.pattern})$"
RoadmapDate = Annotated[
    date,
    BeforeValidator(_date),
    WithJsonSchema({"type": "string", "pattern": _DATE_PATTERN}),
]


class MonthEnd(date):
    """A deadline the file gives as a month only (``"2022-02"``, «февраль 2022»): the
    month's last day, marked so that people can be shown the month as written."""


def _due_date(value: object) -> date:
    if isinstance(value, date):
        return value
    text = _written_text(value)
    if match := _YEAR_MONTH_RE.fullmatch(text):
        year, month = int(match.group(1)), int(match.group(2))
        return MonthEnd(year, month, calendar.monthrange(year, month)[1])
    return _date(value)


def _footnote_mark(value: str) -> str:
    if not _FOOTNOTE_MARK_RE.fullmatch(value):
        raise refusal(
            f"«{value}» — не знак сноски: допустимы звёздочки (*, **) или надстрочные цифры (¹, ²)"
        )
    return value


#: A deadline: a date, or a month (``"2022-02"``) meaning that month's last day.
DueDate = Annotated[
    date,
    PlainValidator(_due_date),
    WithJsonSchema(
        {"type": "string", "pattern": f"^({_DATE_PATTERN[1:-1]}|{_YEAR_MONTH_RE.pattern})$"}
    ),
]
#: A footnote's mark as written in the text it qualifies.
FootnoteMark = Annotated[
    StrictStr,
    AfterValidator(_footnote_mark),
    Field(json_schema_extra={"pattern": f"^({_FOOTNOTE_MARK_RE.pattern})$"}),
]
DayMonth = Annotated[
    tuple[int, int],
    BeforeValidator(_day_month),
    WithJsonSchema({"type": "string", "pattern": f"^{_DAY_MONTH_RE.pattern}$"}),
]
#: A year relative to a center's cohort year, as its offset: ``cohort-1`` → -1.
CohortYear = Annotated[
    int,
    BeforeValidator(_cohort_year),
    WithJsonSchema({"type": "string", "pattern": f"^cohort([+-][1-{MAX_COHORT_OFFSET}])?$"}),
]
Number = Annotated[float, BeforeValidator(_number), Field(ge=0)]
Email = Annotated[Text, AfterValidator(_email), Field(json_schema_extra={"format": "email"})]
PartyRef = Annotated[Text, AfterValidator(_declared_party)]
EvidenceRef = Annotated[Text, AfterValidator(_declared_evidence)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
Roles = Annotated[
    list[Annotated[Role, one_of(get_args(Role), "неизвестная роль")]],
    Field(min_length=1),
    distinct("роль «{}» указана дважды"),
]


def about(text: str) -> Any:
    """A Russian description of a field, for the JSON Schema."""
    return Field(description=text)
