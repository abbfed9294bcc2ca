"""The roadmap as frozen value objects: what a validated roadmap file becomes.

Built once, at the edge, by `workflow.roadmap.loader.load_roadmap`; everything else reads
these objects and never the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from notifications.signature import Signature

#: Roles a roadmap's ``permissions`` may name (``viewer`` only reads, so never fires).
PERMISSION_ROLES: tuple[str, ...] = ("coordinator", "municipality", "school", "system")


class Recurrence(StrEnum):
    """How a measure's cycles come into being."""

    ONCE = "once"
    """One cycle, due on ``first_due``."""
    ONCE_THEN_AS_NEEDED = "once_then_as_needed"
    """One cycle due on ``first_due``; later cycles are opened by an operator."""
    ANNUAL = "annual"
    """A cycle every year from ``first_due`` until the program ends."""
    QUARTERLY = "quarterly"
    """A cycle every quarter from ``first_due`` until the program ends."""
    MONTHLY = "monthly"
    """A cycle every month from ``first_due`` until the program ends."""
    DATES_YEARLY = "dates_yearly"
    """A cycle on each of several days a year (``dates``), from ``first_due`` on."""
    PER_COHORT = "per_cohort"
    """One cycle per cohort of centers, due on a day of a year relative to the cohort's."""
    AFTER = "after"
    """Relative deadlines: a cycle per completion of another measure's cycle or of a
    center's stage, due N (working) days after it (``after``; `RelativeDeadline`)."""
    AS_NEEDED = "as_needed"
    """Only cycles opened by an operator."""
    BY_SCHEDULE = "by_schedule"
    """Due dates set by an operator per a separate schedule."""


class PartyKind(StrEnum):
    """Who a party is; municipalities and schools come from the centers themselves."""

    DEPARTMENT = "department"
    FEDERAL_OPERATOR = "federal_operator"
    MUNICIPALITY = "municipality"
    SCHOOL = "school"
    OTHER = "other"


@dataclass(frozen=True, kw_only=True)
class Party:
    """A responsible party with a contact address.

    ``email`` is empty only for a per-center party (`per_center`). ``contact`` is the
    person letters greet («Здравствуйте, Анна Петровна!»); empty: «Добрый день!».
    """

    id: str
    kind: PartyKind
    name: str
    email: str
    contact: str = ""

    @property
    def per_center(self) -> bool:
        """A municipality or school party without an address of its own: it stands for
        each center's education authority or school (`workflow.roadmap.parties`)."""
        return self.kind in (PartyKind.MUNICIPALITY, PartyKind.SCHOOL) and not self.email


@dataclass(frozen=True, kw_only=True)
class EvidenceKind:
    """A kind of document that closes a measure cycle (e.g. an order, a letter).

    Attributes:
        id: the id measures name it by.
        name: the Russian name, as letters and reports print it.
        provided_by: the party that issues and sends the document; empty: the
            coordinator. A responsible party's reminder lists the documents it provides.
    """

    id: str
    name: str
    provided_by: str = ""


@dataclass(frozen=True, kw_only=True)
class MeasureDone:
    """A measure done before its file was loaded (``done:``), recorded as history.

    Attributes:
        on: the day it was done (the cycle's completion's effective date).
        evidence: evidence kind id → the document's reference, in the file's order.
    """

    on: date
    evidence: tuple[tuple[str, str], ...]

    @property
    def evidence_map(self) -> dict[str, str]:
        """The evidence as the transition engine takes it."""
        return dict(self.evidence)


@dataclass(frozen=True, kw_only=True)
class MeasureItem:
    """A sub-item of a compound measure (``items:``): its own cycle, deadline and documents.

    Attributes:
        number: the item's number as written, its measure's number first («2.3»).
        title: the item's text, verbatim.
        due: its deadline (the measure's ``first_due`` when the file gives none).
        evidence: ids of the evidence kinds that close its cycle (the measure's by default).
        due_text: the deadline as the source writes it («10 ноября 2020* года»); empty:
            none of its own.
        month_only: the file gave the deadline as a month (``"2022-02"``): ``due`` is that
            month's last day, and people read «февраль 2022 г.».
        footnotes: the source's footnotes on the item's texts, (mark, text) in order.
    """

    number: str
    title: str
    due: date
    evidence: tuple[str, ...]
    due_text: str = ""
    month_only: bool = False
    footnotes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class DueRule:
    """A periodic report's deadline counted from the end of the period it reports on.

    Exactly one of ``days_after`` and ``day_of_next_month`` is set.

    Attributes:
        days_after: the report is due this many days after the period's last day
            («в течение 5 дней после окончания квартала»).
        working: with ``days_after``, count working days (the Russian calendar): the
            due date is the N-th working day after the period's last day.
        day_of_next_month: the report is due on this day of the month after the
            period (a day past that month's end falls back to its last day).
    """

    days_after: int | None = None
    working: bool = False
    day_of_next_month: int | None = None


@dataclass(frozen=True, kw_only=True)
class RelativeDeadline:
    """A deadline counted from an event («через 10 дней после заключения соглашения»).

    Exactly one of ``measure`` and ``stage`` is set.

    Attributes:
        measure: the source measure: one dependent cycle per done cycle of it, labelled
            with that cycle's period.
        stage: the source stage (a `states.CenterState` value): one dependent cycle per
            center that reached it, labelled «центр <code>».
        days: the dependent cycle is due this many days after the completion's
            effective date.
        working: count working days (the Russian calendar): the N-th working day after.
    """

    measure: int | None = None
    stage: str | None = None
    days: int = 0
    working: bool = False


@dataclass(frozen=True, kw_only=True)
class Measure:
    """One row of the roadmap table.

    Attributes:
        number: the row number, 1-based, as in the decree.
        title: the measure's name, verbatim.
        responsible: ids of the responsible parties, in the decree's order.
        responsible_text: the "Ответственный" column, verbatim.
        result: the "Результат" column, verbatim.
        evidence: ids of the evidence kinds that ``complete`` requires.
        deadline_text: the "Срок" column, verbatim.
        recurrence: how cycles arise.
        first_due: the first due date (None for as-needed and by-schedule measures).
        done: the file's record that the measure's single cycle is already done
            (``done:``; `workflow.schedule.file_done` records it); None: not stated.
        until: no cycle is due after this day (None: the program's rule alone).
        due_rule: a deadline counted from the end of the reported period (monthly,
            quarterly, annual); None: the cycles are due every period from ``first_due``.
        first_period: with ``due_rule``, the first day of the first reported period
            (``first_due`` is then None).
        dates: for ``dates_yearly``, the (month, day) of each cycle in a year, in order.
        cohort_day: for ``per_cohort``, the (month, day) the cycle is due on.
        cohort_offset: for ``per_cohort``, the due year minus the cohort's year.
        after: for ``after``, the event the deadline is counted from.
        items: the sub-items of a compound measure, each its own cycle
            (`workflow.roadmap.items`); the measure is done when they all are.
        footnotes: the source's footnotes on the measure's texts, (mark, text) in order.
        due_text: the deadline as the source writes it, when it carries what
            ``deadline_text`` does not (a footnote mark); empty: none.
        month_only: ``first_due`` was given as a month (``"2022-02"``): the month's last day.
    """

    number: int
    title: str
    responsible: tuple[str, ...]
    responsible_text: str
    result: str
    evidence: tuple[str, ...]
    deadline_text: str
    recurrence: Recurrence
    first_due: date | None
    done: MeasureDone | None = None
    until: date | None = None
    due_rule: DueRule | None = None
    first_period: date | None = None
    dates: tuple[tuple[int, int], ...] = ()
    cohort_day: tuple[int, int] | None = None
    cohort_offset: int = 0
    after: RelativeDeadline | None = None
    items: tuple[MeasureItem, ...] = ()
    footnotes: tuple[tuple[str, str], ...] = ()
    due_text: str = ""
    month_only: bool = False


@dataclass(frozen=True, kw_only=True)
class StageRule:
    """How a measure maps onto a center stage.

    Attributes:
        stage: the center state the rule is about (a `states.CenterState` value).
        measure: the measure number.
        due_month, due_day: the stage deadline in the center's cohort year; both None
            when the deadline comes from the measure's by-schedule cycle.
        year_offset: the deadline's year minus the cohort's (``year: cohort-1``: -1).
        starts: True when the date is when the stage *starts* (reporting "from 01.10")
            rather than a deadline to reach it.
        documents: what the school sends the coordinator for the stage (Russian), as
            its reminders list them; empty: the letters ask for confirmation only.
    """

    stage: str
    measure: int
    due_month: int | None
    due_day: int | None
    starts: bool = False
    documents: tuple[str, ...] = ()
    year_offset: int = 0


@dataclass(frozen=True, kw_only=True)
class ReminderPolicy:
    """The reminder ladder: before, on the day, then repeatedly while overdue.

    Attributes:
        days_before: days before the deadline of each early reminder.
        on_day: whether a reminder goes out on the day itself.
        overdue_every_days: the interval of the overdue reminders.
        overdue_rungs: how many overdue reminders the responsible get (the coordinator
            has each in its own digest); after the last one an item still open appears
            in the coordinator's weekly summary only, with its days late.
        escalate_to: the party that gets the overdue items (the coordinator).
    """

    days_before: tuple[int, ...] = (14, 3)
    on_day: bool = True
    overdue_every_days: int = 7
    overdue_rungs: int = 4
    escalate_to: str = "department"

    def silenced_after(self) -> int:
        """Days past the deadline of the last overdue reminder (0: none is sent)."""
        return self.overdue_every_days * self.overdue_rungs


#: Days after the program's end until its roadmap closes, when the file does not say.
DEFAULT_GRACE_DAYS = 90


@dataclass(frozen=True, kw_only=True)
class ClosingPolicy:
    """How the program closes (``closing:``; `workflow.roadmap.closing` applies it).

    Attributes:
        grace_days: days after the program's last day until the roadmap is *closed*:
            from then on nothing is reminded, created or sent for it.
        measures: the measures whose reports close the program: their cycles for periods
            inside the program are created and reminded even when due after its end
            (2023-Q4 monitoring, due 01.01.2024). None: every dated measure.
    """

    grace_days: int = DEFAULT_GRACE_DAYS
    measures: tuple[int, ...] | None = None

    def closes_program(self, measure: int) -> bool:
        """Whether the measure's cycles due after the end are the program's closing reports."""
        return self.measures is None or measure in self.measures


class FormsPolicy(StrEnum):
    """What a returned monitoring form does (``monitoring: {forms: …}``)."""

    RECORD = "record"
    """Valid values are recorded at once (their source: the message and the file)."""
    ACCEPT = "accept"
    """Valid values wait for the coordinator's ``tochka replies accept``."""


@dataclass(frozen=True, kw_only=True)
class MonitoringPolicy:
    """How measure 9's monitoring forms are handled (``monitoring:``).

    Attributes:
        forms: record a valid returned form at once, or keep it for acceptance.
    """

    forms: FormsPolicy = FormsPolicy.RECORD


class IndicatorUnit(StrEnum):
    """What an indicator counts; decides the accepted values and the number format."""

    PERSONS = "persons"
    """People (students, teachers): a whole number, 0 or more."""
    UNITS = "units"
    """Things (events, programs): a whole number, 0 or more."""
    PERCENT = "percent"
    """A share in percent: a number from 0 to 100, at most two decimals."""


#: Short Russian unit names, as reports print them.
UNIT_TITLES: dict[IndicatorUnit, str] = {
    IndicatorUnit.PERSONS: "чел.",
    IndicatorUnit.UNITS: "ед.",
    IndicatorUnit.PERCENT: "%",
}


class IndicatorPeriod(StrEnum):
    """How often an indicator is reported."""

    QUARTER = "quarter"
    """Once a quarter, for periods labelled ``2022-Q3``."""
    YEAR = "year"
    """Once a year, for periods labelled ``2022``."""


#: Russian names of the periods, as reports print them.
PERIOD_TITLES: dict[IndicatorPeriod, str] = {
    IndicatorPeriod.QUARTER: "ежеквартально",
    IndicatorPeriod.YEAR: "ежегодно",
}


@dataclass(frozen=True, kw_only=True)
class Indicator:
    """An indicator a center reports on (measure 9's quarterly monitoring).

    Attributes:
        code: the id used in files and on the command line (``[a-z][a-z0-9_]*``).
        name: the Russian name, as reports print it.
        unit: what it counts.
        period: how often it is reported.
        target: the value a center should reach (a value at or above it meets the
            target); None when the indicator has no target.
        maximum: the largest acceptable value (100 for shares; None for a count: the
            built-in plausibility ceiling, `workflow.engine.indicators.COUNT_CEILING`).
    """

    code: str
    name: str
    unit: IndicatorUnit
    period: IndicatorPeriod
    target: float | None = None
    maximum: float | None = None

    @property
    def upper_bound(self) -> float | None:
        """The largest acceptable value, the unit's own limit included."""
        if self.unit is IndicatorUnit.PERCENT:
            return 100.0 if self.maximum is None else min(self.maximum, 100.0)
        return self.maximum


@dataclass(frozen=True, kw_only=True)
class AmendingDecree:
    """The decree that amended the roadmap (``amended_by:``): what a new version cites."""

    number: str
    issued: date  # the file's ``date``
    title: str

    @property
    def text(self) -> str:
        """«№ 45-рп от 15.03.2023 «О внесении изменений в …»», as messages name it."""
        return f"№ {self.number} от {self.issued:%d.%m.%Y} «{self.title}»"


@dataclass(frozen=True, kw_only=True)
class Roadmap:
    """A validated roadmap definition."""

    code: str
    title: str
    decree: str
    region: str
    period_start: date
    period_end: date
    timezone: str
    coordinator: str
    parties: tuple[Party, ...]
    evidence_kinds: tuple[EvidenceKind, ...]
    measures: tuple[Measure, ...]
    stages: tuple[StageRule, ...]
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    closing: ClosingPolicy = field(default_factory=ClosingPolicy)
    indicators: tuple[Indicator, ...] = ()
    monitoring: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    # machine ("center"/"cycle") → trigger → roles that may fire it; what the file does
    # not declare falls back to workflow.engine.access.DEFAULT_PERMISSIONS.
    permissions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    # The letters' signature (``signature:``); None: the coordinator party's name alone.
    signature_block: Signature | None = None
    # The amending decree this version of the file cites (``amended_by:``), if any.
    amended_by: AmendingDecree | None = None
    content_hash: str = ""
    source: str = ""
    # The cohorts' years (``cohorts: {first, last}``); None: every program year.
    cohort_range: tuple[int, int] | None = None

    @property
    def signature(self) -> Signature:
        """The letters' signature: the file's ``signature:`` block, or by default the
        coordinator party's name alone."""
        if self.signature_block is not None:
            return self.signature_block
        return Signature(department=self.party(self.coordinator).name)

    def party(self, party_id: str) -> Party:
        """The party with this id (KeyError if none)."""
        for p in self.parties:
            if p.id == party_id:
                return p
        raise KeyError(party_id)

    def measure(self, number: int) -> Measure:
        """The measure with this number (KeyError if none)."""
        for m in self.measures:
            if m.number == number:
                return m
        raise KeyError(number)

    def by_cohort(self, number: int) -> bool:
        """Whether the measure's cycles are labelled by a cohort's year (``per_cohort``:
        «2023» is the centers of 2023, due in 2022); False for an unknown number."""
        return any(
            m.number == number and m.recurrence is Recurrence.PER_COHORT for m in self.measures
        )

    def evidence_kind(self, kind_id: str) -> EvidenceKind:
        """The evidence kind with this id (KeyError if none)."""
        for k in self.evidence_kinds:
            if k.id == kind_id:
                return k
        raise KeyError(kind_id)

    def indicator(self, code: str) -> Indicator:
        """The indicator with this code (KeyError if none)."""
        for i in self.indicators:
            if i.code == code:
                return i
        raise KeyError(code)

    @property
    def program_years(self) -> range:
        """The calendar years of the program period."""
        return range(self.period_start.year, self.period_end.year + 1)

    @property
    def cohort_years(self) -> range:
        """The years centers may be created in (a cohort each): ``cohorts``, or every
        program year."""
        if self.cohort_range is None:
            return self.program_years
        return range(self.cohort_range[0], self.cohort_range[1] + 1)
