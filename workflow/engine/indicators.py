"""Indicator values: validation, the append-only submission store, who is missing.

(Periods and the parsing of values are pure: `workflow.roadmap.indicators`. This module
is a little over 500 lines because the checks and the store are one all-or-nothing
operation, `record`, whose parts are read together.)

A center reports each indicator of the roadmap (``Roadmap.indicators``) for a period:
a quarter (``"2022-Q3"``) for per-quarter indicators, a year (``"2022"``) for per-year
ones. Submissions come from ``tochka indicators submit`` and ``tochka indicators
import``; both go through `record`, which validates everything first (all or nothing,
every problem named) and then appends rows to ``indicator_value``. Rows are never
updated: a correction is a new row that supersedes the previous one, and the latest row
per (center, period, indicator) counts. Resubmitting the value that already counts
records nothing.

A center is *due* to report for a period when it is not withdrawn and opened (its
first ``open`` event's effective date) on or before the period's last day. A due
center that lacks a required value is *missing*: for a quarter the per-quarter
indicators, plus the per-year ones in the fourth quarter (the year is then over); for a
year the per-year indicators.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, system_clock
from states.center import LIFECYCLE, CenterState
from workflow.engine import dates
from workflow.engine.access import (
    Action,
    as_actor,
    authorize_action,
    check_action,
    refusals_recorded,
)
from workflow.errors import FileProblems, ImportFileError, Problem
from workflow.roadmap.definition import (
    Indicator,
    IndicatorPeriod,
    Roadmap,
)
from workflow.roadmap.indicators import (
    COUNT_CEILING,
    Period,
    RawRow,
    RawValue,
    format_value,
    outside_program,
    parse_period,
    parse_value,
    period_of,
    required_indicators,
    shown_text,
)
from workflow.roadmap.loader import parse_stored
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT, ROADMAP, VALUE

if TYPE_CHECKING:
    from workflow.engine.access import Actor

__all__ = [
    "COUNT_CEILING",
    "VALUE",
    "CenterFacts",
    "Period",
    "RawRow",
    "RawValue",
    "RecordResult",
    "SubmissionRefused",
    "due_centers",
    "format_value",
    "is_due",
    "latest_values",
    "missing_indicators",
    "missing_submissions",
    "opened_on_query",
    "owing_with_received",
    "parse_period",
    "parse_value",
    "period_of",
    "record",
    "record_in",
    "required_indicators",
]


COMMAND_LINE = "командная строка"
_OPEN_TRIGGER = "open"
_CHUNK = 500
# States in which a center has not opened (yet, or again after a revert).
_BEFORE_OPENED = frozenset(s.value for s in LIFECYCLE[: LIFECYCLE.index(CenterState.OPENED)])
# States in which a center owes no values, whatever its opening day.
_NEVER_DUE = _BEFORE_OPENED | {CenterState.WITHDRAWN.value}


class SubmissionRefused(FileProblems):
    """Indicator values given on the command line were refused; nothing was recorded."""

    title = "Показатели не приняты, ничего не изменено"


# ----------------------------------------------------------------------- centers


@dataclass(frozen=True, kw_only=True)
class CenterFacts:
    """What validation and reports need to know about a center."""

    id: int
    code: str
    name: str
    municipality: str
    cohort: int
    email: str
    state: str
    opened_on: date | None

    def due_for(self, period: Period) -> bool:
        """Whether the center must report for ``period`` (see the module docstring)."""
        return is_due(self.state, self.opened_on, period)


def is_due(state: str, opened_on: date | None, period: Period) -> bool:
    """Whether a center in ``state``, opened on ``opened_on`` (its first ``open``
    event's effective date), must report for ``period`` (see the module docstring)."""
    return state not in _NEVER_DUE and opened_on is not None and opened_on <= period.end


def opened_on_query(roadmap_id: int) -> Any:
    """A subquery: each center's opening day (``entity_id``, ``opened_on``), the effective
    date of its first ``open`` event; centers never opened have no row."""
    return (
        sa.select(EVENT.c.entity_id, sa.func.min(EVENT.c.effective_date).label("opened_on"))
        .where(
            EVENT.c.roadmap_id == roadmap_id,
            EVENT.c.entity_kind == "center",
            EVENT.c.trigger == _OPEN_TRIGGER,
        )
        .group_by(EVENT.c.entity_id)
        .subquery()
    )


def center_facts(
    conn: Connection, roadmap_id: int, codes: Iterable[str] | None = None
) -> dict[str, CenterFacts]:
    """Centers by code (all of the roadmap's, or those of ``codes``), with their opening day.

    Ordered by municipality, then code (the order reports list them in). For ``codes``
    only their own opening events are read (a returned form names one center: the
    roadmap's every opening, grouped, cost each form as much as the roadmap has centers).
    """
    columns = (
        CENTER.c.id,
        CENTER.c.code,
        CENTER.c.name,
        CENTER.c.municipality,
        CENTER.c.cohort,
        CENTER.c.email,
        CENTER.c.state,
    )
    order = (CENTER.c.municipality, CENTER.c.code)
    if codes is None:
        opened = opened_on_query(roadmap_id)
        query = (
            sa.select(*columns, opened.c.opened_on)
            .select_from(CENTER.outerjoin(opened, opened.c.entity_id == CENTER.c.id))
            .where(CENTER.c.roadmap_id == roadmap_id)
            .order_by(*order)
        )
        return {r.code: CenterFacts(**r._mapping) for r in conn.execute(query)}
    rows: list[Any] = []
    wanted = sorted(set(codes))
    for start in range(0, len(wanted), _CHUNK):
        rows += conn.execute(
            sa.select(*columns)
            .where(
                CENTER.c.roadmap_id == roadmap_id,
                CENTER.c.code.in_(wanted[start : start + _CHUNK]),
            )
            .order_by(*order)
        )
    ids = [r.id for r in rows]
    opened_on: dict[int, date] = {}
    for start in range(0, len(ids), _CHUNK):
        opened_on.update(
            conn.execute(
                sa.select(EVENT.c.entity_id, sa.func.min(EVENT.c.effective_date))
                .where(
                    EVENT.c.entity_kind == "center",
                    EVENT.c.entity_id.in_(ids[start : start + _CHUNK]),
                    EVENT.c.roadmap_id == roadmap_id,
                    EVENT.c.trigger == _OPEN_TRIGGER,
                )
                .group_by(EVENT.c.entity_id)
            ).all()
        )
    return {r.code: CenterFacts(**r._mapping, opened_on=opened_on.get(r.id)) for r in rows}


def latest_values(
    conn: Connection,
    roadmap_id: int,
    periods: Sequence[str],
    center_ids: Collection[int] | None = None,
) -> dict[tuple[int, str, str], tuple[int, float]]:
    """The values that count: (center id, period, indicator) → (row id, value); of the
    centers ``center_ids`` only, when given (a returned form's: not the roadmap's every
    value of the period, which grew with each form recorded)."""
    if not periods or (center_ids is not None and not center_ids):
        return {}
    where = [VALUE.c.roadmap_id == roadmap_id, VALUE.c.period.in_(list(periods))]
    if center_ids is not None:
        where.append(VALUE.c.center_id.in_(sorted(center_ids)))
    latest = (
        sa.select(sa.func.max(VALUE.c.id))
        .where(*where)
        .group_by(VALUE.c.center_id, VALUE.c.period, VALUE.c.indicator)
    )
    rows = conn.execute(
        sa.select(
            VALUE.c.id, VALUE.c.center_id, VALUE.c.period, VALUE.c.indicator, VALUE.c.value
        ).where(VALUE.c.id.in_(latest))
    )
    return {(r.center_id, r.period, r.indicator): (r.id, r.value) for r in rows}


def due_centers(centers: Iterable[CenterFacts], period: Period) -> list[CenterFacts]:
    """The centers that must report for ``period``."""
    return [c for c in centers if c.due_for(period)]


def _roadmap_definition(conn: Connection, roadmap_id: int) -> Roadmap:

    row = conn.execute(
        sa.select(ROADMAP.c.code, ROADMAP.c.source).where(ROADMAP.c.id == roadmap_id)
    ).one()
    return parse_stored(row.source, row.code)


def missing_submissions(
    conn: Connection,
    roadmap_id: int,
    period: str,
    *,
    roadmap: Roadmap | None = None,
) -> list[tuple[str, str, str, str]]:
    """Centers in ``reporting`` that owe values for ``period``: whom measure 9 reminds.

    For the scheduler's reminder ladder of measure 9 (quarterly monitoring): call it
    inside the reconciler's transaction with the period the cycle reports on (the
    cycle's period label, e.g. ``"2022-Q3"``) and remind each school returned. A center
    counts when it is in state ``reporting``, opened on or before the period's last day
    and lacks a value of any indicator required for the period (`required_indicators`).
    A roadmap without indicators owes nothing.

    Args:
        conn: an open connection (read-only use).
        roadmap_id: the roadmap's row id.
        period: ``"2022-Q3"`` or ``"2022"``.
        roadmap: the parsed definition, if the caller has it (saves parsing the stored
            YAML).

    Returns:
        (center code, name, email, municipality), ordered by municipality then code.

    Raises:
        ValueError: ``period`` is not a period label.
    """
    parsed = parse_period(period)
    if parsed is None:
        raise ValueError(f"not a period label: {period!r}")
    definition = roadmap if roadmap is not None else _roadmap_definition(conn, roadmap_id)
    required = required_indicators(definition, parsed)
    if not required:
        return []
    due = [
        c
        for c in center_facts(conn, roadmap_id).values()
        if c.state == CenterState.REPORTING.value and c.due_for(parsed)
    ]
    if not due:
        return []
    values = latest_values(conn, roadmap_id, sorted({label for _, label in required}))
    return [
        (c.code, c.name, c.email, c.municipality)
        for c in due
        if any((c.id, label, i.code) not in values for i, label in required)
    ]


def missing_indicators(
    conn: Connection, roadmap_id: int, period: str, *, roadmap: Roadmap
) -> list[tuple[str, str, str, str, tuple[Indicator, ...]]]:
    """`missing_submissions` with what each center lacks: (center code, name, email,
    municipality, the indicators without a value in the roadmap's order), in the same
    order. For the monitoring letter to a school, which lists them.

    Raises:
        ValueError: ``period`` is not a period label.
    """
    return [row[:5] for row in owing_with_received(conn, roadmap_id, period, roadmap=roadmap)]


def owing_with_received(
    conn: Connection, roadmap_id: int, period: str, *, roadmap: Roadmap
) -> list[tuple[str, str, str, str, tuple[Indicator, ...], tuple[tuple[Indicator, float], ...]]]:
    """`missing_indicators` with, last, the values each center has already submitted
    for the period (indicator, value; the roadmap's order): the monitoring letter lists
    both, so that the school sees what is in as well as what is missing.

    Raises:
        ValueError: ``period`` is not a period label.
    """
    parsed = parse_period(period)
    if parsed is None:
        raise ValueError(f"not a period label: {period!r}")
    required = required_indicators(roadmap, parsed)
    if not required:
        return []
    due = [
        c
        for c in center_facts(conn, roadmap_id).values()
        if c.state == CenterState.REPORTING.value and c.due_for(parsed)
    ]
    if not due:
        return []
    values = latest_values(conn, roadmap_id, sorted({label for _, label in required}))
    result: list[
        tuple[str, str, str, str, tuple[Indicator, ...], tuple[tuple[Indicator, float], ...]]
    ] = []
    for c in due:
        lacking = tuple(i for i, label in required if (c.id, label, i.code) not in values)
        if lacking:
            received = tuple(
                (i, values[(c.id, label, i.code)][1])
                for i, label in required
                if (c.id, label, i.code) in values
            )
            result.append((c.code, c.name, c.email, c.municipality, lacking, received))
    return result


# ----------------------------------------------------------------------- recording


@dataclass(frozen=True, kw_only=True)
class RecordResult:
    """What `record` did: rows appended, and values equal to the ones already counting."""

    recorded: int
    unchanged: int
    values: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class _Checked:
    center_id: int
    center: str
    period: str
    indicator: str
    value: float
    line: int | None


class _Checker:
    def __init__(self, filename: str, roadmap: Roadmap, today: date) -> None:
        self.filename = filename
        self.roadmap = roadmap
        self.today = today
        self.problems: list[Problem] = []

    def problem(
        self, message: str, line: int | None, column: int | None, field: str | None
    ) -> None:
        self.problems.append(
            Problem(file=self.filename, line=line, column=column, field=field, message=message)
        )

    def rows(self, rows: Sequence[RawRow], centers: dict[str, CenterFacts]) -> list[_Checked]:
        result: list[_Checked] = []
        first_line: dict[tuple[str, str], int | None] = {}
        for row in rows:
            result += self.row(row, centers, first_line)
        return result

    def row(
        self,
        row: RawRow,
        centers: dict[str, CenterFacts],
        first_line: dict[tuple[str, str], int | None],
    ) -> list[_Checked]:
        line = row.line
        for column, text in row.unheaded:
            self.problem(
                f"значение «{shown_text(text)}» в столбце {column} без заголовка: подпишите "
                "столбец (код или название показателя) или удалите значение",
                line,
                column,
                None,
            )
        if row.unheaded and not row.values:
            # Nothing but stray cells (a note beside the table): that is the one problem.
            return []
        center = centers.get(row.center.strip())
        if not row.center.strip():
            self.problem("код центра не заполнен", line, row.center_column, row.center_field)
        elif center is None:
            self.problem(
                f"центр с кодом «{row.center.strip()}» не найден",
                line,
                row.center_column,
                row.center_field,
            )
        period = parse_period(row.period)
        if period is None:
            self.problem(
                f"«{row.period.strip()}» — не отчётный период: пишите 2022-Q3 (квартал) "
                "или 2022 (год)",
                line,
                row.period_column,
                row.period_field,
            )
        elif problem := outside_program(period, self.roadmap):
            self.problem(problem, line, row.period_column, row.period_field)
            period = None
        elif period.start > self.today:
            self.problem(
                f"период {period.label} ещё не начался (сегодня {self.today:%d.%m.%Y})",
                line,
                row.period_column,
                row.period_field,
            )
            period = None
        elif center is not None:
            if center.opened_on is None or center.state in _BEFORE_OPENED:
                from states import CENTER_WORKFLOW  # the machines cost ~20 ms to import

                state = CENTER_WORKFLOW.state_title(center.state)
                self.problem(
                    f"центр {center.code} ещё не открыт (состояние «{state}»): "
                    "показатели сдаются после открытия",
                    line,
                    row.center_column,
                    row.center_field,
                )
                center = None
            elif period.end < center.opened_on:
                self.problem(
                    f"период {period.label} закончился до открытия центра {center.code} "
                    f"({center.opened_on:%d.%m.%Y})",
                    line,
                    row.period_column,
                    row.period_field,
                )
                period = None
        if center is not None and period is not None:
            key = (center.code, period.label)
            if key in first_line and line is not None:
                self.problem(
                    f"центр {center.code} за период {period.label} уже указан в строке "
                    f"{first_line[key]}",
                    line,
                    row.center_column,
                    row.center_field,
                )
                return []
            first_line[key] = line
        result: list[_Checked] = []
        seen: set[str] = set()
        for raw in row.values:
            indicator = self.indicator(raw, line)
            if indicator is None:
                continue
            if indicator.code in seen:
                self.problem(
                    f"показатель «{indicator.code}» указан дважды", line, raw.column, raw.field
                )
                continue
            seen.add(indicator.code)
            try:
                value = parse_value(indicator, raw.text)
            except ValueError as exc:
                self.problem(f"{indicator.code}: {exc}", line, raw.column, raw.field)
                continue
            if period is not None and indicator.period is not period.kind:
                want = (
                    f"квартал, например {period.year}-Q1"
                    if indicator.period is IndicatorPeriod.QUARTER
                    else f"год, например {period.year}"
                )
                how = "ежеквартально" if indicator.period is IndicatorPeriod.QUARTER else "за год"
                self.problem(
                    f"показатель «{indicator.code}» сдаётся {how}: период {period.label} "
                    f"не подходит, нужен {want}",
                    line,
                    raw.column,
                    raw.field,
                )
                continue
            if center is not None and period is not None:
                result.append(
                    _Checked(
                        center_id=center.id,
                        center=center.code,
                        period=period.label,
                        indicator=indicator.code,
                        value=value,
                        line=line,
                    )
                )
        return result

    def indicator(self, raw: RawValue, line: int | None) -> Indicator | None:
        try:
            return self.roadmap.indicator(raw.indicator)
        except KeyError:
            known = ", ".join(i.code for i in self.roadmap.indicators) or "нет ни одного"
            self.problem(
                f"неизвестный показатель «{raw.indicator}»; показатели дорожной карты: {known}",
                line,
                raw.column,
                raw.field,
            )
            return None


def record(
    engine: Engine,
    stored: StoredRoadmap,
    rows: Sequence[RawRow],
    *,
    filename: str | None,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> RecordResult:
    """Validate indicator values and append them, in one transaction, all or nothing.

    Args:
        engine: the database.
        stored: the roadmap.
        rows: the values as written; see `RawRow`.
        filename: the import file, or None for the command line (problems then name
            the command line and the argument).
        actor: who submits; checked against the roadmap's users (a municipality or a
            school may submit only for its own centers).
        now: the effective moment (``--now``): periods that have not begun are refused.
        clock: the real time, for ``recorded_at``.

    Returns:
        How many values were appended and how many were equal to the counting ones.

    Raises:
        ImportFileError: (a file) any value, center or period is wrong; every problem is
            named with its line and column. Nothing is recorded.
        SubmissionRefused: the same, for values given on the command line.
        AccessDenied: the actor may not submit for these centers (the refusal is recorded).
        EffectiveDateImplausible: ``now`` is taken for a typo; nothing is recorded.
    """

    by = as_actor(actor)
    with (
        refusals_recorded(
            engine, stored.id, timezone=stored.definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        return record_in(conn, stored, rows, filename=filename, actor=by, now=now, clock=clock)


def record_in(
    conn: Connection,
    stored: StoredRoadmap,
    rows: Sequence[RawRow],
    *,
    filename: str | None,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
    source: str | None = None,
) -> RecordResult:
    """`record` inside the caller's write transaction (a returned monitoring form is
    recorded in the transaction that records its message).

    ``source`` names where the values come from in ``indicator_value.source`` (default:
    the command line or the file, with the row). An access refusal is raised, not
    recorded: the caller's transaction is rolled back.

    Raises:
        ImportFileError, SubmissionRefused, AccessDenied, EffectiveDateImplausible: as
            `record`; nothing is written.
    """
    by = as_actor(actor)
    definition = stored.definition
    # ``now`` decides which periods have begun: a mistyped year would open them all.
    today = dates.plausible_effective(definition, now, real=clock())
    checker = _Checker(filename or COMMAND_LINE, definition, today)
    if source is None:
        source = "командная строка" if filename is None else f"импорт из {filename}"[:200]
        lines = True
    else:
        lines = False
    recorded_at = clock()
    # Who may submit at all is checked first: an unregistered user or a viewer is
    # refused (and recorded, by `record`) before being told what is wrong with the values.
    target = filename or ", ".join(sorted({r.center.strip() for r in rows}))
    who = authorize_action(conn, stored.id, by, Action.SUBMIT_INDICATORS, target=target)
    centers = center_facts(conn, stored.id, [r.center.strip() for r in rows])
    if not by.system:  # then the scope: the centers named must be the user's own
        check_action(
            who,
            Action.SUBMIT_INDICATORS,
            target=target,
            centers=[(c.code, c.municipality) for c in centers.values()],
        )
    checked = checker.rows(rows, centers)
    if not rows:
        checker.problem("нет ни одной строки с показателями", None, None, None)
    elif not checker.problems and not checked:
        checker.problem("не указано ни одного значения показателя", None, None, None)
    if checker.problems:
        problems = sorted(checker.problems, key=lambda p: (p.line or 0, p.column or 0))
        if filename is None:
            raise SubmissionRefused(problems)
        raise ImportFileError(problems)
    current = latest_values(
        conn,
        stored.id,
        sorted({c.period for c in checked}),
        center_ids={c.center_id for c in checked},
    )
    values: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    unchanged = 0
    for item in checked:
        previous = current.get((item.center_id, item.period, item.indicator))
        status = "recorded" if previous is None else "corrected"
        if previous is not None and previous[1] == item.value:
            unchanged += 1
            status = "unchanged"
        else:
            where = f", строка {item.line}" if lines and item.line is not None else ""
            values.append(
                {
                    "roadmap_id": stored.id,
                    "center_id": item.center_id,
                    "indicator": item.indicator,
                    "period": item.period,
                    "value": item.value,
                    "supersedes": previous[0] if previous is not None else None,
                    "actor": by.login,
                    "on_behalf_of": by.on_behalf_of,
                    "source": (source + where)[:255],
                    "recorded_at": recorded_at,
                }
            )
        report.append(
            {
                "center": item.center,
                "period": item.period,
                "indicator": item.indicator,
                "value": item.value,
                "status": status,
            }
        )
    if values:
        conn.execute(sa.insert(VALUE), values)
    return RecordResult(recorded=len(values), unchanged=unchanged, values=report)
