"""Per-center parties (issue 14, item 3): a municipality or school party without an address
stands for each center's education authority or school (`workflow.roadmap.parties`).

The roadmap is a copy of the shipped one with two such parties: measure 5 (procurement,
annual from 01.03.2021) is done by the municipalities, measure 8 (the centers' opening,
followed by the ``opened`` stage) by the department and the schools. Three centers in two
municipalities. The letters are read from the real outbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER, REMINDER
from tests.conftest import T0, TEST_COORDINATORS, grant
from workflow.engine import centers, municipalities
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.errors import Problem, RoadmapFileError
from workflow.imports.centers_file import CenterRow
from workflow.imports.municipalities_file import ContactRow
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.loader import load_roadmap, parse_roadmap
from workflow.roadmap.parties import fixed_address_warnings
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.reconcile import tick
from workflow.schedule.reminders import outbox_queue, preview
from workflow.storage.tables import CYCLE
from workflow.views.overview import roadmap_status

Cli = Callable[..., Result]
COORDINATOR = "coordinator@example.org"
SHUYA, KINESHMA = "uo@shuya.example.org", "uo@kineshma.example.org"
SCHOOLS = ("s1@example.org", "s2@example.org", "s3@example.org")
PER_CENTER_PARTIES = """  - id: municipalities
    kind: municipality
    name: "органы управления образованием муниципальных образований"
  - id: schools
    kind: school
    name: "общеобразовательные организации"
"""


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def routed_text() -> str:
    """The shipped roadmap with measure 5 by the municipalities, measure 8 with the schools."""
    text = IVANOVO_159_RP.read_text(encoding="utf-8")
    text = _edit(
        text, "\n# One kind per document", PER_CENTER_PARTIES + "\n# One kind per document"
    )
    text = _edit(
        text,
        '    name: "извещения о проведении закупок"\n',
        '    name: "извещения о проведении закупок"\n    provided_by: municipalities\n',
    )
    measure5 = text.index("  - number: 5\n")
    text = text[:measure5] + text[measure5:].replace(
        "responsible: [department]", "responsible: [municipalities]", 1
    )
    measure8 = text.index("  - number: 8\n")
    return text[:measure8] + text[measure8:].replace(
        "responsible: [department]", "responsible: [department, schools]", 1
    )


@pytest.fixture
def routed(engine: Engine, tmp_path: Path) -> StoredRoadmap:
    path = tmp_path / "routed.yaml"
    path.write_text(routed_text(), encoding="utf-8")
    definition = load_roadmap(path)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=T0)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, definition.code)
    rows = [
        CenterRow(code="S1", name="МБОУ «Школа № 1»", municipality="Шуйский район",
                  cohort=2021, email=SCHOOLS[0], line=2),
        CenterRow(code="S2", name="МБОУ «Школа № 2»", municipality="Шуйский район",
                  cohort=2021, email=SCHOOLS[1], line=3),
        CenterRow(code="S3", name="МБОУ «Школа № 3»", municipality="Кинешемский район",
                  cohort=2021, email=SCHOOLS[2], line=4),
    ]  # fmt: skip
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="importer", now=T0)
    return stored


def _contacts(engine: Engine, stored: StoredRoadmap, *pairs: tuple[str, str]) -> None:
    rows = [
        ContactRow(municipality=m, email=e, recipient=f"Управление образования ({m})", line=i + 2)
        for i, (m, e) in enumerate(pairs)
    ]
    municipalities.import_contacts(engine, stored, rows, filename="m.csv", actor="op", now=T0)


def _tick(engine: Engine, stored: StoredRoadmap, day: datetime) -> None:
    tick(engine, stored, now=day, queue=outbox_queue())


def _cycle_id(engine: Engine, measure: int, period: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(CYCLE.c.id).where(CYCLE.c.measure == measure, CYCLE.c.period == period)
            ).scalar_one()
        )


def _keys(engine: Engine, fragment: str) -> list[tuple[str, str]]:
    """(recipient, key) of every reminder whose key holds ``fragment``, in key order."""
    with engine.connect() as conn:
        return [
            (r.recipient, r.key)
            for r in conn.execute(sa.select(REMINDER.c.recipient, REMINDER.c.key))
            if fragment in r.key
        ]


def _letters(engine: Engine, recipient: str) -> list[str]:
    with engine.connect() as conn:
        raws = conn.execute(
            sa.select(OUTBOX_LETTER.c.message)
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.recipient == recipient)
        ).scalars()
        return [
            message_from_bytes(bytes(raw), policy=email_policy.default)
            .get_body(("plain",))
            .get_content()  # type: ignore[union-attr]
            for raw in raws
        ]


# 15.02.2021, a Monday: 14 days before measure 5's first cycle (01.03.2021).
FEB15 = datetime(2021, 2, 15, 6, 0, tzinfo=UTC)


def test_a_municipality_measure_reaches_each_municipality_once(
    engine: Engine, routed: StoredRoadmap
) -> None:
    _contacts(engine, routed, ("Шуйский район", SHUYA), ("Кинешемский район", KINESHMA))
    _tick(engine, routed, FEB15)
    _tick(engine, routed, FEB15)  # idempotent: nothing more
    cycle = _cycle_id(engine, 5, "2021")
    assert sorted(_keys(engine, f":cycle:{cycle}:")) == [
        (KINESHMA, f"ivanovo-2021-2023:cycle:{cycle}:before-14:{KINESHMA}"),
        (SHUYA, f"ivanovo-2021-2023:cycle:{cycle}:before-14:{SHUYA}"),
    ]  # none to a fixed address: the department is not responsible for measure 5
    (shuya,) = _letters(engine, SHUYA)  # one letter (its digest) that day
    flat = " ".join(shuya.split())
    assert (
        "Просим выполнить мероприятие по центрам «Точка роста» вашего муниципального "
        "образования (МБОУ «Школа № 1», МБОУ «Школа № 2») и направить документы."
    ) in flat
    assert "извещения о проведении закупок" in flat
    assert "МБОУ «Школа № 3»" not in flat
    (kineshma,) = _letters(engine, KINESHMA)
    assert "(МБОУ «Школа № 3»)" in " ".join(kineshma.split())
    # The preview says the same of the rungs to come (26.02, 01.03): each once.
    with db.read(engine) as conn:
        items = [
            (i.send_on.isoformat(), i.recipient, i.rung)
            for i in preview(conn, routed, today=FEB15.date(), until=datetime(2021, 3, 1).date())
            if i.deadline_id == f"cycle:{cycle}"
        ]
    assert items == [
        ("2021-02-26", KINESHMA, "before-3"),
        ("2021-02-26", SHUYA, "before-3"),
        ("2021-03-01", KINESHMA, "on_day"),
        ("2021-03-01", SHUYA, "on_day"),
    ]


def test_a_municipality_without_an_address_is_reminded_through_the_coordinator(
    engine: Engine, routed: StoredRoadmap
) -> None:
    _contacts(engine, routed, ("Шуйский район", SHUYA))
    _tick(engine, routed, FEB15)
    cycle = _cycle_id(engine, 5, "2021")
    assert sorted(r for r, _k in _keys(engine, f":cycle:{cycle}:")) == [COORDINATOR, SHUYA]
    text = " ".join(" ".join(_letters(engine, COORDINATOR)).split())
    assert (
        "У муниципалитетов без адреса (Кинешемский район) напоминание получаете вы: передайте "
        "его органам управления образованием или загрузите их адреса (tochka municipalities "
        "import)."
    ) in text
    with db.read(engine) as conn:
        status = roadmap_status(conn, routed, today=FEB15)
    assert (
        "мероприятие № 5 выполняют муниципалитеты каждого центра, но нет адреса у "
        "муниципалитетов: «Кинешемский район»; их напоминания получает координатор (адреса "
        "загружает tochka municipalities import)."
    ) in status.silent


def test_a_school_party_of_a_stage_measure_is_reminded_per_center_through_the_stage(
    engine: Engine, routed: StoredRoadmap
) -> None:
    # 18.08.2021: 14 days before the ``opened`` stage (01.09), followed by measure 8.
    _tick(engine, routed, datetime(2021, 8, 18, 6, 0, tzinfo=UTC))
    opened = _keys(engine, ":opened:before-14:")
    assert sorted(opened) == [
        (s, f"ivanovo-2021-2023:center:S{n}:opened:before-14:{s}")
        for n, s in enumerate(SCHOOLS, start=1)
    ]
    # Measure 8's own cycle reminds its fixed party only, never each school twice.
    cycle = _cycle_id(engine, 8, "2021")
    assert [r for r, _k in _keys(engine, f":cycle:{cycle}:")] == [COORDINATOR]


def test_a_party_without_an_address_source_is_refused_where_it_is_written() -> None:
    text = routed_text()
    operator = '    name: "федеральный оператор"\n    email: "operator@example.org"\n'
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(_edit(text, operator, operator.split("\n")[0] + "\n"), filename="r.yaml")
    (problem,) = caught.value.problems
    line = text[: text.index("  - id: federal_operator")].count("\n") + 1
    assert problem == Problem(
        file="r.yaml",
        line=line,
        column=5,
        field="parties[1].email",
        message="нужен адрес email: участник вида «federal_operator» получает напоминания по "
        "своему адресу, взять его больше неоткуда (без адреса могут быть только "
        "municipality и school — их адреса у центров)",
    )
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(
            _edit(text, "  escalate_to: department", "  escalate_to: municipalities"),
            filename="r.yaml",
        )
    (problem,) = caught.value.problems
    assert (problem.field, problem.line) == (
        "reminders.escalate_to",
        text[: text.index("  escalate_to: department")].count("\n") + 1,
    )
    assert problem.message.startswith("просрочку эскалируют по одному адресу")
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(
            _edit(text, "coordinator: department", "coordinator: schools"), filename="r.yaml"
        )
    assert [p.field for p in caught.value.problems] == ["coordinator"]


def test_a_fixed_address_municipality_party_is_warned_about() -> None:
    text = _edit(
        routed_text(),
        '    name: "органы управления образованием муниципальных образований"\n',
        '    name: "Управление образования Шуйского района"\n    email: "uo@shuya.example.org"\n',
    )
    definition = parse_roadmap(text, filename="r.yaml")
    assert fixed_address_warnings(definition) == [
        "Участник «municipalities» (Управление образования Шуйского района) вида "
        "«municipality» получает напоминания (мероприятия № 5) по одному адресу "
        "uo@shuya.example.org, а не органу управления образованием муниципалитета каждого "
        "центра. Если напоминать нужно каждому, уберите у участника email."
    ]
    assert fixed_address_warnings(parse_roadmap(routed_text(), filename="r.yaml")) == []


def test_roadmap_validate_prints_the_fixed_address_warning(cli: Cli, tmp_path: Path) -> None:
    text = _edit(
        routed_text(),
        '    name: "органы управления образованием муниципальных образований"\n',
        '    name: "Управление образования"\n    email: "uo@shuya.example.org"\n',
    )
    path = tmp_path / "fixed.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("roadmap", "validate", str(path))
    assert result.exit_code == 0, result.output
    assert (
        "Предупреждение: Участник «municipalities» (Управление образования) вида "
        "«municipality» получает напоминания (мероприятия № 5) по одному адресу"
    ) in " ".join(result.stderr.split())
    # A per-center party (no email) is not warned about.
    path.write_text(routed_text(), encoding="utf-8")
    assert "Участник" not in cli("roadmap", "validate", str(path)).stderr


def test_a_school_party_of_a_measure_without_a_stage_reaches_every_school_once(
    engine: Engine, tmp_path: Path
) -> None:
    text = routed_text().replace("responsible: [municipalities]", "responsible: [schools]", 1)
    path = tmp_path / "schools.yaml"
    path.write_text(text, encoding="utf-8")
    definition = load_roadmap(path)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=T0)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, definition.code)
    rows = [
        CenterRow(code=f"S{n}", name=f"МБОУ «Школа № {n}»", municipality="Шуйский район",
                  cohort=2021, email=school, line=n + 1)
        for n, school in enumerate(SCHOOLS, start=1)
    ]  # fmt: skip
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="importer", now=T0)
    _tick(engine, stored, FEB15)
    cycle = _cycle_id(engine, 5, "2021")
    assert sorted(r for r, _k in _keys(engine, f":cycle:{cycle}:")) == list(SCHOOLS)
    (letter,) = _letters(engine, SCHOOLS[1])
    assert (
        "Просим выполнить мероприятие в вашей школе (центр «Точка роста»: МБОУ «Школа № 2») "
        "и сообщить о выполнении."
    ) in " ".join(letter.split())


# --- Nobody to reach: no center registered yet, or every center withdrawn ---------------


def _store_routed(engine: Engine, tmp_path: Path) -> StoredRoadmap:
    """The routed roadmap (measure 5 by the municipalities) without any center."""
    path = tmp_path / "routed.yaml"
    path.write_text(routed_text(), encoding="utf-8")
    definition = load_roadmap(path)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=T0)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    with db.read(engine) as conn:
        return roadmap_store.resolve(conn, definition.code)


NOBODY_WARNING = (
    "мероприятие № 5: некому напоминать — его выполняют органы управления образованием "
    "муниципалитетов центров, а ни одного центра ещё не зарегистрировано; его напоминания "
    "получает координатор (центры загружает tochka centers import)."
)


def _silent(engine: Engine, stored: StoredRoadmap, day: datetime) -> list[str]:
    """``tochka status``'s warnings of measures with nobody to remind."""
    with db.read(engine) as conn:
        silent = roadmap_status(conn, stored, today=day).silent
    return [line for line in silent if "некому напоминать" in line]


def test_before_any_center_the_coordinator_is_reminded_in_the_parties_place(
    engine: Engine, tmp_path: Path
) -> None:
    """Measure 5 is the municipalities' and no center is registered yet: its early rung
    (before-14, 15.02.2021) goes to the coordinator, saying why, instead of to nobody;
    ``tochka status`` warns. Once centers and their authorities' addresses are loaded,
    the next rung (before-3, 26.02) goes to each authority and no longer to the
    coordinator, and the warning is gone."""
    stored = _store_routed(engine, tmp_path)
    assert _silent(engine, stored, FEB15) == [NOBODY_WARNING]
    _tick(engine, stored, FEB15)
    cycle = _cycle_id(engine, 5, "2021")
    assert _keys(engine, f":cycle:{cycle}:") == [
        (COORDINATOR, f"ivanovo-2021-2023:cycle:{cycle}:before-14:{COORDINATOR}")
    ]
    (letter,) = _letters(engine, COORDINATOR)
    flat = " ".join(letter.split())
    assert (
        "Мероприятие выполняют органы управления образованием муниципалитетов центров, но ни "
        "одного центра ещё не зарегистрировано: напоминаем вам. Передайте напоминание "
        "исполнителям; центры загружает tochka centers import."
    ) in flat
    assert "Срок прошёл" not in flat  # an early rung, not the escalation
    # The preview says the same of the rungs to come while no center is there.
    with db.read(engine) as conn:
        coming = [
            (i.send_on.isoformat(), i.recipient, i.rung)
            for i in preview(conn, stored, today=FEB15.date(), until=datetime(2021, 3, 1).date())
            if i.deadline_id == f"cycle:{cycle}"
        ]
    assert coming == [
        ("2021-02-26", COORDINATOR, "before-3"),
        ("2021-03-01", COORDINATOR, "on_day"),
    ]

    rows = [
        CenterRow(code="S1", name="МБОУ «Школа № 1»", municipality="Шуйский район",
                  cohort=2021, email=SCHOOLS[0], line=2),
        CenterRow(code="S3", name="МБОУ «Школа № 3»", municipality="Кинешемский район",
                  cohort=2021, email=SCHOOLS[2], line=3),
    ]  # fmt: skip
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="importer", now=T0)
    _contacts(engine, stored, ("Шуйский район", SHUYA), ("Кинешемский район", KINESHMA))
    feb26 = datetime(2021, 2, 26, 6, 0, tzinfo=UTC)
    assert _silent(engine, stored, feb26) == []
    _tick(engine, stored, feb26)
    assert sorted(r for r, k in _keys(engine, f":cycle:{cycle}:") if ":before-3:" in k) == [
        KINESHMA,
        SHUYA,
    ]
    assert len(_letters(engine, COORDINATOR)) == 1  # nothing more for the coordinator


def test_with_every_center_withdrawn_the_coordinator_is_told_so(
    engine: Engine, routed: StoredRoadmap
) -> None:
    _contacts(engine, routed, ("Шуйский район", SHUYA), ("Кинешемский район", KINESHMA))
    machine = TransitionEngine(engine, routed.definition, routed.id)
    for code in ("S1", "S2", "S3"):
        machine.fire_center(
            code, "withdraw", actor=Actor(login="operator"), now=T0, comment="реорганизация"
        )
    assert _silent(engine, routed, FEB15) == [
        "мероприятие № 5: некому напоминать — его выполняют органы управления образованием "
        "муниципалитетов центров, а все центры исключены из программы; его напоминания "
        "получает координатор (исключённый центр возвращает tochka centers fire КОД revert)."
    ]
    _tick(engine, routed, FEB15)
    cycle = _cycle_id(engine, 5, "2021")
    assert [r for r, _k in _keys(engine, f":cycle:{cycle}:")] == [COORDINATOR]
    flat = " ".join(" ".join(_letters(engine, COORDINATOR)).split())
    assert "но все центры исключены из программы: напоминаем вам." in flat


def test_init_and_status_warn_of_a_measure_with_nobody_to_remind(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "routed.yaml"
    path.write_text(routed_text(), encoding="utf-8")
    result = cli("--now", "2021-01-11T09:00", "init", "--roadmap", str(path))
    assert result.exit_code == 0, result.output
    assert f"Внимание: {NOBODY_WARNING}" in " ".join(result.stderr.split())
    assert "Предупреждение" not in result.stderr  # the file itself is fine
    status = cli("--now", "2021-02-15T09:00", "status")
    assert status.exit_code == 0, status.output
    assert f"Внимание: {NOBODY_WARNING}" in " ".join(status.output.split())
    listed = cli("--json", "--now", "2021-01-11T09:00", "init", "--roadmap", str(path))
    assert json.loads(listed.stdout)["silent_measures"] == [NOBODY_WARNING]
    # The shipped roadmap has no per-center party: nothing to say.
    shipped = cli("--now", "2021-01-11T09:00", "init")
    assert "некому напоминать" not in shipped.output
