"""Transports: where letters go. SMTP for production, a folder of ``.eml`` files (the
default when no SMTP host is configured) and the console for trying things out. (Just
over 500 lines: the three transports share one session protocol, read side by side.)

A transport opens *sessions*; the deliverer sends a batch through one session and opens
a new one after a connection is lost. Errors are `DeliveryError`s that say whether a
retry may help (`DeliveryError.permanent`) and whether the session is still usable
(`DeliveryError.connection_lost`).

Secrets: the SMTP password is kept out of ``repr``, logs (smtplib's debug output goes
through `logging` with the AUTH exchange masked) and exception messages, and is dropped
from the smtplib object right after login.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TextIO

from base.errors import os_reason
from notifications.errors import (
    DeliveryError,
    RecipientRefused,
    TransportUnavailable,
)
from notifications.headers import parse_sender

log = logging.getLogger(__name__)
smtp_log = logging.getLogger("notifications.transport.smtp")


@dataclass(frozen=True, kw_only=True, slots=True)
class SendResult:
    """What the transport reports for an accepted letter.

    Attributes:
        refused: recipients the server refused while accepting the letter for others
            (address → reply).
        response: the server's acceptance reply, for the record.
    """

    refused: dict[str, str] = field(default_factory=dict)
    response: str = ""


class TransportSession(Protocol):
    """An open channel to the mail system."""

    def send(
        self, *, mail_from: str, recipients: Sequence[str], message: bytes, message_id: str
    ) -> SendResult:
        """Hand over one letter.

        Raises:
            DeliveryError: the letter was not accepted.
        """
        ...

    def close(self) -> None:
        """Close the channel (never raises)."""
        ...


class Transport(Protocol):
    """Where letters go.

    Attributes:
        mail_from: the sender address (envelope and From header).
    """

    mail_from: str

    def open(self) -> TransportSession:
        """Open a session.

        Raises:
            TransportUnavailable: the mail system cannot be reached or refused us.
        """
        ...


class TlsMode(StrEnum):
    """How the SMTP connection is encrypted."""

    STARTTLS = "starttls"
    """Plain connect, then STARTTLS (port 587); refused if the server cannot."""
    SSL = "ssl"
    """Implicit TLS from the first byte (port 465)."""
    NONE = "none"
    """No encryption: only for a relay on this machine (login is refused elsewhere)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SmtpSettings:
    """SMTP connection settings.

    Attributes:
        host: server name.
        port: server port.
        tls: encryption mode; certificates are always verified.
        user: login name, or None to send without logging in.
        password: the password (kept out of repr).
        timeout: seconds to wait for the server on each operation (connecting, each
            reply, each write): a silent server is a temporary failure after it.
        mail_from: sender address.
        cafile: extra CA bundle to trust (a private CA or a test certificate).
        debug: log the SMTP dialogue at DEBUG level (AUTH masked).
    """

    host: str
    port: int = 587
    tls: TlsMode = TlsMode.STARTTLS
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    mail_from: str
    cafile: str | None = None
    debug: bool = False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return " ".join(str(text).split())[:300]


def _network_reason(exc: BaseException, timeout: float) -> str:
    """Why the connection failed, in Russian (never the library's English text)."""
    # socket.timeout is TimeoutError since 3.10; smtplib turns a timeout while reading a
    # reply into SMTPServerDisconnected raised from it.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return f"сервер не ответил за {timeout:g} с (время ожидания истекло)"
    if isinstance(exc, ConnectionRefusedError):
        return "соединение отклонено (сервер не запущен или порт не тот)"
    if isinstance(exc, socket.gaierror):
        return "имя сервера не найдено"
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionResetError | BrokenPipeError):
        return "сервер закрыл соединение"
    if isinstance(exc, ssl.SSLError):
        return f"ошибка TLS ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError):
        return os_reason(exc)
    return f"ошибка SMTP ({type(exc).__name__})"


_AUTH_RE = re.compile(r"AUTH\b.*", re.IGNORECASE | re.DOTALL)


class _MaskedDebug:
    """smtplib debug output routed to logging, with the AUTH exchange masked."""

    _masking = False

    def _print_debug(self, *args: Any) -> None:
        text = " ".join(str(a) for a in args)
        if self._masking and text.startswith("send:"):
            # During login every line we send is a credential (AUTH LOGIN sends the
            # user and the password as separate base64 lines).
            text = "send: <скрыто: данные входа>"
        text = _AUTH_RE.sub("AUTH <скрыто>", text)
        smtp_log.debug("%s", text)


class _SMTP(_MaskedDebug, smtplib.SMTP):
    pass


class _SMTPSSL(_MaskedDebug, smtplib.SMTP_SSL):
    pass


def _sendmail(
    client: smtplib.SMTP, mail_from: str, recipients: list[str], message: bytes
) -> dict[str, tuple[int, bytes]]:
    """`smtplib.SMTP.sendmail`, except that the letter is not sent unless the server
    accepts its main (first) recipient.

    ``sendmail`` goes on to DATA when any recipient is accepted: a letter whose school
    was refused but whose coordinator copy was accepted would count as sent, the school
    never getting it. Here a refused main recipient stops the transaction (RSET) and is
    raised as `smtplib.SMTPRecipientsRefused` naming it; refused copies are returned.
    """
    client.ehlo_or_helo_if_needed()
    options = []
    if client.does_esmtp and client.has_extn("size"):
        options.append(f"size={len(message)}")
    code, response = client.mail(mail_from, options)
    if code != 250:
        if code == 421:
            client.close()
        else:
            client.rset()
        raise smtplib.SMTPSenderRefused(code, response, mail_from)
    refused: dict[str, tuple[int, bytes]] = {}
    for index, address in enumerate(recipients):
        code, response = client.rcpt(address)
        if code in (250, 251):
            continue
        refused[address] = (code, response)
        if code == 421:
            client.close()
            raise smtplib.SMTPRecipientsRefused(refused)
        if index == 0:
            client.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
    code, response = client.data(message)
    if code != 250:
        if code == 421:
            client.close()
        else:
            client.rset()
        raise smtplib.SMTPDataError(code, response)
    return refused


class SmtpSession:
    """One SMTP connection (see `SmtpTransport.open`)."""

    def __init__(self, client: smtplib.SMTP, *, timeout: float = 30.0) -> None:
        self._client = client
        self._timeout = timeout

    def send(
        self, *, mail_from: str, recipients: Sequence[str], message: bytes, message_id: str
    ) -> SendResult:
        """Send one letter over this connection.

        Raises:
            RecipientRefused: the main (first) recipient was refused with a 5xx.
            DeliveryError: any other refusal, a lost connection, or a server silent for
                longer than the timeout (temporary: retried; the session is dropped,
                as the server may still be in the middle of a reply).
        """
        try:
            refused = _sendmail(self._client, mail_from, list(recipients), message)
        except smtplib.SMTPRecipientsRefused as exc:
            return self._all_refused(exc, recipients)
        except smtplib.SMTPSenderRefused as exc:
            raise DeliveryError(
                f"отправитель {mail_from} отклонён: {_reply(exc)}",
                code=exc.smtp_code,
                permanent=exc.smtp_code >= 500,
                connection_lost=exc.smtp_code == 421,
            ) from None
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and the rest
            raise DeliveryError(
                _reply(exc),
                code=exc.smtp_code,
                permanent=exc.smtp_code >= 500,
                connection_lost=exc.smtp_code == 421,
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise DeliveryError(
                f"соединение потеряно: {_network_reason(exc, self._timeout)}",
                connection_lost=True,
            ) from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(
                f"сбой SMTP: {_network_reason(exc, self._timeout)}", connection_lost=True
            ) from None
        notes = {addr: f"{code} {text!r}" for addr, (code, text) in refused.items()}
        return SendResult(refused=notes, response="250")

    @staticmethod
    def _all_refused(exc: smtplib.SMTPRecipientsRefused, recipients: Sequence[str]) -> SendResult:
        main = recipients[0]
        code, text = exc.recipients.get(main, (450, b""))
        reason = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
        if code >= 500:
            raise RecipientRefused(address=main, code=code, reason=" ".join(reason.split()))
        raise DeliveryError(
            f"получатель {main} временно отклонён: {' '.join(reason.split())}",
            code=code,
            connection_lost=code == 421,
        )

    def close(self) -> None:
        """Say QUIT, or just drop the socket if the server is gone."""
        try:
            self._client.quit()
        except (smtplib.SMTPException, OSError):
            self._client.close()


class SmtpTransport:
    """Delivery through an SMTP server with verified TLS.

    Args:
        settings: connection settings.
        ssl_context: a TLS context to use instead of ``ssl.create_default_context()``
            (which trusts the system CAs plus ``settings.cafile``).

    Raises:
        InvalidAddress: ``settings.mail_from`` is not a valid address.
        ValueError: a login without TLS to a host other than this machine.
    """

    def __init__(
        self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.settings = settings
        # ``Имя <addr>``: the address for the envelope, the name for From (deliverer).
        self.sender_name, self.mail_from = parse_sender(settings.mail_from)
        if settings.tls is TlsMode.NONE and settings.user and not is_loopback(settings.host):
            raise ValueError("SMTP login without TLS is only allowed to this machine")
        self._context = ssl_context

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is not None:
            return self._context
        # Verification on (CERT_REQUIRED, hostname check): smtplib without a context
        # would not verify the server at all.
        return ssl.create_default_context(cafile=self.settings.cafile)

    def open(self) -> SmtpSession:
        """Connect, encrypt, log in.

        Raises:
            TransportUnavailable: cannot connect, TLS fails, or the login is refused.
        """
        s = self.settings
        where = f"{s.host}:{s.port}"
        client: smtplib.SMTP | None = None
        try:
            # Host given to the constructor (not to connect()): smtplib keeps it only
            # then, and TLS needs it to check the certificate's name.
            if s.tls is TlsMode.SSL:
                client = _SMTPSSL(s.host, s.port, timeout=s.timeout, context=self._ssl_context())
            else:
                client = _SMTP(s.host, s.port, timeout=s.timeout)
            if s.debug:
                client.set_debuglevel(1)
            client.ehlo()
            if s.tls is TlsMode.STARTTLS:
                if not client.has_extn("starttls"):
                    raise TransportUnavailable(
                        f"сервер {where} не поддерживает STARTTLS",
                        hint="Укажите tls: ssl (порт 465) или другой сервер; "
                        "без шифрования письма не отправляются.",
                    )
                client.starttls(context=self._ssl_context())
                client.ehlo()
            if s.user:
                if not (s.user.isascii() and (s.password or "").isascii()):
                    # smtplib encodes credentials as ASCII; its UnicodeEncodeError would
                    # carry the password in its ``object`` attribute.
                    raise TransportUnavailable(
                        "имя пользователя или пароль SMTP содержит не-ASCII символы",
                        hint="Используйте пароль из латинских букв, цифр и знаков.",
                    )
                assert isinstance(client, _MaskedDebug)
                client._masking = True
                try:
                    client.login(s.user, s.password or "")
                finally:
                    client._masking = False
                    # smtplib keeps the password on the object; it is needed only above.
                    client.password = ""
            log.info("SMTP session opened to %s (%s)", where, s.tls.value)
            return SmtpSession(client, timeout=s.timeout)
        except TransportUnavailable:
            self._drop(client)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            self._drop(client)
            raise TransportUnavailable(
                f"сервер {where} отклонил вход: {_reply(exc)}",
                code=exc.smtp_code,
                hint="Проверьте имя пользователя и пароль SMTP в настройках.",
            ) from None
        except ssl.SSLCertVerificationError as exc:
            self._drop(client)
            raise TransportUnavailable(
                f"сертификат сервера {where} не прошёл проверку: {exc.verify_message}",
                hint="Укажите правильное имя сервера или доверенный CA (cafile).",
            ) from None
        except smtplib.SMTPResponseException as exc:
            self._drop(client)
            raise TransportUnavailable(
                f"сервер {where} отказал: {_reply(exc)}", code=exc.smtp_code
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop(client)
            hint = "Проверьте, что SMTP-сервер запущен и доступен."
            if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
                hint += f" Время ожидания ответа — TOCHKA_SMTP_TIMEOUT ({s.timeout:g} с)."
            raise TransportUnavailable(
                f"нет соединения с {where}: {_network_reason(exc, s.timeout)}", hint=hint
            ) from None
        except BaseException:
            self._drop(client)
            raise

    @staticmethod
    def _drop(client: smtplib.SMTP | None) -> None:
        if client is not None:
            client.password = ""
            client.close()


def _file_name(message_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]", "_", message_id.strip("<>")) + ".eml"


class FileSession:
    """Writes each letter to ``<folder>/<message id>.eml`` (see `FileTransport`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(
        self, *, mail_from: str, recipients: Sequence[str], message: bytes, message_id: str
    ) -> SendResult:
        """Write the letter atomically; a resend replaces the same file.

        Raises:
            DeliveryError: the file cannot be written.
        """
        target = self.folder / _file_name(message_id)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise DeliveryError(f"не удалось записать {target}: {exc}") from None
        return SendResult(response=str(target))

    def close(self) -> None:
        """Nothing to close."""


class FileTransport:
    """Letters as ``.eml`` files in a folder (the default when no SMTP host is set).

    Args:
        folder: where the files go (created owner+group only if missing).
        mail_from: sender address for the From header.
    """

    def __init__(self, folder: Path, *, mail_from: str = "tochka@localhost.localdomain") -> None:
        self.folder = folder
        self.sender_name, self.mail_from = parse_sender(mail_from)

    def open(self) -> FileSession:
        """Create the folder if needed.

        Raises:
            TransportUnavailable: the folder cannot be created.
        """
        try:
            self.folder.mkdir(mode=0o770, parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportUnavailable(f"папка {self.folder} недоступна: {exc}") from None
        return FileSession(self.folder)


class ConsoleSession:
    """Writes letters to a text stream (see `ConsoleTransport`)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(
        self, *, mail_from: str, recipients: Sequence[str], message: bytes, message_id: str
    ) -> SendResult:
        """Write the raw letter with an envelope line above it."""
        self.stream.write(f"----- {message_id} → {', '.join(recipients)} -----\n")
        self.stream.write(message.decode("utf-8", errors="replace").replace("\r\n", "\n"))
        self.stream.write("\n")
        self.stream.flush()
        return SendResult(response="console")

    def close(self) -> None:
        """Nothing to close."""


class ConsoleTransport:
    """Letters written to a stream (a terminal), for trying templates out.

    Args:
        stream: where to write.
        mail_from: sender address for the From header.
    """

    def __init__(self, stream: TextIO, *, mail_from: str = "tochka@localhost.localdomain") -> None:
        self.stream = stream
        self.sender_name, self.mail_from = parse_sender(mail_from)

    def open(self) -> ConsoleSession:
        """A session on the stream."""
        return ConsoleSession(self.stream)


def default_transport(
    smtp: SmtpSettings | None, *, folder: Path, mail_from: str | None = None
) -> Transport:
    """SMTP when a host is configured, else a folder of ``.eml`` files.

    Args:
        smtp: SMTP settings, or None.
        folder: the ``.eml`` folder used without SMTP.
        mail_from: sender for the file transport (defaults to a local address).
    """
    if smtp is not None and smtp.host:
        return SmtpTransport(smtp)
    if mail_from:
        return FileTransport(folder, mail_from=mail_from)
    return FileTransport(folder)
