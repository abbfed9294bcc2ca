"""Assembling a rendered letter into MIME bytes, with every header checked.

Structure: ``multipart/mixed`` holding ``multipart/alternative`` (text/plain, text/html)
and, for reminders, a ``text/calendar`` attachment. The stored letter has no From,
Date or Message-ID: the deliverer adds them when sending (see
`notifications.headers.envelope_headers`), so the sender is configured with the
transport and the Message-ID stays derived from the key alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

from notifications.errors import InvalidAddress
from notifications.headers import SMTP_POLICY, make_address, set_header, verify_letter
from notifications.reference import with_reference
from notifications.render import RenderedLetter
from notifications.values import Recipient

#: Headers a stored letter may carry (the deliverer adds From, Date and Message-ID).
STORED_HEADERS: tuple[str, ...] = (
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
CALENDAR_FILENAME = "sroki.ics"


@dataclass(frozen=True, kw_only=True, slots=True)
class Addressing:
    """Checked addresses of a letter.

    Attributes:
        to: the main recipient.
        cc: copies (already checked; invalid ones were dropped by `address_letter`).
        reply_to: the coordinator, or None.
        dropped: Russian notes about addresses that were left out.
    """

    to: Address
    cc: tuple[Address, ...]
    reply_to: Address | None
    dropped: tuple[str, ...] = ()

    @property
    def envelope(self) -> tuple[str, ...]:
        """Every SMTP recipient (To first, then Cc)."""
        return (self.to.addr_spec, *(a.addr_spec for a in self.cc))


def address_letter(
    recipient: Recipient, cc: Sequence[Recipient], reply_to: str | None
) -> Addressing:
    """Check the addresses of a letter.

    An invalid main recipient is an error (the letter cannot go); an invalid copy or
    Reply-To is left out with a note, so the responsible party still gets the reminder.

    Raises:
        InvalidAddress: the main recipient's address is invalid.
    """

    to = make_address(recipient.email, recipient.name, field="To")
    dropped: list[str] = []
    copies: list[Address] = []
    seen = {to.addr_spec}
    for copy in cc:
        try:
            address = make_address(copy.email, copy.name, field="Cc")
        except InvalidAddress as exc:
            dropped.append(str(exc.message))
            continue
        if address.addr_spec not in seen:
            seen.add(address.addr_spec)
            copies.append(address)
    reply: Address | None = None
    if reply_to:
        try:
            reply = make_address(reply_to, field="Reply-To")
        except InvalidAddress as exc:
            dropped.append(str(exc.message))
    return Addressing(to=to, cc=tuple(copies), reply_to=reply, dropped=tuple(dropped))


def compose(letter: RenderedLetter, addressing: Addressing, *, key: str) -> bytes:
    """The stored letter's bytes (CRLF, SMTP policy), verified by parsing them back.

    The subject ends with the reference token of ``key``, the letter's outbox key
    («[ТР-8F3K]», `notifications.reference`): a reply that lost ``In-Reply-To`` and
    ``References`` is still matched by it. The subject's own limit leaves room for it
    (`notifications.render.SUBJECT_LIMIT`).

    Raises:
        UnsafeHeader: a header value was refused, or the result is not what we wrote.
    """
    msg = EmailMessage(policy=SMTP_POLICY)
    set_header(msg, "To", addressing.to)
    if addressing.cc:
        set_header(msg, "Cc", addressing.cc)
    if addressing.reply_to is not None:
        reply = addressing.reply_to
        if not reply.display_name and letter.sender_name:
            # Who writes (the coordinator party): the deliverer gives From this name too.
            reply = make_address(reply.addr_spec, letter.sender_name, field="Reply-To")
        set_header(msg, "Reply-To", reply)
    set_header(msg, "Subject", with_reference(letter.subject, key))
    # RFC 3834: tells auto-responders not to answer reminders.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(letter.text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(letter.html, subtype="html", charset="utf-8", cte="base64")
    if letter.ics is not None or letter.attachments:
        msg.make_mixed()
    for attachment in letter.attachments:
        msg.add_attachment(
            attachment.data,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
            # Text attachments are UTF-8; without the parameter clients guess, and guess
            # wrong for Cyrillic.
            params={"charset": "utf-8"} if attachment.maintype == "text" else {},
        )
    if letter.ics is not None:
        msg.add_attachment(
            letter.ics,
            maintype="text",
            subtype="calendar",
            filename=CALENDAR_FILENAME,
            params={"method": "PUBLISH", "charset": "utf-8"},
        )
    raw = msg.as_bytes(policy=SMTP_POLICY)
    verify_letter(
        raw,
        allowed=STORED_HEADERS,
        to=[addressing.to.addr_spec],
        cc=[a.addr_spec for a in addressing.cc],
    )
    return raw
