"""Issue 13, item 6: one center's stage deadline moved by an order (`tochka centers reschedule`).

The real CLI against a real SQLite file and PostgreSQL, on the shipped 159-рп roadmap:
three centers of cohort 2022 in one municipality; A1 and A2 open on time (30.08.2022),
A3 is withdrawn. On 01.09.2022 an order moves A1's «отчитывается» (from 01.10.2022) to
15.12.2022. Then: A1 is reminded by the new date and not the old, A2 still by the old;
the calendar keeps A1's UID with a greater SEQUENCE (and A2's event as it was), the
letter's attachment too; `centers show` and `history` show the revision; the dashboard,
the weekly summary's long-overdue list and the final report judge A1 by its own date;
`audit verify` passes. Each refusal changes nothing (the whole database compared).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import icalendar
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.ics import deadline_sequence
from notifications.outbox import OUTBOX_LETTER, OUTBOX_WITH_LETTER
from workflow.roadmap.store import resolve
from workflow.storage.tables import CENTER, EVENT, HEAD, SENT, STAGE_REVISION, all_tables

CENTERS = (
    "Код;Наименование;Муниципальное образование;Год создания;Email\n"
    "A1;МБОУ «Школа № 1»;Шуйский район;2022;a1@school.ru\n"
    "A2;МБОУ «Школа № 2»;Шуйский район;2022;a2@school.ru\n"
    "A3;МБОУ «Школа № 3»;Шуйский район;2022;a3@school.ru\n"
)
REASON = "письмо Минпросвещения России от 25.08.2022 № 04-321"
ORDER = "приказ Департамента от 31.08.2022 № 90"
UID_A1 = "ivanovo-2021-2023-center-A1-reporting-9-2022@tochka"
UID_A2 = "ivanovo-2021-2023-center-A2-reporting-9-2022@tochka"

Cli = Callable[..., Result]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def refused(result: Result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def dump(engine: Engine, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (the outbox's too), in a stable order."""
    result: dict[str, list[tuple[object, ...]]] = {}
    with db.read(engine) as conn:
        for table in all_tables():
            if table.name in skip:
                continue
            rows = conn.execute(sa.select(table)).all()
            result[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return result


def event_of(path: Path, uid: str) -> tuple[int, str, date]:
    """SEQUENCE, DESCRIPTION and DTSTART of the event ``uid`` in a calendar file."""
    return event_in(path.read_bytes(), uid)


def event_in(data: bytes, uid: str) -> tuple[int, str, date]:
    cal = icalendar.Calendar.from_ical(data)
    (event,) = [e for e in cal.walk("VEVENT") if str(e["UID"]) == uid]
    return int(event["SEQUENCE"]), str(event["DESCRIPTION"]), event.decoded("DTSTART")


def center_ids(engine: Engine) -> dict[str, int]:
    with db.read(engine) as conn:
        return {str(c): int(i) for c, i in conn.execute(sa.select(CENTER.c.code, CENTER.c.id))}


def reporting_rungs(engine: Engine, center: int) -> list[tuple[str, str]]:
    """The rungs recorded for a center's «reporting» stage: (rung, its deadline)."""
    with db.read(engine) as conn:
        rows = conn.execute(
            sa.select(SENT.c.rung, SENT.c.deadline)
            .where(SENT.c.kind == "center", SENT.c.entity_id == center)
            .where(SENT.c.stage == "reporting")
            .order_by(SENT.c.id)
        )
        return [(str(r), d.isoformat()) for r, d in rows]


def letters_to(engine: Engine, address: str) -> list[tuple[str, bytes | None]]:
    """The plain text of every letter to ``address``, with its calendar attachment."""
    result = []
    with db.read(engine) as conn:
        for raw in conn.execute(
            sa.select(OUTBOX_LETTER.c.message).select_from(OUTBOX_WITH_LETTER)
        ).scalars():
            message = message_from_bytes(raw, policy=policy.default)
            if address not in str(message["To"]):
                continue
            body = message.get_body(("plain",))
            assert body is not None
            ics = next(
                (
                    part.get_payload(decode=True)
                    for part in message.iter_attachments()
                    if part.get_content_type() == "text/calendar"
                ),
                None,
            )
            result.append((str(body.get_content()), ics))
    return result


@pytest.fixture
def program(cli: Cli, tmp_path: Path) -> Cli:
    """The shipped roadmap; A1 and A2 open on 30.08.2022, A3 withdrawn."""
    ok(cli("--now", "2021-01-11", "init"))
    csv = tmp_path / "centers.csv"
    csv.write_text(CENTERS, encoding="utf-8")
    ok(cli("--now", "2021-01-11", "centers", "import", str(csv)))
    for code in ("A1", "A2"):
        for trigger in ("agree_infrastructure", "equip", "train_staff"):
            ok(cli("--now", "2022-08-20", "centers", "fire", code, trigger))
        ok(cli("--now", "2022-08-30", "centers", "fire", code, "open"))
    ok(cli("--now", "2022-08-30", "centers", "fire", "A3", "withdraw", "--comment", "закрыта"))
    return cli


def test_one_centers_stage_deadline_moved_is_audited_and_used_everywhere(
    program: Cli, engine: Engine, tmp_path: Path, db_url: str
) -> None:
    cli = program
    ids = center_ids(engine)
    ok(cli("--now", "2022-09-01", "calendar", "export", "-o", str(tmp_path / "before.ics")))
    seq_before, _, start = event_of(tmp_path / "before.ics", UID_A1)
    assert (seq_before, start) == (deadline_sequence(date(2022, 10, 1)), date(2022, 10, 1))
    a2_before = event_of(tmp_path / "before.ics", UID_A2)

    # Refused, each in Russian, nothing changed.
    state = dump(engine)
    move = ("--now", "2022-09-01", "centers", "reschedule")
    refused(cli(*move, "A1", "отчитывается", "--due", "2022-12-15"), "не указана причина")
    refused(cli(*move, "A1", "reporting", "--due", "2022-12-15", "--reason", " "), "причина")
    refused(
        cli(*move, "A1", "отчитывается", "--due", "2020-12-31", "--reason", REASON),
        "вне допустимых дат переноса: не раньше начала программы 01.01.2021",
    )
    refused(
        cli(*move, "A1", "отчитывается", "--due", "2024-06-03", "--reason", REASON),
        "не позже дня закрытия программы 30.03.2024",
    )
    refused(
        cli(*move, "A1", "летает", "--due", "2022-12-15", "--reason", REASON),
        "Этап «летает»",
        "Этапы со сроками: инфраструктурный лист согласован (infrastructure_agreed), "
        "оснащён (equipped), персонал обучен (staff_trained), открыт (opened), "
        "отчитывается (reporting).",
    )
    refused(
        cli(*move, "A1", "запланирован", "--due", "2022-12-15", "--reason", REASON),
        "нет срока в дорожной карте",
    )
    refused(
        cli(*move, "A1", "открыт", "--due", "2022-12-15", "--reason", REASON),
        "центр A1 уже достиг этапа «открыт»",
    )
    refused(
        cli(*move, "A3", "отчитывается", "--due", "2022-12-15", "--reason", REASON),
        "центр A3 исключён из программы",
    )
    refused(
        cli(*move, "A9", "отчитывается", "--due", "2022-12-15", "--reason", REASON),
        "Центр с кодом «A9» не найден",
    )
    refused(
        cli(*move, "A1", "отчитывается", "--due", "01.10.2022", "--reason", REASON),
        "уже 01.10.2022",
    )
    refused(
        cli(
            *move,
            "A1",
            "отчитывается",
            "--due",
            "2022-12-15",
            "--reason",
            REASON,
            "--evidence",
            "x",
        ),
        "--evidence «x»: укажите документ как ВИД=ТЕКСТ",
    )
    refused(cli(*move, "A1", "отчитывается", "--due", "2022-12-32", "--reason", REASON), "--due")
    assert dump(engine) == state
    # Not a coordinator: refused, and only the refusal is recorded (in the audit chain).
    refused(cli(*move, "A1", "отчитывается", "--due", "2022-12-15", "--reason", REASON, actor="x"))
    chain = ("event", "audit_head")
    assert {k: v for k, v in state.items() if k not in chain} == dump(engine, skip=chain)

    moved = ok(
        cli(
            *move,
            "A1",
            "Отчитывается",
            "--due",
            "15.12.2022",
            "--reason",
            REASON,
            "--evidence",
            f"department_order={ORDER}",
        )
    )
    assert "Срок этапа «отчитывается» центра A1 перенесён с 01.10.2022 на 15.12.2022." in (
        moved.output
    )
    with db.read(engine) as conn:
        (revision,) = conn.execute(sa.select(STAGE_REVISION)).all()
        event = conn.execute(sa.select(EVENT).where(EVENT.c.seq == revision.event_seq)).one()
        head = conn.execute(sa.select(HEAD.c.seq)).scalar_one()
    assert (revision.center_id, revision.stage) == (ids["A1"], "reporting")
    assert (revision.original_due, revision.revised_due) == (date(2022, 10, 1), date(2022, 12, 15))
    assert (revision.reason, revision.document) == (REASON, ORDER)
    assert (event.entity_kind, event.entity_key, event.trigger) == ("center", "A1", "reschedule")
    assert (event.from_state, event.to_state, event.seq) == ("opened", "opened", head)

    history = ok(cli("--wide", "history", "center", "A1")).output
    assert "перенос срока" in history
    assert "reschedule" not in history
    assert f"срок этапа «отчитывается» перенесён с 01.10.2022 на 15.12.2022: {REASON}" in history
    assert f"документ: {ORDER}" in history
    shown = ok(cli("--now", "2022-09-02", "centers", "show", "A1")).output
    assert "отчитывается — с 15.12.2022, срок перенесён с 01.10.2022" in shown
    assert (
        "отчитывается — с 01.10.2022 (мероприятие 9)"
        in ok(cli("--now", "2022-09-02", "centers", "show", "A2")).output
    )
    ok(cli("audit", "verify"))

    # The reminders: A1 by 15.12 (14 days before: 01.12), A2 still by 01.10 (16.09).
    preview = json.loads(
        ok(
            cli("--json", "--now", "2022-09-02", "reminders", "preview", "--until", "2022-12-31")
        ).output
    )
    a1 = [p for p in preview if p["deadline_id"] == "center:A1:reporting"]
    a2 = [p for p in preview if p["deadline_id"] == "center:A2:reporting"]
    assert {p["deadline"] for p in a1} == {"2022-12-15"}
    assert (a1[0]["send_on"], a1[0]["rung"]) == ("2022-12-01", "before-14")
    assert {p["deadline"] for p in a2} == {"2022-10-01"}
    assert (a2[0]["send_on"], a2[0]["rung"]) == ("2022-09-16", "before-14")

    ok(cli("--now", "2022-09-16 09:00", "tick"))
    assert reporting_rungs(engine, ids["A1"]) == []
    assert reporting_rungs(engine, ids["A2"]) == [("before-14", "2022-10-01")]
    assert not [b for b, _ in letters_to(engine, "a1@school.ru") if "отчитывается" in b]
    ok(cli("--now", "2022-12-01 09:00", "tick"))
    assert reporting_rungs(engine, ids["A1"]) == [("before-14", "2022-12-15")]
    assert {d for _, d in reporting_rungs(engine, ids["A2"])} == {"2022-10-01"}
    mine = [(b, c) for b, c in letters_to(engine, "a1@school.ru") if "отчитывается" in b]
    assert mine, "no letter to A1 by its new date"
    body, attachment = mine[-1]
    assert "Срок перенесён с 01.10.2022 на 15.12.2022" in body, body
    assert attachment is not None
    seq_letter, _, start = event_in(attachment, UID_A1)
    assert start == date(2022, 12, 15)
    assert seq_letter == deadline_sequence(date(2022, 12, 15), [date(2022, 10, 1)]) > seq_before

    # The calendar: the same UID, a greater SEQUENCE; A2's event as it was.
    ok(cli("--now", "2022-09-02", "calendar", "export", "-o", str(tmp_path / "after.ics")))
    seq_after, text, start = event_of(tmp_path / "after.ics", UID_A1)
    assert seq_after > seq_before
    assert start == date(2022, 12, 15)
    assert "Срок перенесён с 01.10.2022 на 15.12.2022." in text
    assert event_of(tmp_path / "after.ics", UID_A2) == a2_before

    # Moved again: the SEQUENCE still grows, the cohort's date stays the first one.
    again = ("--now", "2022-12-02", "centers", "reschedule")
    ok(cli(*again, "A1", "reporting", "--due", "2023-01-16", "--reason", "приказ № 95"))
    ok(cli("--now", "2022-12-02", "calendar", "export", "-o", str(tmp_path / "again.ics")))
    seq_again, text, start = event_of(tmp_path / "again.ics", UID_A1)
    assert (seq_again > seq_after, start) == (True, date(2023, 1, 16))
    assert "Срок перенесён с 01.10.2022 на 16.01.2023." in text
    # A2, reminded up to its last overdue rung, moved: its ladder starts again by the
    # new date (the rungs sent for the old one are forgotten).
    assert ("overdue-28", "2022-10-01") in reporting_rungs(engine, ids["A2"])
    ok(cli(*again, "A2", "reporting", "--due", "2023-02-01", "--reason", "приказ № 96"))
    assert reporting_rungs(engine, ids["A2"]) == []
    preview = json.loads(
        ok(
            cli("--json", "--now", "2022-12-02", "reminders", "preview", "--until", "2023-02-01")
        ).output
    )
    a2 = [p for p in preview if p["deadline_id"] == "center:A2:reporting"]
    assert [(p["send_on"], p["rung"], p["deadline"]) for p in a2][:1] == [
        ("2023-01-18", "before-14", "2023-02-01")
    ]
    ok(cli("audit", "verify"))


def test_the_views_judge_the_moved_center_by_its_own_date(
    program: Cli, engine: Engine, tmp_path: Path
) -> None:
    from workflow.schedule.weekly import silenced_stages
    from workflow.views import dashboard, final

    cli = program
    ok(
        cli(
            "--now",
            "2022-09-01",
            "centers",
            "reschedule",
            "A1",
            "reporting",
            "--due",
            "2022-12-15",
            "--reason",
            REASON,
        )
    )
    with db.read(engine) as conn:
        stored = resolve(conn, None)
        # 15.11.2022: A2 is 45 days past 01.10 (its term ended on 03.10), A1 is not late.
        board = dashboard.build(conn, stored, now=datetime(2022, 11, 15, 9, tzinfo=UTC))
        silenced = silenced_stages(conn, stored, today=date(2022, 11, 15))
    assert [(c.code, c.due) for c in board.late] == [("A2", date(2022, 10, 1))]
    (municipality,) = board.municipalities
    assert municipality.late == 1
    assert "Школа № 2" in repr(silenced)
    assert "Школа № 1" not in repr(silenced)
    with db.read(engine) as conn:  # 20.01.2023: 36 days past A1's own date
        silenced = silenced_stages(conn, stored, today=date(2023, 1, 20))
        board = dashboard.build(conn, stored, now=datetime(2023, 1, 20, 9, tzinfo=UTC))
    assert "datetime.date(2022, 12, 15)" in repr(silenced)
    assert dict((c.code, c.due) for c in board.late)["A1"] == date(2022, 12, 15)
    with db.read(engine) as conn:
        board = dashboard.build(conn, stored, now=datetime(2022, 12, 5, 9, tzinfo=UTC))
    upcoming = [u for u in board.upcoming if u.kind == "stage"]
    assert [(u.title, u.due, u.detail) for u in upcoming] == [
        (
            "Центр A1 начинает этап «отчитывается»",
            date(2022, 12, 15),
            "срок перенесён с 01.10.2022",
        )
    ]

    # Both start reporting on 10.12.2022: A1 on time by 15.12, A2 late by 01.10 (03.10).
    for code in ("A1", "A2"):
        ok(cli("--now", "2022-12-10", "centers", "fire", code, "start_reporting"))
    with db.read(engine) as conn:
        report = final.build(conn, stored, now=datetime(2023, 1, 10, 9, tzinfo=UTC))
    lines = {(s.code, s.stage): s for s in report.stages}
    a1, a2 = lines[("A1", "reporting")], lines[("A2", "reporting")]
    assert (a1.due, a1.original_due, a1.verdict) == (
        date(2022, 12, 15),
        date(2022, 10, 1),
        final.Verdict.ON_TIME,
    )
    assert (a2.due, a2.original_due, a2.verdict, a2.days_late) == (
        date(2022, 10, 1),
        None,
        final.Verdict.LATE,
        68,
    )
    html = final.render_html(report)
    assert '15.12.2022 <span class="muted">(перенесён с 01.10.2022)</span>' in html
    final.write_xlsx(report, tmp_path / "final.xlsx")
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "final.xlsx")[final.STAGE_SHEET]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[final.HEADER_ROW - 1][-1] == "Срок перенесён с"
    (a1_row,) = [r for r in rows if r[0] == "A1" and r[4] == "отчитывается"]
    assert a1_row[5].date() == date(2022, 12, 15)
    assert a1_row[-1].date() == date(2022, 10, 1)
