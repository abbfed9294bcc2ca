"""Test helpers of the replies tests: a letter Tochka really sent, and replies to it.

`sent_letter` runs the real path: a center imported, a transition fired (its notice
queued), ``outbox send`` through the file transport; the ``.eml`` it wrote carries the
From, Date and Message-ID the deliverer adds. `reply` composes what a mail client sends
back: ``Re:`` and the subject, ``In-Reply-To``/``References``, the text above the quoted
letter, a PDF attached.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from typer.testing import Result

Cli = Callable[..., Result]
SCHOOL = "s1@example.org"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def sent_letter(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, school: str = SCHOOL
) -> EmailMessage:
    """The notice of S1's «agree_infrastructure» as delivered (the file transport)."""
    mail_dir = tmp_path / "mail"
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(mail_dir))
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
    csv = tmp_path / "c.csv"
    csv.write_text(
        f"code,name,municipality,cohort,email\nS1,МБОУ «Школа № 1»,Шуйский район,2021,{school}\n",
        encoding="utf-8",
    )
    assert cli("--now", "2021-03-01", "centers", "import", str(csv)).exit_code == 0
    fired = cli("--now", "2021-03-02", "centers", "fire", "S1", "agree_infrastructure")
    assert fired.exit_code == 0, fired.output
    sent = cli("--now", "2021-03-02T10:00:00+03:00", "outbox", "send")
    assert sent.exit_code == 0, sent.output
    (path,) = mail_dir.glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def reply(
    letter: EmailMessage,
    *,
    sender: str = SCHOOL,
    text: str = "Добрый день! Приказ во вложении.",
    pdf: bytes | None = PDF,
    threaded: bool = True,
    subject: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A reply to ``letter`` as a mail client writes it."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Школа № 1 <{sender}>"
    msg["To"] = str(letter["From"])
    msg["Subject"] = subject if subject is not None else f"Re: {letter['Subject']}"
    msg["Date"] = format_datetime(datetime(2021, 3, 3, 12, 0, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    if threaded:
        msg["In-Reply-To"] = str(letter["Message-ID"])
        msg["References"] = str(letter["Message-ID"])
    for name, value in (headers or {}).items():
        msg[name] = value
    body = letter.get_body(preferencelist=("plain",))
    quoted = "\n".join(f"> {line}" for line in body.get_content().splitlines()) if body else ""
    msg.set_content(f"{text}\n\n3 марта 2021 г., Точка роста пишет:\n{quoted}\n")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="Приказ №5.pdf")
    return msg.as_bytes()
