"""Configuration: ``TOCHKA_*`` environment variables over an optional TOML file.

The file is named by ``TOCHKA_CONFIG``; its keys are the variable names without the
prefix, lower-case (``db_url``, ``smtp_host``, ...). An environment variable wins over
the file; a command-line option (``--db``) wins over both.

One pydantic model, `Settings`, is the schema of both sources. Each source is validated
in the mode its values come in: the file's values keep their TOML types and must match
exactly (``smtp_port = 587.9`` and ``db_url = ["x"]`` are refused, never truncated or
turned into text); the environment's values are text, parsed as numbers where a number
is expected (``TOCHKA_SMTP_PORT=587.9`` is refused too). Every refusal is an `InputError`
in Russian that names the file key, the variable and the wrong value, and says what is
expected. The SMTP password is never shown: not in a repr, a str, a dump (``model_dump``)
or an error message.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from workflow.errors import InputError

__all__ = [
    "DEFAULT_EVIDENCE_TYPES",
    "DEFAULT_VAR_DIR",
    "EVIDENCE_TYPE_NAMES",
    "Settings",
    "TlsName",
    "load_settings",
]

DEFAULT_VAR_DIR = Path("var")
_PREFIX = "TOCHKA_"

TlsName = Literal["starttls", "ssl", "none"]
"""The SMTP TLS modes, as ``notifications.transport.TlsMode`` spells them."""

ImapTls = Literal["ssl", "starttls", "none"]
"""The IMAP TLS modes (`workflow.inbound.poll`)."""

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def _toml_time(value: object) -> object:
    """A TOML local time (``daily_at = 09:00:00``) is a time too, unless it has seconds."""
    if isinstance(value, time) and not (value.second or value.microsecond or value.tzinfo):
        return f"{value.hour:02d}:{value.minute:02d}"
    return value


def _clock_time(text: str) -> str:
    """``"9:00"`` / ``" 09:00 "`` → ``"09:00"``; anything but a time of day is refused."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("not HH:MM")  # replaced by the Russian message in `_refusal`
    return f"{int(match[1]):02d}:{match[2]}"


_SENDER = re.compile(r' *(?:"[^"]*"|[^<>"]*?) *<(?P<address>[^<>]*)> *')


def _sender(text: str) -> str:
    """``tochka@x.ru`` or ``Имя <tochka@x.ru>`` (``"Имя" <…>`` too): the sender as
    written, its address checked by the one address rule (a private relay domain
    passes); the display name is the letters' From name."""
    # Imported here: only a configured sender is checked (a default is not validated),
    # and every command loads the settings at start (`tochka centers list` among them).
    from base.addresses import AddressError, AddressUse, parse_address

    match = _SENDER.fullmatch(text)
    address = text.strip(" ") if match is None else match["address"].strip(" ")
    if any(ord(ch) < 32 or ch in "\x7f\u2028\u2029" for ch in text) or (
        match is None and "<" in text
    ):
        raise ValueError("not a sender")  # replaced by the Russian message in `_refusal`
    try:
        parse_address(address, use=AddressUse.SENDER)
    except AddressError:
        raise ValueError("not a sender") from None
    return text.strip(" ")


Port = Annotated[int, Field(ge=1, le=65535)]
Sender = Annotated[str, AfterValidator(_sender)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
SecondsOrOff = Annotated[float, Field(ge=0, allow_inf_nan=False)]
AtLeastOne = Annotated[int, Field(ge=1)]
ClockTime = Annotated[str, BeforeValidator(_toml_time), AfterValidator(_clock_time)]

#: The evidence document types a setting may name (`workflow.engine.media` detects them
#: from the content); executables and files with macros are never accepted.
EVIDENCE_TYPE_NAMES = ("pdf", "doc", "docx", "xls", "xlsx", "odt", "ods", "jpg", "png", "zip")
DEFAULT_EVIDENCE_TYPES = "pdf,doc,docx,xls,xlsx,odt,ods,jpg,png"


def _evidence_types(text: str) -> str:
    """``"PDF, docx jpeg"`` → ``"pdf,docx,jpg"``: known names only, at least one."""
    names = [n.lower() for n in re.split(r"[\s,;]+", text.strip()) if n]
    names = ["jpg" if n == "jpeg" else n for n in names]
    if not names or any(n not in EVIDENCE_TYPE_NAMES for n in names):
        raise ValueError("not evidence types")  # replaced by the Russian message in `_refusal`
    return ",".join(dict.fromkeys(names))


EvidenceTypes = Annotated[str, AfterValidator(_evidence_types)]

_TEXT = "нужна строка"
# What each setting expects, said to the person who wrote a wrong value; a setting not
# listed here is text.
_EXPECTED = {
    "smtp_port": "нужно целое число от 1 до 65535",
    "smtp_tls": "нужен один из режимов: starttls, ssl, none",
    "smtp_timeout": "нужно число секунд больше 0",
    "outbox_lease_seconds": "нужно число секунд не меньше 10",
    "max_attempts": "нужно целое число не меньше 1",
    "give_up_after_days": "нужно целое число дней, не меньше 1",
    "daily_at": "нужно время ЧЧ:ММ от 00:00 до 23:59, например 09:00",
    "mail_from": "нужен адрес отправителя, например tochka@edu.example.ru или "
    "«Департамент образования <tochka@edu.example.ru>»",
    "db_busy_timeout": "нужно число секунд больше 0",
    "db_connect_timeout": "нужно число секунд больше 0",
    "db_statement_timeout": "нужно число секунд, не меньше 0 (0 — без ограничения)",
    "db_idle_in_transaction_timeout": "нужно число секунд, не меньше 0 (0 — без ограничения)",
    "db_keepalive": "нужно число секунд больше 0",
    "daemon_stall_seconds": "нужно число секунд больше 0",
    "tick_retry_seconds": "нужно число секунд больше 0",
    "tick_retry_max_seconds": "нужно число секунд больше 0",
    "allow_placeholder_addresses": "нужно true или false",
    "imap_port": "нужно целое число от 1 до 65535",
    "imap_tls": "нужен один из режимов: ssl, starttls, none",
    "imap_poll_seconds": "нужно число секунд больше 0",
    "imap_timeout": "нужно число секунд больше 0",
    "inbound_max_mb": "нужно число мегабайт больше 0 и не больше 1024",
    "reply_daily_limit": "нужно целое число не меньше 1",
    "evidence_max_mb": "нужно число мегабайт больше 0 и не больше 1024",
    "evidence_types": "нужен список видов файлов через запятую из: "
    + ", ".join(EVIDENCE_TYPE_NAMES),
}


class Settings(BaseModel):
    """Every setting Tochka reads, with its default; validated when built.

    Values are strict: an ``int`` setting takes an ``int`` (not a float, not a bool), a
    text setting takes a ``str``. `load_settings` reads them from the file and the
    environment; code and tests may also build one directly (``Settings(smtp_host=...)``).
    """

    # Its validator is built when first used, not at import: a run with nothing to read
    # (no file, no TOCHKA_* variable: `load_settings`) takes the defaults without one.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)

    # Shown without its password (`__repr_args__`): a PostgreSQL URL may carry one.
    db_url: str = Field(default="", repr=False)
    var_dir: str = str(DEFAULT_VAR_DIR)
    smtp_host: str = ""
    smtp_port: Port | None = None  # None: the TLS mode's port (465, 587 or 25)
    smtp_tls: TlsName = "starttls"
    smtp_user: str = ""
    # Never in a repr, a dump, a log or an error message (kept a str: callers compare it).
    smtp_password: str = Field(default="", repr=False, exclude=True)
    smtp_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    # How long the deliverer's claim on a letter holds (see notifications.deliver).
    outbox_lease_seconds: float = Field(default=600.0, ge=10, allow_inf_nan=False)
    # The sender: an address, or ``Имя <address>`` (the name shown in From; without one,
    # From shows the coordinator party's name from the roadmap).
    mail_from: Sender = "tochka@tochka.local"
    mail_dir: str = ""
    templates_dir: str = ""
    max_attempts: AtLeastOne = 8
    give_up_after_days: AtLeastOne = 14
    daily_at: ClockTime = "09:00"
    # The coordinator's Monday summary: where long-overdue items go once the ladder stops.
    weekly_summary: str = "пн"
    file_mode_group: str = ""
    # The audit chain's heads are appended here (workflow.engine.anchors); outside var_dir.
    anchor_file: str = ""
    # The keyed audit chain's HMAC key (workflow.engine.audit_key); never shown.
    audit_key: str = Field(default="", repr=False, exclude=True)
    # Database timeouts (`base.db.Timeouts`): SQLite's wait for the write lock; PostgreSQL's
    # connect, statement, idle-in-transaction and TCP keepalive limits.
    db_busy_timeout: Seconds = 60.0
    db_connect_timeout: Seconds = 10.0
    db_statement_timeout: SecondsOrOff = 60.0
    db_idle_in_transaction_timeout: SecondsOrOff = 60.0
    db_keepalive: Seconds = 30.0
    # The daemon: a database call longer than this is logged as a stall; a failed tick
    # is retried after tick_retry_seconds, doubling up to tick_retry_max_seconds.
    daemon_stall_seconds: Seconds = 30.0
    tick_retry_seconds: Seconds = 30.0
    tick_retry_max_seconds: Seconds = 600.0
    # The mailbox replies come to (`workflow.inbound.poll`): read by the daemon every
    # imap_poll_seconds when imap_host is set. TLS is "ssl" (port 993), "starttls" (143)
    # or "none"; the server's certificate is verified against the system's authorities
    # or imap_ca_file. A message is moved to imap_processed_folder once recorded;
    # one larger than inbound_max_mb is refused (recorded with the reason, not read).
    imap_host: str = ""
    imap_port: Port | None = None
    imap_tls: ImapTls = "ssl"
    imap_ca_file: str = ""
    imap_user: str = ""
    # Never in a repr, a dump, a log or an error message.
    imap_password: str = Field(default="", repr=False, exclude=True)
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "Tochka-Processed"
    imap_poll_seconds: Seconds = 300.0
    imap_timeout: Seconds = 30.0
    inbound_max_mb: float = Field(default=25.0, gt=0, le=1024, allow_inf_nan=False)
    # Our answers to one sender's mail (form verdicts, accept/reject letters) in 24 hours;
    # more are held for the coordinator, never sent (`notifications.reply_limit`).
    reply_daily_limit: AtLeastOne = 5
    # Letters to placeholder addresses (example.org, *.test; workflow.roadmap.placeholders)
    # are held by the daemon unless this is true (the test suite's local SMTP server).
    allow_placeholder_addresses: bool = False
    # Evidence documents (``--evidence-file``, `workflow.engine.evidence_store`): the folder
    # of their content (by default ``evidence/`` next to the SQLite file; on PostgreSQL the
    # database itself), the largest file accepted and the types accepted, by content.
    evidence_dir: str = ""
    evidence_max_mb: float = Field(default=20.0, gt=0, le=1024, allow_inf_nan=False)
    evidence_types: EvidenceTypes = DEFAULT_EVIDENCE_TYPES

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield ("db_url", _without_password(self.db_url))
        yield from super().__repr_args__()

    @property
    def effective_db_url(self) -> str:
        """The database URL; the embedded SQLite file under ``var_dir`` by default."""
        return self.db_url or f"sqlite:///{Path(self.var_dir) / 'tochka.db'}"

    @property
    def effective_mail_dir(self) -> str:
        """Where the file transport writes ``.eml`` files."""
        return self.mail_dir or str(Path(self.var_dir) / "mail")


def _without_password(url: str) -> str:
    """The URL as logs may show it: its password replaced by ``***``."""
    if not url:
        return url
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:  # not a URL: nothing that looks like a password to keep
        return url


# The settings whose values are never shown, not even when they are wrong.
_SECRET = frozenset(key for key, spec in Settings.model_fields.items() if spec.exclude)


def _variable(key: str) -> str:
    """The environment variable of a setting: ``smtp_port`` → ``TOCHKA_SMTP_PORT``."""
    return _PREFIX + key.upper()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the TOML file named by ``TOCHKA_CONFIG`` and the environment.

    Args:
        environ: the environment to read; ``os.environ`` by default.

    Raises:
        InputError: the file is missing, unreadable or not valid TOML, has an unknown
            key, or a value (in the file or the environment) has the wrong type or is
            out of range.
    """
    env = os.environ if environ is None else environ
    config_path = env.get(_PREFIX + "CONFIG")
    from_file: dict[str, Any] = {}
    if config_path:
        path = Path(config_path)
        from_file = _validated(_read_toml(path), path=path)
    known = Settings.model_fields
    given = {k: env[_variable(k)] for k in known if _variable(k) in env}
    if not from_file and not given:
        # Nothing to validate: the defaults, as validating an empty source gives them
        # (defaults are not validated), without building the validator.
        return Settings.model_construct()
    from_env = _validated(given, path=None)
    return Settings.model_validate(from_file | from_env)


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when TOCHKA_CONFIG names a file: most runs have none

    where = f"Файл настроек {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{where} не найден (TOCHKA_CONFIG).") from None
    except IsADirectoryError:
        raise InputError(f"{where} — папка, а не файл (TOCHKA_CONFIG).") from None
    except PermissionError:
        raise InputError(f"{where}: нет прав на чтение (TOCHKA_CONFIG).") from None
    except UnicodeDecodeError:
        raise InputError(f"{where} не в кодировке UTF-8.") from None
    except OSError as exc:
        raise InputError(f"{where} не прочитан (ошибка ОС {exc.errno}).") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's reason is English; only its position is kept (Python 3.11 has no
        # attributes for it, the message ends with "(at line L, column C)").
        at = re.search(r"at line (\d+), column (\d+)", str(exc))
        position = f" в строке {at[1]}, столбце {at[2]}" if at else ""
        raise InputError(
            f"{where} не разобран: ошибка синтаксиса TOML{position}.",
            hint="Каждая строка — «ключ = значение»; текст берётся в кавычки: "
            'smtp_host = "smtp.example.org".',
        ) from None


def _validated(values: dict[str, Any], *, path: Path | None) -> dict[str, Any]:
    """The settings given in one source (the file when ``path``, else the environment),
    validated by `Settings` in that source's mode; only the keys the source gave."""
    problems: list[ErrorDetails] = []
    try:
        if path is None:
            model = Settings.model_validate_strings(values)
        else:
            model = Settings.model_validate(values)
    except ValidationError as exc:
        # Kept outside the handler so that pydantic's text (with the values, the password
        # among them) is not chained to the error a person sees.
        problems = exc.errors(include_url=False, include_input=False)
    if problems:
        raise _refusal(values, problems, path=path)
    return {key: getattr(model, key) for key in model.model_fields_set}


def _refusal(
    values: Mapping[str, Any], problems: list[ErrorDetails], *, path: Path | None
) -> InputError:
    keys = list(dict.fromkeys(str(p["loc"][0]) for p in problems if p["loc"]))
    known = Settings.model_fields
    unknown = [k for k in keys if k not in known]
    if unknown:
        names = ", ".join(f"«{k}»" for k in unknown)
        many = len(unknown) > 1
        return InputError(
            f"Файл настроек {path}: неизвестны{'е' if many else 'й'} параметр{'ы' if many else ''}"
            f" {names}.",
            hint="Допустимые параметры: " + ", ".join(known) + ".",
        )
    lines = [
        f"Параметр «{key}», {_variable(key)}: {_shown(key, values[key])} — "
        f"{_EXPECTED.get(key, _TEXT)}."
        for key in keys
    ]
    if path is None:
        hint = "Исправьте переменн" + ("ые" if len(keys) > 1 else "ую") + " окружения "
        hint += ", ".join(_variable(k) for k in keys) + "."
    else:
        hint = f"Исправьте файл настроек {path} (TOCHKA_CONFIG)."
    return InputError("\n".join(lines), hint=hint)


def _shown(key: str, value: Any) -> str:
    """A wrong value as the person wrote it: text as is, other TOML values as TOML."""
    if key in _SECRET:
        return "значение скрыто"
    if isinstance(value, str):
        return f"«{value}»"
    if isinstance(value, date | time):  # TOML dates and times (a datetime is a date)
        return f"«{value.isoformat()}»"
    return f"«{json.dumps(value, ensure_ascii=False, default=str)}»"
