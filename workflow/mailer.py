"""Wiring the notifications package from Tochka's settings (transport, renderer)."""

from __future__ import annotations

from pathlib import Path

from notifications.render import Renderer
from notifications.transport import SmtpSettings, TlsMode, Transport, default_transport
from workflow.config import Settings
from workflow.errors import InputError


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    """SMTP settings, or None when no host is configured (letters go to ``.eml`` files).

    Raises:
        InputError: an unknown TLS mode.
    """
    if not settings.smtp_host:
        return None
    try:
        tls = TlsMode(settings.smtp_tls)
    except ValueError:
        raise InputError(
            f"TOCHKA_SMTP_TLS: «{settings.smtp_tls}» — ожидается starttls, ssl или none."
        ) from None
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
    return Renderer(Path(settings.templates_dir) if settings.templates_dir else None)
