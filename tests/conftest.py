"""Shared fixtures: one database fixture parametrized over SQLite and PostgreSQL.

PostgreSQL tests run when ``TOCHKA_TEST_PG_URL`` is set (``make test`` sets it when a
local server answers; ``.ci/run`` requires it). Each test gets its own PostgreSQL schema
(named in the URL's ``search_path``), so tests and subprocesses see the same database
and never each other's rows.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from workflow.engine import centers
from workflow.imports.centers_file import CenterRow
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap
from workflow.storage import schema

PG_URL = os.environ.get("TOCHKA_TEST_PG_URL", "")
# The tests mail example.org addresses through a local SMTP server (aiosmtpd): the hold on
# placeholder addresses (workflow.roadmap.placeholders) is lifted for the whole session,
# CLI processes included; tests of the hold set it back.
os.environ["TOCHKA_ALLOW_PLACEHOLDER_ADDRESSES"] = "true"
# The tests start the real `tochka` as a process some hundreds of times. An installed
# program runs from compiled bytecode; a work environment that says
# PYTHONDONTWRITEBYTECODE (so that the source tree gets no __pycache__) would make every
# one of those processes compile Tochka's modules again (some 0.15 s of CPU each). The
# processes the tests start keep their bytecode in a cache of their own outside the tree
# instead (Python checks each file's source mtime and size, so an edited module is
# compiled again; a test that needs its own cache, benchmarks/bench_cli.py, sets it).
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    os.environ.setdefault(
        "PYTHONPYCACHEPREFIX",
        str(Path(tempfile.gettempdir()) / f"tochka-tests-pycache-{os.getuid()}"),
    )
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Put the root logger's handlers back after each test: a command run in-process
    (``daemon run`` calls ``scheduler.configure_logging``) points them at the CliRunner's
    stderr, which is closed when the command ends, and every later log line would then
    print «--- Logging error ---» into another test's output."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pytest_report_header() -> str:
    if PG_URL:
        return f"PostgreSQL tests: on ({db.describe_url(PG_URL)})"
    return "PostgreSQL tests: off (set TOCHKA_TEST_PG_URL to run them)"


def _pg_schema_url(schema_name: str) -> str:
    url = sa.engine.make_url(db.normalize_url(PG_URL))
    return url.update_query_dict({"options": f"-csearch_path={schema_name}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def pg_schema_script() -> list[tuple[str, Any, bool]]:
    """The statements ``schema.upgrade`` sends for an empty PostgreSQL schema, recorded
    once per test process on a schema of its own: `engine` replays them, exactly as sent
    (statement, parameters, executemany), into each test's new schema instead of running
    Alembic again (every name in them is unqualified: they act on the ``search_path``)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = db.make_engine(PG_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    script: list[tuple[str, Any, bool]] = []

    def record(
        _conn: sa.Connection, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool
    ) -> None:
        script.append((statement, params, many))

    eng = db.make_engine(_pg_schema_url(name), poolclass=sa.pool.NullPool)
    sa.event.listen(eng, "before_cursor_execute", record)
    try:
        schema.upgrade(eng)
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()
    return script


def _replay(eng: Engine, script: list[tuple[str, Any, bool]]) -> None:
    raw = eng.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, params, many in script:
            if many:
                cursor.executemany(statement, params)
            else:
                cursor.execute(statement, params)
        raw.commit()
    finally:
        raw.close()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'tochka.db'}"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = db.make_engine(PG_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    try:
        yield _pg_schema_url(name)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per test process: `engine` copies the
    file instead of running every migration again for each test (the copy is the same
    bytes ``schema.upgrade`` writes; the migrations themselves are tested in
    test_schema and by ``tochka init`` in the CLI tests)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "tochka.db"
    eng = db.make_engine(f"sqlite:///{path}", create_dir=True)
    try:
        schema.upgrade(eng)
    finally:
        eng.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def engine(db_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated database (schema at head) on each backend."""
    sqlite_file = db.sqlite_path(db_url)
    if sqlite_file is not None:
        template: Path = request.getfixturevalue("sqlite_template")
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, sqlite_file)
    eng = db.make_engine(db_url, create_dir=True)
    if sqlite_file is None:
        _replay(eng, request.getfixturevalue("pg_schema_script"))
    schema.upgrade(eng)  # at head already: only the revision is read
    try:
        yield eng
    finally:
        eng.dispose()


SHIPPED = IVANOVO_159_RP
T0 = datetime(2021, 1, 11, 9, 0, tzinfo=UTC)


@functools.cache
def shipped_definition() -> Roadmap:
    """The shipped roadmap read and validated once per test process (a frozen value)."""
    from workflow.roadmap.loader import load_roadmap

    return load_roadmap(SHIPPED)


@pytest.fixture
def stored(engine: Engine) -> StoredRoadmap:
    """The shipped roadmap loaded into the database."""
    definition = shipped_definition()
    roadmap_id, _ = roadmap_store.store(engine, definition, now=T0)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    with db.read(engine) as conn:
        return roadmap_store.resolve(conn, definition.code)


#: Logins the tests act as when they are not testing permissions themselves.
TEST_COORDINATORS = (
    "operator",
    "ivanova",
    "importer",
    "petrov",
    "p",
    "op",
    "t",
    "x",
    "bench",
    *(f"w{i}" for i in range(8)),
)


def grant(
    engine: Engine,
    roadmap_id: int,
    logins: Iterable[str],
    role: str,
    scope: list[str] | None = None,
) -> None:
    """Register users directly (test set-up; the CLI path is tested in test_access)."""
    from workflow.storage.tables import USER

    with db.write(engine) as conn:
        conn.execute(
            sa.insert(USER),
            [
                {
                    "roadmap_id": roadmap_id,
                    "login": login,
                    "role": role,
                    "scope": scope,
                    "created_by": "test",
                    "created_at": T0,
                }
                for login in logins
            ],
        )


def make_rows(
    count: int, *, cohort: int = 2021, municipality: str = "Шуйский район"
) -> list[CenterRow]:
    return [
        CenterRow(
            code=f"C{i:05d}",
            name=f"МБОУ «Школа № {i}»",
            municipality=municipality,
            cohort=cohort,
            email=f"school{i}@example.org",
            line=i + 2,
        )
        for i in range(count)
    ]


@pytest.fixture
def centers3(engine: Engine, stored: StoredRoadmap) -> list[CenterRow]:
    """Three centers of cohort 2021 imported by «importer»."""
    rows = make_rows(3)
    centers.import_centers(engine, stored, rows, filename="test.csv", actor="importer", now=T0)
    return rows


@pytest.fixture
def cli(db_url: str, engine: Engine) -> Callable[..., Result]:
    """Invoke the real CLI in-process against the test database (already initialised)."""
    from typer.testing import CliRunner

    from workflow.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, actor: str = "operator") -> Result:
        # The CLI takes its identity from the OS account only; the test plays that account.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("workflow.engine.identity.os_login", lambda: actor)
            return runner.invoke(app, ["--db", db_url, *args], catch_exceptions=False)

    return invoke


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``postgres`` run only on the PostgreSQL backend: deselect their SQLite
    variants (deselected, not skipped: nothing is reported as an unrun check). Tests
    marked ``slow`` are collected first."""
    keep, drop = [], []
    for item in items:
        backend = getattr(item, "callspec", None)
        param = backend.params.get("db_url") if backend is not None else None
        if item.get_closest_marker("postgres") and param == "sqlite":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    # The long scenarios first (a stable sort: the rest keep their order): under xdist
    # each is handed out while the short tests are still queued behind it, so that no
    # worker is left running one alone at the end while the others idle.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """On an xdist worker under ``--dist loadgroup``, a test marked ``xdist_group`` carries
    its group in its node id, or the scheduler spreads the group over the workers and
    each builds the module's fixtures again; pytest 9.2 stopped that silently
    (pytest-dev/pytest-xdist#1386): such a test fails instead."""
    grouped = item.config.getoption("loadgroup", default=False)
    if grouped and item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
        pytest.fail(
            "--dist loadgroup lost this test's xdist_group mark: these pytest and"
            " pytest-xdist versions do not work together (pytest-dev/pytest-xdist#1386)",
            pytrace=False,
        )


def bypass_append_only(conn: sa.Connection) -> None:
    """Act as someone with direct access to the database files or a superuser: switch
    off the append-only triggers for this transaction (to test that tampering is found)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS event_no_update")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS event_no_delete")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
