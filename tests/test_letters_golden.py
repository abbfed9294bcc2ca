"""One letter of each kind for each role, exact text, as its reader gets it.

Issue 12 (must-show 2). A fixed data set on the shipped roadmap (three cohort-2021 centers
with Russian school names, one municipality address loaded with ``tochka municipalities
import``, users with full names, the weekly summary on Mondays) is driven through the real
``tochka`` command (a process) on fixed dates chosen so that each kind of letter appears:
the school's reminders before, on and after a stage's deadline and its quarterly monitoring
letter after it submitted part of the quarter; the municipality's digest; the
coordinator's digest with the overdue items folded in and its weekly summary; the federal
operator's reminder; a transition notice, and a school's two marks of one day in one
letter. ``tochka outbox send`` writes them as ``.eml``
files (``TOCHKA_MAIL_DIR``), and one letter per (role, kind) is compared with
``tests/golden/letters/<role>-<kind>.txt``: the headers Subject, From, To, Cc and Reply-To
read with a strict RFC 2047 decoder (`tests.notifications.strict2047`), a blank line, the
text/plain part. A few also have their text/html part in ``<role>-<kind>.html``.

Volatile parts are set aside: Date and Message-ID are not in the golden files (the
Message-ID is derived from the outbox key; the Date from ``--now``), and the audit chain's
head («Журнал: SEQ:HASH», text and HTML) keeps its SEQ but not its HASH, which differs
from run to run (the events record the OS login and real times).

Re-record after an intended change of a letter:
``TOCHKA_GOLDEN_RECORD=1 pytest tests/test_letters_golden.py``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.notifications.strict2047 import raw_headers, strict_decode
from workflow.engine.identity import os_login

#: The module's data set is built once, on one xdist worker (`make test`: --dist loadgroup),
#: not once per worker.
pytestmark = pytest.mark.xdist_group("letters_golden")

GOLDEN = Path(__file__).resolve().parent / "golden" / "letters"
RECORD = os.environ.get("TOCHKA_GOLDEN_RECORD") == "1"
TOCHKA = str(Path(sys.executable).with_name("tochka"))

CENTERS = """code,name,municipality,cohort,email
IV-001,МБОУ «Фурмановская СОШ № 1»,Фурмановский район,2021,school1@school.ivanovo.ru
IV-002,МБОУ Панинская СОШ,Фурмановский район,2021,school2@school.ivanovo.ru
IV-003,МКОУ «Китовская СШ»,Шуйский район,2021,school3@school.ivanovo.ru
"""

MUNICIPALITIES = """municipality,email,recipient
Фурмановский район,roo@furmanov.ivanovo.ru,Отдел образования администрации Фурмановского района
"""

#: (effective date, command line), in order. {dir}: the work folder; {me}: the OS login.
SCRIPT: list[tuple[str, list[str]]] = [
    (
        "2021-01-11T09:00",
        ["users", "add", "{me}", "--role", "coordinator", "--name", "Смирнова Ольга Петровна"],
    ),
    ("2021-01-11T09:01", ["centers", "import", "{dir}/centers.csv"]),
    (
        "2021-01-11T09:02",
        [
            "users",
            "add",
            "kuznetsova",
            "--role",
            "municipality",
            "--scope",
            "Фурмановский район",
            "--name",
            "Кузнецова Анна Сергеевна",
        ],
    ),
    ("2021-01-11T09:03", ["municipalities", "import", "{dir}/municipalities.csv"]),
    ("2021-01-11T09:10", ["tick"]),
    # Measure 1 needs no step: the roadmap file records it done by the decree itself
    # (done: on 07.12.2020), and the first tick creates its cycle done.
    ("2021-02-15T10:05", ["centers", "fire", "IV-001", "agree_infrastructure"]),
    ("2021-02-15T10:06", ["centers", "fire", "IV-002", "agree_infrastructure"]),
    ("2021-02-15T10:07", ["centers", "fire", "IV-003", "agree_infrastructure"]),
    # 14 days before the equipment deadline (25.08): reminders before.
    ("2021-08-11T09:00", ["tick"]),
    (
        "2021-08-20T11:00",
        [
            "--on-behalf-of",
            "kuznetsova",
            "centers",
            "fire",
            "IV-001",
            "equip",
            "--evidence",
            "фотографии помещений центра",
        ],
    ),
    (
        "2021-08-20T11:05",
        ["--on-behalf-of", "kuznetsova", "centers", "fire", "IV-001", "train_staff"],
    ),
    ("2021-08-20T11:10", ["--on-behalf-of", "kuznetsova", "centers", "fire", "IV-002", "equip"]),
    (
        "2021-08-20T11:15",
        ["--on-behalf-of", "kuznetsova", "centers", "fire", "IV-002", "train_staff"],
    ),
    # The deadline's day: reminders on the day.
    ("2021-08-25T09:00", ["tick"]),
    (
        "2021-08-30T11:00",
        [
            "--on-behalf-of",
            "kuznetsova",
            "centers",
            "fire",
            "IV-001",
            "open",
            "--evidence",
            "сюжет ГТРК «Ивтелерадио»",
        ],
    ),
    ("2021-08-30T11:05", ["centers", "fire", "IV-001", "start_reporting"]),
    # A week after the term: the first overdue reminders, folded into the coordinator's.
    ("2021-09-01T09:00", ["tick"]),
    # IV-002 has not opened by its term (01.09): its first overdue reminder.
    # The Monday's summary goes first, so Wednesday's coordinator letter is a plain
    # digest (a week's first tick otherwise carries the summary, the digest folded in).
    ("2021-09-06T09:00", ["tick"]),
    ("2021-09-08T09:00", ["tick"]),
    # IV-001 submits part of the third quarter; three days before 01.10 it is reminded
    # of the rest.
    ("2021-09-20T10:00", ["indicators", "submit", "IV-001", "2021-Q3", "natsci_students=112"]),
    # IV-002 opens late, in the week before the summary of 27.09, which lists the mark.
    (
        "2021-09-21T10:00",
        [
            "--on-behalf-of",
            "kuznetsova",
            "centers",
            "fire",
            "IV-002",
            "open",
            "--evidence",
            "публикация на сайте школы",
        ],
    ),
    ("2021-09-28T09:00", ["tick"]),
    # A Monday after the last overdue rung of IV-003's equipment: the weekly summary.
    ("2021-10-04T09:00", ["tick"]),
]


#: Steps after which the outbox is not sent: the next mark of the same school joins the
#: letter still pending (one letter per school and day).
HELD = {"2021-08-20T11:00", "2021-08-20T11:10"}


@dataclass(frozen=True)
class Want:
    """One golden letter: its file name, whether its HTML is kept, and how it is found
    among the letters sent (a predicate on the letter's facts)."""

    name: str
    html: bool
    match: Callable[[dict[str, Any]], bool]


def _single(rung: str, role: str) -> Callable[[dict[str, Any]], bool]:
    def match(letter: dict[str, Any]) -> bool:
        items = letter["items"]
        return (
            letter["kind"] == "digest"
            and len(items) == 1
            and items[0]["rung"] == rung
            and items[0]["role"] == role
            and not items[0]["missing"]
        )

    return match


def _digest(role: str, *, escalated: bool = False) -> Callable[[dict[str, Any]], bool]:
    def match(letter: dict[str, Any]) -> bool:
        items = letter["items"]
        return (
            letter["kind"] == "digest"
            and len(items) > 1
            and all(i["role"] == role for i in items)
            # Escalated: an item the coordinator gets because its owners are late
            # («Просрочено у …»), folded into its own digest.
            and (
                not escalated
                or any(i["owners"] and i["owners_label"] == "Просрочено у" for i in items)
            )
        )

    return match


def _monitoring(letter: dict[str, Any]) -> bool:
    items = letter["items"]
    return (
        letter["kind"] == "digest"
        and len(items) == 1
        and items[0]["role"] == "school"
        and bool(items[0]["missing"])
    )


def _notice_to(address: str) -> Callable[[dict[str, Any]], bool]:
    return lambda letter: letter["kind"] == "notice" and letter["recipient"] == address


#: One letter of each kind each role receives in the script. The department is reminded of
#: several items at once, so its single reminders come folded in its digests.
WANTED: list[Want] = [
    Want("school-before", True, _single("before", "school")),
    Want("school-on-day", False, _single("on_day", "school")),
    Want("school-overdue", True, _single("overdue", "school")),
    Want("school-monitoring", True, _monitoring),
    Want("school-notice", True, _notice_to("school1@school.ivanovo.ru")),
    Want(
        "school-notice-documents",
        True,
        lambda letter: _notice_to("school1@school.ivanovo.ru")(letter)
        and "Документы:" in letter["txt"]
        and "Отмечено этапов" not in letter["txt"],
    ),
    Want(
        "school-notices-of-a-day",
        True,
        lambda letter: letter["kind"] == "notice" and "Отмечено этапов: 2." in letter["txt"],
    ),
    Want("school-digest", True, _digest("school")),
    Want("municipality-overdue", False, _single("overdue", "municipality")),
    Want("operator-on-day", False, _single("on_day", "federal_operator")),
    Want("municipality-digest", True, _digest("municipality")),
    Want("municipality-on-day", False, _single("on_day", "municipality")),
    Want("department-digest-escalated", True, _digest("department", escalated=True)),
    Want(
        "department-weekly-summary",
        True,
        # The one with a long-overdue center and the week's marks (IV-002 opened).
        lambda letter: letter["kind"] == "summary"
        and "Центры, отстающие давно" in letter["txt"]
        and "Отмечено за неделю" in letter["txt"],
    ),
    Want("operator-before", False, _single("before", "federal_operator")),
    Want("operator-overdue", False, _single("overdue", "federal_operator")),
]

#: The audit chain's head, «SEQ:HASH» in the text and the HTML: the hash is set aside.
_JOURNAL = re.compile(r"\b(\d+):[0-9a-f]{64}\b")
HEADERS = ("Subject", "From", "To", "Cc", "Reply-To")


def _normalise(text: str) -> str:
    return _JOURNAL.sub(r"\1:…", text.replace("\r\n", "\n"))


def _run(db: str, now: str, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [TOCHKA, "--db", db, "--now", now, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{now} {args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _read(raw: bytes) -> dict[str, str]:
    """The golden text of one letter: decoded headers, the text part; and the HTML part."""
    headers = raw_headers(raw)
    head = [
        f"{name}: {strict_decode(headers[name.lower()])}"
        for name in HEADERS
        if name.lower() in headers
    ]
    message = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return {
        "txt": _normalise("\n".join(head) + "\n\n" + text.get_content()),
        "html": _normalise(html.get_content()),
    }


def _sent(path: Path, mail: Path) -> list[dict[str, Any]]:
    """Every letter sent: the outbox row's facts, its reminders' payloads, its file."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, key, kind, recipient, message_id, status FROM outbox ORDER BY id"
        ).fetchall()
        payloads: dict[int, list[dict[str, Any]]] = {}
        for outbox_id, payload in conn.execute(
            "SELECT outbox_id, payload FROM reminder ORDER BY id"
        ):
            payloads.setdefault(outbox_id, []).append(json.loads(payload))
    letters = []
    for outbox_id, key, kind, recipient, message_id, status in rows:
        assert status == "sent", f"{key}: {status}"
        file = mail / (re.sub(r"[^A-Za-z0-9._@-]", "_", message_id.strip("<>")) + ".eml")
        read = _read(file.read_bytes())
        letters.append(
            {
                "key": key,
                "kind": kind,
                "recipient": recipient,
                "items": [
                    {
                        "rung": p.get("rung", ""),
                        "role": p.get("role", ""),
                        "missing": p.get("missing") or [],
                        "owners": p.get("owners") or [],
                        "owners_label": p.get("owners_label", ""),
                    }
                    for p in payloads.get(outbox_id, [])
                ],
                **read,
            }
        )
    return letters


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    work = tmp_path_factory.mktemp("letters")
    (work / "centers.csv").write_text(CENTERS, encoding="utf-8")
    (work / "municipalities.csv").write_text(MUNICIPALITIES, encoding="utf-8")
    path = work / "var" / "tochka.db"
    mail = work / "var" / "mail"
    db = f"sqlite:///{path}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOCHKA_")} | {
        "TOCHKA_VAR_DIR": str(work / "var"),
        "TOCHKA_MAIL_DIR": str(mail),
        "TOCHKA_WEEKLY_SUMMARY": "пн",
        "COLUMNS": "100",
    }
    me = os_login()
    _run(db, "2021-01-11T08:00", ["init"], env)
    for now, args in SCRIPT:
        _run(db, now, [a.replace("{dir}", str(work)).replace("{me}", me) for a in args], env)
        if args[-1] == "tick" or ("fire" in args and now not in HELD):
            _run(db, now, ["outbox", "send"], env)
    return _sent(path, mail)


def _find(letters: list[dict[str, Any]], want: Want) -> dict[str, Any] | None:
    return next((letter for letter in letters if want.match(letter)), None)


def test_every_kind_is_in_the_data_set(letters: list[dict[str, Any]]) -> None:
    """A kind the data set no longer produces fails here instead of skipping silently."""
    missing = [want.name for want in WANTED if _find(letters, want) is None]
    assert not missing, f"no letter of kind {missing} among {len(letters)} letters"


@pytest.mark.parametrize("want", WANTED, ids=[want.name for want in WANTED])
def test_letter_is_unchanged(letters: list[dict[str, Any]], want: Want) -> None:
    letter = _find(letters, want)
    assert letter is not None, f"no letter of kind {want.name}"
    parts = ["txt", "html"] if want.html else ["txt"]
    for part in parts:
        target = GOLDEN / f"{want.name}.{part}"
        if RECORD:
            GOLDEN.mkdir(parents=True, exist_ok=True)
            target.write_text(letter[part], encoding="utf-8")
        assert letter[part] == target.read_text(encoding="utf-8"), target.name
