"""Measure 9 (quarterly monitoring) reminds the schools that still owe their indicators."""

from __future__ import annotations

import json
from collections.abc import Callable
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER
from tests.conftest import T0, make_rows
from tests.test_tick import REAL, Recorder, at
from workflow.engine import centers
from workflow.engine.access import Actor
from workflow.engine.indicators import missing_indicators, missing_submissions
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reconcile import tick
from workflow.schedule.reminders import outbox_queue
from workflow.storage.tables import HEAD

FORWARD = ("agree_infrastructure", "equip", "train_staff", "open", "start_reporting")


def test_schools_that_did_not_submit_are_reminded_with_the_department(
    cli: Callable[..., Result], engine: Engine, stored: StoredRoadmap
) -> None:
    rows = make_rows(3, cohort=2021)
    centers.import_centers(engine, stored, rows, filename="t.csv", actor="operator", now=T0)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for row in rows[:2]:  # two centers report; the third is still planned
        for trigger in FORWARD:
            fire.fire_center(row.code, trigger, actor=Actor(login="operator"), now=at("2021-09-01"))
    submitted = cli(
        "--now",
        "2021-09-30",
        "indicators",
        "submit",
        rows[1].code,
        "2021-Q3",
        "natsci_students=40",
        "tech_students=25",
        "extra_programs_students=12",
    )
    assert submitted.exit_code == 0, submitted.output

    with engine.connect() as conn:
        owing = missing_submissions(conn, stored.id, "2021-Q3", roadmap=stored.definition)
        lacking = missing_indicators(conn, stored.id, "2021-Q3", roadmap=stored.definition)
    # The same centers, in the same order, with what each lacks (here: everything).
    assert [row[:4] for row in lacking] == owing
    assert [[i.code for i in row[4]] for row in lacking] == [
        [i.code for i in stored.definition.indicators if i.period.value == "quarter"]
    ]

    queue = Recorder()
    tick(engine, stored, now=at("2021-10-01"), clock=lambda: REAL, queue=queue)
    monitoring = [r for r in queue.items if r.measure_number == 9 and r.period == "2021-Q3"]
    department = stored.definition.party("department").email
    assert sorted((r.recipient.email, r.rung.value) for r in monitoring) == sorted(
        [
            (department, "on_day"),
            (rows[0].email, "on_day"),
        ]
    )

    # Once the school submits, later rungs no longer remind it.
    late = cli(
        "--now",
        "2021-10-05",
        "indicators",
        "submit",
        rows[0].code,
        "2021-Q3",
        "natsci_students=30",
        "tech_students=20",
        "extra_programs_students=10",
    )
    assert late.exit_code == 0, late.output
    queue = Recorder()
    tick(engine, stored, now=at("2021-10-08"), clock=lambda: REAL, queue=queue)
    overdue = [r for r in queue.items if r.measure_number == 9 and r.period == "2021-Q3"]
    assert [(r.recipient.email, r.rung.value, r.days) for r in overdue] == [
        (department, "overdue", 7)
    ]

    # The preview of a monitoring cycle not created yet names the schools that owe it,
    # exactly as the tick that creates it reminds them.
    preview = json.loads(
        cli("--json", "--now", "2021-12-01", "reminders", "preview", "--until", "2021-12-20").output
    )
    q4 = sorted(
        (i["recipient"], i["send_on"], i["rung"])
        for i in preview
        if i["deadline_id"] == "cycle:new:2021-Q4"
    )
    assert q4 == sorted(
        (email, "2021-12-17", "before-14") for email in (department, rows[0].email, rows[1].email)
    )
    queue = Recorder()
    tick(engine, stored, now=at("2021-12-17"), clock=lambda: REAL, queue=queue)
    ticked = sorted(
        (r.recipient.email, r.send_on.isoformat(), r.rung.value + f"-{r.days}")
        for r in queue.items
        if r.measure_number == 9 and r.period == "2021-Q4"
    )
    assert ticked == q4


def _letters_to(engine: Engine, email: str) -> list[EmailMessage]:
    with engine.connect() as conn:
        raw = conn.execute(
            sa.select(OUTBOX_LETTER.c.message)
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.recipient == email)
            .order_by(OUTBOX.c.id)
        ).scalars()
        return [message_from_bytes(m, policy=email_policy.default) for m in raw]


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def test_the_school_is_asked_for_its_missing_indicators_by_quarter(
    cli: Callable[..., Result], engine: Engine, stored: StoredRoadmap
) -> None:
    """A school that owes part of its quarterly values is asked for exactly those, by
    the quarter's Russian name, and how to send them; not for the department's report."""
    rows = make_rows(1, cohort=2021)
    centers.import_centers(engine, stored, rows, filename="t.csv", actor="operator", now=T0)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for trigger in FORWARD:
        fire.fire_center(rows[0].code, trigger, actor=Actor(login="operator"), now=at("2021-09-01"))
    submitted = cli(
        "--now", "2021-09-30", "indicators", "submit", rows[0].code, "2021-Q3", "tech_students=25"
    )
    assert submitted.exit_code == 0, submitted.output

    tick(engine, stored, now=at("2021-10-01"), clock=lambda: REAL, queue=outbox_queue())
    letters = _letters_to(engine, rows[0].email)
    assert len(letters) == 1
    text = _text(letters[0])
    roadmap = stored.definition
    assert "Сдайте значения показателей центра за III квартал 2021 г." in text
    assert "2021-Q3" not in text
    assert "Не сданы показатели (2):" in text
    for code in ("natsci_students", "extra_programs_students"):
        assert f"– {roadmap.indicator(code).name}, чел." in text
    # What the school has already sent is listed too, with its value.
    assert (
        "  Уже получены (1):\n"
        f"    – {roadmap.indicator('tech_students').name} — 25 чел.\n"
        "  Как направить:"
    ) in text
    assert text.count(roadmap.indicator("tech_students").name) == 1
    html = letters[0].get_body(preferencelist=("html",))
    assert html is not None
    html_text = str(html.get_content())
    for code in ("natsci_students", "extra_programs_students"):
        assert f"<li>{roadmap.indicator(code).name}, чел.</li>" in html_text
    assert f"<li>{roadmap.indicator('tech_students').name} — 25 чел.</li>" in html_text
    assert "Ответьте на это письмо" in text
    assert roadmap.party("department").email in text
    # The department's own document is the department's, not the school's.
    assert "отчет о выполнении показателей федеральному оператору" not in text
    assert "Журнал:" not in text  # the chain head is the coordinator's
    department = _text(_letters_to(engine, roadmap.party("department").email)[0])
    # The coordinator's daily letter carries the audit chain head as SEQ:HASH.
    with engine.connect() as conn:
        seq, head = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash)).one()
    assert f"\nЖурнал: {seq}:{head}\n" in department
    assert "Показатели ещё не сдали: МБОУ" in department
    assert (
        "Что направить:\n    – отчет о выполнении показателей федеральному оператору" in department
    )
