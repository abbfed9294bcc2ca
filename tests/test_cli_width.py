"""What an operator reads, at 80 columns and piped, through the real ``tochka`` process.

A fixed data set (long names, long addresses, a long comment) is built in-process as the
login «ivanova»; the read-only commands then run as processes with ``COLUMNS=80``, once
in a terminal (a pty) and once piped, and are compared with the files in
``tests/golden/cli/``. Re-record them in the commit that means to change them:
``TOCHKA_GOLDEN_RECORD=1 pytest tests/test_cli_width.py``.

Beyond the golden files, each output is checked for what the golden files could record
wrongly: no terminal line over 80 characters; no word broken (every word of the terminal
form is a whole word of the piped form, «…» marking a cut after a whole word); every
code, e-mail address and date of the piped form intact in the terminal form (and, for the
commands that cut nothing, every word); ``--wide`` in a terminal is the piped form; piped
tables have one line per row.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from tests.test_golden import _run as run_tochka
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import EVENT

#: The module's data set is built once, on one xdist worker (`make test`: --dist loadgroup),
#: not once per worker.
pytestmark = pytest.mark.xdist_group("cli_width")

Cli = Callable[..., Result]

GOLDEN = Path(__file__).resolve().parent / "golden" / "cli"
RECORD = os.environ.get("TOCHKA_GOLDEN_RECORD") == "1"
TOCHKA = str(Path(sys.executable).with_name("tochka"))
WIDTH = 80
NOW = "2022-01-11T12:00"

CENTERS = "code,name,municipality,cohort,email\n" + "".join(
    f"{line}\n"
    for line in (
        "IV-001,МБОУ «Фурмановская СОШ № 1»,Фурмановский район,2021,school1@school.ivanovo.ru",
        "IV-002,Муниципальное бюджетное общеобразовательное учреждение «Панинская средняя "
        "общеобразовательная школа»,Фурмановский район,2021,"
        "panino.secondary.school@school.ivanovo.ru",
        "IV-003,МКОУ «Китовская СШ»,Шуйский муниципальный район Ивановской области,2021,"
        "school3@school.ivanovo.ru",
        "IV-004,МБОУ «Лежневская СШ № 10»,Лежневский район,2022,school4@school.ivanovo.ru",
        "IV-005,МКОУ Шилыковская СШ,Городской округ Вичуга,2022,school5@school.ivanovo.ru",
    )
)

MUNICIPALITIES = (
    "municipality,email,recipient\n"
    "Фурмановский район,roo@furmanov.ivanovo.ru,"
    "Отдел образования администрации Фурмановского муниципального района\n"
    "Шуйский муниципальный район Ивановской области,upravlenie.obrazovaniya@shuya.ivanovo.ru,"
    "Управление образования\n"
)

#: (effective date, command line), in order: the operators' year 2021.
SCRIPT: list[tuple[str, list[str]]] = [
    ("2021-01-11T09:00", ["centers", "import", "centers.csv"]),
    ("2021-01-11T09:05", ["municipalities", "import", "municipalities.csv"]),
    ("2021-01-11T09:10", ["tick"]),
    (
        "15.02.2021 10:00",
        [
            "cycles",
            "fire",
            "2",
            "complete",
            "--evidence",
            "department_order=приказ Департамента образования № 17 от 12.02.2021",
        ],
    ),
    (
        "2021-02-15T10:05",
        [
            "centers",
            "fire",
            "IV-001",
            "agree_infrastructure",
            "--evidence",
            "письмо федерального оператора № 12 от 10.02.2021 о согласовании инфраструктурного "
            "листа",
        ],
    ),
    ("2021-08-20T11:00", ["centers", "fire", "IV-001", "equip"]),
    ("2021-08-20T11:05", ["centers", "fire", "IV-001", "train_staff"]),
    ("2021-08-23T09:00", ["tick"]),
    (
        "2021-09-01T10:00",
        ["centers", "fire", "IV-001", "open", "--evidence", "сюжет ГТРК «Ивтелерадио»"],
    ),
    (
        "2021-09-01T10:05",
        [
            "centers",
            "fire",
            "IV-003",
            "withdraw",
            "--comment",
            "школа реорганизована путём присоединения к МБОУ «Шуйская СОШ № 2» по решению "
            "администрации муниципального района",
        ],
    ),
    ("2021-10-01T10:00", ["centers", "fire", "IV-001", "start_reporting"]),
    ("2021-10-04T09:00", ["tick"]),
]

#: The golden outputs: name → command line (after the global options).
COMMANDS: dict[str, list[str]] = {
    "status": ["status"],
    "centers-list": ["centers", "list"],
    "cycles-list": ["cycles", "list"],
    "history-center": ["history", "center", "IV-001"],
    "history-withdrawn": ["history", "center", "IV-003"],
    "roadmap-show": ["roadmap", "show"],
    "municipalities-list": ["municipalities", "list"],
}
#: Commands that cut nothing (they wrap): every word of the piped form is in the terminal's.
UNCUT = {"history-center", "history-withdrawn", "roadmap-show", "municipalities-list"}
#: What a user must type or read whole, wherever it is.
WHOLE = re.compile(r"^(?:IV-\d{3}|[\w.+-]+@[\w.-]+|\d{2}\.\d{2}\.\d{4}|[a-z_]+)[,;.:)]*$", re.ASCII)
_PUNCTUATION = ",;:."


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """The data set, built in-process as «ivanova»: the database URL and the environment."""
    from workflow.cli.app import app

    work = tmp_path_factory.mktemp("cli-width")
    (work / "centers.csv").write_text(CENTERS, encoding="utf-8")
    (work / "municipalities.csv").write_text(MUNICIPALITIES, encoding="utf-8")
    db = f"sqlite:///{work / 'var' / 'tochka.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOCHKA_")} | {
        "TOCHKA_VAR_DIR": str(work / "var"),
        "TOCHKA_MAIL_DIR": str(work / "var" / "mail"),
        "COLUMNS": str(WIDTH),
    }
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("TOCHKA_")]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        # The recorded actor is the same on every machine.
        patch.setattr("workflow.engine.identity.os_login", lambda: "ivanova")
        # Files named relative to the data set's folder: the history names them so.
        patch.chdir(work)
        for now, args in [("2021-01-11T08:00", ["init"]), *SCRIPT]:
            result = runner.invoke(app, ["--db", db, "--now", now, *args], catch_exceptions=False)
            assert result.exit_code == 0, (args, result.output)
    return db, env


def _piped(database: tuple[str, dict[str, str]], args: list[str]) -> str:
    db, env = database
    return run_tochka(db, NOW, args, env)


def _terminal(database: tuple[str, dict[str, str]], args: list[str]) -> str:
    """The command's output in a real terminal (a pty), ``COLUMNS=80``."""
    db, env = database
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [TOCHKA, "--db", db, "--now", NOW, *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(parent)
    assert process.wait(timeout=120) == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture(scope="module")
def outputs(database: tuple[str, dict[str, str]]) -> dict[str, str]:
    """Each command's terminal, piped and terminal ``--wide`` forms."""
    out = {}
    for name, args in COMMANDS.items():
        out[f"{name}.tty.txt"] = _terminal(database, args)
        out[f"{name}.pipe.txt"] = _piped(database, args)
        out[f"{name}.wide"] = _terminal(database, ["--wide", *args])
    return out


def _words(text: str) -> list[str]:
    return [w for w in text.split() if not set(w) <= {"─"}]


@pytest.mark.parametrize("name", [f"{n}.{form}.txt" for n in COMMANDS for form in ("tty", "pipe")])
def test_output_is_unchanged(outputs: dict[str, str], name: str) -> None:
    target = GOLDEN / name
    if RECORD:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        target.write_text(outputs[name], encoding="utf-8")
    assert outputs[name] == target.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_terminal_form_fits_80_columns(outputs: dict[str, str], name: str) -> None:
    terminal = outputs[f"{name}.tty.txt"]
    too_long = [line for line in terminal.splitlines() if len(line) > WIDTH]
    assert too_long == []
    # The data set is wide enough that fitting it took something.
    assert max(len(line) for line in outputs[f"{name}.pipe.txt"].splitlines()) > WIDTH


@pytest.mark.parametrize("name", list(COMMANDS))
def test_no_word_is_broken(outputs: dict[str, str], name: str) -> None:
    terminal, piped = outputs[f"{name}.tty.txt"], outputs[f"{name}.pipe.txt"]
    whole = {w.rstrip(_PUNCTUATION) for w in _words(piped)}
    broken = [
        word
        for word in _words(terminal)
        if word != "…" and word.removesuffix("…").rstrip(_PUNCTUATION) not in whole
    ]
    assert broken == []
    shown = set(_words(terminal))
    must = [w for w in _words(piped) if name in UNCUT or WHOLE.match(w)]
    assert [w for w in must if w not in shown] == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_wide_in_a_terminal_is_the_piped_form(outputs: dict[str, str], name: str) -> None:
    assert outputs[f"{name}.wide"] == outputs[f"{name}.pipe.txt"]


def test_piped_tables_have_one_line_per_row(outputs: dict[str, str]) -> None:
    piped = outputs["centers-list.pipe.txt"].splitlines()
    assert piped[0] == "Центры: 5"
    assert [line.split()[0] for line in piped[4:]] == [f"IV-00{i}" for i in range(1, 6)]
    assert len(piped) == 4 + 5
    wrapped = outputs["centers-list.tty.txt"]
    assert "IV-002  Муниципальное…  " in wrapped  # cut on a word, in full in centers show
    assert "Муниципальное бюджетное общеобразовательное учреждение «Панинская" in "".join(piped)


def test_what_people_read_is_russian(outputs: dict[str, str]) -> None:
    listing = outputs["centers-list.pipe.txt"]
    assert "отчитывается" in listing
    assert "исключён" in listing
    for form in ("tty", "pipe"):
        for name in ("centers-list", "cycles-list", "history-center", "status"):
            text = outputs[f"{name}.{form}.txt"]
            found = re.findall(r"\b(planned|opened|reporting|withdrawn|scheduled|overdue)\b", text)
            assert found == [], name
    assert "инфраструктурный лист согласован → оснащён" in outputs["history-center.pipe.txt"]
    assert "01.09.2021" in outputs["history-center.tty.txt"]  # the date is never cut


# --- The options and messages, in-process on every backend -------------------------------

HEADER = "Код;Наименование;Муниципальное образование;Год создания;Email\n"


def _import(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "centers.csv"
    path.write_text(
        HEADER
        + "SH-01;МБОУ «Лежневская СШ»;Лежневский район;2021;lezh@example.org\n"
        + "SH-02;МКОУ «Пестяковская СШ»;Пестяковский район;2022;pest@example.org\n",
        encoding="utf-8",
    )
    result = cli("--now", "2021-03-01", "centers", "import", str(path))
    assert result.exit_code == 0, result.output


def _events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar_one())


def test_now_accepts_a_russian_date(cli: Cli, stored: StoredRoadmap, tmp_path: Path) -> None:
    _import(cli, tmp_path)
    fired = cli("--now", "01.09.2021", "centers", "fire", "SH-01", "agree_infrastructure")
    assert fired.exit_code == 0, fired.output
    timed = cli("--now", "02.09.2021 10:30", "centers", "fire", "SH-01", "equip")
    assert timed.exit_code == 0, timed.output
    history = json.loads(cli("--json", "history", "center", "SH-01").output)
    assert [h["effective_date"] for h in history[1:]] == ["2021-09-01", "2021-09-02"]
    wrong = cli("--now", "31.02.2021", "centers", "list")
    assert wrong.exit_code == 1
    assert "--now: «31.02.2021» — не дата" in wrong.output


def test_state_filter_takes_russian_names_and_refuses_unknown_ones(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    _import(cli, tmp_path)
    assert (
        cli("--now", "2021-03-02", "centers", "fire", "SH-01", "agree_infrastructure").exit_code
        == 0
    )
    for name in ("запланирован", "Запланирован", "planned", "PLANNED"):
        listed = cli("--json", "centers", "list", "--state", name)
        assert listed.exit_code == 0, (name, listed.output)
        assert [c["code"] for c in json.loads(listed.output)] == ["SH-02"], name
    # «е» for «ё», and a name of several words.
    agreed = cli("--json", "centers", "list", "--state", "Инфраструктурный лист согласован")
    assert [c["code"] for c in json.loads(agreed.output)] == ["SH-01"]
    assert cli("--json", "centers", "list", "--state", "исключен").output.strip() == "[]"
    refused = cli("centers", "list", "--state", "xyz")
    assert refused.exit_code == 1
    text = " ".join(refused.output.split())
    assert "Неизвестное состояние «xyz»." in text
    assert "Состояния центра: запланирован (planned), инфраструктурный лист согласован " in text
    assert "исключён (withdrawn)." in text
    cycles = cli("--json", "cycles", "list", "--state", "открыт")
    assert cycles.exit_code == 1  # a center's state, not a cycle's
    assert "Состояния цикла: запланирован (scheduled), выполняется (in_progress)" in " ".join(
        cycles.output.split()
    )
    assert cli("--json", "cycles", "list", "--state", "Просрочен").exit_code == 0


def test_an_unknown_municipality_or_cohort_is_refused_with_the_known_ones(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    _import(cli, tmp_path)
    nowhere = cli("centers", "list", "--municipality", "Атлантида")
    assert nowhere.exit_code == 1
    assert " ".join(nowhere.output.split()) == (
        "Ошибка: --municipality: «Атлантида» — неизвестное значение. "
        "Муниципалитеты центров: Лежневский район, Пестяковский район."
    )
    never = cli("centers", "list", "--cohort", "2031")
    assert never.exit_code == 1
    assert "Годы создания центров: 2021, 2022." in never.output
    # A known value in another case is the known value.
    found = json.loads(
        cli("--json", "centers", "list", "--municipality", "лежневский РАЙОН").output
    )
    assert [c["code"] for c in found] == ["SH-01"]
    assert [
        c["code"] for c in json.loads(cli("--json", "centers", "list", "--cohort", "2022").output)
    ] == ["SH-02"]


def test_an_unknown_trigger_is_named_as_such(
    cli: Cli, stored: StoredRoadmap, engine: Engine, tmp_path: Path
) -> None:
    _import(cli, tmp_path)
    before = _events(engine)
    unknown = cli("--now", "2021-03-02", "centers", "fire", "SH-01", "xyz")
    assert unknown.exit_code == 1
    # The actions in Russian, each with the id the operator types, as the help has them.
    named = (
        "согласование инфраструктурного листа (agree_infrastructure), оснащение (equip), "
        "обучение персонала (train_staff), открытие центра (open), начало отчётности "
        "(start_reporting), исключение из дорожной карты (withdraw)"
    )
    assert " ".join(unknown.output.split()) == (
        f"Ошибка: Центр SH-01: неизвестное действие «xyz»; возможные: {named}, "
        "отмена перехода (revert)."
    )
    helped = cli("centers", "fire", "-h")
    assert f"{named} или отмена перехода (revert)." in " ".join(helped.output.split())
    # Not the same refusal as a trigger that exists but not from this state.
    not_now = cli("--now", "2021-03-02", "centers", "fire", "SH-01", "open")
    assert not_now.exit_code == 1
    assert " ".join(not_now.output.split()) == (
        "Ошибка: Центр SH-01: переход «открытие центра (open)» недопустим в состоянии "
        "«запланирован». Допустимые переходы из «запланирован»: согласование "
        "инфраструктурного листа (agree_infrastructure), исключение из дорожной карты "
        "(withdraw)."
    )
    assert "неизвестное действие" not in not_now.output
    opened = json.loads(cli("--json", "cycles", "open", "3", "--due", "15.02.2021").output)
    cycle = cli("--now", "2021-03-02", "cycles", "fire", str(opened["id"]), "finish")
    assert cycle.exit_code == 1
    assert (
        f"Цикл {opened['id']} (мероприятие 3, от 15.02.2021): неизвестное действие «finish»; "
        "возможные: начало выполнения (start), выполнение (complete), просрочка "
        "(mark_overdue), отмена (cancel)."
    ) in " ".join(cycle.output.split())
    helped = cli("cycles", "fire", "-h")
    assert (
        "начало выполнения (start), выполнение (complete), просрочка (mark_overdue) или "
        "отмена (cancel)."
    ) in " ".join(helped.output.split())
    assert _events(engine) == before + 1  # the cycle opened, nothing else


def test_an_error_under_json_is_a_json_object_on_stderr(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    refused = cli("--json", "centers", "fire", "NOPE", "equip")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    error = json.loads(refused.stderr)["error"]
    assert error == {
        "message": error["message"],
        "hint": "Список центров: tochka centers list.",
        "exit_code": 1,
        "problems": [],
    }
    assert "Центр с кодом «NOPE» не найден" in error["message"]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "A1;Школа;Район;2031;a@example.org\n", encoding="utf-8")
    file_error = json.loads(cli("--json", "centers", "import", str(bad)).stderr)["error"]
    assert file_error["message"] == "Импорт не выполнен, ничего не изменено: найдено ошибок — 1."
    [problem] = file_error["problems"]
    assert (problem["file"], problem["line"], problem["column"]) == (str(bad), 2, 4)
    assert problem["field"]
    assert problem["message"]
    assert set(problem) == {"file", "line", "column", "field", "message"}
    bad_now = cli("--json", "--now", "вчера", "centers", "list")
    assert bad_now.exit_code == 1
    assert json.loads(bad_now.stderr)["error"]["message"].startswith("--now: «вчера» — не дата")


def test_a_usage_error_under_json_is_a_json_object(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workflow.cli.app import main

    monkeypatch.setattr("sys.argv", ["tochka", "--json", "centers", "fire"])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error == {
        "message": "не указан аргумент «КОД».",
        "hint": "Справка: tochka centers fire -h",
        "exit_code": 2,
        "problems": [],
    }


def test_a_cycle_is_named_by_its_id_measure_and_period(
    cli: Cli, stored: StoredRoadmap, engine: Engine
) -> None:
    opened = cli("--now", "2021-02-01", "cycles", "open", "3", "--due", "15.02.2021")
    assert opened.exit_code == 0, opened.output
    [cycle] = json.loads(cli("--json", "cycles", "list", "--measure", "3").output)
    cid = cycle["id"]
    # The period as people read it («от 15.02.2021», «II квартал 2023 г.»), never its
    # label «2021-02-15» (that is --json's).
    label = f"Цикл {cid} (мероприятие 3, от 15.02.2021)"
    assert opened.output == f"Открыт: {label}, срок 15.02.2021.\n"
    listed = cli("--wide", "cycles", "list", "--measure", "3")
    assert listed.exit_code == 0, listed.output
    assert re.split(r"\s{2,}", listed.output.splitlines()[-1].strip())[3] == "от 15.02.2021"
    assert "2021-02-15" not in listed.output
    started = cli("--json", "--now", "2021-02-02", "cycles", "fire", str(cid), "start")
    assert started.exit_code == 0, started.output
    answer = json.loads(started.output)
    assert (answer["id"], answer["measure"], answer["period"], answer["key"]) == (
        cid,
        3,
        "2021-02-15",
        "3/2021-02-15",
    )
    assert (answer["from_state"], answer["state"]) == ("scheduled", "in_progress")
    cancelled = cli(
        "--now", "2021-02-03", "cycles", "fire", str(cid), "cancel", "--comment", "не нужен"
    )
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.output.startswith(f"{label}: выполняется → отменён (версия 3, событие № ")
    again = cli("--now", "2021-02-04", "cycles", "fire", str(cid), "start")
    assert again.exit_code == 1
    assert (
        f"{label}: переход «начало выполнения (start)» недопустим в состоянии «отменён»."
    ) in again.output
    history = cli("history", "cycle", str(cid))
    assert history.output.startswith(f"История: {label}: событий 3\n")


def test_rungs_and_letter_statuses_are_russian(cli: Cli, stored: StoredRoadmap) -> None:
    preview = cli("--now", "2021-02-20", "reminders", "preview", "--until", "09.03.2021")
    assert preview.exit_code == 0, preview.output
    rungs = {
        i["rung"]
        for i in json.loads(
            cli(
                "--json", "--now", "2021-02-20", "reminders", "preview", "--until", "09.03.2021"
            ).output
        )
    }
    assert {"before-14", "on_day", "overdue-7"} <= rungs
    for words in ("за 14 дн. до срока", "в день срока", "7 дн. после срока"):
        assert words in preview.output
    assert [r for r in rungs if r in preview.output] == []
    assert cli("--now", "2021-03-05", "tick").exit_code == 0
    letters = cli("outbox", "list")
    assert "ожидает отправки" in letters.output
    assert "pending" not in letters.output
    pending = cli("--json", "outbox", "list", "--status", "Ожидает отправки")
    assert {e["status"] for e in json.loads(pending.output)} == {"pending"}
    status = cli("daemon", "status")
    assert "Письма в очереди: ожидает отправки: " in status.output


def test_a_name_without_spaces_still_fits(tmp_path: Path) -> None:
    """A school and a municipality written without a single space (60 and 40 letters)
    cannot push ``centers list`` past the terminal: the title is cut inside its word,
    the municipality wrapped inside it, and the code and the e-mail address stay whole."""
    from workflow.cli.app import app

    name, municipality = "Ш" * 60, "М" * 40
    (tmp_path / "c.csv").write_text(
        "code,name,municipality,cohort,email\n"
        f"IV-900,{name},{municipality},2021,a.very.long.address.of.a.school@school.ivanovo.ru\n",
        encoding="utf-8",
    )
    db = f"sqlite:///{tmp_path / 'var' / 'tochka.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TOCHKA_")} | {
        "TOCHKA_VAR_DIR": str(tmp_path / "var"),
        "TOCHKA_MAIL_DIR": str(tmp_path / "var" / "mail"),
        "COLUMNS": str(WIDTH),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("TOCHKA_")]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        patch.chdir(tmp_path)
        runner = CliRunner()
        for args in (["init"], ["centers", "import", "c.csv"]):
            result = runner.invoke(app, ["--db", db, "--now", NOW, *args])
            assert result.exit_code == 0, result.output
    terminal = _terminal((db, env), ["centers", "list"])
    lines = terminal.splitlines()
    assert [line for line in lines if len(line) > WIDTH] == [], terminal
    row = " ".join(lines)
    assert "IV-900" in row
    assert "Ш" * 10 in row
    assert "Ш" * 60 not in row
    assert "…" in row
    assert "М" * 40 not in row
    assert row.count("М") >= 40  # wrapped, every letter shown
    assert _piped((db, env), ["centers", "list"]).count(name) == 1  # piped: whole
