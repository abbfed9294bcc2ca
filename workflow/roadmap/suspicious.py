"""What a roadmap file may say but probably does not mean: the warnings.

Pure: a validated roadmap in, Russian sentences out. ``tochka roadmap validate`` and
``tochka init`` print them (never silently dropped); they refuse nothing. The cases:

* a quarterly measure whose ``first_due`` is not a quarter's reporting day: the shipped
  roadmap's reports are due on the first day of the month after the quarter (01.01,
  01.04, 01.07, 01.10); any other day is probably a typo or a rule after the period
  that belongs in ``due`` (``after_period``, ``day_of_next_month``);
* a stage tied to a ``by_schedule`` measure that has its own ``due``: the stage then
  keeps the file's day and never follows the measure's schedule;
* a reporting stage whose ``due`` falls on no day the measure's cycles are due on
  (reporting «from 01.10» while the reports are due on 01.01, 01.04, 01.07, 01.10 is
  consistent; «from 15.10» is not);
* a municipality or school party with an ``email`` of its own: reminded at that one
  address, not at each center's authority or school (`workflow.roadmap.parties`);
* a footnote (``footnotes``) whose mark no text of its measure or item carries.
"""

from __future__ import annotations

from states.center import STATE_TITLES, CenterState
from workflow.roadmap.definition import Recurrence, Roadmap, StageRule
from workflow.roadmap.items import marks_in
from workflow.roadmap.parties import fixed_address_warnings
from workflow.roadmap.recurrence import measure_cycles

__all__ = ["QUARTER_REPORTING_DAYS", "suspicious", "warning_text"]

#: (month, day) of a quarterly report's usual due date: the day after the quarter.
QUARTER_REPORTING_DAYS = frozenset({(1, 1), (4, 1), (7, 1), (10, 1)})


def suspicious(roadmap: Roadmap) -> list[str]:
    """The warnings about ``roadmap``, one Russian sentence each, in the file's order."""
    result: list[str] = []
    for m in roadmap.measures:
        first = m.first_due
        if (
            m.recurrence is Recurrence.QUARTERLY
            and m.due_rule is None
            and first is not None
            and (first.month, first.day) not in QUARTER_REPORTING_DAYS
        ):
            result.append(
                f"Мероприятие № {m.number}: первый срок ежеквартального отчёта "
                f"{first:%d.%m.%Y} — не день отчёта за квартал (01.01, 01.04, 01.07, 01.10). "
                "Проверьте first_due; срок «в течение N дней после окончания квартала» "
                "задаётся правилом due: {after_period: {days: N}}."
            )
    measures = {m.number: m for m in roadmap.measures}
    for rule in roadmap.stages:
        measure = measures.get(rule.measure)
        if measure is None or rule.due_month is None or rule.due_day is None:
            continue
        stage = _stage(rule)
        if measure.recurrence is Recurrence.BY_SCHEDULE:
            result.append(
                f"Этап «{stage}» связан с мероприятием № {rule.measure}, которое выполняется "
                f"по отдельному графику, но у этапа свой срок {_day(rule)}: срок этапа "
                "берётся из файла, а не из графика мероприятия. Уберите due у этапа, если "
                "срок должен идти по графику."
            )
        elif rule.stage == CenterState.REPORTING.value:
            days = {
                (s.due.month, s.due.day)
                for s in measure_cycles(
                    measure, period_end=roadmap.period_end, cohorts=roadmap.cohort_years
                )
            }
            if days and (rule.due_month, rule.due_day) not in days:
                listed = ", ".join(f"{d:02d}.{mo:02d}" for mo, d in sorted(days)[:6])
                result.append(
                    f"Этап «{stage}» со сроком {_day(rule)} не совпадает ни с одним сроком "
                    f"отчётов мероприятия № {rule.measure} ({listed}"
                    f"{', …' if len(days) > 6 else ''}): проверьте due этапа или сроки "
                    "мероприятия."
                )
    # Municipality and school parties reminded at one fixed address, not per center.
    result.extend(fixed_address_warnings(roadmap))
    result.extend(_unreferenced_footnotes(roadmap))
    return result


def _unreferenced_footnotes(roadmap: Roadmap) -> list[str]:
    """A footnote whose mark no text of its measure (or item) carries."""
    result = []
    for m in roadmap.measures:
        texts = [m.title, m.responsible_text, m.result, m.deadline_text, m.due_text]
        item_texts = [t for i in m.items for t in (i.title, i.due_text)]
        used = marks_in(texts + item_texts)
        owners = [(f"Мероприятие № {m.number}", m.footnotes, used)]
        owners += [
            (
                f"Мероприятие № {m.number}, пункт {i.number}",
                i.footnotes,
                marks_in([i.title, i.due_text]),
            )
            for i in m.items
        ]
        for owner, footnotes, marks in owners:
            for mark, _ in footnotes:
                if mark not in marks:
                    result.append(
                        f"{owner}: сноска «{mark}» не отмечена ни в одном тексте; проверьте, "
                        "к чему она относится."
                    )
    return result


def warning_text(roadmap: Roadmap) -> list[str]:
    """The warnings as printed: «Предупреждение: …» each."""
    return [f"Предупреждение: {w}" for w in suspicious(roadmap)]


def _stage(rule: StageRule) -> str:
    return STATE_TITLES.get(CenterState(rule.stage), rule.stage)


def _day(rule: StageRule) -> str:
    return f"{rule.due_day:02d}.{rule.due_month:02d}"
