"""Indicators: the roadmap's definitions, submission (CLI and files), refusals, who is missing.

`seed` builds the small fixed data set the report tests use too.

Over 500 lines: one file per subject, so that every refusal of that subject and its
exact Russian message are found in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from states.center import FORWARD_TRIGGERS, LIFECYCLE, CenterState
from workflow.engine import centers
from workflow.engine.access import Actor
from workflow.engine.indicators import (
    COUNT_CEILING,
    VALUE,
    RawRow,
    RawValue,
    missing_submissions,
    parse_period,
    parse_value,
    record,
)
from workflow.engine.transitions import TransitionEngine
from workflow.errors import ImportFileError, RoadmapFileError
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.definition import IndicatorPeriod, IndicatorUnit
from workflow.roadmap.loader import parse_roadmap
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]
T0 = datetime(2021, 1, 11, 9, 0, tzinfo=UTC)
OPENED_AT = datetime(2021, 9, 1, 9, 0, tzinfo=UTC)
REPORTING_AT = datetime(2021, 10, 1, 9, 0, tzinfo=UTC)

#: The fixed data set: code, name, municipality, cohort, final state.
CENTERS: tuple[tuple[str, str, str, int, CenterState], ...] = (
    ("IV-01", "МБОУ «Лежневская СШ № 1»", "Лежневский район", 2021, CenterState.REPORTING),
    (
        "IV-02",
        'МКОУ "Пестяковская <script>alert(1)</script> СШ"',
        "Пестяковский район",
        2021,
        CenterState.REPORTING,
    ),
    ("IV-03", "МБОУ «Шуйская СШ № 2»", "Лежневский район", 2021, CenterState.REPORTING),
    ("IV-04", "МБОУ «Палехская СШ»", "Палехский район", 2021, CenterState.OPENED),
    ("IV-05", "МБОУ «Тейковская СШ»", "Тейковский район", 2022, CenterState.EQUIPPED),
    ("IV-06", "МБОУ «Кинешемская СШ»", "Палехский район", 2022, CenterState.PLANNED),
)


def seed(engine: Engine, stored: StoredRoadmap) -> None:
    """Import `CENTERS` and walk each to its final state (opened on 01.09.2021)."""
    rows = [
        CenterRow(
            code=c, name=n, municipality=m, cohort=y, email=f"{c.lower()}@example.org", line=i + 2
        )
        for i, (c, n, m, y, _) in enumerate(CENTERS)
    ]
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="importer", now=T0)
    fire = TransitionEngine(engine, stored.definition, stored.id).fire_center
    actor = Actor(login="operator")
    for code, _, _, _, final in CENTERS:
        for state in LIFECYCLE[1 : LIFECYCLE.index(final) + 1]:
            when = {CenterState.OPENED: OPENED_AT, CenterState.REPORTING: REPORTING_AT}.get(
                state, datetime(2021, 8, 20, 9, tzinfo=UTC)
            )
            fire(code, FORWARD_TRIGGERS[state].value, actor=actor, now=when)


def _value_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(VALUE)).scalar_one())


# ---------------------------------------------------------------------- definitions


def test_shipped_roadmap_declares_the_example_indicators(cli: Cli, stored: StoredRoadmap) -> None:
    result = cli("--json", "indicators", "list")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(i["code"], i["unit"], i["period"], i["target"]) for i in listed] == [
        ("natsci_students", "persons", "quarter", 100.0),
        ("tech_students", "persons", "quarter", None),
        ("extra_programs_students", "persons", "quarter", 50.0),
        ("events", "units", "year", 4.0),
        ("trained_teachers_share", "percent", "year", 100.0),
    ]
    assert set(listed[0]) == {"code", "name", "unit", "period", "target"}
    assert "«Физика», «Химия», «Биология»" in listed[0]["name"]
    table = cli("indicators", "list")
    assert table.exit_code == 0
    assert "natsci_students" in table.output
    assert "ежеквартально" in table.output


MINIMAL = IVANOVO_159_RP


def _with_indicators(block: str) -> str:
    text = MINIMAL.read_text(encoding="utf-8")
    return text[: text.index("\nindicators:")] + "\nindicators:\n" + block


def test_roadmap_file_validates_indicators() -> None:
    text = _with_indicators(
        '  - {code: a, name: "А", unit: persons, period: quarter, target: 10, max: 500}\n'
        '  - {code: b, name: "Б", unit: percent, period: year}\n'
    )
    roadmap = parse_roadmap(text, filename="r.yaml")
    assert [(i.code, i.unit, i.period, i.target, i.upper_bound) for i in roadmap.indicators] == [
        ("a", IndicatorUnit.PERSONS, IndicatorPeriod.QUARTER, 10.0, 500.0),
        ("b", IndicatorUnit.PERCENT, IndicatorPeriod.YEAR, None, 100.0),
    ]


def test_roadmap_file_refuses_bad_indicators_with_positions() -> None:
    text = _with_indicators(
        '  - {code: a, name: "А", unit: people, period: quarter}\n'
        '  - {code: a, name: "Б", unit: percent, period: year, target: 120}\n'
        '  - {code: c, name: "В", unit: persons, period: month, target: 2.5}\n'
        '  - {code: d, name: "Г", unit: units, period: year, colour: red}\n'
    )
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml")
    messages = [(p.field, p.message) for p in caught.value.problems]
    assert (
        "indicators[0].unit",
        "неизвестный код единицы «people»; допустимы: persons, units, percent",
    ) in messages
    assert ("indicators[1].code", "показатель с идентификатором «a» уже объявлен") in messages
    assert ("indicators[1].target", "120 больше 100: это доля в процентах") in messages
    assert (
        "indicators[2].target",
        "показатель считается в целых числах: 2.5 — не целое",
    ) in messages
    assert any(f == "indicators[2].period" for f, _ in messages)
    assert any(f == "indicators[3].colour" for f, _ in messages)
    assert all(p.line is not None and p.column is not None for p in caught.value.problems)


# --------------------------------------------------------------------- pure parsing


@pytest.mark.parametrize(
    ("text", "label", "start", "end"),
    [
        ("2022-Q3", "2022-Q3", date(2022, 7, 1), date(2022, 9, 30)),
        ("2022 q4", "2022-Q4", date(2022, 10, 1), date(2022, 12, 31)),
        ("2021-К1", "2021-Q1", date(2021, 1, 1), date(2021, 3, 31)),
        ("2022", "2022", date(2022, 1, 1), date(2022, 12, 31)),
    ],
)
def test_period_labels(text: str, label: str, start: date, end: date) -> None:
    period = parse_period(text)
    assert period is not None
    assert (period.label, period.start, period.end) == (label, start, end)


@pytest.mark.parametrize("text", ["2022-Q5", "Q3 2022", "22", "2022-07", ""])
def test_not_period_labels(text: str) -> None:
    assert parse_period(text) is None


def test_value_parsing_follows_the_unit(stored: StoredRoadmap) -> None:
    persons = stored.definition.indicator("natsci_students")
    share = stored.definition.indicator("trained_teachers_share")
    assert parse_value(persons, " 120 ") == 120.0
    assert parse_value(share, "87,5") == 87.5
    assert parse_value(share, "87.25%") == 87.25
    for indicator, text, message in [
        (persons, "12,5", "не целое число"),
        (persons, "-3", "отрицательное"),
        (persons, "много", "не число"),
        (share, "100,5", "больше допустимого 100"),
        (share, "33,333", "не точнее сотых"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_value(indicator, text)


def test_counts_have_a_ceiling_unless_the_roadmap_declares_a_max(stored: StoredRoadmap) -> None:
    persons = stored.definition.indicator("natsci_students")
    events = stored.definition.indicator("events")
    assert persons.upper_bound is None
    assert parse_value(persons, "1000000") == COUNT_CEILING == 1_000_000
    assert parse_value(events, "1 000 000") == 1_000_000
    too_many = (
        "больше допустимого 1000000: для одного центра это неправдоподобно много "
        "(проверьте, нет ли лишних цифр)"
    )
    for text, shown in [
        ("1000001", "1000001"),
        ("99999999999999999999999", "99999999999999999999999"),
        # Too long for a float (inf): still "too large", not "not whole"; cut short.
        ("1" + "0" * 400, "1" + "0" * 38 + "…"),
    ]:
        with pytest.raises(ValueError) as caught:
            parse_value(persons, text)
        assert str(caught.value) == f"значение {shown} {too_many}"
    with pytest.raises(ValueError) as caught:
        parse_value(persons, "50%")
    assert str(caught.value) == "«50%» — не число: показатель считается в чел., а не в процентах"

    # A declared max is the bound, above the ceiling too, and is printed whole (not 5e+06).
    roadmap = parse_roadmap(
        _with_indicators(
            '  - {code: a, name: "А", unit: persons, period: quarter, max: 5000000}\n'
            '  - {code: b, name: "Б", unit: percent, period: year, max: 99.5}\n'
        ),
        filename="r.yaml",
    )
    assert parse_value(roadmap.indicator("a"), "2000000") == 2_000_000
    with pytest.raises(ValueError) as caught:
        parse_value(roadmap.indicator("a"), "5000001")
    assert str(caught.value) == "значение 5000001 больше допустимого 5000000"
    with pytest.raises(ValueError) as caught:
        parse_value(roadmap.indicator("b"), "99,6")
    assert str(caught.value) == "значение 99,6 больше допустимого 99,5"


def test_submit_refuses_an_absurd_count(cli: Cli, engine: Engine, stored: StoredRoadmap) -> None:
    seed(engine, stored)
    result = cli(
        "--now",
        "2021-10-05",
        "indicators",
        "submit",
        "IV-01",
        "2021-Q3",
        "natsci_students=99999999999999999999999",
    )
    assert result.exit_code == 1, result.output
    assert (
        "Показатели не приняты, ничего не изменено: найдено ошибок — 1. "
        "командная строка, поле «natsci_students=99999999999999999999999»: natsci_students: "
        "значение 99999999999999999999999 больше допустимого 1000000: для одного центра это "
        "неправдоподобно много (проверьте, нет ли лишних цифр)"
    ) in " ".join(result.output.split())
    assert _value_count(engine) == 0


# ------------------------------------------------------------------------- submitting


def test_submit_records_corrects_and_is_append_only(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    seed(engine, stored)
    first = cli(
        "--now",
        "2021-10-05",
        "--json",
        "indicators",
        "submit",
        "IV-01",
        "2021-Q3",
        "natsci_students=120",
        "tech_students=40",
        "extra_programs_students=55",
    )
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["recorded"] == 3
    again = cli(
        "--now",
        "2021-10-06",
        "indicators",
        "submit",
        "IV-01",
        "2021-Q3",
        "natsci_students=120",
        "tech_students=42",
    )
    assert again.exit_code == 0, again.output
    assert "записано значений — 1, без изменений — 1" in " ".join(again.output.split())
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                VALUE.c.indicator,
                VALUE.c.value,
                VALUE.c.supersedes,
                VALUE.c.actor,
                VALUE.c.source,
                VALUE.c.id,
            )
            .where(VALUE.c.indicator == "tech_students")
            .order_by(VALUE.c.id)
        ).all()
    assert [(r.value, r.actor, r.source) for r in rows] == [
        (40.0, "operator", "командная строка"),
        (42.0, "operator", "командная строка"),
    ]
    assert rows[1].supersedes == rows[0].id
    assert _value_count(engine) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("IV-01", "2021-Q3", "natsci_students=много"), "natsci_students: «много» — не число"),
        (("IV-01", "2021-Q3", "trained_teachers_share=101"), "больше допустимого 100"),
        (("IV-01", "2021-Q3", "pupils=5"), "неизвестный показатель «pupils»"),
        (("NOPE", "2021-Q3", "natsci_students=5"), "центр с кодом «NOPE» не найден"),
        (
            ("IV-01", "2021-Q2", "natsci_students=5"),
            "период 2021-Q2 закончился до открытия центра IV-01 (01.09.2021)",
        ),
        (("IV-01", "2020-Q4", "natsci_students=5"), "период 2020-Q4 вне программы"),
        (("IV-01", "2024-Q1", "natsci_students=5"), "период 2024-Q1 вне программы"),
        (("IV-01", "2022-Q1", "natsci_students=5"), "период 2022-Q1 ещё не начался"),
        (
            ("IV-05", "2021-Q3", "natsci_students=5"),
            "центр IV-05 ещё не открыт (состояние «оснащён»)",
        ),
        (("IV-01", "2021", "natsci_students=5"), "сдаётся ежеквартально: период 2021 не подходит"),
        (("IV-01", "2021-Q3", "events=5"), "сдаётся за год"),
        (("IV-01", "третий", "natsci_students=5"), "«третий» — не отчётный период"),
        (("IV-01", "2021-Q3", "natsci_students"), "ожидается ПОКАЗАТЕЛЬ=ЗНАЧЕНИЕ"),
    ],
)
def test_submit_refusals_change_nothing(
    cli: Cli, engine: Engine, stored: StoredRoadmap, args: tuple[str, ...], message: str
) -> None:
    seed(engine, stored)
    result = cli("--now", "2021-10-05", "indicators", "submit", *args)
    assert result.exit_code == 1, result.output
    assert "Показатели не приняты, ничего не изменено" in result.output
    assert message in result.output
    assert _value_count(engine) == 0


# --------------------------------------------------------------------------- imports

IMPORT_HEADER = (
    "Код;Период;natsci_students;Численность обучающихся, осваивающих учебный "
    "предмет «Технология» на оборудовании центра, чел.;Наименование\n"
)


def test_import_csv_with_russian_headers(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    seed(engine, stored)
    path = tmp_path / "values.csv"
    path.write_bytes(
        (IMPORT_HEADER + "IV-01;2021-Q3;120;40;школа\nIV-03;2021-Q3;90;;школа\n;;;;\n").encode(
            "cp1251"
        )
    )
    result = cli("--now", "2021-10-05", "--json", "indicators", "import", str(path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recorded"] == 3
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(VALUE.c.indicator, VALUE.c.value)).all()) == [
            ("natsci_students", 90.0),
            ("natsci_students", 120.0),
            ("tech_students", 40.0),
        ]


def test_import_is_all_or_nothing_with_lines_and_columns(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    seed(engine, stored)
    path = tmp_path / "values.csv"
    path.write_text(
        IMPORT_HEADER
        + "IV-01;2021-Q3;120;40;\n"  # fine
        + "IV-02;2021-Q3;12,5;;\n"  # line 3: not whole
        + "IV-01;2021-Q3;121;;\n"  # line 4: duplicate of line 2
        + "ZZ-99;2021-Q3;1;;\n"  # line 5: unknown center
        + "IV-03;2020-Q4;1;;\n",  # line 6: outside the program
        encoding="utf-8",
    )
    result = cli("--now", "2021-10-05", "indicators", "import", str(path))
    assert result.exit_code == 1
    assert "Импорт не выполнен, ничего не изменено: найдено ошибок — 4" in result.output
    assert (
        "строка 3, столбец 3, поле «natsci_students»: natsci_students: 12,5 — не целое"
        in result.output
    )
    assert (
        "строка 4, столбец 1, поле «Код»: центр IV-01 за период 2021-Q3 уже указан в "
        "строке 2" in result.output
    )
    assert "строка 5, столбец 1, поле «Код»: центр с кодом «ZZ-99» не найден" in result.output
    assert "строка 6, столбец 2, поле «Период»: период 2020-Q4 вне программы" in result.output
    assert _value_count(engine) == 0


def test_import_xlsx_and_bad_header(engine: Engine, stored: StoredRoadmap, tmp_path: Path) -> None:
    from openpyxl import Workbook

    seed(engine, stored)
    book = Workbook()
    sheet = book.active
    sheet.append(["Код", "Период", "events", "trained_teachers_share"])
    sheet.append(["IV-02", 2021, 3, 87.5])
    book.save(tmp_path / "v.xlsx")
    from workflow.imports.indicators_file import read_indicators_file

    rows = read_indicators_file(tmp_path / "v.xlsx", stored.definition)
    when = datetime(2022, 1, 10, 9, tzinfo=UTC)
    done = record(engine, stored, rows, filename="v.xlsx", actor="operator", now=when)
    assert (done.recorded, done.unchanged) == (2, 0)
    assert (
        record(engine, stored, rows, filename="v.xlsx", actor="operator", now=when).unchanged == 2
    )

    bad = tmp_path / "bad.csv"
    bad.write_text("Код,Когда,natsci_students\nIV-01,2021-Q3,5\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as caught:
        read_indicators_file(bad, stored.definition)
    assert [str(p) for p in caught.value.problems] == [
        f"{bad}, строка 1, столбец 2, поле «Когда»: неизвестный столбец «Когда»: ожидаются Код, "
        "Период и показатели дорожной карты (natsci_students, tech_students, "
        "extra_programs_students, events, trained_teachers_share)",
        f"{bad}, строка 1: в заголовке нет столбцов: Период",
    ]


def test_import_refuses_values_in_columns_without_a_header(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    seed(engine, stored)
    path = tmp_path / "values.csv"
    path.write_text(
        "Код;Период;natsci_students\n"
        "IV-01;2021-Q3;120\n"  # fine
        "IV-02;2021-Q3;5;9;9\n"  # line 3: two values beyond the header
        "IV-03;2021-Q3;;7\n"  # line 4: the only value is beyond the header
        ";;;;итого\n",  # line 5: a note beside the table
        encoding="utf-8",
    )
    from workflow.imports.indicators_file import read_indicators_file

    rows = read_indicators_file(path, stored.definition)
    with pytest.raises(ImportFileError) as caught:
        record(
            engine,
            stored,
            rows,
            filename=str(path),
            actor="operator",
            now=datetime(2021, 10, 5, 9, tzinfo=UTC),
        )
    hint = "подпишите столбец (код или название показателя) или удалите значение"
    assert [str(p) for p in caught.value.problems] == [
        f"{path}, строка 3, столбец 4: значение «9» в столбце 4 без заголовка: {hint}",
        f"{path}, строка 3, столбец 5: значение «9» в столбце 5 без заголовка: {hint}",
        f"{path}, строка 4, столбец 4: значение «7» в столбце 4 без заголовка: {hint}",
        f"{path}, строка 5, столбец 5: значение «итого» в столбце 5 без заголовка: {hint}",
    ]
    assert _value_count(engine) == 0

    # A blank header cell inside the table is a column without a header too.
    gap = tmp_path / "gap.xlsx"
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Код", "Период", None, "natsci_students"])
    sheet.append(["IV-01", "2021-Q3", 7, 120])
    book.save(gap)
    result = cli("--now", "2021-10-05", "indicators", "import", str(gap))
    assert result.exit_code == 1
    assert (
        f"Импорт не выполнен, ничего не изменено: найдено ошибок — 1. {gap}, строка 2, "
        f"столбец 3: значение «7» в столбце 3 без заголовка: {hint}"
    ) in " ".join(result.output.split())
    assert _value_count(engine) == 0


def test_import_xlsx_reads_percent_cells_as_shown(
    engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    from workflow.imports.indicators_file import read_indicators_file

    seed(engine, stored)
    book = Workbook()
    sheet = book.active
    sheet.append(["Код", "Период", "events", "trained_teachers_share"])
    # (cell value, number format): Excel shows each as 87,5 % / 100 % / 87,25 % / 87,5 %.
    for center, value, number_format in [
        ("IV-01", 0.875, "0.0%"),
        ("IV-02", 1, "0%"),
        ("IV-03", 0.87250000000000005, "0.00%"),  # a formula's result: 15 digits count
        ("IV-04", 87.5, '0.0"%"'),  # a printed "%", not a percent format
    ]:
        sheet.append([center, 2021, 4, value])
        sheet.cell(sheet.max_row, 4).number_format = number_format
    book.save(tmp_path / "v.xlsx")
    rows = read_indicators_file(tmp_path / "v.xlsx", stored.definition)
    assert [(r.center, r.values[1].text) for r in rows] == [
        ("IV-01", "87.5%"),
        ("IV-02", "100%"),
        ("IV-03", "87.25%"),
        ("IV-04", "87.5"),
    ]
    when = datetime(2022, 1, 10, 9, tzinfo=UTC)
    assert record(engine, stored, rows, filename="v.xlsx", actor="operator", now=when).recorded == 8
    with engine.connect() as conn:
        shares = conn.execute(
            sa.select(VALUE.c.value)
            .where(VALUE.c.indicator == "trained_teachers_share")
            .order_by(VALUE.c.id)
        ).scalars()
        assert list(shares) == [87.5, 100.0, 87.25, 87.5]

    # A percent cell in a count's column, and a share finer than hundredths: refused.
    bad = Workbook()
    sheet = bad.active
    sheet.append(["Код", "Период", "events", "trained_teachers_share"])
    sheet.append(["IV-01", 2021, 0.5, 0.33333])
    sheet["C2"].number_format = sheet["D2"].number_format = "0%"
    bad.save(tmp_path / "bad.xlsx")
    rows = read_indicators_file(tmp_path / "bad.xlsx", stored.definition)
    with pytest.raises(ImportFileError) as caught:
        record(engine, stored, rows, filename="bad.xlsx", actor="operator", now=when)
    assert [str(p) for p in caught.value.problems] == [
        "bad.xlsx, строка 2, столбец 3, поле «events»: events: «50%» — не число: показатель "
        "считается в ед., а не в процентах",
        "bad.xlsx, строка 2, столбец 4, поле «trained_teachers_share»: trained_teachers_share: "
        "33.333%: доля указывается не точнее сотых",
    ]
    assert _value_count(engine) == 8


# --------------------------------------------------------------------- who is missing


def test_missing_submissions_lists_reporting_centers_without_values(
    engine: Engine, stored: StoredRoadmap
) -> None:
    seed(engine, stored)
    when = datetime(2021, 10, 5, 9, tzinfo=UTC)
    record(
        engine,
        stored,
        [
            _row(
                "IV-01",
                "2021-Q3",
                natsci_students="1",
                tech_students="2",
                extra_programs_students="3",
            ),
            _row("IV-03", "2021-Q3", natsci_students="1"),
        ],
        filename=None,
        actor="operator",
        now=when,
    )
    with db.read(engine) as conn:
        missing = missing_submissions(conn, stored.id, "2021-Q3")
        assert missing_submissions(conn, stored.id, "2021-Q2") == []
    # IV-03 is partial, IV-02 has nothing; IV-04 is only opened; IV-01 is complete.
    assert missing == [
        ("IV-03", "МБОУ «Шуйская СШ № 2»", "iv-03@example.org", "Лежневский район"),
        (
            "IV-02",
            'МКОУ "Пестяковская <script>alert(1)</script> СШ"',
            "iv-02@example.org",
            "Пестяковский район",
        ),
    ]


def _row(center: str, period: str, **values: str) -> RawRow:
    return RawRow(
        center=center,
        period=period,
        values=tuple(RawValue(indicator=k, text=v) for k, v in values.items()),
    )
