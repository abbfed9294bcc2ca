"""Local faults of the database get a message that fits them (issue 11, item 9).

Each fault is real and met by the real CLI as a process: a full disk (a small tmpfs
filled up), a read-only file system (a tmpfs remounted read-only), a file of garbage, a
truncated file and a file garbled inside, a file the account may not open (the CLI run
as ``nobody`` through ``setpriv``; the tests run as root, whom a file's mode does not
stop), a file with the immutable attribute, and a PostgreSQL user without grants. Each
says what is wrong and what to do in Russian, exits 1, prints no traceback, never sends
a person to check a database server or to repeat the command for a fault of a local
file, and changes nothing (the file's bytes and its centers are as before).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from base import db
from base.errors import DatabaseDamaged, DiskFull
from tests.conftest import PG_URL

TOCHKA = str(Path(sys.executable).with_name("tochka"))
HEADER = "Код;Наименование;Муниципальное образование;Год создания;Email\n"
IS_ROOT = os.geteuid() == 0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def tochka(
    db_path: Path | str, *args: str, cwd: Path, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI as a process (as ``user`` through setpriv when given)."""
    command = [TOCHKA, "--db", str(db_path), "--now", "2021-03-01", *args]
    if user is not None:
        import pwd

        account = pwd.getpwnam(user)
        command = [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            *command,
        ]
    return subprocess.run(
        command, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=120, check=False
    )


def _csv(folder: Path, count: int, name: str = "centers.csv", prefix: str = "F") -> Path:
    rows = "".join(
        f"{prefix}{i:05d};МБОУ «Школа № {i} с длинным наименованием для объёма записи»;"
        f"Лежневский район;2021;f{i}@example.org\n"
        for i in range(count)
    )
    path = folder / name
    path.write_text(HEADER + rows, encoding="utf-8")
    path.chmod(0o644)
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database made by the CLI: the roadmap and one center."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "tochka.db"
    assert tochka(path, "init", cwd=folder).returncode == 0
    imported = tochka(path, "centers", "import", str(_csv(folder, 1)), cwd=folder)
    assert imported.returncode == 0, imported.stderr
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _centers(path: Path, cwd: Path) -> list[str]:
    listed = tochka(path, "--json", "centers", "list", cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    import json

    return [row["code"] for row in json.loads(listed.stdout)]


def assert_local_fault(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 1, each expected phrase, and none of the advice meant for other faults."""
    err = " ".join(done.stderr.split())  # a message may wrap at any width
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert err.startswith("Ошибка:"), done.stderr
    for phrase in expected:
        assert phrase in err, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "сервер" not in err, done.stderr
    assert "повторите команду" not in err.lower(), done.stderr
    assert "sqlite3." not in err, done.stderr
    assert "OperationalError" not in err, done.stderr


def _mount_tmpfs(where: Path, size: str) -> None:
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("a tmpfs for the fault needs root and mount(8); the tests do not run as root")
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is refused here: {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB file system of its own (tmpfs), unmounted after the test."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "512k")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave: int = 0) -> Path:
    """Fill the disk up, leaving about ``leave`` bytes free."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
                if free <= leave:
                    break
                out.write(b"\0" * min(4096, max(free - leave, 1)))
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_at_opening_says_so(template: Path, small_disk: Path, tmp_path: Path) -> None:
    path = small_disk / "tochka.db"
    shutil.copy(template, path)
    filler = _fill(small_disk)
    before = _digest(path)

    done = tochka(
        path, "centers", "import", str(_csv(tmp_path, 1, "one.csv", prefix="N")), cwd=tmp_path
    )

    assert_local_fault(done, "нет места", f"df -h {small_disk}")
    assert _digest(path) == before
    filler.unlink()
    assert _centers(path, tmp_path) == ["F00000"]


def test_a_disk_that_fills_during_a_write_says_so(
    template: Path, small_disk: Path, tmp_path: Path
) -> None:
    path = small_disk / "tochka.db"
    shutil.copy(template, path)
    assert _centers(path, tmp_path) == ["F00000"]  # opens: the -wal and -shm files exist
    big = _csv(tmp_path, 3000, "big.csv", prefix="B")
    filler = _fill(small_disk, leave=64 * 1024)
    before = _digest(path)

    done = tochka(path, "centers", "import", str(big), cwd=tmp_path)

    assert_local_fault(done, "нет места", "ничего не изменено")
    assert _digest(path) == before
    filler.unlink()
    assert _centers(path, tmp_path) == ["F00000"]


def test_a_read_only_file_system_says_so(template: Path, small_disk: Path, tmp_path: Path) -> None:
    path = small_disk / "tochka.db"
    shutil.copy(template, path)
    before = _digest(path)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    done = tochka(
        path, "centers", "import", str(_csv(tmp_path, 2, "two.csv", prefix="N")), cwd=tmp_path
    )

    assert_local_fault(done, "файловой системе только для чтения", "mount -o remount,rw")
    assert "нет прав" not in done.stderr
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert _digest(path) == before
    assert _centers(path, tmp_path) == ["F00000"]


def test_a_file_of_garbage_is_named_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "tochka.db"
    path.write_bytes(os.urandom(64 * 1024))
    before = _digest(path)

    for command in (["status"], ["centers", "import", str(_csv(tmp_path, 1))]):
        done = tochka(path, *command, cwd=tmp_path)
        assert_local_fault(done, "нет заголовка SQLite", "не выполняйте tochka init")
    assert _digest(path) == before


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_a_damaged_file_is_named_damaged(template: Path, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "tochka.db"
    shutil.copy(template, path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    else:  # the header intact, the pages after the first garbled
        path.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    before = _digest(path)

    done = tochka(path, "centers", "import", str(_csv(tmp_path, 2, prefix="N")), cwd=tmp_path)

    assert_local_fault(done, "повреждён", "резервной копии", ".recover")
    assert _digest(path) == before


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another account can reach (pytest's own is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="tochka-faults-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_file_of_another_account_says_whose_it_is(template: Path, shared_folder: Path) -> None:
    if not IS_ROOT or shutil.which("setpriv") is None:
        pytest.skip("running the CLI as another account needs root and setpriv(1)")
    # A clone inside a folder only its owner may enter (`mktemp -d` makes it 0700) cannot
    # be run by another account at all: there is nothing to check then, say so.
    reach = tochka(shared_folder / "probe.db", "--version", cwd=shared_folder, user="nobody")
    if "Permission denied" in reach.stderr and ".venv" in reach.stderr:
        pytest.skip("this checkout's .venv is not readable by another account (a 0700 folder)")
    path = shared_folder / "tochka.db"
    shutil.copy(template, path)
    path.chmod(0o600)
    csv = _csv(shared_folder, 2, prefix="N")
    before = _digest(path)

    done = tochka(path, "centers", "import", str(csv), cwd=shared_folder, user="nobody")

    assert_local_fault(done, "нет прав", "принадлежит root", "запущена от nobody", "sudo -u root")
    assert "chmod u+w" not in done.stderr  # the owner may write: the mode is not the cause
    assert _digest(path) == before


def test_an_immutable_file_names_the_attribute(template: Path, tmp_path: Path) -> None:
    path = tmp_path / "tochka.db"
    shutil.copy(template, path)
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode
    ):
        pytest.skip("chattr +i is not available on this file system")
    try:
        before = _digest(path)
        done = tochka(path, "centers", "import", str(_csv(tmp_path, 2, prefix="N")), cwd=tmp_path)
        assert_local_fault(done, "только для чтения", f"chattr -i {path}")
        assert "chmod u+w" not in done.stderr
        assert _digest(path) == before
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TOCHKA_TEST_PG_URL")
def test_a_postgres_user_without_grants_is_told_so(tmp_path: Path) -> None:
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    role = f"tochka_nogrant_{uuid.uuid4().hex[:8]}"
    admin = db.make_engine(PG_URL, poolclass=sa.pool.NullPool)
    base = sa.engine.make_url(db.normalize_url(PG_URL))
    owner_url = base.update_query_dict({"options": f"-csearch_path={schema_name}"})
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema_name}")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema_name} TO {role}")
    try:
        owner = owner_url.render_as_string(hide_password=False)
        assert tochka(owner, "init", cwd=tmp_path).returncode == 0
        with admin.begin() as conn:  # reading the schema's version only
            conn.exec_driver_sql(f"GRANT SELECT ON {schema_name}.alembic_version TO {role}")
        stranger = owner_url.set(username=role).render_as_string(hide_password=False)

        done = tochka(stranger, "centers", "import", str(_csv(tmp_path, 1)), cwd=tmp_path)

        err = " ".join(done.stderr.split())
        assert done.returncode == 1, done.stderr
        assert f"у пользователя «{role}» нет прав на таблицу «" in err, done.stderr
        assert "permission denied" not in err, done.stderr
        assert "GRANT" in err, done.stderr
        assert "запущен" not in err, done.stderr
        assert "повторите команду" not in err, done.stderr
        assert "Traceback" not in done.stderr
        with admin.connect() as conn:
            count = conn.exec_driver_sql(f"SELECT count(*) FROM {schema_name}.center").scalar()
        assert count == 0
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema_name} CASCADE")
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def _sqlite_error(path: Path, statements: list[str]) -> sa.exc.DBAPIError:
    """The real driver error of the last statement, wrapped as SQLAlchemy does."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    except sqlite3.Error as exc:
        return sa.exc.OperationalError(statements[-1], {}, exc)
    finally:
        conn.close()
    raise AssertionError("no error")


def test_a_local_fault_without_the_path_never_names_a_server(tmp_path: Path) -> None:
    """The daemon translates errors without the URL at hand: a SQLite file's fault is
    still named as a local one."""
    full = _sqlite_error(
        tmp_path / "full.db",
        [
            "CREATE TABLE t (x)",
            "PRAGMA max_page_count = 3",  # SQLite's own limit: a real SQLITE_FULL
            "INSERT INTO t SELECT zeroblob(100000)",
        ],
    )
    (tmp_path / "junk.db").write_bytes(b"x" * 4096)
    junk = _sqlite_error(tmp_path / "junk.db", ["SELECT * FROM sqlite_master"])
    for error, kind, phrase in (
        (full, DiskFull, "нет места"),
        (junk, DatabaseDamaged, "не база данных SQLite"),
    ):
        translated = db.database_error(error)
        assert isinstance(translated, kind)
        assert phrase in translated.message
        assert "сервер" not in str(translated)
        assert "повторите команду" not in str(translated)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_cases() -> list[Any]:
    """The same ids in every collecting process (pytest-xdist): the free port is found
    when the test runs."""
    cases = [
        pytest.param(
            "postgresql://postgres@127.0.0.1:{port}/test",
            "не принимает подключения",
            "сервер PostgreSQL запущен",
            id="refused",
        ),
        pytest.param(
            "postgresql://postgres@nosuchhost.invalid:5432/test",
            "«nosuchhost.invalid» не",
            "DNS",
            id="unknown-host",
        ),
    ]
    if PG_URL:
        server = sa.engine.make_url(db.normalize_url(PG_URL))
        role = server.set(username="tochka_no_such_role").render_as_string(hide_password=False)
        base = server.set(database="tochka_no_such_db").render_as_string(hide_password=False)
        cases += [
            pytest.param(role, "нет пользователя «tochka_no_such_role»", "createuser", id="role"),
            pytest.param(base, "нет базы «tochka_no_such_db»", "createdb", id="database"),
        ]
    return cases


@pytest.mark.parametrize(("url", "said", "advice"), _server_cases())
def test_a_server_that_cannot_be_used_is_named_in_russian(
    tmp_path: Path, url: str, said: str, advice: str
) -> None:
    done = tochka(url.replace("{port}", str(_free_port())), "status", cwd=tmp_path)
    err = " ".join(done.stderr.split())
    assert done.returncode == 1, done.stderr
    assert said in err, done.stderr
    assert advice in err, done.stderr
    for library_text in ("connection failed", "FATAL", "Errno", "Traceback", "psycopg."):
        assert library_text not in done.stderr
