"""Placeholder addresses: a roadmap shipped with ``coordinator@example.org`` must not mail.

A party's address on a domain reserved for examples and tests (RFC 2606, RFC 6761:
``example.org``, ``example.com``, ``example.net``, ``*.test``, ``*.invalid``,
``*.example``) is a placeholder. ``init`` and ``daemon run`` warn about them, and the
daemon sends no letters while one is left (the setting ``allow_placeholder_addresses``
lifts the hold: the test suite delivers to ``example.org`` through a local SMTP server).
"""

from __future__ import annotations

from workflow.roadmap.definition import Party, Roadmap

_EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net")
_RESERVED_TLDS = ("test", "invalid", "example")


def is_placeholder(email: str) -> bool:
    """Whether ``email`` is on a domain reserved for examples (see the module docstring)."""
    domain = email.rpartition("@")[2].strip().rstrip(".").lower()
    if any(domain == d or domain.endswith("." + d) for d in _EXAMPLE_DOMAINS):
        return True
    return domain.rpartition(".")[2] in _RESERVED_TLDS


def placeholder_parties(roadmap: Roadmap) -> list[Party]:
    """The roadmap's parties whose address is a placeholder, in the file's order."""
    return [p for p in roadmap.parties if is_placeholder(p.email)]


def warning(roadmap: Roadmap, *, held: bool) -> str | None:
    """The Russian warning about placeholder addresses (None: there are none).

    Args:
        roadmap: the roadmap.
        held: whether the daemon holds its letters because of them.
    """
    parties = placeholder_parties(roadmap)
    if not parties:
        return None
    listed = "; ".join(f"{p.name} — {p.email}" for p in parties)
    tail = (
        "Демон не отправляет писем, пока они не заменены" if held else "Письма уйдут на эти адреса"
    )
    return (
        f"Внимание: в дорожной карте «{roadmap.code}» адреса-заглушки ({listed}). {tail}: "
        "укажите настоящие адреса в файле дорожной карты (parties, email) и загрузите его "
        "снова."
    )
