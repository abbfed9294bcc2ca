"""The database goes away while a batch is out: at most the letter in flight is sent
twice, and the rest of the batch goes out within a minute of the database's return.

The deliverer is the product's own (``tochka outbox send`` as a process, real SMTP from
aiosmtpd) with a short claim (``TOCHKA_OUTBOX_LEASE_SECONDS=20``). The outage begins
while the server is accepting a letter, before its 250 reaches the deliverer, so the
"sent" record of that letter is the first write that fails:

- SQLite: another process takes the write lock (``BEGIN IMMEDIATE``) and keeps it;
- PostgreSQL: the deliverer talks to the database through a TCP proxy on loopback, which
  closes every connection and refuses new ones.

Two cases: the deliverer lives through the outage (it writes the outcome it holds once
the database answers, and goes on: nothing is sent twice), and the deliverer is killed
during the outage (its claims run out with the lease; the next run sends the rest, and
only the letter in flight may arrive twice, under the same Message-ID).
"""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications.outbox import OUTBOX
from notifications.queue import queue_notice
from notifications.render import Renderer
from notifications.values import Notice, Recipient
from tests.conftest import grant
from workflow.engine.identity import os_login
from workflow.roadmap.store import StoredRoadmap

ROOT = Path(__file__).resolve().parents[2]
TOCHKA = str(Path(sys.executable).parent / "tochka")
SENDER = "roadmap@edu.example.org"
LETTERS = 30
#: The letter during whose acceptance the database goes away (1-based).
IN_FLIGHT = 5
LEASE_SECONDS = 20
#: Shorter than half the lease: a deliverer that lives through it writes what it holds.
OUTAGE_SECONDS = 6.0
#: What the must-show allows from the database's return to the batch's last letter.
WITHIN_SECONDS = 60.0

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


class Proxy:
    """A TCP proxy on loopback to PostgreSQL that can be cut (every connection closed,
    new ones refused) and restored on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.listen()

    def listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        assert self._listener is not None
        # shutdown wakes the thread blocked in accept(); close alone would leave the
        # socket listening until that call returns.
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        if self._listener is not None:
            self.cut()


class Outage:
    """Takes the database away (`begin`) and gives it back (`end`) for the deliverer."""

    def __init__(self, db_url: str, tmp_path: Path) -> None:
        self.proxy: Proxy | None = None
        self.holder: subprocess.Popen[str] | None = None
        self.sqlite_file = db.sqlite_path(db.normalize_url(db_url))
        self.deliverer_url = db_url
        if self.sqlite_file is None:
            url = sa.engine.make_url(db.normalize_url(db_url))
            self.proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
            self.deliverer_url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
                hide_password=False
            )
        self.began = self.ended = 0.0

    def begin(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
        else:
            self.holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, str(self.sqlite_file)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.holder.stdout is not None
            assert self.holder.stdout.readline().strip() == "locked"
        self.began = time.time()

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.listen()
        else:
            assert self.holder is not None
            assert self.holder.stdin is not None
            self.holder.communicate("\n", timeout=10)
        self.ended = time.time()

    def close(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.communicate()
        if self.proxy is not None:
            self.proxy.close()


@pytest.fixture
def outage(db_url: str, tmp_path: Path) -> Iterator[Outage]:
    made = Outage(db_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _notice(index: int) -> Notice:
    return Notice(
        key=f"outage:{index}",
        recipient=Recipient(email=f"school{index}@example.org", name=f"Школа № {index}"),
        headline="Центр открыт",
        entity=f"Центр «Точка роста» школы № {index}",
        to_state="Открыт",
        effective_date=datetime(2022, 9, 1).date(),
        actor="Иванова А. А.",
        roadmap_title="Дорожная карта «Точка роста»",
        reply_to="coordinator@edu.example.org",
    )


_MID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.M | re.I)


def _scenario(
    engine: Engine,
    stored: StoredRoadmap,
    start_smtp: Any,
    tmp_path: Path,
    outage: Outage,
    *,
    kill_in_outage: bool,
) -> dict[str, Any]:
    grant(engine, stored.id, [os_login()], "coordinator")
    renderer = Renderer()
    with db.write(engine) as conn:
        for index in range(LETTERS):
            queue_notice(conn, _notice(index), now=datetime.now(UTC), renderer=renderer)

    arrivals: list[tuple[float, str]] = []
    in_flight: list[str] = []
    restore: list[threading.Timer] = []

    def on_data(envelope: Any) -> str | None:
        mid = _MID.search(envelope.content)
        assert mid is not None
        arrivals.append((time.time(), mid.group(1).decode()))
        if len(arrivals) == IN_FLIGHT and not in_flight:
            # The database goes away before the deliverer reads this letter's 250.
            in_flight.append(mid.group(1).decode())
            outage.begin()
            timer = threading.Timer(OUTAGE_SECONDS, outage.end)
            restore.append(timer)
            timer.start()
        return None

    server = start_smtp()
    server.handler.on_data = on_data
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TOCHKA_VAR_DIR": str(tmp_path / "var"),
            "TOCHKA_SMTP_HOST": server.host,
            "TOCHKA_SMTP_PORT": str(server.port),
            "TOCHKA_SMTP_TLS": "none",
            "TOCHKA_SMTP_TIMEOUT": "2",
            "TOCHKA_MAIL_FROM": SENDER,
            "TOCHKA_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        }
    )
    command = [TOCHKA, "--db", outage.deliverer_url, "outbox", "send", "--batch", "100"]
    logs: list[Path] = []

    def run() -> subprocess.Popen[bytes]:
        logs.append(tmp_path / f"deliverer{len(logs)}.log")
        with logs[-1].open("wb") as log:
            return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)

    def log_text() -> str:
        return "\n".join(p.read_text(encoding="utf-8") for p in logs)[-4000:]

    def unfinished() -> int:
        with db.read(engine) as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.status != "sent")
                ).scalar_one()
            )

    first = run()
    try:
        if kill_in_outage:
            deadline = time.monotonic() + 60
            # Killed half-way through the outage (``restore`` is set once it has begun).
            while not restore or time.time() < outage.began + OUTAGE_SECONDS / 2:
                assert time.monotonic() < deadline, log_text()
                assert first.poll() is None, log_text()
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait()
            restore[0].join()
            # Runs go on (each exits when nothing is due) until the batch is out.
            while unfinished() and time.time() < outage.ended + WITHIN_SECONDS:
                again = run()
                assert again.wait(timeout=60) == 0, log_text()
                time.sleep(0.5)
        else:
            assert first.wait(timeout=120) == 0, log_text()
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for timer in restore:
            timer.join()

    with db.read(engine) as conn:
        statuses = collections.Counter(conn.execute(sa.select(OUTBOX.c.status)).scalars())
        recorded = dict(conn.execute(sa.select(OUTBOX.c.message_id, OUTBOX.c.recorded_at)).all())
    counts = collections.Counter(mid for _, mid in arrivals)
    assert in_flight, log_text()
    assert outage.ended, log_text()
    return {
        "statuses": statuses,
        "counts": counts,
        "in_flight": in_flight[0],
        "recorded": recorded,
        "last_arrival": max(t for t, _ in arrivals),
        "outage": outage,
        "log": log_text(),
        "runs": len(logs),
    }


@pytest.mark.slow
def test_a_deliverer_that_lives_through_an_outage_sends_nothing_twice(
    engine: Engine, stored: StoredRoadmap, start_smtp: Any, tmp_path: Path, outage: Outage
) -> None:
    got = _scenario(engine, stored, start_smtp, tmp_path, outage, kill_in_outage=False)
    assert got["statuses"] == {"sent": LETTERS}, got["log"]
    assert len(got["counts"]) == LETTERS
    assert sum(got["counts"].values()) == LETTERS, got["counts"].most_common(3)
    # The outage was felt: the letter in flight was recorded only once it was over.
    assert got["recorded"][got["in_flight"]].timestamp() >= got["outage"].ended - 0.05
    after_return = got["last_arrival"] - got["outage"].ended
    # Sent right after the return: the claims were kept, not left to run out.
    assert after_return < LEASE_SECONDS / 2, after_return
    print(  # noqa: T201  # shown with -s
        f"\n[{engine.dialect.name}] outage {OUTAGE_SECONDS:g} s, deliverer alive: "
        f"duplicates 0, last letter {after_return:.1f} s after the database came back"
    )


@pytest.mark.slow
def test_a_deliverer_killed_in_an_outage_duplicates_at_most_the_letter_in_flight(
    engine: Engine, stored: StoredRoadmap, start_smtp: Any, tmp_path: Path, outage: Outage
) -> None:
    got = _scenario(engine, stored, start_smtp, tmp_path, outage, kill_in_outage=True)
    assert got["statuses"] == {"sent": LETTERS}, got["log"]
    counts: collections.Counter[str] = got["counts"]
    assert len(counts) == LETTERS
    duplicated = {mid for mid, n in counts.items() if n > 1}
    assert duplicated <= {got["in_flight"]}, duplicated
    assert counts[got["in_flight"]] <= 2
    after_return = got["last_arrival"] - got["outage"].ended
    assert after_return < WITHIN_SECONDS, after_return
    print(  # noqa: T201  # shown with -s
        f"\n[{engine.dialect.name}] outage {OUTAGE_SECONDS:g} s, deliverer killed in it: "
        f"duplicates {sum(counts.values()) - len(counts)} (the letter in flight), batch out "
        f"{after_return:.1f} s after the database came back ({got['runs']} runs)"
    )
