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

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
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
from workflow.storage.tables import CYCLE, EVENT, SENT

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
    undone = [Completion(label="центр C01", count=1, on=date(2022, 8, 1), done=False)]
    plan = measure_plan(measure(AFTER_EQUIPPED), undone, {"центр C01": True})
    assert plan.create == []
    assert [(c.period, c.reason) for c in plan.cancel] == [
        ("центр C01", "центр C01 (этап «оснащён»): источник больше не выполнен")
    ]
    assert measure_plan(measure(AFTER_EQUIPPED), undone, {"центр C01": False}).cancel == []


def test_done_again_a_new_dependent_is_due_from_the_new_completion() -> None:
    again = [Completion(label="центр C01", count=2, on=date(2022, 8, 29), done=True)]
    plan = measure_plan(measure(AFTER_EQUIPPED), again, {"центр C01": False})
    # The 5th working day after Monday 29.08.2022 is Monday 05.09.2022.
    assert plan.create == [CycleSpec(measure=20, period="центр C01#2", due=date(2022, 9, 5))]
    # Had the first dependent stayed open (no tick in between), it is cancelled now.
    plan = measure_plan(measure(AFTER_EQUIPPED), again, {"центр C01": True})
    assert [c.period for c in plan.cancel] == ["центр C01"]
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
    assert "after" in schema["Recurrence"]["enum"]
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


# ------------------------------------------------------------ through the CLI

STAGE_MEASURE = """  - number: 21
    title: "Направление фотоотчёта об оснащении центра"
    responsible: [department]
    responsible_text: "Департамент образования Ивановской области"
    result: "фотоотчёт"
    evidence: [subsidy_agreement]
    deadline_text: "в течение 5 рабочих дней после оснащения центра"
    recurrence: {kind: after, after: {stage: equipped, days: 5, working: true}}
"""
CENTERS = (
    "Код;Наименование;Муниципальное образование;Год создания;Email\n"
    "A1;МБОУ «Школа № 1»;Шуйский район;2021;a1@school.ru\n"
)
AGREEMENT = "subsidy_agreement=соглашение № 073-09-2021-123 от 28.12.2020"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def cycles_of(cli: Cli, measure: int) -> list[tuple[str, str, str]]:
    listed = json.loads(ok(cli("--json", "cycles", "list")).output)
    return [(c["period"], c["due_date"], c["state"]) for c in listed if c["measure"] == measure]


def cycle_id(cli: Cli, measure: int, period: str) -> str:
    listed = json.loads(ok(cli("--json", "cycles", "list")).output)
    return next(str(c["id"]) for c in listed if (c["measure"], c["period"]) == (measure, period))


def rungs(engine: Engine, measure: int) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(SENT.c.rung, SENT.c.send_on, CYCLE.c.period)
            .join(CYCLE, sa.and_(SENT.c.kind == "cycle", SENT.c.entity_id == CYCLE.c.id))
            .where(CYCLE.c.measure == measure)
            .order_by(SENT.c.send_on, SENT.c.id)
        ).all()
    return [(r.period, r.rung, r.send_on.isoformat()) for r in rows]


@pytest.fixture
def relative_file(tmp_path: Path) -> Path:
    path = tmp_path / "relative.yaml"
    path.write_text(with_measures(report(), STAGE_MEASURE), encoding="utf-8")
    return path


def test_completing_the_agreement_creates_the_report_due_10_days_later_on_its_ladder(
    cli: Cli, engine: Engine, relative_file: Path, tmp_path: Path
) -> None:
    ok(cli("--now", "2020-12-20", "init", "--roadmap", str(relative_file)))
    shown = ok(cli("roadmap", "show")).output
    assert "через 10 дней после выполнения мероприятия № 4" in shown
    listed = json.loads(ok(cli("--json", "roadmap", "show")).output)["measures"]
    assert [m["after"] for m in listed if m["number"] in (20, 21)] == [
        {"measure": 4, "stage": None, "days": 10, "working": False},
        {"measure": None, "stage": "equipped", "days": 5, "working": True},
    ]
    ok(cli("--now", "2020-12-20", "tick"))
    assert cycles_of(cli, 20) == []  # measure 4 not done yet: nothing to count from
    four = cycle_id(cli, 4, "2020")
    ok(cli("--now", "2020-12-28", "cycles", "fire", four, "start"))
    ok(cli("--now", "2020-12-28", "cycles", "fire", four, "complete", "--evidence", AGREEMENT))
    ok(cli("--now", "2020-12-28", "tick"))
    # Done on 28.12.2020: the report is due 07.01.2021, labelled with measure 4's period.
    assert cycles_of(cli, 20) == [("2020", "2021-01-07", "scheduled")]
    ok(cli("--now", "2020-12-28", "tick"))  # idempotent
    assert cycles_of(cli, 20) == [("2020", "2021-01-07", "scheduled")]
    # Its ladder as for any cycle: the 14-day rung on the day it came to be, the 3-day
    # and the day's rungs (04.01 and 07.01 are holidays) on the last working day before,
    # 31.12.2020; overdue once the term has ended (11.01, the first working day).
    preview = json.loads(
        ok(
            cli("--json", "--now", "2020-12-28", "reminders", "preview", "--until", "25.01.2021")
        ).output
    )
    planned = [
        (p["send_on"], p["rung"]) for p in preview if p["subject"].startswith("Мероприятие № 20")
    ]
    assert planned == [
        ("2020-12-31", "on_day"),
        ("2021-01-18", "overdue-7"),
        ("2021-01-25", "overdue-14"),
    ]
    for day in ("2020-12-31", "2021-01-11", "2021-01-18"):
        ok(cli("--now", day, "tick"))
    assert rungs(engine, 20) == [
        ("2020", "before-14", "2020-12-28"),
        ("2020", "on_day", "2020-12-31"),
        ("2020", "overdue-7", "2021-01-18"),
    ]
    assert cycles_of(cli, 20) == [("2020", "2021-01-07", "overdue")]
    letters = json.loads(ok(cli("--json", "outbox", "list")).output)
    assert any("Сроки на 31.12.2020" in letter["subject"] for letter in letters)
    # A cycle of measure 4 cancelled while open was never done: no report for it.
    opened = json.loads(
        ok(
            cli("--json", "--now", "2021-01-18", "cycles", "open", "4", "--due", "15.02.2021")
        ).output
    )
    ok(
        cli(
            "--now",
            "2021-01-19",
            "cycles",
            "fire",
            str(opened["id"]),
            "cancel",
            "--comment",
            "не нужно",
        )
    )
    ok(cli("--now", "2021-01-19", "tick"))
    assert [p for p, _, _ in cycles_of(cli, 20)] == ["2020"]
    ok(cli("audit", "verify"))


def test_a_center_reverted_below_the_stage_cancels_its_open_dependent_and_a_new_one_follows(
    cli: Cli, engine: Engine, relative_file: Path, tmp_path: Path
) -> None:
    ok(cli("--now", "2021-01-11", "init", "--roadmap", str(relative_file)))
    centers = tmp_path / "c.csv"
    centers.write_text(CENTERS, encoding="utf-8")
    ok(cli("--now", "2021-01-11", "centers", "import", str(centers)))
    ok(cli("--now", "2021-03-15", "centers", "fire", "A1", "agree_infrastructure"))
    ok(cli("--now", "2021-07-20", "centers", "fire", "A1", "equip"))
    ok(cli("--now", "2021-07-20", "tick"))
    # Equipped on Tuesday 20.07.2021: the 5th working day after is Tuesday 27.07.
    assert cycles_of(cli, 21) == [("центр A1", "2021-07-27", "scheduled")]
    # Reminded as any cycle, its letters saying whose it is.
    preview = json.loads(
        ok(
            cli("--json", "--now", "2021-07-20", "reminders", "preview", "--until", "27.07.2021")
        ).output
    )
    assert [
        (p["send_on"], p["rung"], p["subject"])
        for p in preview
        if p["deadline_id"].startswith("cycle:") and "№ 21" in p["subject"]
    ] == [
        (
            "2021-07-23",
            "before-3",
            "Мероприятие № 21 (центр A1): Направление фотоотчёта об оснащении центра",
        ),
        (
            "2021-07-27",
            "on_day",
            "Мероприятие № 21 (центр A1): Направление фотоотчёта об оснащении центра",
        ),
    ]
    ok(
        cli(
            "--now",
            "2021-07-21",
            "centers",
            "fire",
            "A1",
            "revert",
            "--comment",
            "ошибочная отметка",
        )
    )
    ok(cli("--now", "2021-07-21", "tick"))
    assert cycles_of(cli, 21) == [("центр A1", "2021-07-27", "cancelled")]
    with engine.connect() as conn:
        comment = conn.execute(
            sa.select(EVENT.c.comment).where(
                EVENT.c.entity_key == "21/центр A1", EVENT.c.trigger == "cancel"
            )
        ).scalar_one()
    assert comment == (
        "срок отсчитывался от события, которого больше нет: центр A1 (этап «оснащён»): "
        "источник больше не выполнен"
    )
    # Equipped again on Monday 02.08: a new cycle due from that day, 09.08.
    ok(cli("--now", "2021-08-02", "centers", "fire", "A1", "equip"))
    ok(cli("--now", "2021-08-02", "tick"))
    assert cycles_of(cli, 21) == [
        ("центр A1", "2021-07-27", "cancelled"),
        ("центр A1#2", "2021-08-09", "scheduled"),
    ]
    # A done dependent stays done when its source is reverted.
    second = cycle_id(cli, 21, "центр A1#2")
    ok(cli("--now", "2021-08-03", "cycles", "fire", second, "start"))
    ok(
        cli(
            "--now",
            "2021-08-03",
            "cycles",
            "fire",
            second,
            "complete",
            "--evidence",
            "subsidy_agreement=фотоотчёт",
        )
    )
    ok(cli("--now", "2021-08-04", "centers", "fire", "A1", "revert", "--comment", "ещё раз"))
    ok(cli("--now", "2021-08-04", "tick"))
    assert cycles_of(cli, 21)[-1] == ("центр A1#2", "2021-08-09", "done")
    ok(cli("audit", "verify"))


def test_the_cli_refuses_a_circle_of_relative_deadlines_and_loads_nothing(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    bad = tmp_path / "circle.yaml"
    text = with_measures(
        report(20, "{measure: 21, days: 10}"), report(21, "{measure: 20, days: 5}")
    )
    bad.write_text(text, encoding="utf-8")
    result = cli("roadmap", "validate", str(bad))
    assert result.exit_code != 0
    line, column = position(text, "measure: 21, days")
    assert (
        f"{bad}, строка {line}, столбец {column + len('measure: ')}, поле "
        "«measures[9].recurrence.after.measure»: сроки мероприятий отсчитываются по кругу"
    ) in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_new_version_changing_the_relative_deadline_says_so_and_moves_no_cycle() -> None:
    from workflow.roadmap.amendment import ExistingCycle, compare

    old = parse_roadmap(with_measures(report()), filename="r.yaml", now=REAL_NOW)
    new = parse_roadmap(
        with_measures(report(after="{measure: 4, days: 15, working: true}")),
        filename="r.yaml",
        now=REAL_NOW,
    )
    created = ExistingCycle(
        id=7, measure=20, period="2020", due=date(2021, 1, 7), state="scheduled"
    )
    result = compare(old, new, [created])
    assert (
        "Мероприятие 20 изменено: срок после события «через 10 дней после выполнения "
        "мероприятия № 4» → «через 15 рабочих дней после выполнения мероприятия № 4» "
        "(для новых циклов)."
    ) in result.lines
    assert result.moves == []
    assert result.refusals == []


def test_a_re_created_cycle_reads_as_repeated_never_with_its_number() -> None:
    from notifications.ics import measure_name, period_text
    from workflow.schedule.asks import period_title

    assert [period_text(p) for p in ("центр N1", "центр N1#2", "центр N1#3", "2021#2")] == [
        "центр N1",
        "центр N1 (повторно)",
        "центр N1 (3-й раз)",
        "2021 г. (повторно)",
    ]
    # Read in parentheses (a letter's subject) or after «период:»: no nested parentheses.
    assert [period_title(p) for p in ("центр N1", "центр N1#2", "2021-Q3#3")] == [
        "центр N1",
        "центр N1, повторно",
        "III квартал 2021 г., 3-й раз",
    ]
    assert measure_name(15, "центр N1#2") == "Мероприятие № 15 (центр N1, повторно)"


def test_a_cycle_is_named_by_the_kind_of_its_label() -> None:
    """«за» only for a reporting period; an item, a center, a date each in its own words."""
    from notifications.ics import measure_name

    assert [
        measure_name(n, p)
        for n, p in (
            (9, "2021-Q3"),
            (5, "2021"),
            (4, "2022-03"),
            (16, "2020/16.1"),
            (15, "центр N1"),
            (7, "2023-06-15"),
            (5, "2021#2"),
        )
    ] == [
        "Мероприятие № 9 за III квартал 2021 г.",
        "Мероприятие № 5 за 2021 г.",
        "Мероприятие № 4 за март 2022 г.",
        "Мероприятие № 16, пункт 16.1",
        "Мероприятие № 15 (центр N1)",
        "Мероприятие № 7 от 15.06.2023",
        "Мероприятие № 5 за 2021 г. (повторно)",
    ]


@settings(max_examples=300, deadline=None)
@given(
    on=st.dates(date(2020, 1, 1), date(2026, 12, 31)),
    days=st.integers(1, 60),
    working=st.booleans(),
    later=st.integers(0, 45),
)
def test_an_after_deadline_is_strictly_later_on_a_working_day_and_monotone(
    on: date, days: int, working: bool, later: int
) -> None:
    rule = RelativeDeadline(measure=4, days=days, working=working)
    due = relative_due(rule, on)
    assert due > on
    between = [on + timedelta(days=i) for i in range(1, (due - on).days + 1)]
    if working:
        assert is_working_day(due)
        # Exactly N working days after the completion, the last of them the due date.
        assert sum(is_working_day(d) for d in between) == days
    else:
        assert due == on + timedelta(days=days)
    # A later completion is never due earlier.
    assert relative_due(rule, on + timedelta(days=later)) >= due
