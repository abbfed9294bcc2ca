"""Delivery status notifications for our letters: which address failed, why, which letter.

A notification (``auto`` of kind ``bounce``, `workflow.inbound.message`) is read twice:

1. flufl.bounce (GNU Mailman's detectors: RFC 3464 DSNs and the formats of Postfix,
   Exim, qmail, Exchange, Yahoo, …) names the addresses that failed, permanently or
   not;
2. the ``message/delivery-status`` part, where there is one, gives each address's
   ``Action``, ``Status`` and the server's ``Diagnostic-Code`` (the reason), and names
   the addresses flufl found nothing for.

The letter it returns is found by the returned letter's Message-ID (in the attached
``message/rfc822`` or ``text/rfc822-headers``, or quoted in the text), else it is the
latest letter sent to the failed address. Each failed address is recorded (``bounce``);
a permanent failure of a letter's main recipient marks the letter ``bounced`` with the
reason, a copy's (an address in its Cc) is noted in the letter's ``last_error`` («Копия
не доставлена: …»), the letter staying ``sent``. A temporary failure («delayed», 4.x.x)
is recorded and flags nothing.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Any

import sqlalchemy as sa
from flufl.bounce import all_failures
from sqlalchemy.engine import Connection

from notifications.outbox import OUTBOX, OutboxStatus
from workflow.storage.inbound import BOUNCE

__all__ = ["Bounce", "Failure", "read_bounce", "record_bounce"]

_MSGID_RE = re.compile(r"<[^<>\s]{1,990}>")
_ORIGINAL_ID_RE = re.compile(r"^\s*Message-ID\s*:\s*(<[^<>\s]{1,990}>)", re.IGNORECASE | re.M)
_STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REASON_LIMIT = 300


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    """One address the notification says did not take the letter."""

    address: str
    permanent: bool
    status: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Bounce:
    """What a delivery status notification says."""

    failures: tuple[Failure, ...]
    #: The Message-IDs of the returned letter (our letters' ids among them, if ours).
    original_ids: tuple[str, ...]


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _address(value: str) -> str:
    """«rfc822; Ivanova@School.example» → «ivanova@school.example»."""
    value = value.split(";", 1)[-1].strip().strip("<>").strip().lower()
    return value if value.count("@") == 1 and not any(c.isspace() for c in value) else ""


def _status_blocks(msg: Message) -> list[Message]:
    """The per-recipient blocks of every ``message/delivery-status`` part."""
    blocks: list[Message] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # the stdlib parses it into header blocks
            blocks.extend(p for p in payload[1:] if isinstance(p, Message))
        elif isinstance(payload, str | bytes):
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
            for chunk in re.split(r"\r?\n\s*\r?\n", text.strip())[1:]:
                blocks.append(email.message_from_string(chunk.strip() + "\n"))
    return blocks


def _original_ids(msg: Message, raw: bytes) -> tuple[str, ...]:
    found: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found += _MSGID_RE.findall(str(inner[0].get("Message-ID", "")))
        elif ctype == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                found += _ORIGINAL_ID_RE.findall(data.decode("utf-8", "replace"))
    # Servers that quote the returned header in the text (Exchange's «Original message
    # headers:»): any Message-ID line after the notification's own header.
    body = raw.partition(b"\r\n\r\n")[2] or raw.partition(b"\n\n")[2]
    found += _ORIGINAL_ID_RE.findall(body.decode("utf-8", "replace"))
    return tuple(dict.fromkeys(found))


def read_bounce(raw: bytes) -> Bounce:
    """The failures a notification reports (none, for one it cannot read)."""
    msg = email.message_from_bytes(raw)
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector choking on odd mail is not our failure
        temporary, permanent = frozenset(), frozenset()
    reported: dict[str, dict[str, Any]] = {}
    for block in _status_blocks(msg):
        address = _address(str(block.get("Final-Recipient") or block.get("Original-Recipient")))
        if not address:
            continue
        action = str(block.get("Action", "")).strip().lower()
        status = _STATUS_RE.search(str(block.get("Status", "")))
        code = ".".join(status.groups()) if status else ""
        reported[address] = {
            "permanent": action == "failed" or code.startswith("5"),
            "failed": action in ("failed", "delayed") or code[:1] in ("4", "5"),
            "status": code,
            "reason": _one_line(str(block.get("Diagnostic-Code", "")).split(";", 1)[-1]),
        }
    failures: dict[str, Failure] = {}
    flufl = [(a, True) for a in permanent] + [(a, False) for a in temporary]
    for value, is_permanent in flufl:
        address = _address(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
        if address and address not in failures:
            detail = reported.get(address, {})
            failures[address] = Failure(
                address=address,
                permanent=is_permanent or bool(detail.get("permanent")),
                status=str(detail.get("status", "")),
                reason=str(detail.get("reason", ""))[:_REASON_LIMIT],
            )
    for address, detail in reported.items():  # what flufl found nothing for
        if address not in failures and detail["failed"]:
            failures[address] = Failure(
                address=address,
                permanent=bool(detail["permanent"]),
                status=str(detail["status"]),
                reason=str(detail["reason"])[:_REASON_LIMIT],
            )
    return Bounce(failures=tuple(failures.values()), original_ids=_original_ids(msg, raw))


def _recipients(recipient: str, envelope: str) -> set[str]:
    return {recipient.strip().lower()} | {
        a.strip().lower() for a in (envelope or "").split(",") if a.strip()
    }


def _mark(conn: Connection, letter_id: int, address: str, why: str, *, now: datetime) -> None:
    """Mark our letter ``letter_id`` returned by ``address``, as the deliverer marks a copy
    refused at RCPT: its main recipient's failure makes it ``bounced``; a copy's (Cc) is
    noted in ``last_error`` and the letter stays ``sent``, since its main recipient has it.
    A letter marked already (the same notification delivered twice) is left as it is."""
    row = conn.execute(
        sa.select(OUTBOX.c.recipient, OUTBOX.c.status, OUTBOX.c.last_error)
        .where(OUTBOX.c.id == letter_id)
        .with_for_update()
    ).one()
    if row.status not in (OutboxStatus.SENT.value, OutboxStatus.BOUNCED.value):
        return  # not sent by us (yet): nothing to mark
    main = row.recipient.strip().lower() == address
    lead = (
        f"Адрес не принимает письма: {address}: " if main else f"Копия не доставлена: {address}: "
    )
    earlier = row.last_error or ""
    if lead in earlier:
        return
    said = lead + why
    parts = [said, earlier] if main else [earlier, said]
    conn.execute(
        OUTBOX.update()
        .where(OUTBOX.c.id == letter_id)
        .values(
            status=OutboxStatus.BOUNCED.value if main else row.status,
            last_error="; ".join(p for p in parts if p),
            recorded_at=now,
        )
    )


def record_bounce(
    conn: Connection, inbound_id: int, raw: bytes, *, now: datetime
) -> tuple[str, int | None]:
    """Record what the notification ``inbound_id`` says, in the caller's transaction.

    Returns:
        The Russian line the message's record keeps as its reason, and the letter
        returned (the first found), if any.
    """
    bounce = read_bounce(raw)
    if not bounce.failures:
        return "отчёт о недоставке: адрес не распознан; записано, ответ не отправляется", None
    first: int | None = None
    columns = (
        OUTBOX.c.id,
        OUTBOX.c.recipient,
        OUTBOX.c.envelope,
        OUTBOX.c.status,
        OUTBOX.c.sent_at,
    )
    by_id = (
        list(conn.execute(sa.select(*columns).where(OUTBOX.c.message_id.in_(bounce.original_ids))))
        if bounce.original_ids
        else []
    )
    said: list[str] = []
    for failure in bounce.failures:
        letter = next(
            (r for r in by_id if failure.address in _recipients(r.recipient, r.envelope)), None
        )
        if letter is None:
            letter = conn.execute(
                sa.select(*columns)
                .where(
                    OUTBOX.c.message_id.is_not(None),
                    sa.or_(
                        sa.func.lower(OUTBOX.c.recipient) == failure.address,
                        sa.func.lower(OUTBOX.c.envelope).contains(failure.address, autoescape=True),
                    ),
                )
                .order_by(OUTBOX.c.sent_at.desc(), OUTBOX.c.id.desc())
                .limit(1)
            ).first()
            if letter is not None and failure.address not in _recipients(
                letter.recipient, letter.envelope
            ):
                letter = None  # a longer address that contains this one
        why = " ".join(p for p in (failure.status, failure.reason) if p) or "без пояснения"
        conn.execute(
            BOUNCE.insert(),
            {
                "inbound_id": inbound_id,
                "outbox_id": letter.id if letter is not None else None,
                "address": failure.address[:320],
                "permanent": failure.permanent,
                "status": failure.status,
                "reason": failure.reason,
                "since": (letter.sent_at if letter is not None else None) or now,
                "received_at": now,
            },
        )
        if first is None and letter is not None:
            first = int(letter.id)
        which = f"письмо №\u00a0{letter.id}" if letter is not None else "письмо не найдено"
        if failure.permanent:
            said.append(f"адрес {failure.address} не принимает письма ({which}): {why}")
        else:
            said.append(f"доставка на {failure.address} задерживается ({which}): {why}")
        if letter is not None and failure.permanent:
            _mark(conn, int(letter.id), failure.address, why, now=now)
    return "отчёт о недоставке: " + "; ".join(said) + "; ответ не отправляется", first
