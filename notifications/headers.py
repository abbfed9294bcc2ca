"""Header safety: every value that reaches a letter's header passes through here.

Python 3.11's `email` package lets some values through that change the letter's
structure when serialised (CVE-2024-6923: encoded newlines in a header). We do not rely
on it: addresses are checked against the one address rule (`base.addresses`, shared with
the imports and the roadmap file) and refused when they fail;
display names and subjects are *cleaned* (control characters, line and paragraph
separators, bidirectional overrides and RFC 2047 encoded-word tricks removed), because a
school name with a newline must not stop its reminder. `verify_letter` then parses the
serialised letter back and refuses it unless its headers and recipients are exactly the
ones we meant to write.

Encoding. Python 3.11's folder (`email._header_value_parser`) splits a long non-ASCII
display name or subject into several RFC 2047 encoded-words and puts the space between two
words *outside* them, where RFC 2047 (section 6.2) says a reader must drop it: «Департамент
образования Ивановской области» arrives as «Департамент образованияИвановской области». The
headers a letter carries with people's text (Subject, To, Cc, Reply-To, From) are therefore
folded here (`fold_text`, `fold_addresses`): the whole phrase is encoded with
`email.header.Header`, which splits it between characters so every space stays inside an
encoded-word, and the writing policy's header classes (`SMTP_POLICY`) fold with it instead
of the library's folder. The values are checked exactly as before (`set_header`,
`verify_letter`): only the bytes written for them change.
"""

from __future__ import annotations

import email.charset
import email.header
import hashlib
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from email import policy as email_policy
from email.headerregistry import (
    Address,
    BaseHeader,
    HeaderRegistry,
    UniqueAddressHeader,
    UniqueUnstructuredHeader,
)
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import Policy
from email.utils import formataddr
from typing import Any

from base.addresses import AddressError, AddressUse, parse_address
from notifications.errors import InvalidAddress, UnsafeHeader
from notifications.memo import memoised, on_clear

#: Display names and subjects are cut to this many characters (a name is not a letter).
MAX_TEXT_LENGTH = 200
#: Header lines are folded to this length (RFC 5322's "SHOULD"), CRLF not counted.
MAX_LINE = 78

# RFC 2047 encoded word, loosely (any charset, any text), to catch it before a reader does.
_ENCODED_WORD_RE = re.compile(r"=\?[^?\s]*\?[A-Za-z]?\?.*?\?=", re.DOTALL)
_SPACES_RE = re.compile(r"\s+")


def _forbidden(ch: str) -> bool:
    """Characters never allowed in a header value, raw or decoded.

    Cc: C0/C1 controls incl. CR, LF, TAB, NUL, DEL, U+0085; Cf: format characters
    (zero-width joiners, bidi overrides that disguise a name); Zl/Zp: U+2028/U+2029;
    plus U+FEFF and the separators `str.splitlines` treats as line breaks.
    """
    return unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"} or ch in (
        "\x1c\x1d\x1e\ufeff"
    )


def has_forbidden(value: str) -> bool:
    """Whether ``value`` holds any character a header must never carry."""
    # Every forbidden category is "Other" or a line/paragraph separator, which
    # `str.isprintable` refuses: a printable text (nearly every one) has none.
    return not value.isprintable() and any(_forbidden(ch) for ch in value)


def _decode_encoded_words(value: str) -> str:
    """Decode RFC 2047 encoded words found in raw input, as a mail reader would."""

    def decode(match: re.Match[str]) -> str:
        try:
            parts = email.header.decode_header(match.group(0))
        except Exception:  # noqa: BLE001  # malformed: treat as the raw text it is
            return match.group(0).replace("=?", "=").replace("?=", "=")
        out = []
        for payload, charset in parts:
            if isinstance(payload, bytes):
                out.append(payload.decode(charset or "ascii", errors="replace"))
            else:
                out.append(payload)
        return "".join(out)

    return _ENCODED_WORD_RE.sub(decode, value)


@memoised
def clean_text(value: str, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Make free text (a display name, a subject) safe for one header line.

    Encoded words are decoded first (so ``=?utf-8?q?a=0Ab?=`` cannot smuggle a newline
    to the reader), every forbidden character becomes a space, whitespace runs collapse,
    and any encoded-word syntax left over is broken up so no reader decodes it.

    Args:
        value: untrusted text.
        max_length: the result is cut to this many characters (with an ellipsis).

    Returns:
        A single line without control characters; possibly empty.
    """
    text = value
    for _ in range(3):  # nested encodings unwrap one level per pass
        decoded = _decode_encoded_words(text)
        if decoded == text:
            break
        text = decoded
    if not text.isprintable():  # see `has_forbidden`
        text = "".join(" " if _forbidden(ch) else ch for ch in text)
    text = _SPACES_RE.sub(" ", text).strip()
    # Whatever encoded-word syntax survived is shown literally, never decoded.
    text = text.replace("=?", "= ?").replace("?=", "? =")
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "…"
    return text


@memoised
def check_address(address: str, *, field: str = "To") -> str:
    """Validate an e-mail address for a header and the SMTP envelope.

    The rule is the one imports and the roadmap file apply (`base.addresses`): an ASCII
    local part and a public domain; a Unicode domain (``школа.рф``) is converted to its
    ASCII form (``xn--80atdl2c.xn--p1ai``). The From address (``field="From"``) is Tochka's
    own, and may be on a private domain of the department's relay (``tochka.local``).

    Args:
        address: the address exactly as configured (surrounding spaces are trimmed).
        field: the header it is meant for, named in the error.

    Returns:
        The address, with the domain in ASCII (IDNA) form and lower case.

    Raises:
        InvalidAddress: the address is malformed or carries unsafe characters.
    """
    candidate = address.strip(" ")  # only spaces: str.strip() would eat U+2028, U+0085
    use = AddressUse.SENDER if field == "From" else AddressUse.RECIPIENT
    if field == "From":
        candidate = _split_sender(candidate)[1]
    try:
        return parse_address(candidate, use=use).ascii
    except AddressError as exc:
        raise InvalidAddress(address=address, reason=exc.reason, field=field) from None


_SENDER_RE = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<address>[^<>]*)>")


def _split_sender(value: str) -> tuple[str, str]:
    """``Имя <addr>`` → (``Имя``, ``addr``); a bare address has no name. A quoted name
    (``"Имя" <addr>``) loses its quotes."""
    match = _SENDER_RE.fullmatch(value)
    if match is None:
        return "", value
    name = match["name"].strip(" ")
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name, match["address"].strip(" ")


def parse_sender(value: str) -> tuple[str, str]:
    """The sender as configured (``TOCHKA_MAIL_FROM``): a bare address or ``Имя <addr>``.

    Returns:
        The display name (cleaned; empty when none is given) and the checked address.

    Raises:
        InvalidAddress: the address part is not a valid sender address, or the display
            name carries characters a header must never carry.
    """
    name, _address = _split_sender(value.strip(" "))
    if has_forbidden(name):
        raise InvalidAddress(address=value, reason="управляющие символы в имени", field="From")
    return clean_text(name), check_address(value, field="From")


@memoised
def make_address(email: str, name: str = "", *, field: str = "To") -> Address:
    """An `Address` with a checked address and a cleaned display name.

    Raises:
        InvalidAddress: see `check_address`.
    """
    addr = check_address(email, field=field)
    local, domain = addr.split("@")
    return Address(display_name=clean_text(name), username=local, domain=domain)


def set_header(message: EmailMessage, name: str, value: str | Address | Sequence[Address]) -> None:
    """Set a header after checking it carries no forbidden characters.

    Raises:
        UnsafeHeader: the value (or a display name in it) is unsafe.
    """
    if isinstance(value, str):
        if has_forbidden(value) or _ENCODED_WORD_RE.search(value):
            raise UnsafeHeader(field=name, value=value, reason="управляющие символы")
        message[name] = value
        return
    addresses = [value] if isinstance(value, Address) else list(value)
    for address in addresses:
        if has_forbidden(address.display_name) or has_forbidden(address.addr_spec):
            raise UnsafeHeader(field=name, value=str(address), reason="управляющие символы")
    message[name] = addresses


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the letter with idempotency key ``key``: stable across resends.

    Args:
        key: the outbox key.
        domain: the sender's domain (from the From address).
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}.tochka@{domain}>"


def envelope_headers(
    *, mail_from: str, key: str, date_header: str, sender_name: str = "", letter: bytes = b""
) -> bytes:
    """The From, Date and Message-ID header lines the deliverer puts on a stored letter.

    They are added when sending, not when queuing, so the sender can be configured
    where the transport is; the Message-ID depends only on the key and the domain.
    From's display name is the configured one (``Имя <addr>`` in ``mail_from``, or
    ``sender_name``), else the name the stored ``letter`` gives its Reply-To (the
    coordinator party), else none.

    Raises:
        InvalidAddress: ``mail_from`` is not a valid address.
    """
    from_lines, domain = _from_lines(mail_from, sender_name, _reply_to_phrase(letter))
    lines = [f"Date: {date_header}", f"Message-ID: {message_id(key, domain)}"]
    return from_lines + _header_bytes(lines)


@memoised
def _from_lines(mail_from: str, sender_name: str, reply_phrase: str | None) -> tuple[bytes, str]:
    """`envelope_headers`' From line (CRLF-ended) and the sender's domain: the same for
    every letter of a run, so made once (``reply_phrase``: `_reply_to_phrase`'s).

    Raises:
        InvalidAddress: ``mail_from`` is not a valid address.
        UnsafeHeader: the line carries a forbidden character.
    """
    configured, sender = parse_sender(mail_from)
    name = configured or clean_text(sender_name)
    if not name and reply_phrase is not None:
        name = clean_text(decode_phrase(reply_phrase))
    local, domain = sender.split("@")[0], sender.split("@")[1]
    lines = fold_addresses(
        "From", [Address(display_name=name, username=local, domain=domain)]
    ).split("\r\n")
    return _header_bytes(lines), domain


def _header_bytes(lines: list[str]) -> bytes:
    """``lines`` as CRLF-ended header bytes.

    Raises:
        UnsafeHeader: a line carries a forbidden character.
    """
    for line in lines:
        if has_forbidden(line):
            raise UnsafeHeader(field=line.split(":")[0], value=line, reason="управляющие символы")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


_REPLY_TO_RE = re.compile(
    rb"^Reply-To:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", re.MULTILINE | re.IGNORECASE
)


def _reply_to_phrase(letter: bytes) -> str | None:
    """The raw display-name part of a stored letter's Reply-To (what precedes its ``<``,
    folded as written), or None (no Reply-To, or no letter): `_from_lines` decodes it by
    RFC 2047's rule (`decode_phrase`), not by the library's parser, as Python 3.11's puts
    a space between the adjacent encoded-words of a phrase.

    Matched on the bytes: a non-ASCII byte (which reading them as ASCII would make one
    U+FFFD) is neither CR, LF, space nor tab, so the line found is the same.
    """
    head = letter.partition(b"\r\n\r\n")[0]
    match = _REPLY_TO_RE.search(head)
    if match is None:
        return None
    return match[1].decode("ascii", errors="replace").rpartition("<")[0]


def decode_phrase(raw: str) -> str:
    """A raw display name (folded, encoded-words or a quoted string) as text.

    Unfolded (RFC 5322), the encoded-words decoded and joined by RFC 2047's rule:
    whitespace between two encoded-words is dropped, any other is kept.
    """
    text = re.sub(r"\r\n(?=[ \t])", "", raw).strip(" \t")
    if _ENCODED_WORD_RE.search(text):
        parts = email.header.decode_header(text)
        return "".join(
            p.decode(c or "ascii", errors="replace") if isinstance(p, bytes) else p
            for p, c in parts
        )
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


# ----------------------------------------------------------------------------- folding


#: The longest RFC 2047 encoded-word (section 2).
_MAX_WORD = 75
_UTF8 = email.charset.Charset("utf-8")


def _encoded_word(text: str) -> str:
    """One encoded-word (UTF-8, base64) of ``text``, by `email.charset`."""
    return str(_UTF8.header_encode(text))


@memoised
def _encoded_lines(text: str, first_width: int) -> tuple[str, ...]:
    """``text`` as RFC 2047 encoded-words (UTF-8, base64), one per line.

    The whole text is encoded, so every space is inside an encoded-word (RFC 2047 6.2:
    a reader drops the whitespace *between* two of them). Words are split after a space
    where one fits: Python 3.11's own address parser wrongly keeps the whitespace between
    two encoded-words of a display name, and a split inside a word would show there as
    «админ истрации» (after a space it is only a double space). A word too long for one
    encoded-word is split between characters. The first line has ``first_width``
    columns, the others `MAX_LINE` less the folding space.
    """

    def fits(chunk: str, width: int) -> bool:
        return len(_encoded_word(chunk)) <= min(_MAX_WORD, width)

    pieces = re.findall(r"[^ ]+ *| +", text)  # each word with the spaces after it
    lines: list[str] = []
    chunk = ""
    for piece in pieces:
        width = first_width if not lines else MAX_LINE - 1
        if fits(chunk + piece, width):
            chunk += piece
            continue
        if chunk:
            lines.append(_encoded_word(chunk))
            chunk = ""
            width = MAX_LINE - 1
        while not fits(piece, width):  # a single word longer than an encoded-word
            cut = len(piece) - 1
            while cut > 1 and not fits(piece[:cut], width):
                cut -= 1
            lines.append(_encoded_word(piece[:cut]))
            piece = piece[cut:]
            width = MAX_LINE - 1
        chunk = piece
    if chunk or not lines:
        lines.append(_encoded_word(chunk))
    return tuple(lines)


def fold_text(name: str, text: str) -> str:
    """An unstructured header (Subject) as CRLF-folded lines, without the final CRLF.

    ASCII text is folded at its spaces (RFC 5322); other text becomes encoded-words.
    """
    if text.isascii():
        words = text.split(" ")
        lines = [f"{name}: {words[0]}"]
        for word in words[1:]:
            if len(lines[-1]) + 1 + len(word) > MAX_LINE and lines[-1].strip():
                lines.append(f" {word}")
            else:
                lines[-1] += f" {word}"
        return "\r\n".join(lines)
    first, *rest = _encoded_lines(text, MAX_LINE - len(name) - 2)
    return "\r\n".join([f"{name}: {first}", *(f" {line.lstrip()}" for line in rest)])


def fold_addresses(name: str, addresses: Sequence[Address]) -> str:
    """An address header as CRLF-folded lines, without the final CRLF.

    Each address starts a line; a non-ASCII display name becomes encoded-words (a phrase
    may be encoded-words, RFC 2047 section 5(3)), an ASCII one is written as an atom
    sequence or a quoted string (`email.utils.formataddr`).
    """
    lines: list[str] = []
    for index, address in enumerate(addresses):
        lead = f"{name}: " if index == 0 else " "
        comma = "," if index < len(addresses) - 1 else ""
        spec = f"<{address.addr_spec}>"
        display = address.display_name
        if not display:
            lines.append(f"{lead}{spec}{comma}")
            continue
        if display.isascii():
            lines.append(f"{lead}{formataddr((display, address.addr_spec))}{comma}")
            continue
        first, *rest = _encoded_lines(display, MAX_LINE - len(lead))
        words = [f"{lead}{first}", *(f" {line.lstrip()}" for line in rest)]
        if len(words[-1]) + 1 + len(spec) + len(comma) > MAX_LINE:
            words.append(f" {spec}{comma}")
        else:
            words[-1] += f" {spec}{comma}"
        lines.extend(words)
    return "\r\n".join(lines)


class _EncodedText(UniqueUnstructuredHeader):
    """Subject, folded by `fold_text` (the policy's folder would drop its spaces).

    The registry makes the header class from this one and `BaseHeader` (its last base),
    which gives ``name``.
    """

    name: str

    def fold(self, *, policy: Policy) -> str:
        return fold_text(self.name, str(self)).replace("\r\n", policy.linesep) + policy.linesep


class _EncodedAddresses(UniqueAddressHeader):
    """To, Cc, Reply-To, From, folded by `fold_addresses` (``name``: see `_EncodedText`)."""

    name: str

    def fold(self, *, policy: Policy) -> str:
        folded = fold_addresses(self.name, list(self.addresses))
        return folded.replace("\r\n", policy.linesep) + policy.linesep


#: Header values longer than this are parsed each time, never kept (a hostile message's
#: 280 KB Subject must not stay in memory).
_MEMO_VALUE = 1000
#: Header objects kept per registry, the most recently used: a parsed header weighs
#: about 14 KB, and the values worth keeping (the same in every letter) are a dozen;
#: each letter's own (its Subject, its boundaries) pass through.
_MEMO_HEADERS = 256


class _CachedRegistry(HeaderRegistry):
    """The standard header registry, minus its cost: the stock one builds a new class
    for every header it parses (a quarter of the time of building a letter), and parses
    the same values again and again (every letter's «Content-Transfer-Encoding: base64»
    and Reply-To, a day's To of one school in each amended digest).

    A header object is immutable (a `str` with its parse), so one made for a name and a
    value serves every message that sets the same (values up to `_MEMO_VALUE`
    characters, the `_MEMO_HEADERS` used last).
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._made: OrderedDict[tuple[str, object], BaseHeader] = OrderedDict()
        on_clear(self._made.clear)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        memo = _memo_key(value)
        if memo is None:
            return super().__call__(name, value)
        key = (name, memo)
        header = self._made.get(key)
        if header is None:
            header = self._made[key] = super().__call__(name, value)
            if len(self._made) > _MEMO_HEADERS:
                self._made.popitem(last=False)
        else:
            self._made.move_to_end(key)
        return header


def _memo_key(value: object) -> object:
    """What identifies a header's value for `_CachedRegistry`: the text, or each address's
    parts; None for a value not kept (too long, or of another kind)."""
    if isinstance(value, str):
        return value if len(value) <= _MEMO_VALUE else None
    items = [value] if isinstance(value, Address) else value
    if not isinstance(items, list | tuple) or not all(isinstance(a, Address) for a in items):
        return None
    parts = tuple((a.display_name, a.username, a.domain) for a in items)
    return parts if sum(len(p) for part in parts for p in part) <= _MEMO_VALUE else None


def _writing_registry() -> _CachedRegistry:
    registry = _CachedRegistry()
    # map_to_type is typed for BaseHeader classes; the registry adds BaseHeader itself.
    registry.map_to_type("subject", _EncodedText)  # type: ignore[arg-type]
    for name in ("to", "cc", "reply-to", "from"):
        registry.map_to_type(name, _EncodedAddresses)  # type: ignore[arg-type]
    return registry


#: `email.policy.SMTP` (CRLF, 78-column folding) with the cached header registry, and
#: people's text folded by `fold_text` / `fold_addresses`.
SMTP_POLICY = email_policy.SMTP.clone(header_factory=_writing_registry())
#: `email.policy.default` (what a reader sees) with the cached header registry.
READ_POLICY = email_policy.default.clone(header_factory=_CachedRegistry())

_PARSER = BytesParser(policy=READ_POLICY)
_HEADER_LINE_RE = re.compile(rb"^[!-9;-~]+:")


def verify_letter(
    raw: bytes, *, allowed: Iterable[str], to: Sequence[str], cc: Sequence[str]
) -> None:
    """Refuse a serialised letter whose header block is not exactly what we wrote.

    Checks the raw header lines (each a ``Name:`` line or a folded continuation, no bare
    CR or LF), that only ``allowed`` header names occur (each once), and that the parsed
    To and Cc hold exactly the intended addresses.

    Raises:
        UnsafeHeader: anything unexpected.
    """
    head, sep, _body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise UnsafeHeader(field="*", value="", reason="нет границы заголовков")
    allowed_names = {name.lower() for name in allowed}
    seen: set[str] = set()
    for line in head.split(b"\r\n"):
        if b"\r" in line or b"\n" in line or b"\x00" in line:
            raise UnsafeHeader(field="*", value=repr(line), reason="одиночный CR или LF")
        if line[:1] in (b" ", b"\t"):
            continue
        if not _HEADER_LINE_RE.match(line):
            raise UnsafeHeader(field="*", value=repr(line[:80]), reason="строка не заголовок")
        name = line.split(b":", 1)[0].decode("ascii").lower()
        if name not in allowed_names or name in seen:
            raise UnsafeHeader(field=name, value=repr(line[:80]), reason="лишний заголовок")
        seen.add(name)
    parsed = _PARSER.parsebytes(head + b"\r\n\r\n", headersonly=True)
    for field, expected in (("To", to), ("Cc", cc)):
        header = parsed.get(field)
        got = [] if header is None else [a.addr_spec for a in header.addresses]
        if got != list(expected):
            raise UnsafeHeader(field=field, value=str(got), reason="получатели не совпадают")
    for field in ("To", "Cc", "Reply-To"):
        header = parsed.get(field)
        for address in () if header is None else header.addresses:
            if has_forbidden(address.display_name):
                raise UnsafeHeader(field=field, value=str(address), reason="управляющие символы")
    subject = parsed.get("Subject")
    if subject is not None and has_forbidden(str(subject)):
        raise UnsafeHeader(field="Subject", value=str(subject), reason="управляющие символы")
