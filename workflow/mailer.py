"""Wiring the notifications package from Tochka's settings (transport, renderer)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifications.transport import (
    SmtpSettings,
    TlsMode,
    Transport,
    default_transport,
    is_loopback,
)
from workflow.config import Settings
from workflow.errors import InputError

if TYPE_CHECKING:
    from notifications.render import Renderer


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    """SMTP settings, or None when no host is configured (letters go to ``.eml`` files).

    Raises:
        InputError: an unknown TLS mode.
    """
    if not settings.smtp_host:
        return None
    tls = TlsMode(settings.smtp_tls)  # one of the modes: `Settings` refuses any other
    if tls is TlsMode.NONE and settings.smtp_user and not is_loopback(settings.smtp_host):
        raise InputError(
            f"TOCHKA_SMTP_TLS=none с логином TOCHKA_SMTP_USER: пароль ушёл бы на "
            f"{settings.smtp_host} открытым текстом.",
            hint="Включите starttls или ssl; без шифрования вход разрешён только к этому "
            "компьютеру (localhost).",
        )
    default_port = {TlsMode.SSL: 465, TlsMode.STARTTLS: 587}.get(tls, 25)
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port or default_port,
        tls=tls,
        user=settings.smtp_user or None,
        password=settings.smtp_password or None,
        timeout=settings.smtp_timeout,
        mail_from=settings.mail_from,
    )


def make_transport(settings: Settings) -> Transport:
    """SMTP when configured, else the file transport under ``var/mail``."""
    return default_transport(
        smtp_settings(settings),
        folder=Path(settings.effective_mail_dir),
        mail_from=settings.mail_from,
    )


def make_renderer(settings: Settings) -> Renderer:
    """The template renderer, with the operator's override folder if configured."""
    # Imported here: the renderer brings Jinja2 and iCalendar (~0.1 s), and `outbox send`
    # takes only the transport and the delivery policy from this module.
    from notifications.render import Renderer

    return Renderer(Path(settings.templates_dir) if settings.templates_dir else None)


#: A claim must outlast a slow letter: one letter takes a few server replies, each
#: waited for up to the SMTP timeout, and a batch stops at half its lease.
LEASE_PER_TIMEOUT = 4


def delivery_policy(settings: Settings) -> dict[str, Any]:
    """`notifications.deliver.deliver_due`'s retry settings from Tochka's settings
    (attempts and days at least 1, the lease at least 10 s: `Settings` refuses less).

    Raises:
        InputError: with SMTP configured, a lease shorter than `LEASE_PER_TIMEOUT` SMTP
            timeouts (a slow letter could outlive its claim and go out twice).
    """
    lease = settings.outbox_lease_seconds
    if settings.smtp_host and lease < LEASE_PER_TIMEOUT * settings.smtp_timeout:
        raise InputError(
            f"TOCHKA_OUTBOX_LEASE_SECONDS={lease:g} меньше {LEASE_PER_TIMEOUT} × "
            f"TOCHKA_SMTP_TIMEOUT={settings.smtp_timeout:g}: письмо, которое сервер "
            "принимает медленно, могло бы уйти дважды.",
            hint=f"Задайте срок захвата не меньше {LEASE_PER_TIMEOUT * settings.smtp_timeout:g} с "
            "или уменьшите TOCHKA_SMTP_TIMEOUT.",
        )
    return {
        "max_attempts": settings.max_attempts,
        "give_up_after": timedelta(days=settings.give_up_after_days),
        "lease_seconds": lease,
    }
