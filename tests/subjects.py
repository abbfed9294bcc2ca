"""A stored or sent subject ends with its letter's reference token («[ТР-8F3K]»)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r" \[ТР-[0-9A-HJKMNP-TV-Z]{4}\]$")


def line_of(subject: str) -> str:
    """``subject`` without the reference token that must end it."""
    assert _TOKEN.search(subject), f"no reference token at the end of {subject!r}"
    return _TOKEN.sub("", subject)
