"""``tochka init`` never initialises over lost data (issue 11, item 2).

A database truncated to 0 bytes or deleted, while the anchor file remembers its chain, is
refused with the last known head and the backup advice, and nothing is recreated; so is
a file that is not a Tochka database. ``--new`` says the new database is meant;
``--upgrade-only`` (the systemd unit's form) never creates one. A fresh clone (no
database, no anchors) is still created by plain ``init`` (``make run``). Run through the
real ``tochka`` process, as the systemd unit runs it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from base import db

TOCHKA = str(Path(sys.executable).with_name("tochka"))


@pytest.fixture
def here(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    (tmp_path / "anchors").mkdir()
    return tmp_path


def _env(here: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["TOCHKA_ANCHOR_FILE"] = str(here / "anchors" / "anchors.tsv")
    env["COLUMNS"] = "200"
    return env | extra


def _tochka(
    here: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOCHKA, *args],
        cwd=here / "work",
        env=env or _env(here),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stdout + done.stderr).split())


def _initialised(here: Path) -> tuple[Path, str]:
    """A database with a few events, its head anchored; (its file, the head)."""
    first = _tochka(here, "init")
    assert first.returncode == 0, first.stderr
    assert _tochka(here, "users", "add", "ivanova", "--role", "viewer").returncode == 0
    anchored = _tochka(here, "audit", "anchor")
    assert anchored.returncode == 0, anchored.stderr
    head = anchored.stdout.split("заголовок ", 1)[1].split(" ", 1)[0]
    return here / "work" / "var" / "tochka.db", head


def test_a_truncated_database_with_anchors_is_refused_and_stays_empty(here: Path) -> None:
    path, head = _initialised(here)
    path.write_bytes(b"")
    for wal in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        wal.unlink(missing_ok=True)
    for args in (["init"], ["init", "--upgrade-only"]):
        refused = _tochka(here, *args)
        assert refused.returncode == 1, refused.stdout
        said = _said(refused)
        assert "Файл базы var/tochka.db пуст (0 байт)" in said
        assert f"Последний известный заголовок журнала: «ivanovo-2021-2023» {head}" in said
        assert "восстановите базу из резервной копии" in said
        assert "Traceback" not in said
        assert path.stat().st_size == 0  # nothing recreated
        assert not Path(f"{path}-wal").exists()


def test_a_deleted_database_with_anchors_is_refused_and_not_recreated(here: Path) -> None:
    path, head = _initialised(here)
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)
    refused = _tochka(here, "init")
    assert refused.returncode == 1
    said = _said(refused)
    assert "База данных var/tochka.db не найдена, а файл якорей" in said
    assert "помнит журнал этой базы" in said
    assert f"«ivanovo-2021-2023» {head}" in said
    assert "tochka init --new" in said
    assert not path.exists()
    upgrade = _tochka(here, "init", "--upgrade-only")
    assert upgrade.returncode == 1
    assert "init --upgrade-only: база данных var/tochka.db не найдена" in _said(upgrade)
    assert not path.exists()


def test_new_recreates_on_purpose_and_restarts_the_anchor_record(here: Path) -> None:
    path, _ = _initialised(here)
    path.unlink()
    created = _tochka(here, "init", "--new")
    assert created.returncode == 0, created.stderr
    verified = _tochka(here, "audit", "verify")
    assert verified.returncode == 0, verified.stderr  # the old heads no longer apply
    assert "Сохранённых заголовков подтверждено: 1." in _said(verified)
    again = _tochka(here, "init", "--new")
    assert again.returncode == 1
    assert "--new: база уже содержит схему Tochka" in _said(again)
    assert _tochka(here, "init").returncode == 0  # plain init stays repeatable


def test_a_fresh_clone_is_created_by_plain_init_and_upgrade_only_never_creates(
    here: Path,
) -> None:
    env = _env(here)
    del env["TOCHKA_ANCHOR_FILE"]  # make run on a fresh clone: no anchors configured
    refused = _tochka(here, "init", "--upgrade-only", env=env)
    assert refused.returncode == 1
    assert "этот режим только обновляет существующую базу" in _said(refused)
    assert not (here / "work" / "var" / "tochka.db").exists()
    created = _tochka(here, "init", env=env)
    assert created.returncode == 0, created.stderr
    assert "схема создана" in created.stdout
    upgraded = _tochka(here, "init", "--upgrade-only", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "схема уже актуальна" in upgraded.stdout


def test_an_empty_file_without_anchors_needs_new_too(here: Path) -> None:
    path = here / "work" / "empty.db"
    path.write_bytes(b"")
    refused = _tochka(here, "--db", str(path), "init")
    assert refused.returncode == 1
    assert "пуст (0 байт)" in _said(refused)
    assert path.stat().st_size == 0
    assert _tochka(here, "--db", str(path), "init", "--new").returncode == 0
    assert path.stat().st_size > 0


def test_a_file_that_is_not_a_tochka_database_is_left_alone(here: Path) -> None:
    text = here / "work" / "notes.db"
    text.write_text("not a database\n")
    refused = _tochka(here, "--db", str(text), "init")
    assert refused.returncode == 1
    assert "не база данных SQLite" in _said(refused)
    assert text.read_text() == "not a database\n"
    other = here / "work" / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x)")
    before = other.read_bytes()
    refused = _tochka(here, "--db", str(other), "init")
    assert refused.returncode == 1
    assert "база SQLite, но не Tochka" in _said(refused)
    assert other.read_bytes() == before
    assert not Path(f"{other}-wal").exists()
    both = _tochka(here, "--db", str(other), "init", "--new", "--upgrade-only")
    assert both.returncode == 1
    assert "вместе не бывают" in _said(both)


@pytest.mark.postgres
def test_a_postgresql_database_without_schema_that_the_anchors_remember_is_refused(
    db_url: str, here: Path
) -> None:
    from workflow.engine import anchors

    (here / "anchors" / "anchors.tsv").write_text(
        f"ivanovo-2021-2023\t54\t{'ab' * 32}\t2026-12-01T09:00:00+00:00\t"
        f"{anchors.database_id(db_url)}\n"
    )
    refused = _tochka(here, "--db", db_url, "init")
    assert refused.returncode == 1, refused.stdout
    said = _said(refused)
    assert "нет схемы Tochka, а файл якорей" in said
    assert f"«ivanovo-2021-2023» 54:{'ab' * 32}" in said
    engine = db.make_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            assert db.check_schema(conn, ("0001",)) is None  # nothing created
            # The refusal came before Alembic: not even its version table.
            assert conn.exec_driver_sql("SELECT to_regclass('alembic_version')").scalar() is None
    finally:
        engine.dispose()


def test_a_missing_anchor_folder_is_refused_before_anything_is_created(here: Path) -> None:
    env = _env(here, TOCHKA_ANCHOR_FILE=str(here / "no-such-folder" / "anchors.tsv"))
    refused = _tochka(here, "init", env=env)
    assert refused.returncode == 1
    assert "файла якорей (anchor_file, TOCHKA_ANCHOR_FILE) не существует" in _said(refused)
    assert not (here / "work" / "var").exists()
