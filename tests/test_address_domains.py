"""`base.addresses.parse_address` remembers the domains email-validator accepted (issue 16,
item 5: a 200,000-row centers file spent most of its reading in the validator, 26 µs an
address, on a handful of domains). An address on a known domain with a plain local part
is taken without a second look; every verdict must be the one the validator gives.

Each address below is checked with no domain known and again with every domain known
(each learnt from one ordinary address): the same parts, or the same refusal.
"""

from __future__ import annotations

import pytest

from base import addresses
from base.addresses import AddressError, AddressUse, MailAddress, parse_address

DOMAINS = (
    "example.org",
    "Example.ORG",
    "school.ivanovo.ru",
    "школа.рф",
    "xn--80atdl2c.xn--p1ai",
    "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".ru",  # 194 characters
)
LOCALS = (
    "school1",
    "s.ivanova",
    "first.last+tag",
    "under_score-dash",
    "a" * 64,  # the longest local part
    "a" * 65,  # one too many
    "Postmaster",  # RFC 2142: lowered by the validator
    "postmaster",
    "School1",
    ".dot",
    "dot.",
    "two..dots",
    "o'hara",
    "with space",
    "tab\there",
    "кириллица",
    "=?utf-8?q?x?=",
    "",
)


def _verdict(value: str, use: AddressUse) -> MailAddress | str:
    try:
        return parse_address(value, use=use)
    except AddressError as exc:
        return exc.message


@pytest.mark.parametrize("use", list(AddressUse))
def test_a_known_domain_gives_the_validators_verdict(
    use: AddressUse, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [f"{local}@{domain}" for domain in DOMAINS for local in LOCALS]
    values += ["a@b@example.org", "school1@example.local", "school1@localhost", "x@" + "d" * 300]
    monkeypatch.setattr(addresses, "_CHECKED_DOMAINS", {})
    cold = {}
    for value in values:
        addresses._CHECKED_DOMAINS.clear()
        cold[value] = _verdict(value, use)
    for domain in DOMAINS:
        parse_address(f"learn@{domain}")
    assert set(addresses._CHECKED_DOMAINS) == set(DOMAINS)
    warm = {value: _verdict(value, use) for value in values}
    assert warm == cold
    # The data reach both sides: addresses taken on the known domain, and refused.
    taken = [v for v, got in warm.items() if isinstance(got, MailAddress)]
    assert len(taken) > len(DOMAINS) * 5
    assert len(taken) < len(values) - len(DOMAINS) * 5
    assert parse_address("school1@Example.ORG").domain == "example.org"
    assert parse_address("school1@школа.рф").ascii_domain == "xn--80atdl2c.xn--p1ai"


def test_the_remembered_domains_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "_CHECKED_DOMAINS", {})
    monkeypatch.setattr(addresses, "_MAX_CHECKED_DOMAINS", 3)
    for n in range(10):
        parse_address(f"school@d{n}.example.org")
    assert len(addresses._CHECKED_DOMAINS) == 3


LONG_DOMAINS = (
    DOMAINS[-1],  # 194 ASCII characters
    ".".join(["образование"] * 9) + ".рф",  # 211 octets as written, fewer in ASCII
    ".".join(["Образование"] * 9) + ".РФ",  # the same, lowered by the validator
)


@pytest.mark.parametrize("domain", LONG_DOMAINS)
def test_the_length_limit_on_a_known_domain(domain: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every form's octets count on a known domain as they do for the validator: a local
    part one character longer than the limit allows is refused, warm as cold."""
    monkeypatch.setattr(addresses, "_CHECKED_DOMAINS", {})
    values = ["a" * n + "@" + domain for n in range(30, 66)]
    cold = {}
    for value in values:
        addresses._CHECKED_DOMAINS.clear()
        cold[value] = _verdict(value, AddressUse.RECIPIENT)
    parse_address(f"learn@{domain}")
    assert domain in addresses._CHECKED_DOMAINS
    warm = {value: _verdict(value, AddressUse.RECIPIENT) for value in values}
    assert warm == cold
    taken = [v for v, got in warm.items() if isinstance(got, MailAddress)]
    assert 0 < len(taken) < len(values)


def test_address_problem_on_a_known_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    """`address_problem` (the import's check of each row, which skips building the parts)
    says what `parse_address` says, warm as cold."""
    values = [f"{local}@{domain}" for domain in DOMAINS + LONG_DOMAINS for local in LOCALS]
    values += ["a@b@example.org", "school1@example.local", "school1@localhost"]
    monkeypatch.setattr(addresses, "_CHECKED_DOMAINS", {})
    cold = {}
    for value in values:
        addresses._CHECKED_DOMAINS.clear()
        cold[value] = addresses.address_problem(value)
    for domain in DOMAINS + LONG_DOMAINS:
        parse_address(f"learn@{domain}")
    warm = {value: addresses.address_problem(value) for value in values}
    assert warm == cold
    assert None in warm.values()
    assert "«a@b@example.org» — не адрес электронной почты" in warm.values()
