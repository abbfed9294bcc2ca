"""Loading and validating roadmap files: the shipped roadmap and every refusal.

Over 500 lines: one file per subject, so that every refusal of that subject and its
exact Russian message are found in one place.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from base.addresses import address_problem
from workflow.errors import Problem, RoadmapFileError
from workflow.roadmap.definition import (
    EvidenceKind,
    Party,
    PartyKind,
    Recurrence,
    ReminderPolicy,
    StageRule,
)
from workflow.roadmap.loader import load_roadmap, parse_roadmap
from workflow.roadmap.shipped import IVANOVO_159_RP

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = IVANOVO_159_RP
QUOTE = '"'
# A copy of ../shared/domain/ (the source of truth) so the test runs from any clone.
DECREE = ROOT / "tests" / "data" / "roadmap-decree-ivanovo-159-rp.txt"

# A small valid roadmap. Tests break one thing at a time; the line numbers in their
# expectations refer to this text (line 1 is "format: 1").
MINIMAL = """\
format: 1
code: test-roadmap
title: "Тестовая дорожная карта"
decree: "Распоряжение № 1"
region: "Тестовая область"
period: {start: "2021-01-01", end: "2023-12-31"}
timezone: Europe/Moscow
coordinator: department
parties:
  - {id: department, kind: department, name: "Департамент", email: "dep@example.org"}
  - {id: operator, kind: federal_operator, name: "Оператор", email: "op@example.org"}
evidence_kinds:
  - {id: order, name: "приказ"}
  - {id: letter, name: "письмо"}
measures:
  - number: 1
    title: "Первое"
    responsible: [department]
    responsible_text: "Департамент"
    result: "приказ"
    evidence: [order]
    deadline_text: "01.03.2021"
    recurrence: {kind: once, first_due: "2021-03-01"}
  - number: 2
    title: "Второе"
    responsible: [department, operator]
    responsible_text: "Департамент, оператор"
    result: "письмо"
    evidence: [letter, order]
    deadline_text: "согласно графику"
    recurrence: {kind: by_schedule}
stages:
  - {stage: infrastructure_agreed, measure: 2}
  - {stage: equipped, measure: 1, due: "25.08"}
"""


def edit(old: str, new: str, text: str = MINIMAL) -> str:
    """``text`` with the single occurrence of ``old`` replaced (fails if not single)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml")
    return list(caught.value.problems)


def where(problems: list[Problem]) -> list[tuple[int | None, int | None, str | None]]:
    return [(p.line, p.column, p.field) for p in problems]


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------- the shipped roadmap


@pytest.fixture(scope="module")
def decree_text() -> str:
    """The decree with the <p> tags stripped and all whitespace collapsed to one space."""
    text = DECREE.read_text(encoding="utf-8")
    return " ".join(re.sub(r"</?p>", " ", text).split())


def test_shipped_roadmap_header() -> None:
    roadmap = load_roadmap(SHIPPED)

    assert roadmap.code == "ivanovo-2021-2023"
    assert roadmap.decree == "Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп"
    assert roadmap.region == "Ивановская область"
    assert roadmap.period_start == date(2021, 1, 1)
    assert roadmap.period_end == date(2023, 12, 31)
    assert roadmap.program_years == range(2021, 2024)
    assert roadmap.timezone == "Europe/Moscow"
    assert roadmap.coordinator == "department"
    assert roadmap.parties == (
        Party(
            id="department",
            kind=PartyKind.DEPARTMENT,
            name="Департамент образования Ивановской области",
            email="coordinator@example.org",
        ),
        Party(
            id="federal_operator",
            kind=PartyKind.FEDERAL_OPERATOR,
            name="федеральный оператор",
            email="operator@example.org",
        ),
    )
    assert roadmap.reminders == ReminderPolicy(
        days_before=(14, 3), on_day=True, overdue_every_days=7, escalate_to="department"
    )
    data = SHIPPED.read_bytes()
    assert roadmap.content_hash == hashlib.sha256(data).hexdigest()
    assert roadmap.source == data.decode("utf-8")


def test_shipped_roadmap_measures_and_recurrences() -> None:
    roadmap = load_roadmap(SHIPPED)

    assert [(m.number, m.recurrence, m.first_due) for m in roadmap.measures] == [
        (1, Recurrence.ONCE, date(2020, 12, 7)),
        (2, Recurrence.ONCE, date(2020, 12, 23)),
        (3, Recurrence.BY_SCHEDULE, None),
        (4, Recurrence.ONCE_THEN_AS_NEEDED, date(2020, 12, 30)),
        (5, Recurrence.ANNUAL, date(2021, 3, 1)),
        (6, Recurrence.ANNUAL, date(2021, 8, 25)),
        (7, Recurrence.ANNUAL, date(2021, 8, 25)),
        (8, Recurrence.ANNUAL, date(2021, 9, 1)),
        (9, Recurrence.QUARTERLY, date(2021, 10, 1)),
    ]
    assert [(m.number, m.responsible, m.evidence) for m in roadmap.measures] == [
        (1, ("department",), ("government_decree",)),
        (2, ("department",), ("department_order",)),
        (3, ("department", "federal_operator"), ("operator_letter", "department_order")),
        (4, ("department",), ("subsidy_agreement",)),
        (5, ("department",), ("procurement_notices",)),
        (6, ("department", "federal_operator"), ("training_certificates", "retraining_report")),
        (7, ("department",), ("monitoring_report",)),
        (8, ("department",), ("media_coverage",)),
        (9, ("department",), ("indicators_report",)),
    ]
    assert [k.id for k in roadmap.evidence_kinds] == [
        "government_decree",
        "department_order",
        "operator_letter",
        "subsidy_agreement",
        "procurement_notices",
        "training_certificates",
        "retraining_report",
        "monitoring_report",
        "media_coverage",
        "indicators_report",
    ]
    assert roadmap.evidence_kind("operator_letter") == EvidenceKind(
        id="operator_letter", name="письмо федерального оператора", provided_by="federal_operator"
    )
    # The rest the coordinator sends, but the training certificates (the operator's).
    assert {k.id for k in roadmap.evidence_kinds if k.provided_by} == {
        "operator_letter",
        "training_certificates",
    }


def test_shipped_roadmap_texts_are_verbatim(decree_text: str) -> None:
    roadmap = load_roadmap(SHIPPED)

    assert roadmap.measure(1).title == (
        "Определение регионального координатора - органа исполнительной власти Ивановской "
        "области, ответственного за создание и функционирование центров «Точка роста» на "
        "территории Ивановской области, комплекса мер («дорожной карты») по созданию и "
        "функционированию центров «Точка роста»"
    )
    assert roadmap.measure(3).title == "Формирование и согласование инфраструктурного листа"
    assert roadmap.measure(3).result == (
        "письмо федерального оператора и приказ Департамента образования Ивановской области"
    )
    assert roadmap.measure(3).deadline_text == "согласно отдельному графику"
    assert roadmap.measure(6).result == (
        "удостоверения о повышении квалификации, отчет по программам переподготовки кадров"
    )
    assert roadmap.measure(9).deadline_text == "01.10.2021, далее ежеквартально"
    # Measure 2's cell is split over two table rows in the source: items 1) and 2)-4).
    title_2 = roadmap.measure(2).title
    assert title_2.startswith(
        "Утверждение: 1) должностного лица в составе регионального ведомственного "
        "проектного офиса, ответственного за создание и функционирование центров «Точка роста»; "
        "2) типового Положения о деятельности центров «Точка роста» на территории "
        "Ивановской области; 3) показателей деятельности центров «Точка роста»; 4) перечня "
    )
    assert title_2.endswith("на базе которых планируется создание центров «Точка роста»")
    # Measure 4's title is split before "бюджет»".
    assert roadmap.measure(4).title.endswith(
        "управления общественными финансами «Электронный бюджет»"
    )
    for measure in roadmap.measures:
        for text in (measure.result, measure.responsible_text, measure.deadline_text):
            assert text in decree_text, (measure.number, text)
        if measure.number == 2:
            first, rest = title_2.split(" 2) ", 1)
            assert first in decree_text
            assert "2) " + rest in decree_text
        elif measure.number == 4:
            head, tail = measure.title.rsplit(" ", 1)
            assert head in decree_text
            assert tail == "бюджет»"
        else:
            assert measure.title in decree_text, measure.number


def test_shipped_roadmap_stages() -> None:
    roadmap = load_roadmap(SHIPPED)

    assert [replace(s, documents=()) for s in roadmap.stages] == [
        StageRule(stage="infrastructure_agreed", measure=3, due_month=None, due_day=None),
        StageRule(stage="equipped", measure=7, due_month=8, due_day=25),
        StageRule(stage="staff_trained", measure=6, due_month=8, due_day=25),
        StageRule(stage="opened", measure=8, due_month=9, due_day=1),
        StageRule(stage="reporting", measure=9, due_month=10, due_day=1, starts=True),
    ]
    # What the school sends for each stage (its reminders list it); reporting: the
    # indicators, asked for by the monitoring letters.
    assert [len(s.documents) for s in roadmap.stages] == [1, 1, 1, 1, 0]


# ------------------------------------------------------------------ valid variants


def test_minimal_roadmap_loads_with_defaults() -> None:
    roadmap = parse_roadmap(MINIMAL, filename="r.yaml")

    assert roadmap.code == "test-roadmap"
    assert [m.number for m in roadmap.measures] == [1, 2]
    assert roadmap.measure(2).evidence == ("letter", "order")
    assert roadmap.measure(2).first_due is None
    assert roadmap.reminders == ReminderPolicy(escalate_to="department")
    assert roadmap.content_hash == hashlib.sha256(MINIMAL.encode("utf-8")).hexdigest()
    assert roadmap.source == MINIMAL


def test_default_escalation_goes_to_the_coordinator() -> None:
    text = edit("coordinator: department", "coordinator: operator")

    assert parse_roadmap(text, filename="r.yaml").reminders.escalate_to == "operator"


def test_reminders_are_read_and_sorted_earliest_first() -> None:
    text = MINIMAL + "reminders: {days_before: [1, 30, 7], on_day: false, escalate_to: operator}\n"

    assert parse_roadmap(text, filename="r.yaml").reminders == ReminderPolicy(
        days_before=(30, 7, 1), on_day=False, overdue_every_days=7, escalate_to="operator"
    )


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('"2021-03-01"', date(2021, 3, 1)),
        ("2021-03-01", date(2021, 3, 1)),
        ('"01.03.2021"', date(2021, 3, 1)),
        ("01.03.2021", date(2021, 3, 1)),
    ],
)
def test_dates_in_iso_or_russian_form(written: str, expected: date) -> None:
    text = edit('first_due: "2021-03-01"', f"first_due: {written}")

    assert parse_roadmap(text, filename="r.yaml").measure(1).first_due == expected


def test_indicators_are_validated() -> None:
    # Their format belongs to the indicators feature: see tests/test_indicators.py.
    text = (
        MINIMAL
        + 'indicators:\n  - {code: pupils, name: "Обучающиеся", unit: persons, period: quarter}\n'
    )

    assert [i.code for i in parse_roadmap(text, filename="r.yaml").indicators] == ["pupils"]
    with pytest.raises(RoadmapFileError):
        parse_roadmap(MINIMAL + "indicators:\n  - {anything: [goes, here]}\n", filename="r.yaml")


def test_a_bom_is_accepted_and_hashed_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    data = b"\xef\xbb\xbf" + MINIMAL.encode("utf-8")
    path.write_bytes(data)

    roadmap = load_roadmap(path)

    assert roadmap.content_hash == hashlib.sha256(data).hexdigest()
    assert roadmap.source == MINIMAL


# ------------------------------------------------------------------------ refusals


def test_yaml_syntax_error_has_its_position() -> None:
    text = edit('period: {start: "2021-01-01", end: "2023-12-31"}', 'period: {start: "2021-01-01"')

    problem = only_problem(text)

    # The flow mapping opened on line 6 is still open when line 7 starts a new key.
    assert (problem.line, problem.column, problem.field) == (7, 1, None)
    assert problem.message == "синтаксическая ошибка YAML: в словаре { } ожидается «,» или «}»"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code: a: b\n", "двоеточие здесь недопустимо"),
        ("code: x\n\t- y\n", "табуляция в отступе"),
        ('code: "abc\n', "не закрыта кавычка"),
        ("code: @x\n", "не может начинаться с символа «@»"),
        ("code: *nop\n", "ссылка *nop на неопределённую метку"),
        ("code: [1, 2\n", "список в [ ] не закрыт"),
    ],
)
def test_yaml_problems_are_said_in_russian(tmp_path: Path, text: str, message: str) -> None:
    """PyYAML's own words never reach a person: each problem has its Russian text."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RoadmapFileError) as caught:
        load_roadmap(path)
    (problem,) = caught.value.problems
    assert message in problem.message
    assert not re.search(r"[A-Za-z]{4,}", problem.message.replace("YAML", "")), problem.message
    assert problem.line is not None


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")

    with pytest.raises(RoadmapFileError) as caught:
        load_roadmap(path)

    assert caught.value.problems == (
        Problem(file=str(path), line=1, column=1, message="файл пуст: нет дорожной карты"),
    )


def test_comments_only_is_empty() -> None:
    assert only_problem("# nothing yet\n").message == "файл пуст: нет дорожной карты"


def test_file_not_in_utf8(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(MINIMAL.encode("cp1251"))

    with pytest.raises(RoadmapFileError) as caught:
        load_roadmap(path)

    # Line 3 is `title: "Тестовая...`; the first Cyrillic byte is its 9th character.
    assert caught.value.problems == (
        Problem(
            file=str(path),
            line=3,
            column=9,
            message="файл не в кодировке UTF-8: сохраните его в UTF-8",
        ),
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(RoadmapFileError) as caught:
        load_roadmap(path)

    assert caught.value.problems == (Problem(file=str(path), message="файл не найден"),)


def test_top_level_must_be_a_mapping() -> None:
    problem = only_problem("- format: 1\n")

    assert (problem.line, problem.column, problem.field) == (1, 1, None)
    assert problem.message == "ожидается словарь (ключ: значение), а не список"


def test_unknown_top_level_key() -> None:
    problem = only_problem(edit("timezone: Europe/Moscow\n", "timezone: Europe/Moscow\nzone: x\n"))

    assert (problem.line, problem.column, problem.field) == (8, 1, "zone")
    assert problem.message.startswith("неизвестный ключ «zone»; допустимы: format, code, title")


def test_unknown_nested_key() -> None:
    text = edit('result: "приказ"\n', 'result: "приказ"\n    note: "x"\n')

    problem = only_problem(text)

    assert (problem.line, problem.column, problem.field) == (21, 5, "measures[0].note")


def test_duplicate_key() -> None:
    problem = only_problem(edit("code: test-roadmap\n", "code: test-roadmap\ncode: other\n"))

    assert (problem.line, problem.column, problem.field) == (3, 1, "code")
    assert problem.message == "ключ «code» повторяется"


def test_missing_required_keys_are_all_reported() -> None:
    text = edit('region: "Тестовая область"\n', "")
    text = edit('    result: "приказ"\n', "", text)

    problems = problems_of(text)

    # A missing key is reported at the mapping that lacks it.
    assert where(problems) == [(1, 1, "region"), (15, 5, "measures[0].result")]
    assert problems[0].message == "нет обязательного ключа «region»"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("number: 1", 'number: "один"', (16, 13, "measures[0].number")),
        ("number: 1", "number: 0", (16, 13, "measures[0].number")),
        ('title: "Первое"', "title: 5", (17, 12, "measures[0].title")),
        ('title: "Первое"', "title:", (17, 11, "measures[0].title")),
        (
            "responsible: [department]",
            "responsible: department",
            (18, 18, "measures[0].responsible"),
        ),
        ("responsible: [department]", "responsible: []", (18, 18, "measures[0].responsible")),
        ("format: 1", "format: 2", (1, 9, "format")),
        ("code: test-roadmap", "code: Test_Roadmap", (2, 7, "code")),
        ('{start: "2021-01-01", end', '{start: "2021/01/01", end', (6, 17, "period.start")),
        ('due: "25.08"', 'due: "30.02"', (34, 40, "stages[1].due")),
        ('due: "25.08"', 'due: "2508"', (34, 40, "stages[1].due")),
        ('due: "25.08"}', 'due: "25.08", starts: 1}', (34, 57, "stages[1].starts")),
    ],
)
def test_wrong_values(old: str, new: str, expected: tuple[int, int, str]) -> None:
    problem = only_problem(edit(old, new))

    assert (problem.line, problem.column, problem.field) == expected


def test_wrong_type_messages() -> None:
    assert only_problem(edit('title: "Первое"', "title: 5")).message == (
        "ожидается строка, а не целое число; заключите значение в кавычки"
    )
    assert only_problem(edit("number: 1", "number: 0")).message == "число должно быть не меньше 1"
    assert only_problem(edit("code: test-roadmap", "code: Test_Roadmap")).message == (
        "недопустимый идентификатор «Test_Roadmap»: допустимы строчные латинские буквы, "
        "цифры и дефис"
    )
    # References to "order" are then unknown too; the first problem is the id itself.
    assert problems_of(edit("{id: order,", "{id: Order,"))[0].message == (
        "недопустимый идентификатор «Order»: допустимы строчные латинские буквы, цифры и «_», "
        "первая — буква"
    )
    assert only_problem(edit("format: 1", "format: 2")).message == (
        "версия формата 2 не поддерживается; поддерживается 1"
    )


def test_unknown_recurrence_kind_lists_the_allowed_ones() -> None:
    problem = only_problem(edit("{kind: once,", "{kind: weekly,"))

    assert problem == Problem(
        file="r.yaml",
        line=23,
        column=24,
        field="measures[0].recurrence.kind",
        message="неизвестный вид повторения «weekly»; допустимы: once, once_then_as_needed, "
        "annual, quarterly, monthly, dates_yearly, per_cohort, after, as_needed, by_schedule",
    )


@pytest.mark.parametrize("written", ["2021-02-30", '"2021-02-30"', '"30.02.2021"', "2021-13-01"])
def test_a_date_that_does_not_exist(written: str) -> None:
    problem = only_problem(edit('first_due: "2021-03-01"', f"first_due: {written}"))

    assert (problem.line, problem.column, problem.field) == (
        23,
        41,
        "measures[0].recurrence.first_due",
    )
    assert problem.message == f"даты {written.strip(QUOTE)} не существует"


@pytest.mark.parametrize("kind", ["once", "once_then_as_needed", "annual", "quarterly"])
def test_first_due_is_required(kind: str) -> None:
    problem = only_problem(edit("{kind: by_schedule}", f"{{kind: {kind}}}"))

    assert problem == Problem(
        file="r.yaml",
        line=31,
        column=17,
        field="measures[1].recurrence.first_due",
        message=f"для вида «{kind}» нужен первый срок first_due",
    )


@pytest.mark.parametrize("kind", ["as_needed", "by_schedule"])
def test_first_due_is_forbidden(kind: str) -> None:
    text = edit("{kind: once, first_due", f"{{kind: {kind}, first_due")
    # Stage "equipped" needs a dated measure; point it at a new schedule-less rule instead.
    text = edit('  - {stage: equipped, measure: 1, due: "25.08"}\n', "", text)

    problem = only_problem(text)

    assert (problem.line, problem.column, problem.field) == (
        23,
        37 + len(kind),
        "measures[0].recurrence.first_due",
    )
    assert problem.message == (f"для вида «{kind}» first_due не задаётся: сроки назначает оператор")


def test_first_due_after_the_program() -> None:
    problem = only_problem(edit('first_due: "2021-03-01"', 'first_due: "2024-01-01"'))

    assert (problem.line, problem.column, problem.field) == (
        23,
        41,
        "measures[0].recurrence.first_due",
    )
    assert problem.message == "первый срок 01.01.2024 позже окончания программы 31.12.2023"


def test_unknown_party_references() -> None:
    text = edit("coordinator: department", "coordinator: departament")
    text = edit("responsible: [department, operator]", "responsible: [department, fed]", text)
    text += "reminders: {escalate_to: nobody}\n"

    problems = problems_of(text)

    assert where(problems) == [
        (8, 14, "coordinator"),
        (26, 31, "measures[1].responsible[1]"),
        (35, 26, "reminders.escalate_to"),
    ]
    assert [p.message for p in problems] == [
        "участник «departament» не объявлен в parties",
        "участник «fed» не объявлен в parties",
        "участник «nobody» не объявлен в parties",
    ]


def test_undeclared_evidence() -> None:
    problem = only_problem(edit("evidence: [order]", "evidence: [order, photo]"))

    assert problem == Problem(
        file="r.yaml",
        line=21,
        column=23,
        field="measures[0].evidence[1]",
        message="вид документа «photo» не объявлен в evidence_kinds",
    )


def test_duplicate_measure_numbers_party_ids_and_evidence_ids() -> None:
    text = edit("  - number: 2\n", "  - number: 1\n")
    text = edit("{id: operator,", "{id: department,", text)
    text = edit("{id: letter,", "{id: order,", text)
    # With the second party gone, "operator" references are unknown too; keep them valid.
    text = text.replace("[department, operator]", "[department]")
    text = edit("evidence: [letter, order]", "evidence: [order]", text)
    text = edit(
        "stage: infrastructure_agreed, measure: 2", 'stage: opened, measure: 1, due: "01.09"', text
    )

    problems = problems_of(text)

    assert where(problems) == [
        (11, 10, "parties[1].id"),
        (14, 10, "evidence_kinds[1].id"),
        (24, 13, "measures[1].number"),
    ]
    assert [p.message for p in problems] == [
        "участник с идентификатором «department» уже объявлен",
        "вид подтверждающего документа с идентификатором «order» уже объявлен",
        "мероприятие № 1 уже есть",
    ]


def test_stage_problems() -> None:
    text = edit(
        '  - {stage: equipped, measure: 1, due: "25.08"}\n',
        '  - {stage: equiped, measure: 1, due: "25.08"}\n'
        '  - {stage: planned, measure: 1, due: "25.08"}\n'
        '  - {stage: opened, measure: 7, due: "01.09"}\n'
        "  - {stage: staff_trained, measure: 1}\n"
        "  - {stage: infrastructure_agreed, measure: 2}\n",
    )

    problems = problems_of(text)

    assert where(problems) == [
        (34, 13, "stages[1].stage"),
        (35, 13, "stages[2].stage"),
        (36, 30, "stages[3].measure"),
        (37, 5, "stages[4].due"),
        (38, 13, "stages[5].stage"),
    ]
    allowed = "infrastructure_agreed, equipped, staff_trained, opened, reporting"
    assert [p.message for p in problems] == [
        f"неизвестный этап «equiped»; допустимы: {allowed}",
        f"неизвестный этап «planned»; допустимы: {allowed}",
        "мероприятия № 7 нет в measures",
        "нужен срок due (ДД.ММ): у мероприятия № 1 нет отдельного графика",
        "этап «infrastructure_agreed» уже описан",
    ]


def test_invalid_time_zone() -> None:
    problem = only_problem(edit("timezone: Europe/Moscow", "timezone: Europe/Moskow"))

    assert problem == Problem(
        file="r.yaml",
        line=7,
        column=11,
        field="timezone",
        message="неизвестный часовой пояс «Europe/Moskow»; например, Europe/Moscow",
    )


def test_period_end_before_start() -> None:
    problem = only_problem(edit('end: "2023-12-31"', 'end: "31.12.2020"'))

    assert problem == Problem(
        file="r.yaml",
        line=6,
        column=36,
        field="period.end",
        message="окончание программы (31.12.2020) раньше её начала (01.01.2021)",
    )


@pytest.mark.parametrize(
    "email",
    [
        "dep",
        "dep@",
        "@example.org",
        "dep@localhost",
        "a@b@example.org",
        "de p@example.org",
        "dep@example.org, x@example.org",
        "dep@exa_mple.org",
        "dep@example.org\\r\\nBcc: x@y.org",
    ],
)
def test_invalid_email(email: str) -> None:
    problem = only_problem(edit('"dep@example.org"', f'"{email}"'))

    assert (problem.line, problem.column, problem.field) == (10, 68, "parties[0].email")
    # The words of the one address rule, which import and the sender apply too.
    assert problem.message == address_problem(email.replace("\\r\\n", "\r\n"))
    assert problem.message.endswith(
        "— не адрес электронной почты"
        if "\\r" not in email
        else "знак U+000D, U+000A — наберите адрес заново: с этим знаком письмо не дойдёт"
    )


def test_every_problem_is_reported_in_file_order() -> None:
    text = edit("timezone: Europe/Moscow", "timezone: Mars/Olympus")
    text = edit("{kind: by_schedule}", "{kind: sometimes}", text)
    text = edit('email: "op@example.org"', 'email: "op"', text)
    text = edit("code: test-roadmap", "code: test roadmap", text)

    problems = problems_of(text)

    assert where(problems) == [
        (2, 7, "code"),
        (7, 11, "timezone"),
        (11, 69, "parties[1].email"),
        (31, 24, "measures[1].recurrence.kind"),
    ]
    assert "найдено ошибок — 4" in str(RoadmapFileError(problems))


def test_a_control_character_is_refused_with_its_position() -> None:
    problem = only_problem(edit('title: "Тестовая', 'title: "Тест\x07овая'))

    assert (problem.line, problem.column, problem.field) == (3, 13, None)
    assert problem.message == "недопустимый символ U+0007 в файле"


def test_a_stored_source_is_composed_by_libyaml_into_the_same_roadmap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`parse_stored` composes with libyaml's parser (some 15 times faster) and gives the
    roadmap `parse_roadmap` gives; a source libyaml refuses is composed again by the
    pure-Python loader, whose problems are the ones a file's refusal names."""
    import yaml

    from workflow.roadmap import loader

    loaders: list[type] = []
    compose = yaml.compose

    def watched(stream: str, Loader: type) -> object:
        loaders.append(Loader)
        return compose(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "compose", watched)
    text = SHIPPED.read_text(encoding="utf-8")
    stored = loader.parse_stored(text, "ivanovo")
    assert loaders == [yaml.CSafeLoader]
    assert stored == parse_roadmap(text, filename="r.yaml")
    broken = text.replace("\nparties:", "\nparties: [", 1)
    loaders.clear()
    with pytest.raises(RoadmapFileError) as refused:
        loader.parse_stored(broken, "ivanovo")
    assert loaders == [yaml.CSafeLoader, yaml.SafeLoader]
    with pytest.raises(RoadmapFileError) as given:
        parse_roadmap(broken, filename="<дорожная карта «ivanovo» в базе>")
    assert refused.value.problems == given.value.problems
    assert "синтаксическая ошибка YAML" in refused.value.problems[0].message


def test_every_regions_roadmap_stays_parsed_across_the_daemons_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One database carries every region (85 roadmaps): the daemon resolves them in turn
    at each tick, and each is parsed once, not at every round (an LRU smaller than the
    round evicts each roadmap just before its next use)."""
    from workflow.roadmap import loader, store

    parsed: list[str] = []

    def parse(source: str, code: str) -> object:
        parsed.append(source)
        return object()

    monkeypatch.setattr(loader, "parse_stored", parse)
    store._parse_cached.cache_clear()
    try:
        for _round in range(3):
            for n in range(85):
                store._parse_cached(f"code: region-{n}", f"region-{n}")
    finally:
        store._parse_cached.cache_clear()
    assert len(parsed) == 85
