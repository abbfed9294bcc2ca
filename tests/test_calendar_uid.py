"""One deadline, one calendar event: the letters' ``.ics`` and ``tochka calendar export``.

A calendar that takes both the export and the reminder letters must show one event per
deadline (the same UID), and a deadline that moves must replace its event (a greater
SEQUENCE). The letters are read from the real outbox, the export from the real CLI.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import icalendar
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from notifications.outbox import OUTBOX_LETTER, OUTBOX_WITH_LETTER
from tests.conftest import T0, make_rows
from workflow.engine import centers
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Any]


def _letter_events(engine: Engine) -> dict[str, list[icalendar.Component]]:
    """UID → the events of that UID in every letter's calendar attachment."""
    result: dict[str, list[icalendar.Component]] = {}
    with engine.connect() as conn:
        messages = (
            conn.execute(sa.select(OUTBOX_LETTER.c.message).select_from(OUTBOX_WITH_LETTER))
            .scalars()
            .all()
        )
    for raw in messages:
        parsed = email.message_from_bytes(bytes(raw), policy=email.policy.default)
        for part in parsed.walk():
            if part.get_content_type() != "text/calendar":
                continue
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            cal = icalendar.Calendar.from_ical(payload)
            assert str(cal["x-wr-calname"]) == "Сроки «Точка роста»"
            for event in cal.walk("VEVENT"):
                result.setdefault(str(event["uid"]), []).append(event)
    return result


def _seq(event: icalendar.Component) -> int:
    return int(event.decoded("sequence"))


def _export(cli: Cli, path: Path, now: str) -> dict[str, icalendar.Component]:
    result = cli("--now", now, "calendar", "export", "-o", str(path))
    assert result.exit_code == 0, result.output
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def test_letter_and_export_give_one_deadline_one_uid(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    centers.import_centers(
        engine, stored, make_rows(1, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    # 14 days before 25.08.2021: measures 6 and 7, and the center's stages, are reminded.
    assert cli("--now", "2021-08-11", "tick").exit_code == 0
    letters = _letter_events(engine)
    exported = _export(cli, tmp_path / "all.ics", "2021-08-11")
    cycle = "ivanovo-2021-2023-cycle-6-2021@tochka"
    stage = "ivanovo-2021-2023-center-C00000-equipped-7-2021@tochka"
    assert cycle in letters, sorted(letters)
    assert stage in letters, sorted(letters)
    assert cycle in exported
    assert stage in exported
    # Every deadline a letter carries is the export's event of that deadline: same UID,
    # same day, same SEQUENCE and title (a calendar taking both keeps one event).
    assert set(letters) <= set(exported)
    for uid, events in letters.items():
        for event in events:
            assert event.decoded("dtstart") == exported[uid].decoded("dtstart")
            assert _seq(event) == _seq(exported[uid])
            assert str(event["summary"]) == str(exported[uid]["summary"])
    summary = str(exported[stage]["summary"])
    assert summary == "Оснащение центра — МБОУ «Школа № 0»"
    assert str(exported[cycle]["summary"]).startswith("№ 6, 2021 г.: Организация обучения")
    assert all(len(str(e["summary"])) <= 80 for e in exported.values())
    assert str(letters[stage][0]["description"]).startswith("Срок: 25.08.2021.\n")


def test_summary_and_description_in_russian_typography(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    """A name's straight quotes read «…» in the event, quotes inside quotes „…“: the
    letters' subjects write them so, and a calendar shows the SUMMARY beside them."""
    row = make_rows(1, cohort=2021)[0]
    named = replace(row, name='МБОУ "Панинская СОШ "Лидер""')
    centers.import_centers(engine, stored, [named], filename="t.csv", actor="t", now=T0)
    assert cli("--now", "2021-08-11", "tick").exit_code == 0
    letters = _letter_events(engine)
    exported = _export(cli, tmp_path / "all.ics", "2021-08-11")
    stage = "ivanovo-2021-2023-center-C00000-equipped-7-2021@tochka"
    for event in (letters[stage][0], exported[stage]):
        assert str(event["summary"]) == "Оснащение центра — МБОУ «Панинская СОШ „Лидер“»"
        assert "Центр «Точка роста» на базе МБОУ «Панинская СОШ „Лидер“»" in str(
            event["description"]
        )
    texts = [str(e[k]) for es in letters.values() for e in es for k in ("summary", "description")]
    texts += [str(e[k]) for e in exported.values() for k in ("summary", "description")]
    assert [t for t in texts if '"' in t] == []


def test_sequence_grows_when_the_deadline_moves_and_the_uid_stays(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    centers.import_centers(
        engine, stored, make_rows(1, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    # The infrastructure list's deadline follows the operator's schedule (measure 3).
    opened = cli("--now", "2021-03-01", "cycles", "open", "3", "--due", "2021-03-15")
    assert opened.exit_code == 0, opened.output
    assert cli("--now", "2021-03-01", "tick").exit_code == 0
    uid = "ivanovo-2021-2023-center-C00000-infrastructure_agreed-3-2021@tochka"
    first = _export(cli, tmp_path / "first.ics", "2021-03-01")[uid]
    first_letters = _letter_events(engine)[uid]
    assert first.decoded("dtstart").isoformat() == "2021-03-15"
    # The schedule moves to 20.03: the same deadline, a new date.
    moved = cli("--now", "2021-03-02", "cycles", "open", "3", "--due", "2021-03-20")
    assert moved.exit_code == 0, moved.output
    for day in range(9, 21):  # the ticks up to the new date: its next rungs are sent
        assert cli("--now", f"2021-03-{day:02d}", "tick").exit_code == 0
    second = _export(cli, tmp_path / "second.ics", "2021-03-20")[uid]
    assert second.decoded("dtstart").isoformat() == "2021-03-20"
    assert _seq(second) > _seq(first)
    # The letters agree: the new letter's event has the new date and the greater SEQUENCE.
    letters = _letter_events(engine)[uid]
    assert len(letters) > len(first_letters)
    latest = max(letters, key=_seq)
    assert latest.decoded("dtstart").isoformat() == "2021-03-20"
    assert _seq(latest) == _seq(second)
    assert str(second["description"]).startswith("Срок: 20.03.2021.\n")


def test_summary_is_short_and_starts_with_what_and_who_whatever_the_name() -> None:
    from notifications.ics import SUMMARY_LIMIT, cycle_summary, period_text, stage_summary

    hostile = "МБОУ «Школа № 1»\r\nBcc: x@example.org <script>" + " очень длинное имя" * 20
    summary = stage_summary(stage="opened", school=hostile)
    assert summary.startswith("Открытие центра — МБОУ «Школа № 1» Bcc:")
    assert len(summary) <= SUMMARY_LIMIT
    assert summary.endswith("…")
    assert "\n" not in summary
    assert "\r" not in summary
    assert stage_summary(stage="equipped", school="МБОУ Панинская СОШ") == (
        "Оснащение центра — МБОУ Панинская СОШ"
    )
    long_title = "Проведение ежеквартального мониторинга выполнения показателей " * 3
    summary = cycle_summary(measure=9, period="2023-Q2", title=long_title)
    assert summary.startswith("№ 9, II кв. 2023 г.: Проведение ежеквартального")
    assert len(summary) <= SUMMARY_LIMIT
    assert [period_text(p) for p in ("2023-Q2", "2021", "2021-09-15#2", "x")] == [
        "II квартал 2023 г.",
        "2021 г.",
        "от 15.09.2021 (повторно)",
        "x",
    ]
