"""The form of a letter: subject, greeting, signature, quotation marks, the page on a phone.

Bad input (issue 12): a school or municipality name with guillemets, «№», quotes,
``<script>``, newlines or 300 characters still gives a subject within `SUBJECT_LIMIT`
and intact headers, read by the strict RFC 2047 reader; a party without a contact name
is greeted correctly.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from notifications.headers import clean_text, envelope_headers
from notifications.letters import address_letter, compose
from notifications.reference import reference_token, with_reference
from notifications.render import (
    SUBJECT_HARD_LIMIT,
    SUBJECT_LIMIT,
    Renderer,
    greeting,
    item_what_forms,
    subject_line,
)
from notifications.russian import quoted, shorten, typographic_quotes
from notifications.signature import Signature
from notifications.values import Notice, Recipient, Reminder, Rung
from tests.notifications.strict2047 import expected_address, raw_headers, strict_decode

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
SIGNATURE = Signature(
    department="Департамент образования Ивановской области",
    contact="Иванова Анна Петровна, главный специалист",
)
LONG = "МБОУ «" + " ".join(["Средняя общеобразовательная школа"] * 12) + " № 1»"

#: Names of schools and municipalities as files write them, and worse.
BAD_NAMES = [
    "МБОУ «Фурмановская СОШ № 1»",
    'МБОУ "Васильевская СШ" имени "Героя"',
    "МБОУ «СОШ им. «Героя» № 3»",
    "МКОУ 'Китовская СШ'",
    "<script>alert('x')</script> МБОУ СОШ",
    "МБОУ\r\nBcc: evil@example.com СОШ",
    "МБОУ\nСОШ\u2028№\u00a05",
    "=?utf-8?q?=0D=0ABcc:_evil@example.com?= СОШ",
    "Ш" * 300,
    ("МБОУ Очень Длинное Название " * 12)[:300],
    LONG,
]


def _reminder(**overrides: object) -> Reminder:
    values: dict[str, object] = {
        "key": "r:1",
        "send_on": date(2022, 8, 22),
        "recipient": Recipient(email="school1@example.org", name="МБОУ «СОШ № 1»"),
        "rung": Rung.BEFORE,
        "days": 14,
        "deadline": date(2022, 9, 1),
        "subject_kind": "center_stage",
        "stage": "opened",
        "title": "Центр «Точка роста»: этап «Открыт» (Начало работы центров «Точка роста»)",
        "roadmap_title": "Дорожная карта",
        "measure_number": 8,
        "center_code": "IV-001",
        "center_name": "МБОУ Панинская СОШ",
        "municipality": "Фурмановский муниципальный район",
        "period": "2022",
        "reply_to": "coordinator@example.org",
        "signature": SIGNATURE,
    }
    values.update(overrides)
    return Reminder(**values)  # type: ignore[arg-type]


def _width(subject: str) -> int:
    """A subject's length in the letter: with the reference token `compose` adds."""
    return len(with_reference(subject, "r:1"))


def _letter(renderer: Renderer, reminder: Reminder) -> bytes:
    rendered = renderer.render_reminders([reminder], now=NOW)
    addressing = address_letter(reminder.recipient, reminder.cc, reminder.reply_to)
    raw = compose(rendered, addressing, key=reminder.key)
    return (
        envelope_headers(mail_from="tochka@tochka.local", key="k", date_header="x", letter=raw)
        + raw
    )


def test_subject_starts_with_what_and_who(renderer: Renderer) -> None:
    letter = renderer.render_reminders([_reminder()], now=NOW)
    assert letter.subject == "Через 10 дней: открытие центра — МБОУ Панинская СОШ (01.09.2022)"
    overdue = _reminder(rung=Rung.OVERDUE, days=7, deadline=date(2022, 8, 15))
    assert renderer.render_reminders([overdue], now=NOW).subject == (
        "Просрочено на 7 дней: открытие центра — МБОУ Панинская СОШ (15.08.2022)"
    )


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_any_school_name_gives_a_subject_in_the_limit_and_intact_headers(
    renderer: Renderer, name: str
) -> None:
    reminder = _reminder(
        center_name=name,
        recipient=Recipient(email="school1@example.org", name=name),
        municipality=name,
    )
    letter = _letter(renderer, reminder)
    headers = raw_headers(letter)  # one of each header, every line a header or folded
    assert set(headers) == {
        "from",
        "date",
        "message-id",
        "to",
        "reply-to",
        "subject",
        "auto-submitted",
        "mime-version",
        "content-type",
    }
    subject = strict_decode(headers["subject"])
    assert len(subject) <= SUBJECT_HARD_LIMIT, subject
    lead = "Через 10 дней: открытие центра — "
    assert subject.startswith(lead)
    assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]|=\?", subject)
    # The reference token ends the subject, within the limit; the line before it is judged.
    token = " " + reference_token(reminder.key)
    assert subject.endswith(token), subject
    line = subject.removesuffix(token)
    written = typographic_quotes(clean_text(name))
    if len(written) <= SUBJECT_HARD_LIMIT - len(token) - len(lead):
        assert written in line  # the school's name is never cut when it fits
    else:
        assert len(subject) <= SUBJECT_LIMIT, subject
        assert line.endswith("…»") or line.endswith("…"), subject
    assert strict_decode(headers["to"]) == expected_address(clean_text(name), "school1@example.org")
    assert all(len(line) <= 78 for line in letter.partition(b"\r\n\r\n")[0].split(b"\r\n"))


def test_the_what_is_shortened_before_the_name_is_cut() -> None:
    name = "МБОУ «Фурмановская средняя общеобразовательная школа № 1»"
    title = (
        "Проведение ежеквартального мониторинга выполнения показателей создания и "
        "функционирования центров «Точка роста»"
    )
    subject = subject_line("Через 14 дней:", title, name, "01.10.2023")
    # With its token the subject passes 90 only to keep the school's name whole.
    assert _width(subject) <= SUBJECT_HARD_LIMIT
    assert subject.endswith(f"— {name}") or subject.endswith(f"— {name} (01.10.2023)")
    assert subject.startswith("Через 14 дней: Проведение")
    # A name a few characters too long for 90 is kept whole, the date left out.
    digest = subject_line("Сроки на 11.08.2021:", "2 напоминания", name)
    assert digest == f"Сроки на 11.08.2021: 2 напоминания — {name}"
    assert SUBJECT_LIMIT < _width(digest) <= SUBJECT_HARD_LIMIT
    # A cycle named by its date does not say the date twice.
    dated = subject_line("Сегодня срок:", "согласование листа", "15.04.2021", "15.04.2021")
    assert dated == "Сегодня срок: согласование листа (15.04.2021)"
    long_name = subject_line("Через 14 дней:", "открытие центра", LONG, "01.09.2023")
    assert _width(long_name) <= SUBJECT_LIMIT
    assert long_name.startswith("Через 14 дней: открытие центра — МБОУ «Средняя")
    assert long_name.endswith("…»"), long_name  # cut on a word, the quotation closed


def test_quotation_marks_nest_the_russian_way() -> None:
    assert typographic_quotes("Центр «МБОУ «СОШ № 1»»") == "Центр «МБОУ „СОШ № 1“»"
    assert typographic_quotes('МБОУ "Васильевская СШ"') == "МБОУ «Васильевская СШ»"
    assert quoted("МБОУ «СОШ № 1»") == "«МБОУ „СОШ № 1“»"
    assert shorten("МБОУ «Фурмановская средняя школа»", 25) == "МБОУ «Фурмановская…»"
    assert shorten("обучение педагогов по программам", 24) == "обучение педагогов…"


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        (Recipient(email="o@example.org", name="федеральный оператор"), "Добрый день!"),
        (Recipient(email="s@example.org", name="МБОУ «СОШ № 1»"), "Добрый день!"),
        (
            Recipient(email="d@example.org", name="Департамент", contact="Анна Петровна"),
            "Здравствуйте, Анна Петровна!",
        ),
        (Recipient(email="d@example.org", name="Департамент", contact=" \n "), "Добрый день!"),
    ],
)
def test_greeting_is_right_for_any_party(recipient: Recipient, expected: str) -> None:
    assert greeting(recipient) == expected


def test_letter_greets_and_signs(renderer: Renderer) -> None:
    operator = Recipient(email="operator@example.org", name="федеральный оператор")
    letter = renderer.render_reminders([_reminder(recipient=operator)], now=NOW)
    for part in (letter.text, letter.html):
        assert "Добрый день!" in part
        assert "Здравствуйте, федеральный оператор" not in part
        assert "Департамент образования Ивановской области" in part
        assert "Контактное лицо: Иванова Анна Петровна, главный специалист" in part
        assert "Дорожная карта" not in part  # the roadmap title no longer signs
    assert letter.sender_name == "Департамент образования Ивановской области"


def test_html_reads_on_a_phone_and_text_says_the_same(renderer: Renderer) -> None:
    letter = renderer.render_reminders([_reminder()], now=NOW)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in letter.html
    assert "max-width:600px" in letter.html
    assert "font-size:16px" in letter.html
    # Equal in content: every line of the text part is in the HTML part (tags aside).
    inline = re.sub(r"</?(?:strong|em|a|code)\b[^>]*>", "", letter.html)
    visible = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline)).split())
    for line in letter.text.splitlines():
        words = " ".join(line.replace("--", "").split())
        if words:
            assert words in visible, words


def test_reply_to_and_from_carry_the_departments_name(renderer: Renderer) -> None:
    letter = _letter(renderer, _reminder())
    headers = raw_headers(letter)
    name = "Департамент образования Ивановской области"
    assert strict_decode(headers["reply-to"]) == f"{name} <coordinator@example.org>"
    assert strict_decode(headers["from"]) == f"{name} <tochka@tochka.local>"
    configured = envelope_headers(
        mail_from="Точка роста «Иваново» <tochka@tochka.local>", key="k", date_header="x"
    )
    assert strict_decode(raw_headers(configured + b"\r\n")["from"]) == (
        "Точка роста «Иваново» <tochka@tochka.local>"
    )


def test_notice_names_the_person_and_the_documents(
    renderer: Renderer, make_notice: Callable[..., Notice]
) -> None:
    notice = make_notice(
        actor="Иванова Анна Петровна, координатор",
        center_name="МБОУ «Фурмановская СОШ № 1»",
        evidence=("письмо федерального оператора № 12", "сюжет ГТРК «Ивтелерадио»"),
        signature=SIGNATURE,
    )
    letter = renderer.render_notice(notice, now=NOW)
    for part in (letter.text, letter.html.replace("&#34;", '"')):
        assert "Кто отметил" in part
        assert "Иванова Анна Петровна, координатор" in part
        assert "письмо федерального оператора № 12" in part
        assert "сюжет ГТРК «Ивтелерадио»" in part
    assert "центр «Точка роста» на базе МБОУ «Фурмановская СОШ № 1»" in letter.text
    assert "Центр «МБОУ" not in letter.text


@pytest.mark.parametrize(
    "name",
    [
        "=?utf-8?q?x=0D=0ABcc:_evil@example.com?=",
        "Точка\u2028Bcc: evil@example.com",
        '"Школа, «№ 1»" ',
        "Ш" * 300,
    ],
)
def test_a_hostile_sender_name_stays_one_header(name: str) -> None:
    """A configured From name (or the name a stored Reply-To gives) is text, never a
    header: cleaned like any display name, encoded, one From line folded."""
    for kwargs in (
        {"mail_from": "tochka@tochka.local", "sender_name": name},
        {"mail_from": f"{name} <tochka@tochka.local>".replace("\u2028", " ")},
    ):
        head = envelope_headers(key="k", date_header="x", **kwargs)
        headers = raw_headers(head + b"\r\n")
        assert set(headers) == {"from", "date", "message-id"}
        decoded = strict_decode(headers["from"])
        assert decoded.endswith("<tochka@tochka.local>")
        assert "=?" not in decoded
        assert "\n" not in decoded


_QUOTES = '«»„“"'
_WORDS = [
    "МБОУ",
    "«Средняя",
    "общеобразовательная",
    "школа",
    "№ 12",
    "№ 2»",
    "имени",
    "Героя",
    "Советского",
    "Союза",
    "И.",
    "И.",
    "Иванова»",
    "с",
    "углублённым",
    "изучением",
    "отдельных",
    "предметов",
    "«Гимназия»",
    "и",
    "по",
]


def _tokens(text: str) -> set[str]:
    return {t.strip(_QUOTES + ",;:") for t in text.split()}


def _assert_no_word_cut(subject: str, *sources: str, balanced: bool = True) -> None:
    """Every word of the subject is a whole word of a source; «…» follows a whole word,
    never a lone «№»; the quotation marks nest the Russian way and balance."""
    known = set().union(*(_tokens(s) for s in sources)) | {"—", ""}
    for token in subject.split():
        bare = token.strip("()")
        if bare.rstrip(_QUOTES).endswith("…"):
            bare = bare.rstrip(_QUOTES)[:-1]
        assert bare.strip(_QUOTES + ",;:") in known, (token, subject)
    assert not re.search(r"№[\s«»„“]*…", subject), subject
    if not balanced:
        return
    depth = 0
    for ch in subject:
        if ch == "«":
            assert depth == 0, subject  # no «…«…»»
            depth += 1
        elif ch == "»":
            depth -= 1
    assert depth == 0, subject


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=25),
    stage=st.sampled_from(["opened", "reporting", "infrastructure_agreed", "staff_trained"]),
    kind=st.sampled_from(["before", "overdue", "digest"]),
)
def test_subjects_cut_on_words_keep_the_count_and_the_limit(
    words: list[str], stage: str, kind: str
) -> None:
    """Property: over many school names (up to 150+ characters, «№ 12», guillemets) a
    subject never cuts a word (only «…» after a whole word), never leaves «№» last before
    «…», keeps a digest's count whole and stays within the limit."""
    name = typographic_quotes(clean_text(" ".join(words)))
    if kind == "digest":
        what = "3 напоминания, просрочено: 2"
        subject = subject_line("Сроки на 01.09.2021:", what, name, whole=True)
        assert f"Сроки на 01.09.2021: {what}" in subject
        sources = [what, "Сроки на 01.09.2021:"]
    else:
        reminder = _reminder(stage=stage, center_name=name)
        lead = "Через 3 дня:" if kind == "before" else "Просрочено на 120 дней:"
        forms = item_what_forms(reminder)
        subject = subject_line(lead, forms, name, "01.09.2021")
        sources = [lead, *forms, "01.09.2021"]
        assert any(f"{lead} {form}" in subject for form in forms), subject
    assert _width(subject) <= SUBJECT_HARD_LIMIT, subject
    if _width(subject) > SUBJECT_LIMIT:
        assert name in subject, subject  # only to keep the school's name whole
    depth, balanced = 0, True
    for ch in name:  # the checks of nesting apply to a name whose own quotes balance
        depth += {"«": 1, "»": -1}.get(ch, 0)
        balanced = balanced and depth >= 0
    _assert_no_word_cut(subject, name, *sources, balanced=balanced and depth == 0)


def test_the_subjects_the_review_found() -> None:
    """The review's three bad subjects: a what cut mid-word, «№» left without its number,
    a digest that lost its count."""
    name = typographic_quotes(
        "МБОУ «Средняя общеобразовательная школа № 2 имени Героя Советского Союза "
        "И. И. Иванова с углублённым изучением отдельных предметов»"
    )
    reporting = _reminder(stage="reporting", center_name=name)
    subject = subject_line("Через 3 дня:", item_what_forms(reporting), name, "01.09.2021")
    assert subject.startswith("Через 3 дня: начало отчётности — МБОУ «Средняя"), subject
    assert "отчётнос…" not in subject
    numbered = "МБОУ «Средняя общеобразовательная школа № 12 имени Героя Советского Союза»"
    cut = subject_line("Просрочено на 120 дней:", "обучение педагогов", numbered, "01.09.2021")
    assert "№…" not in cut, cut
    assert "№ …" not in cut, cut
    digest = subject_line("Сроки на 01.09.2021:", "3 напоминания, просрочено: 2", name, whole=True)
    assert digest.startswith("Сроки на 01.09.2021: 3 напоминания, просрочено: 2 — МБОУ"), digest
    assert _width(digest) <= SUBJECT_LIMIT
