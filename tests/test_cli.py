"""The real CLI, in-process: exit codes, Russian output, JSON shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import bypass_append_only
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import EVENT

Cli = Callable[..., Result]
HEADER = "Код;Наименование;Муниципальное образование;Год создания;Email\n"


def _csv(tmp_path: Path, body: str, name: str = "centers.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes((HEADER + body).encode(encoding))
    return path


def _event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar_one())


def test_import_list_show_fire_history(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "SH-01;МБОУ «Лежневская СШ»;Лежневский район;2021;lezh@example.org\n"
        "SH-02;МКОУ «Пестяковская СШ»;Пестяковский район;2022;pest@example.org\n",
    )
    # Imported as of a day before the transition below: an act may not precede the
    # center's creation in its history (issue 10).
    result = cli("--now", "2021-03-01", "centers", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "Импортировано центров: 2" in result.output

    listed = cli("--json", "centers", "list", "--cohort", "2021")
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert [(r["code"], r["state"], r["municipality"], r["version"]) for r in rows] == [
        ("SH-01", "planned", "Лежневский район", 1)
    ]

    fired = cli(
        "--now",
        "2021-03-02",
        "centers",
        "fire",
        "SH-01",
        "agree_infrastructure",
        "--evidence",
        "письмо ФО № 7",
        actor="petrov",
    )
    assert fired.exit_code == 0, fired.output
    assert "Центр SH-01: запланирован → инфраструктурный лист согласован (версия 2" in fired.output

    shown = json.loads(cli("--json", "centers", "show", "SH-01").output)
    assert shown["state"] == "infrastructure_agreed"
    assert shown["allowed_triggers"] == ["equip", "withdraw", "revert"]

    history = json.loads(cli("--json", "history", "center", "SH-01").output)
    assert [(h["trigger"], h["to_state"], h["actor"], h["effective_date"]) for h in history] == [
        ("create", "planned", "operator", "2021-03-01"),
        ("agree_infrastructure", "infrastructure_agreed", "petrov", "2021-03-02"),
    ]
    assert history[1]["evidence"] == {"document": "письмо ФО № 7"}

    verified = cli("audit", "verify")
    assert verified.exit_code == 0
    assert "в порядке: событий 3" in verified.output


def test_wrong_trigger_names_state_and_allowed_triggers(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    cli("centers", "import", str(_csv(tmp_path, "A1;Школа;Район;2021;a@example.org\n")))
    before = _event_count(engine)
    result = cli("centers", "fire", "A1", "open")
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "переход «открытие центра (open)» недопустим в состоянии «запланирован»" in said
    assert (
        "Допустимые переходы из «запланирован»: согласование инфраструктурного листа "
        "(agree_infrastructure), исключение из дорожной карты (withdraw)."
    ) in said
    missing_reason = cli("centers", "fire", "A1", "withdraw")
    assert missing_reason.exit_code == 1
    assert "нужно указать причину" in missing_reason.output
    unknown = cli("centers", "fire", "NOPE", "equip")
    assert unknown.exit_code == 1
    assert "Центр с кодом «NOPE» не найден" in unknown.output
    assert _event_count(engine) == before


def test_import_is_all_or_nothing_and_names_line_and_column(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "A1;Школа 1;Район;2021;a@example.org\n"
        "A2;Школа 2;Район;2031;b@example.org\n"
        "A1;Школа 3;Район;2022;not-an-email\n",
    )
    result = cli("centers", "import", str(path))
    assert result.exit_code == 1
    assert "Импорт не выполнен, ничего не изменено" in result.output
    assert "строка 3, столбец 4" in result.output
    assert "строка 4" in result.output
    assert _event_count(engine) == 0
    assert json.loads(cli("--json", "centers", "list").output) == []


def test_importing_an_existing_code_is_refused(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    path = _csv(tmp_path, "A1;Школа;Район;2021;a@example.org\n")
    assert cli("centers", "import", str(path)).exit_code == 0
    again = cli("centers", "import", str(path))
    assert again.exit_code == 1
    assert "строка 2, столбец 1" in again.output
    assert "уже есть в базе" in again.output


def test_cp1251_csv_from_excel_imports(cli: Cli, stored: StoredRoadmap, tmp_path: Path) -> None:
    path = _csv(tmp_path, "B7;МБОУ «Школа»;Шуйский район;2023;b7@example.org\n", encoding="cp1251")
    assert cli("centers", "import", str(path)).exit_code == 0
    assert json.loads(cli("--json", "centers", "list").output)[0]["municipality"] == "Шуйский район"


def test_cycles_open_fire_and_evidence_kinds(
    cli: Cli, stored: StoredRoadmap, engine: Engine
) -> None:
    opened = cli("--json", "cycles", "open", "3", "--due", "15.02.2021")
    assert opened.exit_code == 0, opened.output
    cycle = json.loads(opened.output)
    assert (cycle["measure"], cycle["period"], cycle["due_date"], cycle["state"]) == (
        3,
        "2021-02-15",
        "2021-02-15",
        "scheduled",
    )
    cid = str(cycle["id"])
    assert cli("cycles", "fire", cid, "start").exit_code == 0
    kinds = stored.definition.measure(3).evidence
    bare = cli("cycles", "fire", cid, "complete", "--evidence", "что-то")
    assert bare.exit_code == 1
    assert "укажите вид: ВИД=ТЕКСТ" in bare.output
    partial = cli("cycles", "fire", cid, "complete", "--evidence", f"{kinds[0]}=письмо № 1")
    assert partial.exit_code == 1
    assert "не хватает подтверждающего документа" in partial.output
    complete = cli(
        "--json",
        "cycles",
        "fire",
        cid,
        "complete",
        "--evidence",
        f"{kinds[0]}=письмо № 1",
        "--evidence",
        f"{kinds[1]}=приказ № 2",
    )
    assert complete.exit_code == 0, complete.output
    assert json.loads(complete.output)["state"] == "done"
    listed = json.loads(cli("--json", "cycles", "list", "--measure", "3").output)
    assert [(c["id"], c["state"], c["version"]) for c in listed] == [(int(cid), "done", 3)]
    before = (_event_count(engine), cli("--json", "cycles", "list").output)
    refused = cli("cycles", "open", "5", "--due", "2021-03-01")
    assert refused.exit_code == 1
    assert "Мероприятие № 5 повторяется по расписанию" in refused.output
    assert "его циклы создаёт планировщик, а не оператор" in refused.output
    assert (_event_count(engine), cli("--json", "cycles", "list").output) == before
    bad_date = cli("cycles", "open", "3", "--due", "2021-02-30")
    assert bad_date.exit_code == 1
    assert "не дата" in bad_date.output


def test_bad_now_and_bad_state_filter(cli: Cli, stored: StoredRoadmap) -> None:
    result = cli("--now", "вчера", "centers", "fire", "X", "equip")
    assert result.exit_code == 1
    assert "--now: «вчера» — не дата" in result.output
    # Refused even where the command would not have read it.
    listing = cli("--now", "2022-13-01", "centers", "list")
    assert listing.exit_code == 1
    assert "--now: «2022-13-01» — не дата" in listing.output
    bad_state = cli("centers", "list", "--state", "flying")
    assert bad_state.exit_code == 1
    assert "Состояния центра: запланирован (planned)" in bad_state.output


def test_usage_error_exits_2(
    cli: Cli,
    stored: StoredRoadmap,
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workflow.cli.app import app
    from workflow.cli.usage import run

    cli("centers", "import", str(_csv(tmp_path, "A1;Школа;Район;2021;a@example.org\n")))
    before = (_event_count(engine), cli("--json", "centers", "list").output)
    capsys.readouterr()
    # The console script's own path (usage errors in Russian), in-process.
    monkeypatch.setattr("sys.argv", ["tochka", "--db", db_url, "centers", "fire", "A1"])
    assert run(app) == 2
    err = capsys.readouterr().err
    assert "Использование: tochka centers fire" in err
    assert "Ошибка: не указан аргумент «ПЕРЕХОД»." in err
    assert "Traceback" not in err
    assert (_event_count(engine), cli("--json", "centers", "list").output) == before


def test_diagram_and_roadmap_show(cli: Cli, stored: StoredRoadmap) -> None:
    diagram = cli("roadmap", "diagram", "center")
    assert diagram.exit_code == 0
    assert diagram.output.startswith("stateDiagram-v2\n")
    shown = json.loads(cli("--json", "roadmap", "show").output)
    assert [m["recurrence"] for m in shown["measures"]] == [
        "once",
        "once",
        "by_schedule",
        "once_then_as_needed",
        "annual",
        "annual",
        "annual",
        "annual",
        "quarterly",
    ]
    assert shown["period"] == {"start": "2021-01-01", "end": "2023-12-31"}


def test_centers_list_as_text(cli: Cli, stored: StoredRoadmap, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "SH-01;МБОУ «Лежневская СШ»;Лежневский район;2021;lezh@example.org\n"
        "SH-2;Школа;Тейковский район;2022;t@example.org\n",
    )
    assert cli("centers", "import", str(path)).exit_code == 0
    listed = cli("centers", "list")
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        "Центры: 2",
        "",
        "код    наименование          муниципалитет     год   состояние     версия",
        "─────  ────────────────────  ────────────────  ────  ────────────  ──────",
        "SH-01  МБОУ «Лежневская СШ»  Лежневский район  2021  запланирован  1",
        "SH-2   Школа                 Тейковский район  2022  запланирован  1",
    ]


def test_audit_verify_names_the_first_tampered_event_and_exits_1(
    cli: Cli, engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    assert cli("audit", "verify").exit_code == 0
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("UPDATE event SET actor = 'someone-else' WHERE seq = 2")
    result = cli("audit", "verify")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "Журнал аудита дорожной карты «ivanovo-2021-2023» нарушен: событие № 2" in text


def test_an_unknown_measure_is_refused(cli: Cli, stored: StoredRoadmap) -> None:
    bad_measure = cli("cycles", "list", "--measure", "42")
    assert bad_measure.exit_code == 1
    assert "мероприятия № 42 нет в дорожной карте" in bad_measure.output
