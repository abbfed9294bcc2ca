"""Hostile and odd inbound messages, each with its expected outcome: read through
``replies import``'s code path (`workflow.inbound.files.import_path`) into the real
database, against a letter Tochka really sent (`tests.replies_mail.sent_letter`), once
per module and backend: each case gets a copy of that database (`tests.replies_db`)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX
from notifications.reference import reference_code, reference_token
from tests.replies_db import Templates, module_templates, resolve_stored
from tests.replies_mail import PDF, SCHOOL, reply, sent_letter
from workflow.inbound.files import import_path
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND

Cli = Callable[..., Result]
LIMIT = 25 * 1024 * 1024


def _build(cli: Cli, work: Path) -> dict[str, EmailMessage]:
    with pytest.MonkeyPatch.context() as patch:
        return {"letter": sent_letter(cli, work, patch)}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    yield from module_templates(tmp_path_factory.mktemp("hostile"), _build)


@pytest.fixture
def engine(db_url: str, templates: Templates) -> Iterator[Engine]:
    """A copy of the module's database: the letter sent, nothing received yet."""
    yield from templates.restore(db_url)


@pytest.fixture
def stored(engine: Engine) -> StoredRoadmap:
    return resolve_stored(engine)


@dataclass(frozen=True)
class Case:
    build: Callable[[EmailMessage, str], bytes]  # (the sent letter, its outbox key)
    state: str
    says: str = ""  # a fragment of the reason, a note, or the text
    kind: str | None = None
    matched_by: str | None = None


def _replace(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert old in raw
    return raw.replace(old, new, 1)


def _broken_base64(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter)
    encoded = base64.encodebytes(PDF).replace(b"\n", b"\r\n")
    return _replace(raw, encoded.strip(), b"JVBERi0xLjQK!!@@##$$%\r\nnot base64 at all===\r\nAAA")


def _unknown_charset(letter: EmailMessage, _key: str) -> bytes:
    msg = _plain(letter, "Приказ отправлен.")
    msg.set_param("charset", "x-unknown-8", header="Content-Type")
    return msg.as_bytes()


def _plain(letter: EmailMessage, text: str, *, sender: str = SCHOOL) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["Subject"] = f"Re: {letter['Subject']}"
    msg["Message-ID"] = "<plain-1@example.org>"
    msg["In-Reply-To"] = str(letter["Message-ID"])
    msg.set_content(text)
    return msg


def _html_only(letter: EmailMessage, _key: str) -> bytes:
    msg = _plain(letter, "")
    msg.set_content(
        "<html><body><p>Акт <b>подписан</b>.</p><div class='gmail_quote'>старое письмо"
        "</div><blockquote>цитата</blockquote><script>alert(1)</script></body></html>",
        subtype="html",
    )
    return msg.as_bytes()


def _nested(letter: EmailMessage, _key: str) -> bytes:
    msg = _plain(letter, "Пересылаю письмо директора.")
    inner = EmailMessage()
    inner["From"] = "director@example.org"
    inner["Subject"] = "Вложенное"
    inner.set_content("внутри")
    msg.add_attachment(inner)
    return msg.as_bytes()


def _from(sender: str, **headers: str) -> Callable[[EmailMessage, str], bytes]:
    def build(letter: EmailMessage, _key: str) -> bytes:
        return reply(letter, sender=sender, headers=headers)

    return build


def _token_only(retyped: bool) -> Callable[[EmailMessage, str], bytes]:
    def build(letter: EmailMessage, key: str) -> bytes:
        token = reference_token(key)
        if retyped:  # a person typed it back, in Cyrillic and lower case
            token = "[тр-" + reference_code(key).lower().replace("a", "а") + "]"
        return reply(letter, threaded=False, subject=f"Ответ на письмо {token}")

    return build


def _no_reference(letter: EmailMessage, _key: str) -> bytes:
    return reply(letter, threaded=False, subject="Приказ")


def _unknown_sender(letter: EmailMessage, _key: str) -> bytes:
    return reply(letter, threaded=False, subject="Предложение", sender="spam@example.net")


def _two_senders(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter)
    return _replace(raw, b"From: ", b"From: spam@example.net, ")


def _no_message_id(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter, message_id="<x@y>")
    return _replace(raw, b"Message-ID: <x@y>\r\n", b"")


def _not_ours(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter)
    mid = str(letter["Message-ID"]).encode()
    return raw.replace(mid, b"<0000000000000000000000000000000000000000.tochka@edu.example.org>")


def _bad_filename(letter: EmailMessage, _key: str) -> bytes:
    msg = _plain(letter, "Файл во вложении.")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="x.pdf")
    raw = msg.as_bytes()
    bad = b"../../etc/" + b"\x01" * 3 + b"A" * 300 + b".pdf"
    return _replace(raw, b'filename="x.pdf"', b'filename="' + bad + b'"')


def _bounce(letter: EmailMessage, _key: str) -> bytes:
    return (
        b"From: MAILER-DAEMON@example.org\r\nTo: tochka@edu.example.org\r\n"
        b"Subject: Undelivered Mail\r\nMessage-ID: <b1@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        b"Final-Recipient: rfc822; " + SCHOOL.encode() + b"\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Message-ID: " + str(letter["Message-ID"]).encode() + b"\r\nSubject: x\r\n\r\nx\r\n"
        b"--B--\r\n"
    )


CASES = {
    "a reply as a mail client writes it": Case(
        lambda letter, _key: reply(letter),
        "matched",
        "Добрый день! Приказ во вложении.",
        matched_by="in-reply-to",
    ),
    "broken base64": Case(_broken_base64, "matched", "повреждённая кодировка base64"),
    "unknown charset": Case(_unknown_charset, "matched", "неизвестная кодировка текста"),
    "HTML only": Case(_html_only, "matched", "Акт подписан."),
    "nested message/rfc822": Case(_nested, "matched", "message/rfc822"),
    "forged From: not the letter's recipient": Case(
        _from("director@example.net"), "quarantine", "не адресат письма"
    ),
    "forged From: DMARC failed": Case(
        _from(SCHOOL, **{"Authentication-Results": "mx.example.org; dmarc=fail header.from=x"}),
        "quarantine",
        "dmarc=fail",
    ),
    "DKIM failed": Case(
        _from(SCHOOL, **{"Authentication-Results": "mx.example.org; dkim=fail; spf=pass"}),
        "quarantine",
        "dkim=fail",
    ),
    "the sender's address in capitals": Case(_from("S1@EXAMPLE.ORG"), "matched"),
    "two From addresses": Case(_two_senders, "quarantine", "не читается как один адрес"),
    "an unknown sender": Case(_unknown_sender, "quarantine", "неизвестный отправитель"),
    "a known sender, nothing to match": Case(_no_reference, "quarantine", "не найдено письмо"),
    "a reference to a letter we never sent": Case(
        _not_ours, "quarantine", "которого Точка не отправляла"
    ),
    "the subject's token only": Case(_token_only(False), "matched", matched_by="token"),
    "the token retyped in Cyrillic": Case(_token_only(True), "matched", matched_by="token"),
    "no Message-ID": Case(_no_message_id, "matched"),
    "a file name with ../, control characters and 300 letters": Case(
        _bad_filename, "matched", "AAAA.pdf"
    ),
    "an auto-reply (RFC 3834)": Case(
        _from(SCHOOL, **{"Auto-Submitted": "auto-replied"}), "auto", "автоответ", "auto-reply"
    ),
    "an out-of-office by X-Autoreply": Case(
        _from(SCHOOL, **{"X-Autoreply": "yes"}), "auto", kind="auto-reply"
    ),
    "Precedence: bulk": Case(_from(SCHOOL, Precedence="bulk"), "auto", kind="auto-reply"),
    "list mail": Case(_from(SCHOOL, **{"List-Id": "<news.example.org>"}), "auto", kind="list"),
    "a bounce (multipart/report)": Case(_bounce, "auto", "отчёт о недоставке", "bounce"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_message(
    name: str,
    engine: Engine,
    db_url: str,
    templates: Templates,
    tmp_path: Path,
) -> None:
    case = CASES[name]
    letter = templates.letters(db_url)["letter"]
    with db.read(engine) as conn:
        outbox_id, key = conn.execute(sa.select(OUTBOX.c.id, OUTBOX.c.key)).one()
    path = tmp_path / "message.eml"
    path.write_bytes(case.build(letter, key))

    report = import_path(engine, path, max_bytes=LIMIT)

    ((_where, outcome),) = report.outcomes
    with db.read(engine) as conn:
        (row,) = conn.execute(sa.select(INBOUND)).all()
    assert (row.state, outcome.state) == (case.state, case.state), row.reason
    said = " ".join([row.reason or "", *row.notes, row.text, *map(str, row.attachments)])
    assert case.says in said, said
    assert row.submission == ("pending" if case.state == "matched" else None)
    if case.state == "matched":
        assert row.outbox_id == outbox_id
    if case.kind is not None:
        assert row.auto_kind == case.kind
    if case.matched_by is not None:
        assert row.matched_by == case.matched_by
    for item in row.attachments:
        assert "/" not in item["name"]
        assert "\x01" not in item["name"]
        assert len(item["name"]) <= 150
    if name == "HTML only":
        assert "цитата" not in row.text
        assert "старое" not in row.text
        assert "alert" not in row.text
    # Recorded once: the same file again is a duplicate, nothing new.
    (again,) = import_path(engine, path, max_bytes=LIMIT).outcomes
    assert again[1].duplicate
    with db.read(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(INBOUND)).scalar_one() == 1


def test_a_50_mb_message_is_refused_with_a_russian_reason_and_recorded(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "big.eml"
    with path.open("wb") as out:
        out.write(b"From: s1@example.org\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n")
        out.write(b"Content-Type: application/pdf\r\n\r\n")
        out.write(b"A" * (50 * 1024 * 1024))
    ((where, outcome),) = import_path(engine, path, max_bytes=LIMIT).outcomes
    assert outcome.state is not None
    assert outcome.state.value == "refused"
    with db.read(engine) as conn:
        row = conn.execute(sa.select(INBOUND)).one()
    assert row.reason.startswith("письмо слишком большое: 50,0\u00a0МБ, предел 25,0\u00a0МБ")
    assert row.raw is None
    assert row.size > 50 * 1024 * 1024
    assert row.message_id == "<big@example.org>"
