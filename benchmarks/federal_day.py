"""Benchmark: a federal day on one PostgreSQL (issue 16, item 7).

85 regions' roadmaps of 250 centers each (21,250 centers; ``--quick``: 10 roadmaps,
2,500 centers) are loaded through the product's own API (``tochka init``'s
`load_roadmap_as`, the centers' and the municipal authorities' CSV imports;
`tests/federal.py`). The day before is ticked in this process. Then three
``tochka daemon run`` processes, their clocks frozen at 09:00 on 1 September 2021,
share the database: one reconciles every roadmap (the 2021 cohort opens that day and is
a week late with its equipment and training: three stages per center, the overdue ones
escalated to each coordinator), and all three deliver the day's letters to a local
aiosmtpd server.

Measured per round: the leader's tick (wall time, and the part spent building the
letters: rendering, MIME, header checks), the day until the last letter reached the
server, the daemons' peak RSS; then the day is undone (its rungs, reminders and letters
deleted: the day creates no cycle and no event, which is checked) and a hand-written
SQL *floor* replays it: the tick's reads (roadmap, cycles, overdue candidates, open
cycles with their last rung, cohort states, the by-schedule dates, the per-(cohort,
stage) anti-join against ``sent_rung``, contacts, moved stages, the audit head, the
known reminder keys and digest groups) and its writes (the same ``sent_rung``,
``outbox`` and ``reminder`` rows, byte for byte, multi-row ``INSERT … RETURNING`` of
1,000 rows, one transaction per roadmap) through the DB-API cursor; then undone again
for the next round. The tick also renders each letter it queues: the *letters' floor*
renders the day's letters from the same reminders with bench_notifications's floor
(bare jinja2 over the same templates, icalendar, `email`). Ratio: the tick against
both floors (the goal's), and against the SQL floor alone, with the spread over rounds.
Each round also checks that every cycle, rung, reminder and letter exists exactly once
and every letter reached the server exactly once (by Message-ID;
`tests.federal.problems`). The floors run alone; the tick shares the two cores with
the standbys delivering (and with whatever else runs: the load is printed).

    python benchmarks/federal_day.py            # 85 × 250, two rounds
    python benchmarks/federal_day.py --quick    # 10 × 250, two rounds

Needs PostgreSQL: TOCHKA_BENCH_PG_URL or TOCHKA_TEST_PG_URL (its own schema, dropped
after; this harness holds a day's rows for the floor, 3 GB at 85 × 250). Goal: the
tick within 2x its floor, nothing doubled.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from base import db  # noqa: E402
from base.clock import local_date  # noqa: E402
from tests import federal  # noqa: E402
from workflow.engine import adoption  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.schedule.reconcile import adoption_floor  # noqa: E402
from workflow.schedule.reminders import latest_due, rung_offset, stage_groups  # noqa: E402
from workflow.schedule.weekly import parse_weekday, summary_day, summary_key  # noqa: E402
from workflow.storage import schema  # noqa: E402

GOAL = 2.0
AT = federal.DAY
MONDAY = parse_weekday("пн") or 1

_SENT = ("roadmap_id", "kind", "entity_id", "stage", "rung", "day_offset", "deadline", "send_on",
         "queued_at")
_OUTBOX = ("key", "kind", "digest_group", "recipient", "envelope", "subject", "status",
           "attempts", "next_attempt_at", "created_at", "updated_at", "queued_at", "last_error")
# A letter's row: the _OUTBOX values, then its bytes (outbox_letter.message).
_MESSAGE = len(_OUTBOX)
_REMINDER = ("key", "recipient", "send_on", "deadline", "rung", "payload", "created_at")


# --- the day's rows, and undoing them ---------------------------------------------------------


@dataclass
class RoadmapDay:
    """One roadmap's part of the day, for the floor: its reads' parameters (computed
    once, outside the timing) and its rows as the tick wrote them."""

    id: int
    code: str
    today: Any
    groups: list[tuple[int, str, list[str], int]]
    cycles: list[int]  # the open cycles reminded today
    summary: str  # the key of the week's summary (looked up by the tick)
    sent: list[tuple[Any, ...]]
    letters: list[tuple[Any, ...]]  # new letters (first carried by this roadmap), *_OUTBOX + bytes
    amended: list[tuple[Any, ...]]  # letters of an earlier roadmap this one amends
    reminders: list[tuple[Any, ...]]  # (outbox key, *_REMINDER)


def _raw(engine: Engine) -> Any:
    return engine.raw_connection()


def snapshot(engine: Engine) -> list[RoadmapDay]:
    """The rows the day wrote (stamped with its clock), per roadmap in the tick's order;
    letters as they were queued (pending, never attempted)."""
    raw = _raw(engine)
    try:
        cur = raw.cursor()
        cur.execute("SELECT count(*) FROM event WHERE recorded_at = %s", (AT,))
        (events,) = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM measure_cycle WHERE created_at = %s OR updated_at = %s", (AT, AT)
        )
        (cycles,) = cur.fetchone()
        # The day is undone by deleting its rows: it must not have appended to the chain.
        assert events == cycles == 0, (events, cycles)
        cur.execute("SELECT id, code FROM roadmap ORDER BY code")
        roadmaps = cur.fetchall()
        cur.execute(f"SELECT {', '.join(_SENT)} FROM sent_rung WHERE queued_at = %s ORDER BY id",
                    (AT,))
        sent = cur.fetchall()
        cur.execute(
            f"SELECT {', '.join('o.' + c for c in _OUTBOX)}, l.message FROM outbox o"
            " JOIN outbox_letter l ON l.outbox_id = o.id WHERE o.created_at = %s ORDER BY o.id",
            (AT,),
        )
        letters = {}
        for row in cur.fetchall():
            values = dict(zip((*_OUTBOX, "message"), row, strict=True))
            values.update(status="dead" if not values["message"] else "pending", attempts=0,
                          updated_at=values["created_at"])
            letters[values["key"]] = tuple(values[c] for c in (*_OUTBOX, "message"))
        cur.execute(
            "SELECT o.key, " + ", ".join("r." + c + ("::text" if c == "payload" else "")
                                          for c in _REMINDER)
            + " FROM reminder r JOIN outbox o ON o.id = r.outbox_id WHERE r.created_at = %s"
            " ORDER BY r.id",
            (AT,),
        )
        reminders = cur.fetchall()
        raw.rollback()
    finally:
        raw.close()
    days: list[RoadmapDay] = []
    placed: set[str] = set()
    with db.read(engine) as conn:
        for roadmap_id, code in roadmaps:
            stored = roadmap_store.resolve(conn, code)
            today = local_date(AT, stored.definition.timezone)
            adopted = adoption.adopted_on(conn, roadmap_id)
            groups = []
            for g in stage_groups(conn, stored):
                assert g.stage.due is not None
                rung = adoption_floor(latest_due(g.stage.due, stored.definition, today), adopted)
                if rung is not None:
                    groups.append((g.cohort, g.stage.stage, list(g.states), rung_offset(rung)))
            mine = [r for r in reminders if r[1].startswith(f"{code}:")]
            keys = list(dict.fromkeys(r[0] for r in mine))
            days.append(
                RoadmapDay(
                    id=roadmap_id,
                    code=code,
                    today=today,
                    groups=groups,
                    cycles=[s[2] for s in sent if s[0] == roadmap_id and s[1] == "cycle"],
                    summary=summary_key(code, summary_day(today, MONDAY)),
                    sent=[s for s in sent if s[0] == roadmap_id],
                    letters=[letters[k] for k in keys if k not in placed],
                    amended=[letters[k] for k in keys if k in placed],
                    reminders=mine,
                )
            )
            placed.update(keys)
    return days


def undo(engine: Engine) -> None:
    """Delete the day's rows (rungs, reminders, letters, heartbeats), fresh statistics."""
    with db.write(engine) as conn:
        conn.execute(sa.text("DELETE FROM reminder WHERE created_at = :at"), {"at": AT})
        conn.execute(
            sa.text(
                "DELETE FROM outbox_letter WHERE outbox_id IN "
                "(SELECT id FROM outbox WHERE created_at = :at)"
            ),
            {"at": AT},
        )
        conn.execute(sa.text("DELETE FROM outbox WHERE created_at = :at"), {"at": AT})
        conn.execute(sa.text("DELETE FROM sent_rung WHERE queued_at = :at"), {"at": AT})
        conn.execute(sa.text("DELETE FROM daemon_heartbeat"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(
            "VACUUM ANALYZE reminder, outbox, outbox_letter, sent_rung, daemon_heartbeat"
        )


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(sa.text(q), {"at": AT}).scalar_one())
            for q in (
                "SELECT count(*) FROM sent_rung WHERE queued_at = :at",
                "SELECT count(*) FROM reminder WHERE created_at = :at",
                "SELECT count(*) FROM outbox WHERE created_at = :at",
            )
        )


# --- the floor --------------------------------------------------------------------------------


#: Rows per multi-row INSERT … VALUES of the floor (SQLAlchemy's insertmanyvalues pages
#: 1,000 rows too).
_PAGE = 1000


def _insert(
    cur: Any, head: str, marks: str, rows: Sequence[tuple[Any, ...]], tail: str = ""
) -> list[Any]:
    """``head VALUES marks, marks, … tail`` for ``rows``, a page at a time; what the pages
    return (RETURNING), in order."""
    out: list[Any] = []
    for start in range(0, len(rows), _PAGE):
        page = rows[start : start + _PAGE]
        cur.execute(
            f"{head} VALUES {', '.join([marks] * len(page))} {tail}",
            [value for row in page for value in row],
        )
        if tail:
            out.extend(cur.fetchall())
    return out


def floor(engine: Engine, days: Sequence[RoadmapDay]) -> float:
    """The day's tick in hand-written SQL: the same reads, the same rows written. Seconds."""
    raw = _raw(engine)
    cur = raw.cursor()
    ids: dict[str, int] = {}
    sent_head = f"INSERT INTO sent_rung ({', '.join(_SENT)})"
    sent_marks = f"({', '.join(['%s'] * len(_SENT))})"
    letter_head = f"INSERT INTO outbox ({', '.join(_OUTBOX)})"
    letter_marks = f"({', '.join(['%s'] * len(_OUTBOX))})"
    bytes_head = "INSERT INTO outbox_letter (outbox_id, message)"
    reminder_head = f"INSERT INTO reminder (outbox_id, {', '.join(_REMINDER)})"
    reminder_marks = f"(%s, {', '.join('%s::json' if c == 'payload' else '%s' for c in _REMINDER)})"
    started = time.perf_counter()
    try:
        cur.execute("SELECT code FROM roadmap ORDER BY code")
        cur.fetchall()
        raw.commit()
        for d in days:
            r = d.id
            # What the tick reads (its read transactions), each result fetched.
            for sql, params in [
                ("SELECT id, source FROM roadmap WHERE code = %s", (d.code,)),
                ("SELECT measure, period FROM measure_cycle WHERE roadmap_id = %s", (r,)),
                (
                    "SELECT id, due_date FROM measure_cycle WHERE roadmap_id = %s AND state IN "
                    "('scheduled', 'in_progress') AND due_date < %s ORDER BY due_date, id",
                    (r, d.today),
                ),
                ("SELECT adopted_on FROM roadmap WHERE id = %s", (r,)),
                (
                    "SELECT c.id, c.measure, c.period, c.due_date, c.state, (SELECT "
                    "max(s.day_offset) FROM sent_rung s WHERE s.roadmap_id = c.roadmap_id AND "
                    "s.kind = 'cycle' AND s.entity_id = c.id AND s.stage = '') FROM "
                    "measure_cycle c WHERE c.roadmap_id = %s AND c.state IN ('scheduled', "
                    "'in_progress', 'overdue') ORDER BY c.due_date, c.measure, c.id",
                    (r,),
                ),
                *[
                    (
                        "SELECT original_due FROM deadline_revision WHERE roadmap_id = %s AND "
                        "cycle_id = %s ORDER BY id",
                        (r, cycle),
                    )
                    for cycle in d.cycles
                ],
                (
                    "SELECT cohort, state FROM center WHERE roadmap_id = %s AND state <> "
                    "'withdrawn' GROUP BY cohort, state",
                    (r,),
                ),
                (
                    "SELECT measure, due_date FROM measure_cycle WHERE roadmap_id = %s AND "
                    "measure IN (3) AND state <> 'cancelled'",
                    (r,),
                ),
                *[
                    (
                        "SELECT c.id, c.code, c.name, c.municipality, c.email FROM center c "
                        "WHERE c.roadmap_id = %s AND c.cohort = %s AND c.state = ANY(%s) AND "
                        "c.id NOT IN (SELECT s.entity_id FROM sent_rung s WHERE s.roadmap_id = "
                        "%s AND s.kind = 'center' AND s.stage = %s AND s.day_offset >= %s) AND "
                        "c.id NOT IN (SELECT v.center_id FROM stage_revision v WHERE "
                        "v.roadmap_id = %s AND v.stage = %s) ORDER BY c.id",
                        (r, cohort, states, r, stage, offset, r, stage),
                    )
                    for cohort, stage, states, offset in d.groups
                ],
                (
                    "SELECT name, email, recipient FROM municipality_contact WHERE "
                    "roadmap_id = %s",
                    (r,),
                ),
                ("SELECT center_id, stage FROM stage_revision WHERE roadmap_id = %s", (r,)),
            ]:
                cur.execute(sql, params)
                cur.fetchall()
            raw.commit()
            # What it writes, in one transaction.
            cur.execute("SELECT seq, hash FROM audit_head WHERE roadmap_id = %s", (r,))
            cur.fetchall()
            fresh = _insert(cur, sent_head, sent_marks, d.sent,
                            "ON CONFLICT DO NOTHING RETURNING entity_id, stage")
            assert len(fresh) == len(d.sent), (len(fresh), len(d.sent))
            cur.execute("SELECT key FROM reminder WHERE key = ANY(%s)",
                        ([x[1] for x in d.reminders],))
            cur.fetchall()
            groups = list({x[2] for x in (*d.letters, *d.amended)})
            cur.execute(
                "SELECT digest_group, id, status, attempts, kind, key FROM outbox WHERE "
                "digest_group = ANY(%s)",
                (groups,),
            )
            cur.fetchall()
            for letter in d.amended:
                cur.execute("UPDATE outbox_letter SET message = %s WHERE outbox_id = %s",
                            (letter[_MESSAGE], ids[letter[0]]))
                cur.execute("UPDATE outbox SET subject = %s, updated_at = %s WHERE id = %s",
                            (letter[5], letter[10], ids[letter[0]]))
            new = _insert(cur, letter_head, letter_marks, [x[:_MESSAGE] for x in d.letters],
                          "RETURNING key, id")
            ids.update(new)
            assert len(new) == len(d.letters)
            _insert(cur, bytes_head, "(%s, %s)",
                    [(ids[x[0]], x[_MESSAGE]) for x in d.letters])
            _insert(cur, reminder_head, reminder_marks, [(ids[x[0]], *x[1:]) for x in d.reminders])
            # The weekly summary of the week: already queued (one key looked up).
            cur.execute("SELECT id FROM outbox WHERE key = %s", (d.summary,))
            cur.fetchall()
            raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def letters_floor(days: Sequence[RoadmapDay]) -> float:
    """The day's letters rendered by bench_notifications's floor (bare jinja2 over the same
    templates, icalendar, `email`), from the reminders each letter carries; each letter's
    data prepared off the clock, a page of letters at a time (bounded memory). Seconds."""
    import json

    import bench_notifications as letters

    from notifications.render import Renderer
    from notifications.values import Reminder

    letters.NOW = AT  # the floor's «today» and calendar stamp: the day's
    env = letters.floor_environment(Renderer())
    carried: dict[str, list[Reminder]] = {}
    for d in days:
        for x in d.reminders:
            carried.setdefault(x[0], []).append(Reminder.from_json(json.loads(x[6])))
    pages = list(carried.values())
    letters.floor(env, letters.floor_inputs(pages[:3]))  # every template compiled first
    total = 0.0
    for start in range(0, len(pages), 500):
        inputs = letters.floor_inputs(pages[start : start + 500])
        began = time.perf_counter()
        letters.floor(env, inputs)
        total += time.perf_counter() - began
    return total


# --- the rounds ----------------------------------------------------------------------------


@dataclass
class Round:
    tick: float
    letters: float
    day: float
    floor: float
    letters_floor: float
    sent: int
    leader_mb: float
    peak_mb: float
    problems: list[str]

    @property
    def ratio(self) -> float:
        return self.tick / self.floor

    @property
    def complete(self) -> float:
        """The tick against the SQL floor and the letters' floor together."""
        return self.tick / (self.floor + self.letters_floor)


def spread(values: Sequence[float], unit: str = "x", digits: int = 2) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{unit}"
    return (
        f"{statistics.median(values):.{digits}f}{unit} "
        f"({min(values):.{digits}f}–{max(values):.{digits}f})"
    )


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="10 roadmaps instead of 85")
    parser.add_argument("--roadmaps", type=int, default=None, help="roadmaps (default 85)")
    parser.add_argument("--centers", type=int, default=250, help="centers per roadmap")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (ours, then the floor)")
    parser.add_argument("--daemons", type=int, default=3)
    parser.add_argument(
        "--delivery-seconds", type=float, default=1.0, help="the daemons' delivery interval"
    )
    args = parser.parse_args(argv)
    roadmaps = args.roadmaps or (10 if args.quick else 85)
    pg_url = os.environ.get("TOCHKA_BENCH_PG_URL") or os.environ.get("TOCHKA_TEST_PG_URL")
    title = f"federal day, {roadmaps} × {args.centers} centers, {args.daemons} daemons"
    if not pg_url:
        print(f"federal_day: skipped ({title}): set TOCHKA_BENCH_PG_URL or TOCHKA_TEST_PG_URL")
        return [_row(title, [], skipped=True)]
    print(f"federal_day: {title}, as of {AT:%d.%m.%Y %H:%M} (frozen clocks); load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp, federal.pg_schema(pg_url, prefix="bench_fed") as url:
        folder = Path(tmp)
        engine = db.make_engine(url)
        try:
            schema.upgrade(engine)
            began = time.perf_counter()
            stored = federal.seed(engine, folder / "files", roadmaps=roadmaps,
                                  centers_each=args.centers)
            seeded = time.perf_counter() - began
            began = time.perf_counter()
            federal.eve(engine, stored)
            print(f"  seed {seeded:.1f} s (init, centers and contacts imports), the eve "
                  f"{time.perf_counter() - began:.1f} s", flush=True)
            for n in range(1, args.rounds + 1):
                day = federal.run_day(url, engine, folder / f"round{n}", daemons=args.daemons,
                                      delivery_seconds=args.delivery_seconds)
                found = federal.problems(engine, day)
                written = counts(engine)
                days = snapshot(engine)
                undo(engine)
                floor_s = floor(engine, days)
                letters_s = letters_floor(days)
                del days  # the day's letters, before the next round's daemons start
                again = counts(engine)
                assert again == written, f"the floor wrote {again}, the day {written}"
                undo(engine)
                tick = day.tick
                (leader,) = day.leaders
                done = Round(
                    tick=tick["end"] - tick["start"],
                    letters=tick["letters"],
                    day=day.last_letter - tick["start"],
                    floor=floor_s,
                    letters_floor=letters_s,
                    sent=len(day.ids),
                    leader_mb=leader.maxrss_kb / 1024,
                    peak_mb=max(d.maxrss_kb for d in day.daemons) / 1024,
                    problems=found,
                )
                rounds.append(done)
                print(
                    f"  round {n}: tick {done.tick:6.1f} s (letters {done.letters:5.1f} s)  "
                    f"SQL floor {done.floor:5.2f} s  ratio {done.ratio:5.2f}x  "
                    f"(without letters {(done.tick - done.letters) / done.floor:4.2f}x)  "
                    f"letters' floor {done.letters_floor:5.1f} s "
                    f"(ours {done.letters / done.letters_floor:4.2f}x)  "
                    f"tick / both floors {done.complete:4.2f}x  "
                    f"day to the last letter {done.day:6.1f} s, {done.sent:,} letters "
                    f"({done.sent / done.day:,.0f}/s; by daemon {[d.sent for d in day.daemons]})"
                    f"  rungs/reminders/letters {written}  "
                    f"peak RSS leader {done.leader_mb:.0f} MB, max {done.peak_mb:.0f} MB  "
                    f"load {os.getloadavg()[0]:.2f}  "
                    + ("exactly once: yes" if not found else f"PROBLEMS: {found}"),
                    flush=True,
                )
        finally:
            engine.dispose()
    row = _row(title, rounds)
    print(f"  tick / (SQL + letters' floors) {row['ratio']} (goal ≤ {GOAL:g}x): "
          f"{'met' if row['met'] else 'NOT met'}; "
          f"nothing doubled: {'yes' if all(not r.problems for r in rounds) else 'NO'}; "
          "this harness's peak RSS (it holds a day's rows for the floor) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return [row]


def _row(title: str, rounds: Sequence[Round], *, skipped: bool = False) -> dict[str, Any]:
    """run_all's summary row. Its ratio is against the whole floor: the hand-written SQL
    and the letters' bare rendering (the tick renders every letter it queues); the
    ratio against the SQL alone is given beside it."""
    if skipped or not rounds:
        return {"key": "federal", "path": title, "today": "not run (no PostgreSQL)",
                "floor": "", "ratio": "", "peak": "", "goal": f"≤ {GOAL:g}x", "met": None}
    complete = [r.complete for r in rounds]
    clean = all(not r.problems for r in rounds)
    return {
        "key": "federal",
        "path": f"{title}: the tick",
        "today": spread([r.tick for r in rounds], " s", 1)
        + f", day {spread([r.day for r in rounds], ' s', 1)}",
        "floor": f"SQL {spread([r.floor for r in rounds], ' s', 1)} + letters "
        f"{spread([r.letters_floor for r in rounds], ' s', 1)}",
        "ratio": f"{spread(complete)}; SQL alone {spread([r.ratio for r in rounds])}",
        "peak": f"{max(r.peak_mb for r in rounds):.0f} MB RSS",
        "goal": f"≤ {GOAL:g}x, nothing doubled" + ("" if clean else ": DOUBLED"),
        "met": max(complete) <= GOAL and clean,
    }

if __name__ == "__main__":
    main()
