"""The short reference token a letter's subject carries («[ТР-8F3K]»), derived from its key.

A reply is matched to its letter by ``In-Reply-To``/``References`` first (the Message-ID
is derived from the same key: `notifications.headers.message_id`); the token is the
fallback for a mail client or a person that drops those headers but keeps the subject.
Four characters of a 32-letter alphabet (no I, L, O, U: nothing to misread) name one of
about a million letters, so a token alone may be shared by two letters: the reader
matches it among the letters to the sender's address only (`workflow.inbound.record`).
"""

from __future__ import annotations

import hashlib
import re

#: Digits and Latin capitals without I, L, O, U (Crockford's base 32).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "ТР"  # Cyrillic: «точка роста»
LENGTH = 4
#: What the token adds to a subject: a space and «[ТР-XXXX]».
SUBJECT_ROOM = len(PREFIX) + LENGTH + 4

# Cyrillic letters a person may type for the Latin ones they look like, and the
# misreadings Crockford's alphabet folds.
_LOOKALIKES = str.maketrans("АВЕКМНРСТХОIL", "ABEKMHPCTX011")
_TOKEN_RE = re.compile(
    r"\[\s*(?:ТР|TP|T\u0420|\u0422P)\s*[-‐‑–—]\s*([0-9A-Za-zА-Яа-яЁё]{4})\s*\]", re.IGNORECASE
)


def reference_code(key: str) -> str:
    """The four characters of the letter with idempotency key ``key``: «8F3K»."""
    value = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big")
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(LENGTH))


def reference_token(key: str) -> str:
    """The token as a subject shows it: «[ТР-8F3K]»."""
    return f"[{PREFIX}-{reference_code(key)}]"


def with_reference(subject: str, key: str) -> str:
    """``subject`` with the token of ``key`` at its end (once)."""
    token = reference_token(key)
    return subject if subject.endswith(token) else f"{subject} {token}"


def without_references(text: str) -> str:
    """``text`` without the tokens it carries (a quoted subject: the letter that quotes
    it carries its own token)."""
    return " ".join(_TOKEN_RE.sub(" ", text).split())


def codes_in(subject: str) -> list[str]:
    """The reference codes a subject carries, as written or retyped («тр-8f3к» too),
    normalised to the alphabet; the last one first (a reply's own tag ends the line)."""
    found: list[str] = []
    for match in _TOKEN_RE.finditer(subject):
        code = match[1].upper().translate(_LOOKALIKES)
        if all(ch in ALPHABET for ch in code) and code not in found:
            found.append(code)
    return found[::-1]
