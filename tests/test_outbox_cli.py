"""A center transition queues a notice in the same transaction; `outbox send` delivers it."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from tests.conftest import SHIPPED
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import EVENT

Cli = Callable[..., Result]


def test_fire_queues_a_notice_and_send_writes_the_letter(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail_dir = tmp_path / "mail"
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(mail_dir))
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
    csv = tmp_path / "c.csv"
    csv.write_text(
        "code,name,municipality,cohort,email\n"
        "S1,МБОУ «Школа № 1»,Шуйский район,2021,s1@example.org\n",
        encoding="utf-8",
    )
    # Dated before the transition: an act is never recorded before its object's last event.
    assert cli("--now", "2021-03-01", "centers", "import", str(csv)).exit_code == 0
    fired = cli("--now", "2021-03-02", "centers", "fire", "S1", "agree_infrastructure")
    assert fired.exit_code == 0, fired.output

    queued = json.loads(cli("--json", "outbox", "list").output)
    assert [(q["recipient"], q["status"], q["kind"]) for q in queued] == [
        ("s1@example.org", "pending", queued[0]["kind"])
    ]
    assert "Инфраструктурный лист согласован" in queued[0]["subject"]

    sent = cli("--now", "2021-03-02T10:00:00+03:00", "outbox", "send")
    assert sent.exit_code == 0, sent.output
    assert "Отправлено: 1" in sent.output
    assert (
        json.loads(cli("--json", "outbox", "list", "--status", "sent").output)[0]["id"]
        == queued[0]["id"]
    )
    files = list(mail_dir.glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "s1@example.org"
    # To the school only: the coordinator reads the week's marks in its weekly summary.
    assert message["Cc"] is None
    assert "Инфраструктурный лист согласован" in str(message["Subject"])

    again = cli("--now", "2021-03-02T10:05:00+03:00", "outbox", "send")
    assert "Отправлено: 0" in again.output
    assert len(list(mail_dir.glob("*.eml"))) == 1
    # A sent letter is not queued again; the refusal speaks Russian only.
    retried = cli("outbox", "retry", str(queued[0]["id"]))
    assert retried.exit_code == 1
    assert f"Письмо № {queued[0]['id']} нельзя повторить: уже отправлено" in retried.output
    assert "sent" not in retried.output


def test_outbox_retry_of_an_unknown_row_is_refused(cli: Cli, stored: StoredRoadmap) -> None:
    result = cli("outbox", "retry", "999")
    assert result.exit_code == 1
    assert "999" in result.output


def test_login_without_tls_to_another_host_is_refused_in_russian(
    cli: Cli, stored: StoredRoadmap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCHKA_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("TOCHKA_SMTP_TLS", "none")
    monkeypatch.setenv("TOCHKA_SMTP_USER", "tochka")
    monkeypatch.setenv("TOCHKA_SMTP_PASSWORD", "s3cret-pw")
    result = cli("outbox", "send")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert (
        "TOCHKA_SMTP_TLS=none с логином TOCHKA_SMTP_USER: пароль ушёл бы на smtp.example.org "
        "открытым текстом." in text
    )
    assert "Traceback" not in result.output
    assert "s3cret-pw" not in result.output


def test_settings_never_show_the_password() -> None:
    from workflow.config import load_settings

    settings = load_settings({"TOCHKA_SMTP_PASSWORD": "s3cret-pw", "TOCHKA_SMTP_USER": "u"})
    assert settings.smtp_password == "s3cret-pw"
    assert "s3cret-pw" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TOCHKA_GIVE_UP_AFTER_DAYS", "0", "TOCHKA_GIVE_UP_AFTER_DAYS: «0» — нужно целое число"),
        ("TOCHKA_MAX_ATTEMPTS", "0", "TOCHKA_MAX_ATTEMPTS: «0» — нужно целое число не меньше 1."),
        ("TOCHKA_GIVE_UP_AFTER_DAYS", "две недели", "Параметр «give_up_after_days»"),
    ],
)
def test_bad_delivery_settings_are_refused(
    cli: Cli,
    stored: StoredRoadmap,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    result = cli("outbox", "send")
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_the_outbox_with_two_roadmaps(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Letters of every roadmap share one outbox: a coordinator of any roadmap sends them;
    someone who coordinates none is refused (and recorded)."""
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(tmp_path / "mail"))
    other = tmp_path / "other.yaml"
    other.write_text(
        SHIPPED.read_text(encoding="utf-8").replace(
            "code: ivanovo-2021-2023", "code: other-2021-2023"
        ),
        encoding="utf-8",
    )
    loaded = cli("init", "--roadmap", str(other), actor="second")
    assert loaded.exit_code == 0, loaded.output
    assert cli("outbox", "send", actor="operator").exit_code == 0  # first roadmap only
    assert cli("outbox", "send", actor="second").exit_code == 0  # second roadmap only
    assert cli("outbox", "send", "--roadmap", "other-2021-2023", actor="second").exit_code == 0
    named = cli("outbox", "send", "--roadmap", "ivanovo-2021-2023", actor="second")
    assert named.exit_code == 1
    assert "Отказано: second" in " ".join(named.output.split())
    stranger = cli("outbox", "send", actor="stranger")
    assert stranger.exit_code == 1
    with engine.connect() as conn:
        refusals = conn.execute(
            sa.select(EVENT.c.actor, EVENT.c.trigger).where(EVENT.c.entity_kind == "refusal")
        ).all()
    assert [tuple(r) for r in refusals] == [
        ("second", "manage_outbox"),
        ("stranger", "manage_outbox"),
    ]
