"""The weekly summary: the dashboard mailed to the coordinator once per ISO week."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import OUTBOX
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

    (letter,) = [m for m in _letters(mail_dir) if str(m["Subject"]).startswith("Сводка")]
    assert str(letter["Subject"]) == (
        "Сводка «Точка роста» на 01.03.2021: открыто 0 из 2, просрочено: 3 мероприятия"
    )
    assert [a.addr_spec for a in letter["To"].addresses] == ["coordinator@example.org"]
    assert letter["Cc"] is None
    assert letter["Auto-Submitted"] == "auto-generated"
    body = letter.get_body(("plain",))
    assert body is not None
    lines = body.get_content().splitlines()
    assert lines[:22] == [
        "Добрый день!",
        "",
        "Еженедельная сводка по дорожной карте на 1 марта 2021 г.",
        "",
        "Центров: 2; открыто: 0; отстают от сроков этапов: 0.",
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
        # Past the four weekly overdue reminders: nobody is reminded, the summary says so.
        "Просроченные мероприятия (3):",
        "  - Мероприятие № 1 (2020 г.): Определение регионального координатора - органа"
        " исполнительной власти Ивановской о…: срок 7 декабря 2020 г., просрочено на 84 дня"
        " (напоминания прекращены)",
        "  - Мероприятие № 2 (2020 г.): Утверждение: 1) должностного лица в составе"
        " регионального ведомственного проектног…: срок 23 декабря 2020 г.,"
        " просрочено на 68 дней (напоминания прекращены)",
        "  - Мероприятие № 4 (2020 г.): Заключение соглашения о предоставлении из федерального"
        " бюджета бюджету Ивановской…: срок 30 декабря 2020 г., просрочено на 61 день"
        " (напоминания прекращены)",
        "",
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
    assert "Просроченные мероприятия (3):" in html.get_content()
    # The audit chain head, in the form `tochka audit verify --expect SEQ:HASH` takes.
    with engine.connect() as conn:
        seq, head = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash)).one()
    assert f"Журнал: {seq}:{head}" in lines
    assert len(head) == 64
    assert f"{seq}:{head}" in html.get_content()

    (attachment,) = list(letter.iter_attachments())
    assert attachment.get_filename() == "svodka-2021-03-01.html"
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
