"""Hostile and odd inbound messages, each with its expected outcome: read through
``replies import``'s code path (`workflow.inbound.files.import_path`) into the real
database, against letters Tochka really sent (centers imported, stages marked, ``tick``
and ``outbox send`` through the CLI, once per module and backend: `tests.replies_db`).

An outcome is the state the message is recorded in (matched, quarantine, auto,
refused) with a fragment of its reason or notes, and for a reply to a reminder what
``tochka replies accept`` then does: refuses with a Russian reason naming the deadline
or the file, changing nothing, or accepts, the attachment stored under its hash in the
evidence store and nothing written anywhere else."""

from __future__ import annotations

import base64
import functools
import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX
from notifications.reference import reference_code, reference_token
from tests.replies_db import Templates, module_templates, read_letters, resolve_stored
from tests.replies_mail import PDF, SCHOOL, reply
from workflow.inbound.files import import_path
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND
from workflow.storage.tables import CYCLE, EVENT

Cli = Callable[..., Result]
LIMIT = 25 * 1024 * 1024


S2, OPERATOR = "s2@example.org", "operator@example.org"
#: S2's reminder is for measure 6 (staff trained): the school's kind of document.
KIND = ("--kind", "training_certificates")


def _build(cli: Cli, work: Path) -> dict[str, EmailMessage]:
    """The letters the messages answer: S1's notice of «agree_infrastructure»
    (02.03.2021, no deadline in it), and the reminders of 11.08.2021 to S2 (its stage
    «персонал обучен», due 25.08.2021) and to the federal operator (the 2021 cycle of
    measure 6)."""
    csv = work / "c.csv"
    csv.write_text(
        "code,name,municipality,cohort,email\n"
        f"S1,МБОУ «Школа № 1»,Шуйский район,2021,{SCHOOL}\n"
        f"S2,МБОУ «Школа № 2»,Кинешемский район,2021,{S2}\n",
        encoding="utf-8",
    )
    steps = [
        ("--now", "2021-03-01", "centers", "import", str(csv)),
        ("--now", "2021-03-02", "centers", "fire", "S1", "agree_infrastructure"),
        ("--now", "2021-03-02T10:00:00+03:00", "outbox", "send"),
        ("--now", "2021-03-03", "centers", "fire", "S2", "agree_infrastructure"),
        ("--now", "2021-06-01", "centers", "fire", "S2", "equip"),
        ("--now", "2021-08-11T09:00:00+03:00", "tick"),
        ("--now", "2021-08-11T10:00:00+03:00", "outbox", "send"),
    ]
    for args in steps:
        done = cli(*args)
        assert done.exit_code == 0, (args, done.output)
    letters: dict[str, EmailMessage] = {}
    for letter in read_letters(work / "mail"):
        to = str(letter["To"]).rsplit("<", 1)[-1].rstrip(">")
        if str(letter["Date"]).startswith("Tue, 02 Mar 2021") and to == SCHOOL:
            letters["notice"] = letter
        if str(letter["Date"]).startswith("Wed, 11 Aug 2021") and to in (S2, OPERATOR):
            letters[to] = letter  # the reminder is the last of the day's letters
    assert sorted(letters) == sorted(["notice", S2, OPERATOR]), sorted(letters)
    return letters


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    yield from module_templates(tmp_path_factory.mktemp("hostile"), _build)


@pytest.fixture
def engine(db_url: str, templates: Templates) -> Iterator[Engine]:
    """A copy of the module's database: the letters sent, nothing received yet."""
    yield from templates.restore(db_url)


@pytest.fixture
def stored(engine: Engine) -> StoredRoadmap:
    return resolve_stored(engine)


@pytest.fixture
def letters(db_url: str, templates: Templates) -> dict[str, EmailMessage]:
    return templates.letters(db_url)


Built = bytes | list[bytes]


@dataclass(frozen=True)
class Case:
    """A message (or several, delivered in that order) and what becomes of it."""

    build: Callable[[EmailMessage, str], Built]  # (the letter answered, its outbox key)
    state: str
    says: str = ""  # a fragment of the reason, a note, or the text
    kind: str | None = None
    matched_by: str | None = None
    letter: str = "notice"  # the letter answered: "notice", S2's or the operator's reminder
    then: Callable[[Cli, Engine], None] | None = None  # done before ``replies accept``
    accept: str | None = None  # None: not tried; "": accepted; else the refusal's words


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
    raw = reply(letter, subject="Re: Приказ")  # no token in the subject to fall back on
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


# --- attachments judged by their content at ``replies accept`` ---------------------------


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def _zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A ZIP of deflated entries (name, compressed bytes, CRC-32, unpacked size), written
    by hand so an entry's data can be a stream made without unpacking it."""
    out = io.BytesIO()
    central = []
    for name, packed, crc, size in entries:
        encoded, offset = name.encode(), out.tell()
        out.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x800, 8, 0, 0x21, crc, len(packed), size,
                        len(encoded), 0)
            + encoded
            + packed
        )  # fmt: skip
        central.append(
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0x800, 8, 0, 0x21, crc,
                        len(packed), size, len(encoded), 0, 0, 0, 0, 0, offset)
            + encoded
        )  # fmt: skip
    start = out.tell()
    out.write(b"".join(central))
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                      out.tell() - start, start, 0)  # fmt: skip
    return out.getvalue() + end


@functools.cache
def _xlsx_parts() -> tuple[tuple[str, bytes], ...]:
    """The parts of an empty workbook as openpyxl writes it."""
    import openpyxl

    out = io.BytesIO()
    openpyxl.Workbook().save(out)
    with zipfile.ZipFile(out) as book:
        return tuple((info.filename, book.read(info)) for info in book.infolist())


def _xlsx(extra: list[tuple[str, bytes, int, int]] = [], macros: bool = False) -> bytes:  # noqa: B006
    entries = []
    for name, data in _xlsx_parts():
        if macros and name == "[Content_Types].xml":
            data = data.replace(
                b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
            )
            assert b"macroEnabled" in data
        entries.append((name, _deflate(data), zlib.crc32(data), len(data)))
    return _zip(entries + extra)


@functools.cache
def _zip_bomb() -> bytes:
    """An XLSX of half a megabyte whose picture unpacks to 530 MB of zeros: the deflate
    stream of one megabyte, fully flushed, repeated (each flush restarts the same way)."""
    chunk, count = bytes(1 << 20), 530
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    stream = first + again * (count - 1) + packer.flush()
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    return _xlsx([("xl/media/image1.bin", stream, crc, count << 20)])


def _xlsm() -> bytes:
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + "_VBA_PROJECT".encode("utf-16-le")
    return _xlsx([("xl/vbaProject.bin", _deflate(vba), zlib.crc32(vba), len(vba))], macros=True)


EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44
    + b"\x80\x00\x00\x00" + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21"
    + b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 64 + b"PE\x00\x00"
)  # fmt: skip


def _attached(
    data: bytes, filename: str, maintype: str = "application", subtype: str = "pdf"
) -> Callable[[EmailMessage, str], bytes]:
    """A reply from the letter's recipient with one file attached (as the client names it)."""

    def build(letter: EmailMessage, _key: str) -> bytes:
        to = str(letter["To"]).rsplit("<", 1)[-1].rstrip(">")
        msg = _plain(letter, "Документ во вложении.", sender=to)
        msg.replace_header("Message-ID", "<attached-1@example.org>")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename="x.bin")
        raw = msg.as_bytes()
        # The name as a client may send it, raw (RFC 2231 would escape the oddities).
        return _replace(raw, b'filename="x.bin"', b'filename="' + filename.encode() + b'"')

    return build


def _from_recipient(**headers: str) -> Callable[[EmailMessage, str], bytes]:
    def build(letter: EmailMessage, _key: str) -> bytes:
        to = str(letter["To"]).rsplit("<", 1)[-1].rstrip(">")
        return reply(letter, sender=to, headers=headers)

    return build


def _close_s2(cli: Cli, _engine: Engine) -> None:
    fired = cli("--now", "2021-08-19", "centers", "fire", "S2", "train_staff")
    assert fired.exit_code == 0, fired.output


def _cancel_cycle(cli: Cli, engine: Engine) -> None:
    with db.read(engine) as conn:
        (cycle,) = conn.execute(
            sa.select(CYCLE.c.id).where(CYCLE.c.measure == 6, CYCLE.c.period == "2021")
        ).scalars()
    cancelled = cli("cycles", "fire", str(cycle), "cancel", "--comment", "мера отменена")
    assert cancelled.exit_code == 0, cancelled.output


# --- odd structure and headers ----------------------------------------------------------


def _auto_reply_loop(letter: EmailMessage, _key: str) -> list[bytes]:
    """An out-of-office answering our letter, then each «answer» it thinks we sent."""
    return [
        reply(
            letter,
            pdf=None,
            text="Я в отпуске до 20 марта.",
            subject=f"Автоответ: Re: {letter['Subject']}",
            message_id=f"<ooo-{n}@example.org>",
            headers={"Auto-Submitted": "auto-replied", "X-Loop": "s1@example.org"},
        )
        for n in range(3)
    ]


def _nested_twice(letter: EmailMessage, _key: str) -> bytes:
    msg = _plain(letter, "Пересылаю переписку с директором.")
    inner = EmailMessage()
    inner["From"] = "director@example.org"
    inner["Subject"] = "Fwd: приказ"
    inner.set_content("пересылаю")
    innermost = EmailMessage()
    innermost["From"] = "head@example.org"
    innermost["Subject"] = "приказ"
    innermost.set_content("приказ во вложении")
    innermost.add_attachment(PDF, maintype="application", subtype="pdf", filename="inner.pdf")
    inner.add_attachment(innermost)
    msg.add_attachment(inner)
    return msg.as_bytes()


def _no_message_id_twice(letter: EmailMessage, key: str) -> list[bytes]:
    raw = _no_message_id(letter, key)
    return [raw, raw]


def _huge_header(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter, message_id="<" + "m" * 2000 + "@example.org>")
    received = b"".join(
        b"Received: from relay%d.example.net by mx.example.org; Wed, 3 Mar 2021 12:00:00 +0000\r\n"
        % n
        for n in range(5000)
    )
    subject = b"Subject: Re: " + "приказ ".encode() * 20000
    return received + _replace(raw, b"Subject: ", subject + b"\r\nX-Old-Subject: ")


def _future_date(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter)
    return _replace(
        raw, b"Date: Wed, 03 Mar 2021 12:00:00 +0000", b"Date: Fri, 01 Jan 2100 00:00:00 +0000"
    )


def _unclosed_boundary(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter)
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    # The closing delimiter lost and a part's delimiter mangled.
    raw = _replace(raw, b"--" + boundary + b"--", b"")
    return raw.replace(
        b"--" + boundary + b"\r\nContent-Type: application/pdf",
        b"--" + boundary[:-3] + b"\r\nContent-Type: application/pdf",
    )


def _no_boundary(letter: EmailMessage, _key: str) -> bytes:
    raw = reply(letter)
    boundary = raw.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    return _replace(raw, b'; boundary="' + boundary + b'"', b"")


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
    "a reply to a letter of a closed deadline": Case(
        _from_recipient(),
        "matched",
        letter=S2,
        then=_close_s2,
        accept="срок уже закрыт (центр S2 уже «персонал обучен»)",
    ),
    "a reply to a letter of a cancelled deadline": Case(
        _from_recipient(),
        "matched",
        letter=OPERATOR,
        then=_cancel_cycle,
        accept="уже «отменён»), принимать нечего",
    ),
    "an XLSX zip bomb": Case(
        _attached(_zip_bomb(), "Мониторинг.xlsx", "application", "vnd.ms-excel"),
        "matched",
        "Мониторинг.xlsx",
        letter=S2,
        accept="«Мониторинг.xlsx» не принято: архив распаковывается в 530 МБ (больше 512 МБ): "
        "похоже на «zip-бомбу»",
    ),
    "an .xlsm with macros": Case(
        _attached(_xlsm(), "Отчёт.xlsm", "application", "vnd.ms-excel.sheet.macroEnabled.12"),
        "matched",
        "Отчёт.xlsm",
        letter=S2,
        accept="«Отчёт.xlsm» не принято: документ содержит макросы (vbaProject.bin)",
    ),
    "an .exe renamed .pdf": Case(
        _attached(EXE, "Приказ.pdf"),
        "matched",
        "Приказ.pdf",
        letter=S2,
        accept="вложение «Приказ.pdf» не принято: это исполняемый файл Windows, а не документ",
    ),
    "a file name with ../": Case(
        _attached(PDF, "../../../../tmp/evil-dotdot.pdf"),
        "matched",
        "evil-dotdot.pdf",
        letter=S2,
        accept="",
    ),
    "a file name with NUL": Case(
        _attached(PDF, "evil\x00-nul.pdf"), "matched", "evil-nul.pdf", letter=S2, accept=""
    ),
    "a file name of 300 characters": Case(
        _attached(PDF, "Я" * 296 + ".pdf"), "matched", "ЯЯЯ.pdf", letter=S2, accept=""
    ),
    "a file name in raw UTF-8 (RFC 6532)": Case(
        _attached(PDF, "Приказ за I квартал.pdf"),
        "matched",
        "Приказ за I квартал.pdf",
        letter=S2,
        accept="",
    ),
    "an auto-reply loop": Case(_auto_reply_loop, "auto", "автоответ", "auto-reply"),
    "message/rfc822 nested inside nested": Case(_nested_twice, "matched", "message/rfc822"),
    "no Message-ID, delivered twice": Case(_no_message_id_twice, "matched"),
    "a huge header (5,000 Received, a 280 KB Subject, a 2,000-character Message-ID)": Case(
        _huge_header, "matched", "Добрый день! Приказ во вложении.", matched_by="in-reply-to"
    ),
    "a Date in the future": Case(_future_date, "matched", matched_by="in-reply-to"),
    "a MIME boundary never closed and one mangled": Case(
        _unclosed_boundary, "matched", "Добрый день! Приказ во вложении."
    ),
    "a multipart without its boundary": Case(_no_boundary, "matched"),
}


def _tree(root: Path) -> set[str]:
    """Every file and folder under ``root`` (SQLite's journal files aside)."""
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if not p.name.endswith(("-wal", "-shm", "-journal"))
    }


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    from workflow.storage.tables import all_tables

    with db.read(engine) as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(sa.select(table))), key=repr)
            for table in all_tables()
        }


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_message(
    name: str,
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[name]
    letter = letters[case.letter]
    with db.read(engine) as conn:
        outbox_id, key = conn.execute(
            sa.select(OUTBOX.c.id, OUTBOX.c.key).where(
                OUTBOX.c.message_id == str(letter["Message-ID"])
            )
        ).one()
        letters_before = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar_one()
    built = case.build(letter, key)
    messages = built if isinstance(built, list) else [built]
    folder = tmp_path / "inbox"
    folder.mkdir()
    for n, raw in enumerate(messages):
        (folder / f"{n:02d}.eml").write_bytes(raw)
    path = folder if len(messages) > 1 else folder / "00.eml"

    report = import_path(engine, path, max_bytes=LIMIT)

    distinct = len(set(messages))
    assert len(report.outcomes) == len(messages)
    assert sum(o.duplicate for _w, o in report.outcomes) == len(messages) - distinct
    with db.read(engine) as conn:
        rows = conn.execute(sa.select(INBOUND).order_by(INBOUND.c.id)).all()
        letters_after = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar_one()
    assert len(rows) == distinct
    for row, (_where, outcome) in zip(rows, report.outcomes, strict=False):
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
            assert not any(ord(ch) < 32 for ch in item["name"])
            assert len(item["name"]) <= 150
    if case.state == "auto":  # never answered
        assert letters_after == letters_before
    if name == "HTML only":
        assert "цитата" not in rows[0].text
        assert "старое" not in rows[0].text
        assert "alert" not in rows[0].text
    # Recorded once: the same files again are duplicates, nothing new.
    again = import_path(engine, path, max_bytes=LIMIT).outcomes
    assert all(outcome.duplicate for _w, outcome in again)
    with db.read(engine) as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(INBOUND)).scalar_one() == distinct
        )

    if case.accept is None:
        return
    (row,) = rows
    if case.then is not None:
        case.then(cli, engine)
    monkeypatch.setenv("TOCHKA_EVIDENCE_DIR", str(tmp_path / "store"))
    args = KIND if case.letter == S2 else ()
    before, tree = _dump(engine), _tree(tmp_path)

    decided = cli("--now", "2021-08-20", "replies", "accept", str(row.id), *args)

    assert "Traceback" not in decided.output
    if case.accept:  # refused with the reason, nothing changed
        assert decided.exit_code == 1, decided.output
        assert case.accept in " ".join(decided.output.split()), decided.output
        assert _dump(engine) == before
        assert _tree(tmp_path) == tree
        return
    assert decided.exit_code == 0, decided.output
    (file,) = row.attachments
    with db.read(engine) as conn:
        (fired,) = conn.execute(
            sa.select(EVENT.c.evidence).where(EVENT.c.trigger == "train_staff")
        ).scalars()
    ((recorded),) = fired["_files"]
    assert recorded["name"] == file["name"] == case.says.replace("ЯЯЯ", "Я" * 146)
    assert recorded["sha256"] == file["sha256"]
    # The one file written: the content under its hash, in the evidence store.
    assert _tree(tmp_path) - tree == {"store", f"store/{file['sha256']}"}
    assert (tmp_path / "store" / file["sha256"]).read_bytes() == PDF
    assert not Path("/tmp/evil-dotdot.pdf").exists()


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


#: The Message-ID of the genuine reply the forgeries below copy.
GENUINE_ID = "<genuine-1@school1.example.org>"


def _forgeries(letter: EmailMessage) -> dict[str, tuple[bytes, str, str]]:
    """Messages that carry the genuine reply's Message-ID and arrive before it: the
    state each is recorded in, and a fragment of its reason."""
    same = GENUINE_ID
    return {
        "another sender": (
            reply(letter, sender="director@example.net", message_id=same),
            "quarantine",
            "не адресат письма",
        ),
        "the school's From, DMARC failed": (
            reply(
                letter,
                headers={"Authentication-Results": "mx.example.org; dmarc=fail header.from=x"},
                message_id=same,
            ),
            "quarantine",
            "dmarc=fail",
        ),
        "the school's From, other words and no file": (
            reply(letter, text="Приказ отменён, ничего не принимайте.", pdf=None, message_id=same),
            "matched",
            "Приказ отменён",
        ),
        "the school's From, an auto-reply": (
            reply(letter, headers={"Auto-Submitted": "auto-replied"}, message_id=same),
            "auto",
            "автоответ",
        ),
    }


def _redelivered(raw: bytes) -> bytes:
    """The same message as a second delivery brings it: relays' fields prepended, line
    ends turned to LF."""
    trace = (
        b"Delivered-To: tochka@edu.example.org\r\n"
        b"Return-Path: <s1@example.org>\r\n"
        b"Received: from relay2.example.net by mx.example.org; Wed, 3 Mar 2021 12:05:00 +0000\r\n"
        b"Authentication-Results: mx.example.org; dkim=pass; spf=pass\r\n"
    )
    return (trace + raw).replace(b"\r\n", b"\n")


def test_a_forged_message_id_arriving_first_shadows_no_reply(
    engine: Engine, letters: dict[str, EmailMessage], tmp_path: Path
) -> None:
    """A duplicate is a message whose Message-ID and content (sender, verdict, kind,
    subject, references, body) agree with one recorded: a forgery that copies the
    genuine reply's Message-ID and comes first is recorded as what it is, and the
    genuine reply still becomes the school's pending submission."""
    letter = letters["notice"]
    genuine = reply(letter, message_id=GENUINE_ID)
    forged = _forgeries(letter)
    folder = tmp_path / "inbox"
    folder.mkdir()
    for n, (raw, _state, _says) in enumerate(forged.values()):
        (folder / f"{n:02d}-forged.eml").write_bytes(raw)
    (folder / "99-genuine.eml").write_bytes(genuine)

    report = import_path(engine, folder, max_bytes=LIMIT)

    assert [o.duplicate for _w, o in report.outcomes] == [False] * (len(forged) + 1)
    with db.read(engine) as conn:
        rows = conn.execute(sa.select(INBOUND).order_by(INBOUND.c.id)).all()
    assert [r.message_id for r in rows] == [GENUINE_ID] * (len(forged) + 1)
    for row, (name, (_raw, state, says)) in zip(rows, forged.items(), strict=False):
        assert row.state == state, name
        assert says in " ".join([row.reason or "", row.text]), (name, row.reason)
    real = rows[-1]
    assert (real.state, real.submission, real.from_addr) == ("matched", "pending", SCHOOL)
    assert [a["name"] for a in real.attachments] == ["Приказ №5.pdf"]
    assert real.text.startswith("Добрый день! Приказ во вложении.")

    # Each of them again, and the genuine reply delivered a second time: duplicates.
    (folder / "99-genuine-again.eml").write_bytes(_redelivered(genuine))
    again = import_path(engine, folder, max_bytes=LIMIT).outcomes
    assert all(outcome.duplicate for _w, outcome in again), [o for _w, o in again]
    assert {o.id for _w, o in again if _w.endswith("genuine-again.eml")} == {real.id}
    with db.read(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(INBOUND)).scalar_one() == len(
            rows
        )


def test_messages_recorded_before_the_content_key_stay_duplicates_by_message_id(
    db_url: str, tmp_path: Path
) -> None:
    """Migration 0014 on a database with messages: their unique key is (Message-ID, "")
    and a message of their Message-ID is a duplicate as it was; new messages are kept
    by Message-ID and content. Both backends."""
    from alembic import command

    from workflow.storage import schema

    eng = db.make_engine(db_url, create_dir=True)
    try:
        with db.write(eng) as conn:
            cfg: Any = schema.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0013")
        old = {
            "dedup_key": "<old-1@example.org>",
            "message_id": "<old-1@example.org>",
            "mailbox": "file",
            "source": "old.eml",
            "from_addr": SCHOOL,
            "from_header": SCHOOL,
            "subject": "Re: старое",
            "date_header": "",
            "size": 10,
            "sha256": "0" * 64,
            "state": "quarantine",
            "reason": "неизвестный отправитель",
            "text": "",
            "attachments": [],
            "notes": [],
            "raw": b"x",
            "received_at": datetime(2021, 3, 3, 12, 0, tzinfo=UTC),
        }
        columns = ", ".join(old)
        values = ", ".join(f":{name}" for name in old)
        with db.write(eng) as conn:
            conn.execute(
                sa.text(f"INSERT INTO inbound_message ({columns}) VALUES ({values})").bindparams(
                    sa.bindparam("attachments", type_=sa.JSON),
                    sa.bindparam("notes", type_=sa.JSON),
                    sa.bindparam("received_at", type_=sa.DateTime(timezone=True)),
                ),
                old,
            )
        assert schema.upgrade(eng) == ("0013", schema.HEAD)
        with db.read(eng) as conn:
            assert conn.execute(sa.select(INBOUND.c.content_key)).scalar_one() == ""
        path = tmp_path / "new.eml"
        path.write_bytes(
            b"From: s1@example.org\r\nSubject: Re: new\r\nMessage-ID: <old-1@example.org>\r\n"
            b"\r\nother words\r\n"
        )
        ((_where, outcome),) = import_path(eng, path, max_bytes=LIMIT).outcomes
        assert outcome.duplicate  # the old row's rule: its Message-ID alone
        path.write_bytes(path.read_bytes().replace(b"<old-1@", b"<new-1@"))
        ((_where, first),) = import_path(eng, path, max_bytes=LIMIT).outcomes
        path.write_bytes(path.read_bytes().replace(b"other words", b"forged words"))
        ((_where, second),) = import_path(eng, path, max_bytes=LIMIT).outcomes
        assert not first.duplicate
        assert not second.duplicate
        with db.read(eng) as conn:
            keys = conn.execute(
                sa.select(INBOUND.c.dedup_key, INBOUND.c.content_key).order_by(INBOUND.c.id)
            ).all()
        assert [k for k, _c in keys] == ["<old-1@example.org>", "<new-1@example.org>"] + [
            "<new-1@example.org>"
        ]
        assert keys[1].content_key != keys[2].content_key
        assert all(len(c) == 64 for _k, c in keys[1:])
        # The unique key holds: the same row twice is refused by the database itself.
        with pytest.raises(sa.exc.IntegrityError), db.write(eng) as conn:
            conn.execute(
                INBOUND.insert(),
                {**old, "dedup_key": keys[1].dedup_key, "content_key": keys[1].content_key},
            )
    finally:
        eng.dispose()
