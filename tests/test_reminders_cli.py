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
from workflow import centers
from workflow.roadmap_store import StoredRoadmap

Cli = Callable[..., Result]


def test_tick_cli_reports_and_is_idempotent(cli: Cli, stored: StoredRoadmap) -> None:
    first = cli("--now", "2021-02-20", "tick")
    assert first.exit_code == 0, first.output
    assert "Создано циклов 4, просрочено 3, напоминаний 4" in first.output
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
    assert [(i["send_on"], i["recipient"], i["deadline"], i["rung"]) for i in items] == [
        ("2021-02-24", "coordinator@example.org", "2020-12-23", "overdue-63"),
        ("2021-02-24", "coordinator@example.org", "2020-12-30", "overdue-56"),
        ("2021-02-26", "coordinator@example.org", "2021-03-01", "before-3"),
        ("2021-03-01", "coordinator@example.org", "2020-12-07", "overdue-84"),
        ("2021-03-01", "coordinator@example.org", "2021-03-01", "on_day"),
        ("2021-03-03", "coordinator@example.org", "2020-12-23", "overdue-70"),
        ("2021-03-03", "coordinator@example.org", "2020-12-30", "overdue-63"),
        # 08.03 is a holiday: overdue-7 and overdue-91 move back to Friday 05.03.
        ("2021-03-05", "coordinator@example.org", "2020-12-07", "overdue-91"),
        ("2021-03-05", "coordinator@example.org", "2021-03-01", "overdue-7"),
    ]
    assert set(items[0]) == {"send_on", "recipient", "deadline", "deadline_id", "rung", "subject"}
    assert items[2]["subject"].startswith("Мероприятие № 5 (2021): Объявление закупок")
    with engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(REMINDER)).scalar_one()
    assert queued == 4  # only the tick's

    # Ahead: measure 6/7/8 cycles that do not exist yet, and the center's stages.
    ahead = json.loads(
        cli("--json", "--now", "2021-08-10", "reminders", "preview", "--until", "2021-08-11").output
    )
    assert {(i["deadline_id"].split(":")[0], i["rung"], i["recipient"]) for i in ahead} >= {
        ("cycle", "before-14", "operator@example.org"),
        ("center", "before-14", "school0@example.org"),
    }
    text = cli("--now", "2021-02-20", "reminders", "preview", "--until", "2021-03-09")
    assert "Напоминания до 09.03.2021: 9" in text.output


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
    assert ("2021-08-25", "Мероприятие № 6 (2021): Организация обуч") in summaries
    assert ("2022-08-25", "Центры 2022 года: этап «оснащён»") in summaries
    assert ("2022-10-01", "Центры 2022 года: начало этапа «отчитыва") in summaries
    assert "ivanovo-2021-2023-cohort-2022-equipped@tochka" in events
    # No by-schedule date for 2022 yet: no infrastructure event.
    assert not [u for u in events if "infrastructure" in u]
    # Stable UIDs: a second export has the same ones.
    cli("--now", "2021-08-12", "calendar", "export", "-o", str(tmp_path / "again.ics"))
    again = icalendar.Calendar.from_ical((tmp_path / "again.ics").read_bytes())
    assert {str(e["uid"]) for e in again.walk("VEVENT")} == set(events)

    only_operator = tmp_path / "fo.ics"
    cli("calendar", "export", "--party", "federal_operator", "-o", str(only_operator))
    fo = icalendar.Calendar.from_ical(only_operator.read_bytes())
    assert sorted(str(e["summary"])[:16] for e in fo.walk("VEVENT")) == [
        "Мероприятие № 6 ",
        "Центры 2022 года",  # staff_trained (measure 6)
    ]
    unknown = cli("calendar", "export", "--party", "nobody", "-o", str(tmp_path / "x.ics"))
    assert unknown.exit_code == 1
    assert "Сторона «nobody» не найдена" in unknown.output
