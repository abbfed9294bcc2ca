"""The weekly summary: the dashboard mailed to the coordinator once per ISO week."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import OUTBOX
from tests.subjects import line_of
from workflow.errors import InputError
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.weekly import parse_weekday, summary_day, summary_key
from workflow.storage.tables import HEAD

Cli = Callable[..., Result]

CENTERS_CSV = (
    "code,name,municipality,cohort,email\n"
    "S1,МБОУ «Школа № 1»,Шуйский район,2021,s1@example.org\n"
    "S2,МБОУ «Школа № 2»,Кинешемский район,2021,s2@example.org\n"
)


@pytest.fixture
def mail_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "mail"
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(folder))
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
    return folder


@pytest.fixture
def two_centers(cli: Cli, stored: StoredRoadmap, tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(CENTERS_CSV, encoding="utf-8")
    assert cli("centers", "import", str(csv)).exit_code == 0


def _summaries(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (r.key, r.recipient, r.status)
            for r in conn.execute(
                sa.select(OUTBOX.c.key, OUTBOX.c.recipient, OUTBOX.c.status)
                .where(OUTBOX.c.kind == "summary")
                .order_by(OUTBOX.c.id)
            )
        ]


def _tick(cli: Cli, day: str) -> dict[str, object]:
    result = cli("--json", "--now", day, "tick")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert isinstance(report, dict)
    return report


def test_on_mondays_by_default_and_off_with_net(
    cli: Cli, engine: Engine, two_centers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On by default (Monday): it is where long-overdue items go once the ladder stops;
    «нет» turns it off."""
    monkeypatch.delenv("TOCHKA_WEEKLY_SUMMARY", raising=False)
    assert _tick(cli, "2021-03-01")["summaries_queued"] == 1
    assert [s[0] for s in _summaries(engine)] == ["ivanovo-2021-2023:summary:2021-03-01"]
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "нет")
    assert _tick(cli, "2021-03-08")["summaries_queued"] == 0
    assert len(_summaries(engine)) == 1


def test_once_per_week_from_the_chosen_day(
    cli: Cli, engine: Engine, two_centers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "ср")
    # Switched on on a Monday: the first tick sends the current one (of Wed 24.02).
    assert _tick(cli, "2021-03-01")["summaries_queued"] == 1
    assert _tick(cli, "2021-03-02")["summaries_queued"] == 0
    # Wednesday: the new one; again on Wednesday and on Friday: not again.
    assert _tick(cli, "2021-03-03")["summaries_queued"] == 1
    assert _tick(cli, "2021-03-03")["summaries_queued"] == 0
    assert _tick(cli, "2021-03-05")["summaries_queued"] == 0
    # No tick on Wednesday 10.03: Thursday catches up; then the next Wednesday.
    assert _tick(cli, "2021-03-11")["summaries_queued"] == 1
    assert _tick(cli, "2021-03-17")["summaries_queued"] == 1
    # Down for three weeks: only the latest one, not a backlog.
    assert _tick(cli, "2021-04-09")["summaries_queued"] == 1
    expected = [
        (f"ivanovo-2021-2023:summary:{day}", "coordinator@example.org", "pending")
        for day in ("2021-02-24", "2021-03-03", "2021-03-10", "2021-03-17", "2021-04-07")
    ]
    assert _summaries(engine) == expected


def test_a_saturday_summary_goes_with_mondays_tick(
    cli: Cli, engine: Engine, two_centers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon does not tick on weekends: a Saturday letter goes out on Monday."""
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "сб")
    assert _tick(cli, "2021-03-05")["summaries_queued"] == 1  # switched on: Sat 27.02's
    assert _tick(cli, "2021-03-09")["summaries_queued"] == 1  # 08.03 a holiday: Tuesday
    assert _tick(cli, "2021-03-10")["summaries_queued"] == 0
    assert [k for k, _, _ in _summaries(engine)] == [
        "ivanovo-2021-2023:summary:2021-02-27",
        "ivanovo-2021-2023:summary:2021-03-06",
    ]


def _letters(folder: Path) -> list[EmailMessage]:
    out = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        out.append(message)
    return out


def test_the_letter_word_for_word_with_the_dashboard_attached(
    cli: Cli,
    engine: Engine,
    two_centers: None,
    mail_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "понедельник")
    text = cli("--now", "2021-03-01", "tick")
    assert text.exit_code == 0, text.output
    assert "Еженедельная сводка поставлена в очередь." in " ".join(text.output.split())
    assert cli("--now", "2021-03-01T10:00:00+03:00", "outbox", "send").exit_code == 0

    # The coordinator's one letter of the day: the summary, its reminders of the day in it.
    (letter,) = [m for m in _letters(mail_dir) if "coordinator@example.org" in str(m["To"])]
    # (The count of overdue measures: test_subject_and_body_count_the_open_centers_alike;
    # here it does not fit beside the reference token.)
    assert line_of(str(letter["Subject"])) == (
        "Сводка «Точка роста» на 01.03.2021 и 3 напоминания: открыто 0 центров из 2"
    )
    assert [a.addr_spec for a in letter["To"].addresses] == ["coordinator@example.org"]
    assert letter["Cc"] is None
    assert letter["Auto-Submitted"] == "auto-generated"
    body = letter.get_body(("plain",))
    assert body is not None
    lines = body.get_content().splitlines()
    assert lines[:3] == [
        "Добрый день!",
        "",
        "Сроки на 1 марта 2021 г.: 3 напоминания, из них просрочено 2, со сроком сегодня 1. "
        "Что сделать и что направить — в каждом пункте; ниже — еженедельная сводка.",
    ]
    assert "3. Объявление закупок товаров, работ, услуг для создания центров «Точка роста»" in (
        lines
    )
    start = lines.index("Еженедельная сводка по дорожной карте на 1 марта 2021 г.")
    assert lines[start - 2 : start + 15] == [
        "Напоминания о просрочке по пунктам 1 и 2 на этом заканчиваются: дальше эти пункты "
        "будут только в еженедельной сводке.",
        "",
        "Еженедельная сводка по дорожной карте на 1 марта 2021 г.",
        "",
        "Центров: 2; открыты (работают или отчитываются): 0; отстают от сроков этапов: 0.",
        "",
        "Центры по этапам:",
        "  запланирован: 2",
        "  инфраструктурный лист согласован: 0",
        "  оснащён: 0",
        "  персонал обучен: 0",
        "  открыт: 0",
        "  отчитывается: 0",
        "  исключён: 0",
        "",
        "За неделю с 22.02.2021 по 28.02.2021 этапы центров не отмечались.",
        "",
    ]
    # Past the four weekly overdue reminders: nobody is reminded, the summary says so. A
    # measure's title is cut on a word boundary; its deadline and days never.
    overdue = _section(lines, "Просроченные мероприятия")
    assert overdue[0] == f"Просроченные мероприятия ({len(overdue) - 1}):"
    assert overdue[-2:] == [
        "  - Мероприятие № 2 (2020 г.): Утверждение: 1) должностного лица в составе"
        " регионального ведомственного…: срок 23 декабря 2020 г.,"
        " просрочено на 68 дней (напоминания прекращены)",
        "  - Мероприятие № 4 (2020 г.): Заключение соглашения о предоставлении из федерального"
        " бюджета бюджету…: срок 30 декабря 2020 г., просрочено на 61 день"
        " (напоминания прекращены)",
    ]
    assert _section(lines, "Сроки на ближайшие") == [
        "Сроки на ближайшие 30 дней:",
        "  - 1 марта 2021 г. (сегодня): Мероприятие № 5 за 2021 г.: Объявление закупок товаров,"
        " работ, услуг для создания центров «Точка роста»",
    ]
    assert (
        "Полная сводка с диаграммами — во вложении (svodka-2021-03-01.html): откройте её в "
        "браузере; она печатается на листах A4."
    ) in lines
    html = letter.get_body(("html",))
    assert html is not None
    assert overdue[0] in html.get_content()
    # The audit chain head, in the form `tochka audit verify --expect SEQ:HASH` takes.
    with engine.connect() as conn:
        seq, head = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash)).one()
    assert f"Журнал: {seq}:{head}" in lines
    assert len(head) == 64
    assert f"{seq}:{head}" in html.get_content()

    # The dashboard, and the calendar of the reminders folded in.
    attachments = {a.get_filename(): a for a in letter.iter_attachments()}
    assert sorted(attachments) == ["sroki.ics", "svodka-2021-03-01.html"]
    attachment = attachments["svodka-2021-03-01.html"]
    assert attachment.get_content_type() == "text/html"
    assert attachment.get_content_charset() == "utf-8"
    # The attachment is the dashboard `report status` writes for the same moment.
    page = tmp_path / "status.html"
    made = cli("--now", "2021-03-01", "report", "status", "-o", str(page))
    assert made.exit_code == 0, made.output
    assert attachment.get_content() == page.read_text(encoding="utf-8")


@pytest.mark.parametrize("setting", ["someday", "8", "понедельникк"])
def test_a_bad_setting_is_refused_before_anything_changes(
    cli: Cli, engine: Engine, two_centers: None, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", setting)
    result = cli("--now", "2021-03-01", "tick")
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert f"weekly_summary (TOCHKA_WEEKLY_SUMMARY): «{setting}» — не день недели." in message
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar() == 0
    monkeypatch.delenv("TOCHKA_WEEKLY_SUMMARY")
    assert _tick(cli, "2021-03-01")["cycles_created"] == 4  # the failed tick created none


def test_weekday_names_and_keys() -> None:
    assert [parse_weekday(t) for t in ("пн", "Вторник", "WED", "4", "пт", "сб", "Sunday")] == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    assert [parse_weekday(t) for t in ("", " ", "нет", "off")] == [None, None, None, None]
    with pytest.raises(InputError):
        parse_weekday("середина недели")
    from datetime import date

    # The latest chosen day on or before today (03.01.2021 is a Sunday).
    assert summary_day(date(2021, 1, 3), 1) == date(2020, 12, 28)
    assert summary_day(date(2021, 1, 4), 1) == date(2021, 1, 4)
    assert summary_day(date(2021, 1, 4), 7) == date(2021, 1, 3)
    assert summary_key("r", date(2021, 1, 4)) == "r:summary:2021-01-04"


def test_the_daemon_refuses_to_start_with_a_bad_setting(
    cli: Cli, engine: Engine, two_centers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "каждый день")
    result = cli("daemon", "run")
    assert result.exit_code == 1
    assert "«каждый день» — не день недели" in " ".join(result.output.split())
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar() == 0


# --- Issue 12: the summary as the department reads it ------------------------------------

LONG_NAME = (
    "Муниципальное бюджетное общеобразовательное учреждение «Средняя общеобразовательная "
    "школа имени Героя Советского Союза И. И. Иванова»"
)
LATE_CSV = (
    "code,name,municipality,cohort,email\n"
    "K1,МКОУ «Китовская СШ»,Шуйский район,2021,k1@example.org\n"
    f'L1,"{LONG_NAME.replace(chr(34), chr(34) * 2)}",Кинешемский район,2021,l1@example.org\n'
    "R1,МБОУ «Школа № 3»,Шуйский район,2021,r1@example.org\n"
)
#: The department's letters end so: no «Вопросы — … по адресу <its own address>».
OWN_FOOTER = [
    "--",
    "Департамент образования Ивановской области",
    "",
    "Письмо отправлено автоматически системой Tochka.",
]


def _set_state(engine: Engine, code: str, state: str) -> None:
    """Test set-up: a center moved to a state directly (the summary only reads states)."""
    from workflow.storage.tables import CENTER

    with engine.begin() as conn:
        conn.execute(sa.update(CENTER).where(CENTER.c.code == code).values(state=state))


def _summary_letter(
    cli: Cli, engine: Engine, mail_dir: Path, tmp_path: Path, day: str, send: str = ""
) -> tuple[str, list[str], str]:
    """The subject, the plain-text lines and the HTML of the summary queued on ``day``."""
    csv = tmp_path / "late.csv"
    csv.write_text(LATE_CSV, encoding="utf-8")
    assert cli("centers", "import", str(csv)).exit_code == 0
    _set_state(engine, "K1", "equipped")  # owes the staff training and the opening
    _set_state(engine, "R1", "reporting")  # open and reporting: counted as open
    result = cli("--now", day, "tick")
    assert result.exit_code == 0, result.output
    sent = cli("--now", send or f"{day}T10:00:00+03:00", "outbox", "send")
    assert sent.exit_code == 0, sent.output
    (letter,) = [m for m in _letters(mail_dir) if str(m["Subject"]).startswith("Сводка")]
    plain, html = letter.get_body(("plain",)), letter.get_body(("html",))
    assert plain is not None
    assert html is not None
    return str(letter["Subject"]), plain.get_content().splitlines(), html.get_content()


def _section(lines: list[str], head: str) -> list[str]:
    """The lines of the section starting with ``head``, up to the blank line after it."""
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    end = lines.index("", start)
    return lines[start:end]


def _html_items(html: str, head: str) -> list[str]:
    """The text of the HTML paragraph starting with ``head`` and of its list (tags
    stripped, entities decoded), as the plain-text part writes them."""
    import html as html_lib
    import re

    start = html.index(head)
    end = html.index("<p", html.index("</ul>", start))
    chunk = html[start:end]
    texts = [re.sub(r"<[^>]+>", "", part) for part in re.split(r"</li>|</p>", chunk)]
    return [html_lib.unescape(t.strip()) for t in texts if t.strip()]


def test_a_long_overdue_center_is_one_line_with_its_first_stage_named_as_the_action(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    mail_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One line per center (not one per late stage): «центр «Точка роста» на базе …
    (район)», its earliest unmet stage as what is to be done, the deadline and days late
    after a dash, the count of its other late stages in agreement; only the school's name
    is ever shortened, on a word boundary; the HTML part says the same."""
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "пн")
    _, lines, html = _summary_letter(cli, engine, mail_dir, tmp_path, "2021-09-27")
    section = _section(lines, "Центры, отстающие давно")
    assert section == [
        "Центры, отстающие давно (2): напоминания прекращены после 4 напоминаний о просрочке,"
        " решите вопрос напрямую:",
        "  - Центр «Точка роста» на базе Муниципальное бюджетное общеобразовательное учреждение"
        " «Средняя…» (Кинешемский район): оснащение центра — срок 25 августа 2021 г.,"
        " просрочено на 33 дня; просрочены ещё 2 этапа",
        "  - Центр «Точка роста» на базе МКОУ «Китовская СШ» (Шуйский район): обучение педагогов"
        " центра — срок 25 августа 2021 г., просрочено на 33 дня; просрочен ещё 1 этап",
    ]
    assert _html_items(html, '<p><strong style="color:#c62828">Центры, отстающие давно') == [
        line.removeprefix("  - ") for line in section
    ]
    # A measure's title is cut on a word boundary, its deadline and days never.
    assert (
        "  - Мероприятие № 2 (2020 г.): Утверждение: 1) должностного лица в составе регионального"
        " ведомственного…: срок 23 декабря 2020 г., просрочено на 278 дней (напоминания"
        " прекращены)"
    ) in lines


def test_the_header_counts_every_long_overdue_center_not_only_those_listed(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    mail_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "пн")
    monkeypatch.setattr("workflow.schedule.weekly.SILENCED_SHOWN", 1)
    _, lines, html = _summary_letter(cli, engine, mail_dir, tmp_path, "2021-09-27")
    section = _section(lines, "Центры, отстающие давно")
    assert section[0].startswith("Центры, отстающие давно (2): ")
    assert section[2:] == [
        "  и ещё 1 центр: все отстающие центры — в полной сводке во вложении",
    ]
    assert len(section) == 3
    assert "Центры, отстающие давно (2):" in html
    assert "<p>и ещё 1 центр: все отстающие центры — в полной сводке во вложении</p>" in html


def test_subject_and_body_count_the_open_centers_alike(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    mail_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reporting center is open: the subject, the body's first line and the per-stage
    counts say the same; the letter to the department does not ask it to write to itself."""
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "пн")
    subject, lines, html = _summary_letter(cli, engine, mail_dir, tmp_path, "2021-09-27")
    overdue = _section(lines, "Просроченные мероприятия")
    count = len(overdue) - 1
    assert overdue[0] == f"Просроченные мероприятия ({count}):"
    # The figures of the body's first lines; with the day's reminders folded in, the
    # subject keeps the leading figures that fit (the full set: test_the_subject_agrees…).
    assert line_of(subject) == (
        "Сводка на 27.09.2021 и 12 напоминаний: открыт 1 центр из 3, отстают 2"
    )
    assert "Центров: 3; открыты (работают или отчитываются): 1; отстают от сроков этапов: 2." in (
        lines
    )
    assert "  отчитывается: 1" in lines
    assert "открыты (работают или отчитываются): <strong>1</strong>" in html
    # The calendar of the reminders folded in is attached, and the footer says so.
    assert lines[-4:] == [
        *OWN_FOOTER[:-1],
        "Письмо отправлено автоматически системой Tochka; срок в календаре — во вложении (.ics).",
    ]
    assert "Вопросы" not in html


@pytest.mark.parametrize(
    ("opened", "total", "late", "overdue", "expected"),
    [
        (
            1,
            3,
            2,
            6,
            "Сводка на 28.09.2021: открыт 1 центр из 3, отстают 2, просрочено 6 мероприятий",
        ),
        (
            2,
            3,
            1,
            2,
            "Сводка на 28.09.2021: открыты 2 центра из 3, отстаёт 1, просрочены 2 мероприятия",
        ),
        (0, 2, 0, 0, "Сводка «Точка роста» на 28.09.2021: открыто 0 центров из 2"),
        (
            21,
            40,
            0,
            1,
            "Сводка на 28.09.2021: открыт 21 центр из 40, просрочено 1 мероприятие",
        ),
    ],
)
def test_the_subject_agrees_with_its_numbers(
    opened: int, total: int, late: int, overdue: int, expected: str
) -> None:
    from datetime import date

    from notifications.render import Renderer
    from notifications.summary import SummaryLine, WeeklySummary
    from notifications.values import Recipient

    line = SummaryLine(title="Мероприятие", due=date(2021, 9, 1), days=27)
    summary = WeeklySummary(
        key="k",
        recipient=Recipient(email="coordinator@example.org", name="Департамент"),
        reply_to="coordinator@example.org",
        roadmap_title="Дорожная карта",
        as_of=date(2021, 9, 28),
        total_centers=total,
        opened_centers=opened,
        late_centers=late,
        stages=(),
        overdue=(line,) * overdue,
    )
    letter = Renderer().render_summary(summary)
    assert letter.subject == expected
    assert (
        f"Центров: {total}; открыты (работают или отчитываются): {opened}; отстают от сроков"
        f" этапов: {late}."
    ) in letter.text.splitlines()


def test_a_summary_queued_late_is_dated_by_its_figures(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    mail_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Monday 08.03.2021 is a holiday: Monday's summary is queued on Tuesday with Tuesday's
    figures, and sent on Thursday; subject, body and attachment all say 09.03."""
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "пн")
    subject, lines, html = _summary_letter(
        cli, engine, mail_dir, tmp_path, "2021-03-09", send="2021-03-11T10:00:00+03:00"
    )
    assert [k for k, _, _ in _summaries(engine)] == ["ivanovo-2021-2023:summary:2021-03-08"]
    assert subject.startswith("Сводка «Точка роста» на 09.03.2021 и 3 напоминания: ")
    assert "Еженедельная сводка по дорожной карте на 9 марта 2021 г." in lines
    assert "<title>Сводка на 9 марта 2021 г.</title>" in html
    assert any("(svodka-2021-03-09.html)" in line for line in lines)


def test_only_a_letter_to_someone_else_asks_for_questions_to_the_reply_address() -> None:
    """The footer's «Вопросы — … по адресу X» is for those who write to X, not for X."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from notifications.render import Renderer, sample_reminders
    from notifications.values import Recipient

    now = datetime(2022, 8, 22, 9, 0, tzinfo=UTC)
    school = sample_reminders(now)[0]
    ask = "Вопросы — ответом на это письмо или по адресу coordinator@example.org."
    renderer = Renderer()
    to_school = renderer.render_reminders([school], now=now)
    assert ask in to_school.text.splitlines()
    assert "Вопросы — ответом на это письмо или по адресу <a href" in to_school.html
    own = replace(school, recipient=Recipient(email="Coordinator@Example.org", name="Департамент"))
    for letter in (
        renderer.render_reminders([own], now=now),
        renderer.render_reminders([own, replace(own, key="second", title="Другое")], now=now),
    ):
        assert "Вопросы" not in letter.text
        assert "Вопросы" not in letter.html
        assert letter.text.rstrip().splitlines()[-3:] == [
            "Адрес: г. Иваново",
            "",
            "Письмо отправлено автоматически системой Tochka; срок в календаре — во вложении"
            " (.ics).",
        ]


def _coordinator_rows(engine: Engine) -> list[sa.Row]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(OUTBOX.c.id, OUTBOX.c.key, OUTBOX.c.kind, OUTBOX.c.digest_group)
                .where(OUTBOX.c.recipient == "coordinator@example.org")
                .order_by(OUTBOX.c.id)
            )
        )


def _coordinator_reminders(engine: Engine) -> list[tuple[str, int, str]]:
    from notifications.outbox import REMINDER

    with engine.connect() as conn:
        return [
            (r.send_on.isoformat(), int(r.outbox_id), str(r.key))
            for r in conn.execute(
                sa.select(REMINDER.c.send_on, REMINDER.c.outbox_id, REMINDER.c.key)
                .where(REMINDER.c.recipient == "coordinator@example.org")
                .order_by(REMINDER.c.id)
            )
        ]


def test_the_summary_is_the_coordinators_one_letter_of_its_day(
    cli: Cli, engine: Engine, two_centers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Monday the coordinator's digest is folded into the summary: one letter, whose row
    the day's reminder records point at; a reminder that comes later that day goes to the
    next day's letter, the summary is never amended nor doubled."""
    from notifications.queue import digest_group

    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "пн")
    report = _tick(cli, "2021-03-01")
    assert report["summaries_queued"] == 1
    (summary,) = _coordinator_rows(engine)
    assert summary.kind == "summary"
    assert summary.key == "ivanovo-2021-2023:summary:2021-03-01"
    assert summary.digest_group == digest_group("coordinator@example.org", date(2021, 3, 1))
    monday = _coordinator_reminders(engine)
    assert len(monday) == 3
    assert {(day, outbox_id) for day, outbox_id, _key in monday} == {("2021-03-01", summary.id)}
    # The same tick again: nothing new.
    assert _tick(cli, "2021-03-01T15:00:00+03:00")["summaries_queued"] == 0
    assert _coordinator_rows(engine) == [summary]
    # A cycle opened that afternoon, due in two days: its reminder joins Tuesday's letter.
    opened = cli("--now", "2021-03-01T16:00:00+03:00", "cycles", "open", "3", "--due", "2021-03-03")
    assert opened.exit_code == 0, opened.output
    assert _tick(cli, "2021-03-01T16:05:00+03:00")["reminders_queued"] > 0
    summary_row, tuesday = _coordinator_rows(engine)
    assert summary_row == summary
    assert tuesday.kind == "digest"
    assert tuesday.key.startswith("digest:2021-03-02:")
    later = [r for r in _coordinator_reminders(engine) if r not in monday]
    assert later
    assert {(day, outbox_id) for day, outbox_id, _key in later} == {("2021-03-02", tuesday.id)}


def test_after_the_days_letter_has_left_the_summary_waits_a_day(
    cli: Cli, engine: Engine, two_centers: None, mail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Monday's digest was sent before the summary was due (the summary switched on in the
    afternoon): no second letter that day; Tuesday's tick queues the week's summary, with
    Tuesday's reminders folded in if there are any."""
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "нет")
    assert _tick(cli, "2021-03-01")["reminders_queued"] > 0
    assert cli("--now", "2021-03-01T10:00:00+03:00", "outbox", "send").exit_code == 0
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "пн")
    assert _tick(cli, "2021-03-01T15:00:00+03:00")["summaries_queued"] == 0
    assert [r.kind for r in _coordinator_rows(engine)] == ["digest"]
    assert _tick(cli, "2021-03-02")["summaries_queued"] == 1
    assert [(r.kind, r.key) for r in _coordinator_rows(engine)] == [
        ("digest", _coordinator_rows(engine)[0].key),
        ("summary", "ivanovo-2021-2023:summary:2021-03-01"),
    ]


def test_the_week_marks_are_listed_for_the_coordinator(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    mail_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The school's notice has no copy to the coordinator; the summary lists the week's
    marks (what, school, date, who), those of its own day next week."""
    monkeypatch.setenv("TOCHKA_WEEKLY_SUMMARY", "пн")
    csv = tmp_path / "c.csv"
    csv.write_text(CENTERS_CSV, encoding="utf-8")
    steps = [
        ("2021-02-01T09:00:00+03:00", ["centers", "import", str(csv)]),
        (
            "2021-02-01T09:01:00+03:00",
            ["users", "add", "operator", "--role", "coordinator"]
            + ["--name", "Смирнова Ольга Петровна"],
        ),
        ("2021-02-24T11:00:00+03:00", ["centers", "fire", "S1", "agree_infrastructure"]),
        ("2021-02-26T11:00:00+03:00", ["centers", "fire", "S2", "agree_infrastructure"]),
        ("2021-02-26T12:00:00+03:00", ["centers", "fire", "S2", "revert", "--comment", "ошибка"]),
        ("2021-03-01T08:00:00+03:00", ["centers", "fire", "S2", "agree_infrastructure"]),
    ]
    for now, args in steps:
        done = cli("--now", now, *args)
        assert done.exit_code == 0, done.output
    with engine.connect() as conn:
        notices = list(conn.execute(sa.select(OUTBOX.c.envelope).where(OUTBOX.c.kind == "notice")))
    # To the schools only; S2's two marks of 26.02 in one letter.
    assert sorted(r.envelope for r in notices) == [
        "s1@example.org",
        "s2@example.org",
        "s2@example.org",
    ]
    assert _tick(cli, "2021-03-01")["summaries_queued"] == 1
    assert cli("--now", "2021-03-01T10:00:00+03:00", "outbox", "send").exit_code == 0
    (letter,) = [m for m in _letters(mail_dir) if str(m["Subject"]).startswith("Сводка")]
    plain = letter.get_body(("plain",))
    assert plain is not None
    lines = plain.get_content().splitlines()
    assert _section(lines, "Отмечено за неделю") == [
        "Отмечено за неделю с 22.02.2021 по 28.02.2021 (3):",
        "  - Инфраструктурный лист согласован: МБОУ «Школа № 1» (Шуйский район), 24 февраля"
        " 2021 г.; кто отметил: Смирнова Ольга Петровна, координатор",
        "  - Инфраструктурный лист согласован: МБОУ «Школа № 2» (Кинешемский район), 26"
        " февраля 2021 г.; кто отметил: Смирнова Ольга Петровна, координатор",
        "  - Отметка этапа «инфраструктурный лист согласован» отменена: МБОУ «Школа № 2»"
        " (Кинешемский район), 26 февраля 2021 г.; кто отметил: Смирнова Ольга Петровна,"
        " координатор",
    ]
    html = letter.get_body(("html",))
    assert html is not None
    assert "Отмечено за неделю с 22.02.2021 по 28.02.2021 (3):" in html.get_content()
    # Monday's own mark (before the tick) is next week's.
    assert "01.03.2021" not in "\n".join(_section(lines, "Отмечено за неделю"))
