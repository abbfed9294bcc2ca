"""A real IMAP server for the tests: Debian's Dovecot with a private configuration.

Installed with apt-get when missing (like Chromium; the Makefile's ``chromium`` target
does the same for ``make test``). Each server runs from its own folder under /tmp (not
pytest's 0700 tmp_path: Dovecot's login processes run as an unprivileged user), listens
on a free loopback port with implicit TLS (a self-signed certificate made here, so the
client's verification is tested with ``ca_file``) and on another with STARTTLS, logs in
users of passwd-files with plain passwords, and keeps their mail in Maildirs. A test
gets an account of its own (`Dovecot.account`) on the session's server; a test that
stops its server starts one of its own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imapclient
import pytest

DOVECOT = Path(os.environ.get("TOCHKA_DOVECOT", "/usr/sbin/dovecot"))


def ensure_installed() -> Path:
    """Debian's dovecot-imapd, installed with apt-get when missing (as root in CI)."""
    if not DOVECOT.exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.fail("dovecot не установлен, а установить его нельзя: выполните make chromium")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "dovecot-imapd"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
    assert DOVECOT.exists()
    return DOVECOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Account:
    """A mailbox on the test server and the settings that read it."""

    user: str
    password: str
    server: Dovecot

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """``Settings`` keyword arguments (``imap_*``) for this account over TLS."""
        return {
            "imap_host": "127.0.0.1",
            "imap_port": self.server.ssl_port,
            "imap_tls": "ssl",
            "imap_ca_file": str(self.server.cert),
            "imap_user": self.user,
            "imap_password": self.password,
            **overrides,
        }

    def environ(self, **overrides: str) -> dict[str, str]:
        """The same as ``TOCHKA_IMAP_*`` variables, for a CLI process."""
        return {
            f"TOCHKA_{key.upper()}": str(value)
            for key, value in {**self.settings(), **overrides}.items()
        }

    def client(self) -> Any:
        """A logged-in imapclient (the test's own mail client)."""
        context = ssl.create_default_context(cafile=str(self.server.cert))
        client = imapclient.IMAPClient(
            "127.0.0.1", port=self.server.ssl_port, ssl_context=context, timeout=10
        )
        client.login(self.user, self.password)
        return client

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver messages to a folder as a mail client's APPEND does."""
        client = self.client()
        try:
            for message in messages:
                client.append(folder, message)
        finally:
            client.logout()

    def folder(self, name: str) -> list[bytes]:
        """The messages of a folder (not deleted), oldest first; [] if it does not exist."""
        client = self.client()
        try:
            if not client.folder_exists(name):
                return []
            client.select_folder(name, readonly=True)
            uids = client.search(["NOT", "DELETED"])
            fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
            return [fetched[u][b"BODY[]"] for u in sorted(fetched)]
        finally:
            client.logout()


class Dovecot:
    """One Dovecot master process with a private configuration (see the module)."""

    def __init__(self) -> None:
        ensure_installed()
        self.root = Path(tempfile.mkdtemp(prefix="tochka-dovecot-"))
        self.root.chmod(0o755)
        self.cert = self.root / "cert.pem"
        self.key = self.root / "key.pem"
        self.passwd = self.root / "passwd"
        self.mail = self.root / "mail"
        self.mail.mkdir()
        self.ssl_port = _free_port()
        self.plain_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", str(self.key), "-out", str(self.cert), "-days", "2",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.passwd.mkdir()
        self._configure()

    def _configure(self) -> None:
        if os.geteuid() == 0:
            # Dovecot refuses root for its login processes and the mail: its own users.
            login, internal, mail_user = "dovenull", "dovecot", "dovecot"
            entry = pwd.getpwnam(mail_user)
            os.chown(self.mail, entry.pw_uid, entry.pw_gid)
            first_uid = 1
        else:
            login = internal = mail_user = pwd.getpwuid(os.getuid()).pw_name
            first_uid = 0
        (self.root / "dovecot.conf").write_text(
            f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = {first_uid}
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
mail_location = maildir:{self.mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd}/%u
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={self.mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.plain_port}
  }}
  inet_listener imaps {{
    port = {self.ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
""",
            encoding="utf-8",
        )

    def start(self) -> None:
        assert self.process is None
        with (self.root / "stderr.log").open("ab") as err:
            self.process = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(self.root / "dovecot.conf")],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.root / "stderr.log").read_text(errors="replace")
                log = self.log()
                self.process = None
                raise RuntimeError(f"dovecot did not start: {err}\n{log}")
            try:
                socket.create_connection(("127.0.0.1", self.ssl_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.ssl_port}: {self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def kick(self, user: str) -> None:
        """Drop every connection of ``user`` (``doveadm kick``): the server hangs up."""
        subprocess.run(
            ["doveadm", "-c", str(self.root / "dovecot.conf"), "kick", user],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def account(self) -> Account:
        """A new user with an empty mailbox (a passwd-file of its own: a new file is read
        at the user's first login, a changed one might be cached)."""
        user = f"u{uuid.uuid4().hex[:12]}"
        password = uuid.uuid4().hex
        (self.passwd / user).write_text(f"{user}:{{PLAIN}}{password}\n")
        return Account(user=user, password=password, server=self)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """The session's IMAP server (one per xdist worker)."""
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def own_dovecot() -> Iterator[Dovecot]:
    """A server of the test's own, which it may stop and start."""
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def imap(dovecot: Dovecot) -> Account:
    """A fresh mailbox on the session's server."""
    return dovecot.account()
