"""The status view of a roadmap: measures with their cycles, centers by stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.clock import local_date
from states.center import STATE_TITLES as CENTER_TITLES
from states.center import CenterState
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState
from workflow.roadmap import closing, parties
from workflow.roadmap.definition import Recurrence, Roadmap
from workflow.roadmap.items import items_done, measure_done_text
from workflow.roadmap.recurrence import measure_cycles
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.inbound import bounced_addresses
from workflow.storage.tables import CENTER, CONTACT, CYCLE


@dataclass(frozen=True, kw_only=True)
class MeasureLine:
    number: int
    title: str
    deadline_text: str
    cycles: dict[str, int]
    next_due: date | None
    #: A compound measure's (items done, items); None for a measure without items.
    items: tuple[int, int] | None = None


@dataclass(frozen=True, kw_only=True)
class Summary:
    """What `tochka status` prints."""

    roadmap: str
    title: str
    today: date
    measures: list[MeasureLine]
    centers: dict[str, int]
    # Municipalities of the centers whose education authority has no address yet: their
    # stage reminders go to the schools only.
    without_address: list[str] = field(default_factory=list)
    # Where the program stands once it has ended (`workflow.roadmap.closing`); None: runs.
    program: str | None = None
    # Measures that never remind: by schedule without a date, as needed never opened.
    silent: list[str] = field(default_factory=list)
    # Addresses a delivery status notification says do not take our letters, with the
    # day of the first letter that bounced (`workflow.inbound.bounce`).
    bounced: list[tuple[str, date]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "roadmap": self.roadmap,
            "today": self.today.isoformat(),
            "measures": [
                {
                    "number": m.number,
                    "cycles": m.cycles,
                    "next_due": m.next_due.isoformat() if m.next_due else None,
                    **(
                        {"items": {"done": m.items[0], "total": m.items[1]}}
                        if m.items is not None
                        else {}
                    ),
                }
                for m in self.measures
            ],
            "centers": self.centers,
            "municipalities_without_address": self.without_address,
            "program": self.program,
            "silent_measures": self.silent,
            "bounced_addresses": [
                {"address": address, "since": since.isoformat()} for address, since in self.bounced
            ],
        }

    def render(self, out: Any) -> None:
        # Imported here: `tochka init` reads this module for its warnings only.
        from rich.table import Table

        out.print(f"[bold]{self.title}[/]")
        out.print(f"Дорожная карта «{self.roadmap}», на {self.today:%d.%m.%Y}")
        if self.program is not None:
            out.print(f"[bold]{self.program}[/]")
        table = Table(title="Мероприятия")
        table.add_column("№")
        table.add_column("мероприятие", overflow="fold", max_width=60)
        table.add_column("срок", overflow="fold")
        table.add_column("циклы")
        table.add_column("ближайший срок")
        for m in self.measures:
            counts = (
                ", ".join(f"{CYCLE_TITLES[CycleState(s)]}: {n}" for s, n in m.cycles.items())
                or "ещё нет"
            )
            if m.items is not None:
                counts += f"; {measure_done_text(m.items)}"
            table.add_row(
                str(m.number),
                m.title if len(m.title) <= 120 else m.title[:117] + "…",
                m.deadline_text,
                counts,
                f"{m.next_due:%d.%m.%Y}" if m.next_due else "—",
            )
        out.print(table)
        centers = Table(title="Центры по этапам")
        centers.add_column("этап")
        centers.add_column("центров", justify="right")
        for s in CenterState:
            centers.add_row(CENTER_TITLES[s], str(self.centers.get(s.value, 0)))
        out.print(centers)
        if self.without_address:
            shown = ", ".join(self.without_address[:5])
            more = len(self.without_address) - 5
            out.print(
                f"Муниципалитеты без адреса для напоминаний ({len(self.without_address)}): "
                f"{shown}{f' и ещё {more}' if more > 0 else ''}. Напоминания об этапах их "
                "центров получают только школы; адреса загружает tochka municipalities import."
            )
        for line in self.silent:
            out.print(f"Внимание: {line}")


#: Cycle states that still remind.
_OPEN = (CycleState.SCHEDULED.value, CycleState.IN_PROGRESS.value, CycleState.OVERDUE.value)


def nobody_warnings(conn: Connection, stored: StoredRoadmap, *, today: date) -> list[str]:
    """The measures whose per-center parties have nobody to remind (no center registered
    yet, or every center withdrawn) while they still remind: the coordinator is
    reminded in their place (`workflow.roadmap.parties.nobody_warnings`). Russian, one
    line per measure; ``tochka init`` prints them, ``tochka status`` among its own."""
    if not any(parties.routed_per_center(stored.definition, m) for m in stored.definition.measures):
        return []
    centers: dict[str, int] = dict(
        conn.execute(
            sa.select(CENTER.c.state, sa.func.count())
            .where(CENTER.c.roadmap_id == stored.id)
            .group_by(CENTER.c.state)
        ).all()
    )
    open_measures = set(
        conn.execute(
            sa.select(CYCLE.c.measure)
            .distinct()
            .where(CYCLE.c.roadmap_id == stored.id, CYCLE.c.state.in_(_OPEN))
        ).scalars()
    )
    return _nobody(
        stored.definition,
        centers,
        open_measures=open_measures,
        existing=_routed_cycles(conn, stored),
        today=today,
    )


def _routed_cycles(conn: Connection, stored: StoredRoadmap) -> set[tuple[int, str]]:
    """(measure, period) of the cycles that exist of the measures with a per-center party."""
    routed = [
        m.number
        for m in stored.definition.measures
        if parties.routed_per_center(stored.definition, m)
    ]
    if not routed:
        return set()
    return {
        (int(measure), str(period))
        for measure, period in conn.execute(
            sa.select(CYCLE.c.measure, CYCLE.c.period).where(
                CYCLE.c.roadmap_id == stored.id, CYCLE.c.measure.in_(routed)
            )
        )
    }


def _nobody(
    roadmap: Roadmap,
    centers: dict[str, int],
    *,
    open_measures: set[int],
    existing: set[tuple[int, str]],
    today: date,
) -> list[str]:
    """`nobody_warnings` from the counts of centers by state, the measures with an open
    cycle and the cycles that exist (``existing``: (measure, period)): a measure warns
    while it has an open cycle or one still to come, including one due already that the
    next tick creates overdue (a roadmap loaded after a per-center measure's date: its
    reminder then goes to the coordinator at once)."""
    registered = sum(centers.values())
    reason = parties.nobody_reason(
        registered=registered,
        active=registered - centers.get(CenterState.WITHDRAWN.value, 0),
    )
    if reason is None:
        return []
    reminding = {
        m.number
        for m in roadmap.measures
        if m.number in open_measures
        or any(
            (
                spec.due >= today
                or (
                    m.done is None
                    and (m.number, spec.period) not in existing
                    and closing.cycle_reminded(roadmap, measure=m.number, due=spec.due, today=today)
                )
            )
            and (spec.due <= roadmap.period_end or roadmap.closing.closes_program(m.number))
            for spec in measure_cycles(
                m, period_end=roadmap.period_end, cohorts=roadmap.cohort_years
            )
        )
    }
    return parties.nobody_warnings(roadmap, reason, reminding)


def roadmap_status(conn: Connection, stored: StoredRoadmap, *, today: datetime) -> Summary:
    """Aggregate cycles per measure and state, and centers per state, in SQL."""
    definition = stored.definition
    day = local_date(today, definition.timezone)
    per_measure: dict[int, dict[str, int]] = {}
    for measure, cycle_state, count in conn.execute(
        sa.select(CYCLE.c.measure, CYCLE.c.state, sa.func.count())
        .where(CYCLE.c.roadmap_id == stored.id)
        .group_by(CYCLE.c.measure, CYCLE.c.state)
    ):
        per_measure.setdefault(measure, {})[cycle_state] = count
    compound = [m.number for m in definition.measures if m.items]
    item_states: dict[int, dict[str, str]] = {}
    for measure, period, cycle_state in conn.execute(
        sa.select(CYCLE.c.measure, CYCLE.c.period, CYCLE.c.state).where(
            CYCLE.c.roadmap_id == stored.id, CYCLE.c.measure.in_(compound)
        )
    ):
        item_states.setdefault(measure, {})[period] = cycle_state
    next_due: dict[int, date] = dict(
        conn.execute(
            sa.select(CYCLE.c.measure, sa.func.min(CYCLE.c.due_date))
            .where(
                CYCLE.c.roadmap_id == stored.id,
                CYCLE.c.state.in_(
                    [
                        s.value
                        for s in (CycleState.SCHEDULED, CycleState.IN_PROGRESS, CycleState.OVERDUE)
                    ]
                ),
            )
            .group_by(CYCLE.c.measure)
        ).all()
    )
    centers: dict[str, int] = dict(
        conn.execute(
            sa.select(CENTER.c.state, sa.func.count())
            .where(CENTER.c.roadmap_id == stored.id)
            .group_by(CENTER.c.state)
        ).all()
    )
    contact = CONTACT
    without_address = list(
        conn.execute(
            sa.select(CENTER.c.municipality)
            .distinct()
            .where(
                CENTER.c.roadmap_id == stored.id,
                CENTER.c.municipality.not_in(
                    sa.select(contact.c.name).where(contact.c.roadmap_id == stored.id)
                ),
            )
            .order_by(CENTER.c.municipality)
        ).scalars()
    )
    silent = []
    for m in definition.measures:
        if per_measure.get(m.number):
            continue
        if m.recurrence is Recurrence.BY_SCHEDULE:
            silent.append(
                f"мероприятие № {m.number} выполняется по отдельному графику, но ни одного "
                "срока не задано: напоминаний о нём нет (срок вносит tochka cycles open)."
            )
        elif m.recurrence is Recurrence.AS_NEEDED:
            silent.append(
                f"мероприятие № {m.number} выполняется по необходимости, но ни разу не "
                "открывалось: напоминаний о нём нет (открывает tochka cycles open)."
            )
    silent.extend(parties.unaddressed_warnings(definition, without_address))
    silent.extend(
        _nobody(
            definition,
            centers,
            open_measures=set(next_due),
            existing=_routed_cycles(conn, stored),
            today=day,
        )
    )
    return Summary(
        program=closing.state_text(definition, day),
        silent=silent,
        roadmap=definition.code,
        title=definition.title,
        today=day,
        measures=[
            MeasureLine(
                number=m.number,
                title=m.title,
                deadline_text=m.deadline_text,
                cycles={
                    s.value: per_measure.get(m.number, {})[s.value]
                    for s in CycleState
                    if s.value in per_measure.get(m.number, {})
                },
                next_due=next_due.get(m.number),
                items=items_done(m, item_states.get(m.number, {})),
            )
            for m in definition.measures
        ],
        centers={s.value: centers.get(s.value, 0) for s in CenterState},
        without_address=without_address,
        bounced=[
            (address, local_date(since, definition.timezone))
            for address, since in bounced_addresses(conn)
        ],
    )
