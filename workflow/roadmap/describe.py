"""The parsed rules of a roadmap as people and scripts read them (``tochka roadmap show``).

The file's own texts (``deadline_text``, ``due_text``) say what the decree says; the rules
here say what Tochka made of them: how each measure recurs and until when, the rule of
its due dates, its due dates over the program, each item's deadline, each stage's
deadline relative to the cohort's year, the reminder ladder and the program's close.
Russian sentences for the text form, plain values (the file's own keys where it has
them) for ``--json``. Pure: a validated roadmap in, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from notifications.ics import period_text
from states.center import STATE_TITLES, CenterState
from workflow.roadmap import closing
from workflow.roadmap.definition import (
    DueRule,
    Measure,
    Recurrence,
    ReminderPolicy,
    Roadmap,
    StageRule,
)
from workflow.roadmap.items import due_title
from workflow.roadmap.recurrence import CycleSpec, measure_cycles, period_label
from workflow.roadmap.schema_relative import relative_text

__all__ = [
    "RECURRENCE_TITLES",
    "closing_json",
    "closing_text",
    "cohorts_text",
    "due_rule_text",
    "dues_text",
    "measure_json",
    "measure_rule",
    "program_cycles",
    "reminders_json",
    "reminders_text",
    "stage_dues",
    "stage_dues_text",
    "stage_json",
    "stage_rule",
]

RECURRENCE_TITLES: dict[Recurrence, str] = {
    Recurrence.ONCE: "однократно",
    Recurrence.ONCE_THEN_AS_NEEDED: "однократно, далее по необходимости",
    Recurrence.ANNUAL: "ежегодно",
    Recurrence.QUARTERLY: "ежеквартально",
    Recurrence.MONTHLY: "ежемесячно",
    Recurrence.DATES_YEARLY: "ежегодно, в указанные дни",
    Recurrence.PER_COHORT: "для каждого набора центров",
    Recurrence.AFTER: "после события",
    Recurrence.AS_NEEDED: "по необходимости",
    Recurrence.BY_SCHEDULE: "согласно отдельному графику",
}

#: What a reported period is called after «окончания» / «следующего за».
_PERIOD_GENITIVE: dict[Recurrence, str] = {
    Recurrence.MONTHLY: "месяца",
    Recurrence.QUARTERLY: "квартала",
    Recurrence.ANNUAL: "года",
}
_PERIOD_AFTER: dict[Recurrence, str] = {
    Recurrence.MONTHLY: "месяца, следующего за отчётным",
    Recurrence.QUARTERLY: "месяца, следующего за отчётным кварталом",
    Recurrence.ANNUAL: "января года, следующего за отчётным",
}

#: The most due dates the text form lists before it elides («…»).
MAX_DUES_SHOWN = 6


def _day_month(month: int, day: int) -> str:
    return f"{day:02d}.{month:02d}"


def _plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian word for ``n`` things: 1 день, 3 дня, 5 дней, 11 дней, 21 день."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return few
    return many


def _days(n: int, *, working: bool = False) -> str:
    if working:
        return f"{n} {_plural(n, 'рабочий день', 'рабочих дня', 'рабочих дней')}"
    return f"{n} {_plural(n, 'день', 'дня', 'дней')}"


def _short_month(day: int) -> str:
    """The rule for a day a month may lack, said where it matters (29-31)."""
    return "; в месяце без этого числа — его последний день" if day > 28 else ""


def due_rule_text(rule: DueRule, kind: Recurrence) -> str:
    """«5-й рабочий день после окончания квартала», «10-е число месяца, следующего за
    отчётным кварталом», «через 5 дней после окончания месяца»."""
    if rule.day_of_next_month is not None:
        day = rule.day_of_next_month
        return f"{day}-е число {_PERIOD_AFTER[kind]}{_short_month(day)}"
    days = rule.days_after or 0
    period = _PERIOD_GENITIVE[kind]
    if rule.working:
        return f"{days}-й рабочий день после окончания {period} (по производственному календарю РФ)"
    return f"через {_days(days)} после окончания {period}"


def _cohort_year(offset: int, *, centers: str = "центров") -> str:
    """The year of a deadline relative to the cohort's, Russian («года, предшествующего
    году создания центров (год набора − 1)»); ``centers``: «центра» for a stage."""
    if offset == 0:
        return f"года создания {centers} (год набора)"
    if offset == -1:
        return f"года, предшествующего году создания {centers} (год набора − 1)"
    if offset == 1:
        return f"года, следующего за годом создания {centers} (год набора + 1)"
    sign, where = ("−", "до") if offset < 0 else ("+", "после")
    years = f"{abs(offset)} {_plural(abs(offset), 'год', 'года', 'лет')}"
    return f"за {years} {where} года создания {centers} (год набора {sign} {abs(offset)})"


def _year_key(offset: int) -> str:
    """The file's ``year`` value: ``cohort``, ``cohort-1``, ``cohort+1``."""
    return "cohort" if offset == 0 else f"cohort{offset:+d}"


def program_cycles(roadmap: Roadmap, measure: Measure) -> list[CycleSpec]:
    """Every cycle the measure's recurrence creates over the program, as the reconciler
    will (`workflow.roadmap.recurrence.scheduled_cycles` without its date): those due
    after the program's end only for the measures that close it."""
    result = []
    for spec in measure_cycles(
        measure, period_end=roadmap.period_end, cohorts=roadmap.cohort_years
    ):
        if spec.due > roadmap.period_end and not roadmap.closing.closes_program(measure.number):
            break
        result.append(spec)
    return result


def measure_rule(roadmap: Roadmap, m: Measure) -> str:
    """How Tochka reads the measure's deadline, Russian: the recurrence, the due rule,
    the first reported period, the cohort year, ``until``."""
    kind = m.recurrence
    first = m.first_due
    text: str
    if kind is Recurrence.AFTER and m.after is not None:
        text = relative_text(m.after)
    elif kind is Recurrence.AS_NEEDED:
        text = "по необходимости: циклы открывает оператор (tochka cycles open)"
    elif kind is Recurrence.BY_SCHEDULE:
        text = "по отдельному графику: сроки вносит оператор (tochka cycles open)"
    elif kind is Recurrence.PER_COHORT and m.cohort_day is not None:
        month, day = m.cohort_day
        years = ", ".join(str(y) for y in roadmap.cohort_years)
        text = (
            f"для каждого набора центров ({years}): {_day_month(month, day)} "
            f"{_cohort_year(m.cohort_offset)}"
        )
    elif m.due_rule is not None and m.first_period is not None:
        period = period_text(period_label(kind, m.first_period))
        text = (
            f"{RECURRENCE_TITLES[kind]}, за каждый отчётный период, первый — {period}; "
            f"срок — {due_rule_text(m.due_rule, kind)}"
        )
    elif kind is Recurrence.DATES_YEARLY and first is not None:
        days = " и ".join(_day_month(mo, d) for mo, d in m.dates)
        text = f"ежегодно {days}, с {first:%d.%m.%Y}"
    elif first is None:
        text = RECURRENCE_TITLES[kind]
    elif kind in (Recurrence.ONCE, Recurrence.ONCE_THEN_AS_NEEDED):
        when = due_title(first, month_only=m.month_only)
        if m.month_only:
            when += f" (последний день месяца, {first:%d.%m.%Y})"
        text = f"однократно, срок {when}"
        if m.items:
            text += f"; по пунктам ({len(m.items)}), у каждого свой цикл и срок"
        if kind is Recurrence.ONCE_THEN_AS_NEEDED:
            text += "; далее по необходимости (циклы открывает tochka cycles open)"
    elif kind is Recurrence.ANNUAL:
        text = f"ежегодно, {first:%d.%m}, с {first:%d.%m.%Y}"
    elif kind is Recurrence.QUARTERLY:
        text = (
            f"ежеквартально, каждые 3 месяца с {first:%d.%m.%Y}, отчёт за предыдущий "
            f"квартал{_short_month(first.day)}"
        )
    else:  # monthly from a first due date
        text = (
            f"ежемесячно, {first.day}-го числа, с {first:%d.%m.%Y}, отчёт за предыдущий "
            f"месяц{_short_month(first.day)}"
        )
    if m.until is not None:
        text += f"; сроки не позже {m.until:%d.%m.%Y}"
    return text


def dues_text(specs: Sequence[CycleSpec]) -> str:
    """The due dates of a measure's cycles: all of a few, else the first ones, «…», the
    last and how many («05.02.2022, 05.03.2022, 05.04.2022, …, 05.01.2026 (всего 48)»)."""
    dues = [f"{s.due:%d.%m.%Y}" for s in specs]
    if len(dues) <= MAX_DUES_SHOWN:
        return ", ".join(dues)
    return f"{', '.join(dues[: MAX_DUES_SHOWN - 2])}, …, {dues[-1]} (всего {len(dues)})"


def measure_json(roadmap: Roadmap, m: Measure) -> dict[str, Any]:
    """The measure's parsed rules: the recurrence file's keys (``until``, ``due``,
    ``first_period``, ``dates``, ``day``, ``year``), the rule as text and the cycles
    over the program (period label and due date)."""
    rule: dict[str, Any] | None = None
    if m.due_rule is not None:
        if m.due_rule.day_of_next_month is not None:
            rule = {"day_of_next_month": m.due_rule.day_of_next_month}
        else:
            rule = {"after_period": {"days": m.due_rule.days_after, "working": m.due_rule.working}}
    return {
        "responsible_text": m.responsible_text,
        "due_text": m.due_text,
        "month_only": m.month_only,
        "until": m.until.isoformat() if m.until else None,
        "due": rule,
        "first_period": (
            period_label(m.recurrence, m.first_period) if m.first_period is not None else None
        ),
        "dates": [_day_month(mo, d) for mo, d in m.dates],
        "per_cohort": (
            {
                "day": _day_month(*m.cohort_day),
                "year": _year_key(m.cohort_offset),
                "year_offset": m.cohort_offset,
                "cohorts": list(roadmap.cohort_years),
            }
            if m.cohort_day is not None
            else None
        ),
        "rule": measure_rule(roadmap, m),
        "cycles": [
            {"period": s.period, "due": s.due.isoformat()} for s in program_cycles(roadmap, m)
        ],
    }


def _stage_title(rule: StageRule) -> str:
    return STATE_TITLES[CenterState(rule.stage)]


def stage_rule(roadmap: Roadmap, rule: StageRule) -> str:
    """A stage's deadline as Tochka reads it: «срок 15.12 года, предшествующего году
    создания центра (год набора − 1)», «начало 10.10 …», «по графику мероприятия № 3»."""
    if rule.due_month is None or rule.due_day is None:
        return (
            f"срок по графику мероприятия № {rule.measure}: последний из сроков его циклов "
            "в году создания центра"
        )
    word = "начало" if rule.starts else "срок"
    when = _cohort_year(rule.year_offset, centers="центра")
    return f"{word} {_day_month(rule.due_month, rule.due_day)} {when}"


def stage_dues(roadmap: Roadmap, rule: StageRule) -> list[tuple[int, date]]:
    """(cohort year, date) of a dated stage for each cohort; none for a by-schedule one."""
    if rule.due_month is None or rule.due_day is None:
        return []
    return [
        (y, date(y + rule.year_offset, rule.due_month, rule.due_day)) for y in roadmap.cohort_years
    ]


def stage_dues_text(roadmap: Roadmap, rule: StageRule) -> str:
    """«центры 2023 г. — 15.12.2022; центры 2024 г. — 15.12.2023; …»."""
    return "; ".join(f"центры {y} г. — {d:%d.%m.%Y}" for y, d in stage_dues(roadmap, rule))


def stage_json(roadmap: Roadmap, rule: StageRule) -> dict[str, Any]:
    """A stage rule's parsed keys beyond the stored ones: the file's ``due`` and
    ``year``, whether it follows its measure's schedule, its rule as text and its date
    for each cohort."""
    due = (
        _day_month(rule.due_month, rule.due_day)
        if rule.due_month is not None and rule.due_day is not None
        else None
    )
    return {
        "title": _stage_title(rule),
        "due": due,
        "year": _year_key(rule.year_offset),
        "year_offset": rule.year_offset,
        "by_schedule": due is None,
        "documents": list(rule.documents),
        "rule": stage_rule(roadmap, rule),
        "cohorts": [{"cohort": y, "due": d.isoformat()} for y, d in stage_dues(roadmap, rule)],
    }


def cohorts_text(roadmap: Roadmap) -> str:
    """«Наборы центров (годы создания): 2023–2025»."""
    years = roadmap.cohort_years
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else str(years[0])
    default = "" if roadmap.cohort_range is not None else " (каждый год программы)"
    return f"Наборы центров (годы создания): {span}{default}"


def _party_name(roadmap: Roadmap, party_id: str) -> str:
    try:
        return roadmap.party(party_id).name
    except KeyError:
        return roadmap.party(roadmap.coordinator).name


def reminders_text(roadmap: Roadmap) -> str:
    """The ladder: «за 14 и 3 дня до срока, в день срока; после срока каждые 7 дней,
    4 раза; просрочку видит: <координатор>»."""
    policy: ReminderPolicy = roadmap.reminders
    parts = []
    if policy.days_before:
        before = sorted(policy.days_before, reverse=True)
        days = " и ".join(str(d) for d in before)
        parts.append(f"за {days} {_plural(before[-1], 'день', 'дня', 'дней')} до срока")
    if policy.on_day:
        parts.append("в день срока")
    text = ", ".join(parts) or "до срока не напоминается"
    if policy.overdue_rungs:
        every = policy.overdue_every_days
        rungs = policy.overdue_rungs
        often = (
            "каждый день"
            if every == 1
            else f"каждые {every} {_plural(every, 'день', 'дня', 'дней')}"
        )
        text += f"; после срока {often}, {rungs} {_plural(rungs, 'раз', 'раза', 'раз')}"
    return f"{text}; просрочку видит: {_party_name(roadmap, policy.escalate_to)}"


def reminders_json(roadmap: Roadmap) -> dict[str, Any]:
    """The ladder as the file's ``reminders`` keys."""
    policy = roadmap.reminders
    return {
        "days_before": list(policy.days_before),
        "on_day": policy.on_day,
        "overdue_every_days": policy.overdue_every_days,
        "overdue_rungs": policy.overdue_rungs,
        "escalate_to": policy.escalate_to,
    }


def closing_text(roadmap: Roadmap) -> str:
    """«Закрытие: 31.03.2026 (через 90 дней после окончания программы); после
    окончания напоминаются только отчёты мероприятий № 10, 11, 12»."""
    policy = roadmap.closing
    text = (
        f"Закрытие: {closing.closes_on(roadmap):%d.%m.%Y} (через "
        f"{_days(policy.grace_days)} после окончания программы)"
    )
    if policy.measures is None:
        return text + "; после окончания напоминаются сроки всех мероприятий за программу"
    if not policy.measures:
        return text + "; после окончания ничего не напоминается"
    numbers = ", ".join(str(n) for n in policy.measures)
    return text + f"; после окончания напоминаются только отчёты мероприятий № {numbers}"


def closing_json(roadmap: Roadmap) -> dict[str, Any]:
    """The close as the file's ``closing`` keys, with its day."""
    policy = roadmap.closing
    return {
        "grace_days": policy.grace_days,
        "measures": list(policy.measures) if policy.measures is not None else None,
        "closes_on": closing.closes_on(roadmap).isoformat(),
    }
