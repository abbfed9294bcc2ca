"""The one address rule: an address is accepted only where it can be sent.

Imports, the roadmap file, the municipalities' contacts and the sender (the letters'
To, Cc, Reply-To, From and the SMTP envelope) all check addresses here, so an address
that import accepts is one the deliverer can send to, and the reason for a refusal is
the same wherever it is given.

The grammar is `email-validator`'s (RFC 5321/5322 dot-atom, IDNA 2008 domains, no
quoted local parts, no IP literals, no display names, no special-use domains such as
``.local`` or ``.test``), without DNS look-ups, and without SMTPUTF8: the local part must
be ASCII, since the mail servers on the way are not assumed to accept anything else.
An internationalised domain is sent in its ASCII (punycode) form: ``школа.рф`` becomes
``xn--80atdl2c.xn--p1ai`` in the envelope and the headers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from base.errors import InputError

if TYPE_CHECKING:
    from email_validator import ValidatedEmail

__all__ = [
    "AddressError",
    "AddressUse",
    "MailAddress",
    "address_problem",
    "is_valid_email",
    "parse_address",
    "shown_address",
]

# Cc: controls (CR, LF, TAB, NUL, DEL, U+0085); Cf: format characters (zero-width space
# and joiners, bidi overrides, U+FEFF); Zl/Zp: line and paragraph separators; Zs other than
# the plain space (no-break and other spaces look like nothing or like a space); and the
# unassigned, private and surrogate code points.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn", "Cs"})
# RFC 2047 encoded word: valid characters in a local part, but a reader would decode it.
_ENCODED_WORD_RE = re.compile(r"=\?[^?]*\?[A-Za-z]?\?.*?\?=", re.DOTALL)
NOT_AN_ADDRESS = "не адрес электронной почты"
# An address whose local part email-validator takes as written whatever the domain (a
# dot-atom of these characters, lower case: RFC 2142's mailbox names are lowered, which
# changes nothing here), then one @ and the domain as written: what may be taken on a
# known domain without a second look (see `_known`).
_PLAIN_ADDRESS_RE = re.compile(r"([a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*)@([^@]+)")
# RFC 5321's limits, as email-validator applies them in strict mode (octets).
_MAX_LOCAL, _MAX_ADDRESS = 64, 254
#: Domains email-validator has accepted in this process, as written → (domain, ASCII
#: domain, the octets of its longest form: as written, normalised or ASCII). A file of
#: 200,000 schools has a handful of domains: the domain's check is most of an address's,
#: and its verdict does not depend on the part before @.
_CHECKED_DOMAINS: dict[str, tuple[str, str, int]] = {}
_MAX_CHECKED_DOMAINS = 10_000
_NON_LATIN_LOCAL = "имя до @ должно быть латиницей — почтовые серверы не принимают другие буквы"


class AddressUse(Enum):
    """What an address is for: how far the rule lets a domain be private."""

    #: Someone letters are sent to: the domain must be a public one.
    RECIPIENT = "recipient"
    #: Tochka's own From address (``TOCHKA_MAIL_FROM``): the department's relay may know a
    #: private domain (``tochka@tochka.local``, the default), so special-use domains pass.
    SENDER = "sender"


@dataclass(frozen=True, kw_only=True, slots=True)
class MailAddress:
    """A checked address.

    Attributes:
        local: the part before ``@`` (ASCII, as written).
        domain: the domain, lower case, in Unicode (``школа.рф``), for people.
        ascii_domain: the domain in ASCII (``xn--80atdl2c.xn--p1ai``), for the envelope
            and the headers.
    """

    local: str
    domain: str
    ascii_domain: str

    @property
    def ascii(self) -> str:
        """The address as it is sent: ``local@ascii_domain``."""
        return f"{self.local}@{self.ascii_domain}"


class AddressError(InputError):
    """An address that cannot be sent to.

    Attributes:
        address: the value as written.
        reason: why, in Russian (``NOT_AN_ADDRESS`` when it is simply not an address).
    """

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        shown = shown_address(address)
        super().__init__(
            f"«{shown}» — {NOT_AN_ADDRESS}"
            if reason == NOT_AN_ADDRESS
            else f"адрес «{shown}»: {reason}"
        )


def _hidden(ch: str) -> bool:
    return ch != " " and unicodedata.category(ch) in _HIDDEN_CATEGORIES


def shown_address(value: str) -> str:
    """The value with hidden characters written as ``\\u200b``, safe to show."""
    return "".join(f"\\u{ord(ch):04x}" if _hidden(ch) else ch for ch in value)


def parse_address(value: str, *, use: AddressUse = AddressUse.RECIPIENT) -> MailAddress:
    """Check one address exactly as written (no spaces are trimmed).

    Args:
        value: the address.
        use: a recipient's address (the default) or Tochka's own From address.

    Returns:
        The address's parts; `MailAddress.ascii` is the form to send.

    Raises:
        AddressError: the address cannot be sent to; ``reason`` says why, in Russian.
    """
    known = _known(value)
    if known is not None:
        return MailAddress(local=known[0], domain=known[1], ascii_domain=known[2])
    from email_validator import EmailNotValidError

    def refuse(reason: str) -> AddressError:
        return AddressError(value, reason)

    if not value:
        raise refuse("пустой адрес")
    # Printable ASCII has no hidden character (its only Zs is the plain space).
    hidden = [] if value.isascii() and value.isprintable() else [ch for ch in value if _hidden(ch)]
    if hidden:
        codes = ", ".join(dict.fromkeys(f"U+{ord(ch):04X}" for ch in hidden))
        raise refuse(
            f"невидимый или управляющий знак {codes} — наберите адрес заново: с этим знаком "
            "письмо не дойдёт"
        )
    if value.count("@") != 1:
        raise refuse(NOT_AN_ADDRESS)
    local, domain = value.split("@")
    if not local.isascii():
        raise refuse(_NON_LATIN_LOCAL)
    if _ENCODED_WORD_RE.search(value):
        raise refuse("похож на закодированное слово RFC 2047, почтовая программа его исказит")
    try:
        checked = _validate(value)
    except EmailNotValidError:
        special = _special_use(domain)
        if special is None:
            raise refuse(NOT_AN_ADDRESS) from None
        # The same grammar with a public name in place of the reserved one (each reserved
        # name is one label: .local, .test, ...), so only the domain's name is at fault.
        try:
            checked = _validate(f"{local}@{domain[: -len(special)]}org")
        except EmailNotValidError:
            raise refuse(NOT_AN_ADDRESS) from None
        if use is AddressUse.RECIPIENT:
            raise refuse(
                f"домен «{special}» зарезервирован (RFC 6761) — на него нельзя отправить письмо"
            ) from None
        return MailAddress(
            local=checked.local_part,
            domain=checked.domain[: -len("org")] + special,
            ascii_domain=checked.ascii_domain[: -len("org")] + special,
        )
    if len(_CHECKED_DOMAINS) < _MAX_CHECKED_DOMAINS:
        longest = max(
            len(domain.encode()), len(checked.domain.encode()), len(checked.ascii_domain)
        )
        _CHECKED_DOMAINS[domain] = (checked.domain, checked.ascii_domain, longest)
    return MailAddress(
        local=checked.local_part, domain=checked.domain, ascii_domain=checked.ascii_domain
    )


def _known(value: str) -> tuple[str, str, str] | None:
    """The parts (local, domain, ASCII domain) of ``value`` when email-validator would take
    it as written without being asked: a plain local part at a domain it accepted already,
    every form of the address (as written, with the domain normalised, in ASCII) within
    the length limit. None when the full check must decide.

    The checks `parse_address` makes before the validator hold too: one @, nothing hidden
    and no RFC 2047 word, since the local part has none of @, = and ?, and a known domain
    is the part after the one @ of an address that passed them."""
    match = _PLAIN_ADDRESS_RE.fullmatch(value)
    if match is None:
        return None
    local, written = match.groups()
    known = _CHECKED_DOMAINS.get(written)
    # The local part is ASCII: its octets are its characters.
    if known is None or len(local) > _MAX_LOCAL or len(local) + 1 + known[2] > _MAX_ADDRESS:
        return None
    return local, known[0], known[1]


def _validate(value: str) -> ValidatedEmail:
    # Imported here: email_validator compiles its grammar at import (~100 ms); only the
    # commands that check an address pay for it.
    from email_validator import validate_email

    # No DNS look-ups (imports run offline); ASCII local parts only (no SMTPUTF8);
    # strict: the 64-character limit of RFC 5321 on the local part, which servers enforce.
    return validate_email(value, check_deliverability=False, allow_smtputf8=False, strict=True)


def _special_use(domain: str) -> str | None:
    """The reserved top-level name (``local``, ``test``, ...) ending ``domain``, if any."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    last = domain.rsplit(".", 1)[-1].lower()
    if "." in domain and last in SPECIAL_USE_DOMAIN_NAMES:
        return last
    return None


def address_problem(value: str) -> str | None:
    """Why ``value`` cannot be a recipient's address, in Russian; None if it can.

    For messages that name a file's cell or a roadmap field: ``«s3@example» — не адрес
    электронной почты``, ``адрес «директор@школа.рф»: имя до @ должно быть латиницей — …``.
    """
    if _known(value) is not None:
        return None
    try:
        parse_address(value)
    except AddressError as exc:
        return exc.message
    return None


def is_valid_email(value: str) -> bool:
    """Whether ``value`` is one address letters can be sent to (see `parse_address`)."""
    return address_problem(value) is None
