"""A strict RFC 2047 reader of raw header lines, written for the tests.

`strict_decode` reads a header value the way RFC 2047 says a reader must: the folding is
undone (RFC 5322 section 2.2.3: the CRLF removed, the whitespace after it kept), the
encoded-words are decoded with `email.header.decode_header`, and the pieces are joined
by the RFC's rule (section 6.2): linear whitespace between two adjacent encoded-words is
dropped (decode_header drops it), whitespace anywhere else is kept. Nothing is guessed:
no space is inserted between pieces (which `email.header.make_header` does) and no
whitespace is collapsed, so a name whose spaces the writer put outside its encoded-words
comes out without them, as mail readers show it.
"""

from __future__ import annotations

import re
from email.header import decode_header

_FOLD = re.compile(r"\r\n(?=[ \t])")


def unfold(value: str) -> str:
    """RFC 5322 unfolding: every CRLF followed by whitespace is removed."""
    return _FOLD.sub("", value)


def strict_decode(value: str) -> str:
    """The text a strict RFC 2047 reader gets from a raw (possibly folded) header value."""
    text = unfold(value).lstrip(" \t")  # the space after "Name:" is not the value's
    assert "\r" not in text, f"bare CR in {value!r}"
    assert "\n" not in text, f"bare LF in {value!r}"
    out = []
    for piece, charset in decode_header(text):
        if isinstance(piece, str):  # no encoded-word at all: the value as it is
            out.append(piece)
        else:
            out.append(piece.decode(charset or "ascii"))
    return "".join(out)


def raw_headers(message: bytes) -> dict[str, str]:
    """The raw header block of a letter: name (lower case) → raw value (folding kept).

    Raises:
        AssertionError: a header occurs twice or a line is neither a header nor a
            continuation.
    """
    head = message.partition(b"\r\n\r\n")[0].decode("ascii")
    headers: dict[str, str] = {}
    current = ""
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t"):
            assert current, f"continuation without a header: {line!r}"
            headers[current] += "\r\n" + line
            continue
        name, sep, value = line.partition(":")
        assert sep, f"not a header line: {line!r}"
        current = name.lower()
        assert current not in headers, f"{name} twice"
        headers[current] = value
    return headers


def expected_address(name: str, address: str) -> str:
    """An address as a strict reader shows it: ``Имя <addr>``, or ``<addr>`` without a
    name; an ASCII name with specials is a quoted string."""
    if not name:
        return f"<{address}>"
    if name.isascii() and re.search(r'[()<>\[\]:;@\\,."]', name):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return f"{name} <{address}>"
