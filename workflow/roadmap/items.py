"""Items of a compound measure and the source's footnotes: pure helpers.

A measure may list sub-items (``items:``, Ivanovo's measure 2 has four: «Утверждение:
1) …; 2) …»). Each item is a cycle of its own, of the measure's number, labelled
``"<due year>/<item number>"`` (``"2020/2.3"``; `notifications.values.item_number` reads
it back): the cycle table stays unique on (measure, period) and needs no column of its
own. An item cycle is reminded on its own deadline with its own title and documents
(`cycle_measure` gives the measure as that item's cycle sees it), and the measure is done
when all its items are (`items_done`).

Footnotes (``footnotes: {"*": "…"}``) keep the source's notes with the texts they
qualify: a mark is a run of asterisks or of superscript digits (``*``, ``**``, ``¹``)
written at the end of a word or number («10 ноября 2020* года»); `marks_in` finds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date

from notifications.ics import month_title
from notifications.values import item_number
from states.cycle import CycleState
from workflow.roadmap.definition import Measure, MeasureItem, Roadmap

__all__ = [
    "cycle_measure",
    "due_title",
    "item_of",
    "item_period",
    "item_title",
    "items_done",
    "marks_in",
    "measure_done_text",
    "stated_due",
]

#: A footnote mark in a text: asterisks, or superscript digits.
_MARK_RE = re.compile(r"\*+|[¹²³⁴⁵⁶⁷⁸⁹⁰]+")


def item_period(item: MeasureItem) -> str:
    """The period label of an item's cycle: ``"2020/2.3"``."""
    return f"{item.due.year}/{item.number}"


def item_of(measure: Measure, period: str) -> MeasureItem | None:
    """The item a cycle of ``measure`` labelled ``period`` is about, or None."""
    number = item_number(period)
    if number is None:
        return None
    return next((i for i in measure.items if i.number == number), None)


#: The longest lead-in («Утверждение») an item's title continues.
LEAD_IN_LIMIT = 80


def item_title(measure: Measure, item: MeasureItem) -> str:
    """An item's title as a whole phrase. A decree's compound measure reads «Утверждение:
    1) должностного лица …; 2) …», so an item's own title (genitive, «должностного лица
    …») continues the measure's lead-in: «Утверждение должностного лица …». A title that
    reads on its own (capitalised), or a measure without a short lead-in before a colon,
    keeps the item's title as written."""
    lead, colon, _ = measure.title.partition(":")
    lead = lead.strip()
    if colon and lead and len(lead) <= LEAD_IN_LIMIT and item.title[:1].islower():
        return f"{lead} {item.title}"
    return item.title


def cycle_measure(roadmap: Roadmap, number: int, period: str) -> Measure:
    """The measure as its cycle labelled ``period`` sees it: for an item's cycle, the
    item's title, documents and deadline text; otherwise the measure itself.

    Raises:
        KeyError: no measure has this number.
    """
    measure = roadmap.measure(number)
    item = item_of(measure, period)
    if item is None:
        return measure
    return replace(
        measure,
        title=item_title(measure, item),
        evidence=item.evidence,
        deadline_text=item.due_text or measure.deadline_text,
        first_due=item.due,
        month_only=item.month_only,
        footnotes=item.footnotes,
        items=(),
    )


def items_done(measure: Measure, states: Mapping[str, str]) -> tuple[int, int] | None:
    """(items done, items) of a compound measure by its cycles' states (period label →
    state); None for a measure without items."""
    if not measure.items:
        return None
    done = sum(states.get(item_period(i)) == CycleState.DONE.value for i in measure.items)
    return done, len(measure.items)


def measure_done_text(counts: tuple[int, int] | None) -> str:
    """«выполнено: все пункты (4)», «выполнено пунктов: 3 из 4»; empty without items."""
    if counts is None:
        return ""
    done, total = counts
    if done == total:
        return f"мероприятие выполнено: все пункты ({total})"
    return f"выполнено пунктов: {done} из {total}"


def due_title(due: date, *, month_only: bool = False) -> str:
    """A deadline as people read it: «23.12.2020»; a month-only one «февраль 2022 г.»
    (the month's last day, 28.02.2022, is when it falls due)."""
    if month_only:
        return month_title(f"{due.year}-{due.month:02d}") or f"{due:%m.%Y}"
    return f"{due:%d.%m.%Y}"


def stated_due(measure: Measure, due: date) -> str:
    """The deadline of ``measure``'s cycle due on ``due`` as the roadmap states it, when
    that is not a day: «февраль 2022 г.» for a month-only deadline (``"2022-02"``, due on
    the month's last day, which the schedule keeps); empty for a day, and for a cycle
    whose due date is no longer the stated one (moved by an order). ``measure`` is the
    measure as its cycle sees it (`cycle_measure`: an item's own deadline)."""
    if measure.month_only and due == measure.first_due:
        return due_title(due, month_only=True)
    return ""


def marks_in(texts: Iterable[str]) -> set[str]:
    """The footnote marks the texts use."""
    return {m.group(0) for text in texts for m in _MARK_RE.finditer(text)}
