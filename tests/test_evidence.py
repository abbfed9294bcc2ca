"""Evidence documents (``--evidence-file KIND=PATH``): stored by SHA-256, recorded in the
audit event, listed, handed out, re-hashed by ``audit verify``; bad files refused with
nothing written. SQLite and PostgreSQL; the main paths through the CLI as a process."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import bypass_append_only, grant
from workflow.engine import evidence, identity, media
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import EVENT, EVIDENCE_BLOB, all_tables

TOCHKA = str(Path(sys.executable).with_name("tochka"))
NOW = "2021-01-12"

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _zip(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _ooxml(main: str, *, macros: bool = False) -> bytes:
    kind = "sheet.macroEnabled.main+xml" if macros else "sheet.main+xml"
    types = f'<Types><Override ContentType="application/{kind}"/></Types>'
    parts = {
        "[Content_Types].xml": types.encode(),
        main: b"<x/>",
    }
    if macros:
        parts["xl/vbaProject.bin"] = b"\x00" * 16
    return _zip(parts)


def _xlsx() -> bytes:
    from openpyxl import Workbook

    buffer = io.BytesIO()
    book = Workbook()
    book.active["A1"] = "Отчёт"  # type: ignore[index]
    book.save(buffer)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    """An XLSX whose central directory says a part unpacks to 600 MB."""
    data = bytearray(_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<x/>" * 8}))
    at = data.find(b"PK\x01\x02")  # the first central directory entry: size at +24
    data[at + 24 : at + 28] = (600 * 1024 * 1024).to_bytes(4, "little")
    return bytes(data)


def _ole(*streams: str) -> bytes:
    return (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 64
        + b"".join(s.encode("utf-16-le") + b"\x00\x00" for s in streams)
    )


# ---------------------------------------------------------------- content, not names


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (PDF, "pdf"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (_xlsx(), "xlsx"),
        (_ooxml("word/document.xml"), "docx"),
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b""}), "odt"),
        (
            _zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "c.xml": b""}),
            "ods",
        ),
        (_ole("Root Entry", "WordDocument"), "doc"),
        (_ole("Root Entry", "Workbook"), "xls"),
        (_zip({"a.txt": b"hello"}), "zip"),
    ],
    # Named by the type: the generated files hold the time they were made, and an id
    # made of their bytes could differ between two xdist workers' collections.
    ids=["pdf", "jpg", "png", "xlsx", "docx", "odt", "ods", "doc", "xls", "zip"],
)
def test_the_type_is_read_from_the_content(content: bytes, name: str) -> None:
    assert media.detect(content).name == name


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00", "исполняемый файл Windows"),
        (b"\x7fELF\x02\x01\x01", "исполняемый файл Linux"),
        (b"#!/bin/sh\nrm -rf /\n", "сценарий"),
        (_ooxml("xl/workbook.xml", macros=True), "макрос"),
        (
            _zip(
                {
                    "[Content_Types].xml": b"<Types><Override ContentType="
                    b'"application/vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>',
                    "xl/workbook.xml": b"<x/>",
                }
            ),
            "с поддержкой макросов (XLSM",
        ),
        (_ole("Root Entry", "Workbook", "_VBA_PROJECT"), "макрос"),
        (
            _zip(
                {
                    "mimetype": b"application/vnd.oasis.opendocument.text",
                    "Basic/Standard/Module1.xml": b"<script/>",
                }
            ),
            "макрос",
        ),
        (_zip_bomb(), "zip-бомбу"),
        (b"PK\x03\x04 broken", "повреждён"),
        (b"just some text", "не похоже ни на один"),
        (_ooxml("ppt/presentation.xml"), "не Word (DOCX) и не Excel"),
    ],
    ids=[
        "exe",
        "elf",
        "script",
        "xlsx-macros",
        "xlsm",
        "xls-macros",
        "odt-macros",
        "zip-bomb",
        "broken-zip",
        "text",
        "pptx",
    ],
)
def test_content_that_may_never_be_evidence_is_refused(content: bytes, reason: str) -> None:
    with pytest.raises(media.Refused, match=re.escape(reason)):
        media.detect(content)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("../../etc/prikaz.pdf", "prikaz.pdf"),
        ("C:\\Documents\\акт.pdf", "акт.pdf"),
        ("  приказ № 5.pdf ", "приказ № 5.pdf"),
    ],
)
def test_a_name_is_kept_without_its_folders(raw: str, kept: str) -> None:
    assert evidence.clean_name(raw) == kept


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a\x00.pdf", "нулевой символ"),
        ("a\nb.pdf", "управляющий символ"),
        ("я" * 300 + ".pdf", "длиннее 255"),
        ("../", "нет имени"),
        ("..", "нет имени"),
    ],
)
def test_a_name_that_cannot_be_kept_is_refused(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        evidence.clean_name(raw)


# ---------------------------------------------------------------- the CLI as a process


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env |= {"PYTHONWARNINGS": "ignore", "TOCHKA_ALLOW_PLACEHOLDER_ADDRESSES": "true", **extra}
    return env


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def tochka(
    db_url: str,
    stored: StoredRoadmap,
    engine: Engine,
    tmp_path: Path,
    cli: Callable[..., Result],
) -> Run:
    """The real CLI as a process on the test database, as this OS account (a
    coordinator), the roadmap's cycles created as of `NOW` (by ``tick``, in-process)."""
    grant(engine, stored.id, [identity.os_login()], "coordinator")
    assert cli("--now", NOW, "tick").exit_code == 0

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TOCHKA, "--db", db_url, "--now", NOW, *args],
            capture_output=True,
            text=True,
            env=env or _env(),
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    return run


def _files_of(engine: Engine, seq: int) -> list[dict[str, Any]]:
    with db.read(engine) as conn:
        recorded = conn.execute(sa.select(EVENT.c.evidence).where(EVENT.c.seq == seq)).scalar()
    assert isinstance(recorded, dict)
    return list(recorded[evidence.FILES_KEY])


def _stored(engine: Engine, db_url: str) -> dict[str, bytes]:
    """What the evidence store holds: hash → content."""
    path = db.sqlite_path(db.normalize_url(db_url))
    if path is not None:
        folder = path.parent / "evidence"
        return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
    with db.read(engine) as conn:
        rows = conn.execute(sa.select(EVIDENCE_BLOB.c.sha256, EVIDENCE_BLOB.c.content))
        return {r.sha256: bytes(r.content) for r in rows}


def _alter(engine: Engine, db_url: str, sha: str, content: bytes | None) -> None:
    """Change (or, with None, remove) a stored file behind Tochka's back."""
    path = db.sqlite_path(db.normalize_url(db_url))
    if path is not None:
        target = path.parent / "evidence" / sha
        if content is None:
            target.unlink()
        else:
            target.write_bytes(content)
        return
    with db.write(engine) as conn:
        if content is None:
            conn.execute(sa.delete(EVIDENCE_BLOB).where(EVIDENCE_BLOB.c.sha256 == sha))
        else:
            conn.execute(
                sa.update(EVIDENCE_BLOB)
                .where(EVIDENCE_BLOB.c.sha256 == sha)
                .values(content=content)
            )


def _said(done: subprocess.CompletedProcess[str] | Result) -> str:
    if isinstance(done, subprocess.CompletedProcess):
        return " ".join((done.stdout + done.stderr).split())
    return " ".join(done.output.split())  # Click's output: stdout and stderr


def test_a_cycle_closed_with_a_file_records_stores_lists_and_hands_it_out(
    tochka: Run, cli: Callable[..., Result], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "prikaz.pdf").write_bytes(PDF)
    sha = hashlib.sha256(PDF).hexdigest()
    closed = tochka(
        "cycles", "fire", "2", "complete",
        "--evidence-file", "department_order=prikaz.pdf",
        "--evidence-file", "department_order=prikaz.pdf",
    )  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    seq = int(closed.stdout.split("событие № ")[1].split(")")[0])
    assert _files_of(engine, seq) == [
        {
            "kind": "department_order",
            "name": "prikaz.pdf",
            "sha256": sha,
            "media_type": "application/pdf",
            "size": len(PDF),
        }
    ]
    assert _stored(engine, db_url) == {sha: PDF}  # the same file twice: stored once

    listed = tochka("evidence", "list", "--cycle", "2")
    assert listed.returncode == 0, listed.stderr
    for heading in ("дата", "центр/мероприятие", "вид", "имя файла", "размер", "sha256"):
        assert heading in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if "prikaz.pdf" in line).split()
    assert row[:4] == ["12.01.2021", "мероприятие", "2,", "2020"]
    assert row[-1] == sha[:12]
    assert "приказ Департамента образования" in listed.stdout

    got = tochka("evidence", "get", sha[:10], "-o", "copy.pdf")
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "copy.pdf").read_bytes() == PDF
    copy = str(tmp_path / "copy.pdf")
    again = cli("evidence", "get", sha[:10], "-o", copy)
    assert again.exit_code == 1
    assert "файл уже есть, не заменён" in _said(again)
    (tmp_path / "copy.pdf").write_bytes(b"mine")
    assert cli("evidence", "get", sha, "-o", copy, "--force").exit_code == 0
    assert (tmp_path / "copy.pdf").read_bytes() == PDF

    verified = tochka("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "Документы-основания: 1 файл (1 ссылка в журнале)" in _said(verified)


def test_a_center_transition_carries_files_and_its_letter_names_them(
    tochka: Run, engine: Engine, db_url: str, centers3: list[Any], tmp_path: Path
) -> None:
    (tmp_path / "letter.pdf").write_bytes(PDF)
    (tmp_path / "list.xlsx").write_bytes(_xlsx())
    moved = tochka(
        "centers", "fire", centers3[0].code, "agree_infrastructure",
        "--evidence", "Письмо № 7",
        "--evidence-file", "operator_letter=letter.pdf",
        "--evidence-file", "department_order=list.xlsx",
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    listed = tochka("--json", "evidence", "list", "--center", centers3[0].code)
    found = json.loads(listed.stdout)
    assert [(f["kind"], f["name"], f["media_type"]) for f in found] == [
        ("operator_letter", "letter.pdf", "application/pdf"),
        (
            "department_order",
            "list.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ]
    assert len(_stored(engine, db_url)) == 2
    # Whoever reads the evidence as text sees the files by name, never their records.
    history = tochka("history", "center", centers3[0].code)
    assert "документ: файл «letter.pdf»" in _said(history)
    assert "sha256" not in history.stdout
    assert "[{" not in history.stdout
    import email
    import email.policy

    from notifications.outbox import OUTBOX_LETTER

    with db.read(engine) as conn:
        letters = [
            email.message_from_bytes(bytes(m), policy=email.policy.default)
            .get_body(("plain",))
            .get_content()  # type: ignore[union-attr]
            for m in conn.execute(sa.select(OUTBOX_LETTER.c.message)).scalars()
        ]
    assert any("файл «letter.pdf»" in body for body in letters)
    assert not any("sha256" in body or "[{" in body for body in letters)


def test_audit_verify_names_an_altered_and_a_missing_file(
    tochka: Run, cli: Callable[..., Result], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "prikaz.pdf").write_bytes(PDF)
    sha = hashlib.sha256(PDF).hexdigest()
    given = f"department_order={tmp_path / 'prikaz.pdf'}"
    assert (
        cli("--now", NOW, "cycles", "fire", "2", "complete", "--evidence-file", given).exit_code
        == 0
    )

    _alter(engine, db_url, sha, PDF + b"% edited\n")
    altered = tochka("audit", "verify")
    assert altered.returncode == 1
    said = _said(altered)
    assert f"файл «prikaz.pdf» (sha256 {sha[:12]}…" in said
    assert "цикл 2, событие №" in said
    assert "содержимое изменено" in said
    assert "Traceback" not in said

    _alter(engine, db_url, sha, None)
    missing = cli("audit", "verify")
    assert missing.exit_code == 1
    assert "нет в хранилище" in _said(missing)
    assert cli("evidence", "get", sha[:8], "-o", str(tmp_path / "x.pdf")).exit_code == 1
    assert not (tmp_path / "x.pdf").exists()


def test_the_chain_covers_the_file_record(
    cli: Callable[..., Result], stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    assert cli("--now", NOW, "tick").exit_code == 0
    (tmp_path / "prikaz.pdf").write_bytes(PDF)
    assert (
        cli(
            "--now", NOW, "cycles", "fire", "2", "complete",
            "--evidence-file", f"department_order={tmp_path / 'prikaz.pdf'}",
        ).exit_code
        == 0
    )  # fmt: skip
    with db.write(engine) as conn:
        bypass_append_only(conn)
        row = conn.execute(
            sa.select(EVENT.c.id, EVENT.c.evidence).where(EVENT.c.trigger == "complete")
        ).all()[-1]
        forged = dict(row.evidence)
        forged[evidence.FILES_KEY] = [{**forged[evidence.FILES_KEY][0], "sha256": "0" * 64}]
        conn.execute(sa.update(EVENT).where(EVENT.c.id == row.id).values(evidence=forged))
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    assert "содержимое события изменено" in _said(broken)


# ---------------------------------------------------------------- bad input, nothing written


def _dump(engine: Engine, root: Path) -> tuple[list[Any], list[str]]:
    """Every row of every table, and every file under the test's folder."""
    rows: list[Any] = []
    with db.read(engine) as conn:
        for table in all_tables():
            rows.append((table.name, [tuple(r) for r in conn.execute(sa.select(table))]))
    files = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(("-wal", "-shm"))
    )
    return rows, files


def _bad_inputs(folder: Path) -> list[tuple[str, str]]:
    """(--evidence-file value, what the error must say) for each bad input."""
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "big.pdf").write_bytes(PDF + b"0" * (1024 * 1024))
    (folder / "evil.pdf").write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00")
    (folder / "archive.zip").write_bytes(_zip({"a.pdf": PDF}))
    (folder / "book.xlsm").write_bytes(_ooxml("xl/workbook.xml", macros=True))
    (folder / "bomb.xlsx").write_bytes(_zip_bomb())
    (folder / "folder").mkdir()
    long = "я" * 300 + ".pdf"
    return [
        (f"department_order={folder / 'missing.pdf'}", "missing.pdf» не найден"),
        (f"department_order={folder / 'folder'}", "— папка, а не файл"),
        (f"department_order={folder / 'empty.pdf'}", "empty.pdf» пустой"),
        (
            f"department_order={folder / 'big.pdf'}",
            "больше допустимого: 1 МБ, а можно не больше 1 МБ",
        ),
        (f"department_order={folder / 'evil.pdf'}", "это исполняемый файл Windows"),
        (f"department_order={folder / 'archive.zip'}", "архив ZIP не входит в допустимые"),
        (f"department_order={folder / 'book.xlsm'}", "документ содержит макросы"),
        (f"department_order={folder / 'bomb.xlsx'}", "zip-бомбу"),
        (f"department_order={folder / long}", "имя файла длиннее 255 символов (304)"),
        (f"department_order={folder}/a\x00.pdf", "нулевой символ (NUL)"),
        (f"письмо={folder / 'evil.pdf'}", "неизвестный вид документа «письмо»"),
        (f"{folder / 'evil.pdf'}", "укажите файл как ВИД=ПУТЬ"),
        ("/dev/null", "укажите файл как ВИД=ПУТЬ"),
        ("department_order=/dev/null", "не обычный файл"),
    ]


def test_each_bad_file_is_refused_with_nothing_written(
    cli: Callable[..., Result],
    stored: StoredRoadmap,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_EVIDENCE_MAX_MB", "1")
    assert cli("--now", NOW, "tick").exit_code == 0
    given = tmp_path / "given"
    given.mkdir()
    cases = _bad_inputs(given)
    before = _dump(engine, tmp_path)
    for value, expected in cases:
        for command in (
            ("cycles", "fire", "2", "complete"),
            ("centers", "fire", "NONE", "agree_infrastructure"),
        ):
            if command[0] == "centers" and "=" not in value:
                continue
            done = cli("--now", NOW, *command, "--evidence-file", value)
            said = _said(done)
            assert done.exit_code == 1, (value, said)
            assert said.startswith("Ошибка: --evidence-file «"), said
            assert expected in said, (value, said)
            assert "Traceback" not in said
        assert _dump(engine, tmp_path) == before, value


def test_a_refused_transition_stores_no_file(
    tochka: Run, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "prikaz.pdf").write_bytes(PDF)
    before = _dump(engine, tmp_path)
    done = tochka(
        "cycles", "fire", "1", "complete", "--evidence-file", "government_decree=prikaz.pdf"
    )  # cycle 1 is done already (the roadmap file records it)
    assert done.returncode == 1
    assert "недопустим в состоянии «выполнен»" in _said(done)
    assert _dump(engine, tmp_path) == before
    assert _stored(engine, db_url) == {}


def test_a_store_that_cannot_be_written_refuses_the_transition(
    tochka: Run, engine: Engine, tmp_path: Path
) -> None:
    """The content goes in before the commit: if it cannot, nothing is recorded."""
    (tmp_path / "prikaz.pdf").write_bytes(PDF)
    (tmp_path / "not-a-folder").write_text("x")
    before = _dump(engine, tmp_path)
    done = tochka(
        "cycles", "fire", "2", "complete", "--evidence-file", "department_order=prikaz.pdf",
        env=_env(TOCHKA_EVIDENCE_DIR=str(tmp_path / "not-a-folder")),
    )  # fmt: skip
    assert done.returncode == 1
    said = _said(done)
    assert f"Документ не сохранён в хранилище {tmp_path / 'not-a-folder'}" in said
    assert "Переход не выполнен" in said
    assert _dump(engine, tmp_path) == before


def test_a_configured_folder_holds_the_files_and_zip_may_be_allowed(
    tochka: Run, engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "scans.zip").write_bytes(_zip({"a.pdf": PDF}))
    env = _env(TOCHKA_EVIDENCE_DIR=str(tmp_path / "store"), TOCHKA_EVIDENCE_TYPES="pdf, zip")
    done = tochka(
        "cycles", "fire", "2", "complete", "--evidence-file", "department_order=scans.zip", env=env
    )
    assert done.returncode == 0, done.stderr
    sha = hashlib.sha256((tmp_path / "scans.zip").read_bytes()).hexdigest()
    assert [p.name for p in (tmp_path / "store").iterdir()] == [sha]
    assert tochka("audit", "verify", env=env).returncode == 0


@pytest.mark.postgres
def test_an_unreadable_file_is_refused(tochka: Run, engine: Engine, db_url: str) -> None:
    """As an account that may not read the file (root reads every file: the command then
    runs as «nobody», on PostgreSQL, which needs no file of the database)."""
    folder = Path(tempfile.mkdtemp(prefix="tochka-evidence-"))
    try:
        folder.chmod(0o755)
        secret = folder / "secret.pdf"
        secret.write_bytes(PDF)
        secret.chmod(0o000)
        before = _dump(engine, folder)
        command = [
            "cycles",
            "fire",
            "2",
            "complete",
            "--evidence-file",
            f"department_order={secret}",
        ]
        if os.geteuid() == 0:
            done = subprocess.run(
                ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                 TOCHKA, "--db", db_url, "--now", NOW, *command],
                capture_output=True, text=True, env=_env(), cwd="/", timeout=120, check=False,
            )  # fmt: skip
            # A clone inside a folder only its owner may enter (`mktemp -d` makes it 0700)
            # cannot be run by another account at all: nothing to check then, say so.
            if "Permission denied" in done.stderr and ".venv" in done.stderr:
                pytest.skip("this checkout's .venv is not readable by another account")
        else:
            done = tochka(*command)
        assert done.returncode == 1
        assert f"нет прав на чтение файла «{secret}»" in _said(done)
        assert _dump(engine, folder) == before
    finally:
        shutil.rmtree(folder)
