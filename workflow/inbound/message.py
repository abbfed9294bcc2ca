"""Reading one inbound message, whatever its sender made of it.

`parse` never raises for a message's content: broken base64, an unknown charset, a
header that is not RFC 5322, HTML-only mail, a nested ``message/rfc822`` each give what
could be read and a Russian note (``notes``) on what could not. What it returns is what
the matching (`workflow.inbound.record`) needs: who sent it, which of our letters it
answers (``In-Reply-To``/``References``, the subject's token), whether it is an
automatic message (RFC 3834 ``Auto-Submitted``, ``Precedence``, list headers, a
delivery report), the failed ``Authentication-Results`` verdicts, the reply's own text
without the quoted history, and its attachments (name, type, size, SHA-256).
"""

from __future__ import annotations

import codecs
import email
import hashlib
import html
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

__all__ = ["Attachment", "Parsed", "parse"]

_MSGID_RE = re.compile(r"<[^<>\s]{1,990}>")
_AUTH_FAIL_RE = re.compile(r"\b(dmarc|dkim)\s*=\s*(fail|permerror)\b", re.IGNORECASE)
_NAME_LIMIT = 150
# Lines that start the quoted history of a reply (the reader's client wrote them).
_HISTORY_RE = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|исходное сообщение|пересылаемое сообщение|"
    r"forwarded message)|_{10,}\s*$)",
    re.IGNORECASE,
)
_ATTRIBUTION_RE = re.compile(r"(?:wrote|пишет|написал|написала|писал|писала)\s*:\s*$", re.I)
_OUTLOOK_HEAD_RE = re.compile(r"^\s*(?:from|от|от кого)\s*:\s*\S", re.IGNORECASE)
_OUTLOOK_NEXT_RE = re.compile(
    r"^\s*(?:sent|date|to|subject|отправлено|дата|кому|тема)\s*:", re.IGNORECASE
)
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon")


@dataclass(frozen=True, kw_only=True, slots=True)
class Attachment:
    """A file the message carries (or a message nested in it)."""

    name: str
    content_type: str
    size: int
    sha256: str
    data: bytes = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Parsed:
    """What an inbound message says, as far as it could be read."""

    message_id: str | None
    from_header: str
    #: Every address of From, lower-case addr-specs (one, for a well-formed reply).
    from_addrs: tuple[str, ...]
    subject: str
    date_header: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    #: «dmarc=fail», «dkim=fail»: the failed verdicts of Authentication-Results.
    auth_failures: tuple[str, ...]
    #: auto-reply, bounce or list; None for a message a person wrote.
    auto_kind: str | None
    text: str
    attachments: tuple[Attachment, ...]
    notes: tuple[str, ...]

    @property
    def replied_ids(self) -> tuple[str, ...]:
        """The Message-IDs this message answers, the likeliest first: In-Reply-To, then
        References from the last (the letter answered) to the first (the thread's)."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)


def parse(raw: bytes) -> Parsed:
    """Read a message's bytes (its header alone is enough for the header fields)."""
    msg = email.message_from_bytes(raw)
    for part in msg.walk():
        _utf8_headers(part)
    notes: list[str] = []
    from_header = _header_text(msg, "From", notes)
    from_addrs = _addresses(msg.get_all("From") or [])
    subject = _header_text(msg, "Subject", notes)
    attachments: list[Attachment] = []
    text_parts: list[str] = []
    html_parts: list[str] = []
    _walk(msg, text_parts, html_parts, attachments, notes, top=True)
    if text_parts:
        text = "\n\n".join(text_parts)
    elif html_parts:
        text = "\n\n".join(_html_text(part) for part in html_parts)
    else:
        text = ""
    return Parsed(
        message_id=_first_id(msg.get("Message-ID")),
        from_header=from_header,
        from_addrs=from_addrs,
        subject=subject,
        date_header=_one_line(str(msg.get("Date", "")))[:255],
        in_reply_to=_ids(msg.get_all("In-Reply-To") or []),
        references=_ids(msg.get_all("References") or []),
        auth_failures=_auth_failures(msg.get_all("Authentication-Results") or []),
        auto_kind=_auto_kind(msg, from_addrs),
        text=own_text(text),
        attachments=tuple(attachments),
        notes=tuple(dict.fromkeys(notes)),
    )


# --- headers ------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _raw_utf8(text: str) -> str:
    """A header value written in raw UTF-8 (RFC 6532), as the parser keeps it (its
    bytes as surrogate escapes, which would read as «�»), as text; else unchanged."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return text


def _utf8_headers(part: Message) -> None:
    """Read a part's raw UTF-8 headers (some clients write the subject and the file
    names so) as UTF-8, the headers' order kept."""
    items = list(part.raw_items())
    fixed = [(name, _raw_utf8(value)) for name, value in items]
    if fixed == items:
        return
    for name in {name for name, _value in items}:
        del part[name]
    for name, value in fixed:
        part[name] = value


def _header_text(msg: Message, name: str, notes: list[str]) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    raw = str(value)
    try:
        return _one_line(str(make_header(decode_header(raw))))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        notes.append(f"заголовок {name} в неизвестной кодировке: показан как есть")
        return _one_line(raw.encode("ascii", "replace").decode("ascii"))


def _addresses(values: list[Any]) -> tuple[str, ...]:
    found: list[str] = []
    for _name, addr in getaddresses([str(v) for v in values]):
        addr = addr.strip().lower()
        if addr and addr.count("@") == 1 and not any(ch.isspace() for ch in addr):
            found.append(addr)
    return tuple(dict.fromkeys(found))


def _first_id(value: Any) -> str | None:
    if value is None:
        return None
    match = _MSGID_RE.search(str(value))
    return match[0] if match else None


def _ids(values: list[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m for v in values for m in _MSGID_RE.findall(str(v))))


def _auth_failures(values: list[Any]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            f"{m[1].lower()}={m[2].lower()}" for v in values for m in _AUTH_FAIL_RE.finditer(str(v))
        )
    )


def _auto_kind(msg: Message, from_addrs: tuple[str, ...]) -> str | None:
    """RFC 3834 and its customs: a bounce, an auto-reply or list mail, else None."""
    ctype = msg.get_content_type()
    if ctype == "multipart/report":
        report = str(msg.get_param("report-type", "") or "").lower()
        return "bounce" if report == "delivery-status" else "auto-reply"
    if any(addr.split("@")[0] in _BOUNCE_SENDERS for addr in from_addrs):
        return "bounce"
    if str(msg.get("Return-Path", "x")).strip() in ("<>", ""):
        # The null reverse-path: only automatic mail is sent so (RFC 3834 §3.3, RFC 5321).
        return "auto-reply"
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return "auto-reply"
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return "auto-reply"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence == "list" or msg.get("List-Id") is not None or msg.get("List-Unsubscribe"):
        return "list"
    if precedence in ("bulk", "junk", "auto_reply"):
        return "auto-reply"
    return None


# --- the body -----------------------------------------------------------------------------


def _walk(
    part: Message,
    texts: list[str],
    htmls: list[str],
    attachments: list[Attachment],
    notes: list[str],
    *,
    top: bool = False,
) -> None:
    ctype = part.get_content_type()
    if part.is_multipart() and not ctype.startswith("message/"):
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else ():
            if isinstance(sub, Message):
                _walk(sub, texts, htmls, attachments, notes)
        return
    if ctype == "message/rfc822" and not top:
        _nested(part, attachments, notes)
        return
    name = _filename(part, notes)
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    if name is None and disposition != "attachment" and ctype in ("text/plain", "text/html"):
        body = _text(part, notes)
        (texts if ctype == "text/plain" else htmls).append(body)
        return
    if ctype.startswith("multipart/") or (top and ctype == "message/rfc822"):
        return
    data = _payload(part, name or ctype, notes)
    attachments.append(
        Attachment(
            name=name or f"вложение-{len(attachments) + 1}",
            content_type=ctype,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        )
    )


def _nested(part: Message, attachments: list[Attachment], notes: list[str]) -> None:
    """A forwarded message: kept whole as an attachment, never read as the reply."""
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], Message):
        try:
            data = inner[0].as_bytes()
        except (LookupError, UnicodeError, ValueError, TypeError):
            data = b""
            notes.append("вложенное письмо не прочитано")
    else:
        data = _payload(part, "вложенное письмо", notes)
    name = _filename(part, notes) or f"вложенное-письмо-{len(attachments) + 1}.eml"
    attachments.append(
        Attachment(
            name=name,
            content_type="message/rfc822",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        )
    )


def _payload(part: Message, what: str, notes: list[str]) -> bytes:
    before = len(part.defects)
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = b""
    if len(part.defects) > before or any("Base64" in type(d).__name__ for d in part.defects):
        notes.append(f"«{what}»: повреждённая кодировка base64, содержимое может быть неполным")
    return data


def _text(part: Message, notes: list[str]) -> str:
    data = _payload(part, "текст письма", notes)
    charset = str(part.get_content_charset() or "utf-8")
    try:
        codecs.lookup(charset)
    except LookupError:
        notes.append(
            f"неизвестная кодировка текста «{_one_line(charset)[:40]}»: прочитан как UTF-8"
        )
        charset = "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except (LookupError, UnicodeError):
        return data.decode("utf-8", errors="replace")


def _filename(part: Message, notes: list[str]) -> str | None:
    try:
        name = part.get_filename()
    except (LookupError, UnicodeError, ValueError, TypeError):
        notes.append("имя вложения в неизвестной кодировке")
        return "вложение"
    if name is None:
        return None
    if isinstance(name, str) and "=?" in name:
        try:
            name = str(make_header(decode_header(name)))
        except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
            pass
    return safe_name(str(name))


def safe_name(name: str) -> str:
    """A file name fit to show and to save: no folders, control characters or leading
    dots, at most `_NAME_LIMIT` characters (the extension kept)."""
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".").strip()
    if len(name) > _NAME_LIMIT:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: _NAME_LIMIT - len(ext) - 1] + "." + ext
        else:
            name = name[:_NAME_LIMIT]
    return name or "вложение"


# --- the reply's own text -----------------------------------------------------------------


class _HtmlText(HTMLParser):
    """The visible text of an HTML part, without scripts, styles and quoted blocks."""

    _SKIP = frozenset({"script", "style", "head", "blockquote", "title"})
    _BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        if tag in self._SKIP or "gmail_quote" in classes or "moz-cite-prefix" in classes:
            self.skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skip and tag in (*self._SKIP, "div"):
            self.skip -= 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def _html_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):  # html.parser on broken markup
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "".join(parser.out)


def own_text(text: str) -> str:
    """The reply without the quoted history: quoted lines («> …») dropped, and everything
    from the client's attribution («… пишет:», «-----Original Message-----», an Outlook
    «От:/Отправлено:» block) on; blank lines at the ends and runs of them squeezed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _HISTORY_RE.match(line):
            break
        if _ATTRIBUTION_RE.search(stripped) and _quote_follows(lines, index):
            break
        if _OUTLOOK_HEAD_RE.match(line) and any(
            _OUTLOOK_NEXT_RE.match(nxt) for nxt in lines[index + 1 : index + 4]
        ):
            break
        if stripped.startswith(">"):
            continue
        kept.append("".join(ch for ch in line if ch.isprintable() or ch == "\t").rstrip())
    out: list[str] = []
    for line in kept:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _quote_follows(lines: list[str], index: int) -> bool:
    """An attribution line is followed by quoted lines (or nothing but them)."""
    rest = [line for line in lines[index + 1 : index + 4] if line.strip()]
    return not rest or rest[0].lstrip().startswith(">")
