"""Issue 15, items 3 and 6: the subject's reference token, bounces, auto-reply loops and
the limit on our answers per sender.

Against a letter Tochka really sent (`tests.replies_mail.sent_letter`: the notice to
s1@example.org, through ``outbox send`` and the file transport), once per module and
backend (`tests.replies_db`); messages are read through ``tochka replies import``.
The delivery status notifications are written here as Postfix, Exchange and qmail send
them (their layouts and wording; the addresses and ids are the test's).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications import reply_limit
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER
from notifications.reference import reference_token
from tests.replies_db import Templates, module_templates, read_letters
from tests.replies_mail import SCHOOL, reply, sent_letter
from workflow.storage.inbound import BOUNCE, INBOUND

Cli = Callable[..., Result]


def _build(cli: Cli, work: Path) -> dict[str, EmailMessage]:
    with pytest.MonkeyPatch.context() as patch:
        return {"letter": sent_letter(cli, work, patch)}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    yield from module_templates(tmp_path_factory.mktemp("bounces"), _build)


@pytest.fixture
def engine(db_url: str, templates: Templates) -> Iterator[Engine]:
    """A copy of the module's database: the letter sent, nothing received yet."""
    yield from templates.restore(db_url)


@pytest.fixture
def letter(db_url: str, templates: Templates) -> EmailMessage:
    return templates.letters(db_url)["letter"]


def _import(cli: Cli, tmp_path: Path, raw: bytes, name: str = "m.eml") -> Result:
    path = tmp_path / name
    path.write_bytes(raw)
    result = cli("replies", "import", str(path))
    assert result.exit_code in (0, 1), result.output
    return result


def _inbound(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with db.read(engine) as conn:
        return list(conn.execute(sa.select(INBOUND).order_by(INBOUND.c.id)))


def _outbox(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with db.read(engine) as conn:
        return list(
            conn.execute(
                sa.select(OUTBOX, OUTBOX_LETTER.c.message)
                .select_from(OUTBOX_WITH_LETTER)
                .order_by(OUTBOX.c.id)
            )
        )


# --- item 3: the token in the subject ---------------------------------------------------


def test_a_reply_without_threading_headers_is_matched_by_the_subjects_token(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    (sent,) = _outbox(engine)
    token = reference_token(sent.key)
    assert str(letter["Subject"]).endswith(" " + token)  # as delivered
    assert sent.subject.endswith(" " + token)  # as listed
    assert len(str(letter["Subject"])) <= 90

    # The client kept «Re: <the subject>» and dropped In-Reply-To and References.
    raw = reply(letter, threaded=False)
    assert b"In-Reply-To" not in raw
    assert b"References" not in raw
    _import(cli, tmp_path, raw)

    (row,) = _inbound(engine)
    assert (row.state, row.matched_by, row.outbox_id) == ("matched", "token", sent.id)
    assert row.submission == "pending"


# --- item 6: bounces --------------------------------------------------------------------


def _postfix(letter: EmailMessage, address: str = SCHOOL) -> bytes:
    """Postfix's bounce: multipart/report, the per-recipient DSN, the returned header."""
    return f"""Return-Path: <>
From: MAIL-DAEMON@mx.example.org (Mail Delivery System)
To: tochka@edu.example.org
Subject: Undelivered Mail Returned to Sender
Date: Wed, 3 Mar 2021 09:00:00 +0300 (MSK)
Message-ID: <20210303060000.4F2A1C0@mx.example.org>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4F2A1C0.1614751200/mx.example.org"

This is a MIME-encapsulated message.

--4F2A1C0.1614751200/mx.example.org
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{address}>: host mail.example.org[192.0.2.10] said: 550 5.1.1 <{address}>:
    Recipient address rejected: User unknown in virtual mailbox table (in reply
    to RCPT TO command)

--4F2A1C0.1614751200/mx.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
X-Postfix-Queue-ID: 4F2A1C0
X-Postfix-Sender: rfc822; tochka@edu.example.org
Arrival-Date: Wed,  3 Mar 2021 08:59:58 +0300 (MSK)

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; 550 5.1.1 <{address}>: Recipient address rejected: User
    unknown in virtual mailbox table

--4F2A1C0.1614751200/mx.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: tochka@edu.example.org
To: {address}
Subject: notice
Message-ID: {letter["Message-ID"]}

--4F2A1C0.1614751200/mx.example.org--
""".replace("\n", "\r\n").encode()


def _exchange(letter: EmailMessage) -> bytes:
    """Exchange's non-delivery report: its own wording, the DSN, the letter returned."""
    return f"""From: postmaster@school.example.org
To: tochka@edu.example.org
Date: Wed, 3 Mar 2021 06:00:00 +0000
Subject: Undeliverable: notice
Message-ID: <b7c1e0a2-ndr@EXCH01.school.example.org>
Content-Language: en-US
X-MS-Exchange-Message-Is-Ndr:
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="_000_ndr_"

--_000_ndr_
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

{SCHOOL}
The email address you entered couldn't be found. Please check the recipient's
email address and try to resend the message.

Diagnostic information for administrators:
Generating server: EXCH01.school.example.org
{SCHOOL}
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not
found by SMTP address lookup'

--_000_ndr_
Content-Type: message/delivery-status

Reporting-MTA: dns;EXCH01.school.example.org
Received-From-MTA: dns;mx.edu.example.org
Arrival-Date: Wed, 3 Mar 2021 06:00:00 +0000

Original-Recipient: rfc822;{SCHOOL}
Final-Recipient: rfc822;{SCHOOL}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--_000_ndr_
Content-Type: message/rfc822

From: <tochka@edu.example.org>
To: <{SCHOOL}>
Subject: notice
Message-ID: {letter["Message-ID"]}
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

(the letter)

--_000_ndr_--
""".replace("\n", "\r\n").encode()  # noqa: E501


def _qmail(_letter: EmailMessage) -> bytes:
    """qmail's plain-text bounce: no DSN part, no returned Message-ID: the address alone."""
    return f"""From: MAILER-DAEMON@mx.example.net
To: tochka@edu.example.org
Subject: failure notice
Date: 3 Mar 2021 06:00:00 -0000
Message-ID: <20210303060000.1234.qmail@mx.example.net>

Hi. This is the qmail-send program at mx.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{SCHOOL}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Subject: notice
""".replace("\n", "\r\n").encode()


BOUNCES = {
    "Postfix (DSN, returned header)": (_postfix, "5.1.1 550 5.1.1"),
    "Exchange (DSN, returned letter)": (_exchange, "5.1.10 550 5.1.10 RESOLVER.ADR"),
    "qmail (text only, by the address)": (_qmail, "без пояснения"),
}


@pytest.mark.parametrize("name", list(BOUNCES))
def test_a_bounce_marks_the_letter_and_flags_the_address(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path, name: str
) -> None:
    build, reason = BOUNCES[name]
    (sent,) = _outbox(engine)
    assert sent.status == "sent"
    _import(cli, tmp_path, build(letter))

    (row,) = _inbound(engine)
    assert (row.state, row.auto_kind, row.outbox_id) == ("auto", "bounce", sent.id)
    assert f"адрес {SCHOOL} не принимает письма (письмо №\u00a0{sent.id})" in row.reason
    (after,) = _outbox(engine)  # marked, and nothing queued in answer
    assert after.status == "bounced"
    assert after.last_error.startswith(f"Адрес не принимает письма: {SCHOOL}: {reason}")
    with db.read(engine) as conn:
        (bounce,) = conn.execute(sa.select(BOUNCE)).all()
    assert (bounce.address, bounce.permanent, bounce.outbox_id) == (SCHOOL, True, sent.id)

    status = cli("--now", "2021-03-05", "status")
    assert status.exit_code == 0, status.output
    assert f"Адрес не принимает письма: {SCHOOL}, с 02.03.2021" in status.output
    listed = cli("outbox", "list")
    assert "возвращено: адрес не принимает письма" in listed.output
    if name.startswith("Postfix"):  # the coordinator's summary of Monday says it too
        assert cli("--now", "2021-03-08T10:00:00+03:00", "tick").exit_code == 0
        (summary,) = [r for r in _outbox(engine) if r.kind == "summary"]
        parsed = email.message_from_bytes(summary.message, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        for kind in ("plain", "html"):
            body = parsed.get_body(preferencelist=(kind,))
            assert body is not None
            said = body.get_content()  # type: ignore[attr-defined]
            assert f"Адрес не принимает письма: {SCHOOL}, с 02.03.2021" in said, kind


def test_a_delayed_delivery_flags_nothing(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    raw = (
        _postfix(letter)
        .replace(b"Action: failed", b"Action: delayed")
        .replace(b"Status: 5.1.1", b"Status: 4.4.1")
        .replace(b"550 5.1.1", b"451 4.4.1")
    )
    _import(cli, tmp_path, raw)
    (row,) = _inbound(engine)
    assert row.state == "auto"
    assert f"доставка на {SCHOOL} задерживается" in row.reason
    (after,) = _outbox(engine)
    assert after.status == "sent"
    assert "Адрес не принимает" not in cli("--now", "2021-03-05", "status").output


# --- never answered; answers limited ----------------------------------------------------


def _reject_each(cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path, n: int) -> None:
    """``n`` replies of the school, each rejected: ``n`` answers of ours to one sender."""
    for i in range(n):
        _import(cli, tmp_path, reply(letter, message_id=f"<r{i}@example.org>"), f"r{i}.eml")
    for row in _inbound(engine):
        done = cli("--now", "2021-03-04", "replies", "reject", str(row.id), "--reason", "нет")
        assert done.exit_code == 0, done.output


def test_an_auto_reply_to_our_answer_gets_nothing(
    cli: Cli,
    engine: Engine,
    letter: EmailMessage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
    _reject_each(cli, engine, letter, tmp_path, 1)
    assert cli("--now", "2021-03-04T12:00:00+03:00", "outbox", "send").exit_code == 0
    (answer,) = read_letters(tmp_path / "mail")
    before = len(_outbox(engine))

    # The school's out-of-office answers our answer, in each of the ways robots say so.
    robots = {
        "auto-submitted": {"Auto-Submitted": "auto-replied"},
        "x-autoreply": {"X-Autoreply": "yes"},
        "precedence bulk": {"Precedence": "bulk"},
        "list": {"List-Id": "<school.example.org>"},
        "null return path": {"Return-Path": "<>"},
    }
    for i, (kind, headers) in enumerate(robots.items()):
        raw = reply(answer, text="Я в отпуске до 15 марта.", pdf=None, headers=headers)
        raw = raw.replace(b"Message-ID: <", f"Message-ID: <auto{i}.".encode(), 1)
        _import(cli, tmp_path, raw, f"auto{i}.eml")
        row = _inbound(engine)[-1]
        assert row.state == "auto", (kind, row.reason)
        assert "ответ не отправляется" in row.reason
    assert len(_outbox(engine)) == before
    again = cli("--now", "2021-03-04T13:00:00+03:00", "outbox", "send")
    assert again.exit_code == 0, again.output
    assert len(read_letters(tmp_path / "mail")) == 1


def test_our_answers_to_one_sender_are_limited_a_day(
    cli: Cli,
    engine: Engine,
    letter: EmailMessage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
    monkeypatch.setenv("TOCHKA_REPLY_DAILY_LIMIT", "2")
    try:
        _reject_each(cli, engine, letter, tmp_path, 3)
    finally:
        reply_limit.use(reply_limit.DEFAULT_DAILY_LIMIT)
    answers = [r for r in _outbox(engine) if r.key.startswith("reply:")]
    assert [r.status for r in answers] == ["pending", "pending", "held"]
    assert "предел 2, TOCHKA_REPLY_DAILY_LIMIT" in answers[2].last_error
    sent = cli("--now", "2021-03-04T12:00:00+03:00", "outbox", "send")
    assert sent.exit_code == 0, sent.output
    assert len(read_letters(tmp_path / "mail")) == 2
    assert _outbox(engine)[-1].status == "held"  # recorded, for the coordinator
    listed = cli("outbox", "list")
    assert "задержано: предел ответов отправителю" in listed.output


# --- a copy (Cc) bounced: the letter noted, not marked bounced --------------------------

DEPUTY = "deputy@example.org"


def _letter_with_copy(cli: Cli, engine: Engine, tmp_path: Path) -> EmailMessage:
    """A notice to the school with a copy to ``DEPUTY`` (as letters stored before notices
    lost their copies carry), queued and sent through the file transport."""
    from datetime import date, datetime

    from notifications.queue import queue_notice
    from notifications.render import Renderer
    from notifications.values import Notice, Recipient

    notice = Notice(
        key="notice:with-copy",
        recipient=Recipient(email=SCHOOL, name="МБОУ «Школа № 1»"),
        cc=(Recipient(email=DEPUTY, name="Заместитель"),),
        headline="Инфраструктурный лист согласован",
        entity="Центр «Точка роста» МБОУ «Школа № 1»",
        to_state="Инфраструктурный лист согласован",
        effective_date=date(2021, 3, 2),
        actor="operator",
        roadmap_title="Дорожная карта",
        reply_to="coordinator@example.org",
    )
    now = datetime.fromisoformat("2021-03-02T11:00:00+03:00")
    with db.write(engine) as conn:
        assert queue_notice(conn, notice, now=now, renderer=Renderer())
    mail = tmp_path / "copy-mail"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOCHKA_MAIL_DIR", str(mail))
        patch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
        sent = cli("--now", "2021-03-02T11:00:00+03:00", "outbox", "send")
        assert sent.exit_code == 0, sent.output
    (letter,) = read_letters(mail)
    assert DEPUTY in str(letter["Cc"])
    return letter


def test_a_copys_bounce_notes_the_letter_and_flags_the_copys_address(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    copied = _letter_with_copy(cli, engine, tmp_path)
    row = next(r for r in _outbox(engine) if r.key == "notice:with-copy")
    assert DEPUTY in row.envelope.split(",")

    _import(cli, tmp_path, _postfix(copied, DEPUTY), "copy.eml")
    after = next(r for r in _outbox(engine) if r.key == "notice:with-copy")
    assert after.status == "sent"  # the school has it
    assert after.last_error.startswith(f"Копия не доставлена: {DEPUTY}: 5.1.1 550 5.1.1")
    with db.read(engine) as conn:
        (bounce,) = conn.execute(sa.select(BOUNCE)).all()
    assert (bounce.address, bounce.outbox_id) == (DEPUTY, row.id)
    assert f"Адрес не принимает письма: {DEPUTY}, с 02.03.2021" in cli("status").output

    # The same notification again (another Message-ID) notes nothing twice; then the
    # main recipient's bounce marks the letter, the copy's note kept after it.
    again = _postfix(copied, DEPUTY).replace(b"<20210303060000.4F2A1C0@", b"<again.4F2A1C0@")
    _import(cli, tmp_path, again, "copy2.eml")
    assert (
        next(r for r in _outbox(engine) if r.key == "notice:with-copy").last_error.count(
            "Копия не доставлена"
        )
        == 1
    )
    main = _postfix(copied).replace(b"<20210303060000.4F2A1C0@", b"<main.4F2A1C0@")
    _import(cli, tmp_path, main, "main.eml")
    last = next(r for r in _outbox(engine) if r.key == "notice:with-copy")
    assert last.status == "bounced"
    assert last.last_error.startswith(f"Адрес не принимает письма: {SCHOOL}: 5.1.1")
    assert f"Копия не доставлена: {DEPUTY}: " in last.last_error


# --- the coordinator's daily letter tells each bounce once ------------------------------


def _coordinator_letters(engine: Engine) -> list[tuple[sa.Row[tuple[object, ...]], str, str]]:
    """The coordinator's letters with their plain text and HTML."""
    found = []
    for row in _outbox(engine):
        if row.recipient != "coordinator@example.org":
            continue
        parsed = email.message_from_bytes(row.message, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        said = []
        for kind in ("plain", "html"):
            body = parsed.get_body(preferencelist=(kind,))
            assert body is not None
            said.append(body.get_content())  # type: ignore[attr-defined]
        found.append((row, said[0], said[1]))
    return found


def test_the_coordinators_daily_letter_tells_a_bounce_once(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    (sent,) = _outbox(engine)
    # The first tick sends the week's summary; the bounce comes after it.
    assert cli("--now", "2021-03-03T09:00:00+03:00", "tick").exit_code == 0
    _import(cli, tmp_path, _postfix(letter))
    assert cli("--now", "2021-03-04T09:00:00+03:00", "tick").exit_code == 0

    told = [(r, t, h) for r, t, h in _coordinator_letters(engine) if "не принимает" in t]
    assert len(told) == 1
    row, text, html = told[0]
    assert row.kind == "digest"
    assert f"Адрес {SCHOOL} не принимает письма." in text
    assert f"Письмо: № {sent.id} «" in text
    assert " от 02.03.2021; возвращено " in text
    assert "Причина: такого почтового ящика нет (ответ сервера адресата: 5.1.1 550 5.1.1" in text
    assert "Чей адрес: центр S1 «МБОУ „Школа № 1“»" in text
    assert "tochka centers update S1 --email НОВЫЙ_АДРЕС" in text
    assert f"tochka outbox unflag {SCHOOL} --reason" in text
    assert f"Адрес {SCHOOL} не принимает письма." in html
    assert "такого почтового ящика нет" in html
    if "Сроки на" not in row.subject:  # the day had nothing else for the coordinator
        assert row.subject.startswith(f"Адрес не принимает письма: {SCHOOL}")
    else:
        assert "; не доставлено: 1 письмо" in row.subject

    # Told once: the next days' letters and Monday's summary do not repeat it (the
    # summary still lists the flagged address).
    for day in ("2021-03-05", "2021-03-08"):
        assert cli("--now", f"{day}T09:00:00+03:00", "tick").exit_code == 0
    again = [t for _r, t, _h in _coordinator_letters(engine) if "Письмо не доставлено" in t]
    assert len(again) == 1
    summary = [t for r, t, _h in _coordinator_letters(engine) if r.key.endswith("2021-03-08")]
    assert f"Адрес не принимает письма: {SCHOOL}, с 02.03.2021" in summary[0]

    # A new bounce (another letter returned) is told, once, in its day's letter.
    second = _postfix(letter).replace(b"<20210303060000.4F2A1C0@", b"<second.4F2A1C0@")
    _import(cli, tmp_path, second, "second.eml")
    assert cli("--now", "2021-03-09T09:00:00+03:00", "tick").exit_code == 0
    assert cli("--now", "2021-03-10T09:00:00+03:00", "tick").exit_code == 0
    told = [t for _r, t, _h in _coordinator_letters(engine) if "Письмо не доставлено" in t]
    assert len(told) == 2


def test_a_bounce_folded_into_the_summary_is_told_there(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    _import(cli, tmp_path, _postfix(letter))
    assert cli("--now", "2021-03-08T10:00:00+03:00", "tick").exit_code == 0  # a Monday
    letters = _coordinator_letters(engine)
    (summary,) = [(r, t, h) for r, t, h in letters if r.kind == "summary"]
    assert not [r for r, _t, _h in letters if r.kind == "digest"]  # folded
    assert f"Адрес {SCHOOL} не принимает письма." in summary[1]
    assert "Письмо не доставлено" in summary[2]


# --- the flag cleared --------------------------------------------------------------------


def _flagged(cli: Cli) -> bool:
    return f"Адрес не принимает письма: {SCHOOL}" in cli("--now", "2021-03-20", "status").output


def _bounce_events(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    from workflow.storage.tables import EVENT

    with db.read(engine) as conn:
        return list(
            conn.execute(
                sa.select(EVENT).where(EVENT.c.entity_kind == "bounce").order_by(EVENT.c.seq)
            )
        )


def test_replacing_the_centers_address_clears_its_flag(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    _import(cli, tmp_path, _postfix(letter))
    assert _flagged(cli)
    done = cli("--now", "2021-03-04", "centers", "update", "S1", "--email", "new@example.org")
    assert done.exit_code == 0, done.output
    assert f"Отметка «адрес не принимает письма» снята с {SCHOOL}: адрес заменён." in done.output
    assert not _flagged(cli)
    with db.read(engine) as conn:
        (bounce,) = conn.execute(sa.select(BOUNCE)).all()
    assert bounce.cleared_by == "operator"
    assert bounce.cleared_reason == "адрес центра S1 изменён на new@example.org"
    (event,) = _bounce_events(engine)
    assert (event.entity_key, event.trigger, event.actor) == (SCHOOL, "unflag", "operator")
    assert event.comment == bounce.cleared_reason
    assert "недоставка писем" in cli("audit", "log", "--kind", "bounce").output
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    # Not told any more: the next tick's letter to the coordinator says nothing of it.
    assert cli("--now", "2021-03-05T09:00:00+03:00", "tick").exit_code == 0
    assert not [t for _r, t, _h in _coordinator_letters(engine) if "Письмо не доставлено" in t]


def test_an_address_another_center_still_has_stays_flagged(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    csv = tmp_path / "s2.csv"
    csv.write_text(
        f"code,name,municipality,cohort,email\nS2,МБОУ «Школа № 2»,Шуйский район,2021,{SCHOOL}\n",
        encoding="utf-8",
    )
    assert cli("--now", "2021-03-03", "centers", "import", str(csv)).exit_code == 0
    _import(cli, tmp_path, _postfix(letter))
    done = cli("--now", "2021-03-04", "centers", "update", "S1", "--email", "new@example.org")
    assert done.exit_code == 0, done.output
    assert "Отметка" not in done.output
    assert _flagged(cli)
    assert not _bounce_events(engine)


def test_a_municipalitys_new_address_clears_the_old_ones_flag(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    uo = "uo@example.org"
    first = tmp_path / "uo.csv"
    first.write_text(f"municipality,email\nШуйский район,{uo}\n", encoding="utf-8")
    assert cli("--now", "2021-03-03", "municipalities", "import", str(first)).exit_code == 0
    _import(cli, tmp_path, _postfix(letter, uo))  # no letter to it: recorded, flagged
    assert f"Адрес не принимает письма: {uo}" in cli("status").output
    second = tmp_path / "uo2.csv"
    second.write_text("municipality,email\nШуйский район,uo2@example.org\n", encoding="utf-8")
    assert cli("--now", "2021-03-04", "municipalities", "import", str(second)).exit_code == 0
    assert f"Адрес не принимает письма: {uo}" not in cli("status").output
    (event,) = _bounce_events(engine)
    assert event.comment == "адрес муниципалитета «Шуйский район» изменён на uo2@example.org"


def test_a_partys_new_address_in_the_roadmap_file_clears_the_old_ones_flag(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    from workflow.roadmap.shipped import IVANOVO_159_RP

    _import(cli, tmp_path, _postfix(letter, "operator@example.org"))
    assert "Адрес не принимает письма: operator@example.org" in cli("status").output
    changed = tmp_path / "roadmap.yaml"
    changed.write_text(
        IVANOVO_159_RP.read_text(encoding="utf-8").replace(
            '"operator@example.org"', '"fo@example.org"'
        ),
        encoding="utf-8",
    )
    loaded = cli("--now", "2021-03-04", "roadmap", "load", str(changed))
    assert loaded.exit_code == 0, loaded.output
    assert "operator@example.org" not in cli("status").output
    (event,) = _bounce_events(engine)
    assert event.comment == "адрес участника «федеральный оператор» изменён на fo@example.org"


def _next_letter(cli: Cli, tmp_path: Path) -> EmailMessage:
    """The school's next notice (S1 equipped), sent on 10.03.2021."""
    fired = cli("--now", "2021-03-10", "centers", "fire", "S1", "equip")
    assert fired.exit_code == 0, fired.output
    mail = tmp_path / "next-mail"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOCHKA_MAIL_DIR", str(mail))
        patch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
        sent = cli("--now", "2021-03-10T10:00:00+03:00", "outbox", "send")
        assert sent.exit_code == 0, sent.output
    found = [m for m in read_letters(mail) if SCHOOL in str(m["To"])]
    assert len(found) == 1
    return found[0]


def test_a_later_letter_delivered_without_a_bounce_clears_the_flag(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    _import(cli, tmp_path, _postfix(letter))
    later = _next_letter(cli, tmp_path)
    later_id = next(r.id for r in _outbox(engine) if r.message_id == later["Message-ID"])
    # Four days after it: a relay may still give up on it; five: it got through.
    assert cli("--now", "2021-03-14T09:00:00+03:00", "tick").exit_code == 0
    assert _flagged(cli)
    assert cli("--now", "2021-03-15T09:00:00+03:00", "tick").exit_code == 0
    assert not _flagged(cli)
    (event,) = _bounce_events(engine)
    assert event.comment == (
        f"письмо №\u00a0{later_id} от 10.03.2021 доставлено: отчёта о недоставке нет 5 дней"
    )
    assert event.actor == "operator"  # who ran the tick (the daemon's login in the daemon)


def test_a_later_letter_that_bounced_too_keeps_the_flag(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    _import(cli, tmp_path, _postfix(letter))
    later = _next_letter(cli, tmp_path)
    again = _postfix(later).replace(b"<20210303060000.4F2A1C0@", b"<later.4F2A1C0@")
    _import(cli, tmp_path, again, "later.eml")
    assert cli("--now", "2021-03-20T09:00:00+03:00", "tick").exit_code == 0
    assert _flagged(cli)
    assert not _bounce_events(engine)


def test_the_coordinator_clears_a_flag_with_a_reason(
    cli: Cli, engine: Engine, letter: EmailMessage, tmp_path: Path
) -> None:
    _import(cli, tmp_path, _postfix(letter))
    listed = cli("outbox", "bounces")
    assert listed.exit_code == 0, listed.output
    assert SCHOOL in listed.output
    assert "User unknown" in listed.output

    for args, said in (
        (["--reason", "  "], "--reason: укажите, почему адрес снова принимает письма"),
        (["--reason", "x" * 501], "--reason: причина длиннее 500 символов (501)."),
    ):
        refused = cli("--now", "2021-03-04", "outbox", "unflag", SCHOOL, *args)
        assert refused.exit_code != 0
        assert said in refused.output
        assert _flagged(cli)
    stranger = cli("--now", "2021-03-04", "outbox", "unflag", SCHOOL, "--reason", "я", actor="zed")
    assert stranger.exit_code != 0
    assert _flagged(cli)

    done = cli(
        "--now", "2021-03-04", "outbox", "unflag", SCHOOL.upper(), "--reason", "ящик восстановлен"
    )
    assert done.exit_code == 0, done.output
    assert f"Отметка снята: {SCHOOL} (отказов: 1, с 02.03.2021)." in done.output
    assert not _flagged(cli)
    (event,) = _bounce_events(engine)
    assert event.comment == "снято координатором: ящик восстановлен"
    assert "Адреса, не принимающие письма: 0" in cli("outbox", "bounces").output

    twice = cli("--now", "2021-03-04", "outbox", "unflag", SCHOOL, "--reason", "ещё раз")
    assert twice.exit_code != 0
    assert f"Адрес {SCHOOL} не отмечен как не принимающий письма." in twice.output
    assert len(_bounce_events(engine)) == 1

    # A bounce after the flag was cleared flags the address again, and is told again.
    second = _postfix(letter).replace(b"<20210303060000.4F2A1C0@", b"<second.4F2A1C0@")
    _import(cli, tmp_path, second, "second.eml")
    assert _flagged(cli)
