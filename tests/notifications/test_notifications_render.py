"""Templates and Russian wording: overrides, the start-up check, dates and plurals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import icalendar
import pytest

from notifications import russian
from notifications.errors import TemplateProblem
from notifications.ics import build_calendar, event_uid
from notifications.render import BUILTIN_TEMPLATES, KINDS, PARTS, Renderer, sample_notice
from notifications.values import Reminder, Rung

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("count", "in_days", "overdue", "on"),
    [
        (1, "через 1 день", "просрочено на 1 день", "на 1 день"),
        (2, "через 2 дня", "просрочено на 2 дня", "на 2 дня"),
        (3, "через 3 дня", "просрочено на 3 дня", "на 3 дня"),
        (5, "через 5 дней", "просрочено на 5 дней", "на 5 дней"),
        (11, "через 11 дней", "просрочено на 11 дней", "на 11 дней"),
        (21, "через 21 день", "просрочено на 21 день", "на 21 день"),
        (22, "через 22 дня", "просрочено на 22 дня", "на 22 дня"),
        (112, "через 112 дней", "просрочено на 112 дней", "на 112 дней"),
    ],
)
def test_russian_day_counts(count: int, in_days: str, overdue: str, on: str) -> None:
    assert russian.in_days(count) == in_days
    assert russian.overdue_by(count) == overdue
    assert f"на {russian.days(count)}" == on


def test_russian_dates_and_plurals() -> None:
    assert russian.long_date(date(2022, 8, 25)) == "25 августа 2022 г."
    assert russian.long_date(date(2021, 3, 1)) == "1 марта 2021 г."
    assert russian.short_date(date(2022, 8, 5)) == "05.08.2022"
    forms = ("напоминание", "напоминания", "напоминаний")
    assert [russian.plural(n, *forms) for n in (1, 3, 5, 21, 0)] == [
        "1 напоминание",
        "3 напоминания",
        "5 напоминаний",
        "21 напоминание",
        "0 напоминаний",
    ]


def test_builtin_templates_pass_the_check(renderer: Renderer) -> None:
    renderer.check()
    names = {p.name for p in BUILTIN_TEMPLATES.glob("*.j2")}
    assert {f"{k}.{p}.j2" for k in KINDS for p in PARTS} <= names


def test_override_replaces_one_file(tmp_path: Path, make_reminder: Callable[..., Reminder]) -> None:
    (tmp_path / "reminder_before.subject.j2").write_text(
        "Скоро срок: {{ item.title }} ({{ item.deadline_text }})", encoding="utf-8"
    )
    renderer = Renderer(tmp_path)
    renderer.check()
    letter = renderer.render_reminders([make_reminder()], now=NOW)
    assert letter.subject == (
        "Скоро срок: Обучение педагогов по программам федерального оператора (25 августа 2022 г.)"
    )
    assert "Добрый день!" in letter.text  # the other parts stay built in


@pytest.mark.parametrize(
    ("name", "body", "detail"),
    [
        ("digest.html.j2", "{% for x in items %}<p>{{ x.title }}</p>", "TemplateSyntaxError"),
        ("notice.txt.j2", "{{ notice.no_such_field }}", "UndefinedError"),
        ("reminder_overdue.subject.j2", "{{ missing_variable }}", "UndefinedError"),
        ("reminder_on_day.subject.j2", "   ", "пустая тема"),
        ("reminder_before.txt.j2", "{{ item.days / 0 }}", "ZeroDivisionError"),
    ],
)
def test_broken_override_is_refused_by_check(
    tmp_path: Path, name: str, body: str, detail: str
) -> None:
    (tmp_path / name).write_text(body, encoding="utf-8")
    with pytest.raises(TemplateProblem) as refused:
        Renderer(tmp_path).check()
    assert refused.value.template == name
    assert detail in str(refused.value)
    assert "переопределений" in (refused.value.hint or "")


def test_check_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match="не найдена"):
        Renderer(tmp_path / "nope").check()


def test_status_follows_the_dates_not_only_the_rung(
    renderer: Renderer, make_reminder: Callable[..., Reminder]
) -> None:
    # Deadline on Sunday 28.08; the on-day rung moved to Friday 26.08.
    friday = datetime(2022, 8, 26, 6, 0, tzinfo=UTC)
    reminder = make_reminder(
        rung=Rung.ON_DAY, days=0, send_on=date(2022, 8, 26), deadline=date(2022, 8, 28)
    )
    letter = renderer.render_reminders([reminder], now=friday)
    assert letter.kind == "reminder_before"
    assert letter.subject.startswith("Через 2 дня: ")
    # Caught up a day late after downtime: speaks of the day it is sent.
    late = datetime(2022, 8, 27, 6, 0, tzinfo=UTC)
    assert renderer.render_reminders([reminder], now=late).subject.startswith("Через 1 день: ")


def test_html_escapes_and_text_keeps_names(
    renderer: Renderer, make_reminder: Callable[..., Reminder]
) -> None:
    reminder = make_reminder(center_name="<script>alert('x')</script> & «Школа»")
    letter = renderer.render_reminders([reminder], now=NOW)
    assert "<script>" not in letter.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; «Школа»" in letter.html
    assert "<script>alert('x')</script> & «Школа»" in letter.text


def test_notice_renders(renderer: Renderer) -> None:
    letter = renderer.render_notice(sample_notice(), now=NOW)
    assert letter.subject == "Центр открыт — МБОУ «Средняя школа № 1» (01.09.2022)"
    assert "Персонал обучен → Открыт" in letter.text
    assert "1 сентября 2022 г." in letter.text
    assert letter.ics is None


def test_calendar_one_event_per_deadline(make_reminder: Callable[..., Reminder]) -> None:
    first = make_reminder(key="a")
    same_deadline_other_rung = make_reminder(key="b", rung=Rung.ON_DAY, days=0)
    other = make_reminder(key="c", deadline=date(2022, 9, 1), measure_number=8, title="Открытие")
    ics = build_calendar([first, same_deadline_other_rung, other], now=NOW)
    calendar = icalendar.Calendar.from_ical(ics)
    assert str(calendar["method"]) == "PUBLISH"
    events = calendar.walk("VEVENT")
    assert [e.decoded("dtstart") for e in events] == [date(2022, 8, 25), date(2022, 9, 1)]
    assert str(events[0]["uid"]) == event_uid(first) == event_uid(same_deadline_other_rung)
    assert events[0].decoded("dtstamp") == NOW
    assert "Сертификаты о повышении квалификации" in str(events[0]["description"])
