"""Delivery against aiosmtpd on loopback: letters parsed back, retries, dead letters,
lost connections, TLS verification, logins, and the file and console transports.

Over 500 lines: one file per subject, so that every refusal of that subject and its
exact Russian message are found in one place.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import socket
import ssl
import time
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications.deliver import backoff_delay, deliver_due
from notifications.errors import TransportUnavailable
from notifications.headers import message_id
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER
from notifications.queue import queue_notice, queue_reminders
from notifications.reference import reference_token
from notifications.render import Renderer
from notifications.transport import (
    ConsoleTransport,
    FileTransport,
    SmtpSettings,
    SmtpTransport,
    TlsMode,
)
from notifications.values import Notice, Recipient, Reminder, Rung
from tests.subjects import line_of

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
TODAY = date(2022, 8, 22)
SENDER = "roadmap@edu.example.org"
DROP = "drop"  # the conftest handler's "close the connection" answer
COORDINATOR = Recipient(email="coordinator@edu.example.org", name="Департамент образования")


def smtp(server: Any, **overrides: Any) -> SmtpTransport:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "tls": TlsMode.NONE,
        "mail_from": SENDER,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpTransport(SmtpSettings(**values))


def rows(engine: Engine) -> list[Any]:
    with db.read(engine) as conn:
        return list(
            conn.execute(
                sa.select(OUTBOX, OUTBOX_LETTER.c.message)
                .select_from(OUTBOX_WITH_LETTER)
                .order_by(OUTBOX.c.id)
            )
        )


def queue(engine: Engine, renderer: Renderer, items: list[Reminder | Notice]) -> None:
    with db.write(engine) as conn:
        for item in items:
            if isinstance(item, Notice):
                queue_notice(conn, item, now=NOW, renderer=renderer)
        reminders = [i for i in items if isinstance(i, Reminder)]
        queue_reminders(conn, reminders, now=NOW, renderer=renderer)


def parts(message: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in message.walk():
        if not part.is_multipart():
            found[part.get_content_type()] = part
    return found


def test_reminder_arrives_parsed_back(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_reminder: Callable[..., Reminder]
) -> None:
    reminder = make_reminder(
        key="overdue-7", rung=Rung.OVERDUE, days=7, deadline=date(2022, 8, 15), cc=(COORDINATOR,)
    )
    queue(engine, renderer, [reminder])
    report = deliver_due(engine, smtp(smtp_server), now=NOW, max_attempts=3)
    assert (report.claimed, report.sent, report.retrying, report.dead) == (1, 1, 0, 0)

    (got,) = smtp_server.handler.snapshot()
    assert got.mail_from == SENDER
    assert got.rcpt_tos == ["school1@example.org", "coordinator@edu.example.org"]
    msg = got.message
    assert [a.addr_spec for a in msg["To"].addresses] == ["school1@example.org"]
    assert msg["To"].addresses[0].display_name == "МБОУ «СОШ № 1»"
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["coordinator@edu.example.org"]
    assert str(msg["Reply-To"]) == "coordinator@edu.example.org"
    assert str(msg["From"]) == SENDER
    # The date goes to keep the token's room (the subject's 90 characters include it).
    expected_subject = "Просрочено на 7 дней: Обучение педагогов… — МБОУ «Средняя школа № 1»"
    assert line_of(str(msg["Subject"])) == expected_subject
    # Every header is 7-bit: the Russian subject travels as RFC 2047 encoded words and
    # decodes back to exactly the text we rendered.
    head = got.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = re.sub(r"\r\n(?=[ \t])", "", head)
    raw_subject = next(
        v for k, _, v in (h.partition(": ") for h in unfolded.split("\r\n")) if k == "Subject"
    )
    assert raw_subject.startswith("=?utf-8?")
    key = rows(engine)[0].key
    assert str(make_header(decode_header(raw_subject))) == (
        f"{expected_subject} {reference_token(key)}"
    )
    assert str(msg["Message-ID"]) == message_id(key, "edu.example.org")
    assert msg["Auto-Submitted"] == "auto-generated"

    found = parts(msg)
    text = found["text/plain"].get_content()
    html = found["text/html"].get_content()
    assert "просрочено на 7 дней" in text
    assert "15 августа 2022 г." in text
    assert "Копия письма направлена: Департамент образования" in text
    assert '<strong style="color:#b00">просрочено на 7 дней</strong>' in html
    calendar = icalendar.Calendar.from_ical(found["text/calendar"].get_content())
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == date(2022, 8, 15)
    assert event.decoded("dtend") == date(2022, 8, 16)
    # The event's title: the measure and its period, then its name (notifications.ics).
    assert str(event["summary"]) == (
        "№ 6, 2022 г.: Обучение педагогов по программам федерального оператора"
    )
    assert found["text/calendar"].get_filename() == "sroki.ics"

    (row,) = rows(engine)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW)
    assert row.message_id == str(msg["Message-ID"])


def test_digest_arrives_as_one_letter(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_reminder: Callable[..., Reminder]
) -> None:
    queue(
        engine,
        renderer,
        [
            make_reminder(key="a", deadline=date(2022, 8, 25), title="Обучение педагогов"),
            make_reminder(
                key="b",
                measure_number=7,
                rung=Rung.OVERDUE,
                days=1,
                deadline=date(2022, 8, 21),
                title="Проверка площадок",
                cc=(COORDINATOR,),
            ),
            make_reminder(
                key="c",
                measure_number=8,
                rung=Rung.ON_DAY,
                days=0,
                deadline=TODAY,
                title="Закупки",
            ),
            make_reminder(
                key="d",
                measure_number=9,
                deadline=date(2022, 8, 25),
                title="Брендбук",
                center_code="IV-002",
            ),
        ],
    )
    assert deliver_due(engine, smtp(smtp_server), now=NOW, max_attempts=3).sent == 1
    (got,) = smtp_server.handler.snapshot()
    msg = got.message
    assert got.rcpt_tos == ["school1@example.org", "coordinator@edu.example.org"]
    assert line_of(str(msg["Subject"])) == (
        "Сроки на 22.08.2022: 4 напоминания, просрочено 1 — МБОУ «Средняя школа № 1»"
    )
    found = parts(msg)
    text = found["text/plain"].get_content()
    order = [text.index(t) for t in ("Проверка площадок", "Закупки", "Обучение педагогов")]
    assert order == sorted(order)
    assert "== 21 августа 2022 г. — просрочено на 1 день ==" in text
    assert "== 25 августа 2022 г. — через 3 дня ==" in text
    assert "<h3" in found["text/html"].get_content()
    events = icalendar.Calendar.from_ical(found["text/calendar"].get_content()).walk("VEVENT")
    # One event per deadline (a UID per measure and period), in the order of urgency,
    # each titled with the measure, its period and its name.
    assert [(e.decoded("dtstart"), str(e["summary"])) for e in events] == [
        (date(2022, 8, 21), "№ 7, 2022 г.: Проверка площадок"),
        (TODAY, "№ 8, 2022 г.: Закупки"),
        (date(2022, 8, 25), "№ 6, 2022 г.: Обучение педагогов"),
        (date(2022, 8, 25), "№ 9, 2022 г.: Брендбук"),
    ]
    assert len({str(e["uid"]) for e in events}) == 4


def test_4xx_is_retried_with_backoff(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    answers = iter(["451 4.3.0 Try again later", None])
    smtp_server.handler.on_data = lambda envelope: next(answers)
    queue(engine, renderer, [make_notice()])
    transport = smtp(smtp_server)
    kwargs: dict[str, Any] = {"max_attempts": 2, "backoff_base_seconds": 60.0}

    first = deliver_due(engine, transport, now=NOW, **kwargs)
    assert (first.sent, first.retrying, first.errors) == (
        0,
        1,
        [f"{rows(engine)[0].id}: Письмо не отправлено: SMTP 451: 4.3.0 Try again later"],
    )
    (row,) = rows(engine)
    delay = backoff_delay(row.key, 1, base_seconds=60.0, max_seconds=21600.0)
    assert timedelta(seconds=54) <= delay <= timedelta(seconds=66)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, NOW + delay)
    assert deliver_due(engine, transport, now=NOW + timedelta(seconds=30), **kwargs).claimed == 0
    done = deliver_due(engine, transport, now=NOW + delay, **kwargs)
    assert done.sent == 1
    (row,) = rows(engine)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(smtp_server.handler.snapshot()) == 1


def test_backoff_doubles_and_is_capped() -> None:
    delays = [
        backoff_delay("k", n, base_seconds=10, max_seconds=100).total_seconds()
        for n in (1, 2, 3, 9)
    ]
    assert 9 <= delays[0] <= 11
    assert 18 <= delays[1] <= 22
    assert 36 <= delays[2] <= 44
    assert 90 <= delays[3] <= 110


def test_5xx_is_dead_after_max_attempts(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    smtp_server.handler.on_data = lambda envelope: "554 5.6.0 Message content rejected"
    queue(engine, renderer, [make_notice()])
    transport = smtp(smtp_server)
    now = NOW
    statuses = []
    for _ in range(4):
        deliver_due(engine, transport, now=now, max_attempts=3, backoff_base_seconds=1.0)
        statuses.append((rows(engine)[0].status, rows(engine)[0].attempts))
        now += timedelta(hours=1)
    assert statuses == [("failed", 1), ("failed", 2), ("dead", 3), ("dead", 3)]
    assert (
        rows(engine)[0].last_error
        == "Письмо не отправлено: SMTP 554: 5.6.0 Message content rejected"
    )
    assert len(smtp_server.handler.refused) == 3


def test_refused_recipient_is_dead_at_once_and_others_go_on(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    smtp_server.handler.on_rcpt = lambda address: (
        "550 5.1.1 Mailbox does not exist" if address.startswith("nobody@") else None
    )
    queue(
        engine,
        renderer,
        [
            make_notice(key="n1", cc=()),
            make_notice(key="n2", cc=(), recipient=Recipient(email="nobody@example.org")),
            make_notice(key="n3", cc=(), recipient=Recipient(email="school3@example.org")),
        ],
    )
    report = deliver_due(engine, smtp(smtp_server), now=NOW, max_attempts=5)
    assert (report.sent, report.dead, report.retrying) == (2, 1, 0)
    states = {r.recipient: (r.status, r.attempts) for r in rows(engine)}
    assert states == {
        "school1@example.org": ("sent", 1),
        "nobody@example.org": ("dead", 1),
        "school3@example.org": ("sent", 1),
    }
    dead = next(r for r in rows(engine) if r.status == "dead")
    assert "550" in dead.last_error
    assert "nobody@example.org" in dead.last_error
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.snapshot()) == [
        "school1@example.org",
        "school3@example.org",
    ]


@pytest.mark.parametrize(
    ("reply", "status", "retried"),
    [("550 5.1.1 Mailbox does not exist", "dead", False), ("450 4.2.1 Try later", "failed", True)],
)
def test_a_refused_main_recipient_is_not_sent_even_when_its_copy_is_accepted(
    engine: Engine,
    renderer: Renderer,
    smtp_server: Any,
    make_notice: Callable[..., Notice],
    reply: str,
    status: str,
    retried: bool,
) -> None:
    """Escalated letters copy the coordinator: a refused school must not turn into a
    letter 'sent' to the coordinator alone."""
    smtp_server.handler.on_rcpt = lambda address: reply if address.startswith("school1@") else None
    queue(engine, renderer, [make_notice()])  # to school1@, copy to the coordinator
    report = deliver_due(engine, smtp(smtp_server), now=NOW, max_attempts=5)
    assert (report.sent, report.dead, report.retrying) == (0, int(not retried), int(retried))
    (row,) = rows(engine)
    assert (row.status, row.attempts) == (status, 1)
    assert reply.split()[0] in row.last_error
    assert "school1@example.org" in row.last_error
    assert smtp_server.handler.snapshot() == []  # nobody got it, not even the copy
    if retried:
        smtp_server.handler.on_rcpt = lambda address: None
        later = deliver_due(engine, smtp(smtp_server), now=NOW + timedelta(days=1))
        assert later.sent == 1
        (got,) = smtp_server.handler.snapshot()
        assert sorted(got.rcpt_tos) == ["coordinator@edu.example.org", "school1@example.org"]


def test_refused_copy_does_not_stop_the_letter(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    smtp_server.handler.on_rcpt = lambda address: (
        "550 5.1.1 No such user" if address.startswith("coordinator@") else None
    )
    queue(engine, renderer, [make_notice()])
    assert deliver_due(engine, smtp(smtp_server), now=NOW, max_attempts=5).sent == 1
    (row,) = rows(engine)
    assert row.status == "sent"
    assert "coordinator@edu.example.org" in row.last_error


def test_dropped_connection_is_retried_and_the_batch_goes_on(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    answers = iter([DROP, None, None])
    smtp_server.handler.on_data = lambda envelope: next(answers)
    queue(engine, renderer, [make_notice(key="n1"), make_notice(key="n2")])
    report = deliver_due(engine, smtp(smtp_server), now=NOW, max_attempts=5, backoff_base_seconds=1)
    assert (report.sent, report.retrying) == (1, 1)
    first, second = rows(engine)
    assert first.status == "failed"
    assert "соединение потеряно" in first.last_error
    assert second.status == "sent"
    assert (
        deliver_due(engine, smtp(smtp_server), now=NOW + timedelta(seconds=2), max_attempts=5).sent
        == 1
    )
    assert smtp_server.handler.drops == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_down_fails_the_batch_without_using_up_attempts(
    engine: Engine, renderer: Renderer, make_notice: Callable[..., Notice]
) -> None:
    queue(engine, renderer, [make_notice(key="n1"), make_notice(key="n2"), make_notice(key="n3")])
    server = type("Down", (), {"host": "127.0.0.1", "port": _closed_port()})
    report = deliver_due(engine, smtp(server), now=NOW, max_attempts=5, backoff_base_seconds=60)
    assert report.transport_error is not None
    assert "нет соединения" in report.transport_error
    assert (report.claimed, report.sent, report.retrying, report.released) == (3, 0, 1, 2)
    assert [(r.status, r.attempts) for r in rows(engine)] == [
        ("failed", 1),
        ("failed", 0),
        ("failed", 0),
    ]
    assert all(r.next_attempt_at > NOW for r in rows(engine))


def test_slow_server_times_out_and_is_retried(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    calls: list[int] = []

    def slow_once(envelope: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.5)  # blocks the server's loop: the client sees silence
        return None

    smtp_server.handler.on_data = slow_once
    queue(engine, renderer, [make_notice()])
    report = deliver_due(engine, smtp(smtp_server, timeout=0.5), now=NOW, max_attempts=3)
    assert report.retrying == 1
    (row,) = rows(engine)
    assert row.status == "failed"
    # A timeout is a temporary failure, said in Russian (not Python's "timed out").
    assert row.last_error == (
        "Письмо не отправлено: соединение потеряно: сервер не ответил за 0.5 с "
        "(время ожидания истекло)"
    )
    time.sleep(1.2)  # let the server finish the slow answer
    later = NOW + timedelta(hours=1)
    assert deliver_due(engine, smtp(smtp_server, timeout=5), now=later, max_attempts=3).sent == 1
    # The timed-out attempt reached the server after all: a duplicate, same Message-ID.
    ids = [r.message_id for r in smtp_server.handler.snapshot()]
    assert len(set(ids)) == 1
    assert len(ids) in (1, 2)


def test_a_server_that_never_greets_times_out_in_russian(
    engine: Engine, renderer: Renderer, make_notice: Callable[..., Notice]
) -> None:
    """A server that accepts the connection and says nothing (a hung relay, a firewall
    that swallows packets): the transport gives up after the configured timeout, the
    letter stays queued for a retry, and the reason is Russian."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        host, port = listener.getsockname()
        queue(engine, renderer, [make_notice()])
        started = time.monotonic()
        report = deliver_due(
            engine, smtp(type("S", (), {"host": host, "port": port})(), timeout=0.5), now=NOW
        )
        took = time.monotonic() - started
    assert 0.4 < took < 3, took
    assert (report.claimed, report.retrying, report.dead, report.sent) == (1, 1, 0, 0)
    assert report.transport_error == (
        f"Письмо не отправлено: нет соединения с {host}:{port}: сервер не ответил за 0.5 с "
        "(время ожидания истекло)"
    )
    (row,) = rows(engine)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "timed out" not in row.last_error
    assert "Error" not in row.last_error


def test_login_refused_keeps_letters_and_reports(
    engine: Engine,
    renderer: Renderer,
    start_smtp: Callable[..., Any],
    make_notice: Callable[..., Notice],
) -> None:
    server = start_smtp(credentials=("tochka", "right-secret"), auth_require_tls=False)
    queue(engine, renderer, [make_notice()])
    transport = smtp(server, user="tochka", password="wrong-Secret-42")
    report = deliver_due(engine, transport, now=NOW, max_attempts=1)
    assert report.transport_error is not None
    assert "отклонил вход" in report.transport_error
    assert "535" in report.transport_error
    assert "wrong-Secret-42" not in report.transport_error
    (row,) = rows(engine)
    assert row.status == "failed"  # a login problem is not the letter's fault
    good = smtp(server, user="tochka", password="right-secret")
    assert deliver_due(engine, good, now=NOW + timedelta(hours=1), max_attempts=1).sent == 1


def test_expired_lease_is_claimed_again_live_one_is_not(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    queue(engine, renderer, [make_notice(key="orphan"), make_notice(key="busy")])
    with db.write(engine) as conn:
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.key == "orphan")
            .values(
                status="sending",
                attempts=1,
                claim_token="dead-worker",
                lease_until=NOW - timedelta(seconds=1),
            )
        )
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.key == "busy")
            .values(
                status="sending",
                attempts=1,
                claim_token="live-worker",
                lease_until=NOW + timedelta(minutes=5),
            )
        )
    report = deliver_due(engine, smtp(smtp_server), now=NOW, max_attempts=3)
    assert (report.claimed, report.sent) == (1, 1)
    states = {r.key: (r.status, r.attempts, r.claim_token) for r in rows(engine)}
    assert states == {"orphan": ("sent", 2, None), "busy": ("sending", 1, "live-worker")}


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("mode", [TlsMode.STARTTLS, TlsMode.SSL])
def test_tls_verified_with_the_given_ca(
    engine: Engine,
    renderer: Renderer,
    start_smtp: Callable[..., Any],
    server_tls: ssl.SSLContext,
    tls_files: tuple[Path, Path],
    make_notice: Callable[..., Notice],
    mode: TlsMode,
) -> None:
    if mode is TlsMode.SSL:
        server = start_smtp(ssl_context=server_tls)
    else:
        server = start_smtp(tls_context=server_tls, require_starttls=True)
    queue(engine, renderer, [make_notice()])
    untrusted = deliver_due(engine, smtp(server, tls=mode), now=NOW, max_attempts=3)
    assert untrusted.transport_error is not None
    assert "сертификат" in untrusted.transport_error
    assert server.handler.snapshot() == []
    trusted = smtp(server, tls=mode, cafile=str(tls_files[0]))
    assert deliver_due(engine, trusted, now=NOW + timedelta(hours=1), max_attempts=3).sent == 1
    assert len(server.handler.snapshot()) == 1


def test_starttls_required_but_not_offered(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    queue(engine, renderer, [make_notice()])
    report = deliver_due(engine, smtp(smtp_server, tls=TlsMode.STARTTLS), now=NOW, max_attempts=3)
    assert report.transport_error is not None
    assert "STARTTLS" in report.transport_error
    assert smtp_server.handler.snapshot() == []


def test_login_without_tls_only_to_this_machine() -> None:
    with pytest.raises(ValueError, match="without TLS"):
        SmtpTransport(
            SmtpSettings(
                host="smtp.example.org", tls=TlsMode.NONE, user="u", password="p", mail_from=SENDER
            )
        )


def test_file_transport_writes_one_eml_per_letter(
    engine: Engine, renderer: Renderer, tmp_path: Path, make_reminder: Callable[..., Reminder]
) -> None:
    queue(engine, renderer, [make_reminder(key="a"), make_reminder(key="b", title="Второе")])
    folder = tmp_path / "outbox"
    transport = FileTransport(folder, mail_from=SENDER)
    assert deliver_due(engine, transport, now=NOW).sent == 1
    (path,) = folder.glob("*.eml")
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert str(msg["Message-ID"]) == rows(engine)[0].message_id
    assert path.name == str(msg["Message-ID"]).strip("<>") + ".eml"
    assert "2 напоминания" in str(msg["Subject"])
    # A resend (after a crash before the commit) replaces the same file.
    with db.write(engine) as conn:
        conn.execute(OUTBOX.update().values(status="failed", next_attempt_at=NOW))
    assert deliver_due(engine, transport, now=NOW).sent == 1
    assert len(list(folder.glob("*.eml"))) == 1
    assert list(folder.glob(".tmp-*")) == []


def test_console_transport(
    engine: Engine, renderer: Renderer, make_notice: Callable[..., Notice]
) -> None:
    queue(engine, renderer, [make_notice()])
    stream = io.StringIO()
    assert deliver_due(engine, ConsoleTransport(stream, mail_from=SENDER), now=NOW).sent == 1
    out = stream.getvalue()
    assert "school1@example.org, coordinator@edu.example.org" in out
    assert "Subject: =?utf-8?" in out


def _dump_database(engine: Engine) -> str:
    chunks: list[str] = []
    with db.read(engine) as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value).decode("latin-1"))
                    else:
                        chunks.append(str(value))
    return "\n".join(chunks)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_password_never_leaks(
    engine: Engine,
    renderer: Renderer,
    start_smtp: Callable[..., Any],
    make_notice: Callable[..., Notice],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    mechanism: str,
) -> None:
    user, secret = "tochka-user", "Pa$$w0rd-S3cret-9"
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    server = start_smtp(
        credentials=(user, secret), auth_require_tls=False, auth_exclude_mechanism=[other]
    )
    caplog.set_level(logging.DEBUG)
    queue(engine, renderer, [make_notice(key="n1")])
    settings = SmtpSettings(
        host=server.host,
        port=server.port,
        tls=TlsMode.NONE,
        user=user,
        password=secret,
        mail_from=SENDER,
        debug=True,
    )
    assert deliver_due(engine, SmtpTransport(settings), now=NOW).sent == 1

    # A refused login, with its traceback.
    wrong = SmtpSettings(
        host=server.host,
        port=server.port,
        tls=TlsMode.NONE,
        user=user,
        password=secret + "x",
        mail_from=SENDER,
        debug=True,
    )
    with pytest.raises(TransportUnavailable) as refused:
        SmtpTransport(wrong).open()
    queue(engine, renderer, [make_notice(key="n2")])
    report = deliver_due(engine, SmtpTransport(wrong), now=NOW)
    assert report.transport_error is not None

    plain_blob = f"\0{user}\0{secret}".encode()
    forms = {
        secret,
        secret + "x",
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode((secret + "x").encode()).decode(),
        base64.b64encode(plain_blob).decode(),
        base64.b64encode(plain_blob + b"x").decode(),
    }
    out, err = capfd.readouterr()
    haystacks = {
        "logs": caplog.text,
        "stdout/stderr": out + err,
        "traceback": "".join(traceback.format_exception(refused.value)),
        "repr": repr(settings) + repr(wrong) + str(refused.value),
        "database": _dump_database(engine),
        "report": repr(report),
    }
    assert "AUTH <скрыто>" in caplog.text or "<скрыто: данные входа>" in caplog.text
    assert "535" in caplog.text or "отклонил вход" in caplog.text
    for where, text in haystacks.items():
        for form in forms:
            assert form not in text, f"password form found in {where}"


def test_non_ascii_password_is_refused_cleanly(
    start_smtp: Callable[..., Any],
) -> None:
    server = start_smtp(credentials=("u", "p"), auth_require_tls=False)
    secret = "пароль-Секрет"
    transport = smtp(server, user="u", password=secret)
    with pytest.raises(TransportUnavailable, match="не-ASCII") as refused:
        transport.open()
    assert secret not in "".join(traceback.format_exception(refused.value))


def test_a_slow_server_stops_the_batch_before_the_claim_expires(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    """Half the lease used: the rest of the batch goes back to the queue (its attempt given
    back), so no other deliverer can take a row this one is still going to send."""

    def slow(envelope: Any) -> None:
        time.sleep(1.0)

    smtp_server.handler.on_data = slow
    queue(engine, renderer, [make_notice(key=f"n{i}") for i in range(5)])
    report = deliver_due(engine, smtp(smtp_server), now=NOW, lease_seconds=3.0)
    assert (report.claimed, report.sent, report.released) == (5, 2, 3)
    assert [(r.key, r.status, r.attempts) for r in rows(engine)] == [
        ("n0", "sent", 1),
        ("n1", "sent", 1),
        ("n2", "failed", 0),
        ("n3", "failed", 0),
        ("n4", "failed", 0),
    ]
    assert len(smtp_server.handler.snapshot()) == 2
    # The next run sends the rest, each once.
    smtp_server.handler.on_data = None
    later = deliver_due(engine, smtp(smtp_server), now=NOW + timedelta(minutes=5))
    assert later.sent == 3
    ids = [
        r.data.split(b"Message-ID:")[1].split(b"\r\n")[0] for r in smtp_server.handler.snapshot()
    ]
    assert len(ids) == len(set(ids)) == 5


def test_temporary_failures_give_up_two_weeks_after_queuing_in_real_time(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    """The age is real time since the letter was queued, not the effective ``now``: a
    letter queued by a command run with ``--now`` in 2022 and sent by the daemon today
    is minutes old, not years (issue 11: all such letters went dead after one 451)."""
    smtp_server.handler.on_data = lambda envelope: "451 4.3.0 Try again later"
    before = datetime.now(UTC)
    queue(engine, renderer, [make_notice()])  # effective time: NOW, 22 August 2022
    (row,) = rows(engine)
    assert row.created_at == NOW
    assert before <= row.queued_at <= datetime.now(UTC)
    real = row.queued_at

    def at(age: timedelta) -> Callable[[], datetime]:
        return lambda: real + age

    # Sent today (the daemon's clock) a minute after queuing: retried, not dead.
    today = real + timedelta(minutes=1)
    first = deliver_due(engine, smtp(smtp_server), now=today, clock=at(timedelta(minutes=1)))
    assert (first.retrying, first.dead) == (1, 0)
    # Still retried after 13 days (the New Year holidays are shorter than that)...
    retried = deliver_due(
        engine, smtp(smtp_server), now=real + timedelta(days=13), clock=at(timedelta(days=13))
    )
    assert (retried.retrying, retried.dead) == (1, 0)
    # ...whatever the effective clock says (a run with --now three years on)...
    later = deliver_due(
        engine, smtp(smtp_server), now=real + timedelta(days=1100), clock=at(timedelta(days=13))
    )
    assert (later.retrying, later.dead) == (1, 0)
    # ...and dead once the letter is 14 days old in real time, with the reason in Russian.
    last = deliver_due(
        engine, smtp(smtp_server), now=real + timedelta(days=1200), clock=at(timedelta(days=14))
    )
    assert (last.retrying, last.dead) == (0, 1)
    (row,) = rows(engine)
    assert row.status == "dead"
    assert row.recorded_at == real + timedelta(days=14)
    assert row.last_error.endswith("(повторы прекращены: письму больше 14 дней)")


def test_a_batch_claims_and_records_on_one_connection(
    engine: Engine, renderer: Renderer, smtp_server: Any, make_notice: Callable[..., Notice]
) -> None:
    # The claim and each outcome are their own transactions on one connection held for
    # the batch: a checkout per outcome cost more than its UPDATE.
    queue(engine, renderer, [make_notice(key=f"n{i}") for i in range(4)])
    checkouts: list[object] = []

    def checkout(*args: object) -> None:
        checkouts.append(args)

    sa.event.listen(engine, "checkout", checkout)
    try:
        report = deliver_due(engine, smtp(smtp_server), now=NOW)
    finally:
        sa.event.remove(engine, "checkout", checkout)
    assert report.sent == 4
    assert len(checkouts) == 1
    assert {row.status for row in rows(engine)} == {"sent"}
