"""Effective dates (issue 10): no act dated before its object's last event, no typo dates,
and every history in effective-date order.

The CLI cases run on each backend and check the exit code, the Russian message with
both dates (or the date and the allowed range), and that nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from typer.testing import Result

from base import db
from notifications.values import Reminder
from tests.conftest import T0
from tests.test_on_behalf import IN, VALUES, A, snapshot
from workflow.engine import audit, centers, cycles, dates
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.errors import EffectiveDateBeforeLast, EffectiveDateImplausible
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reconcile import tick
from workflow.storage.tables import CENTER, CYCLE

Cli = Callable[..., Result]
OP = Actor(login="operator")
REAL = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _flat(result: Result) -> str:
    return " ".join(result.output.split())


def _center(engine: Engine, code: str) -> tuple[str, int]:
    with db.read(engine) as conn:
        row = conn.execute(
            sa.select(CENTER.c.state, CENTER.c.version).where(CENTER.c.code == code)
        ).one()
    return (row.state, row.version)


def _cycle(engine: Engine, cycle_id: int) -> tuple[str, int]:
    with db.read(engine) as conn:
        row = conn.execute(
            sa.select(CYCLE.c.state, CYCLE.c.version).where(CYCLE.c.id == cycle_id)
        ).one()
    return (row.state, row.version)


def _import(engine: Engine, stored: StoredRoadmap, code: str, now: datetime = T0) -> None:
    row = CenterRow(
        code=code,
        name=f"Школа {code}",
        municipality=IN,
        cohort=2021,
        email=f"{code.lower()}@example.org",
        line=2,
    )
    centers.import_centers(engine, stored, [row], filename="setup", actor="operator", now=now)


def test_a_center_transition_dated_before_its_last_event_is_refused(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        f"code,name,municipality,cohort,email\n{A},Школа,{IN},2021,a@example.org\n",
        encoding="utf-8",
    )
    assert cli("--now", "2022-03-12", "centers", "import", str(path)).exit_code == 0
    before = snapshot(engine)
    refused = cli("--now", "2021-05-01", "centers", "fire", A, "agree_infrastructure")
    text = _flat(refused)
    assert refused.exit_code == 1, text
    assert (
        "Дата действия 01.05.2021 раньше последнего события этого центра (12.03.2022): "
        f"Центр {A}: agree_infrastructure — ничего не изменено." in text
    )
    assert "укажите --now не раньше 12.03.2022" in text
    assert "Traceback" not in text
    assert _center(engine, A) == ("planned", 1)
    assert snapshot(engine) == before
    # The same day as the last event is not earlier: accepted, and so is a later one.
    assert cli("--now", "2022-03-12", "centers", "fire", A, "agree_infrastructure").exit_code == 0
    assert cli("--now", "2022-04-01", "centers", "fire", A, "equip").exit_code == 0
    again = cli("--now", "2022-03-31", "centers", "fire", A, "train_staff")
    assert again.exit_code == 1
    assert "31.03.2022 раньше последнего события этого центра (01.04.2022)" in _flat(again)
    assert _center(engine, A) == ("equipped", 3)


def test_a_correction_dated_before_the_centers_last_event_is_refused(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    """``centers update`` is an event of the center's history too."""
    _import(engine, stored, A, now=datetime(2022, 3, 12, 9, tzinfo=UTC))
    before = snapshot(engine)
    refused = cli("--now", "2022-03-01", "centers", "update", A, "--name", "Школа № 1")
    text = _flat(refused)
    assert refused.exit_code == 1, text
    assert "Дата действия 01.03.2022 раньше последнего события этого центра (12.03.2022)" in text
    assert snapshot(engine) == before
    assert cli("--now", "2022-03-12", "centers", "update", A, "--name", "Школа № 1").exit_code == 0


def test_a_cycle_transition_dated_before_its_last_event_is_refused(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    cycle = cycles.open_cycle(
        engine,
        stored,
        4,
        due=date(2021, 6, 1),
        actor="operator",
        now=datetime(2021, 3, 10, 9, tzinfo=UTC),
    )
    assert cli("--now", "2021-04-01", "cycles", "fire", str(cycle.id), "start").exit_code == 0
    before = snapshot(engine)
    refused = cli(
        "--now", "2021-03-20", "cycles", "fire", str(cycle.id), "cancel", "--comment", "не нужен"
    )
    text = _flat(refused)
    assert refused.exit_code == 1, text
    assert "Дата действия 20.03.2021 раньше последнего события этого цикла (01.04.2021)" in text
    assert _cycle(engine, cycle.id) == ("in_progress", 2)
    assert snapshot(engine) == before


def test_the_engine_refuses_backdating_with_both_dates(
    engine: Engine, stored: StoredRoadmap
) -> None:
    _import(engine, stored, A)
    fire = TransitionEngine(engine, stored.definition, stored.id, clock=lambda: REAL)
    fire.fire_center(A, "agree_infrastructure", actor=OP, now=datetime(2021, 6, 1, 9, tzinfo=UTC))
    with pytest.raises(EffectiveDateBeforeLast) as caught:
        fire.fire_center(A, "equip", actor=OP, now=datetime(2021, 5, 31, 9, tzinfo=UTC))
    assert (caught.value.effective, caught.value.last) == (date(2021, 5, 31), date(2021, 6, 1))
    assert _center(engine, A) == ("infrastructure_agreed", 2)


# Each changing command with a mistyped --now: refused before anything is written.
TYPO_COMMANDS: list[tuple[str, Sequence[str]]] = [
    ("centers fire", ["centers", "fire", A, "start_reporting"]),
    ("cycles fire", ["cycles", "fire", "CYCLE", "start"]),
    ("cycles open", ["cycles", "open", "3", "--due", "2021-02-15"]),
    ("centers import", ["centers", "import", "CSV"]),
    ("indicators submit", ["indicators", "submit", A, "2021-Q3", *VALUES]),
    ("users add", ["users", "add", "zed", "--role", "viewer"]),
    ("municipalities import", ["municipalities", "import", "CONTACTS"]),
    ("tick", ["tick"]),
]


@pytest.mark.parametrize("typo", ["9999-12-31", "1999-12-31"])
@pytest.mark.parametrize(("name", "args"), TYPO_COMMANDS, ids=[n for n, _ in TYPO_COMMANDS])
def test_a_mistyped_date_is_refused_as_a_typo(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    tmp_path: Path,
    name: str,
    args: Sequence[str],
    typo: str,
) -> None:
    _import(engine, stored, A)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for trigger in ("agree_infrastructure", "equip", "train_staff", "open"):
        fire.fire_center(A, trigger, actor=OP, now=T0)
    cycle = cycles.open_cycle(engine, stored, 4, due=date(2021, 6, 1), actor="operator", now=T0)
    csv = tmp_path / "new.csv"
    csv.write_text(
        f"code,name,municipality,cohort,email\nN-01,Школа,{IN},2022,n@example.org\n",
        encoding="utf-8",
    )
    contacts = tmp_path / "uo.csv"
    contacts.write_text(f"municipality,email\n{IN},uo@example.org\n", encoding="utf-8")
    replaced = {"CYCLE": str(cycle.id), "CSV": str(csv), "CONTACTS": str(contacts)}
    before = snapshot(engine)
    result = cli("--now", typo, *[replaced.get(a, a) for a in args])
    text = _flat(result)
    shown = date.fromisoformat(typo).strftime("%d.%m.%Y")
    assert result.exit_code == 1, text
    assert f"Дата действия {shown} похожа на опечатку: допустимы даты с 01.01.2000 по " in text
    assert "ничего не изменено" in text
    assert "Traceback" not in text
    assert snapshot(engine) == before


def test_the_allowed_range_is_a_year_past_the_program_or_the_real_date(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """While the program runs, a year past its end (31.12.2023) is the limit; the real
    date is never a typo, so after that year the real date is."""
    _import(engine, stored, A)
    during = TransitionEngine(
        engine, stored.definition, stored.id, clock=lambda: datetime(2021, 6, 1, tzinfo=UTC)
    )
    with pytest.raises(EffectiveDateImplausible) as caught:
        during.fire_center(
            A, "agree_infrastructure", actor=OP, now=datetime(2025, 1, 1, 9, tzinfo=UTC)
        )
    assert (caught.value.earliest, caught.value.latest) == (date(2000, 1, 1), date(2024, 12, 31))
    assert caught.value.message == (
        "Дата действия 01.01.2025 похожа на опечатку: допустимы даты с 01.01.2000 по "
        "31.12.2024 (год после окончания программы 31.12.2023); ничего не изменено."
    )
    with pytest.raises(EffectiveDateImplausible):
        during.fire_center(
            A, "agree_infrastructure", actor=OP, now=datetime(1999, 12, 31, 9, tzinfo=UTC)
        )
    assert _center(engine, A) == ("planned", 1)
    during.fire_center(
        A, "agree_infrastructure", actor=OP, now=datetime(2024, 12, 31, 9, tzinfo=UTC)
    )
    after = TransitionEngine(engine, stored.definition, stored.id, clock=lambda: REAL)
    after.fire_center(A, "equip", actor=OP, now=REAL)  # the daemon's own time
    with pytest.raises(EffectiveDateImplausible) as later:
        after.fire_center(A, "train_staff", actor=OP, now=datetime(2026, 11, 30, 9, tzinfo=UTC))
    assert "по 29.11.2026 (сегодня; программа окончилась 31.12.2023)" in later.value.message
    # 9999-12-31 late in the day (UTC) is already the year 10000 in Moscow: still a typo.
    with pytest.raises(EffectiveDateImplausible):
        after.fire_center(A, "train_staff", actor=OP, now=datetime.max.replace(tzinfo=UTC))
    assert _center(engine, A) == ("equipped", 3)
    assert dates.latest_allowed(stored.definition, date(2021, 1, 1)) == date(2024, 12, 31)


def test_every_history_is_in_effective_date_order(
    cli: Cli, engine: Engine, stored: StoredRoadmap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events recorded out of order (a database written before the rule) are listed by
    effective date, events of one day in the order recorded, the creation first (an
    object's history starts with it; adoption dates a center's stages before its
    import, tests/test_adoption.py)."""
    _import(engine, stored, A)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    with monkeypatch.context() as before_the_rule:
        before_the_rule.setattr(dates, "check_not_before_last", lambda *a, **k: None)
        fire.fire_center(
            A, "agree_infrastructure", actor=OP, now=datetime(2021, 6, 1, 9, tzinfo=UTC)
        )
        fire.fire_center(A, "equip", actor=OP, now=datetime(2021, 3, 1, 9, tzinfo=UTC))
        fire.fire_center(A, "train_staff", actor=OP, now=datetime(2021, 3, 1, 12, tzinfo=UTC))
        cycle = cycles.open_cycle(
            engine,
            stored,
            4,
            due=date(2021, 6, 1),
            actor="operator",
            now=datetime(2021, 5, 1, tzinfo=UTC),
        )
        fire.fire_cycle(cycle.id, "start", actor=OP, now=datetime(2021, 4, 1, 9, tzinfo=UTC))
    listed = cli("--json", "history", "center", A)
    assert listed.exit_code == 0, listed.output
    events = json.loads(listed.output)
    assert [(e["trigger"], e["effective_date"], e["seq"]) for e in events] == [
        ("create", "2021-01-11", 1),
        ("equip", "2021-03-01", 3),
        ("train_staff", "2021-03-01", 4),
        ("agree_infrastructure", "2021-06-01", 2),
    ]
    text = cli("history", "center", A).output
    # The listing names transitions by their Russian titles (states.center.TRIGGER_TITLES).
    assert (
        text.index("оснащение")
        < text.index("обучение персонала")
        < text.index("согласование инфраструктурного листа")
    )
    cycle_events = json.loads(cli("--json", "history", "cycle", str(cycle.id)).output)
    assert [(e["trigger"], e["effective_date"]) for e in cycle_events] == [
        ("create", "2021-05-01"),
        ("start", "2021-04-01"),
    ]
    with db.read(engine) as conn:
        audit.verify(conn, stored.id, stored.definition.code)  # the chain is untouched


class _Queue:
    def __call__(self, conn: Connection, reminders: Sequence[Reminder], *, now: datetime) -> int:
        return len(reminders)


def test_the_reconciler_skips_a_cycle_dated_ahead_of_its_tick(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """``mark_overdue`` is never refused in a tick: a cycle whose last event is dated after
    the tick's ``now`` is skipped (and marked by a later tick)."""
    cycle = cycles.open_cycle(engine, stored, 4, due=date(2021, 6, 1), actor="operator", now=T0)
    fire = TransitionEngine(engine, stored.definition, stored.id, clock=lambda: REAL)
    fire.fire_cycle(cycle.id, "start", actor=OP, now=datetime(2021, 7, 10, 9, tzinfo=UTC))
    early = tick(
        engine, stored, now=datetime(2021, 7, 1, 9, tzinfo=UTC), clock=lambda: REAL, queue=_Queue()
    )
    assert early.skipped == 1
    assert _cycle(engine, cycle.id) == ("in_progress", 2)
    later = tick(
        engine, stored, now=datetime(2021, 7, 11, 9, tzinfo=UTC), clock=lambda: REAL, queue=_Queue()
    )
    assert later.skipped == 0
    assert _cycle(engine, cycle.id) == ("overdue", 3)
    with pytest.raises(EffectiveDateImplausible):
        tick(
            engine,
            stored,
            now=datetime(9999, 12, 30, tzinfo=UTC),
            clock=lambda: REAL,
            queue=_Queue(),
        )


def test_a_transition_that_waited_for_a_concurrent_one_sees_its_date(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """B reads the center while A, dated later, still holds it: on PostgreSQL B's read
    waits, then returns A's row, and B is checked against A's date, not the one of the
    snapshot B started with (on SQLite B waits for the write lock before reading)."""
    import threading
    import time

    _import(engine, stored, A)
    inside = threading.Event()
    outcome: dict[str, EffectiveDateBeforeLast] = {}

    def hold(conn: Connection, result: object, now: datetime) -> None:
        inside.set()
        time.sleep(1.0)  # B starts its read meanwhile and waits for the row

    first = TransitionEngine(engine, stored.definition, stored.id, notice_hook=hold)
    second = TransitionEngine(engine, stored.definition, stored.id)

    def later() -> None:
        first.fire_center(
            A, "agree_infrastructure", actor=OP, now=datetime(2021, 6, 1, 9, tzinfo=UTC)
        )

    def earlier() -> None:
        inside.wait(timeout=30)
        try:
            second.fire_center(
                A, "withdraw", actor=OP, now=datetime(2021, 5, 1, 9, tzinfo=UTC), comment="ошибка"
            )
        except EffectiveDateBeforeLast as exc:
            outcome["refused"] = exc

    threads = [threading.Thread(target=later), threading.Thread(target=earlier)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert "refused" in outcome, _center(engine, A)
    assert outcome["refused"].last == date(2021, 6, 1)
    assert _center(engine, A) == ("infrastructure_agreed", 2)
