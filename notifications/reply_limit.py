"""How many of our answers one sender gets a day (``reply_daily_limit``), for the process.

Tochka answers people's mail: the verdict on a returned monitoring form, the
coordinator's accept or reject letter. Whatever goes wrong elsewhere (a school's robot
replying to every letter, a loop through an auto-responder that sets none of the RFC 3834
headers), a sender gets at most this many of those answers in 24 hours: the next one is
recorded, ``held`` with the reason, and never sent unless the coordinator says so
(``tochka outbox retry N``). Set once by the command line when its settings are read
(`use`), like the audit key; read by the queuing of those answers (`hold_reason`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: The default: a form's verdict, its correction's and a decision, with room to spare.
DEFAULT_DAILY_LIMIT = 5
#: The outbox keys of our answers to people's mail (form verdicts, decisions on replies).
ANSWER_KEY_PREFIXES = ("form-reply:", "reply:")

_limit = DEFAULT_DAILY_LIMIT


def use(limit: int) -> None:
    """The limit this process keeps (at least 1)."""
    global _limit  # noqa: PLW0603  # one setting per process, set at start
    _limit = max(1, int(limit))


def current() -> int:
    """The limit in use."""
    return _limit


def hold_reason(conn: Connection, address: str, *, real_now: datetime) -> str | None:
    """Why an answer to ``address`` is held (the limit reached in the last 24 hours of
    real time), or None when it may go."""
    from notifications.outbox import OUTBOX  # not at import: the CLI sets the limit always

    address = address.strip().lower()
    since = real_now - timedelta(days=1)
    count = conn.execute(
        sa.select(sa.func.count()).where(
            sa.func.lower(OUTBOX.c.recipient) == address,
            OUTBOX.c.queued_at >= since,
            sa.or_(*(OUTBOX.c.key.startswith(p) for p in ANSWER_KEY_PREFIXES)),
        )
    ).scalar_one()
    if count < _limit:
        return None
    return (
        f"Не отправлено: адресу {address} за сутки уже поставлено ответов: {count} "
        f"(предел {_limit}, TOCHKA_REPLY_DAILY_LIMIT); письмо задержано для координатора — "
        "отправить всё же: tochka outbox retry"
    )
