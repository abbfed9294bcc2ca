"""The second shipped roadmap: an example on the federal template, not a decree (issue 14,
item 8).

``workflow/roadmap/shipped/example-federal-template.yaml`` is a fictional region's roadmap
for 2022-2025 (cohorts 2023-2025) worded like the Tambov region's decree on the federal
template. It uses every kind the format has: a monthly report on the 5th of the next
month, a quarterly report 5 working days after the quarter, a report on the 10th of the
month after the quarter, an annual measure with ``until``, two dates a year, a
per-cohort measure due the year before the cohort, a measure of each center's
municipality (a party without an address), stages with cohort-relative deadlines,
deadlines relative to another measure's cycle and to each center's stage, a compound
measure's items with a month-only deadline and footnotes, and the decree's own first
item recorded done.

Here it validates through the real CLI without warnings, loads beside Ivanovo's in one
database (SQLite and PostgreSQL), and is walked day by day with the reconciler into the
real outbox: its cycles written out by hand, its reminders per recipient computed from
the ladder and, for the municipality measure, written out literally.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER, REMINDER
from notifications.render import Renderer
from tests.test_tick import Recorder
from tests.test_walk import days, moment, sends
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap import closing
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.definition import PartyKind, Recurrence
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.recurrence import measure_cycles
from workflow.roadmap.shipped import EXAMPLE_FEDERAL_TEMPLATE, IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.ladder import is_working_day, working_day_on_or_before
from workflow.schedule.reconcile import tick
from workflow.schedule.reminders import outbox_queue
from workflow.storage.tables import CENTER, CYCLE, ROADMAP

log = logging.getLogger(__name__)
Cli = Callable[..., Result]
CODE = "example-federal-2022-2025"
IVANOVO = "ivanovo-2021-2023"
MINISTRY = "minobr@example.org"
OPERATOR = "operator@example.org"
# Three municipalities, each with its education authority's address.
UO = {
    "Северный район": "uo@north.example.org",
    "Южный район": "uo@south.example.org",
    "город Примерск": "uo@primersk.example.org",
}
# Four centers: two of cohort 2023 (in different municipalities), two of 2024.
CENTERS = [
    ("N1", "МБОУ «Северная СОШ»", "Северный район", 2023, "n1@example.org"),
    ("S1", "МБОУ «Южная СОШ № 1»", "Южный район", 2023, "s1@example.org"),
    ("S2", "МБОУ «Южная СОШ № 2»", "Южный район", 2024, "s2@example.org"),
    ("P1", "МБОУ «Лицей № 1 г. Примерска»", "город Примерск", 2024, "p1@example.org"),
]
START = date(2022, 1, 10)


def test_the_example_is_labelled_and_never_the_default() -> None:
    text = EXAMPLE_FEDERAL_TEMPLATE.read_text(encoding="utf-8")
    label = "Пример на основе федерального типового комплекса мер, не является распоряжением"
    assert text.startswith(f"# {label}.")
    example = load_roadmap(EXAMPLE_FEDERAL_TEMPLATE)
    assert example.decree == label
    assert example.title.startswith("ПРИМЕР (не является распоряжением)")
    assert example.code == CODE != load_roadmap(IVANOVO_159_RP).code
    from workflow.cli.system_cmd import SHIPPED_ROADMAP

    assert SHIPPED_ROADMAP == IVANOVO_159_RP  # tochka init without --roadmap


def test_the_example_uses_every_kind() -> None:
    roadmap = load_roadmap(EXAMPLE_FEDERAL_TEMPLATE)
    # Every kind that creates cycles by itself (as_needed and by_schedule are opened by
    # operators: the file keeps none of those).
    assert {m.recurrence for m in roadmap.measures} == {
        Recurrence.ONCE,
        Recurrence.ONCE_THEN_AS_NEEDED,
        Recurrence.ANNUAL,
        Recurrence.QUARTERLY,
        Recurrence.MONTHLY,
        Recurrence.DATES_YEARLY,
        Recurrence.PER_COHORT,
        Recurrence.AFTER,
    }
    m = {measure.number: measure for measure in roadmap.measures}
    assert m[1].done is not None
    assert m[1].done.on == date(2021, 12, 15)
    assert (m[2].cohort_day, m[2].cohort_offset) == ((12, 1), -1)
    assert m[4].until == date(2024, 12, 31)
    assert [(p.id, p.kind) for p in roadmap.parties if p.per_center] == [
        ("municipalities", PartyKind.MUNICIPALITY),
        ("schools", PartyKind.SCHOOL),
    ]
    assert m[4].responsible == ("municipalities",)
    # A school party without an address: each center's school is reminded.
    assert m[17].responsible == ("schools",)
    assert roadmap.party("schools").email == ""
    assert m[10].due_rule is not None
    assert m[10].due_rule.day_of_next_month == 5
    assert m[11].due_rule is not None
    assert (m[11].due_rule.days_after, m[11].due_rule.working) == (5, True)
    assert m[12].due_rule is not None
    assert m[12].due_rule.day_of_next_month == 10
    assert m[13].dates == ((6, 15), (12, 15))
    assert roadmap.cohort_years == range(2023, 2026)
    infra = roadmap.stages[0]
    assert (infra.stage, infra.year_offset) == ("infrastructure_agreed", -1)
    # until matters: without it the measure would have a 2025 cycle, for a 2026 cohort
    # the program does not have.
    for measure, periods in (
        (m[4], ["2022", "2023", "2024"]),
        (replace(m[4], until=None), ["2022", "2023", "2024", "2025"]),
    ):
        assert [c.period for c in measure_cycles(measure, period_end=roadmap.period_end)] == periods
    assert m[14].after is not None
    assert (m[14].after.measure, m[14].after.days, m[14].after.working) == (5, 10, False)
    assert [(i.number, i.due, i.month_only) for i in m[16].items] == [
        ("16.1", date(2022, 2, 28), True),
        ("16.2", date(2022, 2, 28), True),
        ("16.3", date(2022, 3, 15), False),
    ]
    ((mark, note),) = m[16].footnotes
    assert (mark, note.split()[0]) == ("*", "после")
    assert [mark for mark, _note in m[16].items[2].footnotes] == ["**"]
    assert m[15].after is not None
    assert (m[15].after.stage, m[15].after.days, m[15].after.working) == (
        "infrastructure_agreed",
        5,
        True,
    )


def _keys(value: object, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every mapping key of a YAML tree, with its path of keys (lists left out)."""
    found: set[tuple[str, ...]] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add((*path, str(key)))
            found |= _keys(item, (*path, str(key)))
    elif isinstance(value, list):
        for item in value:
            found |= _keys(item, path)
    return found


@pytest.mark.parametrize(
    "shipped", [EXAMPLE_FEDERAL_TEMPLATE, IVANOVO_159_RP], ids=["example", "ivanovo"]
)
def test_the_format_docs_show_every_key_the_shipped_files_use(shipped: Path) -> None:
    """The loader's docstring (the format's documentation) has an example line
    ``key: …`` for every key either shipped file writes; the keys chosen by the file
    (triggers under permissions, evidence kinds under done, footnote marks) are its
    own words."""
    import yaml

    from workflow.roadmap import loader

    doc = loader.__doc__ or ""
    keys = _keys(yaml.safe_load(shipped.read_text(encoding="utf-8")))
    free = {  # the file's own words: triggers, evidence kinds, footnote marks
        ("permissions", "center"),
        ("permissions", "cycle"),
        ("measures", "done", "evidence"),
        ("measures", "footnotes"),
        ("measures", "items", "footnotes"),
    }
    missing = sorted(
        ".".join(path)
        for path in keys
        if path[:-1] not in free
        and not re.search(rf"(^|[\s{{,]){re.escape(path[-1])}:(\s|$)", doc, re.MULTILINE)
    )
    assert not missing, f"keys without an example in the format docs: {missing}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_roadmap_validate_accepts_it_without_warnings(cli: Cli) -> None:
    result = cli("roadmap", "validate", str(EXAMPLE_FEDERAL_TEMPLATE))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"Файл {EXAMPLE_FEDERAL_TEMPLATE} корректен: дорожная карта «{CODE}», мероприятий 17."
    )
    assert result.stderr == ""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _load_both(cli: Cli, tmp_path: Path, day: date = START) -> None:
    """Ivanovo's roadmap and the example in one database, centers and municipality
    addresses imported into the example through the real CLI on ``day``."""
    now = moment(day, 8).isoformat()
    for args in (("init",), ("init", "--roadmap", str(EXAMPLE_FEDERAL_TEMPLATE))):
        result = cli("--now", now, *args)
        assert result.exit_code == 0, result.output
        assert "Предупреждение" not in result.output
    rows = "".join(f"{c};{n};{m};{y};{e}\n" for c, n, m, y, e in CENTERS)
    centers_csv = _write(
        tmp_path / "centers.csv",
        "Код;Наименование;Муниципальное образование;Год создания;Email\n" + rows,
    )
    result = cli("--now", now, "centers", "import", str(centers_csv), "--roadmap", CODE)
    assert result.exit_code == 0, result.output
    contacts = _write(
        tmp_path / "uo.csv",
        "municipality,email,recipient\n"
        + "".join(f"{m},{e},Управление образования ({m})\n" for m, e in UO.items()),
    )
    result = cli("--now", now, "municipalities", "import", str(contacts), "--roadmap", CODE)
    assert result.exit_code == 0, result.output


def _stored(engine: Engine, code: str) -> StoredRoadmap:
    with db.read(engine) as conn:
        return roadmap_store.resolve(conn, code)


def test_it_loads_beside_ivanovos_in_one_database(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    _load_both(cli, tmp_path)
    with engine.connect() as conn:
        assert roadmap_store.codes(conn) == [CODE, IVANOVO]
        roadmaps = dict(conn.execute(sa.select(ROADMAP.c.code, ROADMAP.c.id)).all())
        centers = conn.execute(sa.select(CENTER.c.roadmap_id, CENTER.c.code)).all()
    assert sorted(centers) == sorted((roadmaps[CODE], c[0]) for c in CENTERS)
    example, ivanovo = _stored(engine, CODE), _stored(engine, IVANOVO)
    assert example.definition.content_hash == load_roadmap(EXAMPLE_FEDERAL_TEMPLATE).content_hash
    assert ivanovo.definition.content_hash == load_roadmap(IVANOVO_159_RP).content_hash
    # One tick of each: each roadmap's cycles are its own (measure 1 of each is created
    # done by its file).
    for stored in (example, ivanovo):
        tick(engine, stored, now=moment(START, 9), queue=outbox_queue())
    with engine.connect() as conn:
        cycles = conn.execute(
            sa.select(CYCLE.c.roadmap_id, CYCLE.c.measure, CYCLE.c.period, CYCLE.c.state)
        ).all()
    assert (roadmaps[CODE], 1, "2021", "done") in cycles
    assert (roadmaps[IVANOVO], 1, "2020", "done") in cycles
    result = cli("roadmap", "show", "--roadmap", CODE)
    assert result.exit_code == 0, result.output
    assert (
        "Пример на основе федерального типового комплекса мер, не является распоряжением; "
        "период 01.01.2022 — 31.12.2025"
    ) in result.output


# «Внимание» lines of init and status: a measure of each center's municipality (4) or
# school (17) has nobody to remind before any center is registered.
NOBODY = {
    4: (
        "мероприятие № 4: некому напоминать — его выполняют органы управления образованием "
        "муниципалитетов центров, а ни одного центра ещё не зарегистрировано; его "
        "напоминания получает координатор (центры загружает tochka centers import)."
    ),
    17: (
        "мероприятие № 17: некому напоминать — его выполняют школы центров, а ни одного "
        "центра ещё не зарегистрировано; его напоминания получает координатор (центры "
        "загружает tochka centers import)."
    ),
}


def _attention(text: str) -> list[str]:
    """The «Внимание: мероприятие № N: некому напоминать — …» lines of an output."""
    flat = " ".join(text.split())
    return re.findall(
        r"Внимание: (мероприятие № \d+: некому напоминать — [^()]*\([^()]*\)\.)", flat
    )


def test_before_any_center_the_municipalities_measure_reminds_the_coordinator(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """Measure 4 (the municipalities' proposals, due 01.11.2022) before any center is
    registered: ``init`` and ``status`` say nobody is there to remind, its early rung
    (before-14, 18.10.2022) goes to the coordinator with the reason; once the centers
    and their authorities' addresses are loaded, the next rung (before-3, 28.10) goes to
    each authority, no longer to the coordinator, and ``status`` says nothing more."""
    init = cli("--now", moment(START, 8).isoformat(), "init", "--roadmap",
               str(EXAMPLE_FEDERAL_TEMPLATE))  # fmt: skip
    assert init.exit_code == 0, init.output
    assert _attention(init.stderr) == [NOBODY[4], NOBODY[17]]
    stored = _stored(engine, CODE)
    day = date(2022, 10, 18)
    queue = Recorder()
    tick(engine, stored, now=moment(day, 9), queue=queue)
    (m4,) = [r for r in queue.items if r.measure_number == 4]
    assert (m4.recipient.email, m4.key.split(":")[3]) == (MINISTRY, "before-14")
    assert m4.action == (
        "Мероприятие выполняют органы управления образованием муниципалитетов центров, но ни "
        "одного центра ещё не зарегистрировано: напоминаем вам. Передайте напоминание "
        "исполнителям; центры загружает tochka centers import."
    )
    text = Renderer().render_reminders([m4], now=moment(day, 9)).text
    assert "ни одного центра ещё не зарегистрировано: напоминаем вам" in " ".join(text.split())
    status = cli("--now", moment(day, 10).isoformat(), "status", "--roadmap", CODE)
    assert _attention(status.output) == [NOBODY[4], NOBODY[17]]  # 17: overdue, still open

    now = moment(day, 11).isoformat()
    rows = "".join(f"{c};{n};{m};{y};{e}\n" for c, n, m, y, e in CENTERS)
    centers_csv = _write(
        tmp_path / "centers.csv",
        "Код;Наименование;Муниципальное образование;Год создания;Email\n" + rows,
    )
    assert (
        cli("--now", now, "centers", "import", str(centers_csv), "--roadmap", CODE).exit_code == 0
    )
    contacts = _write(
        tmp_path / "uo.csv",
        "municipality,email,recipient\n"
        + "".join(f"{m},{e},Управление образования ({m})\n" for m, e in UO.items()),
    )
    assert (
        cli("--now", now, "municipalities", "import", str(contacts), "--roadmap", CODE).exit_code
        == 0
    )
    status = cli("--now", now, "status", "--roadmap", CODE)
    assert _attention(status.output) == []
    queue = Recorder()
    tick(engine, stored, now=moment(date(2022, 10, 28), 9), queue=queue)
    assert sorted(
        (r.recipient.email, r.key.split(":")[3]) for r in queue.items if r.measure_number == 4
    ) == sorted((email, "before-3") for email in UO.values())


def test_loaded_after_the_schools_date_init_warns_of_it_as_the_tick_reminds_of_it(
    cli: Cli, engine: Engine
) -> None:
    """Loaded on 18.10.2022, after measure 17's date (01.09.2022) and before any center:
    ``init`` names measure 17 beside measure 4, since the first tick creates its cycle
    overdue and reminds the coordinator of it at once (it named measure 4 alone: it
    only counted cycles open or due from today on)."""
    day = date(2022, 10, 18)
    init = cli("--now", moment(day, 8).isoformat(), "init", "--roadmap",
               str(EXAMPLE_FEDERAL_TEMPLATE))  # fmt: skip
    assert init.exit_code == 0, init.output
    assert _attention(init.stderr) == [NOBODY[4], NOBODY[17]]
    queue = Recorder()
    tick(engine, _stored(engine, CODE), now=moment(day, 9), queue=queue)
    (m17,) = [r for r in queue.items if r.measure_number == 17]
    assert m17.recipient.email == MINISTRY
    assert "ни одного центра ещё не зарегистрировано: напоминаем вам" in m17.action
    status = cli("--now", moment(day, 10).isoformat(), "status", "--roadmap", CODE)
    assert _attention(status.output) == [NOBODY[4], NOBODY[17]]


# --- the walk -------------------------------------------------------------------------

# The program's last day, and the day its roadmap closes (period end + closing.grace_days).
PROGRAM_END, CLOSES_ON = date(2025, 12, 31), date(2026, 3, 31)
# Operator acts before the tick of their day: the first monthly report is sent on time;
# the subsidy agreement is concluded the day before its deadline; center N1's
# infrastructure list is agreed before its deadline (15.12.2022); one item of the
# compound measure is done (its cycle only).
MONTHLY_DONE = date(2022, 2, 4)
SUBSIDY_DONE = date(2022, 2, 14)
N1_AGREED = date(2022, 12, 12)
ITEM_DONE = date(2022, 2, 21)
DONE = {
    (10, "2022-01"): MONTHLY_DONE,
    (5, "2022"): SUBSIDY_DONE,
    (16, "2022/16.1"): ITEM_DONE,
}
# The relative deadlines those acts start, by hand: (measure, period, due, from).
RELATIVE = [
    # «в течение 10 дней после заключения соглашения»: 10 days after 14.02.2022.
    (14, "2022", date(2022, 2, 24), SUBSIDY_DONE),
    # 5 working days after center N1's list was agreed (Monday 12.12.2022): 13-16, 19.12.
    (15, "центр N1", date(2022, 12, 19), N1_AGREED),
]
# Measure 11: «в течение 5 рабочих дней после окончания квартала», by the Russian
# calendar, written out: the New Year holidays push Q4's (01-08.01.2023 and 2024,
# 01-08.01.2025, 01-11.01.2026).
QUARTERLY_WORKING = {
    "2022-Q1": date(2022, 4, 7),  # 31.03 a Thursday: 01.04, 04-07.04
    "2022-Q2": date(2022, 7, 7),
    "2022-Q3": date(2022, 10, 7),
    "2022-Q4": date(2023, 1, 13),  # 09-13.01.2023
    "2023-Q1": date(2023, 4, 7),
    "2023-Q2": date(2023, 7, 7),
    "2023-Q3": date(2023, 10, 6),  # 30.09 a Saturday: 02-06.10
    "2023-Q4": date(2024, 1, 15),  # 09-12.01, 15.01.2024
    "2024-Q1": date(2024, 4, 5),
    "2024-Q2": date(2024, 7, 5),
    "2024-Q3": date(2024, 10, 7),  # 30.09 a Monday: 01-04, 07.10
    "2024-Q4": date(2025, 1, 15),  # 31.12.2024 a day off; 09-10, 13-15.01.2025
    "2025-Q1": date(2025, 4, 7),
    "2025-Q2": date(2025, 7, 7),
    "2025-Q3": date(2025, 10, 7),
    "2025-Q4": date(2026, 1, 16),  # 12-16.01.2026
}
QUARTERS = [f"{y}-Q{q}" for y in range(2022, 2026) for q in range(1, 5)]
MONTHS = [(y, m) for y in range(2022, 2026) for m in range(1, 13)]


def _next_month(year: int, month: int, day: int) -> date:
    return date(year + month // 12, month % 12 + 1, day)


# Every cycle of the program, written out by hand from the file's texts: (measure,
# period) -> due date. Measure 1 is done by the file (15.12.2021).
CYCLES: dict[tuple[int, str], date] = {
    (1, "2021"): date(2021, 12, 15),
    # «до 1 (15) декабря года, предшествующего году создания центров», cohorts 2023-2025.
    **{(2, str(y)): date(y - 1, 12, 1) for y in (2023, 2024, 2025)},
    **{(3, str(y)): date(y - 1, 12, 15) for y in (2023, 2024, 2025)},
    # «ежегодно, до 1 ноября, в 2022 - 2024 годах»: until 2024, no 2025 cycle.
    **{(4, str(y)): date(y, 11, 1) for y in (2022, 2023, 2024)},
    (5, "2022"): date(2022, 2, 15),
    **{(6, str(y)): date(y, 3, 1) for y in (2023, 2024, 2025)},
    **{(7, str(y)): date(y, 8, 25) for y in (2023, 2024, 2025)},
    **{(8, str(y)): date(y, 8, 25) for y in (2023, 2024, 2025)},
    **{(9, str(y)): date(y, 9, 1) for y in (2023, 2024, 2025)},
    # «ежемесячно, до 5 числа месяца, следующего за отчетным»: 48 months.
    **{(10, f"{y}-{m:02d}"): _next_month(y, m, 5) for y, m in MONTHS},
    **{(11, q): due for q, due in QUARTERLY_WORKING.items()},
    # «не позднее 10 числа месяца, следующего за отчетным кварталом».
    **{(12, q): _next_month(int(q[:4]), 3 * int(q[-1]), 10) for q in QUARTERS},
    # «до 15 июня и до 15 декабря, начиная с 2023 года»: labelled by the date.
    **{
        (13, d.isoformat()): d
        for y in (2023, 2024, 2025)
        for d in (date(y, 6, 15), date(y, 12, 15))
    },
    **{(m, p): due for m, p, due, _on in RELATIVE},
    # Measure 16's items: «февраль 2022 года» (the month's last day), 15.03.2022.
    (16, "2022/16.1"): date(2022, 2, 28),
    (16, "2022/16.2"): date(2022, 2, 28),
    (16, "2022/16.3"): date(2022, 3, 15),
    (17, "2022"): date(2022, 9, 1),
}
# A stage's deadline in its cohort's year Y (the infrastructure list in Y-1).
STAGES = {
    "infrastructure_agreed": (-1, 12, 15),
    "equipped": (0, 8, 25),
    "staff_trained": (0, 8, 25),
    "opened": (0, 9, 1),
    "reporting": (0, 10, 10),
}

# Measure 4 (the municipalities', due Tuesday 01.11.2022, never done): every rung to
# each municipality's authority once; the overdue rungs also to the coordinator, the
# escalation (in its own digest), and to no other fixed address.
MUNICIPAL = [
    ("2022-10-18", "before-14"),
    ("2022-10-28", "before-3"),  # 29.10 is a Saturday
    ("2022-11-01", "on_day"),
    ("2022-11-08", "overdue-7"),
    ("2022-11-15", "overdue-14"),
    ("2022-11-22", "overdue-21"),
    ("2022-11-29", "overdue-28"),
]
# Measure 17 (the schools', due Thursday 01.09.2022, never done): each center's school.
SCHOOLS = [
    ("2022-08-18", "before-14"),
    ("2022-08-29", "before-3"),
    ("2022-09-01", "on_day"),
    ("2022-09-08", "overdue-7"),
    ("2022-09-15", "overdue-14"),
    ("2022-09-22", "overdue-21"),
    ("2022-09-29", "overdue-28"),
]
# The program's last monthly report (due Monday 05.01.2026, a holiday: the term ends on
# Monday 12.01.2026), reminded after the program to its last rung.
LAST_MONTHLY = [
    ("2025-12-22", "before-14"),
    # before-3 (02.01.2026, a holiday) and on_day (05.01, a holiday) both move to the
    # working day before the holidays, 30.12.2025 (31.12.2025 is a day off): one rung.
    ("2025-12-30", "on_day"),
    ("2026-01-19", "overdue-7"),  # a week after the term's end, 12.01.2026
    ("2026-01-26", "overdue-14"),
    ("2026-02-02", "overdue-21"),
    ("2026-02-09", "overdue-28"),
]
OP = Actor(login="operator")


def _acts(engine: Engine, stored: StoredRoadmap, day: date) -> None:
    machine = TransitionEngine(engine, stored.definition, stored.id)
    for (measure, period), on in DONE.items():
        if day != on:
            continue
        with engine.connect() as conn:
            cycle = conn.execute(
                sa.select(CYCLE.c.id).where(
                    CYCLE.c.roadmap_id == stored.id, CYCLE.c.measure == measure,
                    CYCLE.c.period == period,
                )
            ).scalar_one()  # fmt: skip
        evidence = {kind: "№ 1" for kind in stored.definition.measure(measure).evidence}
        machine.fire_cycle(cycle, "start", actor=OP, now=moment(day, 8))
        machine.fire_cycle(cycle, "complete", actor=OP, now=moment(day, 8), evidence=evidence)
    if day == N1_AGREED:
        machine.fire_center("N1", "agree_infrastructure", actor=OP, now=moment(day, 8))


def _opens(due: date) -> date:
    """A scheduled cycle exists from its first rung's day: 14 days before it is due (the
    working day on or before)."""
    return working_day_on_or_before(due - timedelta(days=14))


def _expected_cycles(start: date, last: date) -> list[tuple[int, str, date, str]]:
    """Every cycle the walk from ``start`` to its last tick ``last`` has, with its state:
    done by the acts of the walk (and measure 1 by the file), else overdue once due more than two
    weeks before ``last`` (every term ends within 11 days of its due date), else still
    scheduled; none is due within those two weeks (checked)."""
    created = {(m, p): on for m, p, _due, on in RELATIVE}
    done = {**DONE, (1, "2021"): date(2021, 12, 15)}
    out = []
    for (measure, period), due in CYCLES.items():
        since = created.get((measure, period))
        if since is not None and not start <= since <= last:
            continue
        if measure != 1 and since is None and _opens(due) > last:
            continue
        on = done.get((measure, period))
        if on is not None and (measure == 1 or start <= on <= last):
            state = "done"
        else:
            assert not last - timedelta(days=14) <= due <= last, (measure, period)
            state = "overdue" if due < last else "scheduled"
        out.append((measure, period, due, state))
    return sorted(out)


def _expected(
    engine: Engine, stored: StoredRoadmap, start: date, last: date
) -> list[tuple[date, str]]:
    """Every reminder the ticks from ``start`` to ``last`` send: each deadline's rungs
    from the ladder (`tests.test_walk.sends`: the first tick catches up with the latest
    rung due), recipient by recipient; after the program only the reports due after it
    that close it (measures 10-12), no center stage."""

    def acted(day: date) -> date | None:
        return day if start <= day <= last else None

    roadmap = stored.definition
    policy = roadmap.reminders
    out: list[tuple[date, str]] = []
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date).where(
                CYCLE.c.roadmap_id == stored.id
            )
        ).all()
    created = {(m, p): on for m, p, _due, on in RELATIVE}
    for cycle_id, measure, period, due in rows:
        if measure == 1:  # done by the file: never reminded
            continue
        stop = acted(DONE[measure, period]) if (measure, period) in DONE else None
        parties = [roadmap.party(p) for p in roadmap.measure(measure).responsible]
        fixed = [p.email for p in parties if not p.per_center]
        routed = [
            *(UO.values() if any(p.kind is PartyKind.MUNICIPALITY for p in parties) else ()),
            *(c[4] for c in CENTERS if any(p.kind is PartyKind.SCHOOL for p in parties)),
        ]
        closes = measure in (10, 11, 12) and due > PROGRAM_END
        until = last if closes else min(last, PROGRAM_END)
        first = created.get((measure, period), _opens(due))
        for day, rung in sends(due, policy, start=max(start, first), end=until, stop=stop):
            to = fixed + routed
            if rung.startswith("overdue-") and MINISTRY not in to:
                to.append(MINISTRY)
            out += [(day, f"{CODE}:cycle:{cycle_id}:{rung}:{email}") for email in to]
    # Center stages, by cohort: each center's school and its municipality, the
    # coordinator once overdue; N1's infrastructure list stops on its agreement.
    for code, _name, municipality, cohort, email in CENTERS:
        for stage, (offset, month, day_of) in STAGES.items():
            due = date(cohort + offset, month, day_of)
            stop = acted(N1_AGREED) if (code, stage) == ("N1", "infrastructure_agreed") else None
            for day, rung in sends(due, policy, start=start, end=min(last, PROGRAM_END), stop=stop):
                key = f"{CODE}:center:{code}:{stage}:{rung}"
                out += [(day, f"{key}:{email}"), (day, f"{key}:{UO[municipality]}")]
                if rung.startswith("overdue-"):
                    out.append((day, f"{key}:{MINISTRY}"))
    return sorted(out)


def _by_recipient(sent: list[tuple[date, str]], cycle_id: int) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for day, key in sent:
        if key.startswith(f"{CODE}:cycle:{cycle_id}:"):
            rung, email = key.split(":")[3:5]
            found.setdefault(email, []).append((day.isoformat(), rung))
    return found


@pytest.mark.slow
def test_a_walk_of_the_example_through_its_program(
    cli: Cli, engine: Engine, tmp_path: Path, db_url: str
) -> None:
    """SQLite: the whole program, from its first working day (10.01.2022) to the day its
    roadmap closes (31.03.2026); PostgreSQL (slower commits) the
    same code for four months across the New Year, after a first tick catching up on
    the year. The ticks are the daemon's: every working day (a rung falls on a working
    day; `tests.test_walk` shows daily ticks send the same)."""
    full = db_url.startswith("sqlite")
    start, end = (START, CLOSES_ON) if full else (date(2022, 10, 3), date(2023, 1, 31))
    _load_both(cli, tmp_path, start)
    stored = _stored(engine, CODE)
    outbox = outbox_queue(Renderer())
    # Letters are rendered into the outbox for the first year (their content and one
    # digest a day checked below); from 2023 on the tick's queue keeps the reminders as
    # they are handed over, unrendered (the renderer's own cost, tested elsewhere, would
    # make this walk take minutes): the reconciler, its SQL and its sent rungs are the
    # same either way.
    recorder = Recorder()
    ticked = [d for d in days(start, end) if d == start or is_working_day(d)]
    began = time.process_time()
    for day in ticked:
        _acts(engine, stored, day)
        queue = outbox if day.year == 2022 else recorder
        tick(engine, stored, now=moment(day, 9), queue=queue)
    log.info("example walk: %d ticks, %.1f s CPU", len(ticked), time.process_time() - began)
    # The roadmap closes on 31.03.2026: that tick and the last before it.
    last = ticked[-2] if full else ticked[-1]
    assert closing.closes_on(stored.definition) == CLOSES_ON
    assert (not full) or ticked[-1] == CLOSES_ON

    with engine.connect() as conn:
        got = sorted(
            (int(r.measure), str(r.period), r.due_date, str(r.state))
            for r in conn.execute(
                sa.select(CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date, CYCLE.c.state).where(
                    CYCLE.c.roadmap_id == stored.id
                )
            )
        )
        ivanovo = _stored(engine, IVANOVO)
        assert not conn.execute(
            sa.select(CYCLE.c.id).where(CYCLE.c.roadmap_id == ivanovo.id)
        ).all(), "the example's ticks create nothing for Ivanovo's roadmap"
    assert got == _expected_cycles(start, last)
    if full:
        assert len(got) == len(CYCLES) == 115

    with engine.connect() as conn:
        sent = sorted(
            (r.send_on, r.key)
            for r in conn.execute(sa.select(REMINDER.c.send_on, REMINDER.c.key))
            if r.key.startswith(f"{CODE}:")
        )
        sent = sorted([*sent, *((r.send_on, r.key) for r in recorder.items)])
        letters = conn.execute(sa.select(OUTBOX.c.recipient, OUTBOX.c.key, OUTBOX.c.kind)).all()
    assert len(sent) == len({k for _d, k in sent}), "a reminder was queued twice"
    assert sent == _expected(engine, stored, start, last)
    # One letter (its digest) per recipient and day, whatever the number of items.
    daily = Counter((who, key.split(":")[1]) for who, key, kind in letters if kind == "digest")
    assert daily
    assert set(daily.values()) == {1}

    # The municipalities' measure, recipient by recipient, literally.
    (m4,) = _ids(engine, stored, 4, "2022")
    overdue = [r for r in MUNICIPAL if r[1].startswith("overdue-")]
    assert _by_recipient(sent, m4) == {
        **{email: MUNICIPAL for email in UO.values()},
        MINISTRY: overdue,
    }
    if full:
        # The schools' measure: every rung to each center's school once.
        (m17,) = _ids(engine, stored, 17, "2022")
        overdue = [r for r in SCHOOLS if r[1].startswith("overdue-")]
        assert _by_recipient(sent, m17) == {**{c[4]: SCHOOLS for c in CENTERS}, MINISTRY: overdue}
        # After the program: only the reports due after it; the last monthly one literally.
        (m10,) = _ids(engine, stored, 10, "2025-12")
        assert _by_recipient(sent, m10) == {MINISTRY: LAST_MONTHLY}
        after = {int(key.split(":")[2]) for day, key in sent if day > PROGRAM_END}
        with engine.connect() as conn:
            closing_reports = {
                (int(r.measure), str(r.period))
                for r in conn.execute(
                    sa.select(CYCLE.c.measure, CYCLE.c.period).where(CYCLE.c.id.in_(after))
                )
            }
        assert closing_reports == {
            (10, "2025-12"),
            (11, "2025-Q4"),
            (12, "2025-Q4"),
        }
        assert max(day for day, _key in sent) < CLOSES_ON
    # Each authority's letter of 18.10.2022 names its own municipality's centers only.
    with engine.connect() as conn:
        south = [
            _plain(raw)
            for raw in conn.execute(
                sa.select(OUTBOX_LETTER.c.message)
                .select_from(OUTBOX_WITH_LETTER)
                .where(
                    OUTBOX.c.recipient == UO["Южный район"],
                    OUTBOX.c.key.like("digest:2022-10-18:%"),
                )
            ).scalars()
        ]
    (letter,) = south
    flat = " ".join(letter.split())
    assert "(МБОУ «Южная СОШ № 1», МБОУ «Южная СОШ № 2»)" in flat
    assert "Северная" not in flat
    assert "Примерска" not in flat


def _ids(engine: Engine, stored: StoredRoadmap, measure: int, period: str) -> list[int]:
    with engine.connect() as conn:
        return [
            int(i)
            for i in conn.execute(
                sa.select(CYCLE.c.id).where(
                    CYCLE.c.roadmap_id == stored.id, CYCLE.c.measure == measure,
                    CYCLE.c.period == period,
                )
            ).scalars()
        ]  # fmt: skip


def _plain(raw: bytes) -> str:
    from email import message_from_bytes
    from email import policy as email_policy

    message = message_from_bytes(bytes(raw), policy=email_policy.default)
    body = message.get_body(("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


def test_a_per_cohort_cycle_is_named_by_its_cohort(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """Measure 2 prepares each cohort the year before («до 1 декабря года,
    предшествующего году создания центров»): its cycle labelled «2023» is due 01.12.2022
    and is about the centers of 2023. Letters, the CLI and the reports say so («центры
    2023 г.»), never «2023 г.», the year a person would take for the term's."""
    from workflow.views import dashboard, final

    day = date(2022, 11, 17)  # measure 2's 2023 cycle opens: 14 days before 01.12.2022
    _load_both(cli, tmp_path, day)
    stored = _stored(engine, CODE)
    queue = Recorder()
    tick(engine, stored, now=moment(day, 9), queue=queue)
    mine = [r for r in queue.items if r.measure_number == 2]
    assert mine
    assert {(r.period, r.period_title) for r in mine} == {("2023", "центры 2023 г.")}
    text = Renderer().render_reminders(mine[:1], now=moment(day, 9)).text
    assert "Мероприятие № 2, период: центры 2023 г.\n" in text
    # An annual measure's year stays a year.
    (annual,) = [r for r in queue.items if r.measure_number == 4 and r.recipient.email == MINISTRY]
    assert annual.period_title == "2022 г."

    listed = cli("--now", moment(day, 10).isoformat(), "cycles", "list", "--roadmap", CODE)
    assert listed.exit_code == 0, listed.output
    (row,) = [line for line in listed.output.splitlines() if "01.12.2022" in line]
    assert "центры 2023 г." in row
    with engine.connect() as conn:
        report = final.build(conn, stored, now=moment(day, 10))
        board = dashboard.build(conn, stored, now=moment(day, 10))
    (line,) = [c for c in report.cycles if c.measure == 2]
    assert (line.period, line.name) == ("центры 2023 г.", "Мероприятие № 2 (центры 2023 г.)")
    assert "Мероприятие № 2 (центры 2023 г.)" in [u.title for u in board.upcoming]
    html = dashboard.render_html(board)
    assert "№ 2, центры 2023 г.: срок 01.12.2022" in html


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_schools_letter_for_another_measure_is_not_a_monitoring_report(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """Measure 17 (the schools' own pages about their centers, due 01.09.2022) is reminded
    to each center's school, but it is not the indicators' measure: its letter is about
    the pages, not «показатели за 2022 г.», and asks for them, not for indicators."""
    day = date(2022, 9, 8)  # the first overdue rung
    _load_both(cli, tmp_path, day)
    stored = _stored(engine, CODE)
    queue = Recorder()
    tick(engine, stored, now=moment(day, 9), queue=queue)
    (mine,) = [
        r for r in queue.items if r.measure_number == 17 and r.recipient.email == "n1@example.org"
    ]
    letter = Renderer().render_reminders([mine], now=moment(day, 9))
    assert "показател" not in letter.subject.lower()
    assert letter.subject.startswith("Просрочено на 7 дней: Создание на официальных сайтах")
    assert letter.subject.endswith(" — 2022 г. (01.09.2022)")
    assert "показател" not in letter.text.lower()
    assert "Мероприятие № 17, период: 2022 г." in letter.text
    assert "Что сделать: Просим выполнить мероприятие в вашей школе" in letter.text
    assert "ссылка на раздел о центре «Точка роста» на официальном сайте" in letter.text
