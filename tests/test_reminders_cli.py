"""``tochka tick``, ``tochka reminders preview`` and ``tochka calendar export`` in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import icalendar
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import REMINDER
from tests.conftest import T0, make_rows
from workflow.engine import centers
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]


def test_tick_cli_reports_and_is_idempotent(cli: Cli, stored: StoredRoadmap) -> None:
    first = cli("--now", "2021-02-20", "tick")
    assert first.exit_code == 0, first.output
    # Measure 1 is created done (the file records it done by the decree): not overdue.
    assert "Создано циклов 4, просрочено 2, напоминаний 3" in first.output
    again = cli("--json", "--now", "2021-02-20", "tick")
    assert json.loads(again.output) == [
        {
            "roadmap": "ivanovo-2021-2023",
            "today": "2021-02-20",
            "cycles_created": 0,
            "marked_overdue": 0,
            "skipped": 0,
            "deadlines_reminded": 0,
            "reminders_queued": 0,
            "summaries_queued": 0,
        }
    ]


def test_preview_lists_what_ticks_would_send_and_queues_nothing(
    cli: Cli, stored: StoredRoadmap, engine: Engine
) -> None:
    centers.import_centers(
        engine, stored, make_rows(1, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    assert cli("--now", "2021-02-20", "tick").exit_code == 0
    result = cli("--json", "--now", "2021-02-20", "reminders", "preview", "--until", "2021-03-09")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    # The 2020 measures had their last overdue reminder (the tick's overdue-28): no more
    # letters about them, the weekly summary lists them. Measure 5 goes on.
    assert [(i["send_on"], i["recipient"], i["deadline"], i["rung"]) for i in items] == [
        ("2021-02-26", "coordinator@example.org", "2021-03-01", "before-3"),
        ("2021-03-01", "coordinator@example.org", "2021-03-01", "on_day"),
        # 08.03 is a holiday: overdue-7 moves back to Friday 05.03.
        ("2021-03-05", "coordinator@example.org", "2021-03-01", "overdue-7"),
    ]
    assert set(items[0]) == {"send_on", "recipient", "deadline", "deadline_id", "rung", "subject"}
    assert items[0]["subject"].startswith("Мероприятие № 5 (2021 г.): Объявление закупок")
    with engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(REMINDER)).scalar_one()
    assert queued == 3  # only the tick's

    # Ahead: measure 6/7/8 cycles that do not exist yet, and the center's stages.
    ahead = json.loads(
        cli("--json", "--now", "2021-08-10", "reminders", "preview", "--until", "2021-08-11").output
    )
    assert {(i["deadline_id"].split(":")[0], i["rung"], i["recipient"]) for i in ahead} >= {
        ("cycle", "before-14", "operator@example.org"),
        ("center", "before-14", "school0@example.org"),
    }
    text = cli("--now", "2021-02-20", "reminders", "preview", "--until", "2021-03-09")
    assert "Напоминания до 09.03.2021: 3" in text.output
    # An overdue center stage: the school, and the coordinator in its own digest.
    late = json.loads(
        cli("--json", "--now", "2021-08-26", "reminders", "preview", "--until", "2021-09-02").output
    )
    equipped = [
        (i["rung"], i["recipient"]) for i in late if i["deadline_id"] == "center:C00000:equipped"
    ]
    assert sorted(equipped) == [
        ("on_day", "school0@example.org"),  # the catch-up of 26.08
        ("overdue-7", "coordinator@example.org"),
        ("overdue-7", "school0@example.org"),
    ]


def test_preview_bad_dates_are_refused_in_russian(cli: Cli, stored: StoredRoadmap) -> None:
    before = cli("--now", "2021-03-01", "reminders", "preview", "--until", "2021-02-01")
    assert before.exit_code == 1
    assert "--until (01.02.2021) раньше, чем --now (01.03.2021)" in before.output
    not_a_date = cli("--now", "2021-03-01", "reminders", "preview", "--until", "2021-02-30")
    assert not_a_date.exit_code == 1
    assert "--until: «2021-02-30» — не дата" in not_a_date.output
    bad_now = cli("--now", "вчера", "reminders", "preview", "--until", "2021-02-01")
    assert bad_now.exit_code == 1
    assert "«вчера» — не дата" in bad_now.output
    missing = cli("reminders", "preview")
    assert missing.exit_code == 2


def test_calendar_export_open_cycles_and_cohort_stages(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    centers.import_centers(
        engine, stored, make_rows(2, cohort=2022), filename="t.csv", actor="t", now=T0
    )
    assert cli("--now", "2021-08-12", "tick").exit_code == 0
    out = tmp_path / "deadlines.ics"
    result = cli("--now", "2021-08-12", "calendar", "export", "-o", str(out))
    assert result.exit_code == 0, result.output
    cal = icalendar.Calendar.from_ical(out.read_bytes())
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    summaries = sorted(
        (e.decoded("dtstart").isoformat(), str(e["summary"])[:40]) for e in events.values()
    )
    assert ("2021-08-25", "№ 6, 2021 г.: Организация обучения и пов") in summaries
    # A center stage is one event per center that owes it, the school named.
    assert ("2022-08-25", "Оснащение центра — МБОУ «Школа № 0»") in summaries
    assert ("2022-10-01", "Начало отчётности центра — МБОУ «Школа №") in summaries
    assert "ivanovo-2021-2023-center-C00001-equipped-7-2022@tochka" in events
    assert all(len(str(e["summary"])) <= 80 for e in events.values())
    assert str(cal["x-wr-calname"]) == "Сроки «Точка роста»: Ивановская область"
    # No by-schedule date for 2022 yet: no infrastructure event.
    assert not [u for u in events if "infrastructure" in u]
    # Stable UIDs: a second export has the same ones.
    cli("--now", "2021-08-12", "calendar", "export", "-o", str(tmp_path / "again.ics"))
    again = icalendar.Calendar.from_ical((tmp_path / "again.ics").read_bytes())
    assert {str(e["uid"]) for e in again.walk("VEVENT")} == set(events)

    fo = _export(cli, tmp_path / "fo.ics", "2021-08-12", "--party", "federal_operator")
    assert sorted(
        (e.decoded("dtstart").isoformat(), str(e["summary"])[:34]) for e in fo.values()
    ) == [
        ("2021-08-25", "№ 6, 2021 г.: Организация обучения"),
        ("2022-08-25", "Обучение персонала центра — МБОУ «"),  # measure 6, 2 centers
        ("2022-08-25", "Обучение персонала центра — МБОУ «"),
        ("2022-08-25", "№ 6, 2022 г.: Организация обучения"),  # not created yet
        ("2023-08-25", "№ 6, 2023 г.: Организация обучения"),  # not created yet
    ]
    unknown = cli("calendar", "export", "--party", "nobody", "-o", str(tmp_path / "x.ics"))
    assert unknown.exit_code == 1
    assert "Сторона «nobody» не найдена" in unknown.output


#: Every measure deadline of the shipped roadmap as of 11.08.2021 (measure 3 is by
#: schedule: operators open its cycles): (summary up to the colon, DTSTART).
#: Measure 1 (07.12.2020) is not among them: the file records it done by the decree, and
#: a done cycle stays out of the calendar.
ALL_MEASURE_DEADLINES = {
    ("№ 2, 2020 г.", "2020-12-23"),
    ("№ 4, 2020 г.", "2020-12-30"),
    ("№ 5, 2021 г.", "2021-03-01"),
    ("№ 5, 2022 г.", "2022-03-01"),
    ("№ 5, 2023 г.", "2023-03-01"),
    ("№ 6, 2021 г.", "2021-08-25"),
    ("№ 6, 2022 г.", "2022-08-25"),
    ("№ 6, 2023 г.", "2023-08-25"),
    ("№ 7, 2021 г.", "2021-08-25"),
    ("№ 7, 2022 г.", "2022-08-25"),
    ("№ 7, 2023 г.", "2023-08-25"),
    ("№ 8, 2021 г.", "2021-09-01"),
    ("№ 8, 2022 г.", "2022-09-01"),
    ("№ 8, 2023 г.", "2023-09-01"),
    ("№ 9, III кв. 2021 г.", "2021-10-01"),
    ("№ 9, IV кв. 2021 г.", "2022-01-01"),
    ("№ 9, I кв. 2022 г.", "2022-04-01"),
    ("№ 9, II кв. 2022 г.", "2022-07-01"),
    ("№ 9, III кв. 2022 г.", "2022-10-01"),
    ("№ 9, IV кв. 2022 г.", "2023-01-01"),
    ("№ 9, I кв. 2023 г.", "2023-04-01"),
    ("№ 9, II кв. 2023 г.", "2023-07-01"),
    ("№ 9, III кв. 2023 г.", "2023-10-01"),
    ("№ 9, IV кв. 2023 г.", "2024-01-01"),  # the report that closes the program
}


def _export(cli: Cli, path: Path, now: str, *args: str) -> dict[str, icalendar.Component]:
    """Run ``calendar export`` as of ``now`` with ``args`` into ``path``; UID → event."""
    result = cli("--now", now, "calendar", "export", *args, "-o", str(path))
    assert result.exit_code == 0, result.output
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def _measure_deadlines(events: dict[str, icalendar.Component]) -> set[tuple[str, str]]:
    return {
        (str(e["summary"]).split(":")[0], e.decoded("dtstart").isoformat())
        for e in events.values()
        if str(e["summary"]).startswith("№")
    }


def test_calendar_export_includes_cycles_not_created_yet_through_2023(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    now = "2021-08-11"
    assert cli("--now", now, "tick").exit_code == 0  # creates the cycles due up to 25.08.2021
    events = _export(cli, tmp_path / "all.ics", now)
    assert _measure_deadlines(events) == ALL_MEASURE_DEADLINES
    assert len(events) == len(ALL_MEASURE_DEADLINES)  # no centers: no stage events
    # Measure 8's cycle opens on 18.08.2021 only; its event looks like the others'.
    future = events["ivanovo-2021-2023-cycle-8-2021@tochka"]
    assert str(future["summary"]) == "№ 8, 2021 г.: Начало работы центров «Точка роста»"
    # The event's own date, not the roadmap's «01.09.2021, далее ежегодно».
    assert str(future["description"]).startswith("Срок: 01.09.2021.\n")
    assert "Состояние: запланирован." in str(future["description"])
    later = events["ivanovo-2021-2023-cycle-8-2023@tochka"]
    assert str(later["description"]).startswith("Срок: 01.09.2023.\n")
    assert "2021" not in str(later["description"]).split("\n")[0]
    assert "Ответственный: Департамент образования Ивановской области" in str(future["description"])

    only_operator = _export(cli, tmp_path / "fo.ics", now, "--party", "federal_operator")
    assert _measure_deadlines(only_operator) == {
        ("№ 6, 2021 г.", "2021-08-25"),
        ("№ 6, 2022 г.", "2022-08-25"),
        ("№ 6, 2023 г.", "2023-08-25"),
    }
    assert len(only_operator) == 3
    department = _export(cli, tmp_path / "dep.ics", now, "--party", "department")
    assert _measure_deadlines(department) == ALL_MEASURE_DEADLINES


def test_calendar_export_uids_survive_cycle_creation_and_closed_cycles_stay_out(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    # Nothing created yet: every measure event comes from the recurrences.
    before = _export(cli, tmp_path / "before.ics", "2021-08-11")
    assert _measure_deadlines(before) == ALL_MEASURE_DEADLINES
    # The ticks create the cycles: the events keep their UIDs (a re-import updates them).
    assert cli("--now", "2021-08-11", "tick").exit_code == 0
    assert cli("--now", "2021-08-18", "tick").exit_code == 0
    after = _export(cli, tmp_path / "after.ics", "2021-08-18")
    assert set(after) == set(before)
    assert {u: _measure_deadlines({u: e}) for u, e in after.items()} == {
        u: _measure_deadlines({u: e}) for u, e in before.items()
    }
    # A cancelled cycle leaves the calendar and does not come back as one to be created.
    cycles = json.loads(cli("--json", "cycles", "list", "--measure", "8").output)
    assert [(c["period"], c["state"]) for c in cycles] == [("2021", "scheduled")]
    cancelled = cli(
        "--now",
        "2021-08-18",
        "cycles",
        "fire",
        str(cycles[0]["id"]),
        "cancel",
        "--comment",
        "перенесено",
    )
    assert cancelled.exit_code == 0, cancelled.output
    rest = _export(cli, tmp_path / "rest.ics", "2021-08-18")
    assert set(rest) == set(before) - {"ivanovo-2021-2023-cycle-8-2021@tochka"}
