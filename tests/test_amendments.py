"""Issue 13, items 5 and 6: a roadmap amendment as a new version, and one deadline moved.

The real CLI against a real SQLite file and PostgreSQL: the shipped 159-рп roadmap is
loaded, ticked to 20.02.2023 (measure 5's cycles 2021–2023 exist), then an amendment
(«№ 45-рп от 15.03.2023») extends the program to 31.12.2024 and moves measure 5 from
01.03 to 15.05. The diff's whole text, the cycles created after loading, the revision
events and rows, `audit verify`; each refusal with nothing changed; a reschedule in
`history`, in the next reminder and in the calendar's SEQUENCE.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.ics import deadline_sequence
from notifications.outbox import OUTBOX_LETTER, OUTBOX_WITH_LETTER
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.storage.tables import CYCLE, EVENT, REVISION, VERSION

DECREE = (
    "№ 45-рп от 15.03.2023 «О внесении изменений в распоряжение Правительства Ивановской "
    "области от 07.12.2020 № 159-рп»"
)
AMENDED_BY = (
    'amended_by: {number: "45-рп", date: "15.03.2023", title: "О внесении изменений в '
    'распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп"}\n'
)


def _variant(tmp_path: Path, name: str, *pairs: tuple[str, str]) -> Path:
    text = Path(IVANOVO_159_RP).read_text(encoding="utf-8")
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def amendment(tmp_path: Path) -> Path:
    """The shipped file, amended: period to 31.12.2024, measure 5 due 15.05, not 01.03."""
    return _variant(
        tmp_path,
        "amended.yaml",
        ('region: "', AMENDED_BY + 'region: "'),
        ('end: "2023-12-31"}', 'end: "2024-12-31"}'),
        ('{kind: annual, first_due: "2021-03-01"}', '{kind: annual, first_due: "2021-05-15"}'),
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def refused(result: Result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def _snapshot(engine: Engine) -> tuple[int, int, int, list[tuple[int, object, int]]]:
    with db.read(engine) as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar_one()
        versions = conn.execute(sa.select(sa.func.count()).select_from(VERSION)).scalar_one()
        revisions = conn.execute(sa.select(sa.func.count()).select_from(REVISION)).scalar_one()
        cycles = [
            (r.id, r.due_date, r.version)
            for r in conn.execute(sa.select(CYCLE).order_by(CYCLE.c.id))
        ]
    return events, versions, revisions, cycles


@pytest.fixture
def program(cli: Callable[..., Result], engine: Engine) -> Callable[..., Result]:
    """The shipped roadmap loaded on 11.01.2021 and ticked on 20.02.2023."""
    ok(cli("--now", "2021-01-11", "init"))
    ok(cli("--now", "2023-02-20", "tick"))
    return cli


def _measure5(engine: Engine) -> dict[str, tuple[int, str, int]]:
    with db.read(engine) as conn:
        rows = conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.period, CYCLE.c.due_date, CYCLE.c.version).where(
                CYCLE.c.measure == 5
            )
        )
        return {r.period: (r.id, r.due_date.isoformat(), r.version) for r in rows}


def test_amendment_extends_the_period_and_moves_a_deadline(
    program: Callable[..., Result], engine: Engine, tmp_path: Path
) -> None:
    cli = program
    file = amendment(tmp_path)
    old_hash = load_roadmap(IVANOVO_159_RP).content_hash[:12]
    new_hash = load_roadmap(file).content_hash[:12]
    before = _measure5(engine)
    assert {p: d for p, (_, d, _) in before.items()} == {
        "2021": "2021-03-01",
        "2022": "2022-03-01",
        "2023": "2023-03-01",
    }

    diff = ok(cli("roadmap", "diff", str(file)))
    assert diff.output == (
        f"Новая версия дорожной карты «ivanovo-2021-2023»: sha256 {old_hash} → {new_hash}.\n"
        f"Основание: {DECREE}.\n"
        "Период программы продлён до 31.12.2024 (было 31.12.2023).\n"
        "Мероприятие 5 изменено: первый срок 01.03.2021 → 15.05.2021.\n"
        "Мероприятие 5: срок цикла 2021 переносится с 01.03.2021 на 15.05.2021.\n"
        "Мероприятие 5: срок цикла 2022 переносится с 01.03.2022 на 15.05.2022.\n"
        "Мероприятие 5: срок цикла 2023 переносится с 01.03.2023 на 15.05.2023.\n"
        "Мероприятие 5: будет создан цикл 2024.\n"
        "Мероприятие 6: будет создан цикл 2024.\n"
        "Мероприятие 7: будет создан цикл 2024.\n"
        "Мероприятие 8: будет создан цикл 2024.\n"
        "Мероприятие 9: будут созданы циклы 2024-Q1 … 2024-Q4.\n"
    )
    # The diff changed nothing.
    assert _measure5(engine) == before

    loaded = ok(cli("--now", "2023-03-20", "roadmap", "load", str(file)))
    assert f"загружена новая версия по {DECREE}" in loaded.output
    assert "сроков циклов перенесено: 3" in loaded.output
    after = _measure5(engine)
    assert {p: (d, v) for p, (_, d, v) in after.items()} == {
        "2021": ("2021-05-15", before["2021"][2] + 1),
        "2022": ("2022-05-15", before["2022"][2] + 1),
        "2023": ("2023-05-15", before["2023"][2] + 1),
    }
    with db.read(engine) as conn:
        versions = conn.execute(sa.select(VERSION).order_by(VERSION.c.version)).all()
        revisions = conn.execute(sa.select(REVISION).order_by(REVISION.c.id)).all()
        events = {
            e.seq: e
            for e in conn.execute(sa.select(EVENT).where(EVENT.c.trigger.in_(["revise", "load"])))
        }
    # Both versions kept, with their hash and the amending reference.
    assert [(v.version, v.content_hash[:12], v.amended_by) for v in versions] == [
        (1, old_hash, None),
        (2, new_hash, DECREE),
    ]
    assert Path(IVANOVO_159_RP).read_text(encoding="utf-8") == versions[0].source
    # One revision per open cycle moved: original, revised, the authorising document.
    assert [
        (r.cycle_id, r.original_due.isoformat(), r.revised_due.isoformat(), r.document)
        for r in revisions
    ] == [(after[p][0], f"{p}-03-01", f"{p}-05-15", DECREE) for p in ("2021", "2022", "2023")]
    for r in revisions:
        event = events[r.event_seq]
        assert event.trigger == "revise"
        assert event.entity_id == r.cycle_id
        assert event.from_state == event.to_state
        assert event.evidence == {"amended_by": DECREE}
        assert event.comment.startswith(
            f"срок перенесён с {r.original_due:%d.%m.%Y} на {r.revised_due:%d.%m.%Y}"
        )
    (load,) = [e for e in events.values() if e.trigger == "load" and e.from_state]
    assert load.comment == f"sha256 {old_hash} → {new_hash}; {DECREE}"
    ok(cli("audit", "verify"))
    # Loading times on the roadmap's clock, named «МСК», never UTC (21:00 the day before).
    assert ok(cli("roadmap", "versions")).output.splitlines() == [
        f"1. sha256 {old_hash}, период 01.01.2021 — 31.12.2023; исходная редакция; "
        "загрузил operator 11.01.2021 00:00 МСК",
        f"2. sha256 {new_hash}, период 01.01.2021 — 31.12.2024; {DECREE}; "
        "загрузил operator 20.03.2023 00:00 МСК",
    ]

    # The cycles the extension implies are created by the ticks of 2024.
    with db.read(engine) as conn:
        known = set(conn.execute(sa.select(CYCLE.c.id)).scalars())
    ok(cli("--now", "2024-12-20", "tick"))
    with db.read(engine) as conn:
        created = {
            (r.measure, r.period, r.due_date.isoformat())
            for r in conn.execute(sa.select(CYCLE).where(CYCLE.c.id.not_in(known)))
        }
    assert {c for c in created if c[1].startswith("2024") or c[1] == "2023-Q4"} == {
        (5, "2024", "2024-05-15"),
        (6, "2024", "2024-08-25"),
        (7, "2024", "2024-08-25"),
        (8, "2024", "2024-09-01"),
        (9, "2023-Q4", "2024-01-01"),
        (9, "2024-Q1", "2024-04-01"),
        (9, "2024-Q2", "2024-07-01"),
        (9, "2024-Q3", "2024-10-01"),
        (9, "2024-Q4", "2025-01-01"),
    }
    ok(cli("audit", "verify"))

    # Shortening the period back under the 2024 cycles is refused, nothing changed.
    state = _snapshot(engine)
    for command in ("diff", "load"):
        refused(
            cli("--now", "2024-12-21", "roadmap", command, str(IVANOVO_159_RP)),
            "Период сокращён до 31.12.2023",
            "Оставьте окончание программы не раньше",
            # The command named as its help names the cycle: by НОМЕР.
            "(tochka cycles fire НОМЕР cancel)",
        )
    assert _snapshot(engine) == state


def test_an_amendment_that_drops_a_measure_or_changes_the_code_is_refused(
    program: Callable[..., Result], engine: Engine, tmp_path: Path
) -> None:
    cli = program
    text = Path(IVANOVO_159_RP).read_text(encoding="utf-8")
    start, end = text.index("  - number: 5\n"), text.index("  - number: 6\n")
    dropped = tmp_path / "dropped.yaml"
    dropped.write_text(text[:start] + text[end:], encoding="utf-8")
    load_roadmap(dropped)  # a valid file: only the database refuses it
    recoded = _variant(tmp_path, "recoded.yaml", ("code: ivanovo-2021-2023", "code: ivanovo-2024"))
    state = _snapshot(engine)
    for command in ("diff", "load"):
        refused(
            cli("--now", "2023-03-20", "roadmap", command, str(dropped)),
            "Мероприятие 5 исключено, а в базе есть его циклы (3)",
            "Верните мероприятие в файл",
            "(tochka cycles fire НОМЕР cancel)",
        )
    # `init --roadmap` stores through the same check (the store refuses, not only the CLI).
    refused(
        cli("--now", "2023-03-20", "init", "--roadmap", str(dropped)),
        "Дорожная карта не загружена",
        "Мероприятие 5 исключено, а в базе есть его циклы (3)",
    )
    for command in ("diff", "load"):
        refused(
            cli("--now", "2023-03-20", "roadmap", command, str(recoded)),
            "не совпадает с загруженной «ivanovo-2021-2023»",
            "Верните в файл code: ivanovo-2021-2023",
        )
    assert _snapshot(engine) == state


def _event(path: Path, uid: str) -> tuple[int, str, date]:
    """SEQUENCE, DESCRIPTION and DTSTART of the event ``uid`` in a calendar file."""
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    (event,) = [e for e in cal.walk("VEVENT") if str(e["UID"]) == uid]
    return int(event["SEQUENCE"]), str(event["DESCRIPTION"]), event.decoded("DTSTART")


def test_one_deadline_moved_is_audited_and_shown_everywhere(
    program: Callable[..., Result], engine: Engine, tmp_path: Path
) -> None:
    cli = program
    cycle_id, due, _ = _measure5(engine)["2023"]
    assert due == "2023-03-01"
    uid = "ivanovo-2021-2023-cycle-5-2023@tochka"
    ok(cli("--now", "2023-02-21", "calendar", "export", "-o", str(tmp_path / "before.ics")))
    seq_before = _event(tmp_path / "before.ics", uid)[0]
    assert seq_before == deadline_sequence(date(2023, 3, 1))

    # Refused, each in Russian, nothing changed.
    state = _snapshot(engine)
    move = ("--now", "2023-02-21", "cycles", "reschedule", str(cycle_id))
    refused(cli(*move, "--due", "2023-06-01"), "не указана причина (--reason)")
    refused(cli(*move, "--due", "2023-06-01", "--reason", "  "), "не указана причина")
    refused(
        cli(*move, "--due", "2020-12-31", "--reason", "письмо"),
        "вне допустимых дат переноса: не раньше начала программы 01.01.2021",
    )
    # After the roadmap's close day (31.12.2023 + 90 days) nothing would ever remind it.
    refused(
        cli(*move, "--due", "2024-03-31", "--reason", "письмо"),
        "срок 31.03.2024 вне допустимых дат переноса",
        "не позже дня закрытия программы 30.03.2024",
    )
    # A kind the roadmap does not know is named as such; the kinds are listed with names.
    refused(
        cli(*move, "--due", "2023-06-01", "--reason", "р", "--evidence", "письмо=№ 04-123"),
        "--evidence «письмо=№ 04-123»: неизвестный вид документа «письмо».",
        "department_order — приказ Департамента образования Ивановской области;",
        "operator_letter — письмо федерального оператора;",
    )
    refused(
        cli(*move, "--due", "2023-06-01", "--reason", "р", "--evidence", "приказ № 77"),
        "--evidence «приказ № 77»: укажите документ как ВИД=ТЕКСТ.",
        "department_order — приказ Департамента",
    )
    refused(cli(*move, "--due", "2023-06-01", "--reason", "письмо", actor="stranger"))
    assert _snapshot(engine)[1:] == state[1:]  # the refusal of «stranger» is recorded only
    ok(cli("--now", "2023-02-21", "cycles", "fire", "4", "cancel", "--comment", "не нужен"))
    refused(
        cli(
            "--now",
            "2023-02-21",
            "cycles",
            "reschedule",
            "4",
            "--due",
            "2023-06-01",
            "--reason",
            "письмо",
        ),
        "уже отменён, его срок не переносится",
    )

    moved = ok(
        cli(
            *move,
            "--due",
            "01.06.2023",
            "--reason",
            "письмо Минпросвещения России от 10.02.2023 № 04-123",
            "--evidence",
            "department_order=приказ Департамента от 20.02.2023 № 77",
        )
    )
    assert f"Срок цикла № {cycle_id} перенесён с 01.03.2023 на 01.06.2023." in moved.output
    with db.read(engine) as conn:
        (revision,) = conn.execute(sa.select(REVISION)).all()
    assert (revision.cycle_id, revision.original_due.isoformat()) == (cycle_id, "2023-03-01")
    assert revision.revised_due.isoformat() == "2023-06-01"
    assert revision.reason == "письмо Минпросвещения России от 10.02.2023 № 04-123"
    assert revision.document == "приказ Департамента от 20.02.2023 № 77"

    history = ok(cli("--wide", "history", "cycle", str(cycle_id))).output
    assert "перенос срока" in history
    assert (
        "срок перенесён с 01.03.2023 на 01.06.2023: письмо Минпросвещения России от "
        "10.02.2023 № 04-123" in history
    )
    assert "документ: приказ Департамента от 20.02.2023 № 77" in history
    ok(cli("audit", "verify"))

    # The next reminder is the revised date's first rung (14 days before, a working day).
    preview = json.loads(
        ok(
            cli("--json", "--now", "2023-02-22", "reminders", "preview", "--until", "2023-06-30")
        ).output
    )
    mine = [p for p in preview if p["deadline_id"] == f"cycle:{cycle_id}"]
    assert mine[0]["deadline"] == "2023-06-01"
    assert (mine[0]["send_on"], mine[0]["rung"]) == ("2023-05-18", "before-14")

    # The calendar event is the same UID with a greater SEQUENCE.
    ok(cli("--now", "2023-02-22", "calendar", "export", "-o", str(tmp_path / "after.ics")))
    seq_after, text, start = _event(tmp_path / "after.ics", uid)
    assert seq_after > seq_before
    assert start == date(2023, 6, 1)
    assert text.startswith("Срок: 01.06.2023.\nСрок перенесён с 01.03.2023 на 01.06.2023.\n")

    # Moved again, earlier this time: the SEQUENCE still grows; the letter says so.
    ok(cli(*move, "--due", "2023-05-22", "--reason", "приказ Департамента № 80"))
    ok(cli("--now", "2023-02-23", "calendar", "export", "-o", str(tmp_path / "again.ics")))
    seq_again, text, start = _event(tmp_path / "again.ics", uid)
    assert seq_again > seq_after
    assert start == date(2023, 5, 22)
    assert "Срок перенесён с 01.03.2023 на 22.05.2023." in text
    ok(cli("--now", "2023-05-08 09:00", "tick"))  # 14 days before 22.05
    with db.read(engine) as conn:
        stored_letters = (
            conn.execute(sa.select(OUTBOX_LETTER.c.message).select_from(OUTBOX_WITH_LETTER))
            .scalars()
            .all()
        )
    bodies = [
        message_from_bytes(m, policy=policy.default).get_body(("plain",)).get_content()
        for m in stored_letters
    ]
    mine = [b for b in bodies if "Срок перенесён с 01.03.2023 на 22.05.2023" in b]
    assert mine, "no letter names the moved deadline"
    assert "22 мая 2023 г." in mine[0]


def test_an_upgraded_database_keeps_its_roadmap_as_version_1(db_url: str) -> None:
    """Migration 0008: a roadmap loaded before versions were kept becomes version 1."""
    from alembic import command

    from workflow.storage import schema
    from workflow.storage.tables import ROADMAP

    eng = db.make_engine(db_url, create_dir=True)
    try:
        with db.write(eng) as conn:
            cfg: Any = schema.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0007")
        definition = load_roadmap(IVANOVO_159_RP)
        with db.write(eng) as conn:
            conn.execute(
                sa.insert(ROADMAP).values(
                    code=definition.code,
                    title=definition.title,
                    content_hash=definition.content_hash,
                    source=definition.source,
                    timezone=definition.timezone,
                    period_start=definition.period_start,
                    period_end=definition.period_end,
                    loaded_at=datetime(2021, 1, 11, 9, 0, tzinfo=UTC),
                )
            )
        schema.upgrade(eng)
        with db.read(eng) as conn:
            (row,) = conn.execute(sa.select(VERSION)).all()
        assert (row.version, row.content_hash, row.source) == (
            1,
            definition.content_hash,
            definition.source,
        )
        assert row.amended_by is None
    finally:
        eng.dispose()


def _cycle(engine: Engine, measure: int, period: str) -> tuple[int, str, str]:
    with db.read(engine) as conn:
        row = conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.state, CYCLE.c.due_date).where(
                CYCLE.c.measure == measure, CYCLE.c.period == period
            )
        ).one()
    return int(row.id), str(row.state), row.due_date.isoformat()


def test_an_overdue_cycle_moved_to_a_future_term_is_open_again(
    cli: Callable[..., Result], engine: Engine
) -> None:
    """Measure 9's 2021-Q4 report (due Saturday 01.01.2022, term to 10.01) is overdue on
    11.01.2022; moved to 20.01.2022 it is «запланирован» again, is not marked on 12.01 and
    is overdue again (and on the overdue ladder) only after 20.01. The 2021-Q3 report, in
    progress when it went overdue, goes back to «выполняется»."""
    ok(cli("--now", "2021-01-11", "init"))
    ok(cli("--now", "2021-09-20", "tick"))
    q3, _, _ = _cycle(engine, 9, "2021-Q3")
    ok(cli("--now", "2021-09-20", "cycles", "fire", str(q3), "start"))
    ok(cli("--now", "2022-01-11", "tick"))
    q4, q4_state, q4_due = _cycle(engine, 9, "2021-Q4")
    assert (q4_state, q4_due, _cycle(engine, 9, "2021-Q3")[1]) == (
        "overdue",
        "2022-01-01",
        "overdue",
    )

    move = ("--now", "2022-01-11", "cycles", "reschedule")
    ok(cli(*move, str(q4), "--due", "2022-01-20", "--reason", "приказ Департамента № 3"))
    ok(cli(*move, str(q3), "--due", "2022-01-31", "--reason", "приказ Департамента № 3"))
    assert _cycle(engine, 9, "2021-Q4")[1:] == ("scheduled", "2022-01-20")
    assert _cycle(engine, 9, "2021-Q3")[1:] == ("in_progress", "2022-01-31")
    with db.read(engine) as conn:
        moves = conn.execute(
            sa.select(EVENT.c.entity_id, EVENT.c.trigger, EVENT.c.from_state, EVENT.c.to_state)
            .where(EVENT.c.trigger == "reschedule")
            .order_by(EVENT.c.seq)
        ).all()
    assert [tuple(m) for m in moves] == [
        (q4, "reschedule", "overdue", "scheduled"),
        (q3, "reschedule", "overdue", "in_progress"),
    ]
    ok(cli("audit", "verify"))

    ok(cli("--now", "2022-01-12", "tick"))
    ok(cli("--now", "2022-01-20", "tick"))
    assert _cycle(engine, 9, "2021-Q4")[1] == "scheduled"  # 20.01 is the term's last day
    ok(cli("--now", "2022-01-21", "tick"))
    assert _cycle(engine, 9, "2021-Q4")[1] == "overdue"
    assert _cycle(engine, 9, "2021-Q3")[1] == "in_progress"
    preview = json.loads(
        ok(
            cli("--json", "--now", "2022-01-21", "reminders", "preview", "--until", "2022-02-28")
        ).output
    )
    rungs = [(p["send_on"], p["rung"]) for p in preview if p["deadline_id"] == f"cycle:{q4}"]
    assert rungs[:1] == [("2022-01-27", "overdue-7")], rungs
    ok(cli("audit", "verify"))


def test_a_diff_names_parties_by_their_names(
    program: Callable[..., Result], tmp_path: Path
) -> None:
    file = _variant(
        tmp_path,
        "parties.yaml",
        ('email: "coordinator@example.org"', 'email: "do@ivedu.ru"'),
        ('name: "федеральный оператор"', 'name: "ФГАУ «Центр просветительских инициатив»"'),
    )
    diff = ok(program("roadmap", "diff", str(file))).output
    assert (
        "Сторона «Департамент образования Ивановской области»: адрес "
        "coordinator@example.org → do@ivedu.ru.\n" in diff
    )
    assert (
        "Сторона «федеральный оператор» переименована: «ФГАУ «Центр просветительских "
        "инициатив»».\n" in diff
    )
    assert "department" not in diff
    assert "federal_operator" not in diff
