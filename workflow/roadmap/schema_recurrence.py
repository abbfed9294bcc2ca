"""The roadmap file's ``recurrence`` of a measure and the program's ``cohorts``.

Part of the file's schema (`workflow.roadmap.schema`, whose module docstring says how
the models validate and cross-check): the keys of a measure's recurrence, its deadline
rule after the reported period (``due``), its end (``until``), the days of a
``dates_yearly`` measure, the day and cohort-relative year of a ``per_cohort`` one; and
the program's cohort years. The cycles they make are `workflow.roadmap.recurrence`'s.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from workflow.roadmap.definition import DEFAULT_GRACE_DAYS, DueRule, Measure, Recurrence
from workflow.roadmap.recurrence import PERIOD_MONTHS, measure_cycles
from workflow.roadmap.schema_fields import (
    CohortYear,
    DayMonth,
    DueDate,
    PositiveInt,
    RoadmapDate,
    YamlScalar,
    about,
    distinct,
    file_scope,
    one_of,
    refusal,
)
from workflow.roadmap.schema_relative import RelativeEntry

__all__ = [
    "CohortsEntry",
    "DueRuleEntry",
    "RecurrenceEntry",
    "cohort_years",
    "refuse_before_program",
]

#: Kinds whose cycles are dated from ``first_due`` (unless a deadline rule dates them).
NEEDS_FIRST_DUE = frozenset(
    {
        Recurrence.ONCE,
        Recurrence.ONCE_THEN_AS_NEEDED,
        Recurrence.ANNUAL,
        Recurrence.QUARTERLY,
        Recurrence.MONTHLY,
        Recurrence.DATES_YEARLY,
    }
)
#: Kinds with a single dated cycle or none: ``until`` means nothing for them.
_NOT_RECURRING = frozenset(
    {
        Recurrence.ONCE,
        Recurrence.ONCE_THEN_AS_NEEDED,
        Recurrence.AS_NEEDED,
        Recurrence.BY_SCHEDULE,
        Recurrence.AFTER,
    }
)
#: The most days a deadline rule may count after the period.
MAX_DAYS_AFTER = 120
_PERIOD_EXAMPLES = {
    Recurrence.MONTHLY: "2022-01 (месяц)",
    Recurrence.QUARTERLY: "2022-Q1 (квартал)",
    Recurrence.ANNUAL: "2022 (год)",
}
_MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_QUARTER_RE = re.compile(r"([0-9]{4})-Q([1-4])")
_YEAR_RE = re.compile(r"[0-9]{4}")


def _config(title: str, description: str) -> ConfigDict:
    # As `workflow.roadmap.schema`'s: the JSON Schema speaks to operators, in Russian.
    return ConfigDict(
        extra="forbid", frozen=True, title=title, json_schema_extra={"description": description}
    )


class AfterPeriodEntry(BaseModel):
    """``due.after_period``: N (working) days after the reported period's last day."""

    model_config = _config(
        "Срок после окончания периода",
        "Через сколько дней после окончания отчётного периода срок: «в течение 5 рабочих "
        "дней после окончания квартала» — days: 5, working: true.",
    )

    days: Annotated[PositiveInt, about(f"Число дней после окончания периода (1–{MAX_DAYS_AFTER}).")]
    working: Annotated[
        StrictBool,
        about("true: рабочие дни по производственному календарю России; иначе календарные."),
    ] = False

    @model_validator(mode="after")
    def _days_in_range(self) -> Self:
        if self.days > MAX_DAYS_AFTER:
            raise refusal(
                f"не больше {MAX_DAYS_AFTER} дней после окончания периода, указано {self.days}",
                at="days",
            )
        return self


class DueRuleEntry(BaseModel):
    """``recurrence.due``: a periodic report's deadline after the period it reports on."""

    model_config = _config(
        "Правило срока отчёта",
        "Срок отчёта за период: after_period — через N (рабочих) дней после окончания "
        "периода; day_of_next_month — не позднее N-го числа месяца, следующего за "
        "периодом. Указывается одно из двух.",
    )

    after_period: Annotated[
        AfterPeriodEntry | None, about("Через сколько дней после окончания периода.")
    ] = None
    day_of_next_month: Annotated[
        StrictInt | None,
        about(
            "Число месяца, следующего за периодом (1–31); если в месяце меньше дней — его "
            "последний день."
        ),
    ] = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.after_period is None) == (self.day_of_next_month is None):
            raise refusal(
                "укажите одно из двух: after_period (через N дней после окончания периода) "
                "или day_of_next_month (N-е число следующего месяца)"
            )
        if self.day_of_next_month is not None and not 1 <= self.day_of_next_month <= 31:
            raise refusal(
                f"число месяца должно быть от 1 до 31, указано {self.day_of_next_month}",
                at="day_of_next_month",
            )
        return self

    def to_definition(self) -> DueRule:
        if self.after_period is not None:
            return DueRule(days_after=self.after_period.days, working=self.after_period.working)
        return DueRule(day_of_next_month=self.day_of_next_month)


def _period_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str | int):
        return str(value).strip()
    if isinstance(value, YamlScalar):
        return value.text.strip()
    raise refusal("ожидается отчётный период, например 2022-Q1", at="first_period")


def _period_start(kind: Recurrence, text: str) -> date | None:
    """The first day of the period ``text`` names for a ``kind`` measure, or None."""
    if kind is Recurrence.MONTHLY and (m := _MONTH_RE.fullmatch(text)):
        return date(int(m.group(1)), int(m.group(2)), 1)
    if kind is Recurrence.QUARTERLY and (m := _QUARTER_RE.fullmatch(text)):
        return date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
    if kind is Recurrence.ANNUAL and _YEAR_RE.fullmatch(text):
        return date(int(text), 1, 1)
    return None


class RecurrenceEntry(BaseModel):
    """``measures[i].recurrence``: how the measure's cycles come into being."""

    model_config = _config(
        "Повторение",
        "Как возникают циклы мероприятия. first_due обязателен для once, "
        "once_then_as_needed, annual, quarterly, monthly и dates_yearly (у monthly, "
        "quarterly и annual вместо него может быть правило срока due с first_period) и не "
        "задаётся для as_needed, by_schedule и per_cohort.",
    )

    kind: Annotated[
        Recurrence, one_of(Recurrence, "неизвестный вид повторения"), about("Вид повторения.")
    ]
    first_due: Annotated[
        DueDate | None,
        about(
            "Первый срок; не позже окончания программы. Месяц ГГГГ-ММ («февраль 2022») — "
            "последний день месяца."
        ),
    ] = None
    first_period: Annotated[
        str | None,
        WithJsonSchema({"type": ["string", "integer"]}),
        about(
            "С правилом срока due: первый отчётный период — месяц 2022-01, квартал 2022-Q1 "
            "или год 2022."
        ),
    ] = None
    due: Annotated[
        DueRuleEntry | None,
        about("Срок отчёта после окончания периода (для monthly, quarterly, annual)."),
    ] = None
    dates: Annotated[
        list[DayMonth] | None,
        distinct("дата {} указана дважды", show=lambda md: f"{md[1]:02d}.{md[0]:02d}"),
        about('Для dates_yearly: сроки в году, ДД.ММ в кавычках, например ["15.06", "15.12"].'),
    ] = None
    day: Annotated[DayMonth | None, about("Для per_cohort: день срока, ДД.ММ в кавычках.")] = None
    year: Annotated[
        CohortYear | None,
        about(
            "Для per_cohort: год срока относительно года набора центров: cohort, "
            "cohort-1 (год, предшествующий году создания центров), cohort+1."
        ),
    ] = None
    after: Annotated[
        RelativeEntry | None,
        about(
            "Для after: событие, от которого отсчитывается срок, например {measure: 4, "
            "days: 10} — через 10 дней после выполнения мероприятия № 4."
        ),
    ] = None
    until: Annotated[
        RoadmapDate | None,
        about(
            "Последний день, на который может приходиться срок цикла; не позже закрытия "
            "дорожной карты (окончание программы + grace_days)."
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _first_period_as_text(cls, data: object) -> object:
        # Kept as written (2022 arrives as an int); checked against the kind below.
        if isinstance(data, dict) and data.get("first_period") is not None:
            data = {**data, "first_period": _period_text(data["first_period"])}
        return data

    @model_validator(mode="after")
    def _keys_fit_the_kind(self, info: ValidationInfo) -> Self:
        kind = self.kind
        name = kind.value
        scope = file_scope(info)
        end = scope.period_end
        ruled = self.due is not None
        if ruled and kind not in PERIOD_MONTHS:
            raise refusal(
                f"правило срока due задаётся для monthly, quarterly и annual, а не для «{name}»",
                at="due",
            )
        if ruled:
            if self.first_due is not None:
                raise refusal(
                    "с правилом срока due первый срок не задаётся: укажите first_period — "
                    f"первый отчётный период, например {_PERIOD_EXAMPLES[kind]}",
                    at="first_due",
                )
            if self.first_period is None:
                raise refusal(
                    "для правила срока due нужен первый отчётный период first_period, "
                    f"например {_PERIOD_EXAMPLES[kind]}",
                    at="first_period",
                )
            start = _period_start(kind, self.first_period)
            if start is None:
                raise refusal(
                    f"«{self.first_period}» — не отчётный период вида «{name}»: пишите "
                    f"{_PERIOD_EXAMPLES[kind]}",
                    at="first_period",
                )
            if end is not None and start > end:
                raise refusal(
                    f"первый отчётный период {self.first_period} начинается после окончания "
                    f"программы {end:%d.%m.%Y}",
                    at="first_period",
                )
        elif self.first_period is not None:
            raise refusal(
                "first_period задаётся только вместе с правилом срока due", at="first_period"
            )
        if kind in NEEDS_FIRST_DUE and not ruled and self.first_due is None:
            raise refusal(f"для вида «{name}» нужен первый срок first_due", at="first_due")
        if kind not in NEEDS_FIRST_DUE and self.first_due is not None:
            why = (
                "срок задают day и year"
                if kind is Recurrence.PER_COHORT
                else "срок отсчитывается от события after"
                if kind is Recurrence.AFTER
                else "сроки назначает оператор"
            )
            raise refusal(f"для вида «{name}» first_due не задаётся: {why}", at="first_due")
        if self.first_due is not None and end is not None and self.first_due > end:
            raise refusal(
                f"первый срок {self.first_due:%d.%m.%Y} позже окончания программы {end:%d.%m.%Y}",
                at="first_due",
            )
        self._check_dates(name)
        self._check_after()
        self._check_cohort_keys(info)
        self._check_until(info)
        return self

    def _check_dates(self, name: str) -> None:
        if self.kind is not Recurrence.DATES_YEARLY:
            if self.dates is not None:
                raise refusal("dates задаётся только для вида «dates_yearly»", at="dates")
            return
        if not self.dates:
            raise refusal(
                "для вида «dates_yearly» нужен список сроков в году dates, например "
                '["15.06", "15.12"]',
                at="dates",
            )
        first = self.first_due
        if first is not None and (first.month, first.day) not in self.dates:
            listed = ", ".join(f"{d:02d}.{m:02d}" for m, d in self.dates)
            raise refusal(
                f"первый срок {first:%d.%m.%Y} не из сроков dates ({listed}): первый цикл — "
                "один из них",
                at="first_due",
            )

    def _check_after(self) -> None:
        if self.kind is not Recurrence.AFTER and self.after is not None:
            raise refusal("after задаётся только для вида «after»", at="after")
        if self.kind is Recurrence.AFTER and self.after is None:
            raise refusal(
                "для вида «after» нужно событие after, например {measure: 4, days: 10} — "
                "через 10 дней после выполнения мероприятия № 4",
                at="after",
            )

    def _check_cohort_keys(self, info: ValidationInfo) -> None:
        if self.kind is not Recurrence.PER_COHORT:
            for key in ("day", "year"):
                if getattr(self, key) is not None:
                    raise refusal(f"{key} задаётся только для вида «per_cohort»", at=key)
            return
        if self.day is None:
            raise refusal(
                'для вида «per_cohort» нужен день срока day (ДД.ММ), например "01.12"',
                at="day",
            )
        scope = file_scope(info)
        if scope.period_start is not None:
            refuse_before_program(
                self.day, self.year or 0, cohort_years(info), scope.period_start, at="year"
            )

    def _check_until(self, info: ValidationInfo) -> None:
        until = self.until
        if until is None:
            return
        if self.kind in _NOT_RECURRING:
            raise refusal(
                "until задаётся только для повторяющихся мероприятий, а не для "
                f"«{self.kind.value}»",
                at="until",
            )
        scope = file_scope(info)
        if scope.period_end is not None:
            grace = DEFAULT_GRACE_DAYS if scope.grace_days is None else scope.grace_days
            closes = scope.period_end + timedelta(days=grace)
            if until > closes:
                raise refusal(
                    f"until {until:%d.%m.%Y} позже закрытия дорожной карты {closes:%d.%m.%Y} "
                    "(окончание программы + grace_days): после него сроков не бывает",
                    at="until",
                )
            cohorts = cohort_years(info)
            unbounded = Measure(
                number=1, title="", responsible=(), responsible_text="", result="",
                evidence=(), deadline_text="", **{**self.measure_fields(), "until": None},
            )  # fmt: skip
            cycles = measure_cycles(unbounded, period_end=scope.period_end, cohorts=cohorts)
            first = next(iter(cycles), None)
            if first is not None and until < first.due:
                raise refusal(
                    f"until {until:%d.%m.%Y} раньше первого срока {first.due:%d.%m.%Y}: "
                    "у мероприятия не было бы ни одного цикла",
                    at="until",
                )

    def measure_fields(self) -> dict[str, Any]:
        """The `Measure` fields the recurrence decides."""
        start = (
            _period_start(self.kind, self.first_period) if self.first_period is not None else None
        )
        return {
            "recurrence": self.kind,
            "first_due": self.first_due,
            "until": self.until,
            "due_rule": self.due.to_definition() if self.due is not None else None,
            "first_period": start,
            "dates": tuple(sorted(self.dates or ())),
            "cohort_day": self.day,
            "cohort_offset": self.year or 0,
            "after": self.after.to_definition() if self.after is not None else None,
        }


def cohort_years(info: ValidationInfo) -> range:
    """The cohort years known so far: ``cohorts``, or every program year (empty: unknown)."""
    scope = file_scope(info)
    if scope.cohorts is not None:
        return scope.cohorts
    if scope.period_start is None or scope.period_end is None:
        return range(0)
    return range(scope.period_start.year, scope.period_end.year + 1)


def refuse_before_program(
    day: tuple[int, int], offset: int, cohorts: range, start: date, *, at: str
) -> None:
    """Refuses a cohort-relative deadline that falls before the program for its first
    cohort: ``01.12`` of ``cohort-1`` for cohort 2021 is 01.12.2020."""
    if not cohorts:
        return
    month, dd = day
    try:
        due = date(cohorts[0] + offset, month, dd)
    except ValueError:
        return
    if due < start:
        year = "cohort" if offset == 0 else f"cohort{offset:+d}"
        raise refusal(
            f"срок {due:%d.%m.%Y} ({year} для набора {cohorts[0]} года) раньше начала "
            f"программы {start:%d.%m.%Y}: укажите в cohorts первый набор позже или другой год",
            at=at,
        )


class CohortsEntry(BaseModel):
    """``cohorts``: the years centers are created in, a cohort each."""

    model_config = _config(
        "Наборы центров",
        "Годы создания центров (первый и последний); по умолчанию — каждый год программы.",
    )

    first: Annotated[StrictInt, about("Год первого набора; внутри периода программы.")]
    last: Annotated[StrictInt, about("Год последнего набора; внутри периода программы.")]

    @model_validator(mode="after")
    def _inside_the_program(self, info: ValidationInfo) -> Self:
        scope = file_scope(info)
        if self.last < self.first:
            raise refusal(f"последний набор {self.last} раньше первого {self.first}", at="last")
        if scope.period_start is not None and scope.period_end is not None:
            years = range(scope.period_start.year, scope.period_end.year + 1)
            for key in ("first", "last"):
                if getattr(self, key) not in years:
                    raise refusal(
                        f"год набора {getattr(self, key)} вне периода программы "
                        f"{years.start}–{years.stop - 1}",
                        at=key,
                    )
            scope.cohorts = range(self.first, self.last + 1)
        return self

    def to_definition(self) -> tuple[int, int]:
        return (self.first, self.last)
