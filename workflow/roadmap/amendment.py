"""What a new version of a roadmap file changes, and what that does to existing cycles.

Pure: the stored definition, the new one and the cycles in the database in; the Russian
lines of ``tochka roadmap diff``, the refusals and the due dates to move out. The same
`compare` decides what ``tochka roadmap diff`` prints and what loading the file applies
(`workflow.engine.amendments`), so the diff shows exactly what the load will do.

Refused (`Comparison.refusals`, each saying what to do): a measure that has cycles is
dropped; the program's end moves before a cycle that exists (one whose period lies
after the new end). A changed code is not an amendment at all (`code_refusal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from states.center import STATE_TITLES, CenterState
from workflow.roadmap.definition import Measure, Roadmap, StageRule
from workflow.roadmap.recurrence import measure_cycles
from workflow.roadmap.schema_relative import relative_text

#: Cycle states whose due date no longer matters: they are never moved.
CLOSED_STATES = frozenset({"done", "cancelled"})

_MEASURE_FIELDS = (
    ("title", "наименование"),
    ("responsible", "ответственные"),
    ("responsible_text", "текст об ответственных"),
    ("result", "результат"),
    ("evidence", "подтверждающие документы"),
    ("deadline_text", "текст срока"),
    ("recurrence", "повторение"),
)


@dataclass(frozen=True, kw_only=True)
class ExistingCycle:
    """A cycle in the database, as the comparison needs it."""

    id: int
    measure: int
    period: str
    due: date
    state: str


@dataclass(frozen=True, kw_only=True)
class Move:
    """An open cycle whose due date the new version moves."""

    cycle_id: int
    measure: int
    period: str
    original: date
    revised: date


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The outcome of `compare`."""

    lines: list[str]
    refusals: list[str]
    moves: list[Move] = field(default_factory=list)
    changed: bool = True


def _d(day: date) -> str:
    return f"{day:%d.%m.%Y}"


def code_refusal(stored: str, new: str) -> str | None:
    """The refusal of a file whose code is not the stored roadmap's, or None."""
    if stored == new:
        return None
    return (
        f"Код дорожной карты в файле «{new}» не совпадает с загруженной «{stored}»: новая "
        "версия не может менять код. Верните в файл code: "
        f"{stored}; другую программу загружают отдельно: tochka init --roadmap ФАЙЛ."
    )


def _within(period: str, end: date) -> bool:
    """Whether a cycle's period (``2023-Q4``, ``2023``, ``2023-05``, ``2023-05-15``) ends
    by ``end``."""
    if len(period) == 7 and period[4:6] == "-Q":
        year, quarter = int(period[:4]), int(period[6])
        after = date(year + 1, 1, 1) if quarter == 4 else date(year, quarter * 3 + 1, 1)
        return after <= end + timedelta(days=1)
    if len(period) == 4 and period.isdigit():
        return date(int(period), 12, 31) <= end
    if len(period) == 7 and period[4] == "-" and period[5:].isdigit():  # a month, 2023-05
        year, month = int(period[:4]), int(period[5:])
        after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return after <= end + timedelta(days=1)
    try:
        return date.fromisoformat(period.split("#")[0]) <= end
    except ValueError:
        return True


def _specs(roadmap: Roadmap) -> dict[tuple[int, str], date]:
    return {
        (s.measure, s.period): s.due
        for m in roadmap.measures
        for s in measure_cycles(m, period_end=roadmap.period_end, cohorts=roadmap.cohort_years)
    }


def _measure_change(old: Measure, new: Measure) -> str | None:
    parts = [title for name, title in _MEASURE_FIELDS if getattr(old, name) != getattr(new, name)]
    if old.first_due != new.first_due:
        before = _d(old.first_due) if old.first_due else "нет"
        after = _d(new.first_due) if new.first_due else "нет"
        parts.append(f"первый срок {before} → {after}")
    if old.after != new.after:
        # Dependent cycles already created keep their due dates; new ones count anew.
        before = relative_text(old.after) if old.after else "нет"
        after = relative_text(new.after) if new.after else "нет"
        parts.append(f"срок после события «{before}» → «{after}» (для новых циклов)")
    if not parts:
        return None
    return f"Мероприятие {new.number} изменено: " + ", ".join(parts) + "."


def _dm(rule: StageRule) -> str:
    if rule.due_month and rule.due_day:
        return f"{rule.due_day:02d}.{rule.due_month:02d}"
    return "по отдельному графику"


def _span(periods: Sequence[str]) -> str:
    if len(periods) == 1:
        return f"будет создан цикл {periods[0]}"
    if len(periods) == 2:
        return f"будут созданы циклы {periods[0]} и {periods[1]}"
    return f"будут созданы циклы {periods[0]} … {periods[-1]}"


def compare(old: Roadmap, new: Roadmap, cycles: Sequence[ExistingCycle]) -> Comparison:
    """What ``new`` changes against ``old``, given the cycles stored for ``old``.

    Returns:
        The Russian lines (in the order: basis, period, measures, parties, stages, then
        the cycles), the refusals (empty when the version may be loaded) and the moves.
    """
    if old.content_hash and old.content_hash == new.content_hash:
        return Comparison(
            lines=["Изменений нет: файл совпадает с загруженной версией."],
            refusals=[],
            changed=False,
        )
    lines = [
        f"Новая версия дорожной карты «{new.code}»: sha256 {old.content_hash[:12]} → "
        f"{new.content_hash[:12]}.",
        f"Основание: {new.amended_by.text}."
        if new.amended_by
        else "Основание в файле не указано (amended_by: номер, дата, наименование).",
    ]
    refusals: list[str] = []
    by_measure: dict[int, list[ExistingCycle]] = {}
    for c in cycles:
        by_measure.setdefault(c.measure, []).append(c)

    # The period.
    if new.period_start != old.period_start:
        lines.append(f"Начало программы: {_d(old.period_start)} → {_d(new.period_start)}.")
    if new.period_end > old.period_end:
        lines.append(
            f"Период программы продлён до {_d(new.period_end)} (было {_d(old.period_end)})."
        )
    elif new.period_end < old.period_end:
        lines.append(
            f"Период программы сокращён до {_d(new.period_end)} (было {_d(old.period_end)})."
        )
        beyond = sorted(
            (c for c in cycles if not _within(c.period, new.period_end)),
            key=lambda c: (c.due, c.measure),
        )
        if beyond:
            named = ", ".join(f"мероприятие {c.measure} {c.period}" for c in beyond[:5])
            more = f" и ещё {len(beyond) - 5}" if len(beyond) > 5 else ""
            refusals.append(
                f"Период сокращён до {_d(new.period_end)}, а в базе есть циклы за периоды "
                f"после этой даты ({len(beyond)}: {named}{more}). Оставьте окончание "
                f"программы не раньше {_d(max(c.due for c in beyond))} или, если их нужно "
                "прекратить, отмените открытые циклы (tochka cycles fire НОМЕР cancel) и "
                "оставьте окончание прежним."
            )

    # Measures.
    old_measures = {m.number: m for m in old.measures}
    new_measures = {m.number: m for m in new.measures}
    for number in sorted(new_measures.keys() - old_measures.keys()):
        lines.append(f"Мероприятие {number} добавлено: «{new_measures[number].title}».")
    for number in sorted(old_measures.keys() - new_measures.keys()):
        lines.append(f"Мероприятие {number} исключено.")
        if by_measure.get(number):
            refusals.append(
                f"Мероприятие {number} исключено, а в базе есть его циклы "
                f"({len(by_measure[number])}). Верните мероприятие в файл; если его нужно "
                "прекратить, отмените его открытые циклы (tochka cycles fire НОМЕР cancel)."
            )
    for number in sorted(old_measures.keys() & new_measures.keys()):
        if (text := _measure_change(old_measures[number], new_measures[number])) is not None:
            lines.append(text)

    # Parties.
    old_parties = {p.id: p for p in old.parties}
    new_parties = {p.id: p for p in new.parties}
    # A party is named by its name, never by its id in the file.
    for pid in sorted(new_parties.keys() - old_parties.keys()):
        lines.append(
            f"Сторона «{new_parties[pid].name}» добавлена, адрес {new_parties[pid].email}."
        )
    for pid in sorted(old_parties.keys() - new_parties.keys()):
        lines.append(f"Сторона «{old_parties[pid].name}» исключена.")
    for pid in sorted(old_parties.keys() & new_parties.keys()):
        a, b = old_parties[pid], new_parties[pid]
        if a.name != b.name:
            lines.append(f"Сторона «{a.name}» переименована: «{b.name}».")
        if a.email != b.email:
            lines.append(f"Сторона «{b.name}»: адрес {a.email} → {b.email}.")

    # Stage rules: the deadline of every cohort's centers.
    old_stages = {s.stage: s for s in old.stages}
    for s in new.stages:
        before = old_stages.get(s.stage)
        if before is None:
            continue
        if (before.due_month, before.due_day) != (s.due_month, s.due_day):
            lines.append(
                f"Этап центров «{STATE_TITLES[CenterState(s.stage)]}»: срок {_dm(before)} → "
                f"{_dm(s)} (у центров каждого набора, ещё не прошедших этап)."
            )

    # What it does to the cycles.
    old_specs, new_specs = _specs(old), _specs(new)
    existing = {(c.measure, c.period) for c in cycles}
    moves: list[Move] = []
    for c in sorted(cycles, key=lambda c: (c.measure, c.due, c.period)):
        key = (c.measure, c.period)
        if key not in old_specs or c.state in CLOSED_STATES:
            continue  # an operator's cycle, or one closed: nothing moves
        if key not in new_specs:
            if c.measure in new_measures and _within(c.period, new.period_end):
                lines.append(
                    f"Мероприятие {c.measure}: цикл {c.period} больше не следует из дорожной "
                    f"карты и остаётся со сроком {_d(c.due)} (если он не нужен: "
                    f"tochka cycles fire {c.id} cancel)."
                )
            continue
        if new_specs[key] != old_specs[key] and new_specs[key] != c.due:
            moves.append(
                Move(
                    cycle_id=c.id,
                    measure=c.measure,
                    period=c.period,
                    original=c.due,
                    revised=new_specs[key],
                )
            )
            lines.append(
                f"Мероприятие {c.measure}: срок цикла {c.period} переносится с {_d(c.due)} "
                f"на {_d(new_specs[key])}."
            )
    to_come: dict[int, list[tuple[date, str]]] = {}
    for (measure, period), due in new_specs.items():
        if (measure, period) not in old_specs and (measure, period) not in existing:
            to_come.setdefault(measure, []).append((due, period))
    for measure in sorted(to_come):
        periods = [p for _, p in sorted(to_come[measure])]
        lines.append(f"Мероприятие {measure}: {_span(periods)}.")
    if len(lines) == 2:
        lines.append("Содержательных изменений нет (изменены только оформление или комментарии).")
    return Comparison(lines=lines, refusals=refusals, moves=moves)
