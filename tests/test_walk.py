"""Walk the shipped roadmap day by day with the reconciler and check every cycle and letter.

The expectation is generated independently of the reconciler's catch-up code: from the
full ladder of each deadline (`workflow.schedule.ladder.ladder`, which stops after the
roadmap's overdue rungs) and the plain rule "the first tick sends the latest rung already
due; later rungs go out on their day; nothing after the deadline is met". Measure 5 and
one center are also written out literally.

The letters are the real outbox's (with the weekly summary on Mondays), so the walk also
checks what people receive: one letter per recipient and day, each item once a day to
the coordinator and never as a copy, a stuck center's letters ending after the last rung
while the weekly summary lists it, the school's monitoring letter naming its quarter
and its missing indicators.

The walk runs on to 31.12.2026, through the program's close (`workflow.roadmap.closing`):
from 2024 on it ticks on working days only (as the daemon does). After 31.12.2023 only the
report that closes the program (measure 9's 2023-Q4 monitoring, due 01.01.2024) is
reminded; from 30.03.2024 the roadmap is closed and nothing at all is queued.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER, REMINDER
from notifications.render import Renderer
from notifications.russian import overdue_by, typographic_quotes
from tests.conftest import T0, make_rows
from tests.test_tick import Recorder
from workflow.engine import audit, centers, cycles, municipalities
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.imports.municipalities_file import ContactRow
from workflow.roadmap import closing
from workflow.roadmap.definition import ReminderPolicy
from workflow.roadmap.store import StoredRoadmap
from workflow.schedule.ladder import is_working_day, ladder, working_day_on_or_before
from workflow.schedule.notices import center_notice_hook
from workflow.schedule.reconcile import tick
from workflow.schedule.reminders import outbox_queue
from workflow.schedule.weekly import WeeklyPlan
from workflow.storage.tables import CENTER, CYCLE

MSK = ZoneInfo("Europe/Moscow")
CODE = "ivanovo-2021-2023"
DEPARTMENT = "coordinator@example.org"
OPERATOR = "operator@example.org"
MUNICIPALITY = "roo@shuya.example.org"
OP = Actor(login="operator")
MONDAY = 1

# Days on which the real CLI (`tochka --now DAY tick`) ticks instead of the library.
CLI_DAYS = {date(2021, 2, 15), date(2021, 8, 25), date(2022, 3, 1)}
# The program's last day, and the day its roadmap closes (the shipped file's closing:).
PROGRAM_END = date(2023, 12, 31)
CLOSED_ON = date(2024, 3, 30)


def moment(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=MSK)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def sends(
    due: date, policy: ReminderPolicy, *, start: date, end: date, stop: date | None = None
) -> list[tuple[date, str]]:
    """What daily ticks send for one deadline: catch-up on ``start``, then each rung on its
    day, until ``stop`` (the day the deadline is met, before that day's tick)."""
    rungs = [r for r in ladder(due, policy, until=end)]
    last = min(end, stop - timedelta(days=1)) if stop else end
    if last < start:
        return []
    out: list[tuple[date, str]] = []
    caught = [r for r in rungs if r.send_on <= start]
    if caught:
        out.append((start, caught[-1].key_part))
    out += [(r.send_on, r.key_part) for r in rungs if start < r.send_on <= last]
    return out


class Walk:
    """The scenario: operator actions before the tick of their day."""

    def __init__(
        self, engine: Engine, stored: StoredRoadmap, renderer: Renderer | None = None
    ) -> None:
        self.engine = engine
        self.stored = stored
        # The CLI's notice hook: every center transition queues the school's notice.
        hook = None if renderer is None else center_notice_hook(stored.definition, renderer)
        self.machine = TransitionEngine(engine, stored.definition, stored.id, notice_hook=hook)
        self.cycle_ids: dict[tuple[int, str], int] = {}

    def cycle_id(self, measure: int, period: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(CYCLE.c.id).where(
                        CYCLE.c.measure == measure, CYCLE.c.period == period
                    )
                ).scalar_one()
            )

    def actions(self, day: date) -> None:
        now = moment(day, 8)
        fire = self.machine.fire_center
        if day == date(2021, 2, 1):
            cycles.open_cycle(
                self.engine, self.stored, 3, due=date(2021, 4, 15), actor="op", now=now
            )
        if day == date(2022, 1, 20):
            cycles.open_cycle(
                self.engine, self.stored, 3, due=date(2022, 4, 15), actor="op", now=now
            )
        if day == date(2021, 3, 3):
            cid = self.cycle_id(5, "2021")
            self.machine.fire_cycle(
                cid, "complete", actor=OP, now=now, evidence={"procurement_notices": "№ 1"}
            )
        if day == date(2021, 4, 12):
            fire("A", "agree_infrastructure", actor=OP, now=now)
        if day == date(2021, 8, 23):
            fire("A", "equip", actor=OP, now=now)
            fire("A", "train_staff", actor=OP, now=now)
        if day == date(2021, 9, 1):
            fire("A", "open", actor=OP, now=now)
        if day == date(2021, 10, 4):
            fire("A", "start_reporting", actor=OP, now=now)
        if day == date(2022, 5, 4):
            fire("W", "withdraw", actor=OP, now=now, comment="школа реорганизована")


def _import(engine: Engine, stored: StoredRoadmap) -> None:
    base = make_rows(4)
    rows = [
        replace(base[0], code="A", cohort=2021, email="a@example.org"),
        replace(base[1], code="B", cohort=2022, email="b@example.org"),
        replace(base[2], code="C", cohort=2023, email="c@example.org"),
        replace(base[3], code="W", cohort=2022, email="w@example.org"),
    ]
    centers.import_centers(engine, stored, rows, filename="walk.csv", actor="op", now=T0)
    # The four schools share one municipality: its education authority is reminded of
    # every stage of all of them, and still gets at most one letter a day.
    contact = ContactRow(
        municipality=rows[0].municipality, email=MUNICIPALITY, recipient="Отдел образования", line=2
    )
    municipalities.import_contacts(
        engine, stored, [contact], filename="walk-contacts.csv", actor="op", now=T0
    )


def _walk(
    engine: Engine, stored: StoredRoadmap, cli: Callable[..., Result], start: date, end: date
) -> None:
    """Tick every day into the real outbox, the weekly summary on Mondays (the CLI's
    ticks have no summary: the next library tick sends that week's)."""
    _import(engine, stored)
    renderer = Renderer()
    walk = Walk(engine, stored, renderer)
    queue = outbox_queue(renderer)
    weekly = WeeklyPlan(weekday=MONDAY, renderer=renderer)
    for day in days(start, end):
        if day > PROGRAM_END and not is_working_day(day):
            continue  # after the program, the daemon's working days are enough
        walk.actions(day)
        if day in CLI_DAYS:
            result = cli("--now", moment(day, 9).isoformat(), "tick")
            assert result.exit_code == 0, result.output
            continue
        tick(
            engine,
            stored,
            now=moment(day, 9),
            # The real time, or the walk's day when that is later (the walk runs to the
            # end of 2026, and a tick dated after the real day is taken for a typo).
            clock=lambda day=day: max(datetime.now(UTC), moment(day, 10)),
            queue=queue,
            weekly=weekly,
        )


def _sent(engine: Engine) -> list[tuple[date, str]]:
    """Every reminder queued, by the library walk or the CLI (the real outbox)."""
    with engine.connect() as conn:
        return sorted((r.send_on, r.key) for r in conn.execute(sa.select(REMINDER)))


def _text(raw: bytes) -> str:
    """The plain-text part of a stored letter, with its line ends as written."""
    msg = message_from_bytes(raw, policy=email_policy.default)
    part = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def _expected_cycles(stored: StoredRoadmap, end: date) -> list[tuple[int, str, date]]:
    result = [
        (1, "2020", date(2020, 12, 7)),
        (2, "2020", date(2020, 12, 23)),
        (3, "2021-04-15", date(2021, 4, 15)),
        (3, "2022-04-15", date(2022, 4, 15)),
        (4, "2020", date(2020, 12, 30)),
    ]
    for year in (2021, 2022, 2023):
        result += [
            (5, str(year), date(year, 3, 1)),
            (6, str(year), date(year, 8, 25)),
            (7, str(year), date(year, 8, 25)),
            (8, str(year), date(year, 9, 1)),
        ]
    for due, period in [
        (date(2021, 10, 1), "2021-Q3"),
        (date(2022, 1, 1), "2021-Q4"),
        (date(2022, 4, 1), "2022-Q1"),
        (date(2022, 7, 1), "2022-Q2"),
        (date(2022, 10, 1), "2022-Q3"),
        (date(2023, 1, 1), "2022-Q4"),
        (date(2023, 4, 1), "2023-Q1"),
        (date(2023, 7, 1), "2023-Q2"),
        (date(2023, 10, 1), "2023-Q3"),
        (date(2024, 1, 1), "2023-Q4"),  # inside the program, due after its end
    ]:
        result.append((9, period, due))
    opened = {
        (3, "2021-04-15"): date(2021, 2, 1),
        (3, "2022-04-15"): date(2022, 1, 20),
        (1, "2020"): date(2020, 12, 7),  # created done on the day the file says it was done
    }
    return sorted(
        c
        for c in result
        if opened.get(c[:2], working_day_on_or_before(c[2] - timedelta(days=14))) <= end
    )


def _expected_cycle_reminders(
    engine: Engine,
    stored: StoredRoadmap,
    start: date,
    end: date,
    *,
    completed: Mapping[tuple[int, str], date],
) -> list[tuple[date, str]]:
    """What daily ticks from ``start`` to ``end`` send for the cycles in the database,
    ``completed`` (measure, period) on the day given."""
    roadmap = stored.definition
    out: list[tuple[date, str]] = []
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date)
        )
        cycle_rows = [tuple(r) for r in rows]
    for cycle_id, measure, period, due in cycle_rows:
        if roadmap.measure(measure).done is not None:
            continue  # measure 1: the file records it done by the decree, never reminded
        first = {
            (3, "2021-04-15"): date(2021, 2, 1),
            (3, "2022-04-15"): date(2022, 1, 20),
        }.get((measure, period), working_day_on_or_before(due - timedelta(days=14)))
        stop = completed.get((measure, period))
        emails = [roadmap.party(p).email for p in roadmap.measure(measure).responsible]
        policy = roadmap.reminders
        # After the program only its closing report is reminded, until the roadmap closes.
        last = PROGRAM_END if due <= PROGRAM_END else CLOSED_ON - timedelta(days=1)
        for day, rung in sends(due, policy, start=max(start, first), end=min(end, last), stop=stop):
            out += [(day, f"{CODE}:cycle:{cycle_id}:{rung}:{email}") for email in emails]
            # Monitoring also reminds the schools that owe their indicators: center A is
            # reporting from 2021-10-04 (opened 2021-09-01) and never submits.
            if measure == 9 and day >= date(2021, 10, 4):
                out.append((day, f"{CODE}:cycle:{cycle_id}:{rung}:a@example.org"))
    return sorted(out)


def _expected_reminders(
    engine: Engine, stored: StoredRoadmap, start: date, end: date
) -> list[tuple[date, str]]:
    out = _expected_cycle_reminders(
        engine, stored, start, end, completed={(5, "2021"): date(2021, 3, 3)}
    )
    # Centers: (code, email, cohort, {stage: day reached}), withdrawn stops everything.
    reached = {
        "A": {
            "infrastructure_agreed": date(2021, 4, 12),
            "equipped": date(2021, 8, 23),
            "staff_trained": date(2021, 8, 23),
            "opened": date(2021, 9, 1),
            "reporting": date(2021, 10, 4),
        },
        "B": {},
        "C": {},
        "W": dict.fromkeys(
            ("infrastructure_agreed", "equipped", "staff_trained", "opened", "reporting"),
            date(2022, 5, 4),
        ),
    }
    cohort = {"A": 2021, "B": 2022, "C": 2023, "W": 2022}
    infra = {
        2021: (date(2021, 4, 15), date(2021, 2, 1)),
        2022: (date(2022, 4, 15), date(2022, 1, 20)),
    }
    for code, stops in reached.items():
        year = cohort[code]
        stages = {
            "equipped": date(year, 8, 25),
            "staff_trained": date(year, 8, 25),
            "opened": date(year, 9, 1),
            "reporting": date(year, 10, 1),
        }
        known = dict.fromkeys(stages, start)
        if year in infra:
            stages["infrastructure_agreed"], known["infrastructure_agreed"] = infra[year]
        for stage, due in stages.items():
            for day, rung in sends(
                due,
                stored.definition.reminders,
                start=max(start, known[stage]),
                end=min(end, PROGRAM_END),  # no stage is reminded after the program
                stop=stops.get(stage),
            ):
                deadline = f"{CODE}:center:{code}:{stage}:{rung}"
                out.append((day, f"{deadline}:{code.lower()}@example.org"))
                out.append((day, f"{deadline}:{MUNICIPALITY}"))
                # Overdue: the coordinator has the item in its own digest (no copies).
                if rung.startswith("overdue-"):
                    out.append((day, f"{deadline}:{DEPARTMENT}"))
    return sorted(out)


# The literal part: measure 5 (department only) and center A's equipped stage.
MEASURE_5 = [
    ("2021-02-15", "before-14"),
    ("2021-02-26", "before-3"),
    ("2021-03-01", "on_day"),
    # completed 03.03: nothing more for 2021
    ("2022-02-15", "before-14"),
    ("2022-02-25", "before-3"),
    ("2022-03-01", "on_day"),
    ("2022-03-05", "overdue-7"),  # 08.03 holiday, 07.03 transferred day off, 06.03 Sunday
    ("2022-03-15", "overdue-14"),
    ("2022-03-22", "overdue-21"),
    ("2022-03-29", "overdue-28"),  # the last rung the roadmap allows: then the summary
    ("2023-02-15", "before-14"),
    ("2023-02-22", "before-3"),  # 26.02 Sunday, 24.02 transferred day off, 23.02 holiday
    ("2023-03-01", "on_day"),
    ("2023-03-07", "overdue-7"),  # 08.03 holiday
    ("2023-03-15", "overdue-14"),
    ("2023-03-22", "overdue-21"),
    ("2023-03-29", "overdue-28"),
]
CENTER_A_EQUIPPED = [
    ("2021-08-11", "before-14"),
    ("2021-08-20", "before-3"),
]


def _letters(engine: Engine) -> list[sa.Row]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(OUTBOX, OUTBOX_LETTER.c.message)
                .select_from(OUTBOX_WITH_LETTER)
                .order_by(OUTBOX.c.id)
            )
        )


def _letter_day(row: sa.Row) -> str:  # type: ignore[type-arg]
    """The day a letter is for: in its key (``digest:DAY:…``, ``CODE:summary:DAY``)."""
    parts = row.key.split(":")
    return parts[1] if row.kind == "digest" else parts[-1]


def _day_out(row: sa.Row) -> date:  # type: ignore[type-arg]
    """The local day a letter goes out: a digest on its day (it waits for the day to
    begin), a notice or a summary when it was queued (the walk delivers nothing)."""
    return row.next_attempt_at.astimezone(MSK).date()


def _check_one_letter_per_day(engine: Engine, *, full: bool) -> None:
    letters = _letters(engine)
    assert letters
    # Every letter of every kind (digests, notices, summaries), every address it goes
    # to (To and Cc: the envelope), per local day.
    daily = Counter((address, _day_out(r)) for r in letters for address in r.envelope.split(","))
    twice = {k: n for k, n in daily.items() if n > 1}
    assert not twice, f"two letters on one day: {sorted(twice)[:5]}"
    # Nobody is copied on anyone's letter: each letter goes to its one reader.
    assert all(r.envelope == r.recipient for r in letters)
    # The short (PostgreSQL) walk ends before the first stage is marked: no notices yet.
    kinds = {"digest", "notice", "summary"} if full else {"digest", "summary"}
    assert {r.kind for r in letters} == kinds
    if full:  # the municipality, reminded of four schools' stages, on many days
        assert sum(1 for who, _day in daily if who == MUNICIPALITY) > 20
        # The schools' notices are in the walk: center A's five marks, W's withdrawal;
        # A's two marks of 23.08.2021 in one letter.
        notices = {_day_out(r): _text(r.message) for r in letters if r.kind == "notice"}
        assert len(notices) == 5
        both = notices[date(2021, 8, 23)]
        assert "Отмечено этапов: 2." in both
        assert "1. Центр оснащён: центр «Точка роста» на базе" in both
        assert "2. Персонал центра обучен: центр «Точка роста» на базе" in both
    assert all(r.key.endswith(":1") for r in letters if r.kind == "digest")  # no follow-ups
    # The weekly summary, the one other letter, comes once a week.
    weeks = Counter(
        (r.recipient, date.fromisoformat(_letter_day(r)).isocalendar()[:2])
        for r in letters
        if r.kind == "summary"
    )
    assert weeks
    assert set(weeks.values()) == {1}


def _check_coordinator_items_once_a_day(engine: Engine) -> None:
    """Each item (a measure's period, a center's stage) at most once a day to the
    coordinator, whatever the keys: read from what the letters hold. Each reminder's
    record points at the letter that carried it: the coordinator's letter of that day,
    on Mondays the weekly summary, which names the item."""
    with engine.connect() as conn:
        payloads = list(
            conn.execute(
                sa.select(
                    REMINDER.c.key,
                    REMINDER.c.send_on,
                    REMINDER.c.payload,
                    OUTBOX.c.kind,
                    OUTBOX.c.recipient,
                    OUTBOX.c.next_attempt_at,
                    OUTBOX_LETTER.c.message,
                )
                .join(OUTBOX, OUTBOX.c.id == REMINDER.c.outbox_id)
                .join(OUTBOX_LETTER, OUTBOX_LETTER.c.outbox_id == OUTBOX.c.id)
                .where(REMINDER.c.recipient == DEPARTMENT)
            )
        )
    assert all(r.recipient == DEPARTMENT for r in payloads)
    assert all(_day_out(r) == r.send_on for r in payloads)
    items = [
        (day, p["measure_number"], p["period"], p["center_code"], p.get("stage", ""))
        for _key, day, p, *_rest in payloads
    ]
    twice = [item for item, n in Counter(items).items() if n > 1]
    assert not twice, f"an item reached the coordinator twice on one day: {twice[:5]}"
    # By the deadline's key too (``CODE:cycle:ID``, ``CODE:center:B:equipped``): no two
    # rungs of one deadline, nor one rung twice, in the coordinator's letters of a day.
    deadlines = Counter((_day_out(r), r.key.rsplit(":", 2)[0]) for r in payloads)
    assert not [k for k, n in deadlines.items() if n > 1]
    # It does reach it: the department's own measures and the centers' overdue stages.
    assert any(code is not None for _d, _m, _p, code, _s in items)
    # On Mondays the summary carries the day's items, each named in its text.
    folded = [r for r in payloads if r.kind == "summary"]
    assert len(folded) > 20
    assert {_day_out(r).isoweekday() for r in folded} == {MONDAY}
    for r in folded:
        title = r.payload["center_name"] or r.payload["title"]
        assert typographic_quotes(title)[:40] in _text(r.message).replace("\n", " ")


def _summaries(engine: Engine) -> dict[date, str]:
    return {
        date.fromisoformat(_letter_day(r)): _text(r.message)
        for r in _letters(engine)
        if r.kind == "summary"
    }


def _check_stuck_center(
    engine: Engine, stored: StoredRoadmap, sent: list[tuple[date, str]]
) -> None:
    """Center B (cohort 2022) never moves: four overdue letters per stage, then only the
    coordinator's weekly summary lists the center, by its earliest stage, with its days
    late."""
    policy = stored.definition.reminders
    due = date(2022, 8, 25)
    rungs = [
        (day, key.split(":")[4])
        for day, key in sent
        if key.startswith(f"{CODE}:center:B:equipped:") and key.endswith(":b@example.org")
    ]
    overdue = [rung for _day, rung in rungs if rung.startswith("overdue-")]
    assert overdue == [f"overdue-{policy.overdue_every_days * n}" for n in (1, 2, 3, 4)]
    assert len(overdue) == policy.overdue_rungs
    last = max(day for day, _rung in rungs)
    assert last <= due + timedelta(days=policy.silenced_after())
    # No letter about B at all after its last rungs (the latest stage is reporting, due
    # Saturday 01.10: its term ends on Monday 03.10, its last rung is 28 days later).
    assert max(day for day, key in sent if ":center:B:" in key) <= date(2022, 10, 31)
    with engine.connect() as conn:
        b = conn.execute(
            sa.select(CENTER.c.name, CENTER.c.municipality).where(CENTER.c.code == "B")
        ).one()
    # One line for the center (not one per late stage): its earliest unmet stage, the
    # infrastructure list (due 15.04.2022 by its measure's schedule), named as what is to
    # be done, and the count of its other late stages.
    infra = date(2022, 4, 15)
    school = f"Центр «Точка роста» на базе {typographic_quotes(b.name)} ({b.municipality})"
    line = f"{school}: согласование инфраструктурного листа"
    summaries = _summaries(engine)
    listed = sorted(day for day, text in summaries.items() if line in text)
    # From the first summary after the stage's last overdue rung on, every week...
    silenced_from = infra + timedelta(days=policy.silenced_after() + 1)
    assert silenced_from <= listed[0] < silenced_from + timedelta(days=7)
    assert listed == sorted(day for day in summaries if day >= silenced_from)
    text = summaries[date(2022, 9, 26)]
    # ...with its days late; the equipment (25.08), training and opening late too.
    assert f"{line} — срок 15 апреля 2022 г., {overdue_by(164)}; просрочены ещё 3 этапа" in text
    assert text.count(school) == 1
    assert "Центры, отстающие давно (1): " in text
    # A measure cycle past its last rung stays in the overdue list, flagged.
    assert "(напоминания прекращены)" in text
    # ...and not before: while the letters still go, the summary does not list it.
    assert all(school not in summaries[day] for day in summaries if day < silenced_from)


def _check_monitoring_letter(engine: Engine, stored: StoredRoadmap) -> None:
    """Center A reports from 04.10.2021 and never submits: the letter of the 2021-Q4
    monitoring asks it for that quarter's values, by name, and how to send them."""
    cycle = Walk(engine, stored).cycle_id(9, "2021-Q4")
    with engine.connect() as conn:
        outbox_id = conn.execute(
            sa.select(REMINDER.c.outbox_id).where(
                REMINDER.c.key == f"{CODE}:cycle:{cycle}:on_day:a@example.org"
            )
        ).scalar_one()
        raw = conn.execute(
            sa.select(OUTBOX_LETTER.c.message)
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.id == outbox_id)
        ).scalar_one()
    text = _text(raw)
    roadmap = stored.definition
    assert "Сдайте значения показателей центра за IV квартал 2021 г." in text
    # The fourth quarter closes the year: the yearly indicators are owed too.
    assert f"Не сданы показатели ({len(roadmap.indicators)}):" in text
    units = {"persons": "чел.", "units": "ед.", "percent": "%"}
    for indicator in roadmap.indicators:
        assert f"– {indicator.name}, {units[indicator.unit.value]}" in text
    assert "Ответьте на это письмо" in text
    assert "2021-Q4" not in text
    assert roadmap.evidence_kind("indicators_report").name not in text


# The report that closes the program: measure 9's 2023-Q4 monitoring, due Monday
# 01.01.2024, a holiday; its term ends on 09.01.2024, the first working day of 2024.
MONITORING_2023_Q4 = [
    ("2023-12-18", "before-14"),
    ("2023-12-29", "on_day"),  # before-3 (29.12) and on_day (01.01 → 29.12) collapse
    ("2024-01-16", "overdue-7"),  # a week after the term's end, 09.01
    ("2024-01-23", "overdue-14"),
    ("2024-01-30", "overdue-21"),
    ("2024-02-06", "overdue-28"),
]


def _check_program_close(
    engine: Engine, stored: StoredRoadmap, sent: list[tuple[date, str]]
) -> None:
    """After 31.12.2023 only the 2023-Q4 monitoring is reminded; from 30.03.2024 the
    roadmap is closed: nothing is queued, no letter at all, through 2026."""
    from workflow.views.overview import roadmap_status

    assert closing.closes_on(stored.definition) == CLOSED_ON
    q4 = Walk(engine, stored).cycle_id(9, "2023-Q4")
    with engine.connect() as conn:
        due = conn.execute(sa.select(CYCLE.c.due_date).where(CYCLE.c.id == q4)).scalar_one()
    assert due == date(2024, 1, 1)
    got = [
        (day.isoformat(), key.split(":")[3])
        for day, key in sent
        if key.startswith(f"{CODE}:cycle:{q4}:") and key.endswith(f":{DEPARTMENT}")
    ]
    assert got == MONITORING_2023_Q4
    after = {key.split(":")[2] for day, key in sent if day > PROGRAM_END}
    assert after == {str(q4)}, "after the program only its closing report is reminded"
    assert max(day for day, _key in sent) < CLOSED_ON
    letters = [_day_out(r) for r in _letters(engine)]
    assert max(letters) < CLOSED_ON
    assert not [d for d in letters if d.year >= 2025]
    with engine.connect() as conn:
        before = roadmap_status(conn, stored, today=moment(CLOSED_ON - timedelta(days=1), 9))
        on = roadmap_status(conn, stored, today=moment(CLOSED_ON, 9))
    assert before.program == (
        "Программа завершена 31.12.2023; дорожная карта будет закрыта 30.03.2024. До тех "
        "пор напоминания — только об отчётах, закрывающих программу."
    )
    assert on.program == (
        "Программа завершена 31.12.2023; дорожная карта закрыта 30.03.2024: напоминания "
        "не отправляются."
    )
    # The last summary is the week before the close: it still lists what is late.
    summaries = _summaries(engine)
    assert max(summaries) == date(2024, 3, 25)


@pytest.mark.slow
def test_walk_2020_12_to_2026_12(
    engine: Engine, stored: StoredRoadmap, cli: Callable[..., Result], db_url: str
) -> None:
    start = date(2020, 12, 1)
    # The full walk on SQLite; three months on PostgreSQL (same code, slower commits).
    full = db_url.startswith("sqlite")
    end = date(2026, 12, 31) if full else date(2021, 3, 10)
    _walk(engine, stored, cli, start, end)

    with engine.connect() as conn:
        got_cycles = sorted(
            (r.measure, r.period, r.due_date)
            for r in conn.execute(sa.select(CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date))
        )
        audit.verify(conn, stored.id, CODE)
    assert got_cycles == _expected_cycles(stored, end)

    sent = _sent(engine)
    assert len(sent) == len(set(k for _, k in sent)), "a reminder was queued twice"
    assert sent == _expected_reminders(engine, stored, start, end)

    measure5 = Walk(engine, stored)
    m5 = {measure5.cycle_id(5, str(y)) for y in (2021, 2022, 2023) if date(y, 2, 14) <= end}
    got5 = [
        (day.isoformat(), key.split(":")[3])
        for day, key in sent
        if key.split(":")[1] == "cycle" and int(key.split(":")[2]) in m5
    ]
    assert got5 == [(d, r) for d, r in MEASURE_5 if d <= end.isoformat()]
    got_a = [
        (day.isoformat(), key.split(":")[4])
        for day, key in sent
        if key.startswith(f"{CODE}:center:A:equipped:") and key.endswith(":a@example.org")
    ]
    assert got_a == [(d, r) for d, r in CENTER_A_EQUIPPED if d <= end.isoformat()]

    _check_one_letter_per_day(engine, full=full)
    if full:
        _check_coordinator_items_once_a_day(engine)
        _check_stuck_center(engine, stored, sent)
        _check_monitoring_letter(engine, stored)
        _check_program_close(engine, stored, sent)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_walk_is_the_same_when_ticking_only_on_working_days(
    engine: Engine, stored: StoredRoadmap
) -> None:
    """The daemon skips non-working days; reminders land on working days anyway."""
    from workflow.schedule.ladder import is_working_day

    start, end = date(2021, 8, 1), date(2021, 9, 30)  # 01.08.2021: a Sunday, the first tick
    queue = Recorder()
    for day in days(start, end):
        if is_working_day(day) or day == start:
            tick(engine, stored, now=moment(day, 9), queue=queue)
    sent = sorted((r.send_on, r.key) for r in queue.items)
    # Exactly what daily ticks send (the walk's expectation), so nothing is lost or late
    # for the days skipped; the measures reminded in these two months, written out.
    assert sent == _expected_cycle_reminders(engine, stored, start, end, completed={})
    with engine.connect() as conn:
        measure_of = dict(conn.execute(sa.select(CYCLE.c.id, CYCLE.c.measure)).all())
    # Not measure 1: the file records it done by the decree.
    assert {measure_of[int(key.split(":")[2])] for _, key in sent} == {2, 4, 5, 6, 7, 8, 9}
    assert all(is_working_day(day) for day, _ in sent if day != start)
