"""The roadmap file's reminder policy and who sends what: ``reminders.overdue_rungs``,
``evidence_kinds[i].provided_by`` and ``stages[i].documents`` (issue 12)."""

from __future__ import annotations

import pytest

from tests.test_roadmap_file import MINIMAL, edit, only_problem, where
from workflow.roadmap.definition import ReminderPolicy
from workflow.roadmap.loader import parse_roadmap


def test_overdue_rungs_default_to_four_weekly() -> None:
    policy = parse_roadmap(MINIMAL, filename="r.yaml").reminders
    assert policy.overdue_rungs == 4
    assert policy.silenced_after() == 28


def test_overdue_rungs_are_read() -> None:
    text = MINIMAL + "reminders: {overdue_every_days: 14, overdue_rungs: 2}\n"
    policy = parse_roadmap(text, filename="r.yaml").reminders
    assert policy == ReminderPolicy(
        overdue_every_days=14, overdue_rungs=2, escalate_to="department"
    )
    assert policy.silenced_after() == 28
    none = parse_roadmap(MINIMAL + "reminders: {overdue_rungs: 0}\n", filename="r.yaml")
    assert none.reminders.silenced_after() == 0


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("-1", "число напоминаний о просрочке должно быть от 0 до 52, указано -1"),
        ("53", "число напоминаний о просрочке должно быть от 0 до 52, указано 53"),
        ('"4"', None),
        ("true", None),
    ],
)
def test_overdue_rungs_refused_in_russian(written: str, message: str | None) -> None:
    problem = only_problem(MINIMAL + f"reminders: {{overdue_rungs: {written}}}\n")
    assert where([problem]) == [(35, 28, "reminders.overdue_rungs")]
    if message is not None:
        assert problem.message == message
    else:  # not a number: the schema's own Russian message
        assert "число" in problem.message


def test_provided_by_names_a_declared_party() -> None:
    text = edit(
        '{id: letter, name: "письмо"}', '{id: letter, name: "письмо", provided_by: operator}'
    )
    roadmap = parse_roadmap(text, filename="r.yaml")
    assert roadmap.evidence_kind("letter").provided_by == "operator"
    assert roadmap.evidence_kind("order").provided_by == ""
    bad = edit('{id: letter, name: "письмо"}', '{id: letter, name: "письмо", provided_by: fed}')
    problem = only_problem(bad)
    assert problem.field == "evidence_kinds[1].provided_by"
    assert problem.message == "участник «fed» не объявлен в parties"


def test_stage_documents_are_read_and_checked() -> None:
    text = edit(
        '{stage: equipped, measure: 1, due: "25.08"}',
        '{stage: equipped, measure: 1, due: "25.08", documents: ["фото", "акт"]}',
    )
    roadmap = parse_roadmap(text, filename="r.yaml")
    assert [s.documents for s in roadmap.stages] == [(), ("фото", "акт")]
    twice = edit(
        '{stage: equipped, measure: 1, due: "25.08"}',
        '{stage: equipped, measure: 1, due: "25.08", documents: ["фото", "фото"]}',
    )
    problem = only_problem(twice)
    assert problem.field == "stages[1].documents[1]"
    assert problem.message == "«фото» указан дважды"
