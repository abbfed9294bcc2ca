"""A monitoring form kept for the coordinator (``monitoring: {forms: accept}``), end to
end: the form attached to a school's letter, filled with openpyxl and sent back
(``tochka replies import``), waiting as a pending submission; ``tochka replies accept``
run as a process records its values — they appear in ``tochka report quarterly``, the
coordinator their author, the decision in the audit chain, the school answered, and no
transition fired. A form that no longer passes the checks by the time it is accepted
(the roadmap narrowed the indicator's range meanwhile) records nothing: the school is
answered cell by cell and the reply is rejected with the errors."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX
from tests.conftest import SHIPPED, grant
from tests.test_monitoring_form import _answer, _filled, _form, _import, _letter, _reply, _school
from tests.test_monitoring_form import mail as mail  # noqa: F401  (the fixture)
from workflow.engine.identity import os_login
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import INBOUND
from workflow.storage.tables import CENTER, CYCLE, EVENT, VALUE

Cli = Callable[..., Result]
TOCHKA = str(Path(sys.executable).with_name("tochka"))


def _tochka(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI as a process, with none of the test's TOCHKA_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run(
        [TOCHKA, "--db", db_url, *args], capture_output=True, text=True, env=env, timeout=120
    )


def _version(tmp_path: Path, name: str, *, natsci_max: int | None = None) -> Path:
    """The shipped roadmap with forms kept for acceptance (and, if asked, the first
    indicator's range narrowed)."""
    text = SHIPPED.read_text(encoding="utf-8")
    if natsci_max is not None:
        anchor = "  - code: natsci_students\n"
        block = text.index(anchor)
        target = text.index("    target: 100\n", block)
        text = text[:target] + f"    max: {natsci_max}\n" + text[target:]
    path = tmp_path / name
    path.write_text(text + "\nmonitoring: {forms: accept}\n", encoding="utf-8")
    return path


def _load(cli: Cli, path: Path, now: str) -> None:
    loaded = cli("--now", now, "roadmap", "load", str(path))
    assert loaded.exit_code == 0, loaded.output


def _values(engine: Engine) -> list[Any]:
    with db.read(engine) as conn:
        return list(conn.execute(sa.select(VALUE).order_by(VALUE.c.id)))


def _inbound(engine: Engine, number: int) -> Any:
    with db.read(engine) as conn:
        return conn.execute(sa.select(INBOUND).where(INBOUND.c.id == number)).one()


def _reply_events(engine: Engine) -> list[Any]:
    with db.read(engine) as conn:
        return list(
            conn.execute(
                sa.select(EVENT).where(EVENT.c.entity_kind == "reply").order_by(EVENT.c.seq)
            )
        )


def _states(engine: Engine) -> tuple[list[Any], list[Any]]:
    with db.read(engine) as conn:
        return (
            list(conn.execute(sa.select(CENTER.c.code, CENTER.c.state, CENTER.c.version))),
            list(conn.execute(sa.select(CYCLE.c.id, CYCLE.c.state, CYCLE.c.version))),
        )


def test_a_form_kept_for_acceptance_is_recorded_by_replies_accept(
    cli: Cli,
    engine: Engine,
    db_url: str,
    stored: StoredRoadmap,
    tmp_path: Path,
    mail: Path,  # noqa: F811
) -> None:
    school = _school(engine, stored)
    _load(cli, _version(tmp_path, "accept.yaml"), "2021-09-20")
    grant(engine, stored.id, [os_login()], "coordinator")

    letter = _letter(cli, mail, "2021-10-01T09:00", school.email)
    name, data = _form(letter)
    filled = _filled(data, {"F9": 120, "F10": 40, "F11": 55})
    out = _import(cli, tmp_path, _reply(letter, school.email, name, filled, "<q3@s>"), "q3")
    assert "форма мониторинга проверена: 3 знач. ждут решения координатора" in out
    assert _values(engine) == []
    assert _inbound(engine, 1).submission == "pending"
    listed = cli("--wide", "replies", "list", "--state", "pending")
    assert "ждут решения координатора" in listed.output, listed.output
    before = _states(engine)

    accepted = _tochka(db_url, "--now", "2021-10-06", "replies", "accept", "1")

    assert accepted.returncode == 0, accepted.stderr
    assert "Traceback" not in accepted.stderr
    said = " ".join(accepted.stdout.split())
    assert (
        f"Ответ № 1 принят: форма мониторинга центра {school.code} «{school.name}» за "
        "III квартал 2021 г. — записано значений 3" in said
    ), said
    assert f"школе {school.email} поставлено письмо" in said
    rows = _values(engine)
    assert [(r.indicator, r.period, r.value) for r in rows] == [
        ("natsci_students", "2021-Q3", 120.0),
        ("tech_students", "2021-Q3", 40.0),
        ("extra_programs_students", "2021-Q3", 55.0),
    ]
    assert {r.actor for r in rows} == {os_login()}  # the coordinator who accepted
    assert "<q3@s>" in rows[0].source
    (decision,) = _reply_events(engine)
    assert (decision.entity_id, decision.trigger, decision.to_state) == (1, "accept", "accepted")
    assert decision.actor == os_login()
    assert "записано значений 3" in decision.comment
    assert _inbound(engine, 1).submission == "accepted"
    assert _states(engine) == before  # no transition: the cycle is every school's
    with db.read(engine) as conn:
        answered = conn.execute(
            sa.select(OUTBOX.c.key, OUTBOX.c.recipient).where(OUTBOX.c.key.like("form-reply:1%"))
        ).all()
        decisions = conn.execute(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.key.like("reply:1:%"))
        ).scalar_one()
    assert sorted(answered) == [
        ("form-reply:1", school.email),  # «получена, ждёт проверки»
        ("form-reply:1:accepted", school.email),
    ]
    assert decisions == 0  # the form's own answer is the school's letter
    with db.read(engine) as conn:
        message = conn.execute(
            sa.select(OUTBOX.c.subject).where(OUTBOX.c.key == "form-reply:1:accepted")
        ).scalar_one()
    assert "Форма мониторинга принята" in message
    again = _tochka(db_url, "--now", "2021-10-06", "replies", "accept", "1")
    assert again.returncode == 1
    assert "уже принят" in again.stderr

    report = tmp_path / "q3.csv"
    made = _tochka(
        db_url, "--now", "2021-10-07", "report", "quarterly", "2021-Q3", "--format", "csv",
        "-o", str(report),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = report.read_text(encoding="utf-8-sig")
    (line,) = [r for r in csv.reader(io.StringIO(text), delimiter=";") if school.code in r]
    assert ["120", "40", "55"] == [c for c in line if c in ("120", "40", "55")]

    # The fourth quarter's form waits; meanwhile the roadmap caps the first indicator at
    # 100 pupils: accepting it records nothing and tells the school which cell is wrong.
    q4 = _letter(cli, mail, "2021-12-20T09:00", school.email)
    q4_name, q4_data = _form(q4)
    q4_filled = _filled(q4_data, {"F9": 120, "F10": 41, "F11": 56})
    out = _import(cli, tmp_path, _reply(q4, school.email, q4_name, q4_filled, "<q4@s>"), "q4")
    assert "ждут решения координатора" in out
    _load(cli, _version(tmp_path, "narrow.yaml", natsci_max=100), "2021-12-21")
    values, before = _values(engine), _states(engine)
    # A form is not evidence: the options of documents are refused, nothing changed.
    kinded = cli("--now", "2021-12-22", "replies", "accept", "2", "--kind", "monitoring_report")
    assert kinded.exit_code == 1, kinded.output
    assert "возвращает форму мониторинга центра" in " ".join(kinded.output.split())
    # Whoever may record the center's values may accept its form: not another district.
    grant(engine, stored.id, ["kineshma"], "municipality", scope=["Кинешемский район"])
    foreign = cli("--now", "2021-12-22", "replies", "accept", "2", actor="kineshma")
    assert foreign.exit_code == 1, foreign.output
    assert "относится к «Шуйский район»" in " ".join(foreign.output.split())
    with db.read(engine) as conn:
        (refusal,) = conn.execute(sa.select(EVENT).where(EVENT.c.entity_kind == "refusal"))
    assert (refusal.actor, refusal.trigger) == ("kineshma", "submit_indicators")
    assert _inbound(engine, 2).submission == "pending"
    assert _values(engine) == values

    refused = _tochka(db_url, "--now", "2021-12-22", "replies", "accept", "2")

    assert refused.returncode == 1, refused.stdout
    assert "Traceback" not in refused.stderr
    told = " ".join(refused.stderr.split())
    assert "ячейка F9: значение 120 больше допустимого 100" in told, told
    assert "значения не записаны, ответ отклонён" in told
    assert f"школе {school.email} поставлено письмо с ошибками" in told
    assert _values(engine) == values
    assert _states(engine) == before
    row = _inbound(engine, 2)
    assert row.submission == "rejected"
    assert row.reason.startswith("форма мониторинга не принята (1 ошиб.: ячейка F9")
    decision = _reply_events(engine)[-1]
    assert (decision.entity_id, decision.trigger, decision.to_state) == (2, "reject", "rejected")
    assert "ячейка F9: значение 120 больше допустимого 100" in decision.comment
    subject, body = _answer(engine, 2)  # the «waits» letter of the import
    assert subject.startswith("Форма мониторинга получена, ждёт проверки:")
    with db.read(engine) as conn:
        answer = conn.execute(
            sa.select(OUTBOX.c.subject, OUTBOX.c.recipient).where(
                OUTBOX.c.key == "form-reply:2:accepted"
            )
        ).one()
    assert answer.recipient == school.email
    assert answer.subject.startswith("Форма мониторинга не принята:")
    shown = _tochka(db_url, "replies", "show", "2")
    assert "отклонён координатором" in shown.stdout, shown.stderr
    assert "ячейка F9" in shown.stdout
    verified = _tochka(db_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
