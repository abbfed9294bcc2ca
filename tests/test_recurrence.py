"""Measure cycles of the Ivanovo decree 159-рп as of given dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.roadmap.definition import Measure, Recurrence, ReminderPolicy, Roadmap
from workflow.roadmap.recurrence import (
    CycleSpec,
    measure_cycles,
    opens_on,
    operator_period,
    quarter_label,
    reported_quarter,
    scheduled_cycles,
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def measure(number: int, recurrence: Recurrence, first_due: str | None = None) -> Measure:
    return Measure(
        number=number,
        title=f"мероприятие {number}",
        responsible=("department",),
        responsible_text="Департамент образования Ивановской области",
        result="",
        evidence=(),
        deadline_text="",
        recurrence=recurrence,
        first_due=d(first_due) if first_due else None,
    )


def decree() -> Roadmap:
    """The decree's roadmap, built directly (only what recurrence reads)."""
    return Roadmap(
        code="ivanovo-2021-2023",
        title="Точка роста",
        decree="Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп",
        region="Ивановская область",
        period_start=d("2021-01-01"),
        period_end=d("2023-12-31"),
        timezone="Europe/Moscow",
        coordinator="department",
        parties=(),
        evidence_kinds=(),
        measures=(
            measure(1, Recurrence.ONCE, "2020-12-07"),
            measure(2, Recurrence.ONCE, "2020-12-23"),
            measure(3, Recurrence.BY_SCHEDULE),
            measure(4, Recurrence.ONCE_THEN_AS_NEEDED, "2020-12-30"),
            measure(5, Recurrence.ANNUAL, "2021-03-01"),
            measure(6, Recurrence.ANNUAL, "2021-08-25"),
            measure(7, Recurrence.ANNUAL, "2021-08-25"),
            measure(8, Recurrence.ANNUAL, "2021-09-01"),
            measure(9, Recurrence.QUARTERLY, "2021-10-01"),
        ),
        stages=(),
    )


def listed(cycles: list[CycleSpec]) -> list[tuple[int, str, str]]:
    return [(c.measure, c.period, c.due.isoformat()) for c in cycles]


ALL_CYCLES = [
    (1, "2020", "2020-12-07"),
    (2, "2020", "2020-12-23"),
    (4, "2020", "2020-12-30"),
    (5, "2021", "2021-03-01"),
    (5, "2022", "2022-03-01"),
    (5, "2023", "2023-03-01"),
    (6, "2021", "2021-08-25"),
    (6, "2022", "2022-08-25"),
    (6, "2023", "2023-08-25"),
    (7, "2021", "2021-08-25"),
    (7, "2022", "2022-08-25"),
    (7, "2023", "2023-08-25"),
    (8, "2021", "2021-09-01"),
    (8, "2022", "2022-09-01"),
    (8, "2023", "2023-09-01"),
    (9, "2021-Q3", "2021-10-01"),
    (9, "2021-Q4", "2022-01-01"),
    (9, "2022-Q1", "2022-04-01"),
    (9, "2022-Q2", "2022-07-01"),
    (9, "2022-Q3", "2022-10-01"),
    (9, "2022-Q4", "2023-01-01"),
    (9, "2023-Q1", "2023-04-01"),
    (9, "2023-Q2", "2023-07-01"),
    (9, "2023-Q3", "2023-10-01"),
    (9, "2023-Q4", "2024-01-01"),  # a period inside the program, due after its end
]


def test_before_the_first_reminder_nothing_exists() -> None:
    # Measure 1 is due Monday 07.12.2020; its first reminder (and the cycle) is 23.11.
    assert scheduled_cycles(decree(), as_of=d("2020-11-22")) == []
    assert listed(scheduled_cycles(decree(), as_of=d("2020-11-23"))) == [(1, "2020", "2020-12-07")]


def test_as_of_2020_12_01() -> None:
    assert listed(scheduled_cycles(decree(), as_of=d("2020-12-01"))) == [(1, "2020", "2020-12-07")]


def test_as_of_2021_06_01() -> None:
    # 6/7 open on 11.08.2021, 8 on 18.08.2021, 9 on 17.09.2021: not yet.
    assert listed(scheduled_cycles(decree(), as_of=d("2021-06-01"))) == [
        (1, "2020", "2020-12-07"),
        (2, "2020", "2020-12-23"),
        (4, "2020", "2020-12-30"),
        (5, "2021", "2021-03-01"),
    ]


def test_as_of_2021_06_01_with_a_horizon() -> None:
    # 01.06 + 80 days = 20.08: measures 6, 7 (11.08) and 8 (18.08) have opened by then.
    assert listed(scheduled_cycles(decree(), as_of=d("2021-06-01"), horizon_days=80)) == [
        (1, "2020", "2020-12-07"),
        (2, "2020", "2020-12-23"),
        (4, "2020", "2020-12-30"),
        (5, "2021", "2021-03-01"),
        (6, "2021", "2021-08-25"),
        (7, "2021", "2021-08-25"),
        (8, "2021", "2021-09-01"),
    ]


def test_as_of_the_program_end_and_after() -> None:
    # 2023-Q4 is due 01.01.2024, after the program, but reports on a quarter inside it:
    # a cycle, listed from its opening day (18.12.2023); nothing after it, ever.
    assert (9, "2023-Q4", "2024-01-01") not in listed(
        scheduled_cycles(decree(), as_of=d("2023-12-15"))
    )
    assert listed(scheduled_cycles(decree(), as_of=d("2023-12-31"))) == ALL_CYCLES
    assert listed(scheduled_cycles(decree(), as_of=d("2024-03-31"))) == ALL_CYCLES
    assert listed(scheduled_cycles(decree(), as_of=d("2030-01-01"), horizon_days=999)) == ALL_CYCLES
    assert len([c for c in ALL_CYCLES if c[0] == 9]) == 10


def test_closing_measures_limit_the_cycles_after_the_end() -> None:
    from dataclasses import replace

    from workflow.roadmap.definition import ClosingPolicy

    none_close = replace(decree(), closing=ClosingPolicy(measures=(5,)))
    got = listed(scheduled_cycles(none_close, as_of=d("2024-03-31")))
    assert (9, "2023-Q4", "2024-01-01") not in got
    assert got == [c for c in ALL_CYCLES if c != (9, "2023-Q4", "2024-01-01")]


def test_quarterly_opening_around_new_year() -> None:
    # 2021-Q4 is due Saturday 01.01.2022; its first reminder is Friday 17.12.2021.
    before = listed(scheduled_cycles(decree(), as_of=d("2021-12-16")))
    after = listed(scheduled_cycles(decree(), as_of=d("2021-12-17")))
    assert (9, "2021-Q4", "2022-01-01") not in before
    assert [c for c in after if c not in before] == [(9, "2021-Q4", "2022-01-01")]


def test_opens_on_is_the_first_reminder_day() -> None:
    policy = ReminderPolicy()
    assert opens_on(d("2021-08-25"), policy) == d("2021-08-11")
    assert opens_on(d("2022-01-01"), policy) == d("2021-12-17")  # 18.12 is a Saturday
    assert opens_on(d("2021-03-06"), policy) == d("2021-02-20")  # a working Saturday
    assert opens_on(d("2022-03-21"), policy) == d("2022-03-05")  # 07.03 is off, 05.03 works
    assert opens_on(d("2021-10-01"), ReminderPolicy(days_before=(3, 30))) == d("2021-09-01")
    assert opens_on(d("2021-10-01"), ReminderPolicy(days_before=())) == d("2021-09-17")


def test_lead_follows_the_policy() -> None:
    roadmap = replace(decree(), reminders=ReminderPolicy(days_before=(3,)))
    # Measure 5/2021 due Monday 01.03.2021 now opens on 26.02.2021.
    assert (5, "2021", "2021-03-01") not in listed(scheduled_cycles(roadmap, as_of=d("2021-02-25")))
    assert (5, "2021", "2021-03-01") in listed(scheduled_cycles(roadmap, as_of=d("2021-02-26")))


def test_once_label_is_the_due_year() -> None:
    cycles = list(
        measure_cycles(measure(1, Recurrence.ONCE, "2020-12-07"), period_end=d("2023-12-31"))
    )
    assert listed(cycles) == [(1, "2020", "2020-12-07")]


def test_operator_measures_imply_nothing() -> None:
    for kind in (Recurrence.AS_NEEDED, Recurrence.BY_SCHEDULE):
        assert list(measure_cycles(measure(3, kind), period_end=d("2023-12-31"))) == []


def test_dated_recurrence_without_first_due_is_refused() -> None:
    with pytest.raises(ValueError, match="first_due"):
        list(measure_cycles(measure(5, Recurrence.ANNUAL), period_end=d("2023-12-31")))


def test_month_ends_and_leap_days() -> None:
    quarterly = measure(9, Recurrence.QUARTERLY, "2021-01-31")
    assert listed(list(measure_cycles(quarterly, period_end=d("2021-12-31")))) == [
        (9, "2020-Q4", "2021-01-31"),
        (9, "2021-Q1", "2021-04-30"),
        (9, "2021-Q2", "2021-07-31"),
        (9, "2021-Q3", "2021-10-31"),
        (9, "2021-Q4", "2022-01-31"),  # the last quarter of the period, due after it
    ]
    annual = measure(5, Recurrence.ANNUAL, "2020-02-29")
    assert listed(list(measure_cycles(annual, period_end=d("2024-12-31")))) == [
        (5, "2020", "2020-02-29"),
        (5, "2021", "2021-02-28"),
        (5, "2022", "2022-02-28"),
        (5, "2023", "2023-02-28"),
        (5, "2024", "2024-02-29"),
    ]


def test_quarter_labels() -> None:
    assert quarter_label(d("2021-08-25")) == "2021-Q3"
    assert quarter_label(d("2021-01-01")) == "2021-Q1"
    assert quarter_label(d("2021-12-31")) == "2021-Q4"
    assert reported_quarter(d("2021-10-01")) == "2021-Q3"
    assert reported_quarter(d("2022-01-01")) == "2021-Q4"
    assert reported_quarter(d("2021-10-15")) == "2021-Q3"
    assert reported_quarter(d("2021-04-01")) == "2021-Q1"


def test_operator_period() -> None:
    assert operator_period(d("2021-02-15"), []) == "2021-02-15"
    assert operator_period(d("2021-02-15"), {"2020", "2021-02-15"}) == "2021-02-15#2"
    assert operator_period(d("2021-02-15"), {"2021-02-15", "2021-02-15#2"}) == "2021-02-15#3"
    # The first free number, even if a later one is taken.
    assert operator_period(d("2021-02-15"), {"2021-02-15", "2021-02-15#3"}) == "2021-02-15#2"


@settings(max_examples=100, deadline=None)
@given(
    a=st.dates(date(2020, 11, 1), date(2024, 6, 1)),
    b=st.dates(date(2020, 11, 1), date(2024, 6, 1)),
)
def test_cycles_once_listed_stay_listed(a: date, b: date) -> None:
    # The reconciler relies on it: a later run lists a superset, and every listed cycle
    # has opened.
    early, late = sorted((a, b))
    roadmap = decree()
    first = scheduled_cycles(roadmap, as_of=early)
    second = scheduled_cycles(roadmap, as_of=late)
    assert set(first) <= set(second)
    assert all(opens_on(c.due, roadmap.reminders) <= early for c in first)
    # Looking ahead from `early` to `late` lists exactly what `late` will list.
    ahead = scheduled_cycles(roadmap, as_of=early, horizon_days=(late - early).days)
    assert ahead == second
