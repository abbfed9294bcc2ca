"""Deciding what an inbound message is and recording it, once, in the caller's transaction.

The order of the checks is the order of trust:

1. larger than the limit → ``refused`` (only its header is read; the reason in Russian);
2. an automatic message (auto-reply, bounce, list mail) → ``auto``: recorded, matched to
   its letter where it says which, never answered and never a submission; a bounce's
   failed addresses are recorded and its letter marked (`workflow.inbound.bounce`);
3. a From that is not one readable address, or a failed DKIM/DMARC verdict in
   ``Authentication-Results`` → ``quarantine``;
4. the letter it answers: by ``In-Reply-To``/``References`` against the Message-IDs our
   sent letters carry (`notifications.headers.message_id`), else by the subject's token
   (`notifications.reference`) among the letters sent to this sender;
5. the sender must be one of that letter's recipients (To or Cc, compared on the
   addr-spec, case-insensitively): then ``matched`` with a ``pending`` submission;
   otherwise, and for a message that answers nothing we sent, ``quarantine``.

Nothing here reaches the engine: a matched reply waits for the coordinator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import system_clock
from notifications.outbox import OUTBOX
from notifications.reference import codes_in, reference_code
from workflow.inbound.bounce import record_bounce
from workflow.inbound.forms import returned_form
from workflow.inbound.message import Parsed, parse
from workflow.storage.inbound import INBOUND, InboundState, SubmissionState
from workflow.storage.tables import CENTER, CONTACT

__all__ = ["Outcome", "Source", "already_recorded", "content_key", "record_message"]

AUTO_TITLES = {"auto-reply": "автоответ", "bounce": "отчёт о недоставке", "list": "рассылка"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Source:
    """Where a message was read: the IMAP folder and UID, or a file."""

    mailbox: str
    description: str
    uidvalidity: int | None = None
    uid: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What recording a message did."""

    id: int | None
    state: InboundState | None
    reason: str | None
    duplicate: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class _Letter:
    id: int
    key: str
    recipients: frozenset[str]


def megabytes(size: int) -> str:
    """«50,0 МБ»."""
    return f"{size / 1024 / 1024:.1f}".replace(".", ",") + "\u00a0МБ"


def dedup_key(parsed: Parsed, raw: bytes) -> str:
    """The key a message is recorded once by: its Message-ID, else its bytes' hash."""
    return parsed.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def content_key(parsed: Parsed, raw: bytes) -> str:
    """What must agree beside the Message-ID for a message to be one already recorded:
    the SHA-256 of the sender's addresses, the authentication verdict, the automatic
    kind, the subject, the ids it answers and the body as sent (line ends as LF).

    The fields relays add (Received, Delivered-To, Return-Path…) are not in it: the same
    message delivered twice has one key. A message that carries the Message-ID of
    another but was written by someone else, or says something else (a forgery that
    arrives before the genuine reply), has its own, and the genuine reply is still
    recorded when it comes.
    """
    digest = hashlib.sha256()
    for part in (
        ",".join(parsed.from_addrs),
        ",".join(sorted(parsed.auth_failures)),
        parsed.auto_kind or "",
        parsed.subject,
        " ".join(parsed.in_reply_to),
        " ".join(parsed.references),
    ):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    _header, blank, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    digest.update(body if blank else b"")
    return digest.hexdigest()


def already_recorded(conn: Connection, source: Source, uids: list[int]) -> set[int]:
    """The UIDs of ``source``'s folder (at its UIDVALIDITY) already recorded."""
    found: set[int] = set()
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        found.update(
            conn.execute(
                sa.select(INBOUND.c.uid).where(
                    INBOUND.c.mailbox == source.mailbox,
                    INBOUND.c.uidvalidity == source.uidvalidity,
                    INBOUND.c.uid.in_(chunk),
                )
            ).scalars()
        )
    return found


def record_message(
    conn: Connection,
    data: bytes,
    *,
    source: Source,
    size: int,
    max_bytes: int,
    received_at: datetime | None = None,
) -> Outcome:
    """Record one message unless it is already recorded (by either key).

    Args:
        conn: a connection inside the caller's write transaction.
        data: the message, or only its header when ``size`` is over ``max_bytes``.
        source: where it was read.
        size: the message's size in bytes (the server's RFC822.SIZE, or the file's).
        max_bytes: the size limit (TOCHKA_INBOUND_MAX_MB).
        received_at: the real time of recording (now by default).
    """
    if source.uid is not None:
        known = conn.execute(
            sa.select(INBOUND.c.id).where(
                INBOUND.c.mailbox == source.mailbox,
                INBOUND.c.uidvalidity == source.uidvalidity,
                INBOUND.c.uid == source.uid,
            )
        ).first()
        if known is not None:
            return Outcome(id=known[0], state=None, reason=None, duplicate=True)
    parsed = parse(data)
    key, content = dedup_key(parsed, data), content_key(parsed, data)
    known = conn.execute(
        sa.select(INBOUND.c.id).where(
            INBOUND.c.dedup_key == key,
            # "": recorded before the content was kept, a duplicate by its Message-ID.
            INBOUND.c.content_key.in_((content, "")),
        )
    ).first()
    if known is not None:
        return Outcome(id=known[0], state=None, reason=None, duplicate=True)

    refused = size > max_bytes
    reason: str | None
    letter: _Letter | None = None
    matched_by: str | None = None
    if refused:
        state = InboundState.REFUSED
        reason = (
            f"письмо слишком большое: {megabytes(size)}, предел {megabytes(max_bytes)} "
            "(TOCHKA_INBOUND_MAX_MB); не прочитано — попросите отправителя прислать "
            "файлы меньшего размера или по частям"
        )
    else:
        letter, matched_by = _by_references(conn, parsed)
        state, reason = _decide(conn, parsed, letter, matched_by)
        if state is InboundState.QUARANTINE and letter is None and matched_by is None:
            letter, matched_by = _by_token(conn, parsed)
            if letter is not None:
                state, reason = _decide(conn, parsed, letter, matched_by)
    row = {
        "dedup_key": key,
        "content_key": content,
        "message_id": parsed.message_id,
        "mailbox": source.mailbox,
        "uidvalidity": source.uidvalidity,
        "uid": source.uid,
        "source": source.description,
        "from_addr": (parsed.from_addrs[0] if len(parsed.from_addrs) == 1 else "")[:320],
        "from_header": parsed.from_header,
        "subject": parsed.subject,
        "date_header": parsed.date_header,
        "size": size,
        "sha256": hashlib.sha256(data).hexdigest(),
        "state": state.value,
        "reason": reason,
        "auto_kind": parsed.auto_kind if state is InboundState.AUTO else None,
        "outbox_id": letter.id if letter is not None else None,
        "matched_by": matched_by if letter is not None else None,
        "submission": SubmissionState.PENDING.value if state is InboundState.MATCHED else None,
        "text": "" if refused else parsed.text,
        "attachments": [] if refused else [a.as_json() for a in parsed.attachments],
        "notes": list(parsed.notes),
        "raw": None if refused else data,
        "received_at": (received := received_at or system_clock()),
        "moved_at": None,
    }
    new_id = conn.execute(INBOUND.insert().returning(INBOUND.c.id), row).scalar_one()
    if state is InboundState.AUTO and parsed.auto_kind == "bounce":
        reason, returned = record_bounce(conn, new_id, data, now=received)
        conn.execute(
            INBOUND.update()
            .where(INBOUND.c.id == new_id)
            .values(reason=reason, outbox_id=row["outbox_id"] or returned)
        )
    if state is InboundState.MATCHED and letter is not None:  # a monitoring form back?
        form = returned_form(conn, new_id, parsed, letter.id, now=received)
        reason = form.reason if form is not None else reason
    return Outcome(id=new_id, state=state, reason=reason)


def _decide(
    conn: Connection, parsed: Parsed, letter: _Letter | None, matched_by: str | None
) -> tuple[InboundState, str | None]:
    if parsed.auto_kind is not None:
        what = AUTO_TITLES.get(parsed.auto_kind, parsed.auto_kind)
        return InboundState.AUTO, f"{what}: записано, ответ не отправляется"
    if len(parsed.from_addrs) != 1:
        written = parsed.from_header or "нет"
        return InboundState.QUARANTINE, (
            f"адрес отправителя не читается как один адрес (From: {written[:200]})"
        )
    sender = parsed.from_addrs[0]
    if parsed.auth_failures:
        return InboundState.QUARANTINE, (
            f"проверка подлинности не пройдена ({', '.join(parsed.auth_failures)}): "
            f"письмо могло быть отправлено не с адреса {sender}"
        )
    if letter is None:
        if matched_by == "missing":
            return InboundState.QUARANTINE, (
                "письмо ссылается на письмо, которого Точка не отправляла"
            )
        if not _known_sender(conn, sender):
            return InboundState.QUARANTINE, f"неизвестный отправитель {sender}"
        return InboundState.QUARANTINE, (
            f"не найдено письмо Точки, на которое отвечает {sender} "
            "(нет ссылки на письмо и метки вида [ТР-…] в теме)"
        )
    if sender not in letter.recipients:
        return InboundState.QUARANTINE, (
            f"отправитель {sender} не адресат письма №\u00a0{letter.id} "
            f"(адресаты: {', '.join(sorted(letter.recipients))})"
        )
    return InboundState.MATCHED, None


def _letter(row: Any) -> _Letter:
    recipients = {row[2].strip().lower()} | {
        a.strip().lower() for a in (row[3] or "").split(",") if a.strip()
    }
    return _Letter(id=row[0], key=row[1], recipients=frozenset(recipients - {""}))


_LETTER_COLUMNS = (OUTBOX.c.id, OUTBOX.c.key, OUTBOX.c.recipient, OUTBOX.c.envelope)


def _by_references(conn: Connection, parsed: Parsed) -> tuple[_Letter | None, str | None]:
    """The letter In-Reply-To or References names; ("missing") when they name only ids
    of our form that no sent letter has."""
    ids = parsed.replied_ids
    if not ids:
        return None, None
    rows = {
        row[4]: row
        for row in conn.execute(
            sa.select(*_LETTER_COLUMNS, OUTBOX.c.message_id).where(OUTBOX.c.message_id.in_(ids))
        )
    }
    for mid in ids:
        row = rows.get(mid)
        if row is not None:
            how = "in-reply-to" if mid in parsed.in_reply_to else "references"
            return _letter(row), how
    ours = any(".tochka@" in mid for mid in ids)
    return None, ("missing" if ours and not codes_in(parsed.subject) else None)


def _by_token(conn: Connection, parsed: Parsed) -> tuple[_Letter | None, str | None]:
    """The letter whose token the subject carries, among those sent to the sender."""
    codes = codes_in(parsed.subject)
    if not codes or len(parsed.from_addrs) != 1:
        return None, None
    sender = parsed.from_addrs[0]
    query = sa.select(*_LETTER_COLUMNS).where(
        OUTBOX.c.message_id.is_not(None),
        sa.or_(
            sa.func.lower(OUTBOX.c.recipient) == sender,
            sa.func.lower(OUTBOX.c.envelope).contains(sender, autoescape=True),
        ),
    )
    for code in codes:
        found = [_letter(row) for row in conn.execute(query) if reference_code(row[1]) == code]
        found = [letter for letter in found if sender in letter.recipients]
        if len(found) == 1:
            return found[0], "token"
        if found:
            # Two letters to this sender share the code: the newest is the one answered.
            return max(found, key=lambda letter: letter.id), "token"
    return None, None


def _known_sender(conn: Connection, sender: str) -> bool:
    """Is ``sender`` an address Tochka writes to (a center, a municipality, a letter)?"""
    for query in (
        sa.select(CENTER.c.id).where(sa.func.lower(CENTER.c.email) == sender),
        sa.select(CONTACT.c.id).where(sa.func.lower(CONTACT.c.email) == sender),
        sa.select(OUTBOX.c.id).where(
            sa.or_(
                sa.func.lower(OUTBOX.c.recipient) == sender,
                sa.func.lower(OUTBOX.c.envelope).contains(sender, autoescape=True),
            )
        ),
    ):
        if conn.execute(query.limit(1)).first() is not None:
            return True
    return False
