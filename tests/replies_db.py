"""A database prepared once per test module and copied for each test (the replies tests).

Sending a real letter (centers imported, transitions fired, ``tick``, ``outbox send``
through the CLI) costs seconds; the replies tests each need one, and the same one. A
module makes it once per backend (`Templates.restore` builds the template on first use)
and every test gets a copy of that database: on SQLite the file is copied, on
PostgreSQL the test's own schema (migrated by the ``engine`` fixture's path, with every
trigger) gets the template schema's rows, its sequences moved past them. What a test
does to its copy never reaches the template or another test.

A module uses it by overriding the ``engine`` and ``stored`` fixtures::

    @pytest.fixture(scope="module")
    def templates(tmp_path_factory): yield from module_templates(tmp_path_factory, build)

    @pytest.fixture
    def engine(db_url, templates): yield from templates.restore(db_url)
"""

from __future__ import annotations

import email
import email.policy
import functools
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from base import db
from tests.conftest import PG_URL, SHIPPED, T0, TEST_COORDINATORS, _pg_schema_url, grant
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.storage import schema
from workflow.storage.tables import all_tables

Cli = Callable[..., Result]
#: What a module's build returns: the letters it sent, by a name of its choosing.
Letters = dict[str, EmailMessage]
Build = Callable[[Cli, Path], Letters]


@functools.cache
def shipped_definition() -> Roadmap:
    """The shipped roadmap, read once per process."""
    from workflow.roadmap.loader import load_roadmap

    return load_roadmap(SHIPPED)


def invoker(db_url: str) -> Cli:
    """The CLI in-process against ``db_url``, as the ``cli`` fixture runs it."""
    from workflow.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, actor: str = "operator") -> Result:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("workflow.engine.identity.os_login", lambda: actor)
            return runner.invoke(app, ["--db", db_url, *args], catch_exceptions=False)

    return invoke


def read_letters(mail_dir: Path) -> list[EmailMessage]:
    """The letters the file transport wrote, oldest first."""
    found = []
    for path in sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


@dataclass
class Template:
    url: str
    letters: Letters
    sqlite_file: Path | None = None
    pg_schema: str | None = None


@dataclass
class Templates:
    """The module's template databases, one per backend, made on first use."""

    folder: Path
    build: Build
    made: dict[str, Template] = field(default_factory=dict)

    def template(self, backend: str) -> Template:
        if backend not in self.made:
            self.made[backend] = self._make(backend)
        return self.made[backend]

    def _make(self, backend: str) -> Template:
        work = self.folder / backend
        work.mkdir()
        if backend == "sqlite":
            url = f"sqlite:///{work / 'var' / 'tochka.db'}"
            template = Template(url=url, letters={}, sqlite_file=work / "var" / "tochka.db")
        else:
            name = f"t_tmpl_{uuid.uuid4().hex[:12]}"
            admin = db.make_engine(PG_URL, poolclass=sa.pool.NullPool)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {name}")
            admin.dispose()
            url = _pg_schema_url(name)
            template = Template(url=url, letters={}, pg_schema=name)
        engine = db.make_engine(url, create_dir=True)
        try:
            schema.upgrade(engine)
            roadmap_id, _ = roadmap_store.store(engine, shipped_definition(), now=T0)
            grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
        finally:
            engine.dispose()
        with pytest.MonkeyPatch.context() as patch:
            mail_dir = work / "mail"
            patch.setenv("TOCHKA_MAIL_DIR", str(mail_dir))
            patch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
            template.letters = self.build(invoker(url), work)
        return template

    def restore(self, db_url: str) -> Iterator[Engine]:
        """A copy of the backend's template at ``db_url`` (the test's empty database)."""
        sqlite_file = db.sqlite_path(db_url)
        template = self.template("sqlite" if sqlite_file is not None else "postgres")
        if sqlite_file is not None:
            assert template.sqlite_file is not None
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template.sqlite_file, sqlite_file)
            engine = db.make_engine(db_url)
        else:
            engine = db.make_engine(db_url, create_dir=True)
            schema.upgrade(engine)
            _copy_rows(engine, str(template.pg_schema))
        try:
            yield engine
        finally:
            engine.dispose()

    def letters(self, db_url: str) -> Letters:
        backend = "sqlite" if db.sqlite_path(db_url) is not None else "postgres"
        return self.template(backend).letters

    def close(self) -> None:
        for template in self.made.values():
            if template.pg_schema is not None:
                admin = db.make_engine(PG_URL, poolclass=sa.pool.NullPool)
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {template.pg_schema} CASCADE")
                admin.dispose()


def _copy_rows(engine: Engine, source: str) -> None:
    """Every row of the template schema ``source`` into the engine's (empty) schema."""
    with db.write(engine) as conn:
        for table in all_tables():
            name = table.name
            conn.exec_driver_sql(f'INSERT INTO "{name}" SELECT * FROM {source}."{name}"')
            if "id" in table.c and table.c.id.autoincrement is not False:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                    f'COALESCE((SELECT MAX(id) FROM "{name}"), 0) + 1, false)'
                )


def module_templates(folder: Path, build: Build) -> Iterator[Templates]:
    """The body of a module's ``templates`` fixture."""
    templates = Templates(folder=folder, build=build)
    try:
        yield templates
    finally:
        templates.close()


def resolve_stored(engine: Engine) -> StoredRoadmap:
    """The shipped roadmap as the template stored it (the ``stored`` fixture's value)."""
    with db.read(engine) as conn:
        return roadmap_store.resolve(conn, shipped_definition().code)


def rows(engine: Engine, table: Any) -> list[Any]:
    with db.read(engine) as conn:
        return list(conn.execute(sa.select(table)).all())
