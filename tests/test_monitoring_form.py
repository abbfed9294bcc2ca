"""The monitoring form round trip: attached to a school's measure-9 letter, filled in with
openpyxl, sent back as a reply (``tochka replies import`` of the .eml), read with the
indicator import's validators; the values appear in ``report quarterly``. A form with
errors is answered cell by cell and records nothing; a form of another period, an
``.xlsm``, a zip bomb, a PDF named .xlsx are refused with their reasons."""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import io
import json
import subprocess
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER
from tests.conftest import T0, make_rows
from tests.subjects import line_of
from tests.test_tick import at
from workflow.engine import centers
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND
from workflow.storage.tables import VALUE

Cli = Callable[..., Result]
FORWARD = ("agree_infrastructure", "equip", "train_staff", "open", "start_reporting")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _school(engine: Engine, stored: StoredRoadmap) -> Any:
    (row,) = make_rows(1)
    centers.import_centers(engine, stored, [row], filename="t.csv", actor="operator", now=T0)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for trigger in FORWARD:
        fire.fire_center(row.code, trigger, actor=Actor(login="operator"), now=at("2021-09-01"))
    return row


def _letter(cli: Cli, mail: Path, now: str, school: str) -> EmailMessage:
    """Tick, deliver through the file transport, and return the school's newest letter."""
    before = set(mail.glob("*.eml")) if mail.exists() else set()
    assert cli("--now", now, "tick").exit_code == 0
    sent = cli("--now", now, "outbox", "send")
    assert sent.exit_code == 0, sent.output
    for path in sorted(set(mail.glob("*.eml")) - before):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if school in str(message["To"]):
            return message
    raise AssertionError(f"no letter to {school}")


def _form(letter: EmailMessage) -> tuple[str, bytes]:
    (part,) = [p for p in letter.iter_attachments() if p.get_content_type() == XLSX]
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return str(part.get_filename()), data


def _filled(data: bytes, values: dict[str, object]) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["Мониторинг"]
    for ref, value in values.items():
        sheet[ref] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _reply(letter: EmailMessage, sender: str, name: str, data: bytes, mid: str) -> bytes:
    """What a mail client sends back: Re:, In-Reply-To, the quoted letter, the file."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Школа <{sender}>"
    msg["To"] = str(letter["From"])
    msg["Subject"] = f"Re: {letter['Subject']}"
    msg["Date"] = format_datetime(datetime(2021, 10, 5, 12, 0, tzinfo=UTC))
    msg["Message-ID"] = mid
    msg["In-Reply-To"] = str(letter["Message-ID"])
    msg["References"] = str(letter["Message-ID"])
    body = letter.get_body(preferencelist=("plain",))
    quoted = "\n".join(f"> {line}" for line in body.get_content().splitlines()) if body else ""
    msg.set_content(f"Форма во вложении.\n\nТочка роста пишет:\n{quoted}\n")
    maintype, subtype = XLSX.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _import(cli: Cli, tmp_path: Path, raw: bytes, name: str) -> str:
    path = tmp_path / f"{name}.eml"
    path.write_bytes(raw)
    result = cli("replies", "import", str(path))
    assert result.exit_code == 0, result.output
    return result.output


def _values(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(VALUE).order_by(VALUE.c.id)))


def _answer(engine: Engine, inbound_id: int) -> tuple[str, str]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(OUTBOX.c.subject, OUTBOX_LETTER.c.message, OUTBOX.c.recipient)
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.key == f"form-reply:{inbound_id}")
        ).one()
    message = email.message_from_bytes(row.message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return row.subject, body.get_content()


@pytest.fixture
def mail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "mail"
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(folder))
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
    return folder


def test_the_form_comes_back_as_values_in_the_quarterly_report(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path, mail: Path
) -> None:
    school = _school(engine, stored)
    letter = _letter(cli, mail, "2021-10-01T09:00", school.email)
    name, data = _form(letter)
    assert name == f"monitoring-{school.code}-2021-Q3.xlsx"

    # What the school opens: protected, validated, marked, on A4.
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["Мониторинг"]
    assert sheet.protection.sheet
    assert book.security is not None
    assert book.security.lockStructure
    assert f"{school.code} — {school.name}" in str(sheet["A3"].value)
    assert "III квартал 2021 г." in str(sheet["A4"].value)
    names = [sheet[f"B{r}"].value for r in (9, 10, 11)]
    assert names == [i.name for i in stored.definition.indicators[:3]]
    assert [sheet[f"C{r}"].value for r in (9, 10, 11)] == ["чел."] * 3
    assert sheet["D9"].value == "от 0 до 1000000, целое"
    assert sheet["E9"].value == "—"  # opened in September: no quarter before
    assert [sheet[f"F{r}"].protection.locked for r in (9, 10, 11)] == [False] * 3
    assert all(sheet[f"{c}9"].protection.locked for c in "ABCDE")
    assert sheet["A3"].protection.locked
    rules = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    assert sorted(rules) == ["F10", "F11", "F9"]
    assert (rules["F9"].type, rules["F9"].operator, rules["F9"].formula1) == (
        "whole",
        "between",
        "0",
    )
    assert rules["F9"].formula2 == "1000000"
    assert rules["F9"].showErrorMessage
    assert sheet.page_setup.paperSize == 9  # A4
    assert sheet.page_setup.fitToWidth == 1
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    hidden = book["tochka"]
    assert hidden.sheet_state == "veryHidden"
    marker = json.loads(str(hidden["A1"].value))
    assert (marker["kind"], marker["version"], marker["roadmap"]) == (
        "tochka-monitoring-form",
        1,
        stored.definition.code,
    )
    assert (marker["center"], marker["period"]) == (school.code, "2021-Q3")
    assert "TochkaForm" in book.defined_names

    filled = _filled(data, {"F9": 120, "F10": 40, "F11": 55})
    mid = make_msgid(domain="school.example.org")
    out = _import(cli, tmp_path, _reply(letter, school.email, name, filled, mid), "back")
    assert "форма мониторинга принята: записано значений 3" in out

    rows = _values(engine)
    assert [(r.indicator, r.period, r.value) for r in rows] == [
        ("natsci_students", "2021-Q3", 120.0),
        ("tech_students", "2021-Q3", 40.0),
        ("extra_programs_students", "2021-Q3", 55.0),
    ]
    source = rows[0].source
    assert hashlib.sha256(filled).hexdigest() in source
    assert mid in source

    subject, text = _answer(engine, 1)
    assert (
        line_of(subject)
        == f"Форма мониторинга принята: {school.code} «{school.name}», III квартал 2021 г."
    )
    assert f"– {stored.definition.indicators[0].name} — 120 чел." in text
    with engine.connect() as conn:
        inbound = conn.execute(sa.select(INBOUND.c.submission, INBOUND.c.reason)).one()
    assert inbound.submission is None  # recorded: nothing waits for the coordinator

    report = tmp_path / "q3.csv"
    made = cli(
        "--now",
        "2021-10-06",
        "report",
        "quarterly",
        "2021-Q3",
        "--format",
        "csv",
        "-o",
        str(report),
    )
    assert made.exit_code == 0, made.output
    text = report.read_text(encoding="utf-8-sig")
    (line,) = [r for r in csv.reader(io.StringIO(text), delimiter=";") if school.code in r]
    assert ["120", "40", "55"] == [c for c in line if c in ("120", "40", "55")]

    # The fourth quarter's form shows the third quarter's values and the year's rows.
    q4 = _letter(cli, mail, "2021-12-20T09:00", school.email)
    q4_name, q4_data = _form(q4)
    sheet = openpyxl.load_workbook(io.BytesIO(q4_data))["Мониторинг"]
    assert [sheet[f"E{r}"].value for r in (9, 10, 11)] == ["120", "40", "55"]
    assert sheet["E8"].value == "Значение за III квартал 2021 г."
    assert str(sheet["B13"].value).endswith("(за 2021 год)")
    assert sheet["D13"].value == "от 0 до 100"

    # Printed through LibreOffice: one A4 page.
    (tmp_path / "print").mkdir()
    (tmp_path / "print" / "form.xlsx").write_bytes(q4_data)
    subprocess.run(
        [
            "soffice",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "print"),
            str(tmp_path / "print" / "form.xlsx"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    info = subprocess.run(
        ["pdfinfo", str(tmp_path / "print" / "form.pdf")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Pages:           1" in info
    assert "595.3" in info
    assert "841.89" in info

    # A share over 100, a fraction of a person, a word: each by its cell; nothing recorded.
    before = _values(engine)
    bad = _filled(q4_data, {"F9": 130, "F10": 40.5, "F11": "много", "F12": 3, "F13": 120})
    out = _import(cli, tmp_path, _reply(q4, school.email, q4_name, bad, "<bad@s>"), "bad")
    assert "форма мониторинга не принята (3 ошиб." in out
    assert _values(engine) == before
    subject, text = _answer(engine, 2)
    assert subject.startswith("Форма мониторинга не принята:")
    for error in (
        "ячейка F10: 40.5 — не целое число: показатель считается в целых",
        "ячейка F11: «много» — не число",
        "ячейка F13: значение 120 больше допустимого 100: доля не может превышать 100 %",
    ):
        assert f"  – {error}" in text, text
    assert "ни одно значение не записано" in text
    assert "ячейка F9" not in text
    assert "ячейка F12" not in text

    # The third quarter's form sent back to the fourth quarter's letter: refused.
    out = _import(cli, tmp_path, _reply(q4, school.email, name, filled, "<old@s>"), "old")
    assert (
        f"форма центра {school.code} за III квартал 2021 г., а письмо — о центре "
        f"{school.code} за IV квартал 2021 г." in out
    )
    assert _values(engine) == before


def _xlsm(data: bytes) -> bytes:
    """The form turned into a macro workbook (its content type and a VBA part)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "[Content_Types].xml":
                content = content.replace(
                    b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml"
                )
            target.writestr(info, content)
        target.writestr("xl/vbaProject.bin", b"\x00" * 64)
    return out.getvalue()


def _bomb(data: bytes) -> bytes:
    """The form with a part that unpacks to 30 MB (a few kilobytes packed)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info.filename))
        target.writestr("xl/media/padding.bin", b"\x00" * (30 * 1024 * 1024))
    return out.getvalue()


def _plain_workbook() -> bytes:
    book = openpyxl.Workbook()
    book.active["A1"] = "Показатели"  # type: ignore[index]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _macro_type(data: bytes) -> bytes:
    """The form declared a macro workbook (XLSM) by its content types alone."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "[Content_Types].xml":
                content = content.replace(
                    b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml"
                )
            target.writestr(info, content)
    return out.getvalue()


HOSTILE: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("xlsm", _xlsm, "документ содержит макросы (vbaProject.bin)"),
    ("macro-type", _macro_type, "документ с поддержкой макросов (XLSM, DOCM)"),
    ("zip-bomb", _bomb, "распаковывается в 30 МБ — форма мониторинга занимает килобайты"),
    ("pdf", lambda _data: b"%PDF-1.4\n%%EOF\n", "— PDF, а не форма .xlsx"),
    ("exe", lambda _data: b"MZ\x90\x00" + b"\x00" * 60, "это исполняемый файл Windows"),
    ("broken", lambda data: data[: len(data) // 2], "архив ZIP повреждён и не читается"),
    ("not-ours", lambda _data: _plain_workbook(), "не форма мониторинга Точки (в нём нет"),
]


def test_a_file_that_is_not_the_form_is_refused(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path, mail: Path
) -> None:
    school = _school(engine, stored)
    letter = _letter(cli, mail, "2021-10-01T09:00", school.email)
    name, data = _form(letter)
    filled = _filled(data, {"F9": 120})
    for number, (label, make, says) in enumerate(HOSTILE, start=1):
        raw = _reply(letter, school.email, name, make(filled), f"<{label}@s>")
        out = _import(cli, tmp_path, raw, label)
        assert "форма мониторинга не принята" in out, (label, out)
        assert says in out, (label, out)
        assert _values(engine) == [], label
        _subject, text = _answer(engine, number)
        assert says in text, label


def test_a_form_kept_for_acceptance_waits_then_is_recorded(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path, mail: Path
) -> None:
    from workflow.inbound.forms import accept_form
    from workflow.roadmap.store import _parse_cached
    from workflow.storage.tables import ROADMAP

    # The roadmap says forms wait for the coordinator.
    with db.write(engine) as conn:
        source = conn.execute(sa.select(ROADMAP.c.source)).scalar_one()
        conn.execute(ROADMAP.update().values(source=source + "\nmonitoring: {forms: accept}\n"))
    _parse_cached.cache_clear()
    school = _school(engine, stored)
    letter = _letter(cli, mail, "2021-10-01T09:00", school.email)
    name, data = _form(letter)
    filled = _filled(data, {"F9": 120, "F10": 40, "F11": 55})
    out = _import(cli, tmp_path, _reply(letter, school.email, name, filled, "<w@s>"), "w")
    assert "форма мониторинга проверена: 3 знач. ждут решения координатора" in out
    assert _values(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(INBOUND.c.submission)).scalar_one() == "pending"
    subject, text = _answer(engine, 1)
    assert subject.startswith("Форма мониторинга получена, ждёт проверки:")
    assert "будут учтены после подтверждения координатором" in text

    with db.write(engine) as conn:
        result = accept_form(conn, 1, now=datetime.now(UTC))
    assert result is not None
    assert result.recorded == 3
    assert [r.value for r in _values(engine)] == [120.0, 40.0, 55.0]
    with engine.connect() as conn:
        assert conn.execute(sa.select(INBOUND.c.submission)).scalar_one() is None
