"""Stage deadlines of a center, from its cohort year (decree 159-рп)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from workflow.roadmap.deadlines import StageDeadline, stage_deadlines
from workflow.roadmap.definition import Measure, Recurrence, Roadmap, StageRule


def measure(number: int, recurrence: Recurrence, first_due: date | None) -> Measure:
    return Measure(
        number=number,
        title=f"мероприятие {number}",
        responsible=("department",),
        responsible_text="Департамент образования Ивановской области",
        result="",
        evidence=(),
        deadline_text="",
        recurrence=recurrence,
        first_due=first_due,
    )


def decree() -> Roadmap:
    """The decree's roadmap, built directly; stage rules deliberately not in order."""
    return Roadmap(
        code="ivanovo-2021-2023",
        title="Точка роста",
        decree="Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп",
        region="Ивановская область",
        period_start=date(2021, 1, 1),
        period_end=date(2023, 12, 31),
        timezone="Europe/Moscow",
        coordinator="department",
        parties=(),
        evidence_kinds=(),
        measures=(
            measure(3, Recurrence.BY_SCHEDULE, None),
            measure(6, Recurrence.ANNUAL, date(2021, 8, 25)),
            measure(7, Recurrence.ANNUAL, date(2021, 8, 25)),
            measure(8, Recurrence.ANNUAL, date(2021, 9, 1)),
            measure(9, Recurrence.QUARTERLY, date(2021, 10, 1)),
        ),
        stages=(
            StageRule(stage="reporting", measure=9, due_month=10, due_day=1, starts=True),
            StageRule(stage="infrastructure_agreed", measure=3, due_month=None, due_day=None),
            StageRule(stage="staff_trained", measure=6, due_month=8, due_day=25),
            StageRule(stage="equipped", measure=7, due_month=8, due_day=25),
            StageRule(stage="opened", measure=8, due_month=9, due_day=1),
        ),
    )


def test_cohort_2023_without_a_schedule() -> None:
    assert stage_deadlines(decree(), cohort=2023) == [
        StageDeadline(stage="infrastructure_agreed", measure=3, due=None, starts=False),
        StageDeadline(stage="equipped", measure=7, due=date(2023, 8, 25), starts=False),
        StageDeadline(stage="staff_trained", measure=6, due=date(2023, 8, 25), starts=False),
        StageDeadline(stage="opened", measure=8, due=date(2023, 9, 1), starts=False),
        StageDeadline(stage="reporting", measure=9, due=date(2023, 10, 1), starts=True),
    ]


def test_cohort_2021_with_the_infrastructure_schedule() -> None:
    got = stage_deadlines(decree(), cohort=2021, schedule_due={3: date(2021, 4, 15)})
    assert [(s.stage, s.due) for s in got] == [
        ("infrastructure_agreed", date(2021, 4, 15)),
        ("equipped", date(2021, 8, 25)),
        ("staff_trained", date(2021, 8, 25)),
        ("opened", date(2021, 9, 1)),
        ("reporting", date(2021, 10, 1)),
    ]


def test_schedule_for_another_measure_is_ignored() -> None:
    got = stage_deadlines(decree(), cohort=2022, schedule_due={5: date(2022, 3, 1)})
    assert got[0] == StageDeadline(stage="infrastructure_agreed", measure=3, due=None, starts=False)


def test_no_stage_rules_no_deadlines() -> None:
    assert stage_deadlines(replace(decree(), stages=()), cohort=2022) == []


def test_unknown_stage_is_refused() -> None:
    roadmap = replace(
        decree(), stages=(StageRule(stage="withdrawn_", measure=9, due_month=1, due_day=1),)
    )
    with pytest.raises(ValueError, match="unknown stage"):
        stage_deadlines(roadmap, cohort=2022)
