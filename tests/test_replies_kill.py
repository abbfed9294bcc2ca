"""The mailbox poller killed with SIGKILL ten times while 200 replies arrive (issue 15,
«must show»): the real ``tochka daemon run`` process reading a real Dovecot mailbox
(`tests.dovecot`), the replies appended by a mail client (imapclient) while it runs.

Each kill comes at a moment chosen by what the test sees, not by a random sleep: the
daemon just started (its heartbeat row written, the first poll about to run), k more
replies recorded since it started, a reply recorded but not yet marked moved, idle with
everything read, and the two windows of a crash that matter, made exact by a relay
between the poller and the server (`Relay`): the poller's MOVE held after the commit
(recorded, still in INBOX) and the server's answer to it held (moved, not marked).
After a final run stopped cleanly: every reply recorded exactly once (counted by
Message-ID), none lost, none doubled, each in the processed folder once and nothing
left in INBOX."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import grant
from tests.dovecot import Account, dovecot, imap  # noqa: F401
from tests.replies_mail import reply, sent_letter
from workflow.engine.identity import os_login
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND
from workflow.storage.tables import DaemonHeartbeat

Cli = Callable[..., Result]
TOCHKA = str(Path(sys.executable).with_name("tochka"))
HEARTBEAT = DaemonHeartbeat.__table__  # type: ignore[attr-defined]
PROCESSED = "Tochka-Processed"
PER_ROUND = 20


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the kill's windows are the poller's, not the backend's (whose
    transactions the PostgreSQL tests of the poll cover), and each daemon start costs
    seconds."""
    return f"sqlite:///{tmp_path / 'var' / 'tochka.db'}"


@dataclass(frozen=True)
class Kill:
    """When a round's daemon is killed: ``started`` (its heartbeat row is there),
    ``recorded`` (``k`` more replies recorded in this run), ``unmoved`` (a reply of this
    run recorded and not yet marked moved), ``move`` (its first MOVE held by the relay,
    after the commit), ``answer`` (the server's answer to its first MOVE held) or
    ``idle`` (INBOX empty, none of this run's replies waiting to be marked moved)."""

    when: str
    k: int = 0


#: Ten rounds of 20 replies each; the kill's moment varies from round to round.
ROUNDS = [
    Kill("started"),
    Kill("recorded", 3),
    Kill("move"),
    Kill("recorded", 11),
    Kill("answer"),
    Kill("unmoved"),
    Kill("recorded", 17),
    Kill("move"),
    Kill("idle"),
    Kill("answer"),
]


class Relay:
    """A TCP relay between the poller and the server's plain IMAP port that can hold the
    poller's next ``UID MOVE`` (never forwarded) or the server's answer to it (the move
    done, the answer kept): the poller then waits there until it is killed."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.hold: str | None = None  # "move" or "answer", for the next MOVE only
        self.held = threading.Event()
        self.release = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, hold: str | None) -> None:
        self.held.clear()
        self.release.clear()
        self.hold = hold

    def close(self) -> None:
        self.release.set()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            answer: dict[str, bytes] = {}
            for src, dst, outgoing in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump, args=(src, dst, outgoing, answer), daemon=True
                ).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, outgoing: bool, answer: dict[str, bytes]
    ) -> None:
        try:
            while data := src.recv(65536):
                if outgoing and self.hold is not None and b" UID MOVE " in data:
                    hold, self.hold = self.hold, None
                    if hold == "move":
                        self.held.set()
                        self.release.wait(120)
                        return
                    answer["tag"] = data.split(b" ", 1)[0]
                if (
                    not outgoing
                    and "tag" in answer
                    and (b"\n" + answer["tag"] + b" ") in (b"\n" + data)
                ):
                    self.held.set()
                    self.release.wait(120)
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()


def _counts(engine: Engine) -> tuple[int, int, int]:
    """(rows, the largest id, rows not yet marked moved)."""
    with db.read(engine) as conn:
        total, top, unmoved = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.max(INBOUND.c.id), 0),
                sa.func.coalesce(
                    sa.func.sum(sa.case((INBOUND.c.moved_at.is_(None), 1), else_=0)), 0
                ),
            ).select_from(INBOUND)
        ).one()
    return int(total), int(top), int(unmoved)


def _unmoved_since(engine: Engine, top: int) -> bool:
    with db.read(engine) as conn:
        return (
            conn.execute(
                sa.select(INBOUND.c.id)
                .where(INBOUND.c.id > top, INBOUND.c.moved_at.is_(None))
                .limit(1)
            ).first()
            is not None
        )


def _started(engine: Engine, pid: int) -> bool:
    with db.read(engine) as conn:
        return (
            conn.execute(sa.select(HEARTBEAT.c.pid).where(HEARTBEAT.c.pid == pid)).first()
            is not None
        )


def _inbox_size(account: Account) -> int:
    client = account.client()
    try:
        return int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()


class Poller:
    """``tochka daemon run`` processes against the test's database and mailbox."""

    def __init__(self, db_url: str, account: Account, tmp_path: Path, relay: Relay) -> None:
        self.db_url = db_url
        self.tmp_path = tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
        # Plain IMAP through the relay (which must read the commands); TLS is tested in
        # test_replies_imap.
        self.env.update(
            account.environ(imap_poll_seconds="0.2", imap_tls="none", imap_port=str(relay.port))
        )
        self.env["TOCHKA_VAR_DIR"] = str(tmp_path / "var")
        self.env["TOCHKA_MAIL_DIR"] = str(tmp_path / "daemon-mail")
        self.env["PYTHONWARNINGS"] = "ignore"
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.runs += 1
        err = (self.tmp_path / f"daemon{self.runs}.err").open("wb")
        self.process = subprocess.Popen(
            [TOCHKA, "--db", self.db_url, "daemon", "run", "--heartbeat", "0.5"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        err.close()
        return self.process

    def logs(self) -> str:
        """The last run's log, without the scheduler's «skipped» lines."""
        text = (self.tmp_path / f"daemon{self.runs}.err").read_text(errors="replace")
        lines = [line for line in text.splitlines() if "skipped: maximum" not in line]
        return "\n".join(lines[-40:])

    def wait_for(
        self, what: str, condition: Callable[[], bool], timeout: float = 60.0, pause: float = 0.001
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                pytest.fail(f"the daemon exited ({code}) waiting for {what}:\n{self.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{self.logs()}")
            time.sleep(pause)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        self.process = None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.mark.slow
def test_the_poller_killed_ten_times_while_200_replies_arrive_records_each_once(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    imap: Account,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grant(engine, stored.id, [os_login()], "coordinator")  # the daemon runs as this account
    letter = sent_letter(cli, tmp_path, monkeypatch)
    expected = [f"<kill-{i:03d}@example.org>" for i in range(PER_ROUND * len(ROUNDS))]
    replies = [
        reply(letter, message_id=mid, text=f"Ответ {i}: приказ во вложении.")
        for i, mid in enumerate(expected)
    ]
    relay = Relay(imap.server.plain_port)
    poller = Poller(db_url, imap, tmp_path, relay)
    seen: list[tuple[str, int, int, int]] = []  # (moment, rows, unmoved rows, in INBOX)
    try:
        appended = 0
        for kill in ROUNDS:
            relay.arm(kill.when if kill.when in ("move", "answer") else None)
            process = poller.start()
            total, top, _unmoved = _counts(engine)
            batch = replies[appended : appended + PER_ROUND]
            appended += len(batch)

            def deliver(batch: list[bytes] = batch) -> None:  # a mail client, one at a time
                client = imap.client()
                try:
                    for message in batch:
                        client.append("INBOX", message)
                        time.sleep(0.005)
                finally:
                    client.logout()

            sender = threading.Thread(target=deliver)
            sender.start()
            # The start-up takes seconds: looked at coarsely, then closely.
            poller.wait_for("the heartbeat", lambda p=process.pid: _started(engine, p), pause=0.02)
            if kill.when == "started":
                pass
            elif kill.when == "recorded":
                poller.wait_for(
                    f"{kill.k} replies recorded", lambda n=total + kill.k: _counts(engine)[0] >= n
                )
            elif kill.when in ("move", "answer"):
                poller.wait_for(f"the {kill.when} held", relay.held.is_set)
            elif kill.when == "unmoved":
                poller.wait_for(
                    "a reply recorded, not moved", lambda t=top: _unmoved_since(engine, t)
                )
            else:
                sender.join()
                poller.wait_for(
                    "every reply read",
                    lambda t=top: _inbox_size(imap) == 0 and not _unmoved_since(engine, t),
                    pause=0.05,
                )
            poller.kill()
            relay.release.set()
            sender.join()
            rows, _top, unmoved = _counts(engine)
            seen.append((f"{kill.when} {kill.k}".strip(), rows, unmoved, _inbox_size(imap)))

        # The final run, stopped cleanly once the mailbox is read.
        process = poller.start()
        poller.wait_for("the mailbox read", lambda: _inbox_size(imap) == 0, pause=0.05)
        # Every reply marked moved, or ten seconds: the assertions below say what is wrong.
        marks_by = time.monotonic() + 10
        poller.wait_for(
            "the marks",
            lambda: _counts(engine)[2] == 0 or time.monotonic() > marks_by,
            pause=0.05,
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, poller.logs()
        poller.process = None
    finally:
        poller.close()
        relay.close()
    print("kills (moment, rows recorded, rows not marked moved, messages in INBOX):", seen)

    # Every kill came while the mailbox still had work, but the idle one and the first.
    assert sum(1 for _m, _rows, _unmoved, inbox in seen if inbox > 0) >= 7, seen
    # The relay's kills came after a commit, with the reply not (known to be) moved.
    assert all(unmoved >= 1 for m, _rows, unmoved, _inbox in seen if m in ("move", "answer"))
    with db.read(engine) as conn:
        rows = conn.execute(
            sa.select(INBOUND.c.message_id, INBOUND.c.state, INBOUND.c.uid, INBOUND.c.moved_at)
        ).all()
    by_id = Counter(r.message_id for r in rows)
    lost = sorted(set(expected) - set(by_id))
    assert not lost, f"{len(lost)} replies lost: {lost}"
    assert sorted(by_id) == expected  # nothing else
    doubled = sorted(mid for mid, n in by_id.items() if n > 1)
    assert not doubled, f"{len(doubled)} replies recorded twice: {doubled}"
    assert {r.state for r in rows} == {"matched"}
    assert len({r.uid for r in rows}) == len(expected)
    assert all(r.moved_at is not None for r in rows), [r for r in rows if r.moved_at is None]
    assert imap.folder("INBOX") == []
    moved = Counter(
        str(message_from_bytes(raw, policy=policy.default)["Message-ID"])
        for raw in imap.folder(PROCESSED)
    )
    assert sorted(moved) == expected
    assert set(moved.values()) == {1}
