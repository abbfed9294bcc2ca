"""Adoption mid-program: the day a database took the roadmap over, and the state before it.

A region that starts using Tochka while the program runs records the adoption date
(``tochka init --as-of``) and imports what had happened by then (``tochka adopt``): the
dates its centers reached each stage and the measure cycles already done. Each of them
is recorded through the transition engine as a history event with its own effective
date; the audit chain says it was entered at adoption («внесено при переходе на Точку:
файл X, строка N»), by whom (the actor) and when (``recorded_at``, the real time). The
whole import is one transaction.

The reconciler sends no reminder rung whose send day is before the adoption date
(`workflow.schedule.reconcile.adoption_floor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, local_date, system_clock
from states.center import FORWARD_TRIGGERS, STATE_TITLES, CenterState
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState, CycleTrigger
from workflow.engine import cycles, dates
from workflow.engine.access import Action, as_actor, authorize_action, refusals_recorded
from workflow.engine.audit import CREATE_TRIGGER
from workflow.engine.centers import UPDATE_TRIGGER
from workflow.engine.transitions import TransitionEngine
from workflow.errors import ImportFileError, InputError, Problem, TochkaError
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.recurrence import CycleSpec
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, CYCLE, ROADMAP

if TYPE_CHECKING:
    from workflow.engine.access import Actor
    from workflow.imports.state_file import CycleDoneRow, StageRow


#: The events that only enter a center into the database (`workflow.engine.centers`): its
#: import, and corrections of its name, address or municipality. Neither changes its
#: state, and a center still ``planned`` with no other event was planned before it was
#: entered, so the dates it reached its stages (before the adoption date) may precede
#: them. Its history then lists its creation first (`workflow.engine.centers.history`),
#: then the stages in effective-date order, which is the order its states changed.
IMPORT_TRIGGERS = (CREATE_TRIGGER, UPDATE_TRIGGER)


def adopted_on(conn: Connection, roadmap_id: int) -> date | None:
    """The roadmap's adoption date (None: the database runs it from the start)."""
    found = conn.execute(sa.select(ROADMAP.c.adopted_on).where(ROADMAP.c.id == roadmap_id)).scalar()
    return found if isinstance(found, date) or found is None else date.fromisoformat(str(found))


def check_as_of(definition: Roadmap, as_of: date, *, today: date) -> None:
    """Refuse an adoption date after ``today`` (the command's date: ``--now`` or the real
    one) or before the program's start.

    Raises:
        InputError: naming the date and the limit.
    """
    if as_of > today:
        raise InputError(
            f"--as-of {as_of:%d.%m.%Y}: дата перехода на Точку в будущем (сегодня "
            f"{today:%d.%m.%Y}).",
            hint="Укажите день, с которого база ведёт программу: сегодня или раньше.",
        )
    if as_of < definition.period_start:
        raise InputError(
            f"--as-of {as_of:%d.%m.%Y}: раньше начала программы "
            f"{definition.period_start:%d.%m.%Y}.",
            hint="С начала программы база ведётся без --as-of.",
        )


def set_adopted_on(
    engine: Engine,
    roadmap: StoredRoadmap,
    as_of: date,
    *,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> bool:
    """Record ``as_of`` as the day the database took the roadmap over.

    Returns:
        Whether it was newly recorded (False: the same date was already recorded).

    Raises:
        InputError: ``as_of`` is after ``now``'s date or before the program's
            start (`check_as_of`), or another adoption date is already recorded.
        AccessDenied: the actor may not load the roadmap (recorded).
    """
    definition = roadmap.definition
    check_as_of(definition, as_of, today=local_date(now, definition.timezone))
    by = as_actor(actor)
    with (
        refusals_recorded(
            engine, roadmap.id, timezone=definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        authorize_action(conn, roadmap.id, by, Action.LOAD_ROADMAP, target=definition.code)
        recorded = adopted_on(conn, roadmap.id)
        if recorded == as_of:
            return False
        if recorded is not None:
            raise InputError(
                f"--as-of {as_of:%d.%m.%Y}: дата перехода на Точку уже записана — "
                f"{recorded:%d.%m.%Y}.",
                hint="Дата перехода записывается один раз: от неё зависит, о каких сроках "
                "напоминать.",
            )
        conn.execute(sa.update(ROADMAP).where(ROADMAP.c.id == roadmap.id).values(adopted_on=as_of))
    return True


@dataclass(frozen=True, kw_only=True)
class AdoptionReport:
    """What `import_state` recorded."""

    adopted_on: date
    centers: int
    stage_events: int
    cycles: int
    cycles_created: int
    unchanged: int


def _entered(filename: str, line: int) -> str:
    return f"внесено при переходе на Точку: файл {filename}, строка {line}"


def import_state(
    engine: Engine,
    roadmap: StoredRoadmap,
    *,
    stages: Sequence[StageRow] = (),
    stages_file: str = "",
    done: Sequence[CycleDoneRow] = (),
    cycles_file: str = "",
    actor: Actor | str,
    clock: Clock = system_clock,
) -> AdoptionReport:
    """Record the state before adoption, all or nothing, in effective-date order.

    A center must exist (``tochka centers import``), be ``planned`` or already in the
    file's stage (then it is left alone), and have no event dated after its first
    stage. A cycle is created if the tick has not created it yet (its creation dated the
    day it was done); an existing one must be open or already done.

    Raises:
        InputError: no adoption date is recorded.
        ImportFileError: every problem against the database, with its file, line and
            column; or the engine's refusal of one event; nothing is recorded.
        AccessDenied: the actor may not import centers (recorded).
    """
    by = as_actor(actor)
    definition = roadmap.definition
    zone = ZoneInfo(definition.timezone)
    real = clock()

    def moment(day: date) -> datetime:
        return datetime.combine(day, time(12, 0), zone)

    with (
        refusals_recorded(
            engine, roadmap.id, timezone=definition.timezone, actor=by, now=real, clock=clock
        ),
        db.write(engine) as conn,
    ):
        as_of = adopted_on(conn, roadmap.id)
        if as_of is None:
            raise InputError(
                "Дата перехода на Точку не записана.",
                hint="Сначала: tochka init --as-of ДД.ММ.ГГГГ (день, с которого база ведёт "
                "программу).",
            )
        authorize_action(
            conn, roadmap.id, by, Action.IMPORT_CENTERS, target=stages_file or cycles_file
        )
        problems: list[Problem] = []
        # (day, file order, action): applied in effective-date order.
        plan: list[tuple[date, int, int, object]] = []
        unchanged = 0
        entered_only: set[str] = set()
        centers = {
            r.code: r
            for r in conn.execute(
                sa.select(CENTER.c.id, CENTER.c.code, CENTER.c.state, CENTER.c.version).where(
                    CENTER.c.roadmap_id == roadmap.id,
                    CENTER.c.code.in_([s.code for s in stages]),
                )
            )
        }
        for s in stages:
            found = centers.get(s.code)
            if found is None:
                problems.append(
                    Problem(
                        file=stages_file,
                        line=s.line,
                        column=s.code_column,
                        message=f"центра с кодом «{s.code}» нет в базе: сначала tochka centers "
                        "import",
                    )
                )
                continue
            if found.state == s.target.value:
                unchanged += 1
                continue
            if found.state != CenterState.PLANNED.value:
                problems.append(
                    Problem(
                        file=stages_file,
                        line=s.line,
                        column=s.reached[-1][2] if s.reached else s.code_column,
                        message=f"центр «{s.code}» уже в базе на этапе "
                        f"«{STATE_TITLES[CenterState(found.state)]}», а в файле — "
                        f"«{STATE_TITLES[s.target]}»",
                    )
                )
                continue
            # A center known only from its import (and corrections of its data) was
            # planned before it was entered: its history may precede the entry.
            last = dates.last_effective(
                conn, roadmap.id, "center", found.id, excluding=IMPORT_TRIGGERS
            )
            if last is None:
                entered_only.add(s.code)
            first_stage, first_day, first_column = s.reached[0]
            if last is not None and first_day < last:
                problems.append(
                    Problem(
                        file=stages_file,
                        line=s.line,
                        column=first_column,
                        message=f"этап «{STATE_TITLES[first_stage]}» {first_day:%d.%m.%Y} "
                        f"раньше, чем центр «{s.code}» внесён в базу ({last:%d.%m.%Y}): "
                        "загрузите центры с датой не позже первого этапа, например "
                        f"tochka --now {definition.period_start:%d.%m.%Y} centers import",
                    )
                )
                continue
            for stage, day, column in s.reached:
                plan.append((day, 0, s.line, ("center", s, stage, column)))
        existing = {
            (int(r.measure), str(r.period)): r
            for r in conn.execute(
                sa.select(CYCLE.c.id, CYCLE.c.measure, CYCLE.c.period, CYCLE.c.state).where(
                    CYCLE.c.roadmap_id == roadmap.id
                )
            )
        }
        for c in done:
            cycle = existing.get((c.measure, c.period))
            if cycle is not None:
                if cycle.state == CycleState.DONE.value:
                    unchanged += 1
                    continue
                if cycle.state == CycleState.CANCELLED.value:
                    problems.append(
                        Problem(
                            file=cycles_file,
                            line=c.line,
                            column=c.done_column,
                            message=f"цикл {c.measure}/{c.period} уже в базе в состоянии "
                            f"«{CYCLE_TITLES[CycleState.CANCELLED]}», а в файле — выполнен",
                        )
                    )
                    continue
                last = dates.last_effective(conn, roadmap.id, "cycle", int(cycle.id))
                if last is not None and c.done < last:
                    problems.append(
                        Problem(
                            file=cycles_file,
                            line=c.line,
                            column=c.done_column,
                            message=f"цикл {c.measure}/{c.period} выполнен {c.done:%d.%m.%Y}, "
                            f"а его последнее событие в базе — {last:%d.%m.%Y}",
                        )
                    )
                    continue
            plan.append((c.done, 1, c.line, ("cycle", c, cycle)))
        if problems:
            problems.sort(key=lambda p: (p.file, p.line or 0, p.column or 0))
            raise ImportFileError(problems)
        plan.sort(key=lambda item: item[:3])
        machine = TransitionEngine(engine, definition, roadmap.id, clock=clock)
        touched: set[str] = set()
        events = created = done_count = 0
        for day, _, line, action in plan:
            kind = action[0]  # type: ignore[index]
            try:
                if kind == "center":
                    _, s, stage, column = action  # type: ignore[misc]
                    machine.fire_center_in(
                        conn,
                        s.code,
                        FORWARD_TRIGGERS[stage].value,
                        actor=by,
                        now=moment(day),
                        comment=_entered(stages_file, line),
                        floor_ignores=IMPORT_TRIGGERS if s.code in entered_only else (),
                    )
                    touched.add(s.code)
                    events += 1
                    continue
                _, c, cycle = action  # type: ignore[misc]
                column = c.done_column
                if cycle is None:
                    (cycle_id,) = cycles.create_cycles(
                        conn,
                        roadmap,
                        [CycleSpec(measure=c.measure, period=c.period, due=c.due)],
                        origin=cycles.ORIGIN_SCHEDULE,
                        actor=by.login,
                        on_behalf_of=by.on_behalf_of,
                        now=moment(day),
                        recorded_at=clock(),
                    )
                    state = CycleState.SCHEDULED.value
                    created += 1
                else:
                    cycle_id, state = int(cycle.id), str(cycle.state)
                comment = _entered(cycles_file, line)
                if state == CycleState.SCHEDULED.value:
                    machine.fire_cycle_in(
                        conn,
                        cycle_id,
                        CycleTrigger.START.value,
                        actor=by,
                        now=moment(day),
                        comment=comment,
                    )
                machine.fire_cycle_in(
                    conn,
                    cycle_id,
                    CycleTrigger.COMPLETE.value,
                    actor=by,
                    now=moment(day),
                    evidence=c.evidence,
                    comment=comment,
                )
                done_count += 1
            except TochkaError as exc:
                raise ImportFileError(
                    [
                        Problem(
                            file=stages_file if kind == "center" else cycles_file,
                            line=line,
                            column=column,
                            message=exc.message,
                        )
                    ]
                ) from None
    return AdoptionReport(
        adopted_on=as_of,
        centers=len(touched),
        stage_events=events,
        cycles=done_count,
        cycles_created=created,
        unchanged=unchanged,
    )


__all__ = ["AdoptionReport", "adopted_on", "check_as_of", "import_state", "set_adopted_on"]
