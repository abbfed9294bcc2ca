"""Configuration: ``TOCHKA_*`` environment variables over an optional TOML file.

The file is named by ``TOCHKA_CONFIG``; its keys are the variable names without the
prefix, lower-case (``db_url``, ``smtp_host``, ...). An environment variable wins over
the file; a command-line option (``--db``) wins over both.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from workflow.errors import InputError

DEFAULT_VAR_DIR = Path("var")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting Tochka reads, with its default."""

    db_url: str = ""
    var_dir: str = str(DEFAULT_VAR_DIR)
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_tls: str = "starttls"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)  # never in a repr, log or traceback
    smtp_timeout: float = 30.0
    mail_from: str = "tochka@tochka.local"
    mail_dir: str = ""
    templates_dir: str = ""
    max_attempts: int = 8
    give_up_after_days: int = 14
    daily_at: str = "09:00"
    weekly_summary: str = ""
    file_mode_group: str = ""

    @property
    def effective_db_url(self) -> str:
        """The database URL; the embedded SQLite file under ``var_dir`` by default."""
        return self.db_url or f"sqlite:///{Path(self.var_dir) / 'tochka.db'}"

    @property
    def effective_mail_dir(self) -> str:
        """Where the file transport writes ``.eml`` files."""
        return self.mail_dir or str(Path(self.var_dir) / "mail")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the TOML file named by ``TOCHKA_CONFIG`` and the environment.

    Raises:
        InputError: the file is missing or not valid TOML, or a value has the wrong type.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    config_path = env.get("TOCHKA_CONFIG")
    if config_path:
        path = Path(config_path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InputError(f"Файл настроек {path} не найден (TOCHKA_CONFIG).") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"Файл настроек {path} не разобран: {exc}") from exc
        known = {f.name for f in fields(Settings)}
        for key, value in data.items():
            if key not in known:
                raise InputError(
                    f"Файл настроек {path}: неизвестный параметр «{key}».",
                    hint="Допустимые параметры: " + ", ".join(sorted(known)) + ".",
                )
            values[key] = value
    for f in fields(Settings):
        raw = env.get(f"TOCHKA_{f.name.upper()}")
        if raw is not None:
            values[f.name] = raw
    converted: dict[str, object] = {}
    for f in fields(Settings):
        if f.name not in values:
            continue
        value = values[f.name]
        kind = type(getattr(Settings(), f.name))
        try:
            converted[f.name] = kind(value)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"Параметр «{f.name}» (TOCHKA_{f.name.upper()}): значение «{value}» не подходит."
            ) from exc
    return Settings(**converted)  # type: ignore[arg-type]
