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

import html
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import system_clock
from notifications.errors import UnsafeHeader
from notifications.headers import clean_text
from notifications.letters import address_letter, compose
from notifications.outbox import OUTBOX, LetterKind, OutboxStatus
from notifications.reference import with_reference, without_references
from notifications.render import RenderedLetter, greeting
from notifications.reply_limit import hold_reason
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
    hello = greeting(decision.recipient)
    text_lines = [hello, ""]
    html_parts = [f"<p>{html.escape(hello)}</p>"]
    for paragraph, items in decision.paragraphs():
        text_lines.append(paragraph)
        html_parts.append(f"<p>{html.escape(paragraph)}</p>")
        if items:
            text_lines.extend(f"  – {item}" for item in items)
            html_parts.append(
                "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"
            )
        text_lines.append("")
    signature = list(decision.signature.lines)
    footer = "Письмо отправлено системой Tochka по решению координатора."
    text_lines += ["--", *signature, "", footer]
    html_parts.append(
        "<p>" + "<br>".join(html.escape(line) for line in signature) + "</p>"
        f"<p><small>{html.escape(footer)}</small></p>"
    )
    return RenderedLetter(
        kind="reply_decision",
        subject=decision.subject,
        text="\n".join(text_lines) + "\n",
        html='<!doctype html><html lang="ru"><meta charset="utf-8"><body>'
        + "".join(html_parts)
        + "</body></html>\n",
        ics=None,
        sender_name=decision.signature.department,
    )


def queue_decision(conn: Connection, decision: Decision, *, now: datetime) -> bool:
    """Queue the letter in the caller's transaction; False if its key is already queued.

    An invalid address goes in ``dead`` with the reason, as every letter of ours.
    """
    if conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.key == decision.key)).first():
        return False
    rendered = _render(decision)
    row: dict[str, Any] = {
        "key": decision.key,
        "kind": LetterKind.NOTICE.value,
        "digest_group": None,
        "subject": with_reference(rendered.subject, decision.key),
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
        "queued_at": system_clock(),
    }
    try:
        addressing = address_letter(decision.recipient, (), decision.reply_to)
        raw = compose(rendered, addressing, key=decision.key)
    except UnsafeHeader as exc:
        log.warning(
            "Решение по ответу для %r не будет отправлено: %s", decision.recipient.email, exc
        )
        row |= {
            "recipient": decision.recipient.email[:320],
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
