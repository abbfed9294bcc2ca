"""The recurrence kinds and deadline rules of issue 14: monthly, ``until``, deadlines after
the reported period, several dates a year, cohort-relative years, and the warnings.

Properties of every kind (hypothesis): due dates strictly increasing, labels unique, none
outside the stated window, working-day rules on working days; hand-computed dates around
the New Year and the March holidays; every refusal with its line, column and field.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.ics import period_text
from workflow.errors import Problem, RoadmapFileError
from workflow.roadmap.deadlines import stage_deadlines
from workflow.roadmap.definition import DueRule, Measure, Recurrence, Roadmap
from workflow.roadmap.loader import load_roadmap, parse_roadmap
from workflow.roadmap.recurrence import (
    CycleSpec,
    measure_cycles,
    rule_due,
    scheduled_cycles,
)
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.suspicious import suspicious
from workflow.roadmap.workdays import is_working_day
from workflow.schedule.asks import period_title

TOCHKA = str(Path(sys.executable).with_name("tochka"))

# A small roadmap; MEASURE is replaced by the measure under test (measure 3).
TEMPLATE = """\
format: 1
code: test-kinds
title: "Тестовая дорожная карта"
decree: "Распоряжение № 1"
region: "Тестовая область"
period: {start: "2021-01-01", end: "2023-12-31"}
timezone: Europe/Moscow
coordinator: department
parties:
  - {id: department, kind: department, name: "Департамент", email: "dep@example.org"}
evidence_kinds:
  - {id: order, name: "приказ"}
measures:
  - number: 1
    title: "Первое"
    responsible: [department]
    responsible_text: "Департамент"
    result: "приказ"
    evidence: [order]
    deadline_text: "по графику"
    recurrence: {kind: by_schedule}
  - number: 2
    title: "Мониторинг"
    responsible: [department]
    responsible_text: "Департамент"
    result: "отчёт"
    evidence: [order]
    deadline_text: "ежеквартально"
    recurrence: {kind: quarterly, first_due: "2021-10-01"}
  - number: 3
    title: "Проверяемое"
    responsible: [department]
    responsible_text: "Департамент"
    result: "отчёт"
    evidence: [order]
    deadline_text: "как написано"
    recurrence: MEASURE
stages:
  - {stage: infrastructure_agreed, measure: 1}
  - {stage: equipped, measure: 3, due: "25.08"}
  - {stage: reporting, measure: 2, due: "01.10", starts: true}
"""


def roadmap_text(recurrence: str, *, text: str = TEMPLATE) -> str:
    assert text.count("MEASURE") == 1
    return text.replace("MEASURE", recurrence)


def parse(recurrence: str, **kw: str) -> Roadmap:
    return parse_roadmap(roadmap_text(recurrence, **kw), filename="r.yaml")


def refused(text: str) -> Problem:
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml")
    problems = caught.value.problems
    assert len(problems) == 1, problems
    return problems[0]


def at(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the single occurrence of ``needle`` in ``text``."""
    assert text.count(needle) == 1, needle
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def cycles(roadmap: Roadmap, number: int = 3) -> list[tuple[str, date]]:
    specs = measure_cycles(
        roadmap.measure(number), period_end=roadmap.period_end, cohorts=roadmap.cohort_years
    )
    return [(s.period, s.due) for s in specs]


def measure(kind: Recurrence, **fields: object) -> Measure:
    base = Measure(
        number=1,
        title="м",
        responsible=("d",),
        responsible_text="",
        result="",
        evidence=(),
        deadline_text="",
        recurrence=kind,
        first_due=None,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


# --------------------------------------------------------------- hand-computed dates


def test_five_working_days_after_2021_q4_end_after_the_new_year_holidays() -> None:
    # 01.01-09.01.2022 are off; the working days are 10, 11, 12, 13, 14 January.
    rule = DueRule(days_after=5, working=True)
    assert rule_due(rule, period_last=date(2021, 12, 31)) == date(2022, 1, 14)
    # Five calendar days: 05.01.2022, a holiday, kept (the term then ends on 10.01).
    assert rule_due(DueRule(days_after=5), period_last=date(2021, 12, 31)) == date(2022, 1, 5)


def test_working_days_after_february_2022_count_the_march_transfers() -> None:
    # 05.03.2022 (Saturday) is a working day; 06 (Sunday), 07 (transferred) and 08.03 off.
    rule = DueRule(days_after=5, working=True)
    assert rule_due(rule, period_last=date(2022, 2, 28)) == date(2022, 3, 5)
    rule = DueRule(days_after=6, working=True)
    assert rule_due(rule, period_last=date(2022, 2, 28)) == date(2022, 3, 9)


def test_day_of_next_month() -> None:
    rule = DueRule(day_of_next_month=10)
    assert rule_due(rule, period_last=date(2021, 12, 31)) == date(2022, 1, 10)
    # The 31st of a short month is its last day.
    rule = DueRule(day_of_next_month=31)
    assert rule_due(rule, period_last=date(2022, 1, 31)) == date(2022, 2, 28)
    assert rule_due(rule, period_last=date(2024, 1, 31)) == date(2024, 2, 29)
    assert rule_due(rule, period_last=date(2022, 3, 31)) == date(2022, 4, 30)


def test_quarterly_five_working_days_after_the_quarter_from_the_file() -> None:
    roadmap = parse(
        '{kind: quarterly, first_period: "2021-Q3", due: {after_period: {days: 5, working: true}}}'
    )
    assert cycles(roadmap)[:3] == [
        ("2021-Q3", date(2021, 10, 7)),
        ("2021-Q4", date(2022, 1, 14)),
        ("2022-Q1", date(2022, 4, 7)),
    ]
    # The last quarter inside the program, due after its end.
    # 2024: 01-08.01 off; 09, 10, 11, 12 and 15 January.
    assert cycles(roadmap)[-1] == ("2023-Q4", date(2024, 1, 15))


def test_quarterly_tenth_of_the_next_month_from_the_file() -> None:
    roadmap = parse('{kind: quarterly, first_period: "2021-Q4", due: {day_of_next_month: 10}}')
    assert cycles(roadmap)[:2] == [("2021-Q4", date(2022, 1, 10)), ("2022-Q1", date(2022, 4, 10))]


def test_monthly_from_first_due_reports_the_month_before() -> None:
    roadmap = parse('{kind: monthly, first_due: "2022-02-05"}')
    got = cycles(roadmap)
    assert got[:3] == [
        ("2022-01", date(2022, 2, 5)),
        ("2022-02", date(2022, 3, 5)),
        ("2022-03", date(2022, 4, 5)),
    ]
    # Through December 2023, reported on 05.01.2024.
    assert got[-1] == ("2023-12", date(2024, 1, 5))
    assert len(got) == 24


def test_monthly_on_the_31st_falls_back_to_the_months_last_day() -> None:
    """The rule: each cycle is ``first_due`` moved by whole months; a day the month does
    not have becomes its last day, and the next month has the 31st again."""
    roadmap = parse('{kind: monthly, first_due: "2022-01-31"}')
    assert [d for _, d in cycles(roadmap)[:4]] == [
        date(2022, 1, 31),
        date(2022, 2, 28),
        date(2022, 3, 31),
        date(2022, 4, 30),
    ]
    leap = measure(Recurrence.MONTHLY, first_due=date(2024, 1, 31))
    assert [s.due for s in measure_cycles(leap, period_end=date(2024, 3, 31))][1] == date(
        2024, 2, 29
    )


def test_monthly_by_rule_five_days_after_the_month() -> None:
    roadmap = parse('{kind: monthly, first_period: "2022-01", due: {after_period: {days: 5}}}')
    assert cycles(roadmap)[:2] == [("2022-01", date(2022, 2, 5)), ("2022-02", date(2022, 3, 5))]


def test_annual_report_by_the_20th_of_january_of_the_next_year() -> None:
    roadmap = parse("{kind: annual, first_period: 2021, due: {day_of_next_month: 20}}")
    assert cycles(roadmap) == [
        ("2021", date(2022, 1, 20)),
        ("2022", date(2023, 1, 20)),
        ("2023", date(2024, 1, 20)),
    ]


def test_dates_yearly() -> None:
    roadmap = parse('{kind: dates_yearly, first_due: "2021-12-15", dates: ["15.12", "15.06"]}')
    assert cycles(roadmap) == [
        ("2021-12-15", date(2021, 12, 15)),
        ("2022-06-15", date(2022, 6, 15)),
        ("2022-12-15", date(2022, 12, 15)),
        ("2023-06-15", date(2023, 6, 15)),
        ("2023-12-15", date(2023, 12, 15)),
    ]


def test_until_ends_every_recurring_kind() -> None:
    annual = parse('{kind: annual, first_due: "2021-03-01", until: "2022-12-31"}')
    assert cycles(annual) == [("2021", date(2021, 3, 1)), ("2022", date(2022, 3, 1))]
    monthly = parse('{kind: monthly, first_due: "2022-02-05", until: "2022-04-05"}')
    assert [p for p, _ in cycles(monthly)] == ["2022-01", "2022-02", "2022-03"]
    # An annual measure without until keeps today's rule: a cycle every program year.
    assert [p for p, _ in cycles(parse('{kind: annual, first_due: "2021-03-01"}'))] == [
        "2021",
        "2022",
        "2023",
    ]
    # The reconciler's list stops there too.
    specs = scheduled_cycles(annual, as_of=date(2024, 1, 1))
    assert [s.period for s in specs if s.measure == 3] == ["2021", "2022"]


def test_per_cohort_measure_due_the_year_before_each_cohort() -> None:
    text = roadmap_text('{kind: per_cohort, day: "01.12", year: cohort-1}').replace(
        "timezone: Europe/Moscow\n", "timezone: Europe/Moscow\ncohorts: {first: 2022, last: 2023}\n"
    )
    roadmap = parse_roadmap(text, filename="r.yaml")
    assert roadmap.cohort_years == range(2022, 2024)
    assert cycles(roadmap) == [("2022", date(2021, 12, 1)), ("2023", date(2022, 12, 1))]


def test_stage_due_in_the_year_before_the_cohort() -> None:
    text = (
        TEMPLATE.replace("MEASURE", '{kind: once, first_due: "2021-05-01"}')
        .replace(
            "timezone: Europe/Moscow\n",
            "timezone: Europe/Moscow\ncohorts: {first: 2022, last: 2023}\n",
        )
        .replace(
            '{stage: equipped, measure: 3, due: "25.08"}',
            '{stage: equipped, measure: 3, due: "01.12", year: cohort-1}',
        )
    )
    roadmap = parse_roadmap(text, filename="r.yaml")
    (equipped,) = [d for d in stage_deadlines(roadmap, cohort=2023) if d.stage == "equipped"]
    assert equipped.due == date(2022, 12, 1)


def test_the_shipped_roadmap_is_unchanged_by_the_new_keys() -> None:
    roadmap = load_roadmap(IVANOVO_159_RP)
    assert cycles(roadmap, 9)[:2] == [("2021-Q3", date(2021, 10, 1)), ("2021-Q4", date(2022, 1, 1))]
    assert cycles(roadmap, 5) == [
        ("2021", date(2021, 3, 1)),
        ("2022", date(2022, 3, 1)),
        ("2023", date(2023, 3, 1)),
    ]
    assert suspicious(roadmap) == []


@pytest.mark.parametrize(
    ("label", "title", "calendar"),
    [
        ("2022-03", "март 2022 г.", "март 2022 г."),
        ("2021-12", "декабрь 2021 г.", "декабрь 2021 г."),
        ("2022-06-15", "15.06.2022", "от 15.06.2022"),
        ("2022-Q1", "I квартал 2022 г.", "I квартал 2022 г."),
    ],
)
def test_period_titles_of_the_new_labels(label: str, title: str, calendar: str) -> None:
    assert period_title(label) == title
    assert period_text(label) == calendar


# ------------------------------------------------------------------ properties

_DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31))
_ENDS = st.dates(min_value=date(2021, 6, 30), max_value=date(2027, 12, 31))


def _first_of_period(kind: Recurrence, d: date) -> date:
    if kind is Recurrence.MONTHLY:
        return d.replace(day=1)
    if kind is Recurrence.QUARTERLY:
        return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
    return date(d.year, 1, 1)


_PERIODIC = st.sampled_from([Recurrence.MONTHLY, Recurrence.QUARTERLY, Recurrence.ANNUAL])
_RULES = st.one_of(
    st.builds(DueRule, days_after=st.integers(1, 120), working=st.booleans()),
    st.builds(DueRule, day_of_next_month=st.integers(1, 31)),
)


@st.composite
def measures(draw: st.DrawFn) -> tuple[Measure, date]:
    """A measure of any dated kind, and the program's end."""
    end = draw(_ENDS)
    kind = draw(
        st.sampled_from(
            [
                Recurrence.ONCE,
                Recurrence.ANNUAL,
                Recurrence.QUARTERLY,
                Recurrence.MONTHLY,
                Recurrence.DATES_YEARLY,
                Recurrence.PER_COHORT,
                "rule",
            ]
        )
    )
    until = draw(st.none() | st.dates(min_value=date(2020, 1, 1), max_value=end + timedelta(366)))
    if kind == "rule":
        periodic = draw(_PERIODIC)
        first = _first_of_period(
            periodic, draw(st.dates(min_value=date(2020, 1, 1), max_value=end))
        )
        m = measure(periodic, due_rule=draw(_RULES), first_period=first, until=until)
    elif kind is Recurrence.PER_COHORT:
        day = draw(st.tuples(st.integers(1, 12), st.integers(1, 28)))
        m = measure(kind, cohort_day=day, cohort_offset=draw(st.integers(-2, 2)), until=until)
    elif kind is Recurrence.DATES_YEARLY:
        days = draw(
            st.lists(
                st.tuples(st.integers(1, 12), st.integers(1, 28)),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        year = draw(st.integers(2020, end.year))
        first = date(year, *days[0])
        m = measure(kind, dates=tuple(sorted(days)), first_due=first, until=until)
    else:
        assert isinstance(kind, Recurrence)
        m = measure(
            kind, first_due=draw(st.dates(min_value=date(2020, 1, 1), max_value=end)), until=until
        )
    return m, end


def _period_start(spec: CycleSpec, m: Measure) -> date:
    label = spec.period
    if "-Q" in label:
        year, q = label.split("-Q")
        return date(int(year), 3 * int(q) - 2, 1)
    if len(label) == 7:
        return date.fromisoformat(label + "-01")
    if len(label) == 4:
        return date(int(label), 1, 1)
    return spec.due


@settings(max_examples=300, deadline=None)
@given(measures())
def test_every_kind_increases_stays_unique_and_inside_its_window(
    case: tuple[Measure, date],
) -> None:
    m, end = case
    cohorts = range(2021, end.year + 1)
    specs = list(measure_cycles(m, period_end=end, cohorts=cohorts))
    dues = [s.due for s in specs]
    assert all(a < b for a, b in zip(dues, dues[1:], strict=False)), dues
    assert len({s.period for s in specs}) == len(specs)
    for s in specs:
        if m.until is not None:
            assert s.due <= m.until
        if m.first_due is not None:
            assert s.due >= m.first_due
        if m.first_period is not None:
            assert _period_start(s, m) >= m.first_period
        if m.recurrence is Recurrence.PER_COHORT:
            assert int(s.period) in cohorts
        else:
            # The period (reported month, quarter, year; a dated cycle's day) starts by the end.
            assert _period_start(s, m).year <= end.year
            if m.recurrence in (Recurrence.MONTHLY, Recurrence.QUARTERLY) or m.due_rule:
                assert _period_start(s, m) <= end
        if m.due_rule is not None and m.due_rule.working:
            assert is_working_day(s.due), s


@settings(max_examples=200, deadline=None)
@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)),
    st.integers(1, 120),
)
def test_working_day_rules_land_on_working_days(last: date, days: int) -> None:
    due = rule_due(DueRule(days_after=days, working=True), period_last=last)
    assert is_working_day(due)
    assert due > last
    working = sum(is_working_day(last + timedelta(i)) for i in range(1, (due - last).days + 1))
    assert working == days


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("recurrence", "needle", "field", "message"),
    [
        (
            '{kind: once, first_due: "2021-03-01", due: {day_of_next_month: 10}}',
            "{day_of_next_month",
            "due",
            "правило срока due задаётся для monthly, quarterly и annual, а не для «once»",
        ),
        (
            '{kind: quarterly, first_due: "2022-01-01", due: {day_of_next_month: 10}}',
            '"2022-01-01"',
            "first_due",
            "с правилом срока due первый срок не задаётся: укажите first_period — первый "
            "отчётный период, например 2022-Q1 (квартал)",
        ),
        (
            "{kind: annual, due: {day_of_next_month: 10}}",
            "{kind: annual",
            "first_period",
            "для правила срока due нужен первый отчётный период first_period, например 2022 (год)",
        ),
        (
            '{kind: monthly, first_period: "2022-Q1", due: {day_of_next_month: 10}}',
            '"2022-Q1"',
            "first_period",
            "«2022-Q1» — не отчётный период вида «monthly»: пишите 2022-01 (месяц)",
        ),
        (
            '{kind: monthly, first_period: "2024-01", due: {day_of_next_month: 10}}',
            '"2024-01"',
            "first_period",
            "первый отчётный период 2024-01 начинается после окончания программы 31.12.2023",
        ),
        (
            '{kind: monthly, first_period: "2022-01", due: {day_of_next_month: 10, '
            "after_period: {days: 5}}}",
            "{day_of_next_month",
            "due",
            "укажите одно из двух: after_period (через N дней после окончания периода) или "
            "day_of_next_month (N-е число следующего месяца)",
        ),
        (
            '{kind: monthly, first_period: "2022-01", due: {day_of_next_month: 32}}',
            "32",
            "due.day_of_next_month",
            "число месяца должно быть от 1 до 31, указано 32",
        ),
        (
            '{kind: monthly, first_period: "2022-01", due: {after_period: {days: 121}}}',
            "121",
            "due.after_period.days",
            "не больше 120 дней после окончания периода, указано 121",
        ),
        (
            '{kind: monthly, first_due: "2022-01-05", first_period: "2022-01"}',
            '"2022-01"}',
            "first_period",
            "first_period задаётся только вместе с правилом срока due",
        ),
        (
            '{kind: dates_yearly, first_due: "2021-06-15"}',
            "{kind: dates_yearly",
            "dates",
            'для вида «dates_yearly» нужен список сроков в году dates, например ["15.06", "15.12"]',
        ),
        (
            '{kind: dates_yearly, first_due: "2021-06-16", dates: ["15.06", "15.12"]}',
            '"2021-06-16"',
            "first_due",
            "первый срок 16.06.2021 не из сроков dates (15.06, 15.12): первый цикл — один из них",
        ),
        (
            '{kind: dates_yearly, first_due: "2021-06-15", dates: ["15.06", "15.06"]}',
            '"15.06"]',
            "dates[1]",
            "дата 15.06 указана дважды",
        ),
        (
            '{kind: annual, first_due: "2021-03-01", dates: ["15.06"]}',
            '["15.06"]',
            "dates",
            "dates задаётся только для вида «dates_yearly»",
        ),
        (
            '{kind: once, first_due: "2021-03-01", until: "2022-01-01"}',
            '"2022-01-01"',
            "until",
            "until задаётся только для повторяющихся мероприятий, а не для «once»",
        ),
        (
            '{kind: annual, first_due: "2021-03-01", until: "2024-04-01"}',
            '"2024-04-01"',
            "until",
            "until 01.04.2024 позже закрытия дорожной карты 30.03.2024 (окончание программы + "
            "grace_days): после него сроков не бывает",
        ),
        (
            '{kind: annual, first_due: "2021-03-01", until: "2021-02-01"}',
            '"2021-02-01"',
            "until",
            "until 01.02.2021 раньше первого срока 01.03.2021: у мероприятия не было бы ни "
            "одного цикла",
        ),
        (
            "{kind: per_cohort, year: cohort-1}",
            "{kind: per_cohort",
            "day",
            'для вида «per_cohort» нужен день срока day (ДД.ММ), например "01.12"',
        ),
        (
            '{kind: per_cohort, day: "01.12", year: cohort-1}',
            "cohort-1",
            "year",
            "срок 01.12.2020 (cohort-1 для набора 2021 года) раньше начала программы "
            "01.01.2021: укажите в cohorts первый набор позже или другой год",
        ),
        (
            '{kind: per_cohort, day: "01.12", year: cohort-7}',
            "cohort-7",
            "year",
            "сдвиг от года набора должен быть от 1 до 5: «cohort-7»",
        ),
        (
            '{kind: per_cohort, day: "01.12", year: kohort}',
            "kohort",
            "year",
            "«kohort» — не год относительно года набора: пишите cohort, cohort-1 или cohort+1",
        ),
        (
            '{kind: per_cohort, first_due: "2021-12-01", day: "01.12"}',
            '"2021-12-01"',
            "first_due",
            "для вида «per_cohort» first_due не задаётся: срок задают day и year",
        ),
        (
            '{kind: annual, first_due: "2021-03-01", year: cohort-1}',
            "cohort-1",
            "year",
            "year задаётся только для вида «per_cohort»",
        ),
    ],
)
def test_each_refusal_names_line_column_and_field(
    recurrence: str, needle: str, field: str, message: str
) -> None:
    text = roadmap_text(recurrence)
    line, column = at(text, needle)
    assert refused(text) == Problem(
        file="r.yaml",
        line=line,
        column=column,
        field=f"measures[2].recurrence.{field}" if field else "measures[2].recurrence",
        message=message,
    )


def test_until_is_bounded_by_the_files_own_grace() -> None:
    text = roadmap_text('{kind: annual, first_due: "2021-03-01", until: "2024-01-15"}') + (
        "closing: {grace_days: 10}\n"
    )
    line, column = at(text, '"2024-01-15"')
    problem = refused(text)
    assert (problem.line, problem.column, problem.field) == (
        line,
        column,
        "measures[2].recurrence.until",
    )
    assert "позже закрытия дорожной карты 10.01.2024" in problem.message


def test_a_stage_year_before_the_program_is_refused() -> None:
    text = roadmap_text('{kind: once, first_due: "2021-05-01"}').replace(
        '{stage: equipped, measure: 3, due: "25.08"}',
        '{stage: equipped, measure: 3, due: "25.08", year: cohort-1}',
    )
    line, column = at(text, "cohort-1")
    assert refused(text) == Problem(
        file="r.yaml",
        line=line,
        column=column,
        field="stages[1].year",
        message="срок 25.08.2020 (cohort-1 для набора 2021 года) раньше начала программы "
        "01.01.2021: укажите в cohorts первый набор позже или другой год",
    )


def test_a_stage_year_without_its_day_is_refused() -> None:
    text = roadmap_text('{kind: once, first_due: "2021-05-01"}').replace(
        "{stage: infrastructure_agreed, measure: 1}",
        "{stage: infrastructure_agreed, measure: 1, year: cohort-1}",
    )
    line, column = at(text, "cohort-1")
    problem = refused(text)
    assert (problem.line, problem.column, problem.field, problem.message) == (
        line,
        column,
        "stages[0].year",
        "год срока year задаётся только вместе со сроком due",
    )


def test_cohorts_outside_the_program_are_refused() -> None:
    text = roadmap_text('{kind: once, first_due: "2021-05-01"}').replace(
        "timezone: Europe/Moscow\n", "timezone: Europe/Moscow\ncohorts: {first: 2022, last: 2025}\n"
    )
    line, column = at(text, "2025")
    assert refused(text) == Problem(
        file="r.yaml",
        line=line,
        column=column,
        field="cohorts.last",
        message="год набора 2025 вне периода программы 2021–2023",
    )


# ------------------------------------------------------------------- warnings


def _with_stage(stage: str) -> str:
    return roadmap_text('{kind: once, first_due: "2021-05-01"}').replace(
        "  - {stage: infrastructure_agreed, measure: 1}\n", stage
    )


def test_warning_quarterly_first_due_not_a_reporting_day() -> None:
    roadmap = parse_roadmap(
        roadmap_text('{kind: once, first_due: "2021-05-01"}').replace(
            '{kind: quarterly, first_due: "2021-10-01"}',
            '{kind: quarterly, first_due: "2021-10-15"}',
        ),
        filename="r.yaml",
    )
    assert suspicious(roadmap) == [
        "Мероприятие № 2: первый срок ежеквартального отчёта 15.10.2021 — не день отчёта за "
        "квартал (01.01, 01.04, 01.07, 01.10). Проверьте first_due; срок «в течение N дней "
        "после окончания квартала» задаётся правилом due: {after_period: {days: N}}.",
        # …and the reporting stage from 01.10 now meets none of its report dates.
        "Этап «отчитывается» со сроком 01.10 не совпадает ни с одним сроком отчётов "
        "мероприятия № 2 (15.01, 15.04, 15.07, 15.10): проверьте due этапа или сроки "
        "мероприятия.",
    ]


def test_warning_by_schedule_stage_with_its_own_due() -> None:
    roadmap = parse_roadmap(
        _with_stage('  - {stage: infrastructure_agreed, measure: 1, due: "01.06"}\n'),
        filename="r.yaml",
    )
    assert suspicious(roadmap) == [
        "Этап «инфраструктурный лист согласован» связан с мероприятием № 1, которое "
        "выполняется по отдельному графику, но у этапа свой срок 01.06: срок этапа берётся "
        "из файла, а не из графика мероприятия. Уберите due у этапа, если срок должен идти "
        "по графику."
    ]


def test_warning_reporting_stage_disagreeing_with_its_measure() -> None:
    text = roadmap_text('{kind: once, first_due: "2021-05-01"}').replace(
        '{stage: reporting, measure: 2, due: "01.10", starts: true}',
        '{stage: reporting, measure: 2, due: "15.09", starts: true}',
    )
    (warning,) = suspicious(parse_roadmap(text, filename="r.yaml"))
    assert warning.startswith("Этап «отчитывается» со сроком 15.09 не совпадает")


@pytest.mark.parametrize("command", [("roadmap", "validate"), ("init", "--roadmap")])
def test_roadmap_validate_and_init_print_the_warnings(
    tmp_path: Path, command: tuple[str, str]
) -> None:
    text = roadmap_text('{kind: once, first_due: "2021-05-01"}').replace(
        '{kind: quarterly, first_due: "2021-10-01"}', '{kind: quarterly, first_due: "2021-10-15"}'
    )
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env |= {"TOCHKA_VAR_DIR": str(tmp_path / "var"), "COLUMNS": "200"}
    done = subprocess.run(
        [TOCHKA, *command, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert "Предупреждение: Мероприятие № 2: первый срок ежеквартального отчёта 15.10.2021" in said
    assert "Предупреждение: Этап «отчитывается»" in said


# ----------------------------------------------------------------- JSON Schema


def test_every_new_key_is_in_the_json_schema_and_validates_there() -> None:
    import jsonschema
    import yaml

    from workflow.roadmap.schema import json_schema

    schema = json_schema()
    defs = schema["$defs"]
    assert {"first_period", "due", "dates", "day", "year", "until"} <= set(
        defs["RecurrenceEntry"]["properties"]
    )
    assert set(defs["DueRuleEntry"]["properties"]) == {"after_period", "day_of_next_month"}
    assert set(defs["AfterPeriodEntry"]["properties"]) == {"days", "working"}
    assert "year" in defs["StageEntry"]["properties"]
    assert "cohorts" in schema["properties"]
    validator = jsonschema.Draft202012Validator(schema)
    for recurrence in (
        '{kind: monthly, first_due: "2022-02-05", until: "2023-06-30"}',
        '{kind: quarterly, first_period: "2022-Q1", due: {after_period: {days: 5, working: true}}}',
        "{kind: annual, first_period: 2021, due: {day_of_next_month: 20}}",
        '{kind: dates_yearly, first_due: "2021-12-15", dates: ["15.06", "15.12"]}',
        '{kind: per_cohort, day: "01.12", year: cohort-1}',
    ):
        text = roadmap_text(recurrence).replace(
            "timezone: Europe/Moscow\n",
            "timezone: Europe/Moscow\ncohorts: {first: 2022, last: 2023}\n",
        )
        parse_roadmap(text, filename="r.yaml")  # valid for the loader…
        assert list(validator.iter_errors(yaml.safe_load(text))) == []  # …and the editor
    bad = yaml.safe_load(roadmap_text('{kind: per_cohort, day: "01.12", year: "cohort-x"}'))
    assert [e.validator for e in validator.iter_errors(bad)] == ["pattern"]
