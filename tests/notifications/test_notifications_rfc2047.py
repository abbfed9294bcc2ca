"""Every header of every letter of a program walk, read by a strict RFC 2047 reader.

Python 3.11's folder puts the space between two encoded-words outside them, where a
strict reader drops it («Департамент образованияИвановской области»); `notifications.
headers` folds people's text itself. The walk runs the shipped roadmap from December 2020
to March 2024 through the real queue (reminders, digests, transition notices, weekly
summaries), delivers every letter through the real deliverer to ``.eml`` files, and reads
each header of each file with `tests.notifications.strict2047.strict_decode`: Subject,
To, Cc, Reply-To and From must be exactly the text meant (the names as the data writes
them, the subject as rendered). Seen red: with `SMTP_POLICY` back on the stock registry
(the library's folding), 344 of these headers lose a space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import notifications.queue
from notifications.deliver import deliver_due
from notifications.headers import SMTP_POLICY, check_address, fold_addresses, set_header
from notifications.letters import Addressing
from notifications.outbox import OUTBOX
from notifications.reference import with_reference
from notifications.render import RenderedLetter, Renderer
from notifications.transport import FileTransport
from notifications.values import Recipient
from tests.conftest import T0, make_rows
from tests.notifications.strict2047 import expected_address, raw_headers, strict_decode
from tests.test_walk import Walk, days, moment
from workflow.engine import centers, municipalities
from workflow.engine.transitions import TransitionEngine
from workflow.imports.municipalities_file import ContactRow
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.notices import center_notice_hook
from workflow.schedule.reconcile import tick
from workflow.schedule.reminders import outbox_queue
from workflow.schedule.weekly import WeeklyPlan

SENDER = "tochka@tochka.local"
COORDINATOR = "Департамент образования Ивановской области"

#: Schools as a centers file writes them: guillemets, «№», long names, plain names.
SCHOOLS = [
    ("A", "МБОУ «Фурмановская средняя общеобразовательная школа № 1»", 2021),
    ("B", "МБОУ Панинская СОШ", 2022),
    ("C", "МКОУ «Китовская СШ»", 2023),
    ("W", 'МБОУ "Васильевская СШ" имени Героя Советского Союза И. И. Иванова', 2022),
]
MUNICIPALITY = "Фурмановский муниципальный район"
MUNICIPALITY_RECIPIENT = "Отдел образования администрации Фурмановского муниципального района"


@dataclass
class Intended:
    """What one composed letter was meant to say in its headers."""

    subject: str
    to: str
    cc: list[str]
    reply_to: str


class Recording:
    """Wraps the queue's `address_letter` and `compose`: the intended text of each letter
    (names as the data writes them), keyed by the bytes composed."""

    def __init__(self, patch: pytest.MonkeyPatch) -> None:
        self.by_bytes: dict[bytes, Intended] = {}
        self._names: dict[str, str] = {}
        real_address, real_compose = notifications.queue.address_letter, notifications.queue.compose

        def address_letter(
            recipient: Recipient, cc: Sequence[Recipient], reply_to: str | None, **kw: Any
        ) -> Addressing:
            for person in (recipient, *cc):
                self._names[check_address(person.email)] = person.name
            return real_address(recipient, cc, reply_to, **kw)

        def compose(letter: RenderedLetter, addressing: Addressing, *, key: str) -> bytes:
            raw = real_compose(letter, addressing, key=key)
            named = [addressing.to, *addressing.cc]
            self.by_bytes[raw] = Intended(
                subject=with_reference(letter.subject, key),
                to=expected_address(self._names[named[0].addr_spec], named[0].addr_spec),
                cc=[expected_address(self._names[a.addr_spec], a.addr_spec) for a in named[1:]],
                reply_to=expected_address(COORDINATOR, "coordinator@example.org"),
            )
            return raw

        patch.setattr(notifications.queue, "address_letter", address_letter)
        patch.setattr(notifications.queue, "compose", compose)


def _import(engine: Engine, stored: StoredRoadmap) -> None:
    base = make_rows(len(SCHOOLS), municipality=MUNICIPALITY)
    rows = [
        replace(row, code=code, name=name, cohort=cohort, email=f"{code.lower()}@example.org")
        for row, (code, name, cohort) in zip(base, SCHOOLS, strict=True)
    ]
    centers.import_centers(engine, stored, rows, filename="walk.csv", actor="op", now=T0)
    contact = ContactRow(
        municipality=MUNICIPALITY, email="roo@example.org", recipient=MUNICIPALITY_RECIPIENT, line=2
    )
    municipalities.import_contacts(engine, stored, [contact], filename="m.csv", actor="op", now=T0)


def _deliver(engine: Engine, folder: Path, now: datetime) -> list[bytes]:
    transport = FileTransport(folder, mail_from=SENDER)
    while deliver_due(engine, transport, now=now, batch=200, clock=lambda: now).sent:
        pass
    return [path.read_bytes() for path in sorted(folder.glob("*.eml"))]


def _strip_envelope(letter: bytes) -> bytes:
    """The stored letter: the deliverer's From, Date and Message-ID lines taken off."""
    lines = letter.split(b"\r\n")
    index = 0
    envelope = (b"from", b"date", b"message-id")
    while lines[index].split(b":", 1)[0].lower() in envelope:
        index += 1
        while lines[index][:1] == b" ":  # the header's folded continuation
            index += 1
    return b"\r\n".join(lines[index:])


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_header_of_the_walk_reads_as_written(
    engine: Engine, stored: StoredRoadmap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = Recording(monkeypatch)
    renderer = Renderer()
    _import(engine, stored)
    walk = Walk(engine, stored)
    walk.machine = TransitionEngine(
        engine,
        stored.definition,
        stored.id,
        notice_hook=center_notice_hook(stored.definition, renderer),
    )
    queue = outbox_queue(renderer)
    weekly = WeeklyPlan(weekday=1, renderer=renderer)
    start, end = date(2020, 12, 1), date(2024, 3, 31)
    for day in days(start, end):
        walk.actions(day)
        tick(
            engine,
            stored,
            now=moment(day, 9),
            clock=lambda: datetime.now(UTC),
            queue=queue,
            weekly=weekly,
        )

    with engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar_one()
    letters = _deliver(engine, tmp_path / "mail", moment(end + timedelta(days=30), 9))
    assert len(letters) == queued > 300

    kinds: set[str] = set()
    wrong: list[str] = []
    for letter in letters:
        intended = recording.by_bytes[_strip_envelope(letter)]
        headers = raw_headers(letter)
        got = {field: strict_decode(headers[field]) for field in ("subject", "to", "from")}
        got["cc"] = strict_decode(headers["cc"]) if "cc" in headers else ""
        got["reply-to"] = strict_decode(headers["reply-to"]) if "reply-to" in headers else ""
        meant = {
            "subject": intended.subject,
            "to": intended.to,
            "cc": ", ".join(intended.cc),
            "reply-to": intended.reply_to,
            "from": f"{COORDINATOR} <{SENDER}>",
        }
        wrong += [f"{f}: {got[f]!r} != {meant[f]!r}" for f in meant if got[f] != meant[f]]
        kinds.add(intended.subject.split(":")[0])
        assert all(len(line) <= 78 for line in letter.partition(b"\r\n\r\n")[0].split(b"\r\n"))
    assert not wrong, f"{len(wrong)} headers differ, e.g. {wrong[:5]}"
    # The names that broke before: the coordinator's (in To of its own letters, and in
    # Reply-To; nobody's letter is copied to it any more) and the long school names.
    assert any(COORDINATOR in i.to for i in recording.by_bytes.values())
    assert not any(i.cc for i in recording.by_bytes.values())
    assert len(kinds) > 5, kinds


def _compose_with(name: str, subject: str) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    set_header(msg, "To", Address(display_name=name, username="a", domain="example.org"))
    set_header(msg, "Subject", subject)
    msg.set_content("x")
    return msg.as_bytes(policy=SMTP_POLICY)


@pytest.mark.parametrize(
    "name",
    [
        COORDINATOR,
        "Отдел образования администрации Фурмановского муниципального района Ивановской области",
        "МБОУ «Фурмановская СОШ № 1»",
        "федеральный оператор",
        "Школа   с  пробелами",  # spaces as written are what arrives (clean_text is not here)
        "Jean-Luc O'Brien, Jr.",
        "A" * 5 + " " + "Б" * 70 + " " + "В",
    ],
)
def test_names_and_subjects_keep_every_space(name: str) -> None:
    subject = f"Через 14 дней: открытие центра — {name} (01.09.2023)"
    headers = raw_headers(_compose_with(name, subject))
    assert strict_decode(headers["to"]) == expected_address(name, "a@example.org")
    assert strict_decode(headers["subject"]) == subject


@pytest.mark.parametrize(
    "name",
    [
        COORDINATOR,
        MUNICIPALITY_RECIPIENT,
        "МБОУ «Фурмановская средняя общеобразовательная школа № 1» имени И. И. Иванова",
    ],
)
def test_python_s_own_reader_keeps_every_word_whole(name: str) -> None:
    """Python 3.11's address parser keeps the whitespace between a display name's
    encoded-words (a bug, not RFC 2047): words are split after a space, so it shows at
    most a double space, never «админ истрации»."""
    parsed = BytesParser(policy=policy.default).parsebytes(_compose_with(name, "x"))
    shown = parsed["To"].addresses[0].display_name
    assert shown.split() == name.split(), shown


def test_from_header_keeps_the_spaces_of_a_long_name() -> None:
    folded = fold_addresses(
        "From",
        [Address(display_name=COORDINATOR + " — Точка роста", username="t", domain="x.org")],
    )
    assert strict_decode(folded.partition(":")[2]) == f"{COORDINATOR} — Точка роста <t@x.org>"
