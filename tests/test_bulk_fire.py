"""`tochka centers fire --from FILE`: many center transitions from one table file.

Each row is its own transition with its own audit event and notice; the outcome of every
row is reported with its line; refused rows are named with line and column and the exit
code is 1. ``--all-or-nothing`` commits nothing when any row is refused. Rights are
checked per row, as for a single fire.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX
from tests.conftest import grant
from workflow.engine import centers, identity
from workflow.errors import ImportFileError, Problem
from workflow.imports.centers_file import CenterRow
from workflow.imports.fire_file import read_fire_file
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT, all_tables

Cli = Callable[..., Result]
NOW = "2021-03-01"
TOCHKA = str(Path(sys.executable).with_name("tochka"))
HEADER = "Код;Действие;Документы;Комментарий\n"


@pytest.fixture
def four(engine: Engine, stored: StoredRoadmap) -> StoredRoadmap:
    """IV-01, IV-02 in «Вичугский район», IV-03, IV-04 in «Шуйский район», planned."""
    rows = [
        CenterRow(
            code=f"IV-0{i}",
            name=f"МБОУ «Школа № {i}»",
            municipality="Вичугский район" if i <= 2 else "Шуйский район",
            cohort=2021,
            email=f"school{i}@example.org",
            line=i + 1,
        )
        for i in range(1, 5)
    ]
    at = datetime(2021, 1, 11, 9, 0, tzinfo=UTC)
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="importer", now=at)
    return stored


def write(tmp_path: Path, text: str, name: str = "rows.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def states(engine: Engine) -> dict[str, str]:
    with db.read(engine) as conn:
        return dict(conn.execute(sa.select(CENTER.c.code, CENTER.c.state)).all())  # type: ignore[arg-type]


def dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, the outbox's too, in a stable order."""
    with db.read(engine) as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t)).all()), key=repr)
            for t in all_tables()
        }


def problems(result: Result) -> list[tuple[int | None, int | None, str]]:
    """(line, column, message) of each problem of a --json refusal."""
    error = json.loads(result.stderr)["error"]
    return [(p["line"], p["column"], p["message"]) for p in error["problems"]]


def test_each_row_is_its_own_transition_reported_by_line(
    cli: Cli, engine: Engine, four: StoredRoadmap, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "IV-01;согласование инфраструктурного листа;department_order=№ 12 от 01.03.2021;\n"
        + "IV-02;agree_infrastructure;;письмо от 26.02\n"
        + 'IV-03;Согласование  инфраструктурного листа;"department_order=№ 12; '
        + 'operator_letter=№ 7";\n'
        + "IV-04;открытие центра;;\n",
    )
    before = dump(engine)["event"]
    result = cli("--now", NOW, "centers", "fire", "--from", str(path))
    assert result.exit_code == 1
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert lines[0] == f"Переходы из файла {path}: выполнено 3 из 4"
    assert lines[2] == "строка центр действие итог"
    first = len(before) + 1
    assert lines[4:] == [
        f"2 IV-01 согласование инфраструктурного листа выполнено: запланирован → "
        f"инфраструктурный лист согласован (событие № {first})",
        f"3 IV-02 согласование инфраструктурного листа выполнено: запланирован → "
        f"инфраструктурный лист согласован (событие № {first + 1})",
        f"4 IV-03 согласование инфраструктурного листа выполнено: запланирован → "
        f"инфраструктурный лист согласован (событие № {first + 2})",
        "5 IV-04 открытие центра отказ: Центр IV-04: переход «открытие центра (open)» "
        "недопустим в состоянии «запланирован».",
    ]
    said = " ".join(result.stderr.split())
    assert said.startswith("Ошибка: Не выполнены строки файла: найдено ошибок — 1.")
    assert f"{path}, строка 5, столбец 2: Центр IV-04: переход «открытие центра (open)»" in said
    assert states(engine) == {
        "IV-01": "infrastructure_agreed",
        "IV-02": "infrastructure_agreed",
        "IV-03": "infrastructure_agreed",
        "IV-04": "planned",
    }
    with db.read(engine) as conn:
        events = conn.execute(
            sa.select(
                EVENT.c.seq, EVENT.c.entity_key, EVENT.c.trigger, EVENT.c.evidence, EVENT.c.comment
            )
            .where(EVENT.c.seq >= first)
            .order_by(EVENT.c.seq)
        ).all()
        notices = conn.execute(sa.select(OUTBOX.c.key, OUTBOX.c.recipient)).all()
    # One event per row, its own documents and comment; no refusal event (a state's).
    assert [tuple(e) for e in events] == [
        (first, "IV-01", "agree_infrastructure", {"department_order": "№ 12 от 01.03.2021"}, None),
        (first + 1, "IV-02", "agree_infrastructure", None, "письмо от 26.02"),
        (
            first + 2,
            "IV-03",
            "agree_infrastructure",
            {"department_order": "№ 12", "operator_letter": "№ 7"},
            None,
        ),
    ]
    # One notice per transition, each to its school.
    code = four.definition.code
    assert sorted((k, r) for k, r in notices) == [
        (f"{code}:event:{first + i}", f"school{i + 1}@example.org") for i in range(3)
    ]
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert f"событий {first + 2}" in verified.stdout


def test_all_or_nothing_a_bad_last_row_changes_nothing(
    cli: Cli, engine: Engine, four: StoredRoadmap, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "IV-01;agree_infrastructure;;\n"
        + "IV-02;agree_infrastructure;;\n"
        + "IV-01;equip;;\n"  # after the first row: checked against the state it left
        + "IV-03;equip;;\n"
        + "IV-04;лететь;;\n",
    )
    before = dump(engine)
    result = cli("--json", "--now", NOW, "centers", "fire", "--from", str(path), "--all-or-nothing")
    assert result.exit_code == 1
    assert dump(engine) == before
    rows = json.loads(result.stdout)
    assert [(r["line"], r["outcome"]) for r in rows] == [
        (2, "checked"),
        (3, "checked"),
        (4, "checked"),
        (5, "refused"),
        (6, "invalid"),
    ]
    assert all(r.get("event") is None for r in rows)
    error = json.loads(result.stderr)["error"]
    assert error["message"] == "Ничего не изменено (--all-or-nothing): найдено ошибок — 2."
    assert [(line, column) for line, column, _ in problems(result)] == [(5, 2), (6, 2)]
    # Without the bad rows the same file goes through, in one transaction.
    path.write_text(HEADER + "IV-01;agree_infrastructure;;\nIV-01;equip;;\n", encoding="utf-8")
    done = cli("--now", NOW, "centers", "fire", "--from", str(path), "--all-or-nothing")
    assert done.exit_code == 0, done.output
    assert states(engine)["IV-01"] == "equipped"


def test_bad_rows_are_named_with_line_and_column(
    cli: Cli, engine: Engine, four: StoredRoadmap, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "code,trigger,evidence,comment\n"
        "IV-09,agree_infrastructure,,\n"
        "IV-01,лететь,,\n"
        "IV-02,open,,\n"
        "IV-03,agree_infrastructure,приказ № 5,\n"
        "IV-03,agree_infrastructure,order=№ 5,\n"
        ",agree_infrastructure,,\n"
        "IV-04,,,\n"
        "IV-04,withdraw,,\n"
        "IV-04,agree_infrastructure,,\n",
    )
    result = cli("--json", "--now", NOW, "centers", "fire", "--from", str(path))
    assert result.exit_code == 1
    kinds = ", ".join(k.id for k in four.definition.evidence_kinds)
    roadmap = four.definition.code
    assert problems(result) == [
        (
            2,
            1,
            f"Центр с кодом «IV-09» не найден в дорожной карте «{roadmap}». "
            "Список центров: tochka centers list.",
        ),
        (
            3,
            2,
            "неизвестное действие «лететь»; возможные: согласование инфраструктурного листа "
            "(agree_infrastructure), оснащение (equip), обучение персонала (train_staff), "
            "открытие центра (open), начало отчётности (start_reporting), исключение из "
            "дорожной карты (withdraw), отмена перехода (revert)",
        ),
        (
            4,
            2,
            "Центр IV-02: переход «открытие центра (open)» недопустим в состоянии "
            "«запланирован». Допустимые переходы из «запланирован»: согласование "
            "инфраструктурного листа (agree_infrastructure), исключение из дорожной карты "
            "(withdraw).",
        ),
        (5, 3, f"документ «приказ № 5»: укажите его как ВИД=ТЕКСТ; виды: {kinds}"),
        (6, 3, f"документ «order=№ 5»: неизвестный вид «order»; виды: {kinds}"),
        (7, 1, "код центра не заполнен"),
        (8, 2, "действие не заполнено"),
        (
            9,
            4,
            "Центр IV-04: переход «withdraw» отклонён: нужно указать причину "
            "(столбец «Комментарий»).",
        ),
    ]
    # The one good row, the last, went through.
    assert states(engine)["IV-04"] == "infrastructure_agreed"
    assert states(engine)["IV-03"] == "planned"


def test_a_file_that_is_not_a_transitions_table_is_refused_whole(
    cli: Cli, engine: Engine, four: StoredRoadmap, tmp_path: Path
) -> None:
    roadmap = four.definition
    wrong = write(tmp_path, "Код;Этап\nIV-01;equip\n")
    with pytest.raises(ImportFileError) as caught:
        read_fire_file(wrong, roadmap=roadmap)
    assert caught.value.problems == (
        Problem(
            file=str(wrong),
            line=1,
            column=2,
            field="Этап",
            message="неизвестный столбец «Этап»: ожидаются «Код», «Действие», «Документы», "
            "«Комментарий»",
        ),
        Problem(file=str(wrong), line=1, message="в заголовке нет столбцов: «Действие»"),
    )
    text = write(tmp_path, "Код;Действие\nIV-01;equip\n", name="rows.txt")
    with pytest.raises(ImportFileError) as caught:
        read_fire_file(text, roadmap=roadmap)
    assert [p.message for p in caught.value.problems] == [
        "неподдерживаемый формат файла «.txt»: нужен .csv или .xlsx"
    ]
    fake = write(tmp_path, "Код;Действие\nIV-01;equip\n", name="rows.xlsx")
    with pytest.raises(ImportFileError) as caught:
        read_fire_file(fake, roadmap=roadmap)
    assert [p.message for p in caught.value.problems] == [
        "файл не открывается как книга Excel (.xlsx): это не архив .xlsx (возможно, CSV, "
        "старый .xls или повреждённый файл)"
    ]
    before = dump(engine)
    for path in (wrong, text, fake):
        result = cli("--now", NOW, "centers", "fire", "--from", str(path))
        assert result.exit_code == 1
        assert "Импорт не выполнен, ничего не изменено" in result.stderr
        assert "Traceback" not in result.output
    assert dump(engine) == before


def test_an_xlsx_formula_cell_is_refused_at_its_cell(four: StoredRoadmap, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Код", "Действие", "Документы"])
    sheet.append(["IV-01", "оснащение", "department_order=№ 3"])
    sheet.append(["IV-02", '=CONCATENATE("eq","uip")', None])
    path = tmp_path / "rows.xlsx"
    workbook.save(path)
    first, second = read_fire_file(path, roadmap=four.definition)
    assert (first.code, first.trigger, first.evidence, first.problems) == (
        "IV-01",
        "equip",
        {"department_order": "№ 3"},
        (),
    )
    assert second.problems == (
        Problem(
            file=str(path),
            line=3,
            column=2,
            message="в ячейке формула: впишите значение (формулы не вычисляются при чтении файла)",
        ),
    )


def test_rights_are_checked_per_row(
    cli: Cli, engine: Engine, four: StoredRoadmap, tmp_path: Path
) -> None:
    grant(engine, four.id, ["vichuga"], "municipality", scope=["Вичугский район"])
    agreed = write(
        tmp_path, "code,trigger\n" + "".join(f"IV-0{i},agree_infrastructure\n" for i in range(1, 5))
    )
    assert cli("--now", NOW, "centers", "fire", "--from", str(agreed)).exit_code == 0
    path = write(tmp_path, "code,trigger\nIV-01,equip\nIV-03,equip\nIV-02,equip\n", "m.csv")
    result = cli("--json", "--now", NOW, "centers", "fire", "--from", str(path), actor="vichuga")
    assert result.exit_code == 1
    assert [(r["line"], r["outcome"]) for r in json.loads(result.stdout)] == [
        (2, "done"),
        (3, "refused"),
        (4, "done"),
    ]
    assert problems(result) == [
        (
            3,
            None,
            "Отказано: vichuga — переход «Центр IV-03: equip»: центр IV-03 относится к "
            "«Шуйский район», а область пользователя — «Вичугский район». Обратитесь к "
            "региональному координатору (tochka users list).",
        )
    ]
    assert states(engine) == {
        "IV-01": "equipped",
        "IV-02": "equipped",
        "IV-03": "infrastructure_agreed",
        "IV-04": "infrastructure_agreed",
    }
    with db.read(engine) as conn:
        refusals = conn.execute(
            sa.select(EVENT.c.actor, EVENT.c.entity_key).where(EVENT.c.entity_kind == "refusal")
        ).all()
    assert [tuple(r) for r in refusals] == [("vichuga", "Центр IV-03: equip")]
    # Under all-or-nothing the refused row leaves nothing, not even the refusal.
    before = dump(engine)
    again = write(tmp_path, "code,trigger\nIV-04,equip\n", "n.csv")
    refused = cli(
        "--now", NOW, "centers", "fire", "--from", str(again), "--all-or-nothing", actor="vichuga"
    )
    assert refused.exit_code == 1
    assert dump(engine) == before


def test_dry_run_and_usage(cli: Cli, engine: Engine, four: StoredRoadmap, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "IV-01;agree_infrastructure;;\nIV-01;equip;;\n")
    before = dump(engine)
    checked = cli("--now", NOW, "centers", "fire", "--from", str(path), "--dry-run")
    assert checked.exit_code == 0, checked.output
    assert "пройдёт: инфраструктурный лист согласован → оснащён" in checked.stdout
    assert dump(engine) == before
    both = cli("--now", NOW, "centers", "fire", "IV-01", "--from", str(path))
    assert both.exit_code == 2
    assert "С --from ФАЙЛ не указываются КОД" in both.stderr
    alone = cli("--now", NOW, "centers", "fire", "--all-or-nothing")
    assert alone.exit_code == 2
    assert dump(engine) == before


def test_the_command_as_a_process_on_an_xlsx_file(
    db_url: str, engine: Engine, four: StoredRoadmap, tmp_path: Path
) -> None:
    grant(engine, four.id, [identity.os_login()], "coordinator")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Код", "Действие", "Документы", "Комментарий"])
    for i in range(1, 5):
        sheet.append([f"IV-0{i}", "согласование инфраструктурного листа", None, None])
    path = tmp_path / "rows.xlsx"
    workbook.save(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env |= {"PYTHONWARNINGS": "ignore", "TOCHKA_ALLOW_PLACEHOLDER_ADDRESSES": "true"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TOCHKA, "--db", db_url, "--now", NOW, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    done = run("centers", "fire", "--from", str(path))
    assert done.returncode == 0, done.stderr
    assert f"Переходы из файла {path}: выполнено 4 из 4" in done.stdout
    assert set(states(engine).values()) == {"infrastructure_agreed"}
    verified = run("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    helped = run("centers", "fire", "-h")
    assert "--all-or-nothing" in helped.stdout
    assert "без --all-or-nothing строки без ошибок выполняются" in " ".join(helped.stdout.split())


@pytest.mark.parametrize("flags", [(), ("--all-or-nothing",)], ids=["per-row", "all-or-nothing"])
def test_all_or_nothing_writes_every_row_as_its_own_fire(
    cli: Cli, engine: Engine, four: StoredRoadmap, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    """The rows of one transaction are written together (one UPDATE per row, their events
    in one INSERT) yet each exactly as a single fire would, as the same rows fired one
    transaction each leave them: a center fired twice moves twice, a withdrawal remembers
    where it came from and its revert goes back there, each row its own event (numbered
    in the table) and version, a school's marks of the day in one letter, the chain
    intact."""
    path = write(
        tmp_path,
        HEADER
        + "IV-01;agree_infrastructure;department_order=№ 3;\n"
        + "IV-02;withdraw;;перенос на 2022 год\n"
        + "IV-01;equip;;оснащён по акту\n"
        + "IV-02;revert;;перенос отменён\n"
        + "IV-03;agree_infrastructure;;\n",
    )
    first = len(dump(engine)["event"]) + 1
    result = cli("--now", NOW, "centers", "fire", "--from", str(path), *flags)
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert lines[0] == f"Переходы из файла {path}: выполнено 5 из 5"
    assert [line.rsplit("(событие № ", 1)[1] for line in lines[4:]] == [
        f"{first + i})" for i in range(5)
    ]
    with db.read(engine) as conn:
        found = conn.execute(
            sa.select(CENTER.c.code, CENTER.c.state, CENTER.c.version, CENTER.c.previous_state)
        ).all()
        events = conn.execute(
            sa.select(
                EVENT.c.seq,
                EVENT.c.entity_key,
                EVENT.c.trigger,
                EVENT.c.from_state,
                EVENT.c.to_state,
                EVENT.c.evidence,
                EVENT.c.comment,
            )
            .where(EVENT.c.seq >= first)
            .order_by(EVENT.c.seq)
        ).all()
        notices = conn.execute(sa.select(OUTBOX.c.key, OUTBOX.c.recipient)).all()
    assert sorted(tuple(r) for r in found) == [
        ("IV-01", "equipped", 3, None),
        ("IV-02", "planned", 3, None),
        ("IV-03", "infrastructure_agreed", 2, None),
        ("IV-04", "planned", 1, None),
    ]
    assert [tuple(e) for e in events] == [
        (
            first,
            "IV-01",
            "agree_infrastructure",
            "planned",
            "infrastructure_agreed",
            {"department_order": "№ 3"},
            None,
        ),
        (first + 1, "IV-02", "withdraw", "planned", "withdrawn", None, "перенос на 2022 год"),
        (first + 2, "IV-01", "equip", "infrastructure_agreed", "equipped", None, "оснащён по акту"),
        (first + 3, "IV-02", "revert", "withdrawn", "planned", None, "перенос отменён"),
        (
            first + 4,
            "IV-03",
            "agree_infrastructure",
            "planned",
            "infrastructure_agreed",
            None,
            None,
        ),
    ]
    # A school's marks of one day go as one letter, keyed by the day's first event.
    code = four.definition.code
    assert sorted(tuple(n) for n in notices) == [
        (f"{code}:event:{first}", "school1@example.org"),
        (f"{code}:event:{first + 1}", "school2@example.org"),
        (f"{code}:event:{first + 4}", "school3@example.org"),
    ]
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert f"событий {first + 4}" in verified.stdout


def test_per_row_fires_hold_one_connection(engine: Engine, four: StoredRoadmap) -> None:
    """A transaction per row, on one connection held for the run (`db.holding`): one
    checkout from the pool for every row, each row still its own commit, a refused row
    rolled back alone."""
    from sqlalchemy import event

    from workflow.engine.access import Actor
    from workflow.engine.bulk import BulkMode, BulkRow, Outcome, fire_rows
    from workflow.engine.transitions import TransitionEngine

    grant(engine, four.id, ["coordinator"], "coordinator")
    taken: list[object] = []
    event.listen(engine.pool, "checkout", lambda dbapi, *_: taken.append(dbapi))
    committed = db.commits()
    rows = [
        BulkRow(line=2, code="IV-01", trigger="agree_infrastructure"),
        BulkRow(line=3, code="IV-09", trigger="agree_infrastructure"),
        BulkRow(line=4, code="IV-02", trigger="agree_infrastructure"),
    ]
    outcomes = fire_rows(
        TransitionEngine(engine, four.definition, four.id),
        rows,
        actor=Actor(login="coordinator"),
        now=datetime(2021, 3, 1, 9, 0, tzinfo=UTC),
        mode=BulkMode.EACH,
    )
    assert [o.outcome for o in outcomes] == [Outcome.DONE, Outcome.REFUSED, Outcome.DONE]
    assert len(taken) == 1
    assert db.commits() == committed + 2
    assert states(engine)["IV-01"] == states(engine)["IV-02"] == "infrastructure_agreed"


def test_a_line_the_csv_module_cannot_parse_is_named(four: StoredRoadmap, tmp_path: Path) -> None:
    """The file is parsed once (`csv_rows(counted=False)`): a line the csv module refuses
    (a cell past its field limit) is still refused with its line, in Russian."""
    path = write(tmp_path, HEADER + "IV-01;equip;;\nIV-02;" + "x" * 200_000 + ";;\n")
    with pytest.raises(ImportFileError) as caught:
        read_fire_file(path, roadmap=four.definition)
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (3, "строку CSV не удалось разобрать: field larger than field limit (131072)")
    ]


def test_all_or_nothing_records_one_moment_for_its_events(
    engine: Engine, four: StoredRoadmap
) -> None:
    """The rows of one transaction commit at one moment: their events record one reading
    of the clock (a clock that moves on at each reading is read once), the chain intact.
    A transaction per row reads it for each row, as a single fire does."""
    from itertools import count

    from workflow.engine import audit
    from workflow.engine.access import Actor
    from workflow.engine.bulk import BulkMode, BulkRow, Outcome, fire_rows
    from workflow.engine.transitions import TransitionEngine

    grant(engine, four.id, ["coordinator"], "coordinator")
    ticks = count()

    def clock() -> datetime:
        return datetime(2021, 3, 1, 10, 0, next(ticks), tzinfo=UTC)

    def fired(mode: BulkMode, codes: list[str]) -> list[datetime]:
        with db.read(engine) as conn:
            first = conn.execute(sa.select(sa.func.max(EVENT.c.seq))).scalar_one() + 1
        outcomes = fire_rows(
            TransitionEngine(engine, four.definition, four.id, clock=clock),
            [
                BulkRow(line=n + 2, code=c, trigger="agree_infrastructure")
                for n, c in enumerate(codes)
            ],
            actor=Actor(login="coordinator"),
            now=datetime(2021, 3, 1, 9, 0, tzinfo=UTC),
            mode=mode,
        )
        assert [o.outcome for o in outcomes] == [Outcome.DONE] * len(codes), outcomes[0].error
        with db.read(engine) as conn:
            return list(
                conn.execute(
                    sa.select(EVENT.c.recorded_at).where(EVENT.c.seq >= first).order_by(EVENT.c.seq)
                ).scalars()
            )

    together = fired(BulkMode.ALL_OR_NOTHING, ["IV-01", "IV-02"])
    assert len(together) == 2
    assert len(set(together)) == 1
    each = fired(BulkMode.EACH, ["IV-03", "IV-04"])
    assert len(set(each)) == 2
    assert min(each) > together[0]
    with db.read(engine) as conn:
        audit.verify(conn, four.id, four.definition.code)


def test_one_transaction_runs_without_the_cyclic_collector(
    engine: Engine, four: StoredRoadmap
) -> None:
    """The rows of one transaction keep their objects to the end and make no cycles: the
    collector is off while they fire (a pass would walk the whole process for nothing)
    and on again after, a refused file and a dry run too; a transaction per row leaves
    it as it is."""
    import gc

    from workflow.engine.access import Actor
    from workflow.engine.bulk import BulkMode, BulkRow, Outcome, fire_rows
    from workflow.engine.transitions import TransitionEngine

    grant(engine, four.id, ["coordinator"], "coordinator")
    seen: list[bool] = []

    def hook(*_: object) -> None:
        seen.append(gc.isenabled())

    fire = TransitionEngine(engine, four.definition, four.id, notice_hook=hook)

    def run(mode: BulkMode, codes: list[str], *, commit: bool = True) -> list[Outcome]:
        rows = [
            BulkRow(line=n + 2, code=code, trigger="agree_infrastructure")
            for n, code in enumerate(codes)
        ]
        now = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
        before = gc.isenabled()
        outcomes = fire_rows(
            fire, rows, actor=Actor(login="coordinator"), now=now, mode=mode, commit=commit
        )
        assert gc.isenabled() is before
        return [o.outcome for o in outcomes]

    assert run(BulkMode.ALL_OR_NOTHING, ["IV-01", "IV-02"], commit=False) == [Outcome.CHECKED] * 2
    assert seen == [False, False]  # the hooks run inside the batch, off
    assert run(BulkMode.ALL_OR_NOTHING, ["IV-01", "IV-09"]) == [Outcome.CHECKED, Outcome.REFUSED]
    assert run(BulkMode.ALL_OR_NOTHING, ["IV-01", "IV-02"]) == [Outcome.DONE] * 2
    assert seen == [False] * 4
    assert run(BulkMode.EACH, ["IV-03"]) == [Outcome.DONE]
    assert seen == [False] * 4 + [True]
    gc.disable()
    try:  # off before: left off
        assert run(BulkMode.ALL_OR_NOTHING, ["IV-04"], commit=False) == [Outcome.CHECKED]
    finally:
        gc.enable()


@pytest.mark.parametrize("mode", ["each", "all_or_nothing"])
def test_an_implausible_date_refuses_every_row_and_writes_nothing(
    engine: Engine, four: StoredRoadmap, mode: str
) -> None:
    """The effective date is every row's (found once for the file): taken for a typo, it
    refuses each row with its reason, in either mode, and nothing is written."""
    from workflow.engine.access import Actor
    from workflow.engine.bulk import BulkMode, BulkRow, Outcome, fire_rows
    from workflow.engine.transitions import TransitionEngine
    from workflow.errors import EffectiveDateImplausible

    grant(engine, four.id, ["coordinator"], "coordinator")
    before = dump(engine)
    rows = [
        BulkRow(line=2, code="IV-01", trigger="agree_infrastructure"),
        BulkRow(line=3, code="IV-02", trigger="agree_infrastructure"),
    ]
    outcomes = fire_rows(
        TransitionEngine(engine, four.definition, four.id),
        rows,
        actor=Actor(login="coordinator"),
        now=datetime(1999, 3, 1, 9, 0, tzinfo=UTC),
        mode=BulkMode(mode),
    )
    assert [(o.row.line, o.outcome) for o in outcomes] == [
        (2, Outcome.REFUSED),
        (3, Outcome.REFUSED),
    ]
    assert all(isinstance(o.error, EffectiveDateImplausible) for o in outcomes)
    assert "01.03.1999" in str(outcomes[0].error)
    assert dump(engine) == before
