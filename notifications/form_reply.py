"""The answer to a returned monitoring form: accepted (with the values), or each error.

`queue_form_reply` renders and queues it in the caller's transaction (the one that
records the school's message), once per key. The letter is plain: what was received,
then the values taken or the errors cell by cell, and the signature. It carries
``Auto-Submitted: auto-generated`` as every letter of ours (`notifications.letters`),
so a well-behaved auto-responder does not answer it.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import system_clock
from notifications.errors import UnsafeHeader
from notifications.letters import address_letter, compose
from notifications.outbox import OUTBOX, LetterKind, OutboxStatus
from notifications.reference import with_reference
from notifications.render import RenderedLetter
from notifications.reply_limit import hold_reason
from notifications.signature import Signature
from notifications.values import Recipient

__all__ = ["FormReply", "queue_form_reply"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class FormReply:
    """What the school is told about the form it sent back.

    Attributes:
        key: the outbox key (one answer per received message).
        recipient: the school (the message's sender).
        reply_to: the coordinator's address.
        signature: the roadmap's signature block.
        center: «IV-001 «МБОУ …»», the form's center.
        period_title: «III квартал 2021 г.».
        filename: the returned file's name.
        values: the values taken, «name — value unit» (accepted or waiting).
        errors: what is wrong, one line each («ячейка F9: …»); then nothing is recorded.
        pending: the values wait for the coordinator's acceptance (``monitoring.forms:
            accept``) instead of being recorded.
    """

    key: str
    recipient: Recipient
    reply_to: str
    signature: Signature
    center: str
    period_title: str
    filename: str
    values: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    pending: bool = False

    @property
    def subject(self) -> str:
        if self.errors:
            verdict = "не принята"
        elif self.pending:
            verdict = "получена, ждёт проверки"
        else:
            verdict = "принята"
        return f"Форма мониторинга {verdict}: {self.center}, {self.period_title}"

    def paragraphs(self) -> list[tuple[str, tuple[str, ...]]]:
        """The letter's paragraphs: (text, its list of lines)."""
        got = (
            f"Получена форма мониторинга показателей центра {self.center} за "
            f"{self.period_title} (файл «{self.filename}»)."
        )
        if self.errors:
            return [
                (got, ()),
                (
                    f"Форма не принята, ни одно значение не записано. Ошибки ({len(self.errors)}):",
                    self.errors,
                ),
                (
                    "Исправьте их в той же форме и отправьте её ещё раз ответом на это письмо.",
                    (),
                ),
            ]
        if self.pending:
            return [
                (got, ()),
                (
                    f"Значения проверены ({len(self.values)}) и будут учтены после "
                    "подтверждения координатором:",
                    self.values,
                ),
            ]
        return [(got, ()), (f"Приняты значения ({len(self.values)}):", self.values)]


def _render(reply: FormReply) -> RenderedLetter:
    text_lines = ["Добрый день!", ""]
    html_parts = ["<p>Добрый день!</p>"]
    for paragraph, items in reply.paragraphs():
        text_lines.append(paragraph)
        html_parts.append(f"<p>{html.escape(paragraph)}</p>")
        if items:
            text_lines.extend(f"  – {item}" for item in items)
            html_parts.append(
                "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"
            )
        text_lines.append("")
    signature = list(reply.signature.lines)
    footer = "Письмо отправлено автоматически системой Tochka."
    text_lines += ["--", *signature, "", footer]
    html_parts.append(
        "<p>" + "<br>".join(html.escape(line) for line in signature) + "</p>"
        f"<p><small>{html.escape(footer)}</small></p>"
    )
    return RenderedLetter(
        kind="form_reply",
        subject=reply.subject,
        text="\n".join(text_lines) + "\n",
        html='<!doctype html><html lang="ru"><meta charset="utf-8"><body>'
        + "".join(html_parts)
        + "</body></html>\n",
        ics=None,
        sender_name=reply.signature.department,
    )


def queue_form_reply(conn: Connection, reply: FormReply, *, now: datetime) -> bool:
    """Queue the answer in the caller's transaction; False if its key is already queued.

    An invalid address goes in ``dead`` with the reason, as every letter of ours.
    """
    if conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.key == reply.key)).first():
        return False
    rendered = _render(reply)
    row: dict[str, Any] = {
        "key": reply.key,
        "kind": LetterKind.NOTICE.value,
        "digest_group": None,
        "subject": with_reference(rendered.subject, reply.key),
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
        "queued_at": system_clock(),
    }
    try:
        addressing = address_letter(reply.recipient, (), reply.reply_to)
        raw = compose(rendered, addressing, key=reply.key)
    except UnsafeHeader as exc:
        log.warning("Ответ на форму для %r не будет отправлен: %s", reply.recipient.email, exc)
        row |= {
            "recipient": reply.recipient.email[:320],
            "envelope": "",
            "message": b"",
            "status": OutboxStatus.DEAD.value,
            "last_error": exc.message,
        }
    else:
        held = hold_reason(conn, addressing.to.addr_spec, real_now=row["queued_at"])
        row |= {
            "recipient": addressing.to.addr_spec,
            "envelope": ",".join(addressing.envelope),
            "message": raw,
            "status": (OutboxStatus.HELD if held else OutboxStatus.PENDING).value,
            "last_error": held or "; ".join(addressing.dropped) or None,
        }
        if held:
            log.warning("%s", held)
    conn.execute(OUTBOX.insert(), row)
    return True
