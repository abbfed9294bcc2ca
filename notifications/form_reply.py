"""The answer to a returned monitoring form: accepted (with the values), or each error.

`queue_form_reply` renders and queues it in the caller's transaction (the one that
records the school's message), once per key. The letter is plain: what was received,
then the values taken or the errors cell by cell, and the signature. It carries
``Auto-Submitted: auto-generated`` as every letter of ours (`notifications.letters`),
so a well-behaved auto-responder does not answer it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from notifications.answers import queue_answer, render_answer
from notifications.render import RenderedLetter
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
    return render_answer(
        kind="form_reply",
        subject=reply.subject,
        hello="Добрый день!",
        paragraphs=reply.paragraphs(),
        signature=reply.signature,
        footer="Письмо отправлено автоматически системой Tochka.",
    )


def queue_form_reply(conn: Connection, reply: FormReply, *, now: datetime) -> bool:
    """Queue the answer in the caller's transaction; False if its key is already queued.

    An invalid address goes in ``dead`` with the reason, as every letter of ours.
    """
    return queue_answer(
        conn,
        _render(reply),
        key=reply.key,
        recipient=reply.recipient,
        reply_to=reply.reply_to,
        now=now,
        log=log,
        unsafe_log="Ответ на форму для %r не будет отправлен: %s",
    )
