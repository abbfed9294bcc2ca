"""Letters queued by a command run with ``--now`` in the past, sent today by the real
CLI against a server answering 451: retried (the age is real time since queuing), and
`tochka outbox list` says when the next attempt is. The delivery settings are checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import Result

from workflow.config import Settings
from workflow.errors import InputError
from workflow.mailer import delivery_policy
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]


def _smtp_env(monkeypatch: pytest.MonkeyPatch, server: Any) -> None:
    monkeypatch.setenv("TOCHKA_SMTP_HOST", server.host)
    monkeypatch.setenv("TOCHKA_SMTP_PORT", str(server.port))
    monkeypatch.setenv("TOCHKA_SMTP_TLS", "none")
    monkeypatch.setenv("TOCHKA_SMTP_TIMEOUT", "5")
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")


def test_letters_queued_with_a_past_now_are_retried_and_listed_with_the_next_attempt(
    cli: Cli,
    stored: StoredRoadmap,
    smtp_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(
        "code,name,municipality,cohort,email\n"
        "S1,МБОУ «Школа № 1»,Шуйский район,2021,school1@school.ivanovo.ru\n"
        "S2,МБОУ «Школа № 2»,Шуйский район,2021,s2@example.org\n",
        encoding="utf-8",
    )
    assert cli("--now", "2022-08-10", "centers", "import", str(csv)).exit_code == 0
    for code in ("S1", "S2"):
        fired = cli("--now", "2022-08-11", "centers", "fire", code, "agree_infrastructure")
        assert fired.exit_code == 0, fired.output
    queued = json.loads(cli("--json", "outbox", "list").output)
    assert len(queued) == 2
    real = datetime.now(UTC)
    for letter in queued:
        assert letter["next_attempt_at"].startswith("2022-08-1")
        assert abs(datetime.fromisoformat(letter["queued_at"]) - real) < timedelta(minutes=5)

    smtp_server.handler.on_data = lambda envelope: "451 4.3.0 Try again later"
    _smtp_env(monkeypatch, smtp_server)
    sent = cli("outbox", "send")  # today, by the real clock, as the daemon would
    assert sent.exit_code == 0, sent.output
    assert "будет повторено: 2, не доставлено: 0" in sent.output
    failed = json.loads(cli("--json", "outbox", "list").output)
    assert [f["status"] for f in failed] == ["failed", "failed"]
    retry_at = [datetime.fromisoformat(f["next_attempt_at"]) for f in failed]
    assert all(real < at < real + timedelta(minutes=5) for at in retry_at)

    # The table names the next attempt (Moscow time) and fits 80 columns.
    monkeypatch.setattr("workflow.cli.listing.terminal_width", lambda stream=None: 80)
    table = cli("outbox", "list").output
    lines = table.splitlines()
    assert lines[0] == "Письма: 2 (время московское)"
    assert lines[2].split() == [
        "№",
        "статус",
        "когда",
        "кому",
        "тема",
        "ошибка",
    ]
    assert max(len(line) for line in lines) <= 80, table
    assert "(попыток: 1)" in table  # the attempts made, in the status
    moscow = retry_at[0].astimezone(ZoneInfo("Europe/Moscow"))
    assert f"{moscow:%d.%m}" in table
    assert f"{moscow:%H:%M}" in table
    # Due letters say so; a date of another year is written with its year.
    assert (
        "сейчас" in cli("--now", (real + timedelta(hours=1)).isoformat(), "outbox", "list").output
    )
    assert f"{moscow:%d.%m.%Y}" in cli("--now", "2022-08-11", "outbox", "list").output

    # Once sent, nothing is shown in that column.
    smtp_server.handler.on_data = None
    later = cli("--now", (real + timedelta(hours=1)).isoformat(), "outbox", "send")
    assert "Отправлено: 2" in later.output
    done = cli("outbox", "list").output
    assert f"{moscow:%H:%M}" not in done.split("\n", 3)[3]


def test_the_lease_is_a_setting_and_must_outlast_a_slow_letter() -> None:
    assert delivery_policy(Settings())["lease_seconds"] == 600
    assert delivery_policy(Settings(outbox_lease_seconds=20.0))["lease_seconds"] == 20
    ok = Settings(smtp_host="smtp.example.org", smtp_timeout=5.0, outbox_lease_seconds=20.0)
    assert delivery_policy(ok)["lease_seconds"] == 20
    short = Settings(smtp_host="smtp.example.org", smtp_timeout=30.0, outbox_lease_seconds=60.0)
    with pytest.raises(InputError) as refused:
        delivery_policy(short)
    assert str(refused.value).startswith(
        "TOCHKA_OUTBOX_LEASE_SECONDS=60 меньше 4 × TOCHKA_SMTP_TIMEOUT=30"
    )
    assert "120 с" in (refused.value.hint or "")


def test_a_wrong_lease_is_refused_in_russian() -> None:
    from workflow.config import load_settings

    assert load_settings({"TOCHKA_OUTBOX_LEASE_SECONDS": "45"}).outbox_lease_seconds == 45
    with pytest.raises(InputError) as refused:
        load_settings({"TOCHKA_OUTBOX_LEASE_SECONDS": "5"})
    assert str(refused.value).startswith(
        "Параметр «outbox_lease_seconds», TOCHKA_OUTBOX_LEASE_SECONDS: «5» — "
        "нужно число секунд не меньше 10."
    )
