"""The whole path of a submission, with real parts (issue 15, item 4, «must show»): a
reminder delivered through aiosmtpd (``outbox send``), the school's reply composed as a
mail client does (quoted text, ``In-Reply-To``, a PDF attached) appended to a real
Dovecot mailbox, the daemon's poll job, the submission, ``tochka replies accept`` as a
process, the stage's event carrying the file's hash, ``tochka audit verify`` passing
with the stored file re-hashed — and failing once the stored file is altered."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import bypass_append_only, grant
from tests.dovecot import Account, dovecot, imap  # noqa: F401
from tests.notifications.conftest import SmtpRecorder, free_port
from tests.replies_mail import PDF, reply
from workflow.config import Settings
from workflow.engine.identity import os_login
from workflow.inbound.poll import poll_mailbox
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND
from workflow.storage.tables import CENTER, EVENT, EVIDENCE_BLOB

Cli = Callable[..., Result]
TOCHKA = str(Path(sys.executable).with_name("tochka"))
SCHOOL = "s3@example.org"


def _tochka(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run(
        [TOCHKA, "--db", db_url, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_reply_from_the_mailbox_is_accepted_into_the_audit_chain(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    imap: Account,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiosmtpd.controller import Controller

    import scheduler
    from workflow.schedule.reminders import ReminderQueue

    recorder = SmtpRecorder()
    port = free_port()
    server = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=10)
    server.start()
    try:
        monkeypatch.setenv("TOCHKA_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("TOCHKA_SMTP_PORT", str(port))
        monkeypatch.setenv("TOCHKA_SMTP_TLS", "none")
        monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
        csv = tmp_path / "c.csv"
        csv.write_text(
            "code,name,municipality,cohort,email\n"
            f"S3,МБОУ «Школа № 3»,Шуйский район,2021,{SCHOOL}\n",
            encoding="utf-8",
        )
        # S3 trained its staff; the reminder of 18.08.2021 asks for the opening (measure 8).
        for args in [
            ("--now", "2021-03-01", "centers", "import", str(csv)),
            ("--now", "2021-03-02", "centers", "fire", "S3", "agree_infrastructure"),
            ("--now", "2021-06-01", "centers", "fire", "S3", "equip"),
            ("--now", "2021-06-02", "centers", "fire", "S3", "train_staff"),
            ("--now", "2021-06-02T12:00:00+03:00", "outbox", "send"),
            ("--now", "2021-08-18T09:00:00+03:00", "tick"),
            ("--now", "2021-08-18T10:00:00+03:00", "outbox", "send"),
        ]:
            done = cli(*args)
            assert done.exit_code == 0, (args, done.output)
    finally:
        server.stop()
    (delivered,) = [
        r
        for r in recorder.snapshot()
        if SCHOOL in r.rcpt_tos and "Wed, 18 Aug 2021" in r.message["Date"]
    ]
    letter = message_from_bytes(delivered.data, policy=policy.default)
    assert isinstance(letter, EmailMessage)
    answer = reply(letter, sender=SCHOOL, text="Добрый день! Публикация об открытии — в PDF.")
    assert b"In-Reply-To: " + delivered.message_id.encode() in answer
    composed = message_from_bytes(answer, policy=policy.default)
    quoted = composed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "пишет:\r\n> Добрый день!" in quoted  # the quoted reminder, as a mail client writes it
    imap.append(answer)

    # The daemon's job reads the mailbox.
    daemon = scheduler.Daemon(
        engine=engine,
        queue=ReminderQueue.__new__(ReminderQueue),  # the tick is not run here
        poll_mail=lambda: poll_mailbox(engine, Settings(**imap.settings())),
    )
    daemon.poll_mail_once()
    with db.read(engine) as conn:
        (row,) = conn.execute(sa.select(INBOUND)).all()
    assert (row.state, row.submission, row.matched_by) == ("matched", "pending", "in-reply-to")

    grant(engine, stored.id, [os_login()], "coordinator")
    shown = _tochka(db_url, "replies", "show", str(row.id))
    assert "центр S3 — этап «открыт», срок 01.09.2021" in shown.stdout, shown.stderr

    accepted = _tochka(db_url, "--now", "2021-08-25", "replies", "accept", str(row.id))

    assert accepted.returncode == 0, accepted.stderr
    sha = hashlib.sha256(PDF).hexdigest()
    assert f"SHA-256 {sha}" in accepted.stdout
    with db.read(engine) as conn:
        state = conn.execute(sa.select(CENTER.c.state).where(CENTER.c.code == "S3")).scalar()
        fired = conn.execute(
            sa.select(EVENT).where(EVENT.c.entity_kind == "center", EVENT.c.trigger == "open")
        ).one()
        decided = conn.execute(sa.select(INBOUND.c.submission)).scalar()
    assert (state, decided) == ("opened", "accepted")
    assert [f["sha256"] for f in fired.evidence["_files"]] == [sha]
    assert fired.evidence["media_coverage"] == "файл «Приказ №5.pdf»"

    verified = _tochka(db_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "в порядке" in verified.stdout, verified.stdout
    assert "1 файл (1 ссылка в журнале) — содержимое совпадает с SHA-256" in verified.stdout

    # The stored file is what verify re-hashes: altered, verify fails and names it.
    sqlite_file = db.sqlite_path(db_url)
    if sqlite_file is not None:
        stored_file = sqlite_file.parent / "evidence" / sha
        assert hashlib.sha256(stored_file.read_bytes()).hexdigest() == sha
        stored_file.chmod(0o600)
        stored_file.write_bytes(PDF.replace(b"trailer", b"TRAILER"))
    else:
        with db.write(engine) as conn:
            bypass_append_only(conn)
            content = conn.execute(
                sa.select(EVIDENCE_BLOB.c.content).where(EVIDENCE_BLOB.c.sha256 == sha)
            ).scalar_one()
            assert hashlib.sha256(content).hexdigest() == sha
            conn.execute(
                EVIDENCE_BLOB.update()
                .where(EVIDENCE_BLOB.c.sha256 == sha)
                .values(content=PDF.replace(b"trailer", b"TRAILER"))
            )
    broken = _tochka(db_url, "audit", "verify")
    assert broken.returncode != 0
    assert "«Приказ №5.pdf»" in broken.stderr, broken.stderr
    assert "содержимое изменено" in broken.stderr, broken.stderr
