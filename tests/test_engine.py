from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from states import GuardRefused, TriggerNotAllowed
from tests.conftest import T0, bypass_append_only
from workflow.engine import audit, cycles
from workflow.engine.access import AccessDenied, Actor
from workflow.engine.transitions import TransitionEngine, TransitionResult
from workflow.errors import AuditBroken, Conflict, NotFound
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT, USER

REAL = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OP = Actor(login="ivanova")


def _engine(engine: Engine, stored: StoredRoadmap, **kwargs: object) -> TransitionEngine:
    return TransitionEngine(engine, stored.definition, stored.id, clock=lambda: REAL, **kwargs)  # type: ignore[arg-type]


def _events(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(EVENT).order_by(EVENT.c.seq))]


def test_import_records_one_create_event_per_center(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    events = _events(engine)
    assert [
        (e["seq"], e["entity_key"], e["trigger"], e["from_state"], e["to_state"], e["actor"])
        for e in events
    ] == [
        (1, "C00000", "create", None, "planned", "importer"),
        (2, "C00001", "create", None, "planned", "importer"),
        (3, "C00002", "create", None, "planned", "importer"),
    ]
    assert events[0]["comment"] == "импорт из test.csv, строка 2"
    assert events[0]["effective_date"] == date(2021, 1, 11)


def test_fire_changes_state_version_and_appends_one_chained_event(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    moment = datetime(2021, 2, 14, 22, 30, tzinfo=UTC)  # 15.02 in Moscow
    result = _engine(engine, stored).fire_center(
        "C00001",
        "agree_infrastructure",
        actor=OP,
        now=moment,
        evidence={"document": "Приказ № 12"},
        comment="по графику",
    )
    assert result == TransitionResult(
        entity_kind="center",
        entity_id=result.entity_id,
        entity_key="C00001",
        trigger="agree_infrastructure",
        from_state="planned",
        to_state="infrastructure_agreed",
        version=2,
        seq=4,
        effective_date=date(2021, 2, 15),
        actor="ivanova",
        comment="по графику",
    )
    with engine.connect() as conn:
        row = conn.execute(sa.select(CENTER).where(CENTER.c.code == "C00001")).one()
    assert (row.state, row.version, row.updated_at) == ("infrastructure_agreed", 2, REAL)
    last = _events(engine)[-1]
    assert {
        k: last[k]
        for k in (
            "seq",
            "trigger",
            "from_state",
            "to_state",
            "actor",
            "recorded_at",
            "effective_date",
            "evidence",
            "comment",
        )
    } == {
        "seq": 4,
        "trigger": "agree_infrastructure",
        "from_state": "planned",
        "to_state": "infrastructure_agreed",
        "actor": "ivanova",
        "recorded_at": REAL,
        "effective_date": date(2021, 2, 15),
        "evidence": {"document": "Приказ № 12"},
        "comment": "по графику",
    }
    assert last["prev_hash"] == _events(engine)[-2]["hash"]
    with db.read(engine) as conn:
        report = audit.verify(conn, stored.id, stored.definition.code)
    assert (report.events, report.entities) == (4, 3)


def test_refusals_change_nothing(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    eng = _engine(engine, stored)
    before = _events(engine)
    with pytest.raises(TriggerNotAllowed):
        eng.fire_center("C00000", "open", actor=OP, now=T0)
    with pytest.raises(GuardRefused):
        eng.fire_center("C00000", "withdraw", actor=OP, now=T0)
    with pytest.raises(NotFound):
        eng.fire_center("NOPE", "equip", actor=OP, now=T0)
    with pytest.raises(Conflict) as caught:
        eng.fire_center("C00000", "agree_infrastructure", actor=OP, now=T0, expected_version=7)
    assert (caught.value.expected, caught.value.actual) == (7, 1)
    assert _events(engine) == before


def test_a_role_or_scope_changed_between_two_fires_of_one_engine_is_seen(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    """The engine keeps one principal for each role and scope its fires read: a user
    made a municipality fires in its district, is refused by the same engine's next fire
    once its scope is another district, and fires again once a coordinator again."""
    eng = _engine(engine, stored)
    eng.fire_center("C00000", "agree_infrastructure", actor=OP, now=T0)

    def make(role: str, scope: list[str] | None) -> None:
        with db.write(engine) as conn:
            conn.execute(
                sa.update(USER)
                .where(USER.c.roadmap_id == stored.id, USER.c.login == OP.login)
                .values(role=role, scope=scope)
            )

    make("municipality", ["Шуйский район"])
    eng.fire_center("C00000", "equip", actor=OP, now=T0)
    make("municipality", ["Другой район"])
    with pytest.raises(AccessDenied) as caught:
        eng.fire_center("C00000", "train_staff", actor=OP, now=T0)
    assert "Шуйский район" in caught.value.missing
    make("coordinator", None)
    eng.fire_center("C00001", "agree_infrastructure", actor=OP, now=T0)


def test_a_failing_notice_hook_rolls_the_whole_transition_back(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    def hook(conn: Connection, result: TransitionResult, now: datetime) -> None:
        raise RuntimeError("outbox is broken")

    with pytest.raises(RuntimeError):
        _engine(engine, stored, notice_hook=hook).fire_center(
            "C00000", "agree_infrastructure", actor=OP, now=T0
        )
    with engine.connect() as conn:
        assert conn.execute(
            sa.select(CENTER.c.state, CENTER.c.version).where(CENTER.c.code == "C00000")
        ).one() == ("planned", 1)
    assert len(_events(engine)) == 3


def test_notice_hook_runs_in_the_transition_transaction(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    seen: list[tuple[str, int]] = []

    def hook(conn: Connection, result: TransitionResult, now: datetime) -> None:
        version = conn.execute(
            sa.select(CENTER.c.version).where(CENTER.c.id == result.entity_id)
        ).scalar()
        seen.append((result.to_state, version))

    _engine(engine, stored, notice_hook=hook).fire_center(
        "C00002", "agree_infrastructure", actor=OP, now=T0
    )
    assert seen == [("infrastructure_agreed", 2)]


def test_withdraw_and_revert_round_trip(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    eng = _engine(engine, stored)
    eng.fire_center("C00000", "agree_infrastructure", actor=OP, now=T0)
    eng.fire_center("C00000", "withdraw", actor=OP, now=T0, comment="школа закрыта")
    result = eng.fire_center("C00000", "revert", actor=OP, now=T0, comment="ошибочное исключение")
    assert (result.from_state, result.to_state, result.version) == (
        "withdrawn",
        "infrastructure_agreed",
        4,
    )


def test_cycle_needs_the_evidence_its_result_names(engine: Engine, stored: StoredRoadmap) -> None:
    measure3 = stored.definition.measure(3)
    assert len(measure3.evidence) == 2
    cycle = cycles.open_cycle(engine, stored, 3, due=date(2021, 2, 15), actor=OP.login, now=T0)
    assert (cycle.measure, cycle.period, cycle.state, cycle.version) == (
        3,
        "2021-02-15",
        "scheduled",
        1,
    )
    eng = _engine(engine, stored)
    eng.fire_cycle(cycle.id, "start", actor=OP, now=T0)
    first, second = measure3.evidence
    with pytest.raises(GuardRefused) as caught:
        eng.fire_cycle(cycle.id, "complete", actor=OP, now=T0, evidence={first: "письмо № 1"})
    assert second in caught.value.reason
    done = eng.fire_cycle(
        cycle.id, "complete", actor=OP, now=T0, evidence={first: "письмо № 1", second: "приказ № 2"}
    )
    assert (done.to_state, done.version) == ("done", 3)
    with engine.connect() as conn:
        stored_cycle = cycles.get_cycle(conn, stored.id, cycle.id)
    assert stored_cycle.evidence == {first: "письмо № 1", second: "приказ № 2"}


def test_recurring_measures_cannot_be_opened_by_hand(engine: Engine, stored: StoredRoadmap) -> None:
    from workflow.errors import InputError

    with pytest.raises(InputError):
        cycles.open_cycle(engine, stored, 5, due=date(2021, 3, 1), actor="x", now=T0)
    with pytest.raises(NotFound):
        cycles.open_cycle(engine, stored, 42, due=date(2021, 3, 1), actor="x", now=T0)


@pytest.mark.parametrize(
    ("tamper", "broken_seq"),
    [
        ("UPDATE event SET comment = 'подделка' WHERE seq = 2", 2),
        ("UPDATE event SET to_state = 'opened' WHERE seq = 4", 4),
        ("DELETE FROM event WHERE seq = 3", 3),
        (
            "UPDATE event SET seq = CASE seq WHEN 2 THEN 1000 WHEN 3 THEN 2 END "
            "WHERE seq IN (2, 3);"
            "UPDATE event SET seq = 3 WHERE seq = 1000",
            2,
        ),
        ("DELETE FROM event WHERE seq = 5", 5),
    ],
)
def test_tampering_is_found_and_the_first_broken_event_named(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow], tamper: str, broken_seq: int
) -> None:
    eng = _engine(engine, stored)
    eng.fire_center("C00000", "agree_infrastructure", actor=OP, now=T0)
    eng.fire_center("C00000", "equip", actor=OP, now=T0)
    with db.write(engine) as conn:
        bypass_append_only(conn)
        for statement in tamper.split(";"):
            conn.exec_driver_sql(statement)
    with db.read(engine) as conn, pytest.raises(AuditBroken) as caught:
        audit.verify(conn, stored.id, stored.definition.code)
    assert caught.value.seq == broken_seq


def test_a_state_changed_behind_the_engine_is_found(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    with db.write(engine) as conn:
        conn.exec_driver_sql("UPDATE center SET state = 'opened' WHERE code = 'C00001'")
    with db.read(engine) as conn, pytest.raises(AuditBroken) as caught:
        audit.verify(conn, stored.id, stored.definition.code)
    assert "C00001" in caught.value.why


@pytest.mark.parametrize("statement", ["UPDATE event SET comment = 'x'", "DELETE FROM event"])
def test_the_application_cannot_change_or_delete_events(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow], statement: str
) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught, db.write(engine) as conn:
        conn.exec_driver_sql(statement)
    assert "audit events are append-only" in str(caught.value)
    assert len(_events(engine)) == 3


@pytest.mark.postgres
def test_an_operators_postgres_role_cannot_alter_or_delete_events(
    db_url: str, engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    """The README's recipe: operators log in as roles that do not own the schema. Such a
    role runs Tochka, but cannot change, delete or truncate an event, nor switch off or
    drop the triggers that guard them (only the owner could)."""
    import uuid

    url = sa.engine.make_url(db_url)
    schema_name = str(url.query["options"]).split("=", 1)[1]
    role = f"op_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        for sql in (
            f"CREATE ROLE {role} LOGIN",
            f"GRANT USAGE ON SCHEMA {schema_name} TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema_name} TO {role}",
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {schema_name}.event FROM {role}",
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema_name} TO {role}",
        ):
            conn.exec_driver_sql(sql)
    operator = db.make_engine(
        url.set(username=role).render_as_string(hide_password=False), poolclass=sa.pool.NullPool
    )
    try:
        # The role can work: a transition, with its event, goes through.
        TransitionEngine(operator, stored.definition, stored.id).fire_center(
            "C00000", "agree_infrastructure", actor=OP, now=T0
        )
        assert len(_events(engine)) == 4
        for statement, refusal in (
            ("UPDATE event SET comment = 'x'", "permission denied"),
            ("DELETE FROM event", "permission denied"),
            ("TRUNCATE event", "permission denied"),
            ("ALTER TABLE event DISABLE TRIGGER event_append_only", "must be owner"),
            ("DROP TRIGGER event_append_only ON event", "must be owner"),
        ):
            with pytest.raises(sa.exc.DBAPIError) as caught, operator.begin() as conn:
                conn.exec_driver_sql(statement)
            assert refusal in str(caught.value), statement
        assert len(_events(engine)) == 4
        with db.read(engine) as conn:
            assert audit.verify(conn, stored.id, stored.definition.code).events == 4
    finally:
        operator.dispose()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


def test_append_makes_each_events_moment_utc_and_refuses_a_naive_one(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """A batch's events share one moment object (append converts it once: what is checked
    here is that each event keeps its own moment in UTC), another moment is its own;
    evidence of any mapping is stored as its dict; the chain still verifies."""
    moscow = timezone(timedelta(hours=3))
    first = datetime(2021, 3, 1, 12, 0, tzinfo=moscow)
    second = datetime(2021, 3, 2, 8, 30, 0, 5, tzinfo=moscow)

    def event(moment: datetime, evidence: object) -> audit.NewEvent:
        return audit.NewEvent(
            entity_kind="note",
            entity_id=1,
            entity_key="n1",
            trigger="note",
            from_state=None,
            to_state="noted",
            actor="ivanova",
            recorded_at=moment,
            effective_date=date(2021, 3, 1),
            evidence=evidence,  # type: ignore[arg-type]
        )

    given = [
        event(first, {"a": "1"}),
        event(first, MappingProxyType({"b": "2"})),
        event(second, None),
    ]
    with db.write(engine) as conn:
        last = audit.append(conn, stored.id, given)
    with db.read(engine) as conn:
        found = conn.execute(
            sa.select(EVENT.c.recorded_at, EVENT.c.evidence)
            .where(EVENT.c.seq > last - 3)
            .order_by(EVENT.c.seq)
        ).all()
        audit.verify(conn, stored.id, stored.definition.code)
    assert [row.recorded_at for row in found] == [first, first, second]
    assert {row.recorded_at.tzinfo for row in found} == {UTC}
    assert [row.evidence for row in found] == [{"a": "1"}, {"b": "2"}, None]
    with pytest.raises(ValueError, match="naive"), db.write(engine) as conn:
        audit.append(conn, stored.id, [event(first, None), event(datetime(2021, 3, 3), None)])
