"""The deliverer: claims due outbox rows, sends them, records the outcome.

Each call of `deliver_due` works through one batch; `deliver_pending` (the daemon's and
``tochka outbox send``'s) works through batch after batch over one transport session,
so one SMTP connection carries every letter due:

1. **Claim** (one short write transaction): rows that are ``pending`` or ``failed`` and
   due, plus ``sending`` rows whose lease has expired (their deliverer died), become
   ``sending`` with a fresh lease and claim token; ``attempts`` goes up by one. On
   PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED`` so several daemons
   share the work; on SQLite `base.db.write` begins it with ``BEGIN IMMEDIATE``, so a
   claim waits for another writer (up to the busy timeout) instead of failing with
   "database is locked" when that writer commits between the claim's read and its update.
2. **Send** each row through one transport session (a new one after a lost connection).
3. **Record** each outcome in its own short transaction right after the server answers,
   guarded by the claim token (a row re-claimed after a lease expiry is not touched by
   the stale worker), and stamped with the real time (``recorded_at``). The only window
   for a duplicate is a crash between the server's 250 and this commit; the resend
   carries the same Message-ID (derived from the key), so mail clients show it once. A
   crash between a 5xx reply and this commit likewise costs the letter one attempt more
   than ``max_attempts``: the outcome was never recorded, so the claim is made again
   once its lease runs out. These commits do not wait for the disk, except the batch's
   last one, which makes them all durable (`base.db.write` ``durable=False``: one disk
   flush per batch, not per letter, where the flush takes longer than the letter): a
   deliverer that dies (killed, crashed) has every outcome it committed; only a crash
   of the machine (or of the PostgreSQL server) before the batch's last commit can lose
   the outcomes since the batch began, and those letters go again with their Message-IDs
   — sent twice, never lost.

A database that fails while a batch is out (the server restarts, the connection is cut,
SQLite's write lock is held past the busy timeout) stops the sending: no further letter
goes to the server while its outcome could not be written. The outcome in hand (a letter
the server has accepted) is written again, with short pauses, until the database answers
or half the lease has gone; then sending goes on (or the rest of the batch is released,
due at once, when half the lease has gone). So a deliverer that lives through an outage
duplicates nothing and leaves no claim behind; one that dies in it duplicates at most
the letter in flight, and the rest of its batch is claimed again when the lease
(``TOCHKA_OUTBOX_LEASE_SECONDS``) runs out.

Failure policy:

* Temporary — a 4xx reply, a lost connection, a timeout, a server that is down or
  refuses our login: ``failed``, retried after ``backoff_base_seconds · 2^(attempts-1)``
  (capped, ±10 % spread derived from the key), until the letter is ``give_up_after`` old
  in real time (since ``queued_at``, by the wall clock, not the caller's ``now``: letters
  queued by a command run with ``--now`` in the past are not years old); then ``dead``.
* Permanent — a 5xx reply to the letter (MAIL FROM, DATA): ``failed`` and retried like
  a temporary failure while ``attempts < max_attempts`` (some servers answer 5xx for
  passing trouble), then ``dead``.
* The main recipient refused with a 5xx at RCPT (unknown or invalid mailbox): ``dead``
  at once, with the server's reason — the same address will be refused again, and other
  letters go on. A refused copy (Cc) does not stop the letter; it is noted in
  ``last_error`` of the ``sent`` row.
* A server that is down or refuses the login fails the whole batch (each row as a
  temporary failure, untried rows without using up an attempt) and is reported in
  `DeliveryReport.transport_error`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from base.clock import Clock, system_clock
from notifications.errors import (
    DeliveryError,
    InvalidAddress,
    RecipientRefused,
    TransportUnavailable,
)
from notifications.headers import check_address, envelope_headers, message_id
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER, OutboxStatus
from notifications.russian import days
from notifications.transport import Transport, TransportSession

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_BASE_SECONDS = 60.0
DEFAULT_BACKOFF_MAX_SECONDS = 6 * 3600.0
# Longer than the longest Russian holidays (New Year: up to 12 days), so a mail server
# that is down over them loses no letter.
DEFAULT_GIVE_UP_AFTER = timedelta(days=14)
DEFAULT_LEASE_SECONDS = 600.0
#: A sent record slower than this after the 250 is logged: a crash in it duplicates.
SLOW_RECORD_SECONDS = 1.0
#: Pauses between attempts to write an outcome while the database does not answer.
_RECORD_PAUSES = (0.2, 0.5, 1.0, 2.0)
#: A session left idle this long (an outcome waited for the database) is not reused.
_IDLE_SESSION_SECONDS = 30.0


@dataclass(kw_only=True)
class DeliveryReport:
    """What one `deliver_due` call did.

    Attributes:
        claimed: rows claimed.
        sent: rows the server accepted.
        retrying: rows that failed and will be retried.
        dead: rows given up.
        released: rows claimed but not attempted (the server could not be reached).
        transport_error: why the transport could not be used, if it could not.
        errors: one line per failed row (``id: reason``).
        more: `deliver_pending` stopped at its time limit after a full batch: more
            letters may be due.
    """

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0
    transport_error: str | None = None
    errors: list[str] = field(default_factory=list)
    more: bool = False

    def add(self, other: DeliveryReport) -> None:
        """Count ``other``'s rows in this report (its transport error, if any, wins)."""
        self.claimed += other.claimed
        self.sent += other.sent
        self.retrying += other.retrying
        self.dead += other.dead
        self.released += other.released
        self.transport_error = other.transport_error or self.transport_error
        self.errors += other.errors


@dataclass(frozen=True, kw_only=True, slots=True)
class _Claimed:
    id: int
    key: str
    envelope: tuple[str, ...]
    message: bytes
    attempts: int
    created_at: datetime
    queued_at: datetime | None


def _age(age: timedelta) -> str:
    if age % timedelta(days=1):
        return f"{age.total_seconds() / 3600:g} ч"
    return days(age.days)


def backoff_delay(key: str, attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """The wait before the next attempt: exponential in ``attempts``, capped, spread.

    The ±10 % spread is derived from the key and the attempt, not from a random source,
    so a schedule can be reproduced in tests while letters failing together do not all
    come back at the same second.
    """
    exponent = min(max(attempts - 1, 0), 30)
    seconds = min(base_seconds * (2**exponent), max_seconds)
    digest = hashlib.sha256(f"{key}|{attempts}".encode()).digest()
    spread = 0.9 + 0.2 * (int.from_bytes(digest[:2], "big") / 65535)
    return timedelta(seconds=seconds * spread)


def _claim(
    engine: Engine, *, now: datetime, batch: int, lease_seconds: float, token: str
) -> list[_Claimed]:
    due = sa.or_(
        sa.and_(
            OUTBOX.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.FAILED.value]),
            OUTBOX.c.next_attempt_at <= now,
        ),
        sa.and_(OUTBOX.c.status == OutboxStatus.SENDING.value, OUTBOX.c.lease_until <= now),
    )
    # Not waited for on disk: the batch's last outcome makes it durable (see the module).
    with db.write(engine, durable=False) as conn:
        ids = list(
            conn.execute(
                sa.select(OUTBOX.c.id)
                .where(due)
                .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not ids:
            return []
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id.in_(ids))
            .values(
                status=OutboxStatus.SENDING.value,
                attempts=OUTBOX.c.attempts + 1,
                lease_until=now + timedelta(seconds=lease_seconds),
                claim_token=token,
                updated_at=now,
            )
        )
        # The letter's bytes from their own table: read once here, never rewritten by
        # the claim's and the outcomes' updates of the row.
        rows = conn.execute(
            sa.select(
                OUTBOX.c.id,
                OUTBOX.c.key,
                OUTBOX.c.envelope,
                OUTBOX_LETTER.c.message,
                OUTBOX.c.attempts,
                OUTBOX.c.created_at,
                OUTBOX.c.queued_at,
            )
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.id.in_(ids))
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        ).all()
    return [
        _Claimed(
            id=r.id,
            key=r.key,
            envelope=tuple(a for a in r.envelope.split(",") if a),
            message=bytes(r.message),
            attempts=r.attempts,
            created_at=r.created_at,
            queued_at=r.queued_at,
        )
        for r in rows
    ]


def _transient(exc: sa.exc.DBAPIError) -> bool:
    """A database error that may pass: the server or the connection is gone, the
    SQLite write lock was not granted within the busy timeout."""
    return exc.connection_invalidated or isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError
    )


@dataclass(kw_only=True)
class _Recorder:
    """Writes outcomes, each in its own transaction, retrying while the database is away
    until ``deadline`` (a `time.monotonic` value).

    ``pending`` outcomes of the batch are to be written: each commit returns without
    waiting for the disk (`base.db.write` ``durable=False``) except the last one's, which
    makes them all durable (see the module).
    """

    engine: Engine
    token: str
    clock: Clock
    deadline: float
    pending: int

    def __call__(self, row: _Claimed, values: dict[str, Any]) -> bool:
        """Write an outcome if the row is still ours; False when the claim was lost.

        Raises:
            sqlalchemy.exc.DBAPIError: the database did not answer before the deadline,
                or failed in a way a retry cannot mend.
        """
        self.pending -= 1
        durable = self.pending <= 0
        for attempt in itertools.count():
            try:
                return self._write(row, values, durable=durable)
            except sa.exc.DBAPIError as exc:
                pause = _RECORD_PAUSES[min(attempt, len(_RECORD_PAUSES) - 1)]
                if not _transient(exc) or time.monotonic() + pause > self.deadline:
                    raise
                log.warning(
                    "outbox row %s: outcome not written (%s), again in %.1f s",
                    row.id,
                    type(exc.orig).__name__,
                    pause,
                )
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, row: _Claimed, values: dict[str, Any], *, durable: bool) -> bool:
        with db.write(self.engine, durable=durable) as conn:
            # Stamped once the transaction holds its lock (SQLite: BEGIN IMMEDIATE has
            # returned): a wait for the lock shows in ``recorded_at``.
            result = conn.execute(
                _outcome_update(tuple(values)),
                {
                    **{f"new_{name}": value for name, value in values.items()},
                    "new_recorded_at": self.clock(),
                    "row_id": row.id,
                    "token": self.token,
                },
            )
        if result.rowcount != 1:
            log.warning(
                "outbox row %s was re-claimed by another deliverer; outcome not recorded", row.id
            )
            return False
        return True


@functools.cache
def _outcome_update(columns: tuple[str, ...]) -> sa.Update:
    """The UPDATE that records an outcome setting ``columns`` (and the lease's end) on a
    row still claimed by the token: built once per set of columns, not per letter."""
    return (
        OUTBOX.update()
        .where(
            OUTBOX.c.id == sa.bindparam("row_id"),
            OUTBOX.c.claim_token == sa.bindparam("token"),
            OUTBOX.c.status == OutboxStatus.SENDING.value,
        )
        .values(
            lease_until=None,
            claim_token=None,
            recorded_at=sa.bindparam("new_recorded_at"),
            **{name: sa.bindparam(f"new_{name}") for name in columns},
        )
    )


def deliver_due(
    engine: Engine,
    transport: Transport,
    *,
    now: datetime,
    batch: int = 50,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
    backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS,
    give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Clock = system_clock,
) -> DeliveryReport:
    """Claim up to ``batch`` due letters, send them, and record each outcome.

    Args:
        engine: the database (its own transactions are opened here).
        transport: where letters go.
        now: the current time (aware): decides what is due and stamps the rows and the
            Date header.
        batch: most rows claimed in this call.
        max_attempts: attempts after which a 5xx-refused letter is ``dead``.
        backoff_base_seconds: wait after the first failure; doubles with each attempt.
        backoff_max_seconds: longest wait between attempts.
        give_up_after: age after which a temporarily failing letter is ``dead``, in
            real time since it was queued (``queued_at``, read against ``clock``).
        lease_seconds: how long a claim holds; a ``sending`` row older than that is
            taken to be orphaned by a crashed deliverer and claimed again. A batch stops
            (and releases the rest) once half of it has gone, so keep it well above a
            few times the transport's timeout: one slow letter must end inside it.
        clock: the real time (the wall clock; a test's fake): the age of a letter and
            ``recorded_at``. ``now`` may be a date in the past; this may not.

    Returns:
        What happened. Failures are recorded on the rows, not raised.

    Raises:
        ValueError: ``now`` is naive, ``max_attempts`` is below 1 or ``lease_seconds``
            not above 0.
        sqlalchemy.exc.DBAPIError: the database failed at the claim, or did not answer
            within half the lease while an outcome waited to be written (the rows not
            yet written stay claimed until the lease runs out).
    """
    deliverer = Deliverer(
        engine,
        transport,
        max_attempts=max_attempts,
        backoff_base_seconds=backoff_base_seconds,
        backoff_max_seconds=backoff_max_seconds,
        give_up_after=give_up_after,
        lease_seconds=lease_seconds,
        clock=clock,
    )
    try:
        return deliverer(now, batch=batch)
    finally:
        deliverer.close()


def deliver_pending(
    engine: Engine,
    transport: Transport,
    *,
    now: datetime,
    batch: int = 50,
    time_limit: float | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
    backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS,
    give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Clock = system_clock,
) -> DeliveryReport:
    """Deliver every due letter: `deliver_due`'s batches one after another over one
    transport session (`Deliverer`), until a batch comes back short, the transport
    fails, or ``time_limit``.

    Args:
        time_limit: start no batch after this many seconds; None: no limit. The report's
            ``more`` says the last batch was full (more letters may be due).
        Others: see `deliver_due` (``batch`` is the size of each claim).

    Returns:
        The batches' reports summed.

    Raises:
        See `deliver_due`.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    deliverer = Deliverer(
        engine,
        transport,
        max_attempts=max_attempts,
        backoff_base_seconds=backoff_base_seconds,
        backoff_max_seconds=backoff_max_seconds,
        give_up_after=give_up_after,
        lease_seconds=lease_seconds,
        clock=clock,
    )
    started = time.monotonic()
    total = DeliveryReport()
    try:
        while True:
            report = deliverer(now, batch=batch)
            total.add(report)
            if report.transport_error or report.claimed < batch:
                return total
            if time_limit is not None and time.monotonic() - started >= time_limit:
                total.more = True
                return total
    finally:
        deliverer.close()


class Deliverer:
    """`deliver_due` batch by batch over one transport session kept between the calls:
    one SMTP connection for every letter of a run (a new one only after it is lost or
    left idle `_IDLE_SESSION_SECONDS`), closed when a batch finds no letter due or the
    transport fails, and by `close`. The daemon's outbox job calls one batch after
    another.

    Args:
        engine: the database.
        transport: where letters go.
        Others: see `deliver_due`.

    Raises:
        ValueError: ``max_attempts`` is below 1 or ``lease_seconds`` not above 0.
    """

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS,
        give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not lease_seconds > 0:
            raise ValueError("lease_seconds must be above 0")
        self.engine = engine
        self._sessions = _Sessions(transport)
        self._policy = _Policy(
            max_attempts=max_attempts,
            backoff_base_seconds=backoff_base_seconds,
            backoff_max_seconds=backoff_max_seconds,
            give_up_after=give_up_after,
            lease_seconds=lease_seconds,
            clock=clock,
        )

    def __call__(self, now: datetime, *, batch: int = 50) -> DeliveryReport:
        """One batch, as `deliver_due`, through the kept session.

        Raises:
            ValueError: ``now`` is naive.
            sqlalchemy.exc.DBAPIError: see `deliver_due`.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        # One connection for the claim and every outcome of the batch, each still its
        # own transaction (a write on a lost connection takes a new one): a checkout and
        # the pool's reset per outcome cost more than the UPDATE.
        with db.holding(self.engine):
            report = _deliver_batch(self.engine, self._sessions, self._policy, now=now, batch=batch)
        if not report.claimed or report.transport_error:
            self._sessions.close()  # nothing more to send now: say QUIT
        return report

    def close(self) -> None:
        """Close the session, if one is open (never raises)."""
        self._sessions.close()


@dataclass(frozen=True, kw_only=True, slots=True)
class _Policy:
    """A run's retry policy and clock (see `deliver_due`)."""

    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    give_up_after: timedelta
    lease_seconds: float
    clock: Clock


class _Sessions:
    """The transport session a run sends through: opened when first needed, kept across
    its batches, dropped after a lost connection or when left idle too long."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._session: TransportSession | None = None
        self._used = 0.0

    def get(self) -> TransportSession:
        """The open session, or a new one.

        Raises:
            TransportUnavailable: the mail system cannot be reached or refused us.
        """
        if self._session is not None and time.monotonic() - self._used > _IDLE_SESSION_SECONDS:
            self.close()  # the server may have dropped a connection idle this long
        if self._session is None:
            self._session = self.transport.open()
        self._used = time.monotonic()
        return self._session

    def used(self) -> None:
        """The session has just been used (its idle time starts again)."""
        self._used = time.monotonic()

    def close(self) -> None:
        """Close the session, if one is open (never raises)."""
        if self._session is not None:
            self._session.close()
            self._session = None


def _deliver_batch(
    engine: Engine, sessions: _Sessions, policy: _Policy, *, now: datetime, batch: int
) -> DeliveryReport:
    """One claim's letters sent through ``sessions`` and recorded (see `deliver_due`)."""
    transport = sessions.transport
    max_attempts, lease_seconds, clock = policy.max_attempts, policy.lease_seconds, policy.clock
    backoff_base_seconds = policy.backoff_base_seconds
    backoff_max_seconds = policy.backoff_max_seconds
    give_up_after = policy.give_up_after
    report = DeliveryReport()
    token = uuid.uuid4().hex
    claimed = _claim(engine, now=now, batch=batch, lease_seconds=lease_seconds, token=token)
    claimed_at = time.monotonic()
    report.claimed = len(claimed)
    if not claimed:
        return report
    _record = _Recorder(
        engine=engine,
        token=token,
        clock=clock,
        deadline=claimed_at + lease_seconds / 2,
        pending=len(claimed),
    )

    def retry_or_die(row: _Claimed, error: DeliveryError) -> None:
        queued_at = row.queued_at or row.created_at  # rows older than revision 0004
        too_old = clock() - queued_at >= give_up_after
        exhausted = error.permanent and row.attempts >= max_attempts
        if isinstance(error, RecipientRefused) and error.permanent or exhausted or too_old:
            if too_old and not error.permanent:
                reason = (
                    f"{error.message} (повторы прекращены: письму больше {_age(give_up_after)})"
                )
            else:
                reason = error.message
            if _record(
                row,
                {"status": OutboxStatus.DEAD.value, "last_error": reason, "updated_at": now},
            ):
                report.dead += 1
                log.warning(
                    "outbox row %s dead after %d attempt(s): %s", row.id, row.attempts, reason
                )
        else:
            delay = backoff_delay(
                row.key,
                row.attempts,
                base_seconds=backoff_base_seconds,
                max_seconds=backoff_max_seconds,
            )
            if _record(
                row,
                {
                    "status": OutboxStatus.FAILED.value,
                    "last_error": error.message,
                    "next_attempt_at": now + delay,
                    "updated_at": now,
                },
            ):
                report.retrying += 1
                log.info(
                    "outbox row %s failed (attempt %d), retry in %.0f s: %s",
                    row.id,
                    row.attempts,
                    delay.total_seconds(),
                    error.message,
                )
        report.errors.append(f"{row.id}: {error.message}")

    def release(rows: Sequence[_Claimed], error: DeliveryError, *, wait: bool = True) -> None:
        # Rows never tried: back to failed, the attempt given back; after a short wait
        # when the server failed, due at once when only this batch ran out of time.
        for row in rows:
            delay = backoff_delay(
                row.key, 1, base_seconds=backoff_base_seconds, max_seconds=backoff_max_seconds
            )
            if not wait:
                delay = timedelta(0)
            if _record(
                row,
                {
                    "status": OutboxStatus.FAILED.value,
                    "attempts": max(row.attempts - 1, 0),
                    "last_error": error.message,
                    "next_attempt_at": now + delay,
                    "updated_at": now,
                },
            ):
                report.released += 1

    date_header = format_datetime(now.astimezone(UTC))
    try:
        domain = check_address(transport.mail_from, field="From").split("@")[1]
    except InvalidAddress as exc:
        report.transport_error = exc.message
        release(claimed, DeliveryError(exc.message))
        return report

    for index, row in enumerate(claimed):
        if time.monotonic() - claimed_at > lease_seconds / 2:
            # A slow server: stop well before the claim expires, or another
            # deliverer could take these rows and send them a second time.
            log.warning(
                "batch stopped after %d of %d letters: half the lease used", index, len(claimed)
            )
            release(
                claimed[index:],
                DeliveryError("не успели отправить: пакет прерван"),
                wait=False,
            )
            break
        try:
            session = sessions.get()
        except TransportUnavailable as exc:
            report.transport_error = exc.message
            log.error("transport unavailable: %s", exc)
            retry_or_die(row, exc)
            release(claimed[index + 1 :], exc)
            return report
        data = (
            envelope_headers(
                mail_from=transport.mail_from,
                key=row.key,
                date_header=date_header,
                # From's display name: the configured one, else the letter's own.
                sender_name=getattr(transport, "sender_name", ""),
                letter=row.message,
            )
            + row.message
        )
        mid = message_id(row.key, domain)
        try:
            result = session.send(
                mail_from=transport.mail_from,
                recipients=row.envelope,
                message=data,
                message_id=mid,
            )
        except DeliveryError as exc:
            if exc.connection_lost:
                sessions.close()
            retry_or_die(row, exc)
            continue
        accepted = time.monotonic()
        sessions.used()
        note = None
        if result.refused:
            note = "отклонены получатели копии: " + "; ".join(
                f"{addr} ({reply})" for addr, reply in result.refused.items()
            )
        if _record(
            row,
            {
                "status": OutboxStatus.SENT.value,
                "sent_at": now,
                "message_id": mid,
                "last_error": note,
                "updated_at": now,
            },
        ):
            report.sent += 1
            log.debug("outbox row %s sent as %s", row.id, mid)
        window = time.monotonic() - accepted
        if window > SLOW_RECORD_SECONDS:
            log.warning(
                "outbox row %s: sent record written %.1f s after the server's 250 "
                "(a crash in that time sends the letter twice)",
                row.id,
                window,
            )
    return report
