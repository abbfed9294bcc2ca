"""Adoption mid-program (issue 13, item 4): `tochka init --as-of` and `tochka adopt`.

A database adopted as of 2022-09-01, its cohort-2021 centers already reporting and the
measure cycles due before that day done, gets no reminder about anything before the
adoption date, on the first tick or after; the imported history is in the audit chain
at its effective dates. Every bad input is refused with its line and column and changes
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import OUTBOX
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.recurrence import scheduled_cycles
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.storage.tables import CENTER, CYCLE, EVENT, ROADMAP, SENT

AS_OF = date(2022, 9, 1)
DEFINITION = load_roadmap(IVANOVO_159_RP)

CENTERS = (
    "Код;Наименование;Муниципальное образование;Год создания;Email\n"
    "A1;МБОУ «Школа № 1»;Шуйский район;2021;a1@school.ru\n"
    "A2;МБОУ «Школа № 2»;Шуйский район;2021;a2@school.ru\n"
    "A3;МБОУ «Школа № 3»;Кинешма;2021;a3@school.ru\n"
)
STAGES_HEADER = (
    "Код;инфраструктурный лист согласован;оснащён;персонал обучен;открыт;отчитывается;"
    "Текущий этап\n"
)
STAGES = STAGES_HEADER + (
    "A1;15.03.2021;20.07.2021;2021-08-10;01.09.2021;15.09.2021;отчитывается\n"
    "A2;16.03.2021;21.07.2021;11.08.2021;01.09.2021;20.09.2021;\n"
    "A3;17.03.2021;22.07.2021;12.08.2021;01.09.2021;;открыт\n"
)


def done_cycles_csv() -> str:
    """Every cycle the roadmap has with a due date before the adoption date, done."""
    lines = ["№ мероприятия;Период;Дата выполнения;Документ"]
    for spec in scheduled_cycles(DEFINITION, as_of=AS_OF):
        if spec.due >= AS_OF:
            continue
        kinds = DEFINITION.measure(spec.measure).evidence
        evidence = "; ".join(f"{k}=документ {spec.measure}/{spec.period}" for k in kinds)
        # Two documents are separated by «;» inside one cell: quoted, as Excel saves it.
        lines.append(f'{spec.measure};{spec.period};{spec.due:%d.%m.%Y};"{evidence}"')
    return "\n".join(lines) + "\n"


Cli = Callable[..., Result]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def adopt_db(cli: Cli, tmp_path: Path) -> None:
    """init --as-of 01.09.2022, the three centers (created as of the program's start)."""
    ok(cli("--now", "2022-09-01T09:00", "init", "--as-of", "01.09.2022"))
    ok(cli("--now", "2022-09-01T09:00", "users", "add", "ivanova", "--role", "coordinator"))
    ok(cli("--now", "2021-01-11", "centers", "import", str(write(tmp_path, "c.csv", CENTERS))))


def state_of(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row a bad import must leave alone."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
            for t in (CENTER, CYCLE, EVENT, SENT, OUTBOX)
        }


def where(part: str, path: Path) -> str:
    """``c.csv:2:3`` as the error names it: the file, its line and column."""
    name, _, rest = part.partition(":")
    if not rest or not rest.replace(":", "").isdigit():
        return part
    line, column = rest.split(":")
    return f"{path.parent / name}, строка {line}, столбец {column}"


def sent_rungs(engine: Engine) -> list[tuple[str, date, date]]:
    with engine.connect() as conn:
        return [
            (r.rung, r.deadline, r.send_on)
            for r in conn.execute(sa.select(SENT.c.rung, SENT.c.deadline, SENT.c.send_on))
        ]


def test_adopted_database_reminds_nothing_before_the_adoption_date(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    adopt_db(cli, tmp_path)
    with engine.connect() as conn:
        assert conn.execute(sa.select(ROADMAP.c.adopted_on)).scalar_one() == AS_OF
    stages = write(tmp_path, "stages.csv", STAGES)
    done = write(tmp_path, "done.csv", done_cycles_csv())
    result = ok(
        cli("--json", "adopt", "--stages", str(stages), "--cycles", str(done), actor="ivanova")
    )
    report = json.loads(result.output)
    expected_cycles = sum(1 for s in scheduled_cycles(DEFINITION, as_of=AS_OF) if s.due < AS_OF)
    assert expected_cycles > 5
    assert report["centers"] == 3
    assert report["stage_events"] == 5 + 5 + 4
    assert report["cycles_done"] == expected_cycles

    # The history at the stages' effective dates, marked as entered at adoption.
    history = json.loads(ok(cli("--json", "history", "center", "A1")).output)
    assert [(e["effective_date"], e["to_state"]) for e in history] == [
        ("2021-01-11", "planned"),
        ("2021-03-15", "infrastructure_agreed"),
        ("2021-07-20", "equipped"),
        ("2021-08-10", "staff_trained"),
        ("2021-09-01", "opened"),
        ("2021-09-15", "reporting"),
    ]
    for e in history[1:]:
        assert e["actor"] == "ivanova"
        assert e["comment"].startswith(f"внесено при переходе на Точку: файл {stages}, строка ")
        assert e["recorded_at"] > "2026"  # recorded now, not at the effective date
    assert history[1]["comment"].endswith("строка 2")
    shown = ok(cli("history", "center", "A1")).output
    assert "15.03.2021" in shown
    assert "внесено при переходе на Точку" in shown

    # Ticks on the adoption day and after: no rung sent before it, no deadline before it.
    for day in ("2022-09-01T09:00", "2022-09-02T09:00", "2022-09-12T09:00", "2022-10-03T09:00"):
        ok(cli("--now", day, "tick"))
        rungs = sent_rungs(engine)
        early = [r for r in rungs if r[1] < AS_OF or r[2] < AS_OF]
        assert early == [], early
    assert sent_rungs(engine), "the deadlines after adoption are still reminded"
    with engine.connect() as conn:
        overdue = conn.execute(
            sa.select(sa.func.count())
            .select_from(CYCLE)
            .where(CYCLE.c.state == "overdue", CYCLE.c.due_date < AS_OF)
        ).scalar_one()
        stale = conn.execute(
            sa.select(sa.func.count())
            .select_from(CYCLE)
            .where(CYCLE.c.due_date < AS_OF, CYCLE.c.state != "done")
        ).scalar_one()
    assert (overdue, stale) == (0, 0)
    status = json.loads(ok(cli("--json", "status")).output)
    assert status["centers"].get("reporting") == 2
    ok(cli("audit", "verify"))


def test_open_cycle_due_before_adoption_is_overdue_but_gets_no_flood(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """A cycle not in the file, due before adoption: overdue in status; of its ladder
    only rungs on or after the adoption day are sent (at most one a tick)."""
    adopt_db(cli, tmp_path)
    ok(cli("adopt", "--stages", str(write(tmp_path, "s.csv", STAGES))))
    ok(cli("--now", "2022-09-01T09:00", "tick"))
    with engine.connect() as conn:
        overdue = conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.due_date).where(CYCLE.c.state == "overdue")
        ).all()
    assert overdue, "the undone cycles due before adoption are overdue"
    assert all(r.due_date < AS_OF for r in overdue)
    with engine.connect() as conn:
        # Each rung's own day (the deadline ± its offset) is on or after adoption.
        early = conn.execute(sa.select(SENT.c.rung, SENT.c.deadline, SENT.c.day_offset)).all()
        per_deadline = conn.execute(
            sa.select(SENT.c.kind, SENT.c.entity_id, SENT.c.stage, sa.func.count())
            .group_by(SENT.c.kind, SENT.c.entity_id, SENT.c.stage)
            .having(sa.func.count() > 1)
        ).all()
    assert per_deadline == []
    assert [r for r in early if r.deadline + timedelta(days=r.day_offset) < AS_OF] == []
    assert any(r.deadline < AS_OF for r in early) or not early


def test_as_of_in_the_future_or_before_the_program_is_refused(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    before = state_of(engine)
    future = cli("--now", "2022-09-01T09:00", "init", "--as-of", "02.09.2022")
    assert future.exit_code != 0
    assert "в будущем" in future.output
    assert "02.09.2022" in future.output
    early = cli("--now", "2022-09-01T09:00", "init", "--as-of", "2020-01-01")
    assert early.exit_code != 0
    assert "раньше начала программы" in early.output
    typo = cli("--now", "2022-09-01T09:00", "init", "--as-of", "31.02.2022")
    assert typo.exit_code != 0
    assert "--as-of" in typo.output
    assert "не дата" in typo.output
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ROADMAP)).scalar_one() == 0
    assert state_of(engine) == before
    ok(cli("--now", "2022-09-01T09:00", "init", "--as-of", "2022-09-01"))
    other = cli("--now", "2022-09-01T09:00", "init", "--as-of", "2022-08-01")
    assert other.exit_code != 0
    assert "уже записана" in other.output


BAD_STAGES = [
    (
        "unknown stage column",
        "Код;оснащён;открыт досрочно\nA1;20.07.2021;01.09.2021\n",
        ["c.csv:1:3", "неизвестный столбец «открыт досрочно»"],
    ),
    (
        "unknown current stage",
        STAGES_HEADER + "A1;15.03.2021;;;;;сдан\n",
        ["c.csv:2:7", "неизвестный этап «сдан»"],
    ),
    (
        "stage dates out of order",
        STAGES_HEADER + "A1;15.03.2021;20.07.2021;10.07.2021;;;\n",
        ["c.csv:2:4", "раньше даты предыдущего этапа «оснащён» 20.07.2021"],
    ),
    (
        "a stage skipped",
        STAGES_HEADER + "A1;15.03.2021;;10.08.2021;;;\n",
        ["c.csv:2:3", "нет даты этапа «оснащён»"],
    ),
    (
        "a date after --as-of",
        STAGES_HEADER + "A1;15.03.2021;20.07.2021;10.08.2021;02.09.2022;;\n",
        ["c.csv:2:5", "позже даты перехода на Точку 01.09.2022"],
    ),
    (
        "not a date",
        STAGES_HEADER + "A1;15.13.2021;;;;;\n",
        ["c.csv:2:2", "«15.13.2021» — не дата"],
    ),
    (
        "unknown center code",
        STAGES_HEADER + "A1;15.03.2021;;;;;\nZZ9;15.03.2021;;;;;\n",
        ["c.csv:3:1", "центра с кодом «ZZ9» нет в базе"],
    ),
    (
        "center already present with a different state",
        STAGES_HEADER + "A2;15.03.2021;20.07.2021;;;;\n",
        ["c.csv:2:3", "уже в базе на этапе «инфраструктурный лист согласован»"],
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), BAD_STAGES, ids=[c[0] for c in BAD_STAGES])
def test_bad_stages_file_is_refused_with_line_and_column_nothing_changed(
    cli: Cli, engine: Engine, tmp_path: Path, case: str, text: str, expected: list[str]
) -> None:
    adopt_db(cli, tmp_path)
    # A2 moved on in Tochka already (an operator's act after adoption).
    ok(cli("--now", "2022-09-02", "centers", "fire", "A2", "agree_infrastructure"))
    before = state_of(engine)
    path = tmp_path / "c.csv"
    path.write_text(text, encoding="utf-8")
    # A valid second line is not imported either: all or nothing.
    result = cli("adopt", "--stages", str(path))
    assert result.exit_code != 0, result.output
    assert "ничего не изменено" in result.output
    flat = " ".join(result.output.split())
    for part in expected:
        assert where(part, path) in flat, (case, result.output)
    assert "Traceback" not in result.output
    assert state_of(engine) == before


BAD_CYCLES = [
    (
        "unknown measure",
        "№ мероприятия;Период;Дата выполнения;Документ\n99;2021;01.03.2021;x\n",
        ["d.csv:2:1", "нет мероприятия № «99»"],
    ),
    (
        "unknown period",
        "№ мероприятия;Период;Дата выполнения;Документ\n9;2021-Q7;01.03.2021;x\n",
        ["d.csv:2:2", "нет периода «2021-Q7»"],
    ),
    (
        "done after --as-of",
        "№ мероприятия;Период;Дата выполнения;Документ\n9;2022-Q2;05.09.2022;x\n",
        ["d.csv:2:3", "позже даты перехода на Точку"],
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), BAD_CYCLES, ids=[c[0] for c in BAD_CYCLES])
def test_bad_cycles_file_is_refused_with_line_and_column_nothing_changed(
    cli: Cli, engine: Engine, tmp_path: Path, case: str, text: str, expected: list[str]
) -> None:
    adopt_db(cli, tmp_path)
    before = state_of(engine)
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    result = cli("adopt", "--stages", str(write(tmp_path, "s.csv", STAGES)), "--cycles", str(path))
    assert result.exit_code != 0, result.output
    flat = " ".join(result.output.split())
    for part in expected:
        assert where(part, path) in flat, (case, result.output)
    assert state_of(engine) == before


def test_adopt_without_an_adoption_date_is_refused(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    ok(cli("--now", "2022-09-01T09:00", "init"))
    ok(cli("--now", "2021-01-11", "centers", "import", str(write(tmp_path, "c.csv", CENTERS))))
    before = state_of(engine)
    result = cli("adopt", "--stages", str(write(tmp_path, "s.csv", STAGES)))
    assert result.exit_code != 0
    assert "Дата перехода на Точку не записана" in result.output
    assert state_of(engine) == before


def test_centers_imported_after_the_adoption_date_take_their_stage_history(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """init --as-of, then the centers imported on a later day (their import is the only
    event they have), then adopt: a center entered by its import was planned before it
    was entered, so the stages it reached before the adoption date are recorded. Its
    history lists the creation first, then the stages in the order its states changed;
    the chain verifies; nothing before the adoption date is reminded."""
    ok(cli("--now", "2022-09-01T09:00", "init", "--as-of", "01.09.2022"))
    ok(cli("--now", "2022-09-05", "centers", "import", str(write(tmp_path, "c.csv", CENTERS))))
    report = json.loads(
        ok(cli("--json", "adopt", "--stages", str(write(tmp_path, "s.csv", STAGES)))).output
    )
    assert (report["centers"], report["stage_events"]) == (3, 14)
    history = json.loads(ok(cli("--json", "history", "center", "A1")).output)
    assert [(e["trigger"], e["to_state"], e["effective_date"]) for e in history] == [
        ("create", "planned", "2022-09-05"),
        ("agree_infrastructure", "infrastructure_agreed", "2021-03-15"),
        ("equip", "equipped", "2021-07-20"),
        ("train_staff", "staff_trained", "2021-08-10"),
        ("open", "opened", "2021-09-01"),
        ("start_reporting", "reporting", "2021-09-15"),
    ]
    assert all(
        e["comment"] == f"внесено при переходе на Точку: файл {tmp_path / 's.csv'}, строка 2"
        for e in history[1:]
    )
    ok(cli("audit", "verify"))
    ok(cli("--now", "2022-09-05", "tick"))
    assert all(send_on >= AS_OF for _, _, send_on in sent_rungs(engine))
    # The center's next act is dated from its last event (the import) on, as always.
    late = cli("--now", "2022-09-02", "centers", "fire", "A3", "start_reporting")
    assert late.exit_code != 0


def test_a_center_with_acts_after_its_import_is_refused_with_advice(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """The engine keeps histories in date order: a center with an act of its own
    recorded in Tochka (withdrawn and reverted on 02.09.2022) cannot have reached a
    stage before that act; the message says what to do, nothing changes."""
    ok(cli("--now", "2022-09-01T09:00", "init", "--as-of", "01.09.2022"))
    ok(cli("--now", "2022-09-01", "centers", "import", str(write(tmp_path, "c.csv", CENTERS))))
    for trigger in ("withdraw", "revert"):
        ok(cli("--now", "2022-09-02", "centers", "fire", "A1", trigger, "--comment", "ошибка"))
    before = state_of(engine)
    result = cli("adopt", "--stages", str(write(tmp_path, "s.csv", STAGES)))
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert where("s.csv:2:2", tmp_path / "s.csv") in flat
    assert "02.09.2022" in flat
    assert "tochka --now" in flat
    # Only A1: A2 and A3 have nothing but their import.
    assert "s.csv, строка 3" not in flat
    assert "s.csv, строка 4" not in flat
    assert state_of(engine) == before


def test_adopt_twice_changes_nothing_the_second_time(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    adopt_db(cli, tmp_path)
    stages = str(write(tmp_path, "s.csv", STAGES))
    done = str(write(tmp_path, "d.csv", done_cycles_csv()))
    ok(cli("adopt", "--stages", stages, "--cycles", done))
    before = state_of(engine)
    again = json.loads(ok(cli("--json", "adopt", "--stages", stages, "--cycles", done)).output)
    assert again["stage_events"] == 0
    assert again["cycles_done"] == 0
    assert again["unchanged"] > 3
    assert state_of(engine) == before


def test_stages_from_xlsx_with_date_cells(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    """An XLSX file as Excel saves it: real date cells, the stage titles as headers."""
    from datetime import datetime

    from openpyxl import Workbook

    adopt_db(cli, tmp_path)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Код", "Инфраструктурный лист согласован", "Оснащён", "Текущий этап"])
    sheet.append(["A1", datetime(2021, 3, 15), datetime(2021, 7, 20), "оснащён"])
    sheet.append(["A2", datetime(2021, 3, 16), None, None])
    path = tmp_path / "stages.xlsx"
    book.save(path)
    ok(cli("adopt", "--stages", str(path)))
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(CENTER.c.code, CENTER.c.state)).all())
    assert states == {"A1": "equipped", "A2": "infrastructure_agreed", "A3": "planned"}
    ok(cli("audit", "verify"))
