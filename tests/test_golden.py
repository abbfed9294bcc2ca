"""What people receive, byte for byte, on a fixed data set.

The quarterly report (XLSX, CSV), the status dashboard (HTML, XLSX), every queued letter
and ``reminders preview --json`` are produced through the real ``tochka`` command (a
process, so the test does not depend on where modules live) and compared with files
recorded in ``tests/golden/``. A change that means to alter a letter or a report
re-records them in its own commit: ``TOCHKA_GOLDEN_RECORD=1 pytest tests/test_golden.py``.

XLSX files are zip archives whose members carry the writing time; they are compared
member by member, with the two timestamps of ``docProps/core.xml`` set aside.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

#: The module's data set is built once, on one xdist worker (`make test`: --dist loadgroup),
#: not once per worker.
pytestmark = pytest.mark.xdist_group("golden")

GOLDEN = Path(__file__).resolve().parent / "golden"
RECORD = os.environ.get("TOCHKA_GOLDEN_RECORD") == "1"
TOCHKA = str(Path(sys.executable).with_name("tochka"))

CENTERS = '''code,name,municipality,cohort,email
IV-001,МБОУ «Фурмановская СОШ № 1»,Фурмановский район,2021,school1@school.ivanovo.ru
IV-002,МБОУ Панинская СОШ,Фурмановский район,2021,school2@school.ivanovo.ru
IV-003,МКОУ «Китовская СШ»,Шуйский район,2021,school3@school.ivanovo.ru
IV-004,МБОУ «Лежневская СШ № 10»,Лежневский район,2022,school4@school.ivanovo.ru
IV-005,МКОУ Шилыковская СШ,Лежневский район,2022,school5@school.ivanovo.ru
IV-006,"МБОУ ""Васильевская СШ""",Шуйский район,2021,school6@school.ivanovo.ru
'''

MUNICIPALITIES = """municipality,email,recipient
Фурмановский район,roo@furmanov.ivanovo.ru,Отдел образования администрации Фурмановского района
Шуйский район,roo@shuya.ivanovo.ru,Управление образования Шуйского района
"""

INDICATORS = """Код,Период,natsci_students,tech_students,extra_programs_students
IV-001,2021-Q4,120,40,55
IV-002,2021-Q4,80,30,20
"""

#: (effective date, command line) in order: the operators' year 2021.
SCRIPT: list[tuple[str, list[str]]] = [
    ("2021-01-11T09:00", ["centers", "import", "{dir}/centers.csv"]),
    ("2021-01-11T09:05", ["municipalities", "import", "{dir}/municipalities.csv"]),
    ("2021-01-11T09:10", ["tick"]),
    # Measure 1 needs no step: the roadmap file records it done by the decree itself
    # (done: on 07.12.2020), and the first tick creates its cycle done.
    (
        "2021-02-15T10:05",
        [
            "centers",
            "fire",
            "IV-001",
            "agree_infrastructure",
            "--evidence",
            "письмо федерального оператора № 12",
        ],
    ),
    ("2021-02-15T10:10", ["centers", "fire", "IV-002", "agree_infrastructure"]),
    ("2021-02-16T09:00", ["tick"]),
    ("2021-08-12T09:00", ["tick"]),
    ("2021-08-20T11:00", ["centers", "fire", "IV-001", "equip"]),
    ("2021-08-20T11:05", ["centers", "fire", "IV-001", "train_staff"]),
    ("2021-08-23T09:00", ["tick"]),
    ("2021-08-30T11:00", ["centers", "fire", "IV-002", "equip"]),
    ("2021-08-30T11:05", ["centers", "fire", "IV-002", "train_staff"]),
    (
        "2021-09-01T10:00",
        ["centers", "fire", "IV-001", "open", "--evidence", "сюжет ГТРК «Ивтелерадио»"],
    ),
    (
        "2021-09-01T10:05",
        ["centers", "fire", "IV-003", "withdraw", "--comment", "школа реорганизована"],
    ),
    ("2021-09-02T09:00", ["tick"]),
    ("2021-09-06T10:00", ["centers", "fire", "IV-002", "open"]),
    ("2021-10-01T10:00", ["centers", "fire", "IV-001", "start_reporting"]),
    ("2021-10-04T09:00", ["tick"]),
    ("2022-01-10T10:00", ["indicators", "import", "{dir}/indicators.csv"]),
    ("2022-01-11T09:00", ["tick"]),
]

OUTPUTS: list[tuple[str, list[str]]] = [
    ("quarterly-2021-Q4.xlsx", ["report", "quarterly", "2021-Q4", "--format", "xlsx"]),
    ("quarterly-2021-Q4.csv", ["report", "quarterly", "2021-Q4", "--format", "csv"]),
    ("status.html", ["report", "status", "--format", "html"]),
    ("status.xlsx", ["report", "status", "--format", "xlsx"]),
]

NOW_OUT = "2022-01-11T12:00"
_CORE_TIMES = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*</dcterms:\1>")
#: Python's email picks MIME boundaries at random; they are numbered in order instead.
_BOUNDARY = re.compile(r"===============\d+==")


def _number_boundaries(message: str) -> str:
    seen: dict[str, str] = {}
    return _BOUNDARY.sub(lambda m: seen.setdefault(m[0], f"=={len(seen) + 1}=="), message)


def _run(db: str, now: str, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [TOCHKA, "--db", db, "--now", now, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _xlsx_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        members = {name: book.read(name) for name in book.namelist()}
    if "docProps/core.xml" in members:
        members["docProps/core.xml"] = _CORE_TIMES.sub(b"", members["docProps/core.xml"])
    return members


#: The audit chain head in a letter («Журнал: SEQ:HASH»): its hash covers the events'
#: real recording times, so it differs from run to run; the sequence number stays.
_JOURNAL_HASH = re.compile(r"(Журнал: (?:<code>)?\d+:)[0-9a-zk:]+")


def _readable(raw: bytes) -> str:
    """A stored letter as its raw headers and each part's decoded text, the chain head's
    hash replaced (the MIME bytes would hide it in base64)."""
    import email
    import email.policy

    message = email.message_from_bytes(raw, policy=email.policy.default)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "surrogateescape")
    parts = [_number_boundaries(head)]
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_content_maintype() == "text":
            body = payload.decode(part.get_content_charset() or "utf-8", "replace")
        else:
            body = f"<{len(payload)} байт>"
        body = _JOURNAL_HASH.sub(r"\1ХЭШ", body)
        parts.append(f"--- {part.get_content_type()}\n{body}")
    return "\n".join(parts)


def _letters(path: Path) -> bytes:
    """Every queued letter as JSON: who gets what, with the stored MIME bytes."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT key, kind, digest_group, recipient, envelope, subject, message "
            "FROM outbox JOIN outbox_letter ON outbox_id = id ORDER BY key"
        ).fetchall()
    letters = [
        dict(
            zip(
                ("key", "kind", "digest_group", "recipient", "envelope", "subject"),
                row[:6],
                strict=True,
            )
        )
        | {"message": _readable(row[6])}
        for row in rows
    ]
    return json.dumps(letters, ensure_ascii=False, indent=1).encode()


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    work = tmp_path_factory.mktemp("golden")
    (work / "centers.csv").write_text(CENTERS, encoding="utf-8")
    (work / "municipalities.csv").write_text(MUNICIPALITIES, encoding="utf-8")
    (work / "indicators.csv").write_text(INDICATORS, encoding="utf-8")
    path = work / "var" / "tochka.db"
    db = f"sqlite:///{path}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOCHKA_")} | {
        "TOCHKA_VAR_DIR": str(work / "var"),
        "TOCHKA_MAIL_DIR": str(work / "var" / "mail"),
        "TOCHKA_WEEKLY_SUMMARY": "пн",
        "COLUMNS": "100",
    }
    _run(db, "2021-01-11T08:00", ["init"], env)
    for now, args in SCRIPT:
        _run(db, now, [a.replace("{dir}", str(work)) for a in args], env)
    out: dict[str, bytes] = {}
    for name, args in OUTPUTS:
        target = work / name
        _run(db, NOW_OUT, [*args, "-o", str(target)], env)
        out[name] = target.read_bytes()
    out["preview.json"] = _run(
        db, NOW_OUT, ["--json", "reminders", "preview", "--until", "2022-03-31"], env
    ).encode()
    out["letters.json"] = _letters(path)
    return out


@pytest.mark.parametrize("name", [name for name, _ in OUTPUTS] + ["preview.json", "letters.json"])
def test_output_is_unchanged(produced: dict[str, bytes], name: str) -> None:
    target = GOLDEN / name
    if RECORD:
        GOLDEN.mkdir(exist_ok=True)
        target.write_bytes(produced[name])
    expected = target.read_bytes()
    if name.endswith(".xlsx"):
        assert _xlsx_members(produced[name]) == _xlsx_members(expected)
    else:
        assert produced[name] == expected


def test_data_set_is_not_empty(produced: dict[str, bytes]) -> None:
    """The fixed data set exercises what it claims to: letters of every kind, a report
    with values, reminders ahead."""
    letters = json.loads(produced["letters.json"])
    assert {letter["kind"] for letter in letters} >= {"digest", "notice", "summary"}
    assert "IV-001" in produced["quarterly-2021-Q4.csv"].decode("utf-8-sig")
    assert "120" in produced["quarterly-2021-Q4.csv"].decode("utf-8-sig")
    assert json.loads(produced["preview.json"])
