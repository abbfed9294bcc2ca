"""A center transition queues a notice in the same transaction; `outbox send` delivers it."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from workflow.roadmap_store import StoredRoadmap

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
    assert cli("centers", "import", str(csv)).exit_code == 0
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
    assert message["Cc"].addresses[0].addr_spec == stored.definition.party("department").email
    assert "Инфраструктурный лист согласован" in str(message["Subject"])

    again = cli("--now", "2021-03-02T10:05:00+03:00", "outbox", "send")
    assert "Отправлено: 0" in again.output
    assert len(list(mail_dir.glob("*.eml"))) == 1


def test_outbox_retry_of_an_unknown_row_is_refused(cli: Cli, stored: StoredRoadmap) -> None:
    result = cli("outbox", "retry", "999")
    assert result.exit_code == 1
    assert "999" in result.output
