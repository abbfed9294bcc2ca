"""Queuing letters inside the caller's transaction: daily digests and transition notices.

Digest rule: all reminders for one recipient with one ``send_on`` day go out as one
letter, grouped by deadline, the earliest (most urgent) first. The day's letter is
*amended* (re-rendered with the new reminders, same key, same Message-ID) while it is
still ``pending`` — queued and never attempted. Once it has been claimed, sent or has
failed, a reminder that arrives later for that day joins the *next* day's letter (its
``send_on`` moved on by a day; that letter waits for the day to begin and later
reminders of that day amend it): one letter per recipient and day. Only when a whole
week of letters has left already does a *follow-up* of the same day go out
(``digest:<day>:<recipient hash>:2``, ``:3``, …). Either way each reminder is recorded
once, in exactly one letter: never lost, never doubled.

Concurrency: on PostgreSQL the pending letter is locked (``SELECT … FOR UPDATE``)
before it is amended, so a deliverer's ``SKIP LOCKED`` claim either happens first (the
letter is no longer pending and a follow-up is made) or skips it until we commit. On
SQLite the caller's write transaction (``BEGIN IMMEDIATE``) serialises the same. Two
reconcilers queuing reminders for the *same* recipient and day at the same moment may
collide on a unique key; the losing transaction fails and its next run (the reconciler
is idempotent) queues what is missing.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import system_clock
from notifications.errors import UnsafeHeader
from notifications.letters import address_letter, compose
from notifications.outbox import (
    OUTBOX,
    REMINDER,
    LetterKind,
    OutboxStatus,
    delete_rows,
    insert_letters,
    set_letter,
)
from notifications.reference import with_reference
from notifications.render import Renderer
from notifications.summary import WeeklySummary
from notifications.values import Notice, Reminder

log = logging.getLogger(__name__)

# Bound parameters per IN (...) list: far below SQLite's and PostgreSQL's limits.
_CHUNK = 500
#: Longest idempotency key (the ``key`` columns are VARCHAR(255)).
MAX_KEY_LENGTH = 255
#: How many days on a late reminder may move to find a recipient's letter not sent yet.
_MAX_MOVES = 7

__all__ = ["Notice", "Reminder", "queue_notice", "queue_reminders", "queue_summary"]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"idempotency key must be 1..{MAX_KEY_LENGTH} characters: {key!r}")


def _normal_email(address: str) -> str:
    return address.strip().lower()


def digest_group(recipient_email: str, send_on: date) -> str:
    """The group id of one recipient's letters for one day."""
    text = f"{_normal_email(recipient_email)}|{send_on.isoformat()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest_key(group: str, send_on: date, seq: int) -> str:
    """The idempotency key of the ``seq``-th letter of a group (1 = the digest itself)."""
    return f"digest:{send_on.isoformat()}:{group[:24]}:{seq}"


def _not_before(reminder: Reminder, now: datetime) -> datetime:
    """Letters for a future day wait until that local day begins; others go now."""
    try:
        zone = ZoneInfo(reminder.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return now
    start = datetime.combine(reminder.send_on, time(0), tzinfo=zone)
    return max(now, start)


@dataclass(slots=True)
class _Built:
    """A letter ready to store: bytes and envelope, or the reason it cannot go."""

    recipient: str
    envelope: str
    subject: str
    message: bytes
    error: str | None


def _build_digest(
    reminders: Sequence[Reminder], renderer: Renderer, now: datetime, key: str
) -> _Built:
    first = min(reminders, key=lambda r: r.urgency)
    rendered = renderer.render_reminders(reminders, now=now)
    cc = [c for r in reminders for c in r.cc]
    return _assemble(first.recipient.email, rendered, cc, first, now, key)


def _assemble(
    to_email: str,
    rendered: Any,
    cc: Sequence[Any],
    source: Reminder | Notice | WeeklySummary,
    now: datetime,
    key: str,
) -> _Built:
    """The letter of outbox key ``key``: its subject carries the key's reference token."""
    subject = with_reference(rendered.subject, key)
    try:
        addressing = address_letter(source.recipient, cc, source.reply_to)
        raw = compose(rendered, addressing, key=key)
    except UnsafeHeader as exc:  # includes InvalidAddress
        # The row goes in dead, with the reason, so the operator sees it and the rest of
        # the caller's transaction (other letters, the state change) goes on.
        log.warning("Письмо для %r не будет отправлено: %s", to_email, exc.message)
        return _Built(
            recipient=to_email[:320],
            envelope="",
            subject=subject,
            message=b"",
            error=exc.message,
        )
    for note in addressing.dropped:
        log.warning("Письмо для %s: %s (этот адрес пропущен)", addressing.to.addr_spec, note)
    return _Built(
        recipient=addressing.to.addr_spec,
        envelope=",".join(addressing.envelope),
        subject=subject,
        message=raw,
        error="; ".join(addressing.dropped) or None,
    )


def _row_values(
    *, key: str, kind: LetterKind, group: str | None, built: _Built, due: datetime, now: datetime
) -> dict[str, Any]:
    dead = not built.message
    return {
        "key": key,
        "kind": kind.value,
        "digest_group": group,
        "recipient": built.recipient,
        "envelope": built.envelope,
        "subject": built.subject,
        "message": built.message,
        "status": (OutboxStatus.DEAD if dead else OutboxStatus.PENDING).value,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
        "updated_at": now,
        # The real time, whatever ``now`` says: a letter queued by a command run with
        # ``--now`` in the past is not years old for the deliverer's give-up rule.
        "queued_at": system_clock(),
        "last_error": built.error,
    }


def queue_reminders(
    conn: Connection, reminders: Sequence[Reminder], *, now: datetime, renderer: Renderer
) -> int:
    """Record new reminders and queue their letters, in the caller's transaction.

    Reminders whose key is already recorded are ignored (the scheduler may offer the
    same reminder on every run). The new ones are grouped per recipient and ``send_on``
    day: each group joins that day's pending letter (re-rendered) or, when the day's
    letter already left the pending state, the next day's letter (see the module). A
    letter for a future day waits until the day starts in the reminder's time zone.

    A reminder whose recipient address is invalid is still recorded; its letter goes
    in as ``dead`` with the reason, and the other letters are queued normally.

    Args:
        conn: a connection inside the caller's write transaction.
        reminders: the reminders due as of ``now`` (duplicates allowed).
        now: the current time (aware); stamps rows and fixes "today" in the text.
        renderer: the template renderer.

    Returns:
        The number of reminders recorded by this call.

    Raises:
        TemplateProblem: a template failed (nothing of this call should be committed).
        ValueError: a key is empty or longer than `MAX_KEY_LENGTH`.
    """
    unique: dict[str, Reminder] = {}
    for reminder in reminders:
        _check_key(reminder.key)
        unique.setdefault(reminder.key, reminder)
    if not unique:
        return 0
    keys = list(unique)
    known: set[str] = set()
    for chunk in _chunks(keys):
        known.update(
            conn.execute(sa.select(REMINDER.c.key).where(REMINDER.c.key.in_(chunk))).scalars()
        )
    fresh = [unique[k] for k in keys if k not in known]
    if not fresh:
        return 0
    _queue_fresh(conn, fresh, now=now, renderer=renderer, moves=0)
    return len(fresh)


def _queue_fresh(
    conn: Connection, fresh: Sequence[Reminder], *, now: datetime, renderer: Renderer, moves: int
) -> None:
    """Queue reminders not recorded yet (see `queue_reminders`)."""
    groups: dict[str, list[Reminder]] = defaultdict(list)
    for reminder in fresh:
        groups[digest_group(reminder.recipient.email, reminder.send_on)].append(reminder)

    # What each group already has: its letters (for the next sequence number) and a
    # pending one to amend. Locks the pending ones on PostgreSQL.
    existing: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    keys: dict[int, str] = {}  # the outbox key of each of those letters
    group_ids = list(groups)
    for chunk in _chunks(group_ids):
        rows = conn.execute(
            sa.select(
                OUTBOX.c.digest_group,
                OUTBOX.c.id,
                OUTBOX.c.status,
                OUTBOX.c.attempts,
                OUTBOX.c.kind,
                OUTBOX.c.key,
            ).where(OUTBOX.c.digest_group.in_(chunk))
        )
        for group, row_id, status, attempts, kind, row_key in rows:
            keys[row_id] = row_key
            # The weekly summary of the day is the coordinator's letter of that day too
            # (`queue_summary`): it counts as the day's letter, but is never amended.
            amendable = kind == LetterKind.DIGEST.value
            existing[group].append((row_id, status if amendable else "", attempts))
    amend: dict[str, int] = {}
    candidates = [
        row_id
        for rows in existing.values()
        for row_id, status, attempts in rows
        if status == OutboxStatus.PENDING.value and attempts == 0
    ]
    for chunk in _chunks(candidates):
        locked = conn.execute(
            sa.select(OUTBOX.c.digest_group, OUTBOX.c.id)
            .where(
                OUTBOX.c.id.in_(chunk),
                OUTBOX.c.status == OutboxStatus.PENDING.value,
                OUTBOX.c.attempts == 0,
            )
            .with_for_update()
        )
        for group, row_id in locked:
            amend[group] = max(row_id, amend.get(group, 0))

    # Reminders already in the letters we amend, to re-render them with the new ones.
    carried: dict[int, list[Reminder]] = defaultdict(list)
    for chunk in _chunks(list(amend.values())):
        for outbox_id, payload in conn.execute(
            sa.select(REMINDER.c.outbox_id, REMINDER.c.payload).where(
                REMINDER.c.outbox_id.in_(chunk)
            )
        ):
            carried[outbox_id].append(Reminder.from_json(payload))

    new_rows: list[dict[str, Any]] = []
    new_groups: list[tuple[str, list[Reminder]]] = []
    moved: list[Reminder] = []
    for group, members in groups.items():
        send_on = members[0].send_on
        if group in amend:
            row_id = amend[group]
            built = _build_digest([*carried[row_id], *members], renderer, now, keys[row_id])
            set_letter(conn, row_id, built.message)
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == row_id)
                .values(
                    recipient=built.recipient,
                    envelope=built.envelope,
                    subject=built.subject,
                    status=(OutboxStatus.DEAD if not built.message else OutboxStatus.PENDING).value,
                    last_error=built.error,
                    updated_at=now,
                )
            )
            _record(conn, [(row_id, members)], now)
            log.debug("digest %s amended with %d reminder(s)", row_id, len(members))
            continue
        if existing.get(group) and moves < _MAX_MOVES:
            # The day's letter has left: the next day's letter carries these.
            moved.extend(replace(r, send_on=r.send_on + timedelta(days=1)) for r in members)
            continue
        seq = len(existing.get(group, ())) + 1
        key = digest_key(group, send_on, seq)
        built = _build_digest(members, renderer, now, key)
        due = min(_not_before(r, now) for r in members)
        new_rows.append(
            _row_values(
                key=key,
                kind=LetterKind.DIGEST,
                group=group,
                built=built,
                due=due,
                now=now,
            )
        )
        new_groups.append((group, members))
        if seq > 1:
            log.info("follow-up letter %d for %s on %s", seq, built.recipient, send_on)

    if new_rows:
        ids = insert_letters(conn, new_rows)
        _record(conn, zip(ids, [members for _group, members in new_groups], strict=True), now)
    if moved:
        log.info("%d reminder(s) moved to the next day's letter", len(moved))
        _queue_fresh(conn, moved, now=now, renderer=renderer, moves=moves + 1)


def _record(
    conn: Connection, letters: Iterable[tuple[int, Sequence[Reminder]]], now: datetime
) -> None:
    """Record the reminders of each (outbox id, reminders) letter, in one statement: one
    per letter cost a round trip each (3 ms under load; 250 per region on a federal day)."""
    rows = [
        {
            "key": r.key,
            "outbox_id": outbox_id,
            "recipient": _normal_email(r.recipient.email)[:320],
            "send_on": r.send_on,
            "deadline": r.deadline,
            "rung": r.rung.value,
            "payload": r.to_json(),
            "created_at": now,
        }
        for outbox_id, members in letters
        for r in members
    ]
    if rows:
        conn.execute(REMINDER.insert(), rows)


def _queue_one(
    conn: Connection,
    letter: Notice | WeeklySummary,
    kind: LetterKind,
    render: Callable[[], Any],
    now: datetime,
) -> bool:
    """Queue one letter (not a digest) unless its key exists; True if queued."""
    _check_key(letter.key)
    exists = conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.key == letter.key)).first()
    if exists is not None:
        return False
    cc = letter.cc if isinstance(letter, Notice) else ()
    built = _assemble(letter.recipient.email, render(), cc, letter, now, letter.key)
    insert_letters(
        conn, [_row_values(key=letter.key, kind=kind, group=None, built=built, due=now, now=now)]
    )
    return True


def _local_day(now: datetime, timezone: str) -> date:
    try:
        return now.astimezone(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()


def queue_notice(
    conn: Connection,
    notice: Notice,
    *,
    now: datetime,
    renderer: Renderer,
    carried: Callable[[str], Sequence[Notice]] | None = None,
) -> bool:
    """Queue a transition notice, in the caller's transaction (the state change's).

    With ``carried``, a recipient's notices of one local day go as one letter: a notice
    joins (re-renders) that day's notice letter while it is still ``pending`` and never
    attempted; once that letter has left, it joins the next day's (which waits for the
    day to begin), as a late reminder does. ``carried(key)`` gives the notices a pending
    letter with that key already carries, in order (the caller knows them: the audit
    events). Without it, each notice is a letter of its own.

    Args:
        conn: a connection inside the caller's write transaction.
        notice: the notice; its ``key`` makes the call idempotent.
        now: the current time (aware).
        renderer: the template renderer.
        carried: the notices already in a pending letter, by the letter's key.

    Returns:
        True if queued, False if a letter with this key already exists. A notice to an
        invalid address is stored as ``dead`` with the reason (and counts as queued).

    Raises:
        TemplateProblem: a template failed.
        ValueError: the key is empty or longer than `MAX_KEY_LENGTH`.
    """
    if carried is None:
        return _queue_one(
            conn, notice, LetterKind.NOTICE, lambda: renderer.render_notice(notice, now=now), now
        )
    _check_key(notice.key)
    if conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.key == notice.key)).first():
        return False
    day = _local_day(now, notice.timezone)
    for _move in range(_MAX_MOVES + 1):
        group = digest_group(notice.recipient.email, day)
        rows = list(
            conn.execute(
                sa.select(OUTBOX.c.id).where(
                    OUTBOX.c.digest_group == group, OUTBOX.c.kind == LetterKind.NOTICE.value
                )
            )
        )
        if not rows:
            break
        pending = conn.execute(
            sa.select(OUTBOX.c.id, OUTBOX.c.key)
            .where(
                OUTBOX.c.id.in_([r.id for r in rows]),
                OUTBOX.c.status == OutboxStatus.PENDING.value,
                OUTBOX.c.attempts == 0,
            )
            .order_by(OUTBOX.c.id.desc())
            .with_for_update()
        ).first()
        if pending is not None:
            earlier = list(carried(pending.key))
            built = _assemble(
                notice.recipient.email,
                renderer.render_notice(notice, now=now, earlier=earlier),
                notice.cc,
                notice,
                now,
                pending.key,
            )
            set_letter(conn, pending.id, built.message)
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == pending.id)
                .values(
                    recipient=built.recipient,
                    envelope=built.envelope,
                    subject=built.subject,
                    status=(OutboxStatus.DEAD if not built.message else OutboxStatus.PENDING).value,
                    last_error=built.error,
                    updated_at=now,
                )
            )
            log.debug("notice letter %s amended with %s", pending.id, notice.key)
            return True
        day += timedelta(days=1)  # the day's letter has left: the next day's
    built = _assemble(
        notice.recipient.email,
        renderer.render_notice(notice, now=now),
        notice.cc,
        notice,
        now,
        notice.key,
    )
    start = datetime.combine(day, time(0), tzinfo=now.tzinfo)
    try:
        start = datetime.combine(day, time(0), tzinfo=ZoneInfo(notice.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        pass
    insert_letters(
        conn,
        [
            _row_values(
                key=notice.key,
                kind=LetterKind.NOTICE,
                group=group,
                built=built,
                due=max(now, start),
                now=now,
            )
        ],
    )
    return True


def queue_summary(
    conn: Connection, summary: WeeklySummary, *, now: datetime, renderer: Renderer
) -> bool:
    """Queue the weekly summary letter, in the caller's write transaction.

    The summary is its recipient's one letter of its day (``summary.as_of``): that
    day's digest for the recipient, while still ``pending`` and never attempted, is
    folded in — its reminders come first in the summary (``summary.reminders``), their
    records (``reminder.outbox_id``) move to the summary's row and the digest's row is
    deleted (it never left). The summary's row joins the recipient's digest group of the
    day, so a reminder that comes later that day goes to the next day's letter
    (`queue_reminders`). When a letter of the day has already left (claimed, sent,
    failed, dead), the summary is not queued (False): the next day's call queues it.

    Args:
        conn: a connection inside the caller's write transaction.
        summary: the summary; its ``key`` makes the call idempotent.
        now: the current time (aware).
        renderer: the template renderer.

    Returns:
        True if queued, False if a letter with this key already exists or the
        recipient's letter of the day has left. A summary to an invalid address is
        stored as ``dead`` with the reason (and counts as queued).

    Raises:
        TemplateProblem: a template failed.
        ValueError: the key is empty or longer than `MAX_KEY_LENGTH`.
    """
    _check_key(summary.key)
    exists = conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.key == summary.key)).first()
    if exists is not None:
        return False
    group = digest_group(summary.recipient.email, summary.as_of)
    day_rows = list(
        conn.execute(
            sa.select(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.status, OUTBOX.c.attempts).where(
                OUTBOX.c.digest_group == group
            )
        )
    )
    # Locked on PostgreSQL, so that a deliverer's SKIP LOCKED claim either came first
    # (the row is no longer pending: the summary waits for the next day) or waits.
    folded = [
        int(row_id)
        for (row_id,) in conn.execute(
            sa.select(OUTBOX.c.id)
            .where(
                OUTBOX.c.id.in_([r.id for r in day_rows]),
                OUTBOX.c.kind == LetterKind.DIGEST.value,
                OUTBOX.c.status == OutboxStatus.PENDING.value,
                OUTBOX.c.attempts == 0,
            )
            .with_for_update()
        )
    ]
    if len(folded) < len(day_rows):
        log.info("summary %s waits: the day's letter to its recipient has left", summary.key)
        return False
    carried = [
        Reminder.from_json(payload)
        for (payload,) in conn.execute(
            sa.select(REMINDER.c.payload)
            .where(REMINDER.c.outbox_id.in_(folded))
            .order_by(REMINDER.c.id)
        )
    ]
    letter = replace(summary, reminders=(*summary.reminders, *carried))
    rendered = renderer.render_summary(letter, now=now)
    built = _assemble(letter.recipient.email, rendered, (), letter, now, letter.key)
    values = _row_values(
        key=letter.key, kind=LetterKind.SUMMARY, group=group, built=built, due=now, now=now
    )
    (row_id,) = insert_letters(conn, [values])
    if folded:
        conn.execute(
            REMINDER.update().where(REMINDER.c.outbox_id.in_(folded)).values(outbox_id=row_id)
        )
        delete_rows(conn, folded)
        log.info("summary %s carries %d reminder(s) of its day", letter.key, len(carried))
    return True
