"""The reconciler: cycles, overdue marks, reminders; idempotent and level-triggered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from notifications.outbox import OUTBOX, REMINDER
from notifications.values import Recipient, Reminder, Rung
from tests.conftest import T0, make_rows
from workflow.engine import audit, centers, cycles
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine, TransitionResult
from workflow.errors import Conflict
from workflow.roadmap.recurrence import scheduled_cycles
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reconcile import DAEMON_ACTOR, TickReport, mark_overdue, tick
from workflow.schedule.reminders import SENT, latest_due, outbox_queue
from workflow.storage.tables import CYCLE, EVENT, HEAD

MSK = ZoneInfo("Europe/Moscow")
REAL = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Recorder:
    """A reminder queue that keeps what it was given (the outbox is tested elsewhere)."""

    def __init__(self) -> None:
        self.items: list[Reminder] = []

    def __call__(self, conn: Connection, reminders: Sequence[Reminder], *, now: datetime) -> int:
        self.items.extend(reminders)
        return len(reminders)

    def keys(self) -> list[str]:
        return [r.key for r in self.items]


def at(day: str, hour: int = 9) -> datetime:
    """``day`` at ``hour``:00 Moscow time."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), MSK).replace(hour=hour)


def run(engine: Engine, stored: StoredRoadmap, day: str, queue: Recorder) -> TickReport:
    return tick(engine, stored, now=at(day), clock=lambda: REAL, queue=queue)


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
            for name, t in (("cycle", CYCLE), ("event", EVENT), ("sent", SENT))
        }


def cycle_rows(engine: Engine) -> list[tuple[int, str, str, str]]:
    with engine.connect() as conn:
        return [
            (r.measure, r.period, r.due_date.isoformat(), r.state)
            for r in conn.execute(
                sa.select(CYCLE).order_by(CYCLE.c.measure, CYCLE.c.due_date, CYCLE.c.id)
            )
        ]


def test_first_tick_creates_due_cycles_marks_overdue_and_reminds(
    engine: Engine, stored: StoredRoadmap
) -> None:
    queue = Recorder()
    report = run(engine, stored, "2021-02-20", queue)
    assert report == TickReport(
        roadmap="ivanovo-2021-2023",
        today=date(2021, 2, 20),
        cycles_created=4,
        marked_overdue=2,
        skipped=0,
        deadlines_reminded=3,
        reminders_queued=3,
    )
    assert cycle_rows(engine) == [
        # Done by the decree itself, as the file records (tests/test_measure_done.py).
        (1, "2020", "2020-12-07", "done"),
        (2, "2020", "2020-12-23", "overdue"),
        (4, "2020", "2020-12-30", "overdue"),
        (5, "2021", "2021-03-01", "scheduled"),
    ]
    # The latest due rung only: the 2020 measures are past the last overdue rung the
    # roadmap allows (four weekly ones), so that last one; measure 5 its before-14.
    assert sorted(queue.keys()) == [
        "ivanovo-2021-2023:cycle:2:overdue-28:coordinator@example.org",
        "ivanovo-2021-2023:cycle:3:overdue-28:coordinator@example.org",
        "ivanovo-2021-2023:cycle:4:before-14:coordinator@example.org",
    ]
    assert all(r.last_rung for r in queue.items if r.rung is Rung.OVERDUE)
    first = next(
        r for r in queue.items if r.key.endswith("cycle:4:before-14:coordinator@example.org")
    )
    with engine.connect() as conn:
        head = conn.execute(sa.select(HEAD.c.seq, HEAD.c.hash)).one()
    # The letter's signature comes from the roadmap file (tests/test_signature*).
    assert without_signature(first) == without_signature(
        Reminder(
            key="ivanovo-2021-2023:cycle:4:before-14:coordinator@example.org",
            send_on=date(2021, 2, 20),  # a working Saturday in 2021, and the catch-up day
            recipient=Recipient(
                email="coordinator@example.org", name="Департамент образования Ивановской области"
            ),
            cc=(),
            rung=Rung.BEFORE,
            days=14,
            deadline=date(2021, 3, 1),
            term_end=date(2021, 3, 1),  # a Monday, a working day
            subject_kind="measure",
            title=stored.definition.measure(5).title,
            roadmap_title=stored.definition.title,
            measure_number=5,
            evidence=("извещения о проведении закупок",),
            period="2021",
            reply_to="coordinator@example.org",
            timezone="Europe/Moscow",
            roadmap_code="ivanovo-2021-2023",
            # The department's own measure: do it, record it in Tochka with its document.
            role="department",
            action="Выполните мероприятие и отметьте его выполненным в Tochka, приложив документы.",
            documents=("извещения о проведении закупок",),
            how="Отметка о выполнении и документы вносятся в Tochka.",
            period_title="2021 г.",
            # The coordinator's reminders carry the audit chain head for the «Журнал» line.
            journal_seq=head.seq,
            journal_hash=head.hash,
            # This tick has no weekly plan: the last overdue letter must not promise one.
            weekly_summary=False,
        )
    )
    with engine.connect() as conn:
        overdue = conn.execute(
            sa.select(EVENT.c.entity_key, EVENT.c.actor, EVENT.c.effective_date, EVENT.c.comment)
            .where(EVENT.c.trigger == "mark_overdue")
            .order_by(EVENT.c.seq)
        ).all()
        audit.verify(conn, stored.id, stored.definition.code)
    assert [tuple(r) for r in overdue] == [
        ("2/2020", DAEMON_ACTOR, date(2021, 2, 20), "срок прошёл"),
        ("4/2020", DAEMON_ACTOR, date(2021, 2, 20), "срок прошёл"),
    ]


def without_signature(reminder: Reminder) -> dict[str, object]:
    return {k: v for k, v in asdict(reminder).items() if k != "signature"}


def test_second_tick_same_now_changes_nothing(engine: Engine, stored: StoredRoadmap) -> None:
    centers.import_centers(
        engine, stored, make_rows(3, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    queue = Recorder()
    first = run(engine, stored, "2021-09-02", queue)
    assert first.changed
    before = snapshot(engine)
    second = run(engine, stored, "2021-09-02", queue)
    assert not second.changed
    assert second.as_json() == {
        "roadmap": "ivanovo-2021-2023",
        "today": "2021-09-02",
        "cycles_created": 0,
        "marked_overdue": 0,
        "skipped": 0,
        "deadlines_reminded": 0,
        "reminders_queued": 0,
        "summaries_queued": 0,
    }
    assert snapshot(engine) == before
    assert len(queue.items) == first.reminders_queued


def test_outbox_queue_records_each_reminder_once(engine: Engine, stored: StoredRoadmap) -> None:
    centers.import_centers(
        engine, stored, make_rows(2, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    queue = outbox_queue()
    report = tick(engine, stored, now=at("2021-08-26"), clock=lambda: REAL, queue=queue)
    again = tick(engine, stored, now=at("2021-08-26"), clock=lambda: REAL, queue=queue)
    with engine.connect() as conn:
        keys = list(conn.execute(sa.select(REMINDER.c.key).order_by(REMINDER.c.key)).scalars())
        letters = conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar_one()
    assert report.reminders_queued == len(keys) > 0
    assert again.reminders_queued == 0
    assert len(set(keys)) == len(keys)
    # One digest per recipient and day: the department, the operator, two schools.
    assert letters == 4
    # Centers of cohort 2021 owe equipped and staff_trained (due 25.08): overdue-1.
    assert "ivanovo-2021-2023:center:C00000:equipped:overdue-7:school0@example.org" not in keys
    assert "ivanovo-2021-2023:center:C00000:equipped:on_day:school0@example.org" in keys


def test_overdue_items_reach_the_coordinator_once_never_as_a_copy(
    engine: Engine, stored: StoredRoadmap
) -> None:
    queue = Recorder()
    run(engine, stored, "2021-08-11", queue)  # measure 6's cycle opens with before-14
    run(engine, stored, "2021-09-02", queue)  # then its overdue-7 (01.09 is the collapse)
    measure6 = [r for r in queue.items if r.measure_number == 6]
    rows = [(r.rung.value, r.recipient.email, r.cc, r.owners) for r in measure6]
    assert rows == [
        ("before", "coordinator@example.org", (), ("федеральный оператор",)),
        ("before", "operator@example.org", (), ()),
        # The coordinator's own item says who else owes it; nobody gets a copy.
        ("overdue", "coordinator@example.org", (), ("федеральный оператор",)),
        ("overdue", "operator@example.org", (), ()),
    ]
    operator = measure6[-1]
    # The operator is asked for its own document, the department for its own.
    assert operator.documents == ("удостоверения о повышении квалификации",)
    assert operator.how.startswith("Ответьте на это письмо")
    assert measure6[-2].documents == ("отчет по программам переподготовки кадров",)


def test_downtime_of_400_days_catches_up_once(engine: Engine, stored: StoredRoadmap) -> None:
    rows = make_rows(2, cohort=2021) + [
        replace(r, code=f"B{r.code}", email=f"b{r.email}") for r in make_rows(2, cohort=2022)
    ]
    centers.import_centers(engine, stored, rows, filename="t.csv", actor="t", now=T0)
    queue = Recorder()
    run(engine, stored, "2020-12-01", queue)
    before = len(queue.items)
    report = run(engine, stored, "2022-01-05", queue)  # 400 days later
    specs = scheduled_cycles(stored.definition, as_of=date(2022, 1, 5))
    assert [(m, p, due) for m, p, due, _ in cycle_rows(engine)] == [
        (s.measure, s.period, s.due.isoformat())
        for s in sorted(specs, key=lambda s: (s.measure, s.due))
    ]
    # Every one: on 01.12.2020 none was open yet (measure 1 is created done on 07.12.2020,
    # its day in the file; measure 2 opens on 09.12.2020).
    assert report.cycles_created == len(specs)
    catch_up = queue.items[before:]
    deadlines = [r.key.rsplit(":", 2)[0] for r in catch_up]
    for deadline in set(deadlines):
        recipients = 2  # the school, and the coordinator told of its overdue stage
        if ":cycle:" in deadline:
            measure = next(r.measure_number for r in catch_up if r.key.startswith(deadline + ":"))
            recipients = len(stored.definition.measure(measure).responsible)
        assert deadlines.count(deadline) == recipients, deadline
    for r in catch_up:
        assert r.send_on == date(2022, 1, 5)
        expected = latest_due(r.deadline, stored.definition, date(2022, 1, 5))
        assert expected is not None
        assert r.key.split(":")[-2] == expected.key_part
    # Center stages of 2021 are all overdue; cohort 2022 has no stage due yet.
    # Each of them past its last overdue rung: that one, once.
    assert sorted(r.key for r in catch_up if r.subject_kind == "center_stage") == [
        f"ivanovo-2021-2023:center:C0000{i}:{stage}:overdue-28:{email}"
        for i in range(2)
        for stage in ("equipped", "opened", "reporting", "staff_trained")
        for email in ("coordinator@example.org", f"school{i}@example.org")
    ]
    assert not run(engine, stored, "2022-01-05", queue).changed


def test_infrastructure_deadline_follows_measure_3_cycle_of_the_cohort_year(
    engine: Engine, stored: StoredRoadmap
) -> None:
    centers.import_centers(
        engine, stored, make_rows(1, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    queue = Recorder()
    run(engine, stored, "2021-03-01", queue)
    assert not [r for r in queue.items if "infrastructure_agreed" in r.key]
    for due in ("2020-11-20", "2021-03-15", "2021-03-20"):
        cycles.open_cycle(
            engine, stored, 3, due=date.fromisoformat(due), actor="op", now=at("2021-03-02")
        )
    run(engine, stored, "2021-03-09", queue)  # 20.03 is the latest of 2021: before-14 due
    stage = [r for r in queue.items if r.subject_kind == "center_stage"]
    assert [(r.key, r.deadline, r.cc) for r in stage if "infrastructure" in r.key] == [
        (
            "ivanovo-2021-2023:center:C00000:infrastructure_agreed:before-14:school0@example.org",
            date(2021, 3, 20),
            (),
        )
    ]
    # The center reaches the stage: its reminders stop; other stages go on.
    TransitionEngine(engine, stored.definition, stored.id).fire_center(
        "C00000", "agree_infrastructure", actor=Actor(login="op"), now=at("2021-03-10")
    )
    count = len(queue.items)
    run(engine, stored, "2021-03-19", queue)
    assert not [r for r in queue.items[count:] if "infrastructure" in r.key]


def test_withdrawn_and_advanced_centers_are_not_reminded(
    engine: Engine, stored: StoredRoadmap
) -> None:
    centers.import_centers(
        engine, stored, make_rows(3, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    machine = TransitionEngine(engine, stored.definition, stored.id)
    op = Actor(login="op")
    machine.fire_center("C00001", "withdraw", actor=op, now=at("2021-08-01"), comment="закрыта")
    for trigger in ("agree_infrastructure", "equip"):
        machine.fire_center("C00002", trigger, actor=op, now=at("2021-08-01"))
    queue = Recorder()
    run(engine, stored, "2021-08-11", queue)
    stage_keys = sorted(r.key.split(":", 1)[1] for r in queue.items if r.center_code)
    assert stage_keys == [
        "center:C00000:equipped:before-14:school0@example.org",
        "center:C00000:staff_trained:before-14:school0@example.org",
        "center:C00002:staff_trained:before-14:school2@example.org",
    ]


def test_mark_overdue_skips_a_cycle_someone_else_changed(
    engine: Engine, stored: StoredRoadmap, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workflow.schedule.reconcile

    queue = Recorder()
    run(engine, stored, "2020-12-22", queue)  # 1 is done (the file says so), 2 and 4 scheduled
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.select(CYCLE.c.measure, CYCLE.c.id)).all())

    class Racing(TransitionEngine):
        """Another actor gets in between the reconciler's read and its fire."""

        def fire_cycle(self, cycle_id: int, trigger: str, **kwargs: Any) -> TransitionResult:
            if cycle_id == ids[2]:
                TransitionEngine(self.engine, self.roadmap, self.roadmap_id).fire_cycle(
                    cycle_id, "cancel", actor=Actor(login="op"), now=kwargs["now"], comment="x"
                )
            if cycle_id == ids[4]:
                raise Conflict(entity="Цикл", expected=1, actual=2)
            return super().fire_cycle(cycle_id, trigger, **kwargs)

    monkeypatch.setattr(workflow.schedule.reconcile, "TransitionEngine", Racing)
    marked, skipped = mark_overdue(
        engine, stored, today=date(2021, 1, 11), now=at("2021-01-11"), clock=lambda: REAL
    )
    assert (marked, skipped) == (0, 2)  # 1 is done; 2 cancelled; 4 conflicted
    monkeypatch.undo()
    report = run(engine, stored, "2021-01-11", queue)
    assert report.marked_overdue == 1  # the conflicted one, on the next tick
    assert [(m, state) for m, _, _, state in cycle_rows(engine)] == [
        (1, "done"),
        (2, "cancelled"),
        (4, "overdue"),
    ]


def test_killed_mid_tick_the_next_tick_finishes_without_doubles(
    engine: Engine, stored: StoredRoadmap
) -> None:
    centers.import_centers(
        engine, stored, make_rows(2, cohort=2021), filename="t.csv", actor="t", now=T0
    )
    queue = Recorder()

    class Killed(Exception):
        pass

    def dying(conn: Connection, reminders: Sequence[Reminder], *, now: datetime) -> int:
        raise Killed  # the process dies inside the first reminder transaction

    with pytest.raises(Killed):
        tick(engine, stored, now=at("2021-09-02"), clock=lambda: REAL, queue=dying)
    # Steps (a) and (b) committed; (c) rolled back as a whole.
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SENT)).scalar_one() == 0
    report = run(engine, stored, "2021-09-02", queue)
    assert (report.cycles_created, report.marked_overdue) == (0, 0)
    assert report.reminders_queued == len(queue.items) == len(set(queue.keys())) > 0
    reference_queue = Recorder()
    assert not run(engine, stored, "2021-09-02", reference_queue).changed


def test_rungs_recorded_match_the_reminders(engine: Engine, stored: StoredRoadmap) -> None:
    queue = Recorder()
    for day in ("2021-02-15", "2021-02-26", "2021-03-01", "2021-03-05"):
        run(engine, stored, day, queue)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(SENT.c.kind, SENT.c.rung, SENT.c.day_offset, SENT.c.send_on)
            .join(CYCLE, CYCLE.c.id == SENT.c.entity_id)
            .where(CYCLE.c.measure == 5)
            .order_by(SENT.c.send_on)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("cycle", "before-14", -14, date(2021, 2, 15)),
        ("cycle", "before-3", -3, date(2021, 2, 26)),
        ("cycle", "on_day", 0, date(2021, 3, 1)),
        # 08.03 is a holiday: overdue-7 moves back to Friday 05.03.
        ("cycle", "overdue-7", 7, date(2021, 3, 5)),
    ]


def test_latest_due_agrees_with_due_rung_everywhere() -> None:
    from tests.conftest import SHIPPED
    from workflow.roadmap.loader import load_roadmap
    from workflow.schedule.ladder import due_rung

    roadmap = load_roadmap(SHIPPED)
    deadlines = (date(2021, 3, 1), date(2022, 3, 8), date(2021, 10, 1), date(2022, 12, 20))
    for deadline in deadlines:
        for offset in range(-20, 500):
            today = deadline + timedelta(days=offset)
            assert latest_due(deadline, roadmap, today) == due_rung(
                deadline, roadmap.reminders, today=today, already_sent=()
            )


class PerTransaction:
    """A reminder queue that keeps each call's recipients: one call per transaction."""

    def __init__(self) -> None:
        self.calls: list[set[str]] = []

    def __call__(self, conn: Connection, reminders: Sequence[Reminder], *, now: datetime) -> int:
        self.calls.append({r.recipient.email for r in reminders})
        return len(reminders)


def test_a_schools_and_its_authoritys_reminders_of_a_day_share_one_transaction(
    engine: Engine, stored: StoredRoadmap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On 01.09.2021 a 2021 center owes three stages at once (two overdue, one due). Were
    they queued in different transactions, the letter the first one queued would be
    amended, rendered whole again, by the next (every school's letter twice on a federal
    day: benchmarks/federal_day.py). With transactions of 7 deadlines, three cycles and
    two municipalities of two centers each (six deadlines each) still never split a
    school or an authority."""
    from workflow.engine import municipalities
    from workflow.imports.municipalities_file import ContactRow
    from workflow.schedule import reconcile

    monkeypatch.setattr(reconcile, "_BATCH", 7)
    monkeypatch.setattr(reconcile, "_BATCH_POSTGRES", 7)
    rows = make_rows(2, municipality="Шуйский район") + [
        replace(r, code=f"K{i}", email=f"k{i}@example.org", municipality="Кинешемский район")
        for i, r in enumerate(make_rows(2))
    ]
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="op", now=T0)
    municipalities.import_contacts(
        engine,
        stored,
        [
            ContactRow(municipality=m, email=e, recipient="", line=n)
            for n, (m, e) in enumerate(
                [("Шуйский район", "shuya@example.org"), ("Кинешемский район", "kin@example.org")],
                2,
            )
        ],
        filename="m.csv",
        actor="op",
        now=T0,
    )
    run(engine, stored, "2021-08-31", Recorder())  # the day before: its rungs recorded
    queue = PerTransaction()
    report = run(engine, stored, "2021-09-01", queue)  # type: ignore[arg-type]
    assert report.deadlines_reminded == 3 + 4 * 3
    assert len(queue.calls) == 3
    for email in [r.email for r in rows] + ["shuya@example.org", "kin@example.org"]:
        assert sum(email in call for call in queue.calls) == 1, (email, queue.calls)


def test_a_regions_day_is_one_transaction_on_postgresql(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """250 centers owing three stages on 01.09.2021: 753 deadlines. PostgreSQL queues them
    in one transaction, so the coordinator's letter, which escalates every center's
    overdue stages, is rendered once; SQLite bounds the write lock's hold in two."""
    centers.import_centers(engine, stored, make_rows(250), filename="c.csv", actor="op", now=T0)
    run(engine, stored, "2021-08-31", Recorder())
    queue = PerTransaction()
    report = run(engine, stored, "2021-09-01", queue)  # type: ignore[arg-type]
    assert report.deadlines_reminded == 3 + 250 * 3
    coordinator = stored.definition.party(stored.definition.coordinator).email
    letters = sum(coordinator in call for call in queue.calls)
    assert letters == (1 if engine.dialect.name == "postgresql" else 2), queue.calls
