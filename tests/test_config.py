"""Settings: one typed validation of the TOML file and the ``TOCHKA_*`` environment.

A wrong value is refused with a Russian message naming the file key, the variable, the
value and what is expected; nothing is truncated or turned into text silently; the SMTP
password is never shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from rich.pretty import pretty_repr
from typer.testing import CliRunner

from workflow.config import Settings, load_settings
from workflow.errors import InputError

SECRET = "s3cret-pw"


def _file(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "tochka.toml"
    path.write_text(text, encoding="utf-8")
    return {"TOCHKA_CONFIG": str(path)}


def _refused(environ: dict[str, str]) -> InputError:
    with pytest.raises(InputError) as refused:
        load_settings(environ)
    return refused.value


def test_a_float_port_in_the_file_is_refused_not_truncated(tmp_path: Path) -> None:
    refused = _refused(_file(tmp_path, "smtp_port = 587.9\n"))
    assert refused.message == (
        "Параметр «smtp_port», TOCHKA_SMTP_PORT: «587.9» — нужно целое число от 1 до 65535."
    )
    assert refused.hint == f"Исправьте файл настроек {tmp_path / 'tochka.toml'} (TOCHKA_CONFIG)."


def test_a_float_port_in_the_environment_is_refused_not_truncated() -> None:
    refused = _refused({"TOCHKA_SMTP_PORT": "587.9"})
    assert str(refused) == (
        "Параметр «smtp_port», TOCHKA_SMTP_PORT: «587.9» — нужно целое число от 1 до 65535.\n"
        "Исправьте переменную окружения TOCHKA_SMTP_PORT."
    )


def test_a_list_where_text_is_expected_is_refused(tmp_path: Path) -> None:
    refused = _refused(_file(tmp_path, 'db_url = ["x"]\n'))
    assert refused.message == 'Параметр «db_url», TOCHKA_DB_URL: «["x"]» — нужна строка.'


def test_an_unknown_tls_mode_is_refused() -> None:
    refused = _refused({"TOCHKA_SMTP_TLS": "tls"})
    assert refused.message == (
        "Параметр «smtp_tls», TOCHKA_SMTP_TLS: «tls» — нужен один из режимов: starttls, ssl, none."
    )


@pytest.mark.parametrize("port", ["0", "65536", "-25"])
def test_a_port_out_of_range_is_refused(port: str) -> None:
    refused = _refused({"TOCHKA_SMTP_PORT": port})
    assert refused.message == (
        f"Параметр «smtp_port», TOCHKA_SMTP_PORT: «{port}» — нужно целое число от 1 до 65535."
    )


def test_every_wrong_value_of_the_file_is_named_at_once(tmp_path: Path) -> None:
    refused = _refused(_file(tmp_path, 'smtp_port = 70000\nmax_attempts = 0\nsmtp_tls = "SSL"\n'))
    assert refused.message.splitlines() == [
        "Параметр «smtp_port», TOCHKA_SMTP_PORT: «70000» — нужно целое число от 1 до 65535.",
        "Параметр «smtp_tls», TOCHKA_SMTP_TLS: «SSL» — нужен один из режимов: starttls, ssl, none.",
        "Параметр «max_attempts», TOCHKA_MAX_ATTEMPTS: «0» — нужно целое число не меньше 1.",
    ]


def test_an_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    refused = _refused(_file(tmp_path, 'smtp_hots = "smtp.example.org"\n'))
    assert refused.message == (
        f"Файл настроек {tmp_path / 'tochka.toml'}: неизвестный параметр «smtp_hots»."
    )
    assert refused.hint is not None
    assert refused.hint.startswith("Допустимые параметры: db_url, var_dir, smtp_host, smtp_port,")


def test_bad_toml_syntax_is_refused_with_its_position(tmp_path: Path) -> None:
    refused = _refused(_file(tmp_path, 'daily_at = "09:00"\nsmtp_host = smtp.example.org\n'))
    assert refused.message == (
        f"Файл настроек {tmp_path / 'tochka.toml'} не разобран: "
        "ошибка синтаксиса TOML в строке 2, столбце 13."
    )
    assert "Invalid" not in str(refused)  # tomllib's English reason is not shown


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    refused = _refused({"TOCHKA_CONFIG": str(missing)})
    assert refused.message == f"Файл настроек {missing} не найден (TOCHKA_CONFIG)."


@pytest.mark.parametrize("value", ["25:00", "9", "09:60", "девять"])
def test_a_bad_daily_at_is_refused(value: str) -> None:
    refused = _refused({"TOCHKA_DAILY_AT": value})
    assert refused.message == (
        f"Параметр «daily_at», TOCHKA_DAILY_AT: «{value}» — "
        "нужно время ЧЧ:ММ от 00:00 до 23:59, например 09:00."
    )


def test_daily_at_may_be_a_toml_time_without_seconds(tmp_path: Path) -> None:
    assert load_settings(_file(tmp_path, "daily_at = 07:30:00\n")).daily_at == "07:30"
    refused = _refused(_file(tmp_path, "daily_at = 07:30:15\n"))
    assert refused.message == (
        "Параметр «daily_at», TOCHKA_DAILY_AT: «07:30:15» — "
        "нужно время ЧЧ:ММ от 00:00 до 23:59, например 09:00."
    )


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    environ = _file(
        tmp_path,
        'smtp_host = "file.example.org"\nsmtp_port = 2525\nsmtp_tls = "ssl"\n'
        "smtp_timeout = 5\nmax_attempts = 3\n",
    )
    environ |= {"TOCHKA_SMTP_HOST": "env.example.org", "TOCHKA_DAILY_AT": " 7:30 "}
    environ |= {"TOCHKA_SMTP_TIMEOUT": "2.5", "TOCHKA_VAR_DIR": str(tmp_path / "var")}
    settings = load_settings(environ)
    assert settings == Settings(
        smtp_host="env.example.org",
        smtp_port=2525,
        smtp_tls="ssl",
        smtp_timeout=2.5,
        max_attempts=3,
        daily_at="07:30",
        var_dir=str(tmp_path / "var"),
    )
    assert settings.effective_db_url == f"sqlite:///{tmp_path / 'var' / 'tochka.db'}"
    assert settings.effective_mail_dir == str(tmp_path / "var" / "mail")
    assert load_settings({}) == Settings()  # nothing given: the defaults


def test_nothing_given_takes_the_defaults_without_building_the_validator() -> None:
    """Every command loads the settings at start; with no file and no setting's variable
    (another TOCHKA_ variable is not one) nothing is validated, and the validator is not
    built (a fresh interpreter: this one's tests have built it)."""
    run = (
        "import sys\n"
        "from workflow.config import Settings, load_settings\n"
        "found = load_settings({'TOCHKA_TEST_PG_URL': 'x', 'HOME': '/'})\n"
        "print(Settings.__pydantic_complete__, sorted(found.model_fields_set))\n"
        "print(repr(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", run], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == ["False []", repr(Settings.model_validate({}))]


def test_the_password_is_never_shown(tmp_path: Path) -> None:
    settings = load_settings({"TOCHKA_SMTP_PASSWORD": SECRET, "TOCHKA_SMTP_USER": "u"})
    assert settings.smtp_password == SECRET
    shown_as = (repr(settings), str(settings), pretty_repr(settings), settings.model_dump_json())
    for shown in shown_as:
        assert SECRET not in shown
    # A wrong-typed password in the file, or one under a misspelt key, is named, not shown.
    wrong = _refused(_file(tmp_path, "smtp_password = 271828\n"))
    assert wrong.message == (
        "Параметр «smtp_password», TOCHKA_SMTP_PASSWORD: значение скрыто — нужна строка."
    )
    misspelt = _refused(_file(tmp_path, f'smtp_pasword = "{SECRET}"\n'))
    for refused in (wrong, misspelt):
        assert "271828" not in "".join(traceback.format_exception(refused))
        assert SECRET not in "".join(traceback.format_exception(refused))


@pytest.mark.parametrize("source", ["file", "environment"])
def test_the_cli_refuses_a_wrong_value_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    from workflow.cli.app import app

    for name in [n for n in os.environ if n.startswith("TOCHKA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "operator")
    if source == "file":
        environ = _file(tmp_path, "smtp_port = 587.9\n")
    else:
        environ = {"TOCHKA_SMTP_PORT": "587.9"}
    environ["TOCHKA_VAR_DIR"] = str(tmp_path / "var")
    # No --db: the command needs the settings for the database URL, and they are refused.
    result = CliRunner().invoke(app, ["centers", "list"], env=environ, catch_exceptions=False)
    assert result.exit_code == 1
    assert (
        "Ошибка: Параметр «smtp_port», TOCHKA_SMTP_PORT: «587.9» — нужно целое число от 1 до 65535."
        in " ".join(result.output.split())
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "var").exists()  # refused before anything was opened


def test_the_cli_refuses_a_wrong_value_even_with_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--db names the database, but a broken configuration is still refused at start."""
    from workflow.cli.app import app

    for name in [n for n in os.environ if n.startswith("TOCHKA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "operator")
    database = tmp_path / "elsewhere" / "tochka.db"
    result = CliRunner().invoke(
        app,
        ["--db", f"sqlite:///{database}", "status"],
        env={"TOCHKA_SMTP_TLS": "tls13"},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert "TOCHKA_SMTP_TLS" in result.output
    assert "«tls13»" in result.output
    assert "Traceback" not in result.output
    assert not database.parent.exists()


def test_the_database_password_is_not_in_the_repr() -> None:
    settings = load_settings({"TOCHKA_DB_URL": "postgresql://tochka:hunter2@db.example/x"})
    assert settings.db_url == "postgresql://tochka:hunter2@db.example/x"  # still usable
    for shown in (repr(settings), str(settings), pretty_repr(settings)):
        assert "hunter2" not in shown
        assert "postgresql://tochka:***@db.example/x" in shown
