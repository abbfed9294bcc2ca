"""Measure 9 (quarterly monitoring) reminds the schools that still owe their indicators."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy.engine import Engine
from typer.testing import Result

from tests.conftest import T0, make_rows
from tests.test_tick import REAL, Recorder, at
from workflow.engine import centers
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reconcile import tick

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
