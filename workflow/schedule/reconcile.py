"""The reconciler (``tochka tick``): make everything that should exist as of ``now`` exist.

Level-triggered and idempotent (DESIGN.md, principle 1): a tick creates the cycles the
recurrences imply, marks passed-due cycles overdue and queues the reminders due today.
A second tick with the same ``now`` changes nothing; after any downtime one tick catches
up. Each step commits in its own transactions, so a tick killed half-way leaves only
complete steps behind and the next tick finishes the work without doubling any of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from base import db
from base.clock import Clock, local_date, system_clock
from notifications.values import Recipient
from states.cycle import CycleState, CycleTrigger
from states.errors import StateError
from workflow.engine import adoption, cycles, dates
from workflow.engine.access import Actor
from workflow.engine.municipalities import contacts as municipality_contacts
from workflow.engine.transitions import SYSTEM_ACTOR, TransitionEngine
from workflow.errors import Conflict, EffectiveDateBeforeLast
from workflow.roadmap import closing
from workflow.roadmap.recurrence import CycleSpec, scheduled_cycles
from workflow.roadmap.store import StoredRoadmap
from workflow.roadmap.workdays import term_end
from workflow.schedule import file_done, relative
from workflow.schedule.bounces import report_bounces
from workflow.schedule.ladder import RungDate
from workflow.schedule.moved import as_deadline, moved_deadlines
from workflow.schedule.reminders import (
    Deadline,
    ReminderQueue,
    build_reminders,
    center_deadline,
    centers_needing,
    journal_head,
    latest_due,
    open_cycle_deadline,
    open_cycles,
    record_rungs,
    rung_offset,
    stage_groups,
)
from workflow.schedule.weekly import WeeklyPlan, queue_weekly_summary
from workflow.storage.tables import CYCLE

log = logging.getLogger("tochka.reconcile")

#: The actor recorded on the reconciler's events (the ``system`` role).
DAEMON_ACTOR = SYSTEM_ACTOR.login

# Deadlines per write transaction when queuing reminders: bounds a transaction's size
# (its letters are held until it commits) and, on SQLite, the write lock's hold time on
# the day 20,000 centers are reminded. PostgreSQL locks rows, not the database: a
# region's day (250 centers owing three stages, 750 deadlines) fits in one transaction,
# so its coordinator's letter, which escalates every center's overdue stages, is
# rendered once, not once per transaction (benchmarks/federal_day.py).
_BATCH = 500
_BATCH_POSTGRES = 2000


@dataclass(frozen=True, kw_only=True)
class TickReport:
    """What one tick did (all zeros: nothing was due).

    Attributes:
        roadmap: the roadmap code.
        today: the local date the tick ran as of.
        cycles_created: cycles created from the recurrences.
        marked_overdue: cycles moved to overdue.
        skipped: overdue marks skipped because someone else changed the cycle first.
        deadlines_reminded: deadlines that got a rung recorded.
        reminders_queued: reminders (one per recipient) newly recorded by the queue, a
            bounced address told to the coordinator among them (`workflow.schedule.bounces`).
        summaries_queued: weekly summary letters queued (0 or 1; `workflow.schedule.weekly`).
    """

    roadmap: str
    today: date
    cycles_created: int = 0
    marked_overdue: int = 0
    skipped: int = 0
    deadlines_reminded: int = 0
    reminders_queued: int = 0
    summaries_queued: int = 0

    @property
    def changed(self) -> bool:
        """Whether the tick changed anything."""
        return bool(
            self.cycles_created
            or self.marked_overdue
            or self.deadlines_reminded
            or self.reminders_queued
            or self.summaries_queued
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "roadmap": self.roadmap,
            "today": self.today.isoformat(),
            "cycles_created": self.cycles_created,
            "marked_overdue": self.marked_overdue,
            "skipped": self.skipped,
            "deadlines_reminded": self.deadlines_reminded,
            "reminders_queued": self.reminders_queued,
            "summaries_queued": self.summaries_queued,
        }

    def log_text(self) -> str:
        """``key=value`` pairs for a structured log line."""
        return " ".join(f"{k}={v}" for k, v in self.as_json().items())


def tick(
    engine: Engine,
    stored: StoredRoadmap,
    *,
    now: datetime,
    clock: Clock = system_clock,
    queue: ReminderQueue,
    weekly: WeeklyPlan | None = None,
    actor: Actor = SYSTEM_ACTOR,
) -> TickReport:
    """Reconcile one roadmap as of ``now``.

    Args:
        engine: the database.
        stored: the roadmap.
        now: the effective time (aware); its local date in the roadmap's zone is "today".
        clock: the real time, recorded on rows and events.
        queue: records the reminders (normally `workflow.schedule.reminders.outbox_queue`).
        weekly: when and how to send the weekly summary; None: not sent.
        actor: recorded on the tick's events: the daemon, or the coordinator who ran
            ``tochka tick`` (with the system role either way).

    Returns:
        What was done.

    Raises:
        EffectiveDateImplausible: ``now`` is taken for a typo (``tick --now 9999-12-31``);
            nothing was done. The daemon's ``now`` is the real time, never a typo.
    """
    # Checked before the first step, so that no step runs as of a mistyped date.
    dates.plausible_effective(stored.definition, now, real=clock())
    today = local_date(now, stored.definition.timezone)
    if closing.is_closed(stored.definition, today):
        # The program has closed: nothing is created, marked or sent for it any more.
        log.info(
            "event=tick_closed roadmap=%s closed_on=%s",
            stored.definition.code,
            closing.closes_on(stored.definition).isoformat(),
        )
        return TickReport(roadmap=stored.definition.code, today=today)
    created = create_due_cycles(engine, stored, today=today, now=now, clock=clock, actor=actor)
    marked, skipped = mark_overdue(engine, stored, today=today, now=now, clock=clock, actor=actor)
    deadlines, queued = queue_due_reminders(
        engine,
        stored,
        today=today,
        now=now,
        clock=clock,
        queue=queue,
        weekly_summary=weekly is not None,
    )
    # Bounced addresses: told once in the coordinator's letter of the day (a reminder
    # of its own, counted with the reminders queued), before the summary folds it.
    cleared, told = report_bounces(
        engine, stored, today=today, now=now, clock=clock, queue=queue, actor=actor
    )
    if cleared or told:
        log.info(
            "event=bounces roadmap=%s cleared=%d told=%d", stored.definition.code, cleared, told
        )
    queued += told
    summaries = (
        0
        if weekly is None
        else queue_weekly_summary(engine, stored, today=today, now=now, weekly=weekly)
    )
    report = TickReport(
        roadmap=stored.definition.code,
        today=today,
        cycles_created=created,
        marked_overdue=marked,
        skipped=skipped,
        deadlines_reminded=deadlines,
        reminders_queued=queued,
        summaries_queued=summaries,
    )
    log.info("event=tick %s", report.log_text())
    return report


def create_due_cycles(
    engine: Engine,
    stored: StoredRoadmap,
    *,
    today: date,
    now: datetime,
    clock: Clock,
    actor: Actor = SYSTEM_ACTOR,
) -> int:
    """Step (a): create the cycles the recurrences imply as of ``today``; those the file
    records as done (``done:``) are created done, never as open ones (`file_done`)."""
    recorded = file_done.record_file_done(engine, stored, today=today, clock=clock, actor=actor)
    specs = file_done.without_file_done(
        stored.definition, scheduled_cycles(stored.definition, as_of=today)
    )
    # Relative deadlines (``kind: after``): due from their source's completion.
    specs += relative.reconcile_relative(engine, stored, today=today, clock=clock, actor=actor)
    return recorded + _create_scheduled(engine, stored, specs, now=now, clock=clock, actor=actor)


def _create_scheduled(
    engine: Engine,
    stored: StoredRoadmap,
    specs: Sequence[CycleSpec],
    *,
    now: datetime,
    clock: Clock,
    actor: Actor,
) -> int:
    if not specs:
        return 0
    existing_query = sa.select(CYCLE.c.measure, CYCLE.c.period).where(
        CYCLE.c.roadmap_id == stored.id
    )
    # A read first: on the usual day nothing is missing and no write lock is taken.
    with db.read(engine) as conn:
        existing = {(int(m), str(p)) for m, p in conn.execute(existing_query)}
    if all((s.measure, s.period) in existing for s in specs):
        return 0
    for attempt in (1, 2):
        try:
            with db.write(engine) as conn:
                ids = cycles.create_cycles(
                    conn,
                    stored,
                    specs,
                    origin=cycles.ORIGIN_SCHEDULE,
                    actor=actor.login,
                    now=now,
                    recorded_at=clock(),
                )
            for cycle_id in ids:
                log.info(
                    "event=cycle_created roadmap=%s cycle=%d", stored.definition.code, cycle_id
                )
            return len(ids)
        except IntegrityError:
            # Another reconciler created the same cycle between our read and our
            # insert (PostgreSQL, where creation does not serialise): read again.
            if attempt == 2:
                raise
            log.info("event=cycle_race roadmap=%s retry=1", stored.definition.code)
    return 0  # pragma: no cover - the loop returns or raises


def mark_overdue(
    engine: Engine,
    stored: StoredRoadmap,
    *,
    today: date,
    now: datetime,
    clock: Clock,
    actor: Actor = SYSTEM_ACTOR,
) -> tuple[int, int]:
    """Step (b): fire ``mark_overdue`` on open cycles whose term has ended.

    One transaction per cycle (the engine's). A `Conflict` or a refused trigger means
    someone changed the cycle first (another daemon, an operator completing it): skipped.
    So is a cycle whose last event is dated after ``now`` (an operator's act dated ahead
    of this tick): marking it as of ``now`` would put its history out of order.

    Returns:
        Cycles marked, cycles skipped.
    """
    with db.read(engine) as conn:
        due_rows = list(
            conn.execute(
                sa.select(CYCLE.c.id, CYCLE.c.due_date)
                .where(
                    CYCLE.c.roadmap_id == stored.id,
                    CYCLE.c.state.in_([CycleState.SCHEDULED.value, CycleState.IN_PROGRESS.value]),
                    CYCLE.c.due_date < today,
                )
                .order_by(CYCLE.c.due_date, CYCLE.c.id)
            )
        )
    # A term on a non-working day ends on the next working day (Civil Code art. 193):
    # the cycle is overdue only once that day has passed.
    due_ids = [int(row.id) for row in due_rows if term_end(row.due_date) < today]
    if not due_ids:
        return 0, 0
    machine = TransitionEngine(engine, stored.definition, stored.id, clock=clock)
    marked = skipped = 0
    for cycle_id in due_ids:
        try:
            machine.fire_cycle(
                cycle_id,
                CycleTrigger.MARK_OVERDUE.value,
                actor=actor,
                now=now,
                comment="срок прошёл",
            )
        except (Conflict, StateError, EffectiveDateBeforeLast) as exc:
            skipped += 1
            log.info(
                "event=overdue_skipped roadmap=%s cycle=%d reason=%s",
                stored.definition.code,
                cycle_id,
                type(exc).__name__,
            )
            continue
        marked += 1
        log.info("event=cycle_overdue roadmap=%s cycle=%d", stored.definition.code, cycle_id)
    return marked, skipped


def queue_due_reminders(
    engine: Engine,
    stored: StoredRoadmap,
    *,
    today: date,
    now: datetime,
    clock: Clock,
    queue: ReminderQueue,
    weekly_summary: bool = True,
) -> tuple[int, int]:
    """Step (c): queue the latest due rung of every deadline that has not had it.

    ``weekly_summary``: whether the weekly summary is sent (`tick`'s ``weekly`` is not
    None); the last overdue letter says so, or that the coordinator controls the rest.

    Returns:
        Deadlines reminded, reminders queued.
    """
    roadmap = stored.definition
    cycle_items: list[tuple[RungDate, Deadline]] = []
    center_items: list[tuple[RungDate, Deadline]] = []
    contacts: Mapping[str, Recipient] | None = None
    with db.read(engine) as conn:
        adopted = adoption.adopted_on(conn, stored.id)
        for row in open_cycles(conn, stored.id):
            if not closing.cycle_reminded(
                roadmap, measure=int(row.measure), due=row.due_date, today=today
            ):
                continue  # after the program's end only its closing reports are reminded
            rung = adoption_floor(latest_due(row.due_date, roadmap, today), adopted)
            if rung is None:
                continue
            if row.sent_offset is not None and row.sent_offset >= rung_offset(rung):
                continue
            cycle_items.append((rung, open_cycle_deadline(conn, stored, row)))
        stages = stage_groups(conn, stored) if closing.stages_reminded(roadmap, today) else []
        for group in stages:
            assert group.stage.due is not None
            rung = adoption_floor(latest_due(group.stage.due, roadmap, today), adopted)
            if rung is None:
                continue
            rows = centers_needing(conn, stored.id, group, rung_offset(rung))
            if not rows:
                continue
            if contacts is None:  # read once, and only on a day with stage reminders
                contacts = municipality_contacts(conn, stored.id)
            center_items.extend(
                (
                    rung,
                    center_deadline(
                        roadmap,
                        group.stage,
                        cohort=group.cohort,
                        center_id=r.id,
                        code=r.code,
                        name=r.name,
                        municipality=r.municipality,
                        email=r.email,
                        municipality_contact=contacts.get(r.municipality),
                    ),
                )
                for r in rows
            )
        # Stages an order moved for one center: by that center's own date.
        reminded_stages = closing.stages_reminded(roadmap, today)
        for moved in moved_deadlines(conn, stored) if reminded_stages else []:
            assert moved.stage.due is not None
            rung = adoption_floor(latest_due(moved.stage.due, roadmap, today), adopted)
            if rung is None or (
                moved.sent_offset is not None and moved.sent_offset >= rung_offset(rung)
            ):
                continue
            if contacts is None:
                contacts = municipality_contacts(conn, stored.id)
            center_items.append((rung, as_deadline(roadmap, moved, contacts)))
    reminded = queued = 0
    batch = _BATCH_POSTGRES if engine.dialect.name == "postgresql" else _BATCH
    for chunk in _transactions(cycle_items, center_items, batch=batch):
        done, count = _queue_chunk(
            engine,
            stored,
            chunk,
            today=today,
            now=now,
            clock=clock,
            queue=queue,
            weekly_summary=weekly_summary,
        )
        reminded += done
        queued += count
    return reminded, queued


def _transactions(
    cycles: Sequence[tuple[RungDate, Deadline]],
    centers: Sequence[tuple[RungDate, Deadline]],
    *,
    batch: int,
) -> list[list[tuple[RungDate, list[Deadline]]]]:
    """Pack the (rung, deadline) pairs into transactions of about ``batch`` deadlines,
    each transaction's deadlines grouped by rung.

    The cycles come first, then the centers, a center's stages and a municipality's
    centers in one transaction (a municipality larger than a transaction is split
    between two of its centers): a school's and its authority's letter of the day are
    then rendered once. Split across transactions, the letter the first one queued is
    amended by the next, which renders it whole again (every school's letter twice on
    1 September, when its stages fall due together).
    """
    units: list[list[tuple[RungDate, Deadline]]] = [[item] for item in cycles]
    municipalities: dict[str, dict[int, list[tuple[RungDate, Deadline]]]] = {}
    for item in centers:
        by_center = municipalities.setdefault(item[1].municipality or "", {})
        by_center.setdefault(item[1].entity_id, []).append(item)
    for by_center in municipalities.values():
        stages = [by_center[center] for center in sorted(by_center)]
        whole = [item for items in stages for item in items]
        units.extend([whole] if len(whole) <= batch else stages)
    packed: list[list[tuple[RungDate, list[Deadline]]]] = []
    current: dict[RungDate, list[Deadline]] = {}
    size = 0
    for unit in units:
        if current and size + len(unit) > batch:
            packed.append(list(current.items()))
            current, size = {}, 0
        for rung, deadline in unit:
            current.setdefault(rung, []).append(deadline)
        size += len(unit)
    if current:
        packed.append(list(current.items()))
    return packed


def _queue_chunk(
    engine: Engine,
    stored: StoredRoadmap,
    chunk: Sequence[tuple[RungDate, list[Deadline]]],
    *,
    today: date,
    now: datetime,
    clock: Clock,
    queue: ReminderQueue,
    weekly_summary: bool = True,
) -> tuple[int, int]:
    roadmap = stored.definition
    sent: list[tuple[RungDate, Deadline]] = []
    with db.write(engine) as conn:
        recorded_at = clock()
        reminders = []
        journal = journal_head(conn, stored.id)
        for rung, deadlines in chunk:
            fresh = record_rungs(conn, stored.id, deadlines, rung, send_on=today, now=recorded_at)
            for d in deadlines:
                if (d.entity_id, d.stage) in fresh:
                    sent.append((rung, d))
                    reminders.extend(
                        build_reminders(
                            roadmap,
                            d,
                            rung,
                            send_on=today,
                            journal=journal,
                            weekly_summary=weekly_summary,
                        )
                    )
        count = queue(conn, reminders, now=now) if reminders else 0
    for rung, d in sent:
        log.info(
            "event=reminder roadmap=%s deadline=%s rung=%s due=%s recipients=%d",
            roadmap.code,
            d.deadline_id,
            rung.key_part,
            d.due.isoformat(),
            len(d.recipients),
        )
    return len(sent), count


def adoption_floor(rung: RungDate | None, adopted: date | None) -> RungDate | None:
    """The rung, unless its send day is before the adoption date (`tochka init --as-of`).

    Nothing before adoption is reminded: a deadline whose latest rung fell before that
    day gets none; one still open at adoption gets the rungs the ladder has from then on.
    """
    if rung is None or (adopted is not None and rung.send_on < adopted):
        return None
    return rung
