"""Relative deadlines (issue 14, item 1): ``recurrence: {kind: after, after: {...}}``.

A measure due N calendar or working days after another measure's cycle is done (one
dependent cycle per done source cycle, labelled with its period) or a center reaches a
stage (one per center, labelled with its code). The pure plan
(`workflow.roadmap.relative`) with hand-computed dates; the file's refusals (an unknown
measure or stage, the measure itself, a cycle A after B after A) with file, line, column
and field; and the shipped roadmap with a measure «в течение 10 дней после заключения
соглашения» walked through the real CLI: completing measure 4 creates the dependent due
10 days later, reminded on its ladder; a cancelled source has none; a center reverted
below its stage has its open dependent cancelled, and a new one on its next arrival.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from typer.testing import Result

from workflow.errors import RoadmapFileError
from workflow.roadmap.definition import Measure, Recurrence, RelativeDeadline
from workflow.roadmap.loader import parse_roadmap
from workflow.roadmap.recurrence import CycleSpec
from workflow.roadmap.relative import Completion, measure_plan, relative_due
from workflow.roadmap.schema import json_schema
from workflow.roadmap.schema_relative import relative_text
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.workdays import is_working_day

SHIPPED_TEXT = IVANOVO_159_RP.read_text(encoding="utf-8")
REAL_NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

Cli = Callable[..., Result]


def measure(rule: RelativeDeadline, number: int = 20) -> Measure:
    return Measure(
        number=number,
        title="Отчёт",
        responsible=("department",),
        responsible_text="",
        result="",
        evidence=(),
        deadline_text="",
        recurrence=Recurrence.AFTER,
        first_due=None,
        after=rule,
    )


AFTER_4 = RelativeDeadline(measure=4, days=10)
AFTER_4_WORKING = RelativeDeadline(measure=4, days=5, working=True)
AFTER_EQUIPPED = RelativeDeadline(stage="equipped", days=5, working=True)


# ------------------------------------------------------------ the dates, by hand


@pytest.mark.parametrize(
    ("rule", "on", "due"),
    [
        # 10 calendar days across the New Year: 25.12.2021 + 10 = 04.01.2022.
        (AFTER_4, date(2021, 12, 25), date(2022, 1, 4)),
        # 5 working days after 28.12.2021: 29.12, 30.12 (31.12.2021 and 1–9.01.2022 are
        # off), 10.01, 11.01, 12.01.
        (AFTER_4_WORKING, date(2021, 12, 28), date(2022, 1, 12)),
        # 10 working days after 25.12.2020: 28–31.12 (31.12.2020 was a working day), the
        # holidays 1–10.01.2021, then 11–15.01 and 18.01.
        (RelativeDeadline(measure=4, days=10, working=True), date(2020, 12, 25), date(2021, 1, 18)),
        # The March holidays of 2022: Saturday 05.03 is a working day (moved), 07.03 and
        # 08.03 are off: 1 working day after 04.03 is 05.03; 2 are 09.03.
        (RelativeDeadline(measure=4, days=1, working=True), date(2022, 3, 4), date(2022, 3, 5)),
        (RelativeDeadline(measure=4, days=2, working=True), date(2022, 3, 4), date(2022, 3, 9)),
    ],
)
def test_the_due_date_counts_calendar_or_working_days(
    rule: RelativeDeadline, on: date, due: date
) -> None:
    assert relative_due(rule, on) == due
    if rule.working:
        assert is_working_day(due)


# ------------------------------------------------------------ the plan


def test_one_dependent_per_done_source_cycle_labelled_with_its_period() -> None:
    plan = measure_plan(
        measure(AFTER_4),
        [
            Completion(label="2020", count=1, on=date(2020, 12, 28), done=True),
            Completion(label="2021-03-01", count=0, on=None, done=False),  # still open
        ],
        {},
    )
    assert plan.create == [CycleSpec(measure=20, period="2020", due=date(2021, 1, 7))]
    assert plan.cancel == []


def test_the_plan_is_idempotent_an_existing_dependent_is_not_created_again() -> None:
    done = [Completion(label="2020", count=1, on=date(2020, 12, 28), done=True)]
    assert measure_plan(measure(AFTER_4), done, {"2020": True}).create == []
    # Done, or cancelled by an operator while its source stays done: not re-created.
    assert measure_plan(measure(AFTER_4), done, {"2020": False}).create == []


def test_a_source_no_longer_done_cancels_its_open_dependent_a_done_one_stays() -> None:
    undone = [Completion(label="C01", count=1, on=date(2022, 8, 1), done=False)]
    plan = measure_plan(measure(AFTER_EQUIPPED), undone, {"C01": True})
    assert plan.create == []
    assert [(c.period, c.reason) for c in plan.cancel] == [
        ("C01", "центр C01 (этап «оснащён»): источник больше не выполнен")
    ]
    assert measure_plan(measure(AFTER_EQUIPPED), undone, {"C01": False}).cancel == []


def test_done_again_a_new_dependent_is_due_from_the_new_completion() -> None:
    again = [Completion(label="C01", count=2, on=date(2022, 8, 29), done=True)]
    plan = measure_plan(measure(AFTER_EQUIPPED), again, {"C01": False})
    # The 5th working day after Monday 29.08.2022 is Monday 05.09.2022.
    assert plan.create == [CycleSpec(measure=20, period="C01#2", due=date(2022, 9, 5))]
    # Had the first dependent stayed open (no tick in between), it is cancelled now.
    plan = measure_plan(measure(AFTER_EQUIPPED), again, {"C01": True})
    assert [c.period for c in plan.cancel] == ["C01"]
    assert "выполнен снова" in plan.cancel[0].reason


def test_relative_text_as_roadmap_show_says_it() -> None:
    assert relative_text(AFTER_4) == "через 10 дней после выполнения мероприятия № 4"
    assert relative_text(AFTER_4_WORKING) == "через 5 рабочих дней после выполнения мероприятия № 4"
    assert relative_text(RelativeDeadline(measure=4, days=1)).startswith("через 1 день после")
    assert (
        relative_text(AFTER_EQUIPPED)
        == "через 5 рабочих дней после этапа центра «оснащён» (для каждого центра)"
    )


# ------------------------------------------------------------ the file

REPORT_MEASURE = """  - number: {number}
    title: "Представление отчёта о заключении соглашения"
    responsible: [department]
    responsible_text: "Департамент образования Ивановской области"
    result: "отчёт о заключении соглашения"
    evidence: [subsidy_agreement]
    deadline_text: "в течение 10 дней после заключения соглашения"
    recurrence: {{kind: after, after: {after}}}
"""


def with_measures(*blocks: str) -> str:
    """The shipped text with measures added at the end of the list."""
    assert SHIPPED_TEXT.count("\nstages:\n") == 1
    return SHIPPED_TEXT.replace("\nstages:\n", "\n" + "\n".join(blocks) + "\nstages:\n")


def report(number: int = 20, after: str = "{measure: 4, days: 10}") -> str:
    return REPORT_MEASURE.format(number=number, after=after)


def problems(text: str) -> list[tuple[int | None, int | None, str]]:
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml", now=REAL_NOW)
    return [(p.line, p.column, f"{p.field}: {p.message}") for p in caught.value.problems]


def position(text: str, needle: str) -> tuple[int, int]:
    """Line and column (1-based) of the first ``needle``."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(needle)


def test_the_file_takes_a_relative_deadline_and_the_schema_lists_it() -> None:
    roadmap = parse_roadmap(with_measures(report()), filename="r.yaml", now=REAL_NOW)
    m = roadmap.measure(20)
    assert m.recurrence is Recurrence.AFTER
    assert m.after == RelativeDeadline(measure=4, days=10, working=False)
    stage = parse_roadmap(
        with_measures(report(after="{stage: equipped, days: 5, working: true}")),
        filename="r.yaml",
        now=REAL_NOW,
    ).measure(20)
    assert stage.after == AFTER_EQUIPPED
    schema = json_schema()["$defs"]
    assert "after" in schema["RecurrenceEntry"]["properties"]
    assert "after" in schema["RecurrenceEntry"]["properties"]["kind"].get("enum", []) or any(
        "after" in d.get("enum", []) for d in schema.values()
    )
    assert set(schema["RelativeEntry"]["properties"]) == {"measure", "stage", "days", "working"}


def test_a_relative_deadline_on_itself_is_refused_at_its_field() -> None:
    text = with_measures(report(after="{measure: 20, days: 10}"))
    line, column = position(text, "measure: 20, days")
    assert problems(text) == [
        (
            line,
            column + len("measure: "),
            "measures[9].recurrence.after.measure: мероприятие № 20 не может отсчитывать "
            "срок от самого себя",
        )
    ]


def test_a_relative_deadline_on_an_unknown_measure_is_refused_at_its_field() -> None:
    text = with_measures(report(after="{measure: 99, days: 10}"))
    line, column = position(text, "measure: 99")
    assert problems(text) == [
        (
            line,
            column + len("measure: "),
            "measures[9].recurrence.after.measure: мероприятия № 99 нет в measures",
        )
    ]


def test_a_relative_deadline_on_an_unknown_stage_is_refused_at_its_field() -> None:
    text = with_measures(report(after="{stage: painted, days: 10}"))
    line, column = position(text, "stage: painted")
    ((at_line, at_column, message),) = problems(text)
    assert (at_line, at_column) == (line, column + len("stage: "))
    assert message.startswith("measures[9].recurrence.after.stage: неизвестный этап «painted»")


def test_a_cycle_of_relative_deadlines_is_refused_at_the_first_of_them() -> None:
    # 20 after 21 after 20: neither would ever be due.
    text = with_measures(
        report(20, "{measure: 21, days: 10}"), report(21, "{measure: 20, days: 5}")
    )
    line, column = position(text, "measure: 21, days")
    assert problems(text) == [
        (
            line,
            column + len("measure: "),
            "measures[9].recurrence.after.measure: сроки мероприятий отсчитываются по кругу "
            "(№ 20 после № 21 после № 20): ни один из них не наступит; отсчитывайте срок "
            "хотя бы одного от другого события",
        )
    ]
    # A chain that ends (21 after 20 after 4) is fine.
    chain = with_measures(report(20), report(21, "{measure: 20, days: 5}"))
    assert parse_roadmap(chain, filename="r.yaml", now=REAL_NOW).measure(21).after == (
        RelativeDeadline(measure=20, days=5)
    )


def test_after_needs_its_event_and_takes_one_source() -> None:
    text = with_measures(report(after="{measure: 4, stage: equipped, days: 10}"))
    ((_, _, both),) = problems(text)
    assert both.startswith("measures[9].recurrence.after: укажите одно из двух: measure")
    bare = with_measures(
        report().replace("{kind: after, after: {measure: 4, days: 10}}", "{kind: after}")
    )
    ((_, _, missing),) = problems(bare)
    assert missing.startswith("measures[9].recurrence.after: для вида «after» нужно событие")
