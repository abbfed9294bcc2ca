"""``tochka audit log``: the audit trail itself, filtered by actor, dates and kind."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy.engine import Engine
from typer.testing import Result

from tests.conftest import T0, grant, make_rows
from workflow.engine import centers
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]
IN, OUT = "Шуйский район", "Кинешемский район"


@pytest.fixture
def trail(cli: Cli, engine: Engine, stored: StoredRoadmap) -> None:
    """Events of every kind the log names, on three effective dates."""
    base = make_rows(2)
    rows = [
        replace(base[0], code="A", municipality=IN),
        replace(base[1], code="B", municipality=OUT),
    ]
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="operator", now=T0)
    grant(engine, stored.id, ["mun"], "municipality", [IN])
    steps = [
        # 11.01.2021: the import above (events 1, 2); then:
        ("2021-03-01", "operator", ["users", "add", "viewer1", "--role", "viewer"]),  # 3
        ("2021-03-01", "operator", ["cycles", "open", "3", "--due", "15.04.2021"]),  # 4
        ("2021-04-12", "petrov", ["centers", "fire", "A", "agree_infrastructure"]),  # 5
        ("2021-04-12", "mun", ["centers", "fire", "B", "equip"]),  # 6: refused
        ("2021-05-20", "mun", ["centers", "update", "A", "--name", "Школа № 1"]),  # 7
        ("2021-05-20", "mun", ["centers", "update", "B", "--name", "Чужая"]),  # 8: refused
    ]
    for now, login, args in steps:
        result = cli("--now", now, *args, actor=login)
        assert result.exit_code == (1 if args[-1] in ("equip", "Чужая") else 0), result.output


def _log(cli: Cli, *args: str) -> dict[str, object]:
    result = cli("--json", "audit", "log", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict)
    return data


def _seqs(data: dict[str, object]) -> list[int]:
    events = data["events"]
    assert isinstance(events, list)
    return [e["seq"] for e in events]


ROWS = [
    ["1", "11.01.2021", "импорт", "центр A", "create: запланирован", "operator"],
    ["2", "11.01.2021", "импорт", "центр B", "create: запланирован", "operator"],
    ["3", "01.03.2021", "пользователь", "пользователь viewer1", "add: наблюдатель", "operator"],
    ["4", "01.03.2021", "новый цикл", "цикл 1 (3/2021-04-15)", "create: запланирован",
     "operator"],
    ["5", "12.04.2021", "переход", "центр A",
     "agree_infrastructure: запланирован → инфраструктурный лист согласован", "petrov"],
    ["6", "12.04.2021", "отказ", "Центр B: equip", "отказано: переход", "mun"],
    ["7", "20.05.2021", "изменение", "центр A", "update (инфраструктурный лист согласован)",
     "mun"],
    ["8", "20.05.2021", "отказ", "B", "отказано: изменение центра", "mun"],
]  # fmt: skip
SCOPE = f"центр B относится к «{OUT}», а область пользователя — «{IN}»"
COMMENTS = [
    "импорт из c.csv, строка 2",
    "импорт из c.csv, строка 3",
    "",
    "срок 2021-04-15",
    "",
    SCOPE,
    "изменено: наименование «МБОУ «Школа № 0»» → «Школа № 1»",
    SCOPE,
]


@pytest.mark.usefixtures("trail")
def test_the_log_lists_the_trail_newest_last_in_russian(cli: Cli) -> None:
    result = cli("audit", "log")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["Журнал аудита «ivanovo-2021-2023»: событий 8", ""]
    assert lines[2].split() == ["№", "дата", "вид", "объект", "действие", "кто"]
    # Piped: each event is one line (cells two spaces or more apart), and the time it was
    # recorded and its comment one line under it; dates ДД.ММ.ГГГГ, acts in Russian.
    body = [line for line in lines[4:] if line]
    events, notes = body[0::2], body[1::2]
    assert [re.split(r"\s{2,}", e) for e in events] == ROWS
    for note, comment in zip(notes, COMMENTS, strict=True):
        assert re.fullmatch(
            r"    записано \d\d\.\d\d\.\d{4} \d\d:\d\d"
            + (f"; {re.escape(comment)}" if comment else ""),
            note,
        ), note


@pytest.mark.usefixtures("trail")
def test_the_log_fits_80_columns_in_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workflow.cli.listing.terminal_width", lambda stream=None: 80)
    result = cli("audit", "log")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    words = set(result.output.split())
    for word in ("agree_infrastructure:", "«Кинешемский", "viewer1", "c.csv,", "(3/2021-04-15)"):
        assert word in words, word  # never broken across lines


@pytest.mark.usefixtures("trail")
def test_filters_by_kind_actor_and_dates(cli: Cli) -> None:
    refusals = _log(cli, "--kind", "refusal")
    assert (_seqs(refusals), refusals["matched"]) == ([6, 8], 2)
    events = refusals["events"]
    assert isinstance(events, list)
    assert [(e["kind"], e["trigger"], e["actor"], e["key"]) for e in events] == [
        ("refusal", "fire", "mun", "Центр B: equip"),
        ("refusal", "update_center", "mun", "B"),
    ]
    assert _seqs(_log(cli, "--kind", "transition")) == [5]
    assert _seqs(_log(cli, "--kind", "import", "--kind", "update")) == [1, 2, 7]
    assert _seqs(_log(cli, "--kind", "user", "--kind", "cycle")) == [3, 4]
    assert _seqs(_log(cli, "--kind", "REFUSAL", "--actor", "mun")) == [6, 8]
    assert _seqs(_log(cli, "--actor", "mun")) == [6, 7, 8]
    unknown = cli("audit", "log", "--actor", "nobody")
    assert unknown.exit_code == 1
    assert "В журнале: " in unknown.output
    assert "mun" in unknown.output.split("В журнале: ")[1]
    # Russian names as the «вид» column prints them.
    assert _seqs(_log(cli, "--kind", "отказ")) == [6, 8]
    assert _seqs(_log(cli, "--kind", "Новый  цикл", "--kind", "пользователь")) == [3, 4]
    assert _seqs(_log(cli, "--since", "2021-03-01", "--until", "12.04.2021")) == [3, 4, 5, 6]
    assert _seqs(_log(cli, "--since", "13.04.2021")) == [7, 8]
    assert _seqs(_log(cli, "--until", "2021-01-11")) == [1, 2]


@pytest.mark.usefixtures("trail")
def test_the_log_is_bounded_by_limit_newest_kept(cli: Cli) -> None:
    page = _log(cli, "--limit", "3")
    assert (_seqs(page), page["matched"], page["shown"]) == ([6, 7, 8], 8, 3)
    text = cli("audit", "log", "--limit", "2")
    assert text.exit_code == 0, text.output
    rows = [line for line in text.output.splitlines()[4:] if line[:1].isdigit()]
    assert [r.split()[0] for r in rows] == ["7", "8"]
    assert text.output.splitlines()[-1] == (
        "Показаны последние 2 из 8: сузьте выборку (--since, --until, --actor, --kind) "
        "или увеличьте --limit."
    )
    default = _log(cli)
    assert (default["matched"], default["shown"]) == (8, 8)


@pytest.mark.usefixtures("trail")
def test_update_events_keep_audit_verify_green(cli: Cli) -> None:
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "событий 8, объектов 3" in " ".join(verified.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "bogus"], "--kind: неизвестный вид события «bogus»"),
        (["--since", "вчера"], "--since: «вчера» — не дата"),
        (["--until", "31.02.2021"], "--until: «31.02.2021» — не дата"),
        (["--since", "02.01.2021", "--until", "01.01.2021"], "--since 02.01.2021 позже --until"),
        (["--limit", "0"], "--limit: 0 — вне допустимого: от 1 до 10000"),
        # An unknown login is not an empty log: the logins that acted are listed.
        (["--actor", "nobody"], "--actor: «nobody» не встречается в журнале"),
    ],
)
def test_bad_filters_are_refused_in_russian(
    cli: Cli, stored: StoredRoadmap, args: list[str], message: str
) -> None:
    result = cli("audit", "log", *args)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert message in text
    assert "Traceback" not in result.output
    if args[0] == "--kind":
        assert "Виды: transition (переход), import (импорт), update (изменение)" in text
    if args[0] == "--actor":
        assert "Журнал пуст." in text
