"""Our answers to people's mail (a returned form's verdict, the coordinator's decision on
a reply): one plain letter's text and HTML, and its queuing in the caller's transaction.

Both answers are built in Python, not from the templates: a greeting, paragraphs each
with an optional list, the signature and a footer. Queuing keeps the rules of every
letter of ours (a key queued once, an unsafe address ``dead`` with its reason) and the
per-sender limit of answers (`notifications.reply_limit.hold_reason`: over it, ``held``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import system_clock
from notifications.errors import UnsafeHeader
from notifications.letters import address_letter, compose
from notifications.outbox import OUTBOX, LetterKind, OutboxStatus, insert_letters
from notifications.reference import with_reference
from notifications.render import RenderedLetter
from notifications.reply_limit import hold_reason
from notifications.signature import Signature
from notifications.values import Recipient

Paragraphs = Sequence[tuple[str, Sequence[str]]]


def render_answer(
    *,
    kind: str,
    subject: str,
    hello: str,
    paragraphs: Paragraphs,
    signature: Signature,
    footer: str,
) -> RenderedLetter:
    """The answer's text and HTML, equal in content."""
    text_lines = [hello, ""]
    html_parts = [f"<p>{html.escape(hello)}</p>"]
    for paragraph, items in paragraphs:
        text_lines.append(paragraph)
        html_parts.append(f"<p>{html.escape(paragraph)}</p>")
        if items:
            text_lines.extend(f"  – {item}" for item in items)
            html_parts.append(
                "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"
            )
        text_lines.append("")
    lines = list(signature.lines)
    text_lines += ["--", *lines, "", footer]
    html_parts.append(
        "<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>"
        f"<p><small>{html.escape(footer)}</small></p>"
    )
    return RenderedLetter(
        kind=kind,
        subject=subject,
        text="\n".join(text_lines) + "\n",
        html='<!doctype html><html lang="ru"><meta charset="utf-8"><body>'
        + "".join(html_parts)
        + "</body></html>\n",
        ics=None,
        sender_name=signature.department,
    )


def queue_answer(
    conn: Connection,
    rendered: RenderedLetter,
    *,
    key: str,
    recipient: Recipient,
    reply_to: str,
    now: datetime,
    log: logging.Logger,
    unsafe_log: str,
) -> bool:
    """Queue ``rendered`` under ``key`` in the caller's transaction; False if the key is
    already queued. ``unsafe_log``: the line for ``log`` (``%r`` the address, ``%s`` the reason)
    when the address cannot be written safely and the letter goes ``dead``."""
    if conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.key == key)).first():
        return False
    row: dict[str, Any] = {
        "key": key,
        "kind": LetterKind.NOTICE.value,
        "digest_group": None,
        "subject": with_reference(rendered.subject, key),
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
        "queued_at": system_clock(),
    }
    try:
        addressing = address_letter(recipient, (), reply_to)
        raw = compose(rendered, addressing, key=key)
    except UnsafeHeader as exc:
        log.warning(unsafe_log, recipient.email, exc)
        row |= {
            "recipient": recipient.email[:320],
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
    insert_letters(conn, [row])
    return True
