"""The coordinator's decision on a reply, told to its sender: accepted, or rejected with
the reason (``tochka replies accept`` / ``reject``, `workflow.inbound.submissions`).

`queue_decision` renders and queues the letter in the caller's transaction (the one that
records the decision), once per key (``reply:{number}:accepted`` / ``…:rejected``). The
letter is plain: which reply, which deadline, what was done (the stage marked, the files
kept with their SHA-256) or why not and what to do next, and the signature. It carries
``Auto-Submitted: auto-generated`` as every letter of ours (`notifications.letters`), so
a well-behaved auto-responder does not answer it; a reply to it is matched to the same
deadline (`workflow.inbound.submissions.deadlines_of`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from notifications.answers import queue_answer, render_answer
from notifications.headers import clean_text
from notifications.reference import without_references
from notifications.render import RenderedLetter, greeting
from notifications.signature import Signature
from notifications.values import Recipient

__all__ = ["Decision", "queue_decision"]

log = logging.getLogger(__name__)

#: The longest piece of the reply's subject quoted in the letter's subject.
_SUBJECT_QUOTE = 80


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """What the sender of a reply is told.

    Attributes:
        key: the outbox key (one letter per reply and decision).
        recipient: the reply's sender.
        reply_to: the coordinator's address.
        signature: the roadmap's signature block.
        reply_number: the reply's number (``tochka replies list``).
        reply_subject: the reply's subject, as received.
        deadline: the deadline the reply was for, in Russian (several: «; » between).
        accepted: accepted (True) or rejected.
        done: what accepting did, one sentence («Этап отмечен: …»).
        files: the documents kept, «name», SHA-256.
        reason: why it was rejected.
    """

    key: str
    recipient: Recipient
    reply_to: str
    signature: Signature
    reply_number: int
    reply_subject: str
    deadline: str
    accepted: bool
    done: str = ""
    files: tuple[str, ...] = ()
    reason: str = ""

    @property
    def subject(self) -> str:
        verdict = "Ответ принят" if self.accepted else "Ответ не принят"
        quoted = without_references(clean_text(self.reply_subject))[:_SUBJECT_QUOTE]
        return f"{verdict}: {quoted}" if quoted else verdict

    def paragraphs(self) -> list[tuple[str, tuple[str, ...]]]:
        """The letter's paragraphs: (text, its list of lines)."""
        got = f"Ваш ответ «{clean_text(self.reply_subject) or 'без темы'}» получен"
        what = f"{got} и принят координатором ({self.deadline})."
        if not self.accepted:
            return [
                (f"{got}, но не принят координатором ({self.deadline}).", ()),
                (f"Причина: {self.reason}", ()),
                (
                    "Исправьте документы и отправьте их ещё раз ответом на это письмо.",
                    (),
                ),
            ]
        result: list[tuple[str, tuple[str, ...]]] = [(what, ())]
        if self.done:
            result.append((self.done, ()))
        if self.files:
            result.append(
                (f"Документы сохранены в журнале дорожной карты ({len(self.files)}):", self.files)
            )
        return result


def _render(decision: Decision) -> RenderedLetter:
    return render_answer(
        kind="reply_decision",
        subject=decision.subject,
        hello=greeting(decision.recipient),
        paragraphs=decision.paragraphs(),
        signature=decision.signature,
        footer="Письмо отправлено системой Tochka по решению координатора.",
    )


def queue_decision(conn: Connection, decision: Decision, *, now: datetime) -> bool:
    """Queue the letter in the caller's transaction; False if its key is already queued.

    An invalid address goes in ``dead`` with the reason, as every letter of ours.
    """
    return queue_answer(
        conn,
        _render(decision),
        key=decision.key,
        recipient=decision.recipient,
        reply_to=decision.reply_to,
        now=now,
        log=log,
        unsafe_log="Решение по ответу для %r не будет отправлено: %s",
    )
