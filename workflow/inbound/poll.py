"""Reading the IMAP mailbox: each message recorded once, then moved to the processed folder.

One poll: connect (TLS with certificate verification), log in, select the folder, list
its UIDs and sizes. A UID already recorded at this UIDVALIDITY (a crash came between the
commit and the move) is only moved. Every other message is fetched (without marking it
read; only its header when it is over the size limit), recorded in a transaction of its
own (`workflow.inbound.record.record_message`), and moved **after** that transaction
commits: with MOVE where the server has it, else COPY, ``\\Deleted`` and EXPUNGE of that
UID. A crash at any point leaves every message either in the folder or recorded (and
then the next poll's re-read is a no-op by its keys), never lost and never doubled.

Faults (the server down, slow, refusing the login or the certificate, dropping the
connection) end the poll with a `MailboxUnavailable` whose message is Russian; what was
recorded before stays recorded, the rest waits for the next poll.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import imapclient
import sqlalchemy as sa
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy.engine import Engine

from base import db
from base.clock import system_clock
from base.errors import TochkaError
from workflow.config import Settings
from workflow.inbound.record import Outcome, Source, already_recorded, record_message
from workflow.storage.inbound import INBOUND

__all__ = ["MailboxUnavailable", "PollReport", "poll_mailbox"]

log = logging.getLogger("tochka.inbound")
_FETCH_CHUNK = 200


class MailboxUnavailable(TochkaError):
    """The mailbox could not be read (now); the reason is Russian, the poll is retried."""


@dataclass
class PollReport:
    """What one poll did."""

    seen: int = 0
    recorded: int = 0
    duplicates: int = 0
    moved: int = 0
    states: Counter[str] = field(default_factory=Counter)

    def words(self) -> str:
        """«прочитано 3, записано 2, повторов 1, перемещено 3» for the daemon's log."""
        return (
            f"писем в папке {self.seen}, записано {self.recorded}, повторов {self.duplicates}, "
            f"перемещено {self.moved}"
        )


def _where(settings: Settings) -> str:
    return f"{settings.imap_host}:{_port(settings)}"


def _port(settings: Settings) -> int:
    if settings.imap_port is not None:
        return settings.imap_port
    return 993 if settings.imap_tls == "ssl" else 143


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=settings.imap_ca_file or None)
    except (OSError, ssl.SSLError):
        raise MailboxUnavailable(
            f"файл сертификатов TOCHKA_IMAP_CA_FILE «{settings.imap_ca_file}» не прочитан: "
            "нужен файл PEM с сертификатом удостоверяющего центра"
        ) from None


def _fault(exc: BaseException, settings: Settings) -> MailboxUnavailable:
    """The Russian reason of a failed poll (never the library's words)."""
    where = f"почтовый сервер {_where(settings)}"
    if isinstance(exc, MailboxUnavailable):
        return exc
    if isinstance(exc, LoginError):
        return MailboxUnavailable(
            f"{where} отказал во входе пользователю «{settings.imap_user}»: проверьте "
            "TOCHKA_IMAP_USER и TOCHKA_IMAP_PASSWORD"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailboxUnavailable(
            f"сертификат сервера {_where(settings)} не прошёл проверку: он не подписан "
            "доверенным центром или выдан другому имени; укажите сертификат центра в "
            "TOCHKA_IMAP_CA_FILE"
        )
    if isinstance(exc, ssl.SSLError):
        return MailboxUnavailable(
            f"{where}: не удалось установить защищённое соединение (проверьте "
            "TOCHKA_IMAP_TLS и TOCHKA_IMAP_PORT)"
        )
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return MailboxUnavailable(
            f"{where} не ответил за {settings.imap_timeout:g} с (TOCHKA_IMAP_TIMEOUT)"
        )
    if isinstance(exc, ConnectionRefusedError):
        return MailboxUnavailable(f"{where} не отвечает: соединение отклонено")
    if isinstance(exc, socket.gaierror):
        return MailboxUnavailable(f"адрес почтового сервера «{settings.imap_host}» не найден")
    if isinstance(exc, (imaplib.IMAP4.abort, ConnectionError, EOFError)):
        return MailboxUnavailable(
            f"{where} прервал соединение; записанные письма сохранены, остальные будут "
            "прочитаны при следующей проверке"
        )
    if isinstance(exc, OSError):
        return MailboxUnavailable(f"{where} недоступен (ошибка сети {exc.errno or ''})".strip())
    return MailboxUnavailable(
        f"{where} ответил ошибкой; письма будут прочитаны при следующей проверке"
    )


@contextmanager
def _session(settings: Settings) -> Iterator[Any]:
    if not settings.imap_user:
        raise MailboxUnavailable("не указан пользователь почтового ящика (TOCHKA_IMAP_USER)")
    context = _ssl_context(settings) if settings.imap_tls != "none" else None
    client = imapclient.IMAPClient(
        settings.imap_host,
        port=_port(settings),
        ssl=settings.imap_tls == "ssl",
        ssl_context=context,
        timeout=settings.imap_timeout,
    )
    try:
        if settings.imap_tls == "starttls":
            client.starttls(context)
        client.login(settings.imap_user, settings.imap_password)
        yield client
    finally:
        _close(client)


def _close(client: Any) -> None:
    """Log out, or at least close the socket (a dropped connection cannot log out)."""
    try:
        client.logout()
        return
    except (IMAPClientError, OSError, imaplib.IMAP4.error, EOFError):
        pass
    try:
        client.shutdown()
    except (IMAPClientError, OSError, imaplib.IMAP4.error, EOFError):
        sock = getattr(getattr(client, "_imap", None), "sock", None)
        if sock is not None:
            sock.close()


def poll_mailbox(
    engine: Engine, settings: Settings, *, received_at: datetime | None = None
) -> PollReport:
    """Read the configured folder once (see the module's description).

    Raises:
        MailboxUnavailable: the server could not be reached, refused the login or the
            certificate, or dropped the connection; the Russian reason says which.
    """
    report = PollReport()
    try:
        with _session(settings) as client:
            _poll(client, engine, settings, report, received_at)
    except MailboxUnavailable:
        raise
    except (IMAPClientError, imaplib.IMAP4.error, OSError, EOFError) as exc:
        log.debug("IMAP poll failed", exc_info=True)
        raise _fault(exc, settings) from None
    return report


def _poll(
    client: Any,
    engine: Engine,
    settings: Settings,
    report: PollReport,
    received_at: datetime | None,
) -> None:
    folder, processed = settings.imap_folder, settings.imap_processed_folder
    if not client.folder_exists(folder):
        raise MailboxUnavailable(f"в почтовом ящике нет папки «{folder}» (TOCHKA_IMAP_FOLDER)")
    if not client.folder_exists(processed):
        client.create_folder(processed)
    selected = client.select_folder(folder)
    uidvalidity = int(selected[b"UIDVALIDITY"])
    # Every message in the folder when it was selected has a UID below UIDNEXT.
    uidnext = int(selected.get(b"UIDNEXT", 0)) or None
    uids = sorted(int(u) for u in client.search(["NOT", "DELETED"]))
    report.seen = len(uids)
    base = Source(
        mailbox=f"imap:{folder}",
        description=f"imap://{settings.imap_user}@{_where(settings)}/{folder}",
        uidvalidity=uidvalidity,
    )
    if not uids:
        _mark_gone(engine, base, set(), uidnext)
        return
    with db.read(engine) as conn:
        done = already_recorded(conn, base, uids)
    for uid in sorted(done):
        _move(client, uid, processed)
        report.moved += 1
        report.duplicates += 1
    _mark_gone(engine, base, set(uids) - done, uidnext)
    rest = [u for u in uids if u not in done]
    max_bytes = int(settings.inbound_max_mb * 1024 * 1024)
    for start in range(0, len(rest), _FETCH_CHUNK):
        chunk = rest[start : start + _FETCH_CHUNK]
        sizes = {
            int(u): int(v[b"RFC822.SIZE"]) for u, v in client.fetch(chunk, ["RFC822.SIZE"]).items()
        }
        for uid in chunk:
            size = sizes.get(uid)
            if size is None:  # expunged by someone else meanwhile
                continue
            part = b"BODY.PEEK[HEADER]" if size > max_bytes else b"BODY.PEEK[]"
            fetched = client.fetch([uid], [part]).get(uid, {})
            data = fetched.get(b"BODY[HEADER]" if size > max_bytes else b"BODY[]")
            if not isinstance(data, bytes):
                continue
            source = Source(
                mailbox=base.mailbox,
                description=f"{base.description};UID={uid}",
                uidvalidity=uidvalidity,
                uid=uid,
            )
            outcome = _record(engine, data, source, size, max_bytes, received_at)
            if outcome.duplicate:
                report.duplicates += 1
            else:
                report.recorded += 1
                report.states[outcome.state.value if outcome.state else "?"] += 1
                log.info(
                    "inbound message UID %s recorded as %s%s",
                    uid,
                    outcome.state.value if outcome.state else "?",
                    f": {outcome.reason}" if outcome.reason else "",
                )
            # Only now, the transaction committed: a crash before this line leaves the
            # message in the folder, and the next poll's re-read finds its key.
            _move(client, uid, processed)
            report.moved += 1
            if outcome.id is not None and not outcome.duplicate:
                with db.write(engine) as conn:
                    conn.execute(
                        INBOUND.update()
                        .where(INBOUND.c.id == outcome.id)
                        .values(moved_at=system_clock())
                    )


def _mark_gone(engine: Engine, base: Source, in_folder: set[int], uidnext: int | None) -> None:
    """Mark moved the recorded messages of this folder that are no longer in it.

    A crash after the move and before its mark (or the move of a message recorded by an
    earlier, interrupted poll) leaves ``moved_at`` empty while the message is already in
    the processed folder; ``in_folder`` is the folder's listing minus what this poll
    moves as already recorded, so whatever is not in it and was there when the folder
    was selected (a UID below ``uidnext``: not one another poller records meanwhile) has
    left the folder.
    """
    if uidnext is None:
        return
    with db.read(engine) as conn:
        pending = conn.execute(
            sa.select(INBOUND.c.id, INBOUND.c.uid).where(
                INBOUND.c.mailbox == base.mailbox,
                INBOUND.c.uidvalidity == base.uidvalidity,
                INBOUND.c.uid.is_not(None),
                INBOUND.c.moved_at.is_(None),
            )
        ).all()
    gone = [row.id for row in pending if row.uid < uidnext and row.uid not in in_folder]
    if not gone:
        return
    with db.write(engine) as conn:
        for start in range(0, len(gone), 500):
            conn.execute(
                INBOUND.update()
                .where(INBOUND.c.id.in_(gone[start : start + 500]))
                .values(moved_at=system_clock())
            )


def _record(
    engine: Engine,
    data: bytes,
    source: Source,
    size: int,
    max_bytes: int,
    received_at: datetime | None,
) -> Outcome:
    try:
        with db.write(engine) as conn:
            return record_message(
                conn, data, source=source, size=size, max_bytes=max_bytes, received_at=received_at
            )
    except sa.exc.IntegrityError:
        # Another poller recorded it between our check and our insert: it is recorded.
        return Outcome(id=None, state=None, reason=None, duplicate=True)


def _move(client: Any, uid: int, folder: str) -> None:
    if client.has_capability("MOVE"):
        client.move([uid], folder)
        return
    client.copy([uid], folder)
    client.add_flags([uid], [imapclient.DELETED])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge([uid])
    else:
        client.expunge()
