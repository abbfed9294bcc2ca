"""``tochka backup -o FILE`` and ``tochka backup verify FILE`` (issue 11, item 3).

The copy is made by SQLite's online backup API while the database stays open, is
owner-only and self-contained (no ``-wal``), and is checked read-only: its integrity,
its chain from genesis, and the kept heads (a copy older than an anchor is counted, a
rewritten copy is refused). PostgreSQL gets the ``pg_dump`` advice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import bypass_append_only
from tests.test_audit_anchors import _rechain
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]


def _text(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def anchor_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "anchors").mkdir()
    path = tmp_path / "anchors" / "anchors.tsv"
    monkeypatch.setenv("TOCHKA_ANCHOR_FILE", str(path))
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only (overrides conftest's): the backup API is SQLite's; PostgreSQL gets
    the pg_dump advice, which needs no server (tested below)."""
    return f"sqlite:///{tmp_path / 'var' / 'tochka.db'}"


def test_a_copy_verifies_and_an_older_copy_is_counted_not_refused(
    cli: Cli,
    db_url: str,
    stored: StoredRoadmap,
    centers3: list[CenterRow],
    anchor_file: Path,
    tmp_path: Path,
) -> None:
    assert cli("audit", "anchor").exit_code == 0
    copy = tmp_path / "copies" / "tochka-copy.db"
    copy.parent.mkdir()
    made = cli("backup", "-o", str(copy))
    assert made.exit_code == 0, made.output
    assert f"Копия базы записана в {copy}" in _text(made)
    assert copy.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{copy}-wal").exists()
    # The database goes on; its new head is anchored after the copy was made.
    fired = cli("--now", "2021-02-01", "centers", "fire", "C00000", "agree_infrastructure")
    assert fired.exit_code == 0
    assert cli("audit", "anchor").exit_code == 0
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    verified = cli("--json", "backup", "verify", str(copy))
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["integrity"] == "ok"
    [roadmap] = report["roadmaps"]
    assert (roadmap["anchors_checked"], roadmap["anchors_newer"]) == (1, 1)
    # Opened read-only: the copy is byte for byte what it was, nothing beside it.
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in copy.parent.iterdir()) == ["tochka-copy.db"]


def test_a_rewritten_copy_is_refused(
    cli: Cli,
    db_url: str,
    stored: StoredRoadmap,
    centers3: list[CenterRow],
    anchor_file: Path,
    tmp_path: Path,
) -> None:
    assert cli("audit", "anchor").exit_code == 0
    copy = tmp_path / "copy.db"
    assert cli("backup", "-o", str(copy)).exit_code == 0
    tampered = db.make_engine(f"sqlite:///{copy}")
    try:
        with db.write(tampered) as conn:
            bypass_append_only(conn)
            conn.exec_driver_sql("UPDATE event SET actor = 'someone-else' WHERE seq = 2")
            _rechain(conn, stored.id)
    finally:
        tampered.dispose()
    refused = cli("backup", "verify", str(copy))
    assert refused.exit_code == 1
    assert "«ivanovo-2021-2023» переписан" in _text(refused)


def test_backup_output_and_input_errors_are_russian(
    cli: Cli, db_url: str, stored: StoredRoadmap, tmp_path: Path
) -> None:
    missing = cli("backup", "-o", str(tmp_path / "no" / "such" / "copy.db"))
    assert missing.exit_code == 1
    assert f"Папка «{tmp_path / 'no' / 'such'}» не существует: файл копии не записан." in (
        _text(missing)
    )
    folder = cli("backup", "-o", str(tmp_path))
    assert folder.exit_code == 1
    assert f"«{tmp_path}» — папка, а не файл: файл копии не записан." in _text(folder)
    itself = cli("backup", "-o", db_url.removeprefix("sqlite:///"))
    assert itself.exit_code == 1
    assert "сама база: копия не записана" in _text(itself)
    nothing = cli("backup")
    assert nothing.exit_code == 2
    assert "Не указан файл копии" in _text(nothing)
    absent = cli("backup", "verify", str(tmp_path / "absent.db"))
    assert absent.exit_code == 1
    assert "не найдена" in _text(absent)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    refused = cli("backup", "verify", str(junk))
    assert refused.exit_code == 1
    assert "не база данных SQLite" in _text(refused)
    assert "Traceback" not in refused.output


def test_postgresql_gets_the_pg_dump_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from workflow.cli.app import app

    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "operator")
    url = "postgresql://postgres@127.0.0.1:5432/test"
    advised = CliRunner().invoke(app, ["--db", url, "backup", "-o", str(tmp_path / "copy.db")])
    assert advised.exit_code == 2
    text = _text(advised)
    assert "PostgreSQL: её копию делает pg_dump" in text
    assert "pg_dump -Fc" in text
    assert not (tmp_path / "copy.db").exists()


def test_a_copy_made_while_a_write_transaction_is_open_holds_only_committed_data(
    cli: Cli, db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    from tests.conftest import T0
    from workflow.storage.tables import USER

    copy = tmp_path / "copy.db"
    with db.write(engine) as conn:  # the write lock held, a row not yet committed
        conn.execute(
            sa.insert(USER).values(
                roadmap_id=stored.id,
                login="uncommitted",
                role="viewer",
                scope=None,
                created_by="test",
                created_at=T0,
            )
        )
        made = cli("backup", "-o", str(copy))
        assert made.exit_code == 0, made.output
    assert cli("backup", "verify", str(copy)).exit_code == 0
    with sqlite3.connect(copy) as conn:
        logins = {row[0] for row in conn.execute("SELECT login FROM app_user")}
    assert "uncommitted" not in logins
    assert "operator" in logins


def test_restoring_an_older_copy_is_named_until_the_restore_is_recorded(
    cli: Cli,
    db_url: str,
    engine: Engine,
    stored: StoredRoadmap,
    centers3: list[CenterRow],
    anchor_file: Path,
    tmp_path: Path,
) -> None:
    import shutil

    copy = tmp_path / "copy.db"
    assert cli("backup", "-o", str(copy)).exit_code == 0
    fired = cli("--now", "2021-02-01", "centers", "fire", "C00000", "agree_infrastructure")
    assert fired.exit_code == 0
    assert cli("audit", "anchor").exit_code == 0
    engine.dispose()
    live = Path(db_url.removeprefix("sqlite:///"))
    for extra in (Path(f"{live}-wal"), Path(f"{live}-shm")):
        extra.unlink(missing_ok=True)
    shutil.copyfile(copy, live)  # the restore: the last transition is lost
    lost = cli("audit", "verify")
    assert lost.exit_code == 1
    assert "события удалены" in _text(lost)
    recorded = cli("audit", "anchor", "--restored")
    assert recorded.exit_code == 0, recorded.output
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "Сохранённых заголовков подтверждено: 1." in _text(verified)
