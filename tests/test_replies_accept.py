"""Submissions (issue 15, item 4): a reply to a reminder is accepted — the deadline's
transition fired with the attached files as evidence, the decision recorded, the sender
told, in one transaction — or rejected with a reason; every refusal changes nothing.

The letters are real: centers imported, stages marked, ``tick`` and ``outbox send``
through the CLI, once per module and backend (`tests.replies_db`); each test gets a copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER
from tests.conftest import grant
from tests.replies_db import Templates, module_templates, read_letters, resolve_stored
from tests.replies_mail import PDF, reply
from workflow.inbound.files import import_path
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND
from workflow.storage.tables import CENTER, CYCLE, EVENT, all_tables

Cli = Callable[..., Result]
LIMIT = 25 * 1024 * 1024
S1, S2, OPERATOR = "s1@example.org", "s2@example.org", "operator@example.org"
#: S2's stage (staff_trained, measure 6) names two kinds of document: the school's.
KIND = ("--kind", "training_certificates")


def _build(cli: Cli, work: Path) -> dict[str, EmailMessage]:
    """S1 at «инфраструктурный лист согласован», S2 already «оснащён»; the reminders of
    11.08.2021 sent: S1's digest names two stages (equipped, staff_trained), S2's one
    (staff_trained), the federal operator's the 2021 cycle of measure 6."""
    csv = work / "c.csv"
    csv.write_text(
        "code,name,municipality,cohort,email\n"
        f"S1,МБОУ «Школа № 1»,Шуйский район,2021,{S1}\n"
        f"S2,МБОУ «Школа № 2»,Кинешемский район,2021,{S2}\n",
        encoding="utf-8",
    )
    steps = [
        ("--now", "2021-03-01", "centers", "import", str(csv)),
        ("--now", "2021-03-02", "centers", "fire", "S1", "agree_infrastructure"),
        ("--now", "2021-03-02", "centers", "fire", "S2", "agree_infrastructure"),
        ("--now", "2021-06-01", "centers", "fire", "S2", "equip"),
        ("--now", "2021-08-11T09:00:00+03:00", "tick"),
        ("--now", "2021-08-11T10:00:00+03:00", "outbox", "send"),
    ]
    for args in steps:
        done = cli(*args)
        assert done.exit_code == 0, (args, done.output)
    letters: dict[str, EmailMessage] = {}
    for letter in read_letters(work / "mail"):
        if str(letter["Date"]).startswith("Wed, 11 Aug 2021"):  # the reminders, not notices
            letters[str(letter["To"]).rsplit("<", 1)[-1].rstrip(">")] = letter
    for who in (S1, S2, OPERATOR):
        assert who in letters, sorted(letters)
    return letters


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    yield from module_templates(tmp_path_factory.mktemp("accept"), _build)


@pytest.fixture
def engine(db_url: str, templates: Templates) -> Iterator[Engine]:
    yield from templates.restore(db_url)


@pytest.fixture
def stored(engine: Engine) -> StoredRoadmap:
    return resolve_stored(engine)


@pytest.fixture
def letters(db_url: str, templates: Templates) -> dict[str, EmailMessage]:
    return templates.letters(db_url)


def _import(engine: Engine, tmp_path: Path, raw: bytes, name: str = "r.eml") -> int:
    path = tmp_path / name
    path.write_bytes(raw)
    ((_where, outcome),) = import_path(engine, path, max_bytes=LIMIT).outcomes
    assert outcome.id is not None
    return outcome.id


def _dump(engine: Engine, db_url: str) -> dict[str, Any]:
    """Every table and the evidence folder, to compare before and after a refusal."""
    found: dict[str, Any] = {}
    with db.read(engine) as conn:
        for table in all_tables():
            order = [c for c in table.primary_key.columns] or list(table.c)
            found[table.name] = [
                tuple(row) for row in conn.execute(sa.select(table).order_by(*order))
            ]
    path = db.sqlite_path(db_url)
    folder = path.parent / "evidence" if path is not None else None
    found["evidence folder"] = (
        sorted((p.name, p.read_bytes()) for p in folder.iterdir())
        if folder is not None and folder.exists()
        else []
    )
    return found


def _inbound(engine: Engine, number: int) -> Any:
    with db.read(engine) as conn:
        return conn.execute(sa.select(INBOUND).where(INBOUND.c.id == number)).one()


def _events(engine: Engine, kind: str) -> list[Any]:
    with db.read(engine) as conn:
        return list(
            conn.execute(sa.select(EVENT).where(EVENT.c.entity_kind == kind).order_by(EVENT.c.seq))
        )


def _letter_to(engine: Engine, key: str) -> Any:
    with db.read(engine) as conn:
        return conn.execute(
            sa.select(OUTBOX, OUTBOX_LETTER.c.message)
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.key == key)
        ).first()


def _center_state(engine: Engine, code: str) -> str:
    with db.read(engine) as conn:
        return str(conn.execute(sa.select(CENTER.c.state).where(CENTER.c.code == code)).scalar())


def _refused(result: Result, *says: str) -> None:
    assert result.exit_code == 1, result.output
    for part in says:
        assert part in result.output, result.output
    assert "Traceback" not in result.output


def test_a_reply_with_a_pdf_closes_its_stage_in_one_transaction(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
) -> None:
    number = _import(engine, tmp_path, reply(letters[S2], sender=S2))
    listed = cli("--json", "replies", "list", "--state", "ждёт решения координатора")
    (item,) = json.loads(listed.stdout)
    assert item["deadlines"] == [
        {"key": "S2:staff_trained", "title": "центр S2 — этап «персонал обучен», срок 25.08.2021"}
    ]
    table = cli("--wide", "replies", "list")
    assert "центр S2 — этап «персонал обучен», срок 25.08.2021" in table.output

    # Measure 6 names two kinds of document: the school's is named.
    kind = ("--kind", "training_certificates")
    _refused(cli("--now", "2021-08-20", "replies", "accept", str(number)), "--kind ВИД")
    accepted = cli("--now", "2021-08-20", "replies", "accept", str(number), *kind)

    assert accepted.exit_code == 0, accepted.output
    sha = hashlib.sha256(PDF).hexdigest()
    assert f"документ «Приказ №5.pdf», SHA-256 {sha}" in accepted.output
    assert "Ответ № 1 принят: центр S2 — этап «персонал обучен»" in accepted.output
    assert _center_state(engine, "S2") == "staff_trained"
    (fired,) = [e for e in _events(engine, "center") if e.trigger == "train_staff"]
    assert fired.evidence["_files"] == [
        {
            "kind": "training_certificates",
            "name": "Приказ №5.pdf",
            "sha256": sha,
            "media_type": "application/pdf",
            "size": len(PDF),
        }
    ]
    assert fired.comment == f"по ответу №\u00a01 от {S2}"
    (decision,) = _events(engine, "reply")
    assert (decision.entity_id, decision.trigger, decision.to_state) == (1, "accept", "accepted")
    assert decision.seq == fired.seq + 1
    assert f"событие №\u00a0{fired.seq}" in decision.comment
    assert _inbound(engine, number).submission == "accepted"
    # The file is kept by its hash, in the store the transition used.
    from workflow.config import load_settings
    from workflow.engine.evidence_store import store_for

    store = store_for(load_settings(), db_url)
    with db.read(engine) as conn:
        assert store.read(conn, sha) == PDF
    # The sender is told; the school's stage notice goes as for any transition.
    told = _letter_to(engine, "reply:1:accepted")
    assert told.recipient == S2
    assert told.status == "pending"
    assert told.subject.startswith("Ответ принят: Re: ")
    text = told.message.decode("ascii")
    import email as email_module
    from email import policy

    body = email_module.message_from_bytes(told.message, policy=policy.default)
    plain = body.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "принят координатором (центр S2 — этап «персонал обучен», срок 25.08.2021)" in plain
    assert f"«Приказ №5.pdf», SHA-256 {sha}" in plain
    assert "Auto-Submitted: auto-generated" in text

    shown = cli("replies", "show", str(number))
    assert "центр S2 — этап «персонал обучен», срок 25.08.2021 — закрыт: центр S2 уже" in (
        shown.output
    )
    assert "решение: принят координатором" in shown.output
    assert cli("--json", "replies", "list", "--state", "accepted").stdout.count('"id"') == 1
    log = cli("--wide", "audit", "log", "--kind", "ответ на письмо")
    assert "ответ № 1 от s2@example.org" in log.output
    assert "ответ принят" in log.output


def test_a_digest_of_two_stages_asks_which_and_refusals_change_nothing(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
) -> None:
    number = _import(engine, tmp_path, reply(letters[S1], sender=S1))
    before = _dump(engine, db_url)
    for args, says in [
        (
            (),
            ("напоминало о нескольких открытых сроках", "--for", "S1:equipped", "S1:staff_trained"),
        ),
        (("--for", "S1:staff_trained"), ("пока нельзя" if False else "отмечается только после",)),
        (("--for", "S9:opened"), ("такого срока нет в письме",)),
        (("--for", "S1:equipped", "--kind", "nonsense"), ("неизвестный вид документа",)),
        (("--for", "S1:equipped", "--skip", "nope.pdf"), ("нет такого вложения",)),
    ]:
        _refused(cli("--now", "2021-08-20", "replies", "accept", str(number), *args), *says)
        assert _dump(engine, db_url) == before, args

    ok = cli("--now", "2021-08-20", "replies", "accept", str(number), "--for", "s1:EQUIPPED")

    assert ok.exit_code == 0, ok.output
    assert _center_state(engine, "S1") == "equipped"
    after = _dump(engine, db_url)
    # Accepted once: a second accept and a reject are refused and change nothing.
    _refused(cli("replies", "accept", str(number), "--for", "S1:staff_trained"), "уже принят")
    _refused(cli("replies", "reject", str(number), "--reason", "нет"), "уже принят")
    assert _dump(engine, db_url) == after


def test_a_cycle_is_started_and_completed_with_the_file_and_the_missing_document(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
) -> None:
    number = _import(engine, tmp_path, reply(letters[OPERATOR], sender=OPERATOR))
    shown = cli("--json", "replies", "show", str(number))
    ((deadline),) = json.loads(shown.stdout)["deadlines"]
    cycle_id = int(deadline["key"].split(":")[1])
    assert "(мероприятие 6, 2021 г.), срок 25.08.2021" in deadline["title"]
    before = _dump(engine, db_url)
    # Measure 6 needs two kinds: the file's kind must be named, and both given.
    _refused(cli("--now", "2021-08-20", "replies", "accept", str(number)), "--kind")
    refused = cli(
        "--now", "2021-08-20", "replies", "accept", str(number), "--kind", "training_certificates"
    )
    assert refused.exit_code == 1
    assert "retraining_report" in refused.output or "отчёт" in refused.output, refused.output
    assert _dump(engine, db_url) == before

    ok = cli(
        "--now",
        "2021-08-20",
        "replies",
        "accept",
        str(number),
        "--kind",
        "training_certificates",
        "--evidence",
        "retraining_report=отчёт № 7 от 19.08.2021",
    )

    assert ok.exit_code == 0, ok.output
    with db.read(engine) as conn:
        state = conn.execute(sa.select(CYCLE.c.state).where(CYCLE.c.id == cycle_id)).scalar()
    assert state == "done"
    start, complete = [e for e in _events(engine, "cycle") if e.entity_id == cycle_id][-2:]
    assert (start.trigger, complete.trigger) == ("start", "complete")
    assert complete.evidence["retraining_report"] == "отчёт № 7 от 19.08.2021"
    assert complete.evidence["_files"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert _letter_to(engine, "reply:1:accepted").recipient == OPERATOR


def _exe(letter: EmailMessage) -> bytes:
    return reply(letter, sender=S2, pdf=b"MZ\x90\x00" + b"\x00" * 200)


def _docm() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w/>")
        z.writestr("word/vbaProject.bin", b"\x00" * 64)
    return buffer.getvalue()


def _with(letter: EmailMessage, data: bytes, name: str, subtype: str = "octet-stream") -> bytes:
    import email as email_module
    from email import policy

    raw = reply(letter, sender=S2, pdf=None)
    msg = email_module.message_from_bytes(raw, policy=policy.SMTP)
    assert isinstance(msg, EmailMessage)
    msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda letter: _exe(letter), "вложение «Приказ №5.pdf» не принято: это исполняемый файл"),
        (lambda letter: _with(letter, _docm(), "акт.docx"), "«акт.docx» не принято: документ"),
        (lambda letter: _with(letter, b"plain text", "a.pdf"), "«a.pdf» не принято"),
        (lambda letter: _with(letter, PDF + b"0" * (2 * 1024 * 1024), "big.pdf"), "больше"),
    ],
    ids=["exe renamed pdf", "docx with macros", "text as pdf", "over the size limit"],
)
def test_a_refused_attachment_is_named_and_the_reply_stays_pending(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[EmailMessage], bytes],
    says: str,
) -> None:
    monkeypatch.setenv("TOCHKA_EVIDENCE_MAX_MB", "1")
    number = _import(engine, tmp_path, make(letters[S2]))
    before = _dump(engine, db_url)

    refused = cli("--now", "2021-08-20", "replies", "accept", str(number), *KIND)

    _refused(refused, says, "ответ остаётся ждать решения")
    assert _dump(engine, db_url) == before
    assert _inbound(engine, number).submission == "pending"


def test_messages_and_deadlines_that_cannot_be_accepted_are_refused_with_the_reason(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
) -> None:
    quarantined = _import(engine, tmp_path, reply(letters[S2], sender="x@example.net"), "q.eml")
    auto = _import(
        engine,
        tmp_path,
        reply(letters[S2], sender=S2, headers={"Auto-Submitted": "auto-replied"}),
        "a.eml",
    )
    closed = _import(engine, tmp_path, reply(letters[S2], sender=S2), "c.eml")
    fired = cli("--now", "2021-08-19", "centers", "fire", "S2", "train_staff")
    assert fired.exit_code == 0, fired.output
    no_files = _import(engine, tmp_path, reply(letters[S1], sender=S1, pdf=None), "n.eml")
    before = _dump(engine, db_url)
    for number, args, says in [
        (quarantined, (), "в карантине"),
        (auto, (), "автоматическое"),
        (closed, KIND, "срок уже закрыт (центр S2 уже «персонал обучен»)"),
        (no_files, ("--for", "S1:equipped"), "нет принимаемых вложений"),
        (99, (), "Входящего письма № 99 нет"),
    ]:
        _refused(cli("--now", "2021-08-20", "replies", "accept", str(number), *args), says)
        assert _dump(engine, db_url) == before, says
    _refused(cli("replies", "reject", str(quarantined), "--reason", "спам"), "в карантине")
    _refused(cli("replies", "reject", str(closed), "--reason", "  "), "--reason")
    assert _dump(engine, db_url) == before


def test_reject_tells_the_sender_the_reason_and_a_reply_to_it_is_for_the_same_deadline(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
) -> None:
    number = _import(engine, tmp_path, reply(letters[S2], sender=S2))

    rejected = cli(
        "--now", "2021-08-20", "replies", "reject", str(number), "--reason", "нет подписи"
    )

    assert rejected.exit_code == 0, rejected.output
    assert _inbound(engine, number).submission == "rejected"
    (decision,) = _events(engine, "reply")
    assert (decision.trigger, decision.to_state, decision.comment) == (
        "reject",
        "rejected",
        "нет подписи",
    )
    assert _center_state(engine, "S2") == "equipped"
    told = _letter_to(engine, "reply:1:rejected")
    assert told.recipient == S2
    assert told.subject.startswith("Ответ не принят")
    import email as email_module
    from email import policy

    body = email_module.message_from_bytes(told.message, policy=policy.default)
    plain = body.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Причина: нет подписи" in plain
    shown = cli("replies", "show", str(number))
    assert "причина: нет подписи" in shown.output
    _refused(cli("replies", "accept", str(number), *KIND), "уже отклонён")

    # The school answers the rejection letter: the same deadline, accepted this time.
    sent = cli("--now", "2021-08-20T12:00:00+03:00", "outbox", "send")
    assert sent.exit_code == 0, sent.output
    (letter,) = [
        m for m in read_letters(Path(_mail_dir())) if str(m["Subject"]).startswith("Ответ не")
    ]
    again = _import(engine, tmp_path, reply(letter, sender=S2, message_id="<again@x>"), "2.eml")
    assert _inbound(engine, again).state == "matched"
    ok = cli("--now", "2021-08-21", "replies", "accept", str(again), *KIND)
    assert ok.exit_code == 0, ok.output
    assert _center_state(engine, "S2") == "staff_trained"


def _mail_dir() -> str:
    import os

    return os.environ["TOCHKA_MAIL_DIR"]


@pytest.fixture(autouse=True)
def _mail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")


def test_who_may_accept_follows_the_roadmap_permissions(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
) -> None:
    grant(engine, stored.id, ["shuya"], "municipality", ["Шуйский район"])
    grant(engine, stored.id, ["kineshma"], "municipality", ["Кинешемский район"])
    grant(engine, stored.id, ["school2"], "school", ["S2"])
    stage = _import(engine, tmp_path, reply(letters[S2], sender=S2), "s.eml")
    cycle = _import(engine, tmp_path, reply(letters[OPERATOR], sender=OPERATOR), "o.eml")
    before = _dump(engine, db_url)
    for actor, number, args, says in [
        (
            "school2",
            stage,
            KIND,
            "нужна роль координатор или муниципалитет, у пользователя — школа",
        ),
        ("shuya", stage, KIND, "центр S2 относится к «Кинешемский район»"),
        ("kineshma", cycle, ("--kind", "training_certificates"), "нужна роль координатор"),
        ("shuya", stage, ("--reason", "нет"), "центр S2 относится к «Кинешемский район»"),
    ]:
        verb = "reject" if "--reason" in args else "accept"
        result = cli("--now", "2021-08-20", "replies", verb, str(number), *args, actor=actor)
        _refused(result, "Отказано", says)
        after = _dump(engine, db_url)
        # Only the refusal is recorded (as every refusal is), in the audit chain.
        changed = {name for name in after if after[name] != before[name]}
        assert changed <= {"event", "audit_head"}, changed
        new = [e for e in after["event"] if e not in before["event"]]
        assert [e[3] for e in new] == ["refusal"], new
        before = after
    ok = cli("--now", "2021-08-20", "replies", "accept", str(stage), *KIND, actor="kineshma")
    assert ok.exit_code == 0, ok.output
    assert _center_state(engine, "S2") == "staff_trained"


def test_a_failure_after_the_transition_leaves_nothing_recorded(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    letters: dict[str, EmailMessage],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    number = _import(engine, tmp_path, reply(letters[S2], sender=S2))
    before = _dump(engine, db_url)

    def broken(*_args: object, **_kwargs: object) -> bool:
        raise RuntimeError("the letter could not be queued")

    # The last step of the transaction fails: the stage, its event, the decision and
    # the submission's mark roll back with it.
    monkeypatch.setattr("workflow.inbound.submissions.queue_decision", broken)
    with pytest.raises(RuntimeError):
        cli("--now", "2021-08-20", "replies", "accept", str(number), *KIND)

    after = _dump(engine, db_url)
    # A content file stored before the rollback is harmless (named by its hash, nothing
    # refers to it: `workflow.engine.evidence_store`); every table is as it was.
    before.pop("evidence folder")
    after.pop("evidence folder")
    assert after == before
    assert _inbound(engine, number).submission == "pending"
