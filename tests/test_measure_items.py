"""Items of a compound measure, month-only deadlines and footnotes (issue 14, items 4 and 6).

Ivanovo's measure 2 («Утверждение: 1) …; 2) …; 3) …; 4) …») written as four items in a
temporary copy of the shipped file (the shipped file itself is left as the decree's
table reads): each item is a cycle of its own («2020/2.1»), reminded on its own
deadline and named by the letters («Мероприятие № 2, пункт 2.3»); the measure is done
when all four are. A month-only deadline (``"2021-01"``) is the month's last day; a
footnote («10 ноября 2020* года») stays with its text and is shown by ``roadmap show``
and the final report. Bad input is refused with file, line, column and field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import Result

from tests.conftest import TEST_COORDINATORS, grant
from tests.test_tick import Recorder, at, run
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.errors import RoadmapFileError
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.loader import load_roadmap, parse_roadmap
from workflow.roadmap.schema import json_schema
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap
from workflow.roadmap.suspicious import suspicious
from workflow.storage.tables import CYCLE
from workflow.views import dashboard, final, overview

SHIPPED_TEXT = IVANOVO_159_RP.read_text(encoding="utf-8")
REAL_NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
MEASURE_2 = (
    '    deadline_text: "23.12.2020"\n    recurrence: {kind: once, first_due: "2020-12-23"}\n'
)
ITEMS = """\
    due_text: "23 декабря 2020 года"
    items:
      - number: "2.1"
        title: "должностного лица в составе регионального ведомственного проектного офиса"
        due: "2020-12-16"
        due_text: "16 декабря 2020* года"
        footnotes: {"*": "по согласованию с федеральным оператором"}
      - number: "2.2"
        title: "типового Положения о деятельности центров «Точка роста»"
      - number: "2.3"
        title: "показателей деятельности центров «Точка роста»"
        due: "2021-01"
      - number: "2.4"
        title: "перечня общеобразовательных организаций"
        due: "2020-12-28"
"""
OP = Actor(login="ivanova")


def with_items(items: str = ITEMS) -> str:
    """The shipped text with measure 2 written as items (``items``: the YAML lines)."""
    assert MEASURE_2 in SHIPPED_TEXT
    return SHIPPED_TEXT.replace(MEASURE_2, MEASURE_2 + items)


def problems(text: str) -> list[tuple[int | None, int | None, str]]:
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml", now=REAL_NOW)
    return [(p.line, p.column, f"{p.field}: {p.message}") for p in caught.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ------------------------------------------------------------------- the file


def test_items_load_with_their_own_deadlines_and_the_measure_s_defaults() -> None:
    measure = parse_roadmap(with_items(), filename="r.yaml", now=REAL_NOW).measure(2)
    assert [(i.number, i.due, i.evidence, i.month_only) for i in measure.items] == [
        ("2.1", date(2020, 12, 16), ("department_order",), False),
        ("2.2", date(2020, 12, 23), ("department_order",), False),  # the measure's due
        ("2.3", date(2021, 1, 31), ("department_order",), True),  # a month: its last day
        ("2.4", date(2020, 12, 28), ("department_order",), False),
    ]
    assert measure.items[0].footnotes == (("*", "по согласованию с федеральным оператором"),)
    assert measure.items[0].due_text == "16 декабря 2020* года"
    # The JSON Schema the operator's editor reads has the keys.
    defs = json_schema()["$defs"]
    assert {"items", "footnotes", "due_text"} <= set(defs["MeasureEntry"]["properties"])
    assert set(defs["ItemEntry"]["required"]) == {"number", "title"}


def test_a_month_only_first_due_is_the_month_s_last_day() -> None:
    text = SHIPPED_TEXT.replace(
        'recurrence: {kind: once, first_due: "2020-12-23"}',
        'recurrence: {kind: once, first_due: "2024-02"}',
    ).replace('end: "2023-12-31"', 'end: "2024-12-31"')
    measure = parse_roadmap(text, filename="r.yaml", now=REAL_NOW).measure(2)
    assert (measure.first_due, measure.month_only) == (date(2024, 2, 29), True)  # leap year
    assert type(measure.first_due) is date  # a plain date in the definition


def test_duplicate_item_numbers_are_refused_at_the_second() -> None:
    text = with_items(ITEMS.replace('number: "2.4"', 'number: "2.2"'))
    line = line_of(text, 'title: "перечня общеобразовательных организаций"') - 1
    assert problems(text) == [(line, 17, "measures[1].items[3].number: пункт 2.2 уже есть")]


def test_an_item_number_of_another_measure_is_refused() -> None:
    text = with_items(ITEMS.replace('number: "2.3"', 'number: "3.3"'))
    line = line_of(text, 'number: "3.3"')
    assert problems(text) == [
        (
            line,
            17,
            "measures[1].items[2].number: номер пункта 3.3 не начинается с номера "
            "мероприятия «2.»: пишите 2.1, 2.2 …",
        )
    ]


def test_items_on_a_recurring_measure_are_refused() -> None:
    anchor = '    recurrence: {kind: annual, first_due: "2021-03-01"}\n'
    text = SHIPPED_TEXT.replace(
        anchor, anchor + '    items:\n      - {number: "5.1", title: "закупки"}\n', 1
    )
    ((line, column, message),) = problems(text)
    assert (line, column) == (line_of(text, '{number: "5.1"'), 7)
    assert message.startswith("measures[4].items: пункты items задаются только для")
    assert "«annual»" in message


def test_a_footnote_mark_without_its_footnote_is_refused() -> None:
    text = with_items(
        ITEMS.replace('        footnotes: {"*": "по согласованию с федеральным оператором"}\n', "")
    )
    line = line_of(text, "16 декабря 2020* года")
    assert problems(text) == [
        (
            line,
            19,
            "measures[1].items[0].due_text: в тексте знак сноски «*», а сноски с таким "
            'знаком нет: добавьте её в footnotes, например footnotes: {"*": "текст сноски"}',
        )
    ]


def test_a_footnote_no_text_refers_to_is_a_warning() -> None:
    text = with_items(ITEMS.replace("16 декабря 2020* года", "16 декабря 2020 года"))
    definition = parse_roadmap(text, filename="r.yaml", now=REAL_NOW)
    assert [w for w in suspicious(definition) if "сноск" in w] == [
        "Мероприятие № 2, пункт 2.1: сноска «*» не отмечена ни в одном тексте; проверьте, "
        "к чему она относится."
    ]
    assert not [
        w for w in suspicious(parse_roadmap(with_items(), filename="r.yaml")) if "сноск" in w
    ]


# ------------------------------------------------------------------ the effect


@pytest.fixture
def stored_items(engine: Engine, tmp_path: Path) -> StoredRoadmap:
    path = tmp_path / "items.yaml"
    path.write_text(with_items(), encoding="utf-8")
    definition = load_roadmap(path, now=REAL_NOW)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=REAL_NOW)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    with engine.connect() as conn:
        return roadmap_store.resolve(conn, definition.code)


def measure_2(engine: Engine) -> list[tuple[int, str, date, str]]:
    with engine.connect() as conn:
        return [
            (int(r.id), str(r.period), r.due_date, str(r.state))
            for r in conn.execute(
                sa.select(CYCLE).where(CYCLE.c.measure == 2).order_by(CYCLE.c.due_date)
            )
        ]


def test_each_item_is_a_cycle_reminded_on_its_own_day_and_the_measure_done_with_all(
    engine: Engine, stored_items: StoredRoadmap, tmp_path: Path
) -> None:
    queue = Recorder()
    day = date(2020, 11, 30)
    while day <= date(2021, 2, 1):
        run(engine, stored_items, day.isoformat(), queue)
        day += timedelta(days=1)
    cycles = measure_2(engine)
    assert [(p, d) for _, p, d, _ in cycles] == [
        ("2020/2.1", date(2020, 12, 16)),
        ("2020/2.2", date(2020, 12, 23)),
        ("2020/2.4", date(2020, 12, 28)),
        ("2021/2.3", date(2021, 1, 31)),
    ]
    # Each item reminded once on its day (a Sunday deadline, 31.01.2021, on the Friday
    # before), under its own title and the item's name.
    on_day = [r for r in queue.items if r.measure_number == 2 and r.rung.value == "on_day"]
    assert sorted((r.period, r.deadline, r.send_on) for r in on_day) == [
        ("2020/2.1", date(2020, 12, 16), date(2020, 12, 16)),
        ("2020/2.2", date(2020, 12, 23), date(2020, 12, 23)),
        ("2020/2.4", date(2020, 12, 28), date(2020, 12, 28)),
        ("2021/2.3", date(2021, 1, 31), date(2021, 1, 29)),
    ]
    titles = {r.period: (r.title, r.item_number) for r in on_day}
    # The item's title continues the measure's lead-in («Утверждение: 1) …; 2) …»).
    assert titles["2020/2.3".replace("2020", "2021")] == (
        "Утверждение показателей деятельности центров «Точка роста»",
        "2.3",
    )
    # Complete three: the measure is not done; the fourth: it is.
    fire = TransitionEngine(
        engine, stored_items.definition, stored_items.id, clock=lambda: REAL_NOW
    )
    when = at("2021-02-01")
    for cycle_id, _, _, _ in cycles[:3]:  # overdue by now: completed as they stand
        fire.fire_cycle(
            cycle_id, "complete", actor=OP, now=when, evidence={"department_order": "№ 1"}
        )
    with engine.connect() as conn:
        status = overview.roadmap_status(conn, stored_items, today=when)
        report = final.build(conn, stored_items, now=when)
    line = next(m for m in status.as_json()["measures"] if m["number"] == 2)
    assert line["items"] == {"done": 3, "total": 4}
    assert report.items_text == {2: "выполнено пунктов: 3 из 4"}
    fire.fire_cycle(cycles[3][0], "start", actor=OP, now=when)  # 2.3: due 31.01, term 01.02
    fire.fire_cycle(
        cycles[3][0], "complete", actor=OP, now=when, evidence={"department_order": "№ 2"}
    )
    with engine.connect() as conn:
        status = overview.roadmap_status(conn, stored_items, today=when)
        report = final.build(conn, stored_items, now=when)
    line = next(m for m in status.as_json()["measures"] if m["number"] == 2)
    assert line["items"] == {"done": 4, "total": 4}
    assert report.items_text == {2: "мероприятие выполнено: все пункты (4)"}
    html = final.render_html(report)
    assert "Мероприятие № 2: мероприятие выполнено: все пункты (4)." in html
    # The late items and the missed yearly cycle, each named in its own words (no «за
    # пункт 2.1»).
    assert (
        '<td data-label="что">Мероприятие № 2, пункт 2.1: 2.1. Утверждение должностного лица'
    ) in html
    assert '<td data-label="что">Мероприятие № 4 за 2020 г.: Заключение соглашения' in html
    # The item's footnote is printed under its line, in small print.
    item_1 = next(c for c in report.cycles if c.period == "пункт 2.1")
    assert item_1.title.startswith("2.1. Утверждение должностного лица")
    assert item_1.footnotes == ("* по согласованию с федеральным оператором",)
    assert (
        '<small class="muted footnote">* по согласованию с федеральным оператором</small>' in html
    )
    # The workbook too: the footnote under the item's title, the measure's state by items.
    book = tmp_path / "final.xlsx"
    final.write_xlsx(report, book)
    sheets = load_workbook(book)
    texts = [
        str(c.value) for name in (final.MEASURE_SHEET, final.SUMMARY_SHEET)
        for row in sheets[name].iter_rows() for c in row if isinstance(c.value, str)
    ]  # fmt: skip
    assert (
        "2.1. Утверждение должностного лица в составе регионального ведомственного проектного "
        "офиса\n"
        "* по согласованию с федеральным оператором"
    ) in texts
    assert any(t.endswith("(мероприятие выполнено: все пункты (4))") for t in texts)
    # The dashboard's measures: the small print under the timeline.
    with engine.connect() as conn:
        board = dashboard.build(conn, stored_items, now=when)
    assert board.measure_notes == [
        "№ 2: мероприятие выполнено: все пункты (4)",
        "№ 2, пункт 2.1: * по согласованию с федеральным оператором",
    ]
    assert (
        '<p class="muted measure-note"><small>№ 2, пункт 2.1: * по согласованию с федеральным '
        "оператором</small></p>"
    ) in dashboard.render_html(board)


def test_the_letter_names_the_item(engine: Engine, stored_items: StoredRoadmap) -> None:
    from notifications.render import Renderer

    queue = Recorder()
    run(engine, stored_items, "2020-12-16", queue)
    (reminder,) = [r for r in queue.items if r.period == "2020/2.1" and r.rung.value == "on_day"]
    text = Renderer().render_reminders([reminder], now=at("2020-12-16")).text
    # The item's title continues the measure's lead-in: a whole phrase, not a fragment.
    assert (
        "Утверждение должностного лица в составе регионального ведомственного проектного "
        "офиса\n  Мероприятие № 2, пункт 2.1\n"
    ) in text


def test_a_month_only_deadline_reads_as_the_month_in_its_letter(
    engine: Engine, stored_items: StoredRoadmap
) -> None:
    """Item 2.3 is due «2021-01»: scheduled on the month's last day (Sunday 31.01.2021,
    its on-the-day letter on Friday 29.01), the letter's «Срок:» says the month as the
    roadmap states it, not a day the decree never named."""
    from notifications.render import Renderer
    from notifications.values import Reminder

    queue = Recorder()
    run(engine, stored_items, "2021-01-29", queue)
    (reminder,) = [r for r in queue.items if r.period == "2021/2.3"]
    assert (reminder.deadline, reminder.deadline_title) == (date(2021, 1, 31), "январь 2021 г.")
    assert Reminder.from_json(reminder.to_json()) == reminder  # stored with the letter
    letter = Renderer().render_reminders([reminder], now=at("2021-01-29"))
    assert "  Срок: январь 2021 г. — " in letter.text
    assert "Срок: январь 2021 г. — <em>" in letter.html
    # A day-deadline item of the same measure keeps its day.
    (day,) = [r for r in queue.items if r.period == "2020/2.4"]
    assert day.deadline_title == ""
    assert (
        "Срок: 28 декабря 2020 г. — "
        in Renderer().render_reminders([day], now=at("2021-01-29")).text
    )


# ------------------------------------------------------------------------ CLI

Cli = Callable[..., Result]


def test_roadmap_show_prints_items_and_footnotes(cli: Cli, tmp_path: Path) -> None:
    assert cli("--now", "2020-12-08", "init").exit_code == 0
    path = tmp_path / "items.yaml"
    path.write_text(with_items(), encoding="utf-8")
    result = cli("--now", "2020-12-08", "roadmap", "load", str(path))
    assert result.exit_code == 0, result.output
    shown = cli("roadmap", "show").output
    assert "2.1. должностного лица в составе регионального ведомственного проектного офиса" in shown
    assert "срок: 16 декабря 2020* года (16.12.2020)" in shown
    assert "* по согласованию с федеральным оператором" in shown
    assert "срок: январь 2021 г." in shown  # the month, as the file wrote it
    data = json.loads(cli("--json", "roadmap", "show").output)
    item = data["measures"][1]["items"][0]
    assert item["footnotes"] == {"*": "по согласованию с федеральным оператором"}


def test_items_with_done_are_refused() -> None:
    done = '    done: {"on": "2020-12-23", evidence: {department_order: "приказ № 1"}}\n'
    text = with_items(done + ITEMS)
    ((line, column, message),) = problems(text)
    assert (line, column) == (line_of(text, 'number: "2.1"'), 7)
    assert message.startswith("measures[1].items: у мероприятия с пунктами items нет done")


def test_an_item_s_own_documents_close_its_cycle(
    engine: Engine, stored_items: StoredRoadmap, tmp_path: Path
) -> None:
    from states import GuardRefused

    text = with_items(
        ITEMS.replace(
            '        due: "2020-12-28"\n',
            '        due: "2020-12-28"\n        evidence: [government_decree]\n',
        )
    )
    definition = parse_roadmap(text, filename="r.yaml", now=REAL_NOW)
    assert definition.measure(2).items[3].evidence == ("government_decree",)
    path = tmp_path / "own.yaml"
    path.write_text(text.replace("code: ivanovo-2021-2023", "code: own-documents"), "utf-8")
    own = load_roadmap(path, now=REAL_NOW)
    roadmap_id, _ = roadmap_store.store(engine, own, now=REAL_NOW)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    with engine.connect() as conn:
        stored = roadmap_store.resolve(conn, own.code)
    run(engine, stored, "2020-12-28", Recorder())
    with engine.connect() as conn:
        cycle_id = conn.execute(
            sa.select(CYCLE.c.id).where(
                CYCLE.c.roadmap_id == stored.id, CYCLE.c.period == "2020/2.4"
            )
        ).scalar_one()
    fire = TransitionEngine(engine, stored.definition, stored.id, clock=lambda: REAL_NOW)
    fire.fire_cycle(cycle_id, "start", actor=OP, now=at("2020-12-28"))
    with pytest.raises(GuardRefused) as caught:
        fire.fire_cycle(
            cycle_id, "complete", actor=OP, now=at("2020-12-28"),
            evidence={"department_order": "приказ № 1"},
        )  # fmt: skip
    assert "распоряжение Правительства Ивановской области" in caught.value.reason
    done = fire.fire_cycle(
        cycle_id, "complete", actor=OP, now=at("2020-12-28"),
        evidence={"government_decree": "распоряжение № 1"},
    )  # fmt: skip
    assert done.to_state == "done"
