"""``tochka roadmap show`` shows what Tochka made of the file's deadlines, not only its texts
(issue 14): each measure's rule (recurrence, ``until``, the due rule after the period, the
days of ``dates_yearly``, the cohort-relative year), its due dates over the program, the
items' deadlines and footnotes, each stage's deadline relative to the cohort and its date
per cohort, the reminder ladder and the close; in Russian, at 80 columns, and in
``--json`` with the file's own keys.

Both shipped roadmaps; the example's rules are written out here by hand, and its cycles
are those `tests.test_example_roadmap` writes out from the decree's texts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from typer.testing import Result

from tests.test_example_roadmap import CYCLES, RELATIVE
from workflow.cli.roadmap_cmd import _print_roadmap
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.shipped import EXAMPLE_FEDERAL_TEMPLATE, IVANOVO_159_RP

Cli = Callable[..., Result]
SHIPPED = {"example": EXAMPLE_FEDERAL_TEMPLATE, "ivanovo": IVANOVO_159_RP}
WIDTH = 80

# What the example's measures' blocks say of their rules, line by line (piped: one line
# each), by measure number.
EXAMPLE_MEASURES: dict[int, list[str]] = {
    1: [
        "срок: 15.12.2021",
        "правило: однократно, срок 15.12.2021",
        "выполнено до загрузки: 15.12.2021 (распоряжение Правительства Примерной области от "
        "15.12.2021 (пример))",
    ],
    2: [
        "правило: для каждого набора центров (2023, 2024, 2025): 01.12 года, предшествующего "
        "году создания центров (год набора − 1)",
        "сроки: 01.12.2022, 01.12.2023, 01.12.2024",
    ],
    3: [
        "правило: для каждого набора центров (2023, 2024, 2025): 15.12 года, предшествующего "
        "году создания центров (год набора − 1)",
        "сроки: 15.12.2022, 15.12.2023, 15.12.2024",
    ],
    4: [
        "правило: ежегодно, 01.11, с 01.11.2022; сроки не позже 31.12.2024",
        "сроки: 01.11.2022, 01.11.2023, 01.11.2024",
    ],
    5: [
        "правило: однократно, срок 15.02.2022; далее по необходимости (циклы открывает tochka "
        "cycles open)",
        "сроки: 15.02.2022",
    ],
    6: ["правило: ежегодно, 01.03, с 01.03.2023", "сроки: 01.03.2023, 01.03.2024, 01.03.2025"],
    10: [
        "правило: ежемесячно, за каждый отчётный период, первый — январь 2022 г.; срок — 5-е "
        "число месяца, следующего за отчётным",
        "сроки: 05.02.2022, 05.03.2022, 05.04.2022, 05.05.2022, …, 05.01.2026 (всего 48)",
    ],
    11: [
        "правило: ежеквартально, за каждый отчётный период, первый — I квартал 2022 г.; срок — "
        "5-й рабочий день после окончания квартала (по производственному календарю РФ)",
        "сроки: 07.04.2022, 07.07.2022, 07.10.2022, 13.01.2023, …, 16.01.2026 (всего 16)",
    ],
    12: [
        "правило: ежеквартально, за каждый отчётный период, первый — I квартал 2022 г.; срок — "
        "10-е число месяца, следующего за отчётным кварталом",
        "сроки: 10.04.2022, 10.07.2022, 10.10.2022, 10.01.2023, …, 10.01.2026 (всего 16)",
    ],
    13: [
        "правило: ежегодно 15.06 и 15.12, с 15.06.2023",
        "сроки: 15.06.2023, 15.12.2023, 15.06.2024, 15.12.2024, 15.06.2025, 15.12.2025",
    ],
    14: ["правило: через 10 дней после выполнения мероприятия № 5"],
    15: [
        "правило: через 5 рабочих дней после этапа центра «инфраструктурный лист согласован» "
        "(для каждого центра)"
    ],
    16: [
        "правило: однократно, срок февраль 2022 г. (последний день месяца, 28.02.2022); по "
        "пунктам (3), у каждого свой цикл и срок",
        "срок в источнике: февраль 2022 года, 15 марта 2022* года",
        "16.1. должностного лица, ответственного за создание и функционирование центров "
        "«Точка роста»",
        "срок: февраль 2022 г.",
        "16.3. показателей деятельности центров «Точка роста»",
        "срок: 15 марта 2022** года (15.03.2022)",
        "** показатели согласуются с федеральным оператором",
        "* после утверждения федеральным оператором методических рекомендаций по показателям",
    ],
    17: ["правило: однократно, срок 01.09.2022", "сроки: 01.09.2022"],
}
# The stages, by their Russian title.
EXAMPLE_STAGES: dict[str, list[str]] = {
    "инфраструктурный лист согласован — мероприятие № 3": [
        "срок 15.12 года, предшествующего году создания центра (год набора − 1)",
        "по наборам: центры 2023 г. — 15.12.2022; центры 2024 г. — 15.12.2023; центры "
        "2025 г. — 15.12.2024",
        "документы: сведения о помещениях центра для инфраструктурного листа",
    ],
    "оснащён — мероприятие № 8": [
        "срок 25.08 года создания центра (год набора)",
        "по наборам: центры 2023 г. — 25.08.2023; центры 2024 г. — 25.08.2024; центры "
        "2025 г. — 25.08.2025",
    ],
    "отчитывается — мероприятие № 12": [
        "начало 10.10 года создания центра (год набора)",
        "по наборам: центры 2023 г. — 10.10.2023; центры 2024 г. — 10.10.2024; центры "
        "2025 г. — 10.10.2025",
    ],
}
EXAMPLE_HEAD = [
    "Наборы центров (годы создания): 2023–2025",
    "Напоминания: за 14 и 3 дня до срока, в день срока; после срока каждые 7 дней, 4 раза; "
    "просрочку видит: Министерство образования Примерной области",
    "Закрытие: 31.03.2026 (через 90 дней после окончания программы); после окончания "
    "напоминаются только отчёты мероприятий № 10, 11, 12",
]
# What Ivanovo's say that the example's do not: a quarterly report from a first due date,
# a measure and a stage by a separate schedule, cohorts by default.
IVANOVO_MEASURES: dict[int, list[str]] = {
    3: [
        "срок: согласно отдельному графику",
        "правило: по отдельному графику: сроки вносит оператор (tochka cycles open)",
    ],
    9: [
        "правило: ежеквартально, каждые 3 месяца с 01.10.2021, отчёт за предыдущий квартал",
        "сроки: 01.10.2021, 01.01.2022, 01.04.2022, 01.07.2022, …, 01.01.2024 (всего 10)",
    ],
}
IVANOVO_STAGES = {
    "инфраструктурный лист согласован — мероприятие № 3": [
        "срок по графику мероприятия № 3: последний из сроков его циклов в году создания центра"
    ],
}
IVANOVO_HEAD = ["Наборы центров (годы создания): 2021–2023 (каждый год программы)"]


def _shown(cli: Cli, shipped: Path, *args: str) -> Result:
    init = cli("--now", "2022-01-10T09:00", "init", "--roadmap", str(shipped))
    assert init.exit_code == 0, init.output
    code = load_roadmap(shipped).code
    result = cli(*args, "roadmap", "show", "--roadmap", code)
    assert result.exit_code == 0, result.output
    return result


def _blocks(text: str) -> tuple[list[str], dict[int, list[str]], dict[str, list[str]]]:
    """The piped form cut up: the head's lines, each measure's lines (by number) and
    each stage's (by its heading), leading spaces stripped."""
    head: list[str] = []
    measures: dict[int, list[str]] = {}
    stages: dict[str, list[str]] = {}
    target = head
    in_stages = False
    for line in text.splitlines():
        if line.startswith("Этапы центров: "):
            in_stages = True
            continue
        if in_stages and line.startswith("  ") and not line.startswith("    "):
            target = stages.setdefault(line.strip(), [])
            continue
        if not in_stages and (match := re.match(r"(\d+)\. ", line)):
            target = measures.setdefault(int(match.group(1)), [])
        target.append(line.strip())
    return head, measures, stages


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("name", "head", "measures", "stages"),
    [
        ("example", EXAMPLE_HEAD, EXAMPLE_MEASURES, EXAMPLE_STAGES),
        ("ivanovo", IVANOVO_HEAD, IVANOVO_MEASURES, IVANOVO_STAGES),
    ],
)
def test_the_text_shows_every_rule(
    cli: Cli,
    name: str,
    head: list[str],
    measures: dict[int, list[str]],
    stages: dict[str, list[str]],
) -> None:
    shown_head, shown_measures, shown_stages = _blocks(_shown(cli, SHIPPED[name]).stdout)
    assert [line for line in head if line not in shown_head] == []
    for number, lines in measures.items():
        assert [line for line in lines if line not in shown_measures[number]] == [], number
    for title, lines in stages.items():
        assert [line for line in lines if line not in shown_stages[title]] == [], title
    definition = load_roadmap(SHIPPED[name])
    # Every measure has its rule, every stage its deadline, in the file's order.
    assert sorted(shown_measures) == [m.number for m in definition.measures]
    for number, lines in shown_measures.items():
        assert sum(line.startswith("правило: ") for line in lines) == 1, number
    assert len(shown_stages) == len(definition.stages)
    for title, lines in shown_stages.items():
        assert re.match(r"(срок|начало) ", lines[0]), title


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", list(SHIPPED))
def test_the_text_reads_at_80_columns_without_ids_or_reprs(
    cli: Cli, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 80 columns every line fits and nothing but spaces changes (the words are the
    piped form's, in order); no file key, stage or recurrence id, Python value or repr."""
    piped = _shown(cli, SHIPPED[name]).stdout
    capsys.readouterr()
    _print_roadmap(load_roadmap(SHIPPED[name]), WIDTH)
    narrow = capsys.readouterr().out
    assert [line for line in narrow.splitlines() if len(line) > WIDTH] == []
    assert max(len(line) for line in piped.splitlines()) > WIDTH  # it took wrapping
    assert narrow.split() == piped.split()
    # A year keeps its «г.», «всего» its number.
    assert re.findall(r"^\s*(?:г\.|\d+\)).*$", narrow, re.MULTILINE) == []
    raw = re.compile(
        r"\b(cohort[-+]?\d*|after_period|day_of_next_month|first_period|per_cohort|"
        r"dates_yearly|once_then_as_needed|by_schedule|as_needed|quarterly|monthly|annual|"
        r"infrastructure_agreed|equipped|staff_trained|opened|reporting|None|True|False|"
        r"DueRule|Recurrence|StageRule)\b|[{}\[\]]|\b\d{4}-\d{2}-\d{2}\b"
    )
    assert raw.findall(piped) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_json_has_every_rule_of_the_example(cli: Cli) -> None:
    data = json.loads(_shown(cli, EXAMPLE_FEDERAL_TEMPLATE, "--json").stdout)
    assert data["cohorts"] == [2023, 2024, 2025]
    assert data["region"] == "Примерная область"
    assert data["reminders"] == {
        "days_before": [14, 3],
        "on_day": True,
        "overdue_every_days": 7,
        "overdue_rungs": 4,
        "escalate_to": "ministry",
    }
    assert data["closing"] == {
        "grace_days": 90,
        "measures": [10, 11, 12],
        "closes_on": "2026-03-31",
    }
    assert [(p["id"], p["per_center"]) for p in data["parties"]] == [
        ("ministry", False),
        ("federal_operator", False),
        ("municipalities", True),
        ("schools", True),
    ]
    m = {measure["number"]: measure for measure in data["measures"]}
    assert m[1]["done"] == {
        "on": "2021-12-15",
        "evidence": {"government_decree": "распоряжение Правительства Примерной области от "
                     "15.12.2021 (пример)"},
    }  # fmt: skip
    assert (m[2]["recurrence"], m[2]["per_cohort"]) == (
        "per_cohort",
        {"day": "01.12", "year": "cohort-1", "year_offset": -1, "cohorts": [2023, 2024, 2025]},
    )
    assert m[3]["per_cohort"]["day"] == "15.12"
    assert (m[4]["recurrence"], m[4]["first_due"], m[4]["until"]) == (
        "annual",
        "2022-11-01",
        "2024-12-31",
    )
    assert (m[10]["recurrence"], m[10]["due"], m[10]["first_period"]) == (
        "monthly",
        {"day_of_next_month": 5},
        "2022-01",
    )
    assert (m[11]["due"], m[11]["first_period"]) == (
        {"after_period": {"days": 5, "working": True}},
        "2022-Q1",
    )
    assert (m[12]["due"], m[12]["first_period"]) == ({"day_of_next_month": 10}, "2022-Q1")
    assert (m[13]["recurrence"], m[13]["dates"], m[13]["first_due"]) == (
        "dates_yearly",
        ["15.06", "15.12"],
        "2023-06-15",
    )
    assert m[14]["after"] == {"measure": 5, "stage": None, "days": 10, "working": False}
    assert m[15]["after"] == {
        "measure": None,
        "stage": "infrastructure_agreed",
        "days": 5,
        "working": True,
    }
    assert (m[16]["first_due"], m[16]["month_only"], m[16]["due_text"]) == (
        "2022-02-28",
        True,
        "февраль 2022 года, 15 марта 2022* года",
    )
    assert m[16]["footnotes"] == {
        "*": "после утверждения федеральным оператором методических рекомендаций по показателям"
    }
    assert [(i["number"], i["due"], i["month_only"], i["due_text"]) for i in m[16]["items"]] == [
        ("16.1", "2022-02-28", True, ""),
        ("16.2", "2022-02-28", True, ""),
        ("16.3", "2022-03-15", False, "15 марта 2022** года"),
    ]
    assert m[16]["items"][2]["footnotes"] == {
        "**": "показатели согласуются с федеральным оператором"
    }
    assert m[17]["responsible"] == ["schools"]
    # The rules' text is the text form's.
    for number, lines in EXAMPLE_MEASURES.items():
        assert f"правило: {m[number]['rule']}" in lines, number
    # The cycles over the program are those the walk writes out by hand from the decree.
    cycles = {(n, c["period"]): date.fromisoformat(c["due"]) for n in m for c in m[n]["cycles"]}
    relative = {(measure, period) for measure, period, _due, _on in RELATIVE}
    assert cycles == {key: due for key, due in CYCLES.items() if key not in relative}
    # Stages: the file's due and year, by schedule or not, each cohort's date.
    stages = {s["stage"]: s for s in data["stages"]}
    infra = stages["infrastructure_agreed"]
    assert (infra["due"], infra["year"], infra["year_offset"], infra["by_schedule"]) == (
        "15.12",
        "cohort-1",
        -1,
        False,
    )
    assert infra["cohorts"] == [
        {"cohort": 2023, "due": "2022-12-15"},
        {"cohort": 2024, "due": "2023-12-15"},
        {"cohort": 2025, "due": "2024-12-15"},
    ]
    assert infra["documents"] == ["сведения о помещениях центра для инфраструктурного листа"]
    reporting = stages["reporting"]
    assert (reporting["due"], reporting["year"], reporting["starts"], reporting["title"]) == (
        "10.10",
        "cohort",
        True,
        "отчитывается",
    )
    assert reporting["rule"] == "начало 10.10 года создания центра (год набора)"


#: The keys a script reads, on every measure and stage of either roadmap.
MEASURE_KEYS = {
    "number", "title", "responsible", "responsible_text", "result", "evidence", "deadline",
    "recurrence", "first_due", "after", "done", "items", "footnotes", "due_text",
    "month_only", "until", "due", "first_period", "dates", "per_cohort", "rule", "cycles",
}  # fmt: skip
STAGE_KEYS = {
    "stage", "title", "measure", "due_month", "due_day", "starts", "due", "year",
    "year_offset", "by_schedule", "documents", "rule", "cohorts",
}  # fmt: skip


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", list(SHIPPED))
def test_the_json_keys_are_stable(cli: Cli, name: str) -> None:
    data = json.loads(_shown(cli, SHIPPED[name], "--json").stdout)
    assert {
        "code", "title", "decree", "region", "period", "cohorts", "timezone", "content_hash",
        "coordinator", "parties", "measures", "stages", "reminders", "closing",
    } == set(data)  # fmt: skip
    assert all(set(m) == MEASURE_KEYS for m in data["measures"])
    assert all(set(s) == STAGE_KEYS for s in data["stages"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_ivanovo_json_has_its_schedule_stage(cli: Cli) -> None:
    data = json.loads(_shown(cli, IVANOVO_159_RP, "--json").stdout)
    (infra, *_rest) = data["stages"]
    assert (infra["stage"], infra["due"], infra["by_schedule"], infra["cohorts"]) == (
        "infrastructure_agreed",
        None,
        True,
        [],
    )
    assert data["cohorts"] == [2021, 2022, 2023]
    m9 = data["measures"][8]
    assert (m9["first_due"], m9["due"], len(m9["cycles"]), m9["cycles"][-1]) == (
        "2021-10-01",
        None,
        10,
        {"period": "2023-Q4", "due": "2024-01-01"},  # after the end: it closes the program
    )


def test_the_cycles_shown_are_the_ones_the_schedule_creates() -> None:
    """Of the cycles due after the program's end, only the closing reports' are shown,
    as the reconciler creates only those (`workflow.roadmap.recurrence.scheduled_cycles`)."""
    from dataclasses import replace

    from workflow.roadmap.definition import ClosingPolicy
    from workflow.roadmap.describe import program_cycles
    from workflow.roadmap.recurrence import scheduled_cycles

    ivanovo = load_roadmap(IVANOVO_159_RP)
    for roadmap in (ivanovo, replace(ivanovo, closing=ClosingPolicy(measures=()))):
        shown = [(s.measure, s.period, s.due) for m in roadmap.measures
                 for s in program_cycles(roadmap, m)]  # fmt: skip
        created = scheduled_cycles(roadmap, as_of=date(2024, 3, 30))
        assert shown == [(s.measure, s.period, s.due) for s in created]
        last = shown[-1]
        assert last == ((9, "2023-Q4", date(2024, 1, 1)) if roadmap is ivanovo
                        else (9, "2023-Q3", date(2023, 10, 1)))  # fmt: skip
