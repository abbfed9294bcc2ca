"""Ctrl-C (issue 10, item 6): «Прервано: ничего не изменено», exit 130, and it is true.

A real ``tochka centers import`` is stopped by SIGINT in the middle of its transaction
(the audit step is made to wait, and says when it has begun): nothing of the import is in
the database afterwards. An interruption after a commit says that something was written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from base import db
from workflow.cli.usage import EXIT_INTERRUPTED, interrupted
from workflow.storage.tables import CENTER, EVENT

# Runs the real entry point with the audit step of the import held until SIGINT arrives.
_HELD_IMPORT = """
import pathlib, sys, time
import workflow.engine.audit as audit

MARKER = pathlib.Path(sys.argv[1])

def held(*args, **kwargs):
    MARKER.write_text("in the transaction")
    time.sleep(60)

audit.append = held
sys.argv = ["tochka", *sys.argv[2:]]
from workflow.cli.app import main
main()
"""


_TOCHKA = str(Path(sys.executable).with_name("tochka"))


def _tochka(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_TOCHKA, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def _counts(url: str) -> tuple[int, int]:
    engine = db.make_engine(url)
    try:
        with db.read(engine) as conn:
            centers = conn.execute(sa.select(sa.func.count()).select_from(CENTER)).scalar_one()
            events = conn.execute(sa.select(sa.func.max(EVENT.c.seq))).scalar_one()
    finally:
        engine.dispose()
    return int(centers), int(events or 0)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    return {
        **clean,
        "TOCHKA_VAR_DIR": str(tmp_path / "var"),
        "TOCHKA_DB_URL": f"sqlite:///{tmp_path / 'var' / 'tochka.db'}",
    }


def test_ctrl_c_in_an_import_changes_nothing_and_says_so(
    tmp_path: Path, env: dict[str, str]
) -> None:
    init = _tochka("--now", "2021-01-11", "init", env=env)
    assert init.returncode == 0, init.stderr
    before = _counts(env["TOCHKA_DB_URL"])
    csv = tmp_path / "c.csv"
    csv.write_text(
        "code,name,municipality,cohort,email\n"
        + "".join(
            f"S{i},МБОУ «Школа № {i}»,Шуйский район,2021,s{i}@example.org\n" for i in range(50)
        ),
        encoding="utf-8",
    )
    marker = tmp_path / "held"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _HELD_IMPORT,
            str(marker),
            "--now",
            "2021-03-01",
            "centers",
            "import",
            str(csv),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the import never reached its transaction"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == EXIT_INTERRUPTED, (out, err)
    assert err.strip() == "Прервано: ничего не изменено."
    assert "Traceback" not in out + err
    # True: the centers inserted before the interruption were rolled back with it.
    assert _counts(env["TOCHKA_DB_URL"]) == before == (0, before[1])
    listed = _tochka("--json", "centers", "list", env=env)
    assert json.loads(listed.stdout) == []


def test_an_interruption_after_a_commit_says_what_was_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    interrupted(2)
    err = capsys.readouterr().err
    assert "Прервано. До прерывания записано изменений: 2, каждое целиком" in err
    assert "ничего не изменено" not in err


def test_under_json_the_interruption_is_the_error_object(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["tochka", "--json", "centers", "import", "c.csv"])
    interrupted(0)
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["message"] == "Прервано: ничего не изменено."
    assert error["exit_code"] == EXIT_INTERRUPTED
