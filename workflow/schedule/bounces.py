"""The tick's step for bounced addresses: clear what a later letter proved, tell the rest.

1. A flagged address that took a later letter (`workflow.engine.bounces.unflag_delivered`)
   is cleared, audited as the tick's actor.
2. Every permanent bounce still flagged and not told yet goes to the coordinator's
   letter of the day, once: a `notifications.values.Reminder` carrying a
   `notifications.bounce_alert.BounceAlert`, keyed ``bounce:<id>:<coordinator>``, so the
   reminder queue records it once, joins it to the day's digest (or to the next day's
   when the day's letter has left; the weekly summary folds it) and never repeats it.

The alert says, in Russian, the address, the letter returned (number, subject, day),
the reason (the status code's meaning and the receiving server's own words), whose
address it is, and what to do: the command that replaces it (``centers update``,
``municipalities import``, the roadmap file) or ``outbox unflag``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, local_date
from notifications.bounce_alert import BounceAlert
from notifications.outbox import OUTBOX, REMINDER
from notifications.values import Recipient, Reminder, Rung
from workflow.engine import bounces
from workflow.engine.access import Actor
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reminders import ReminderQueue
from workflow.storage.inbound import BOUNCE

__all__ = ["alert_key", "report_bounces", "status_meaning"]

_FLAGGED = (BOUNCE.c.permanent.is_(True), BOUNCE.c.cleared_at.is_(None))

#: RFC 3463 enhanced status codes, by subject and detail, as a coordinator reads them.
_DETAILS: dict[str, str] = {
    "1.1": "такого почтового ящика нет",
    "1.2": "почтового домена адресата нет",
    "1.3": "адрес записан с ошибкой",
    "1.6": "ящик перенесён, нового адреса сервер не сообщил",
    "1.10": "адрес не найден",
    "2.1": "ящик отключён",
    "2.2": "ящик переполнен",
    "2.3": "письмо больше, чем принимает ящик",
    "3.4": "письмо больше, чем принимает сервер адресата",
    "4.4": "сервер адресата не найден",
    "4.7": "сервер адресата не отвечал, доставка прекращена",
    "7.1": "сервер адресата отказался принять письмо от нас",
}
_SUBJECTS: dict[str, str] = {
    "1": "адрес не принят сервером адресата",
    "2": "ящик адресата не принимает письма",
    "3": "почтовая система адресата не принимает письма",
    "4": "сервер адресата недоступен",
    "5": "ошибка при передаче письма серверу адресата",
    "6": "сервер адресата не принял содержимое письма",
    "7": "письмо отклонено правилами сервера адресата (например, принято за спам)",
}


def status_meaning(status: str) -> str:
    """«такого почтового ящика нет» for 5.1.1; what the class says for a detail not
    listed; «сервер адресата письмо не принял» without a code."""
    parts = status.split(".")
    if len(parts) != 3:
        return "сервер адресата письмо не принял"
    detail = _DETAILS.get(f"{parts[1]}.{parts[2]}")
    return detail or _SUBJECTS.get(parts[1], "сервер адресата письмо не принял")


def alert_key(bounce_id: int, coordinator: str) -> str:
    """The reminder key of one bounce told to one coordinator (each coordinator once)."""
    who = hashlib.sha256(coordinator.strip().lower().encode("utf-8")).hexdigest()[:16]
    return f"bounce:{bounce_id}:{who}"


def _whose(owner: bounces.Owner) -> str:
    if owner.kind == "center":
        return f"центр {owner.key} «{owner.name}»"
    if owner.kind == "municipality":
        return f"орган управления образованием муниципалитета «{owner.name}»"
    return f"участник дорожной карты «{owner.name}» (id: {owner.key})"


def _fix(address: str, found: Sequence[bounces.Owner]) -> str:
    """What the coordinator does: replace the address where it is kept, or clear."""
    steps: list[str] = []
    for owner in found:
        if owner.kind == "center":
            steps.append(
                f"уточните адрес у школы и исправьте его: tochka centers update {owner.key} "
                "--email НОВЫЙ_АДРЕС"
            )
        elif owner.kind == "municipality":
            steps.append(
                f"уточните адрес у органа управления образованием «{owner.name}» и загрузите "
                "исправленный список: tochka municipalities import ФАЙЛ"
            )
        else:
            steps.append(
                f"исправьте email участника «{owner.key}» в файле дорожной карты и загрузите "
                "его: tochka roadmap load ФАЙЛ"
            )
    unflag = f"tochka outbox unflag {address} --reason «…»"
    if not steps:
        return (
            "адрес не указан ни у центра, ни у муниципалитета, ни у участника дорожной "
            f"карты — писем на него больше не будет; отметку снимает {unflag}"
        )
    return (
        "; ".join(dict.fromkeys(steps))
        + f". Отметка снимется сама; если адрес верен и ящик уже исправлен — {unflag}"
    )


def _alert(
    conn: Connection, stored: StoredRoadmap, row: Any, coordinator: Recipient, today: date
) -> Reminder:
    roadmap: Roadmap = stored.definition
    zone = roadmap.timezone
    found = bounces.owners(conn, stored.id, roadmap, row.address)
    alert = BounceAlert(
        address=row.address,
        letter_id=row.outbox_id,
        letter_subject=row.subject or "",
        letter_sent=local_date(row.sent_at, zone) if row.sent_at is not None else None,
        returned=local_date(row.received_at, zone),
        reason=status_meaning(row.status),
        server=" ".join(p for p in (row.status, row.reason) if p),
        owners=tuple(_whose(o) for o in found),
        fix=_fix(row.address, found),
    )
    return Reminder(
        key=alert_key(int(row.id), coordinator.email),
        send_on=today,
        recipient=coordinator,
        rung=Rung.ON_DAY,
        days=0,
        deadline=today,
        subject_kind="bounce",
        title=f"Адрес не принимает письма: {row.address}",
        roadmap_title=roadmap.title,
        signature=roadmap.signature,
        measure_number=0,
        period="",
        reply_to=coordinator.email,
        timezone=zone,
        roadmap_code=roadmap.code,
        role="department",
        bounce=alert,
    )


def report_bounces(
    engine: Engine,
    stored: StoredRoadmap,
    *,
    today: date,
    now: datetime,
    clock: Clock,
    queue: ReminderQueue,
    actor: Actor,
) -> tuple[int, int]:
    """Clear the flags a later letter proved wrong; tell the coordinator of each
    bounce still flagged, once (see the module). One write transaction.

    Args:
        queue: the tick's reminder queue.

    Returns:
        Addresses cleared, bounces told now.
    """
    roadmap = stored.definition
    try:
        party = roadmap.party(roadmap.coordinator)
    except KeyError:
        return 0, 0
    coordinator = Recipient(email=party.email, name=party.name, contact=party.contact)
    flagged = sa.select(BOUNCE.c.id).where(*_FLAGGED).limit(1)
    with db.read(engine) as conn:  # on the usual day: no write lock taken
        if conn.execute(flagged).first() is None:
            return 0, 0
    with db.write(engine) as conn:
        cleared = bounces.unflag_delivered(
            conn,
            stored.id,
            today=today,
            timezone=roadmap.timezone,
            actor=actor,
            recorded_at=clock(),
        )
        rows = conn.execute(
            sa.select(
                BOUNCE.c.id,
                BOUNCE.c.address,
                BOUNCE.c.outbox_id,
                BOUNCE.c.status,
                BOUNCE.c.reason,
                BOUNCE.c.received_at,
                OUTBOX.c.subject,
                OUTBOX.c.sent_at,
            )
            .select_from(BOUNCE.outerjoin(OUTBOX, OUTBOX.c.id == BOUNCE.c.outbox_id))
            .where(*_FLAGGED)
            .order_by(BOUNCE.c.id)
        ).all()
        # Only those not told yet (the queue would skip the others by their key too).
        keys = {alert_key(int(row.id), coordinator.email): row for row in rows}
        told_before = set(
            conn.execute(sa.select(REMINDER.c.key).where(REMINDER.c.key.in_(list(keys)))).scalars()
        )
        alerts = [
            _alert(conn, stored, row, coordinator, today)
            for key, row in keys.items()
            if key not in told_before
        ]
        told = queue(conn, alerts, now=now) if alerts else 0
    return len(cleared), told
