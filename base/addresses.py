"""The one address rule: what Tochka accepts as a mail address (imports, the roadmap file,
the municipalities' contacts)."""

from __future__ import annotations

import re

_EMAIL_FORBIDDEN_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f,;<>()\[\]\\\"]")
_DOMAIN_LABEL_RE = re.compile(r"(?!-)[^\W_]+(?:-+[^\W_]+)*")


def is_valid_email(value: str) -> bool:
    """Whether ``value`` is a plausible single mail address.

    Deliberately simple: one ``@``, no whitespace, commas, control characters or
    address-list punctuation (a value that could smuggle a second recipient or a
    header into a message is refused), a dotted domain of letter/digit/hyphen labels.
    Internationalised domains (``школа.рф``) are accepted.

    Args:
        value: the text to check, as written.

    Returns:
        True if the value looks like one address.
    """
    if len(value) > 254 or value.count("@") != 1 or _EMAIL_FORBIDDEN_RE.search(value):
        return False
    local, domain = value.split("@")
    if not local or len(local) > 64 or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(len(label) <= 63 and _DOMAIN_LABEL_RE.fullmatch(label) for label in labels)
