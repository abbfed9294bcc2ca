"""``tochka replies import / list / show`` as processes, on a letter Tochka really sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.replies_mail import PDF, reply, sent_letter
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]
TOCHKA = str(Path(sys.executable).with_name("tochka"))


def _tochka(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run(
        [TOCHKA, "--db", db_url, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_import_list_and_show(
    cli: Cli,
    db_url: str,
    stored: StoredRoadmap,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    from tests.conftest import grant
    from workflow.engine.identity import os_login

    letter = sent_letter(cli, tmp_path, monkeypatch)
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "1.eml").write_bytes(reply(letter))
    (folder / "2.eml").write_bytes(reply(letter, sender="other@example.net", message_id="<o@x>"))
    from base import db

    engine = db.make_engine(db_url)
    grant(engine, stored.id, [os_login()], "coordinator")
    engine.dispose()

    imported = _tochka(db_url, "replies", "import", str(folder))
    assert imported.returncode == 0, imported.stderr
    assert "№\u00a01 — ответ на письмо" in imported.stdout
    assert "№\u00a02 — карантин: отправитель other@example.net не адресат письма" in (
        imported.stdout
    )
    again = _tochka(db_url, "replies", "import", str(folder / "1.eml"))
    assert "уже записано (№\u00a01), пропущено" in again.stdout
    assert "Записано писем: 0 из 1." in again.stdout + again.stderr

    listed = _tochka(db_url, "--json", "replies", "list", "--state", "карантин")
    assert [r["from"] for r in json.loads(listed.stdout)] == ["other@example.net"]
    table = _tochka(db_url, "--wide", "replies", "list")
    assert "Входящие письма: 2" in table.stdout
    assert "ждёт решения координатора" in table.stdout

    shown = _tochka(db_url, "replies", "show", "1")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Входящее письмо №\u00a01: ответ на письмо" in out
    assert "(по заголовку In-Reply-To)" in out
    assert f"Приказ №5.pdf — {len(PDF)}\u00a0Б, SHA-256 {hashlib.sha256(PDF).hexdigest()}" in out
    assert "  Добрый день! Приказ во вложении." in out
    assert "пишет:" not in out
    assert "> " not in out

    for args, says in [
        (("replies", "show", "99"), "Входящего письма № 99 нет."),
        (("replies", "list", "--state", "спам"), "Неизвестное состояние письма «спам»."),
        (("replies", "import", str(tmp_path / "нет.eml")), "не найдены"),
    ]:
        refused = _tochka(db_url, *args)
        assert refused.returncode != 0
        assert says in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
