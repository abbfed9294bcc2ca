"""The order that moves a deadline, as a file (``--evidence-file KIND=PATH`` of ``cycles
reschedule`` and ``centers reschedule``): stored by SHA-256, recorded in the move's
event (the audit chain's hash covers it) and in the revision's document, listed by
``evidence list`` and re-hashed by ``audit verify``; a bad file refuses the move in
Russian with nothing written, and a refused move stores no file. SQLite and PostgreSQL,
the CLI as a process."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.test_evidence import (
    NOW,
    PDF,
    Run,
    _alter,
    _bad_inputs,
    _dump,
    _files_of,
    _said,
    _stored,
    _xlsx,
    tochka,  # noqa: F401  (the fixture)
)
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CYCLE, EVENT, REVISION, STAGE_REVISION

Cli = Callable[..., Result]
REASON = "письмо Минпросвещения России от 10.01.2021 № 04-12"


def _seq(engine: Engine, kind: str) -> int:
    """The last reschedule event of a center or a cycle."""
    with db.read(engine) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.max(EVENT.c.seq)).where(
                    EVENT.c.entity_kind == kind, EVENT.c.trigger == "reschedule"
                )
            ).scalar_one()
        )


def _evidence(engine: Engine, seq: int) -> dict[str, Any]:
    with db.read(engine) as conn:
        found = conn.execute(sa.select(EVENT.c.evidence).where(EVENT.c.seq == seq)).scalar()
    assert isinstance(found, dict)
    return found


def _due(engine: Engine, cycle_id: int) -> str:
    with db.read(engine) as conn:
        due = conn.execute(sa.select(CYCLE.c.due_date).where(CYCLE.c.id == cycle_id)).scalar()
    return f"{due:%d.%m.%Y}"


def test_a_moved_deadline_keeps_its_order_as_a_file(
    tochka: Run,  # noqa: F811
    engine: Engine,
    db_url: str,
    centers3: list[Any],
    tmp_path: Path,
) -> None:
    (tmp_path / "prikaz.pdf").write_bytes(PDF)
    (tmp_path / "grafik.xlsx").write_bytes(_xlsx())
    pdf_sha = hashlib.sha256(PDF).hexdigest()
    xlsx_sha = hashlib.sha256((tmp_path / "grafik.xlsx").read_bytes()).hexdigest()

    # A cycle's due date, the order given as a file only.
    before = _due(engine, 2)
    moved = tochka(
        "cycles", "reschedule", "2", "--due", "2021-03-01", "--reason", REASON,
        "--evidence-file", "department_order=prikaz.pdf",
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert f"Срок цикла № 2 перенесён с {before} на 01.03.2021." in _said(moved)
    assert f"документ «prikaz.pdf», SHA-256 {pdf_sha}" in moved.stdout
    seq = _seq(engine, "cycle")
    assert _files_of(engine, seq) == [
        {
            "kind": "department_order",
            "name": "prikaz.pdf",
            "sha256": pdf_sha,
            "media_type": "application/pdf",
            "size": len(PDF),
        }
    ]
    assert _evidence(engine, seq)["department_order"] == "файл «prikaz.pdf»"
    with db.read(engine) as conn:
        (revision,) = conn.execute(sa.select(REVISION)).all()
    assert (revision.event_seq, revision.document) == (seq, "файл «prikaz.pdf»")

    # A center's stage, a text and a file of another kind beside it (JSON output).
    code = centers3[0].code
    staged = tochka(
        "--json", "centers", "reschedule", code, "equipped",
        "--due", "2021-09-15", "--reason", REASON,
        "--evidence", "operator_letter=письмо № 7",
        "--evidence-file", "department_order=grafik.xlsx",
    )  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    answer = json.loads(staged.stdout)
    assert [(f["name"], f["sha256"]) for f in answer["files"]] == [("grafik.xlsx", xlsx_sha)]
    center_seq = _seq(engine, "center")
    recorded = _evidence(engine, center_seq)
    assert recorded["operator_letter"] == "письмо № 7"
    assert recorded["department_order"] == "файл «grafik.xlsx»"
    assert [f["sha256"] for f in recorded["_files"]] == [xlsx_sha]
    with db.read(engine) as conn:
        (stage,) = conn.execute(sa.select(STAGE_REVISION)).all()
    assert stage.document == "письмо № 7; файл «grafik.xlsx»"

    # Stored by hash, listed, re-hashed by audit verify.
    assert _stored(engine, db_url) == {
        pdf_sha: PDF,
        xlsx_sha: (tmp_path / "grafik.xlsx").read_bytes(),
    }
    listed = tochka("--json", "evidence", "list")
    found = {(f["entity"], f["key"], f["event"], f["sha256"]) for f in json.loads(listed.stdout)}
    assert ("cycle", revision_key(engine, 2), seq, pdf_sha) in found
    assert ("center", code, center_seq, xlsx_sha) in found
    verified = tochka("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "Документы-основания: 2 файла (2 ссылки в журнале)" in _said(verified)
    _alter(engine, db_url, pdf_sha, PDF + b"%changed")
    broken = tochka("audit", "verify")
    assert broken.returncode != 0
    assert "файл «prikaz.pdf»" in _said(broken)
    assert "содержимое изменено" in _said(broken)


def revision_key(engine: Engine, cycle_id: int) -> str:
    """The cycle's key in the journal («2/2020»)."""
    with db.read(engine) as conn:
        row = conn.execute(
            sa.select(CYCLE.c.measure, CYCLE.c.period).where(CYCLE.c.id == cycle_id)
        ).one()
    return f"{row.measure}/{row.period}"


def test_a_bad_file_refuses_the_move_with_nothing_written(
    cli: Cli,
    stored: StoredRoadmap,
    engine: Engine,
    centers3: list[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_EVIDENCE_MAX_MB", "1")
    assert cli("--now", NOW, "tick").exit_code == 0
    given = tmp_path / "given"
    given.mkdir()
    cases = _bad_inputs(given)
    code = centers3[0].code
    commands = (
        ("cycles", "reschedule", "2", "--due", "2021-03-01", "--reason", REASON),
        ("centers", "reschedule", code, "equipped", "--due", "2021-09-15",
         "--reason", REASON),
    )  # fmt: skip
    (tmp_path / "prikaz.pdf").write_bytes(PDF)
    before = _dump(engine, tmp_path)
    for value, expected in cases:
        for command in commands:
            done = cli("--now", NOW, *command, "--evidence-file", value)
            said = _said(done)
            assert done.exit_code == 1, (value, said)
            assert said.startswith("Ошибка: --evidence-file «"), said
            assert expected in said, (value, said)
            assert "Traceback" not in said
        assert _dump(engine, tmp_path) == before, value

    # A good file with a move that is refused: nothing stored either.
    good = ("--evidence-file", f"department_order={tmp_path / 'prikaz.pdf'}")
    refusals: list[tuple[tuple[str, ...], str]] = [
        (commands[0][:5], "не указана причина"),
        (commands[1][:6], "не указана причина"),
        (("cycles", "reschedule", "1", "--due", "2021-03-01", "--reason", REASON), "уже выполнен"),
        (
            ("centers", "reschedule", code, "planned", "--due", "2021-04-15", "--reason", REASON),
            "нет срока в дорожной карте",
        ),
    ]
    for move, says in refusals:
        done = cli("--now", NOW, *move, *good)
        assert done.exit_code == 1, (move, _said(done))
        assert says in _said(done), _said(done)
    assert _dump(engine, tmp_path) == before
    # Not a coordinator: only the refusal is recorded, no file is stored.
    done = cli("--now", NOW, *commands[0], *good, actor="stranger")
    assert done.exit_code == 1, _said(done)
    rows, files = _dump(engine, tmp_path)
    assert files == before[1]
    changed = {name for (name, got), (_n, was) in zip(rows, before[0], strict=True) if got != was}
    assert changed <= {"event", "audit_head"}
    with db.read(engine) as conn:
        (refusal,) = conn.execute(sa.select(EVENT).where(EVENT.c.entity_kind == "refusal"))
    assert refusal.actor == "stranger"
