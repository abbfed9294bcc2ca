"""``tochka init`` and the database's files (issue 10, item 3); ``--db`` forms (item 6).

init sets the mode of what it creates and of nothing else: an existing database keeps the
mode its owner gave it (a read-only archive is refused, not made writable), and ``./var``
is created only when the database goes into it. A database Tochka may not write gets a
message that says why and what to do, not «повторите команду».
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from base import db
from workflow.cli.app import app


def _run(*args: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "operator")
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _text(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder with no TOCHKA_* settings."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("TOCHKA_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_a_database_elsewhere_creates_no_var_folder(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "shared").mkdir()
    result = _run("--db", "shared/tochka.db", "init", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in here.iterdir()) == ["shared"]
    assert (here / "shared" / "tochka.db").stat().st_mode & 0o777 == 0o600
    # The default database lives in Tochka's own folder, which init creates owner-only.
    default = _run("init", monkeypatch=monkeypatch)
    assert default.exit_code == 0, default.output
    assert (here / "var").stat().st_mode & 0o777 == 0o700
    assert (here / "var" / "tochka.db").stat().st_mode & 0o777 == 0o600


def test_a_group_gets_the_folder_init_creates(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import grp

    group = grp.getgrgid(os.getgid())
    monkeypatch.setenv("TOCHKA_FILE_MODE_GROUP", group.gr_name)
    result = _run("init", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert (here / "var").stat().st_mode & 0o7777 == 0o2770
    assert (here / "var").stat().st_gid == group.gr_gid
    assert (here / "var" / "tochka.db").stat().st_mode & 0o777 == 0o660


def test_init_never_changes_an_existing_databases_mode(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = here / "t.db"
    assert _run("--db", str(path), "init", monkeypatch=monkeypatch).exit_code == 0
    before = path.read_bytes()
    path.chmod(0o444)
    refused = _run("--db", str(path), "init", monkeypatch=monkeypatch)
    assert refused.exit_code == 1
    assert path.stat().st_mode & 0o777 == 0o444
    assert path.read_bytes() == before
    assert f"Ошибка: База данных {path} защищена от записи: init её не меняет." in _text(refused)
    assert "права 0444" in _text(refused)
    assert f"chmod u+w {path}" in _text(refused)
    assert "повторите" not in refused.output
    # A mode wider than Tochka's is left alone too, and said.
    path.chmod(0o644)
    again = _run("--db", str(path), "init", monkeypatch=monkeypatch)
    assert again.exit_code == 0, again.output
    assert path.stat().st_mode & 0o777 == 0o644
    assert "права файла базы" in again.output
    assert "init их не меняет" in _text(again)


def test_init_creates_no_folder_for_a_typo(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run("--db", "nowhere/sub/t.db", "init", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    assert "Папка nowhere/sub не существует: база данных не создана." in _text(result)
    assert "mkdir -p nowhere/sub" in result.output
    assert list(here.iterdir()) == []


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("var/tochka.db", "sqlite:///var/tochka.db"),
        ("/srv/t.db", "sqlite:////srv/t.db"),
        ("t.sqlite3", "sqlite:///t.sqlite3"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_db_takes_a_plain_path_as_sqlite(given: str, url: str) -> None:
    assert db.normalize_url(given) == url


@pytest.mark.parametrize(
    "given",
    ["garbage", "mysql://x", "mysql://u:pw@h/d", "sqlite:t.db", "postgresql+psycopg2://h/d"],
)
def test_db_refuses_an_unsupported_url_with_the_forms(
    given: str, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run("--db", given, "status", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    text = _text(result)
    assert "не путь к файлу SQLite и не адрес поддерживаемой базы данных" in text
    assert "sqlite:///путь/к/файлу.db или postgresql://пользователь@сервер/база" in text
    assert "pw" not in text
    assert list(here.iterdir()) == []


def test_a_plain_path_works_as_the_help_says(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "var").mkdir()
    assert _run("--db", "var/tochka.db", "init", monkeypatch=monkeypatch).exit_code == 0
    status = _run("--db", "var/tochka.db", "status", monkeypatch=monkeypatch)
    assert status.exit_code == 0, status.output


def _readonly_error(path: Path) -> sa.exc.OperationalError:
    """A real SQLite refusal to write: the file opened read-only (as root, a file's mode
    does not stop writing, so the test opens it read-only instead)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("CREATE TABLE t (x)")
    except sqlite3.OperationalError as exc:
        return sa.exc.OperationalError("CREATE TABLE t (x)", {}, exc)
    finally:
        conn.close()
    raise AssertionError("a read-only connection wrote")


def test_a_read_only_database_gets_advice_that_fits(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    sqlite3.connect(path).close()
    path.chmod(0o444)
    error = db.database_error(_readonly_error(path), f"sqlite:///{path}")
    assert (
        error.message
        == f"База данных sqlite:///{path} открыта только для чтения: ничего не изменено."
    )
    assert error.hint is not None
    assert "права 0444" in error.hint
    assert f"chmod u+w {path}" in error.hint
    assert "повторите" not in error.hint
    # Writable file, folder closed to writing (SQLite's -wal and -shm files go beside it).
    path.chmod(0o644)
    assert "нужна запись в папку" in (
        db.database_error(_readonly_error(path), str(path)).hint or ""
    )


def test_other_database_errors_name_their_cause(tmp_path: Path) -> None:
    locked = sa.exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
    assert "занята другой программой" in db.database_error(locked).message
    (tmp_path / "notes.db").write_text("not a database")
    foreign = sa.exc.DatabaseError("SELECT", {}, sqlite3.DatabaseError("file is not a database"))
    error = db.database_error(foreign, str(tmp_path / "notes.db"))
    assert "файл не база данных SQLite или повреждён" in error.message
    folder = sa.exc.OperationalError(
        "x", {}, sqlite3.OperationalError("unable to open database file")
    )
    assert "папка, а не файл" in db.connect_error(str(tmp_path), folder).message
