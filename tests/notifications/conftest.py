"""Fixtures for the notifications tests: a scriptable aiosmtpd server on loopback.

`SmtpRecorder` is the handler: it records every accepted letter with the bytes the
server received, and its ``on_rcpt`` / ``on_data`` hooks can answer 4xx/5xx or drop the
connection. `smtp_server` starts a plain server; `start_smtp` starts variants (implicit
TLS, STARTTLS, AUTH) with a self-signed certificate made by `openssl` once per session.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifications.render import Renderer
from notifications.values import Notice, Recipient, Reminder, Rung

DROP = "drop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        # From the raw bytes (cheap): crash tests look it up for thousands of letters.
        match = re.search(rb"^Message-ID:\s*(<[^>\r\n]*>)", self.data, re.MULTILINE | re.IGNORECASE)
        return match.group(1).decode("ascii") if match else ""


@dataclass
class SmtpRecorder:
    """aiosmtpd handler recording accepted letters; hooks decide failures.

    ``on_rcpt(address)`` and ``on_data(envelope)`` return None to accept, an SMTP reply
    (``"451 4.3.0 later"``) to refuse, or ``DROP`` to close the connection without a
    reply (a server crash mid-transaction).
    """

    on_rcpt: Callable[[str], str | None] | None = None
    on_data: Callable[[Any], str | None] | None = None
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, bytes]] = field(default_factory=list)
    drops: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802  # aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.on_rcpt is not None:
            reply = self.on_rcpt(address)
            if reply == DROP:
                return self._drop(server)
            if reply is not None:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.on_data is not None:
            reply = self.on_data(envelope)
            if reply == DROP:
                return self._drop(server)
            if reply is not None:
                with self.lock:
                    self.refused.append((reply, bytes(envelope.content)))
                return reply
        with self.lock:
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=bytes(envelope.content),
                )
            )
        return "250 2.0.0 Message accepted"

    def _drop(self, server: Any) -> str:
        with self.lock:
            self.drops += 1
        server.transport.abort()
        return "421 4.3.0 dropped"

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: SmtpRecorder
    controller: Controller


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost: (cert.pem, key.pem)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers: ``start_smtp(handler=None, **smtp_kwargs)``."""
    started: list[Controller] = []

    def start(
        handler: SmtpRecorder | None = None,
        *,
        ssl_context: Any = None,
        credentials: tuple[str, str] | None = None,
        **smtp_kwargs: Any,
    ) -> SmtpServer:
        handler = handler or SmtpRecorder()
        if credentials is not None:
            user, password = credentials

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
            ) -> AuthResult:
                ok = isinstance(auth_data, LoginPassword) and (
                    auth_data.login.decode() == user and auth_data.password.decode() == password
                )
                return AuthResult(success=ok, handled=False)

            smtp_kwargs.setdefault("authenticator", authenticator)
        port = free_port()
        with warnings.catch_warnings():
            # aiosmtpd warns when AUTH is allowed without TLS; the tests do it on purpose.
            warnings.filterwarnings("ignore", message=".*AUTH.*TLS.*", category=UserWarning)
            controller = Controller(
                handler,
                hostname="127.0.0.1",
                port=port,
                ssl_context=ssl_context,
                ready_timeout=10,
                **smtp_kwargs,
            )
            controller.start()
        started.append(controller)
        return SmtpServer(host="127.0.0.1", port=port, handler=handler, controller=controller)

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def smtp_server(start_smtp: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain aiosmtpd server on loopback that accepts everything."""
    return start_smtp()


# --- reminders ---------------------------------------------------------------------------


#: 09:00 in Moscow on Monday, 22 August 2022.
NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
TODAY = date(2022, 8, 22)
COORDINATOR = Recipient(email="coordinator@edu.example.org", name="Департамент образования")


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    return Renderer()


def _reminder(**overrides: Any) -> Reminder:
    values: dict[str, Any] = {
        "key": "r:1",
        "send_on": TODAY,
        "recipient": Recipient(email="school1@example.org", name="МБОУ «СОШ № 1»"),
        "cc": (),
        "rung": Rung.BEFORE,
        "days": 3,
        "deadline": date(2022, 8, 25),
        "subject_kind": "measure",
        "title": "Обучение педагогов по программам федерального оператора",
        "roadmap_title": "Дорожная карта «Точка роста», Ивановская область",
        "measure_number": 6,
        "center_code": "IV-001",
        "center_name": "МБОУ «Средняя школа № 1»",
        "municipality": "г. Шуя",
        "evidence": ("Сертификаты о повышении квалификации",),
        "period": "2022",
        "reply_to": COORDINATOR.email,
        "timezone": "Europe/Moscow",
    }
    values.update(overrides)
    return Reminder(**values)


def _notice(**overrides: Any) -> Notice:
    values: dict[str, Any] = {
        "key": "notice:1",
        "recipient": Recipient(email="school1@example.org", name="МБОУ «СОШ № 1»"),
        "cc": (COORDINATOR,),
        "headline": "Центр открыт",
        "entity": "Центр «Точка роста» МБОУ «СОШ № 1»",
        "from_state": "Персонал обучен",
        "to_state": "Открыт",
        "effective_date": date(2022, 9, 1),
        "actor": "Иванова А. А.",
        "roadmap_title": "Дорожная карта «Точка роста», Ивановская область",
        "reply_to": COORDINATOR.email,
    }
    values.update(overrides)
    return Notice(**values)


@pytest.fixture
def make_reminder() -> Callable[..., Reminder]:
    """``make_reminder(key=..., **fields)``: a valid reminder with overrides."""
    return _reminder


@pytest.fixture
def make_notice() -> Callable[..., Notice]:
    return _notice
