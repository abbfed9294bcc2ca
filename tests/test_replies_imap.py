"""Replies read from a real IMAP server (Dovecot, `tests.dovecot`): recorded once, matched
to the letter they answer, moved to the processed folder only after the commit; the
server down, refusing the login or the certificate, or dropping the connection."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX
from tests.dovecot import Account, Dovecot, dovecot, imap, own_dovecot  # noqa: F401
from tests.replies_mail import PDF, reply, sent_letter
from workflow.config import Settings
from workflow.inbound import poll as poll_module
from workflow.inbound.poll import MailboxUnavailable, poll_mailbox
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND

Cli = Callable[..., Result]
PROCESSED = "Tochka-Processed"


def _rows(engine: Engine) -> list[Any]:
    with db.read(engine) as conn:
        return conn.execute(sa.select(INBOUND).order_by(INBOUND.c.id)).all()


def test_a_reply_is_matched_recorded_once_and_moved_after_the_commit(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    imap: Account,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    letter = sent_letter(cli, tmp_path, monkeypatch)
    answer = reply(letter)
    imap.append(answer)
    settings = Settings(**imap.settings())

    report = poll_mailbox(engine, settings)

    assert (report.seen, report.recorded, report.moved) == (1, 1, 1)
    (row,) = _rows(engine)
    with db.read(engine) as conn:
        sent_id = conn.execute(sa.select(OUTBOX.c.id)).scalar_one()
    assert (row.state, row.outbox_id, row.matched_by, row.submission) == (
        "matched",
        sent_id,
        "in-reply-to",
        "pending",
    )
    assert row.from_addr == "s1@example.org"
    assert row.mailbox == "imap:INBOX"
    assert row.uid == 1
    assert row.uidvalidity > 0
    assert row.moved_at is not None
    # The reply's own text, without the quoted letter; the PDF named with size and hash.
    assert row.text == "Добрый день! Приказ во вложении."
    import hashlib

    assert row.attachments == [
        {
            "name": "Приказ №5.pdf",
            "type": "application/pdf",
            "size": len(PDF),
            "sha256": hashlib.sha256(PDF).hexdigest(),
        }
    ]
    assert imap.folder("INBOX") == []
    assert imap.folder(PROCESSED) == [answer.replace(b"\n", b"\r\n").replace(b"\r\r", b"\r")]

    # A second poll has nothing to read; the same message delivered again is a no-op.
    assert poll_mailbox(engine, settings).seen == 0
    imap.append(answer)
    again = poll_mailbox(engine, settings)
    assert (again.recorded, again.duplicates, again.moved) == (0, 1, 1)
    assert len(_rows(engine)) == 1
    assert imap.folder("INBOX") == []
    assert len(imap.folder(PROCESSED)) == 2


def test_a_crash_between_the_commit_and_the_move_does_not_double_the_message(
    engine: Engine,
    imap: Account,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = [
        f"From: x{i}@example.org\r\nSubject: m{i}\r\nMessage-ID: <m{i}@example.org>\r\n\r\n"
        f"text {i}\r\n".encode()
        for i in range(3)
    ]
    imap.append(*messages)
    settings = Settings(**imap.settings())

    def killed(*_args: object) -> None:
        raise KeyboardInterrupt  # the process dies right after the first commit

    monkeypatch.setattr(poll_module, "_move", killed)
    with pytest.raises(KeyboardInterrupt):
        poll_mailbox(engine, settings)
    assert [r.subject for r in _rows(engine)] == ["m0"]
    assert len(imap.folder("INBOX")) == 3  # nothing moved
    monkeypatch.undo()

    report = poll_mailbox(engine, settings)

    assert (report.seen, report.recorded, report.duplicates, report.moved) == (3, 2, 1, 3)
    assert [r.subject for r in _rows(engine)] == ["m0", "m1", "m2"]
    assert imap.folder("INBOX") == []
    assert len(imap.folder(PROCESSED)) == 3


def test_without_move_the_message_is_copied_deleted_and_expunged(
    engine: Engine,
    imap: Account,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    imap.append(b"From: a@example.org\r\nSubject: s\r\nMessage-ID: <c1@example.org>\r\n\r\nx\r\n")
    real = poll_module.imapclient.IMAPClient.has_capability
    monkeypatch.setattr(
        poll_module.imapclient.IMAPClient,
        "has_capability",
        lambda self, name: name != "MOVE" and real(self, name),
    )
    report = poll_mailbox(engine, Settings(**imap.settings()))
    assert report.moved == 1
    assert imap.folder("INBOX") == []
    assert len(imap.folder(PROCESSED)) == 1


def test_starttls_and_a_folder_of_its_own(
    engine: Engine,
    imap: Account,  # noqa: F811
) -> None:
    client = imap.client()
    client.create_folder("Ответы")
    client.logout()
    imap.append(
        b"From: a@example.org\r\nMessage-ID: <t1@example.org>\r\n\r\nx\r\n", folder="Ответы"
    )
    settings = Settings(
        **imap.settings(
            imap_tls="starttls",
            imap_port=imap.server.plain_port,
            imap_folder="Ответы",
            imap_processed_folder="Ответы/Обработано",
        )
    )
    assert poll_mailbox(engine, settings).recorded == 1
    assert len(imap.folder("Ответы/Обработано")) == 1
    assert _rows(engine)[0].mailbox == "imap:Ответы"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"imap_password": "wrong"}, "отказал во входе пользователю"),
        ({"imap_ca_file": ""}, "сертификат сервера 127.0.0.1"),
        ({"imap_ca_file": "/nonexistent/ca.pem"}, "TOCHKA_IMAP_CA_FILE «/nonexistent/ca.pem»"),
        ({"imap_folder": "Нет такой"}, "нет папки «Нет такой»"),
        ({"imap_tls": "ssl", "imap_port": -1}, "отклонено"),
        ({"imap_user": ""}, "TOCHKA_IMAP_USER"),
    ],
)
def test_a_mailbox_that_cannot_be_read_is_refused_in_russian(
    engine: Engine,
    imap: Account,  # noqa: F811
    overrides: dict[str, Any],
    reason: str,
) -> None:
    server: Dovecot | None = None
    if "imap_password" in overrides:
        # A failed login makes Dovecot slow down later logins from the address for a
        # while: not on the session's server.
        server = Dovecot()
        server.start()
        imap = server.account()
    imap.append(b"From: a@example.org\r\nMessage-ID: <r1@example.org>\r\n\r\nx\r\n")
    if overrides.get("imap_port") == -1:  # nothing listens there
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            overrides = {**overrides, "imap_port": sock.getsockname()[1]}
    try:
        with pytest.raises(MailboxUnavailable) as refused:
            poll_mailbox(engine, Settings(**imap.settings(**overrides)))
        if server is None:  # (a login after a failed one waits out Dovecot's penalty)
            assert len(imap.folder("INBOX")) == 1
    finally:
        if server is not None:
            server.remove()
    assert reason in refused.value.message
    assert "Traceback" not in refused.value.message
    assert "Error" not in refused.value.message
    assert _rows(engine) == []


def test_the_server_stopped_mid_poll_keeps_what_was_recorded_and_the_rest_comes_next(
    engine: Engine,
    own_dovecot: Dovecot,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = own_dovecot.account()
    account.append(
        *(
            f"From: a@example.org\r\nSubject: d{i}\r\nMessage-ID: <d{i}@example.org>\r\n\r\n"
            f"x\r\n".encode()
            for i in range(3)
        )
    )
    settings = Settings(**account.settings())
    real_record = poll_module._record

    def record_then_stop(*args: Any) -> Any:
        outcome = real_record(*args)
        own_dovecot.kick(account.user)  # the server hangs up after the first commit
        return outcome

    monkeypatch.setattr(poll_module, "_record", record_then_stop)
    with pytest.raises(MailboxUnavailable) as dropped:
        poll_mailbox(engine, settings)
    assert "прервал соединение" in dropped.value.message
    assert [r.subject for r in _rows(engine)] == ["d0"]
    monkeypatch.undo()

    own_dovecot.stop()
    with pytest.raises(MailboxUnavailable) as down:
        poll_mailbox(engine, settings)
    assert "не отвечает: соединение отклонено" in down.value.message

    own_dovecot.start()
    report = poll_mailbox(engine, settings)
    assert [r.subject for r in _rows(engine)] == ["d0", "d1", "d2"]
    assert (report.recorded, report.duplicates) == (2, 1)
    assert account.folder("INBOX") == []
    assert len(account.folder(PROCESSED)) == 3


def test_the_daemon_logs_a_failed_poll_in_russian_and_polls_again(
    engine: Engine,
    own_dovecot: Dovecot,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    import scheduler
    from workflow.schedule.reminders import ReminderQueue

    account = own_dovecot.account()
    settings = Settings(**account.settings())
    daemon = scheduler.Daemon(
        engine=engine,
        queue=ReminderQueue.__new__(ReminderQueue),  # the tick is not run here
        poll_mail=lambda: poll_mailbox(engine, settings),
    )
    own_dovecot.stop()
    with caplog.at_level(logging.INFO, logger="tochka.daemon"):
        daemon.poll_mail_once()  # never raises
        account.server.start()
        account.append(b"From: a@example.org\r\nMessage-ID: <q1@example.org>\r\n\r\nx\r\n")
        daemon.poll_mail_once()
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "Почта не прочитана: почтовый сервер 127.0.0.1" in m and "соединение отклонено" in m
        for m in messages
    ), messages
    assert any("записано 1" in m for m in messages), messages
    assert len(_rows(engine)) == 1
