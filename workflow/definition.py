"""The roadmap as frozen value objects: what a validated roadmap file becomes.

Built once, at the edge, by `workflow.roadmap_file.load_roadmap`; everything else reads
these objects and never the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


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
    """A responsible party with a contact address."""

    id: str
    kind: PartyKind
    name: str
    email: str


@dataclass(frozen=True, kw_only=True)
class EvidenceKind:
    """A kind of document that closes a measure cycle (e.g. an order, a letter)."""

    id: str
    name: str


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


@dataclass(frozen=True, kw_only=True)
class StageRule:
    """How a measure maps onto a center stage.

    Attributes:
        stage: the center state the rule is about (a `states.CenterState` value).
        measure: the measure number.
        due_month, due_day: the stage deadline in the center's cohort year; both None
            when the deadline comes from the measure's by-schedule cycle.
        starts: True when the date is when the stage *starts* (reporting "from 01.10")
            rather than a deadline to reach it.
    """

    stage: str
    measure: int
    due_month: int | None
    due_day: int | None
    starts: bool = False


@dataclass(frozen=True, kw_only=True)
class ReminderPolicy:
    """The reminder ladder: before, on the day, then repeatedly while overdue."""

    days_before: tuple[int, ...] = (14, 3)
    on_day: bool = True
    overdue_every_days: int = 7
    escalate_to: str = "department"


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
    content_hash: str = ""
    source: str = ""

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

    def evidence_kind(self, kind_id: str) -> EvidenceKind:
        """The evidence kind with this id (KeyError if none)."""
        for k in self.evidence_kinds:
            if k.id == kind_id:
                return k
        raise KeyError(kind_id)

    @property
    def program_years(self) -> range:
        """The calendar years of the program period."""
        return range(self.period_start.year, self.period_end.year + 1)
