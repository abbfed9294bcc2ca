"""Run the deliverer on its own: ``python -m notifications.deliver_main --db URL …``.

A small loop around `notifications.deliver.deliver_due` for operators and for the
crash tests (which kill it with SIGKILL at random moments). The daemon proper calls
`deliver_due` from its own scheduler. The clock is read here, at the edge.

The SMTP password is read from the environment variable named by ``--password-env``
(never from the command line, which other users can see in the process list).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from notifications.deliver import WRITE_OPTION, deliver_due
from notifications.outbox import OUTBOX, OutboxStatus
from notifications.transport import FileTransport, SmtpSettings, SmtpTransport, TlsMode, Transport

log = logging.getLogger("notifications.deliver_main")

_BUSY_TIMEOUT_MS = 60_000


def make_engine(url: str) -> Engine:
    """An engine with the connection settings the rest of Tochka uses.

    Mirrors ``base.db.make_engine`` (which this layer may not import): psycopg 3 for
    ``postgresql://``; on SQLite WAL, a busy timeout and ``BEGIN IMMEDIATE`` for
    connections with the ``tochka_write`` option.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m notifications.deliver_main", description=__doc__)
    p.add_argument("--db", required=True, help="database URL")
    p.add_argument("--smtp-host", default="", help="SMTP server; empty: write .eml files")
    p.add_argument("--smtp-port", type=int, default=587)
    p.add_argument("--tls", choices=[m.value for m in TlsMode], default=TlsMode.STARTTLS.value)
    p.add_argument("--user", default=None)
    p.add_argument("--password-env", default=None, help="environment variable with the password")
    p.add_argument("--cafile", default=None)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--mail-from", default="tochka@localhost.localdomain")
    p.add_argument("--outbox-dir", type=Path, default=Path("outbox"))
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--max-attempts", type=int, default=5)
    p.add_argument("--backoff-base", type=float, default=60.0)
    p.add_argument("--backoff-max", type=float, default=6 * 3600.0)
    p.add_argument("--give-up-after", type=float, default=3 * 86400.0, help="seconds")
    p.add_argument("--lease", type=float, default=600.0, help="seconds")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between idle polls")
    p.add_argument(
        "--until-idle",
        action="store_true",
        help="exit once no letter is pending, failed or being sent",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def _transport(args: argparse.Namespace) -> Transport:
    if not args.smtp_host:
        return FileTransport(args.outbox_dir, mail_from=args.mail_from)
    password = os.environ.get(args.password_env) if args.password_env else None
    return SmtpTransport(
        SmtpSettings(
            host=args.smtp_host,
            port=args.smtp_port,
            tls=TlsMode(args.tls),
            user=args.user,
            password=password,
            timeout=args.timeout,
            mail_from=args.mail_from,
            cafile=args.cafile,
        )
    )


def _unfinished(engine: Engine) -> int:
    open_states = [
        OutboxStatus.PENDING.value,
        OutboxStatus.FAILED.value,
        OutboxStatus.SENDING.value,
    ]
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.status.in_(open_states))
        ).scalar_one()
    return int(count)


def main(argv: Sequence[str] | None = None) -> int:
    """Deliver in a loop; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    engine = make_engine(args.db)
    transport = _transport(args)
    try:
        while True:
            report = deliver_due(
                engine,
                transport,
                now=datetime.now(UTC),
                batch=args.batch,
                max_attempts=args.max_attempts,
                backoff_base_seconds=args.backoff_base,
                backoff_max_seconds=args.backoff_max,
                give_up_after=timedelta(seconds=args.give_up_after),
                lease_seconds=args.lease,
            )
            if report.claimed:
                log.info(
                    "batch: %d claimed, %d sent, %d retrying, %d dead, %d released",
                    report.claimed,
                    report.sent,
                    report.retrying,
                    report.dead,
                    report.released,
                )
                if not report.transport_error:
                    continue
            if args.until_idle and _unfinished(engine) == 0:
                return 0
            time.sleep(args.poll)
    except KeyboardInterrupt:
        return 130
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
