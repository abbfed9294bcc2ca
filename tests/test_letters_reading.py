"""Letters as a school director or a municipality official reads them (issue 12, review).

Exact text for each point the review found: a digest numbered across its date groups and
its count said as a sentence; a notice that lists documents only when some were recorded
and is dated by the event's effective day; the quarterly monitoring letter to a school
naming the school and the quarter in its subject and listing the values already in; the
last overdue letter that promises the weekly summary only when it is sent, and says
nothing untrue when a daemon down for weeks sends the ladder's last rung first; Russian
quotation marks nested „…“ inside «…». Plain text and HTML say the same.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER
from notifications.render import Renderer, counts_text
from notifications.signature import Signature
from notifications.values import Notice, Recipient, Reminder, Rung
from tests.conftest import T0, make_rows
from tests.subjects import line_of
from tests.test_tick import REAL, Recorder, at
from workflow.engine import centers
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.notices import center_notice_hook, headline
from workflow.schedule.reconcile import tick
from workflow.schedule.weekly import WeeklyPlan

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)  # 09:00 in Moscow
SIGNATURE = Signature(department="Департамент образования Ивановской области")
COORDINATOR = Recipient(email="coordinator@example.org", name="Департамент образования")
SCHOOL = Recipient(email="school1@example.org", name="МБОУ «Фурмановская СОШ № 1»")

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


def _reminder(**overrides: Any) -> Reminder:
    values: dict[str, Any] = {
        "key": "r:1",
        "send_on": date(2022, 8, 22),
        "recipient": SCHOOL,
        "rung": Rung.BEFORE,
        "days": 3,
        "deadline": date(2022, 8, 25),
        "subject_kind": "center_stage",
        "stage": "equipped",
        "title": "Центр «Точка роста»: этап «оснащён» (Оснащение центров)",
        "roadmap_title": "Дорожная карта",
        "measure_number": 7,
        "center_code": "IV-001",
        "center_name": "МБОУ «Фурмановская СОШ № 1»",
        "municipality": "Фурмановский район",
        "period": "2022",
        "reply_to": COORDINATOR.email,
        "signature": SIGNATURE,
        "role": "school",
        "action": "Завершите оснащение центра.",
        "how": "Ответьте на это письмо.",
    }
    values.update(overrides)
    return Reminder(**values)


def _html_text(page: str) -> str:
    """The HTML part's words, tags dropped, spaces joined (to compare with the text)."""
    inline = re.sub(r"</?(strong|em|a|code)\b[^>]*>", "", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def _words(text: str) -> str:
    return " ".join(text.split())


# --- 1. the digest ----------------------------------------------------------------------


def _digest_reminders() -> list[Reminder]:
    return [
        _reminder(key="a", rung=Rung.OVERDUE, days=7, deadline=date(2022, 8, 15), measure_number=5),
        _reminder(key="b", deadline=date(2022, 8, 25), measure_number=6),
        _reminder(key="c", deadline=date(2022, 8, 25), measure_number=7),
    ]


def test_the_digest_numbers_its_items_across_the_date_groups(renderer: Renderer) -> None:
    letter = renderer.render_reminders(_digest_reminders(), now=NOW)
    assert letter.kind == "digest"
    assert re.findall(r"^(\d+)\. ", letter.text, flags=re.M) == ["1", "2", "3"]
    assert "== 15 августа 2022 г. — просрочено на 7 дней ==\n\n1. Центр" in letter.text
    assert "== 25 августа 2022 г. — через 3 дня ==\n\n2. Центр" in letter.text
    assert re.findall(r'<ol start="(\d+)">', letter.html) == ["1", "2"]


def test_the_digest_says_its_count_as_a_sentence(renderer: Renderer) -> None:
    letter = renderer.render_reminders(_digest_reminders(), now=NOW)
    said = (
        "Сводка сроков дорожной карты на 22 августа 2022 г.: 3 напоминания, из них "
        "просрочено 1, с приближающимся сроком 2. Что сделать и что направить — в каждом пункте."
    )
    assert said in letter.text
    assert said in _html_text(letter.html)
    assert (
        letter.subject
        == "Сроки на 22.08.2022: 3 напоминания, просрочено 1 — МБОУ «Фурмановская СОШ № 1»"
    )
    assert counts_text({"upcoming": 4}, 4) == "4 напоминания, все с приближающимся сроком"
    assert counts_text({"overdue": 2, "today": 1, "upcoming": 2}, 5) == (
        "5 напоминаний, из них просрочено 2, со сроком сегодня 1, с приближающимся сроком 2"
    )


def test_names_in_the_letters_nest_their_quotes(renderer: Renderer) -> None:
    nested = "МБОУ «СОШ «Радуга» № 2»"
    reminders = [
        _reminder(key=k, center_name=nested, recipient=Recipient(email="s@x.org", name=nested))
        for k in ("a", "b")
    ]
    letter = renderer.render_reminders(reminders, now=NOW)
    assert "  Центр: МБОУ «СОШ „Радуга“ № 2» (код IV-001), Фурмановский район\n" in letter.text
    assert "Центр: МБОУ «СОШ „Радуга“ № 2» (код IV-001)" in _html_text(letter.html)
    assert "««" not in letter.text
    assert "»»" not in letter.text


# --- 2. the notice ----------------------------------------------------------------------


def _notice(**overrides: Any) -> Notice:
    values: dict[str, Any] = {
        "key": "n:1",
        "recipient": SCHOOL,
        "cc": (COORDINATOR,),
        "headline": "Инфраструктурный лист согласован",
        "entity": "центр «Точка роста» на базе МБОУ «Фурмановская СОШ № 1»",
        "from_state": "запланирован",
        "to_state": "инфраструктурный лист согласован",
        "effective_date": date(2021, 2, 15),
        "actor": "Смирнова Ольга Петровна, координатор",
        "roadmap_title": "Дорожная карта",
        "center_code": "IV-001",
        "center_name": "МБОУ «Фурмановская СОШ № 1»",
        "municipality": "Фурмановский район",
        "reply_to": COORDINATOR.email,
        "signature": SIGNATURE,
    }
    values.update(overrides)
    return Notice(**values)


NOTICE_HEAD = """\
Добрый день!

Инфраструктурный лист согласован: центр «Точка роста» на базе МБОУ «Фурмановская СОШ № 1».

Муниципалитет: Фурмановский район
Код центра: IV-001
Состояние: запланирован → инфраструктурный лист согласован
Дата: 15 февраля 2021 г.
Кто отметил: Смирнова Ольга Петровна, координатор
"""


def test_a_notice_without_documents_has_no_documents_line(renderer: Renderer) -> None:
    letter = renderer.render_notice(_notice(), now=NOW)
    assert letter.subject == (
        "Инфраструктурный лист согласован — МБОУ «Фурмановская СОШ № 1» (15.02.2021)"
    )
    assert letter.text.startswith(NOTICE_HEAD + "\n--\n")
    assert "Документы" not in letter.text
    assert "Документы" not in letter.html
    with_documents = renderer.render_notice(_notice(evidence=("письмо № 12",)), now=NOW)
    assert with_documents.text.startswith(NOTICE_HEAD + "Документы:\n  – письмо № 12\n\n--\n")
    assert "Документы письмо № 12" in _html_text(with_documents.html)


@SQLITE
def test_the_notice_is_dated_by_the_events_effective_day(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """Fired at 22:30 UTC on 14.02 (01:30 on 15.02 in Moscow), recorded years later:
    the subject and the «Дата» line say 15.02.2021, the day the event took effect."""
    rows = make_rows(1, cohort=2021)
    centers.import_centers(engine, stored, rows, filename="t.csv", actor="operator", now=T0)
    machine = TransitionEngine(
        engine,
        stored.definition,
        stored.id,
        clock=lambda: REAL,
        notice_hook=center_notice_hook(stored.definition, Renderer()),
    )
    machine.fire_center(
        rows[0].code,
        "agree_infrastructure",
        actor=Actor(login="operator"),
        now=datetime(2021, 2, 14, 22, 30, tzinfo=UTC),
    )
    with engine.connect() as conn:
        subject, raw = conn.execute(
            sa.select(OUTBOX.c.subject, OUTBOX_LETTER.c.message)
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.kind == "notice")
        ).one()
    assert subject.startswith("Инфраструктурный лист согласован — ")
    assert line_of(subject).endswith(" (15.02.2021)")
    letter = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(letter, EmailMessage)
    body = letter.get_body(("plain",))
    assert body is not None
    text = str(body.get_content()).replace("\r\n", "\n")
    assert "\nДата: 15 февраля 2021 г.\n" in text
    assert "Документы" not in text


# --- 3. the monitoring letter to a school -----------------------------------------------


def _monitoring(**overrides: Any) -> Reminder:
    values: dict[str, Any] = {
        "key": "m:1",
        "send_on": date(2021, 9, 28),
        "days": 3,
        "deadline": date(2021, 10, 1),
        "subject_kind": "measure",
        "stage": "",
        "title": "Проведение ежеквартального мониторинга выполнения показателей создания и "
        "функционирования центров «Точка роста»",
        "measure_number": 9,
        "center_code": None,
        "center_name": None,
        "municipality": None,
        "period": "2021-Q3",
        "period_title": "III квартал 2021 г.",
        "action": "Сдайте значения показателей центра за III квартал 2021 г.",
        "missing": ("Численность обучающихся по предмету «Технология», чел.",),
        "received": ("Численность обучающихся естественно-научной направленности — 40 чел.",),
        "how": "Ответьте на это письмо, указав по строке на показатель его название и "
        "значение: ответ получит Департамент образования (coordinator@example.org).",
    }
    values.update(overrides)
    return _reminder(**values)


MONITORING_BODY = """\
Проведение ежеквартального мониторинга выполнения показателей создания и функционирования центров «Точка роста»
  Мероприятие № 9, период: III квартал 2021 г.
  Срок: 1 октября 2021 г. — через 3 дня
  Что сделать: Сдайте значения показателей центра за III квартал 2021 г.
  Не сданы показатели (1):
    – Численность обучающихся по предмету «Технология», чел.
  Уже получены (1):
    – Численность обучающихся естественно-научной направленности — 40 чел.
  Как направить: Ответьте на это письмо, указав по строке на показатель его название и значение: ответ получит Департамент образования (coordinator@example.org).

--
Департамент образования Ивановской области
"""  # noqa: E501


def test_the_monitoring_letter_names_the_school_and_what_is_in(renderer: Renderer) -> None:
    letter = renderer.render_reminders([_monitoring()], now=datetime(2021, 9, 28, 6, 0, tzinfo=UTC))
    # The reference token's room kept (the composed letter adds it), the quarter goes first.
    assert letter.subject == "Через 3 дня: показатели — МБОУ «Фурмановская СОШ № 1» (01.10.2021)"
    assert MONITORING_BODY in letter.text
    page = _html_text(letter.html)
    assert (
        "Уже получены (1): Численность обучающихся естественно-научной направленности — 40 чел."
    ) in page
    assert "Не сданы показатели (1): Численность обучающихся по предмету «Технология», чел." in page


def test_a_long_school_name_is_kept_whole_in_the_monitoring_subject(renderer: Renderer) -> None:
    def subject(name: str) -> str:
        letter = renderer.render_reminders(
            [_monitoring(recipient=Recipient(email="s@x.org", name=name))],
            now=datetime(2021, 9, 28, 6, 0, tzinfo=UTC),
        )
        return letter.subject

    name = "МБОУ «Китовская СШ»"
    assert subject(name) == f"Через 3 дня: показатели за III кв. 2021 г. — {name} (01.10.2021)"
    name = "МБОУ «Китовская средняя школа»"
    assert subject(name) == f"Через 3 дня: показатели — {name} (01.10.2021)"
    name = "МБОУ «Средняя общеобразовательная школа № 12 г. Фурманова»"
    assert subject(name) == f"Через 3 дня: показатели — {name}"


# --- 4 and 5. the last overdue letter ----------------------------------------------------


def _last(**overrides: Any) -> Reminder:
    values: dict[str, Any] = {
        "rung": Rung.OVERDUE,
        "days": 28,
        "deadline": date(2022, 7, 25),
        "last_rung": True,
        "recipient": COORDINATOR,
        "subject_kind": "measure",
        "stage": "",
        "center_code": None,
        "center_name": None,
        "municipality": None,
        "role": "department",
        "action": "Выполните мероприятие и отметьте его выполненным в Tochka.",
        "how": "Отметка о выполнении и документы вносятся в Tochka.",
    }
    values.update(overrides)
    return _reminder(**values)


AT_SCHOOL: dict[str, Any] = {
    "recipient": SCHOOL,
    "role": "school",
    "subject_kind": "center_stage",
    "center_name": SCHOOL.name,
}
ENDS = "Напоминания о просрочке по этому пункту на этом заканчиваются: "


@pytest.mark.parametrize(
    ("overrides", "note"),
    [
        ({}, ENDS + "дальше пункт будет только в еженедельной сводке."),
        (
            {"weekly_summary": False},
            ENDS + "еженедельная сводка не рассылается, дальше срок контролирует координатор.",
        ),
        (
            {**AT_SCHOOL, "weekly_summary": False},
            ENDS + "дальше срок контролирует координатор.",
        ),
        (AT_SCHOOL, ENDS + "дальше срок контролирует координатор."),
    ],
)
def test_the_last_overdue_letter_says_where_the_item_goes(
    renderer: Renderer, overrides: dict[str, Any], note: str
) -> None:
    letter = renderer.render_reminders([_last(**overrides)], now=NOW)
    assert letter.kind == "reminder_overdue"
    assert f"\n{note}\n\n--\n" in letter.text
    assert note in _html_text(letter.html)
    assert "последнее" not in letter.text
    if overrides.get("weekly_summary") is False:
        assert "будет только в еженедельной сводке" not in letter.text


def test_a_digest_says_once_which_items_stop(renderer: Renderer) -> None:
    reminders = [
        _last(key="a", measure_number=2),
        _last(key="b", measure_number=4),
        _last(key="c", measure_number=5, last_rung=False, days=7),
    ]
    letter = renderer.render_reminders(reminders, now=NOW)
    note = (
        "Напоминания о просрочке по пунктам 1 и 2 на этом заканчиваются: "
        "дальше эти пункты будут только в еженедельной сводке."
    )
    assert letter.text.count("Напоминания о просрочке") == 1
    assert f"\n{note}\n\n--\n" in letter.text
    assert note in _html_text(letter.html)
    off = [_last(key=k, measure_number=n, weekly_summary=False) for k, n in (("a", 2), ("b", 4))]
    assert (
        "Напоминания о просрочке по пунктам 1 и 2 на этом заканчиваются: "
        "еженедельная сводка не рассылается, дальше срок контролирует координатор."
    ) in renderer.render_reminders(off, now=NOW).text


def _department_overdue(
    engine: Engine, stored: StoredRoadmap, weekly: WeeklyPlan | None
) -> Reminder:
    """The coordinator's reminder of measure 2 (due 23.12.2020) from a first tick on
    11.08.2021: the daemon was down all the time, the first overdue letter is the last."""
    queue = Recorder()
    tick(engine, stored, now=at("2021-08-11"), clock=lambda: REAL, queue=queue, weekly=weekly)
    department = stored.definition.party("department").email
    mine = [r for r in queue.items if r.measure_number == 2 and r.recipient.email == department]
    assert len(mine) == 1
    return mine[0]


@SQLITE
@pytest.mark.parametrize("summary", [True, False])
def test_the_tick_tells_the_letter_whether_the_summary_is_sent(
    engine: Engine, stored: StoredRoadmap, summary: bool
) -> None:
    weekly = WeeklyPlan(weekday=1, renderer=Renderer()) if summary else None
    reminder = _department_overdue(engine, stored, weekly)
    assert reminder.rung is Rung.OVERDUE
    assert reminder.last_rung  # caught up: the ladder's last rung is the first one sent
    assert reminder.weekly_summary is summary
    text = Renderer().render_reminders([reminder], now=at("2021-08-11")).text
    then = (
        "дальше пункт будет только в еженедельной сводке."
        if summary
        else "еженедельная сводка не рассылается, дальше срок контролирует координатор."
    )
    assert f"\n{ENDS}{then}\n" in text
    assert "последнее напоминание" not in text
    assert Reminder.from_json(reminder.to_json()) == reminder


def test_a_single_reminder_ends_with_one_blank_line(renderer: Renderer) -> None:
    letter = renderer.render_reminders([_reminder()], now=NOW)
    assert "Ответьте на это письмо.\n\n--\n" in letter.text


def test_a_notice_headline_names_the_stage() -> None:
    assert headline("equip", "infrastructure_agreed") == "Центр оснащён"
    assert headline("revert", "equipped") == "Отметка этапа «оснащён» отменена"
