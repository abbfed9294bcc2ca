"""Errors of the notifications layer.

Every error derives from `base.errors.TochkaError`: ``str(error)`` is the Russian
message, ``hint`` says what to do next, and the values that caused it stay available
as attributes. Delivery errors carry the SMTP reply code and whether a retry may help.
"""

from __future__ import annotations

from base.errors import TochkaError


class NotificationError(TochkaError):
    """Base class of the notifications layer's errors."""


class UnsafeHeader(NotificationError):
    """A header value would change the letter's structure (newline, control character)."""

    def __init__(self, *, field: str, value: str, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(
            f"Недопустимое значение заголовка «{field}»: {reason}.",
            hint="Исправьте данные (адрес, название) в дорожной карте или карточке центра.",
        )


class InvalidAddress(UnsafeHeader):
    """An e-mail address that is malformed or unsafe to put into a header."""

    def __init__(self, *, address: str, reason: str, field: str = "To") -> None:
        self.address = address
        super().__init__(field=field, value=address, reason=f"адрес {address!r}: {reason}")


class TemplateProblem(NotificationError):
    """A letter template is missing, broken, or refers to data that does not exist."""

    def __init__(self, *, template: str, detail: str) -> None:
        self.template = template
        self.detail = detail
        super().__init__(
            f"Шаблон письма «{template}» не работает: {detail}",
            hint="Исправьте шаблон в папке переопределений или удалите его, "
            "чтобы вернуться к встроенному.",
        )


class DeliveryError(NotificationError):
    """A letter could not be handed to the mail server.

    Attributes:
        code: the SMTP reply code, or None when no reply came (connection lost, timeout).
        permanent: True for a 5xx reply: the same letter will be refused again.
        reason: the server's reply or the connection problem, password-free.
        connection_lost: the session is unusable; the next letter needs a new one.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        connection_lost: bool = False,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.code = code
        self.permanent = permanent
        self.connection_lost = connection_lost
        prefix = f"SMTP {code}: " if code is not None else ""
        super().__init__(f"Письмо не отправлено: {prefix}{reason}", hint=hint)


class RecipientRefused(DeliveryError):
    """The server refused the letter's main recipient (a permanent 5xx at RCPT)."""

    def __init__(self, *, address: str, code: int, reason: str) -> None:
        self.address = address
        super().__init__(
            f"получатель {address} отклонён сервером: {reason}",
            code=code,
            permanent=code >= 500,
            hint="Проверьте адрес получателя; письмо можно повторить командой "
            "«tochka outbox retry» после исправления.",
        )


class TransportUnavailable(DeliveryError):
    """The mail server cannot be reached or refuses our login; no letter can go now."""

    def __init__(self, reason: str, *, code: int | None = None, hint: str | None = None) -> None:
        super().__init__(reason, code=code, permanent=False, connection_lost=True, hint=hint)


class OutboxRowNotFound(NotificationError):
    """No outbox row has the given id."""

    def __init__(self, *, row_id: int) -> None:
        self.row_id = row_id
        super().__init__(
            f"В очереди писем нет записи № {row_id}.",
            hint="Список писем: «tochka outbox list».",
        )


class NotRetryable(NotificationError):
    """The row cannot be queued again (it was sent, or it has no rendered letter)."""

    def __init__(self, *, row_id: int, status: str, reason: str) -> None:
        self.row_id = row_id
        self.status = status
        self.reason = reason
        super().__init__(f"Письмо № {row_id} нельзя повторить: {reason}")
