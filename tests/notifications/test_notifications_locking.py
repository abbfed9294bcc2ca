"""The deliverer on SQLite while another process writes: it waits for the lock, it does
not fail with "database is locked".

A deferred transaction that reads and then writes cannot wait for a writer that commits
in between: its snapshot is stale, and SQLite refuses the write at once. The claim reads
the due rows and then marks them, so it must begin with ``BEGIN IMMEDIATE`` (through
`base.db.write`). Here another process (plain ``sqlite3``) holds the write lock with a
write pending while the deliverer starts, and commits a second later.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications.deliver import deliver_due
from notifications.outbox import OUTBOX
from notifications.queue import queue_notice
from notifications.render import Renderer
from notifications.transport import SmtpSettings, SmtpTransport, TlsMode
from notifications.values import Notice
from workflow.storage import schema

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
SENDER = "roadmap@edu.example.org"
LETTERS = 5
HOLD_SECONDS = 1.0

# Another writer: takes the write lock, writes, says so, keeps the lock, then commits.
OTHER_WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO lock_probe (note) VALUES ('other writer')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
print("committed", flush=True)
"""


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "var" / "tochka.db"


@pytest.fixture
def sqlite_engine(sqlite_file: Path) -> Iterator[Engine]:
    """A migrated SQLite file (this test is about SQLite's locks; PostgreSQL has none)."""
    eng = db.make_engine(f"sqlite:///{sqlite_file}", create_dir=True)
    schema.upgrade(eng)
    with db.write(eng) as conn:
        conn.exec_driver_sql("CREATE TABLE lock_probe (note TEXT NOT NULL)")
    try:
        yield eng
    finally:
        eng.dispose()


def test_deliverer_waits_for_another_process_writing(
    sqlite_engine: Engine,
    sqlite_file: Path,
    smtp_server: Any,
    renderer: Renderer,
    make_notice: Callable[..., Notice],
) -> None:
    with db.write(sqlite_engine) as conn:
        for index in range(LETTERS):
            queue_notice(conn, make_notice(key=f"lock:{index}"), now=NOW, renderer=renderer)
    transport = SmtpTransport(
        SmtpSettings(
            host=smtp_server.host,
            port=smtp_server.port,
            tls=TlsMode.NONE,
            mail_from=SENDER,
            timeout=5.0,
        )
    )

    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_WRITER, str(sqlite_file), str(HOLD_SECONDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "locked"
        started = time.monotonic()
        report = deliver_due(sqlite_engine, transport, now=NOW)
        waited = time.monotonic() - started
        out, err = other.communicate(timeout=30)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()

    assert other.returncode == 0, err
    assert out.strip() == "committed"
    # It waited for the other writer's lock (the busy timeout) instead of failing.
    assert waited >= HOLD_SECONDS / 2, waited
    assert (report.claimed, report.sent, report.retrying, report.dead) == (LETTERS, LETTERS, 0, 0)
    assert len(smtp_server.handler.snapshot()) == LETTERS
    with db.read(sqlite_engine) as conn:
        statuses = list(conn.execute(sa.select(OUTBOX.c.status)).scalars())
        probe = list(conn.exec_driver_sql("SELECT note FROM lock_probe").scalars())
    assert statuses == ["sent"] * LETTERS
    assert probe == ["other writer"]
