"""The demo's sample and its operators: 24 labelled, fictional centers and what people do.

The centers are a sample, not data: real municipalities of the Ivanovo region, but every
school's name says «(демо)» and every address is on a reserved domain (RFC 2606). The
acts are drawn from one seeded random generator, so every run of ``tochka demo`` replays
the same program: the same dates, the same late centers, the same letters.

Each act is tied to a working day (the daemon's ticks are on working days; an act meant
for a weekend or a holiday happens on the next working day) and happens at 08:xx, before
that day's 09:00 tick, as an operator's morning work would.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from workflow.roadmap.workdays import is_working_day

#: Real municipal districts of the Ivanovo region, three sample centers each.
MUNICIPALITIES = (
    ("Шуйский муниципальный район", "shuya"),
    ("Кинешемский муниципальный район", "kineshma"),
    ("Родниковский муниципальный район", "rodniki"),
    ("Тейковский муниципальный район", "teykovo"),
    ("Фурмановский муниципальный район", "furmanov"),
    ("Вичугский муниципальный район", "vichuga"),
    ("Приволжский муниципальный район", "privolzhsk"),
    ("Палехский муниципальный район", "palekh"),
)
COHORTS = (2021, 2022, 2023)
#: The demo's reserved domain: letters are written to files, never sent.
DOMAIN = "demo.example.org"
SEED = 159  # the decree's number

QUARTER_INDICATORS = {
    "natsci_students": (70, 160),
    "tech_students": (30, 120),
    "extra_programs_students": (25, 90),
}
YEAR_INDICATORS = {"events": (2, 9), "trained_teachers_share": (60, 100)}


@dataclass(frozen=True)
class Center:
    code: str
    name: str
    municipality: str
    cohort: int
    email: str


@dataclass(frozen=True)
class Act:
    """One operator's act: ``kind`` with its arguments, on ``day`` at 08:``minute``."""

    day: date
    minute: int
    #: "center" (code, trigger[, comment]), "open_cycle" (measure, due), "cycle" (measure,
    #: due, evidence: completed), "values" (center, period, {indicator: value})
    kind: str
    args: tuple[object, ...]
    label: str = ""


@dataclass
class Plan:
    """The acts by day, and what the sample is meant to show (for the tour)."""

    acts: dict[date, list[Act]] = field(default_factory=dict)
    late_openings: set[str] = field(default_factory=set)
    withdrawn: set[str] = field(default_factory=set)
    never_opened: set[str] = field(default_factory=set)

    def add(self, act: Act) -> None:
        self.acts.setdefault(act.day, []).append(act)

    def on(self, day: date) -> list[Act]:
        return sorted(self.acts.get(day, []), key=lambda a: a.minute)


def centers() -> list[Center]:
    """The 24 sample centers: 8 per cohort, 3 per municipality, one of each cohort."""
    out = []
    number = 0
    for municipality, slug in MUNICIPALITIES:
        for cohort in COHORTS:
            number += 1
            out.append(
                Center(
                    code=f"DEMO-{number:02d}",
                    name=f"Демонстрационная школа № {number} (демо)",
                    municipality=municipality,
                    cohort=cohort,
                    email=f"school{number:02d}.{slug}@{DOMAIN}",
                )
            )
    return out


def contacts() -> list[tuple[str, str, str]]:
    """(municipality, address, recipient) of each sample municipality's education office."""
    return [
        (name, f"roo.{slug}@{DOMAIN}", f"Отдел образования ({name}) (демо)")
        for name, slug in MUNICIPALITIES
    ]


def working_on_or_after(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def plan(until: date) -> Plan:
    """Every act from the decree to ``until``, drawn from the seeded generator."""
    rng = random.Random(SEED)  # noqa: S311 - a replayable sample, not a secret
    result = Plan()

    def at(day: date, kind: str, *args: object, label: str = "") -> None:
        if day <= until:
            result.add(Act(working_on_or_after(day), rng.randrange(0, 50), kind, args, label))

    def late(days_early: int, days_late: int, late_share: float) -> int:
        """An offset from a deadline: mostly before it, sometimes after."""
        if rng.random() < late_share:
            return rng.randint(3, days_late)
        return -rng.randint(1, days_early)

    # The decree's own acts, on their dates. Measure 1 (the decree itself) needs none:
    # the roadmap file records it done on 07.12.2020 (``done:``), and the tick does it.
    at(
        date(2020, 12, 22),
        "cycle",
        2,
        date(2020, 12, 23),
        {"department_order": "приказ № 1012 (демо)"},
    )
    at(
        date(2020, 12, 29),
        "cycle",
        4,
        date(2020, 12, 30),
        {"subsidy_agreement": "соглашение № 073 (демо)"},
    )
    sample = centers()
    for year in COHORTS:
        # Measure 3: the federal operator's schedule, entered by the coordinator.
        agree = date(year, 4, 15)
        at(date(year, 2, 1), "open_cycle", 3, agree)
        at(
            agree + timedelta(days=late(10, 20, 0.3)),
            "cycle",
            3,
            agree,
            {"operator_letter": f"письмо № ФО-{year}-3 (демо)", "department_order": "приказ"},
        )
        # Annual measures: procurement (5), training (6), monitoring (7), opening (8).
        for measure, due, evidence in (
            (5, date(year, 3, 1), {"procurement_notices": "извещения № 0133 (демо)"}),
            (
                6,
                date(year, 8, 25),
                {"training_certificates": "удостоверения", "retraining_report": "отчёт"},
            ),
            (7, date(year, 8, 25), {"monitoring_report": "результаты мониторинга (демо)"}),
            (8, date(year, 9, 1), {"media_coverage": "публикации в СМИ (демо)"}),
        ):
            at(due + timedelta(days=late(12, 25, 0.25)), "cycle", measure, due, evidence)
        # Quarterly monitoring (9): the report on each quarter since the first openings.
        for quarter in (1, 2, 3, 4):
            due = _quarter_due(year, quarter)
            if due < date(2021, 10, 1):
                continue
            label = _quarter_label(year, quarter)
            at(
                due + timedelta(days=late(2, 20, 0.3)),
                "cycle",
                9,
                due,
                {"indicators_report": f"отчёт за {label} (демо)"},
            )
    for center in sample:
        _center_acts(center, rng, at, late, result)
    return result


def _center_acts(
    center: Center,
    rng: random.Random,
    at: Callable[..., None],
    late: Callable[[int, int, float], int],
    result: Plan,
) -> None:
    year = center.cohort
    number = int(center.code.rsplit("-", 1)[1])
    if number == 11:  # cohort 2022: the school is reorganised before its center opens
        at(date(year, 5, 12), "center", center.code, "withdraw", "школа реорганизована (демо)")
        result.withdrawn.add(center.code)
        at(date(year, 4, 8), "center", center.code, "agree_infrastructure")
        return
    at(
        date(year, 4, 15) + timedelta(days=late(12, 20, 0.2)),
        "center",
        center.code,
        "agree_infrastructure",
    )
    if number == 21:  # cohort 2023: equipment never delivered within the program
        result.never_opened.add(center.code)
        return
    equip = working_on_or_after(date(year, 8, 25) + timedelta(days=late(20, 18, 0.2)))
    at(equip, "center", center.code, "equip")
    # The stages follow one another: staff trained after the equipment, then the opening.
    train = max(
        working_on_or_after(equip + timedelta(days=1)),
        working_on_or_after(date(year, 8, 25) + timedelta(days=late(15, 18, 0.2))),
    )
    at(train, "center", center.code, "train_staff")
    opened = max(
        working_on_or_after(train + timedelta(days=1)),
        working_on_or_after(date(year, 9, 1) + timedelta(days=late(3, 30, 0.2))),
    )
    if opened > date(year, 9, 1):
        result.late_openings.add(center.code)
    at(opened, "center", center.code, "open")
    at(
        max(opened + timedelta(days=7), date(year, 10, 1) + timedelta(days=late(5, 15, 0.15))),
        "center",
        center.code,
        "start_reporting",
    )
    # Indicator values for each quarter from the opening, filed in the first days after
    # it; about one in eight is never filed (the quarterly report shows it missing).
    for year_, quarter in _quarters_from(opened):
        if rng.random() < 0.12:
            continue
        end = _quarter_end(year_, quarter)
        values = {k: rng.randint(*span) for k, span in QUARTER_INDICATORS.items()}
        at(
            end + timedelta(days=rng.randint(1, 12)),
            "values",
            center.code,
            _quarter_label(year_, quarter),
            values,
        )
        if quarter == 4:
            yearly = {k: rng.randint(*span) for k, span in YEAR_INDICATORS.items()}
            at(end + timedelta(days=rng.randint(1, 12)), "values", center.code, str(year_), yearly)


def _quarters_from(opened: date) -> Iterator[tuple[int, int]]:
    year, quarter = opened.year, (opened.month - 1) // 3 + 1
    while year <= COHORTS[-1]:
        yield year, quarter
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)


def _quarter_label(year: int, quarter: int) -> str:
    return f"{year}-Q{quarter}"


def _quarter_end(year: int, quarter: int) -> date:
    """The quarter's last day: the day before the next quarter's first."""
    following = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return following - timedelta(days=1)


def _quarter_due(year: int, quarter: int) -> date:
    """The measure-9 cycle's due date for the quarter: the first day after it."""
    return _quarter_end(year, quarter) + timedelta(days=1)
