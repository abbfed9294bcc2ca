"""Calendar events of deadlines (RFC 5545), shared by letters and `tochka calendar export`.

One deadline is one event everywhere. Its UID is a function of what the deadline *is*
(`deadline_uid`: roadmap code, measure, period, and for a center stage the center and the
stage), never of the rung, the letter, a database id or the date: a calendar that takes
the before, on-the-day and overdue letters and the export keeps one event and updates it.

SEQUENCE (`deadline_sequence`) is derived from the due date alone, deterministically:
the number of days from 01.01.2000 to it. Moving a deadline later (the usual change: the
operator's schedule, a roadmap file with a new date) gives a greater SEQUENCE, so a
calendar replaces the event; the letters and the export of the same date agree. A
deadline moved by a recorded revision (a roadmap amendment, ``tochka cycles
reschedule``) counts from the latest date it ever had plus one per move, so a move
earlier gets a greater SEQUENCE too (the revisions are stored: `deadline_revision`).

SUMMARY begins with what and who and stays within `SUMMARY_LIMIT` characters;
DESCRIPTION begins with this event's own date («Срок: 01.07.2023»).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from notifications import russian
from notifications.memo import memoised
from notifications.values import Reminder, item_number
from states.center import STATE_TITLES, CenterState

# `icalendar` (some 30-45 ms to import) is imported by the two functions that build its
# components: every command that parses a roadmap reads the period titles here
# (`month_title`, through `workflow.roadmap.items`) and builds no calendar.
if TYPE_CHECKING:
    import icalendar

PRODID = "-//Tochka//Точка роста//RU"
#: The calendar's name in the letters' attachment (X-WR-CALNAME).
LETTER_CALENDAR_NAME = "Сроки «Точка роста»"
#: The longest SUMMARY, in characters: what a calendar's day cell and a phone's list show.
SUMMARY_LIMIT = 80
SEQUENCE_EPOCH = date(2000, 1, 1)

#: What a center stage deadline asks, short, for the event title.
STAGE_ACTIONS: dict[str, str] = {
    CenterState.INFRASTRUCTURE_AGREED.value: "Согласование инфраструктурного листа",
    CenterState.EQUIPPED.value: "Оснащение центра",
    CenterState.STAFF_TRAINED.value: "Обучение персонала центра",
    CenterState.OPENED.value: "Открытие центра",
    CenterState.REPORTING.value: "Начало отчётности центра",
}
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
#: Month names in the nominative, as a period title reads them («март 2022 г.»).
MONTHS_NOMINATIVE = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:#\d+)?")
#: A re-created cycle's label: the first one's, then «#2», «#3».
_REPEAT = re.compile(r"(.+)#(\d+)")


def deadline_uid(
    *, roadmap: str, measure: int, period: str, center: str | None = None, stage: str = ""
) -> str:
    """The UID of one deadline: a measure cycle, or one center's stage.

    Args:
        roadmap: the roadmap's code.
        measure: the measure's number.
        period: the cycle's period label (``2023-Q2``); for a center stage the cohort year.
        center: the center's code for a center stage, else None.
        stage: the center stage (a `states.CenterState` value) for a center stage.
    """
    code = quote(roadmap, safe="")
    if center is None:
        return f"{code}-cycle-{measure}-{quote(period, safe='-')}@tochka"
    return (
        f"{code}-center-{quote(center, safe='')}-{quote(stage, safe='')}-{measure}-"
        f"{quote(period, safe='-')}@tochka"
    )


def deadline_sequence(due: date, earlier: Sequence[date] = ()) -> int:
    """SEQUENCE of a deadline's event: days from 01.01.2000 to ``due`` (see the module).

    A deadline moved (``earlier``: the due dates it had before, from the stored
    revisions) counts from the latest date it ever had, plus one per move: every move
    gives a greater SEQUENCE, an earlier date too.
    """
    if not earlier:
        return max((due - SEQUENCE_EPOCH).days, 0)
    return max((max(due, *earlier) - SEQUENCE_EPOCH).days, 0) + len(earlier)


def split_repeat(period: str) -> tuple[str, int]:
    """A period label and which time it is: ``"центр N1#2"`` → ``("центр N1", 2)``;
    ``"2021"`` → ``("2021", 1)`` (the first cycle carries no number)."""
    if match := _REPEAT.fullmatch(period):
        return match.group(1), int(match.group(2))
    return period, 1


def repeat_text(count: int) -> str:
    """Which time a cycle is, in Russian: «повторно» (the 2nd), «3-й раз» and so on."""
    return "повторно" if count == 2 else f"{count}-й раз"


def period_text(period: str, *, short: bool = False, cohort: bool = False) -> str:
    """A period label in Russian: «II квартал 2023 г.» (``short``: «II кв. 2023 г.»),
    «2023 г.», «март 2022 г.» for a month (``2022-03``), «от 15.09.2021» for a cycle the
    operator opened on a date (or a ``dates_yearly`` cycle's date), «пункт 2.3» for an
    item of a compound measure (``2020/2.3``), «центр N1» for a relative deadline's
    cycle after a center's stage; a re-created cycle (``"центр N1#2"``) reads «центр N1
    (повторно)», the third «(3-й раз)». ``cohort``: the label is a cohort's year (a
    ``per_cohort`` measure, due the year before): «центры 2023 г.»."""
    base, count = split_repeat(period)
    text = cohort_text(base) if cohort else _base_text(base, short=short)
    return f"{text} ({repeat_text(count)})" if count > 1 else text


def cohort_text(period: str) -> str:
    """A ``per_cohort`` cycle's label (the cohort's year) as people read it: «центры
    2023 г.», the centers created that year, whatever year the cycle is due in."""
    return f"центры {period} г." if re.fullmatch(r"\d{4}", period) else period


def _base_text(period: str, *, short: bool) -> str:
    if match := _QUARTER.fullmatch(period):
        word = "кв." if short else "квартал"
        return f"{_ROMAN[int(match.group(2))]} {word} {match.group(1)} г."
    if re.fullmatch(r"\d{4}", period):
        return f"{period} г."
    if (month := month_title(period)) is not None:
        return month
    if match := _ISO_DAY.fullmatch(period):
        return f"от {match.group(3)}.{match.group(2)}.{match.group(1)}"
    if (number := item_number(period)) is not None:
        return f"пункт {number}"
    return period


def _is_reporting_period(period: str) -> bool:
    """A quarter, a year or a month: what «за …» is said of."""
    return bool(
        _QUARTER.fullmatch(period) or re.fullmatch(r"\d{4}", period) or _MONTH.fullmatch(period)
    )


def measure_name(measure: int, period: str, *, cohort: bool = False) -> str:
    """A measure's cycle named in a sentence, by the kind of its label: «Мероприятие № 9
    за II квартал 2023 г.», «… за 2021 г.»; an item: «Мероприятие № 2, пункт 2.3»; a
    cycle opened on a date: «Мероприятие № 4 от 15.06.2023»; a relative deadline's
    cycle after a center's stage: «Мероприятие № 15 (центр N1)». A re-created cycle adds
    «(повторно)», inside the parentheses when there are some: «(центр N1, повторно)».
    ``cohort``: a ``per_cohort`` cycle, «Мероприятие № 2 (центры 2023 г.)»."""
    base, count = split_repeat(period)
    text = cohort_text(base) if cohort else _base_text(base, short=False)
    again = f" ({repeat_text(count)})" if count > 1 else ""
    head = f"Мероприятие № {measure}"
    if _is_reporting_period(base) and not cohort:
        return f"{head} за {text}{again}"
    if item_number(base) is not None:
        return f"{head}, {text}{again}"
    if _ISO_DAY.fullmatch(base):
        return f"{head} {text}{again}"
    return f"{head} ({text}, {repeat_text(count)})" if count > 1 else f"{head} ({text})"


def month_title(period: str) -> str | None:
    """A monthly cycle's period (``2022-03``) as people read it: «март 2022 г.»; None for
    any other label."""
    if match := _MONTH.fullmatch(period):
        return f"{MONTHS_NOMINATIVE[int(match.group(2)) - 1]} {match.group(1)} г."
    return None


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word with «…» when longer."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:—-«„(") + "…"


def _summary_text(text: str, limit: int) -> str:
    """``text`` on one line in Russian typography (`russian.typographic_quotes`: a name's
    straight quotes become «…», quotes inside quotes „…“, as the letters' subjects have
    them), cut to ``limit`` at a word with its quotations closed (`russian.shorten`)."""
    return russian.shorten(russian.typographic_quotes(" ".join(text.split())), limit)


def cycle_summary(*, measure: int, period: str, title: str) -> str:
    """«№ 9, II кв. 2023 г.: Проведение ежеквартального мониторинга…» (what, then its name)."""
    head = f"№ {measure}, {period_text(period, short=True)}: "
    return head + _summary_text(title, max(SUMMARY_LIMIT - len(head), 10))


def stage_summary(*, stage: str, school: str) -> str:
    """«Открытие центра — МБОУ Панинская СОШ»: the action, then the school (cut to fit)."""
    action = STAGE_ACTIONS.get(stage) or _stage_title(stage)
    head = f"{action} — "
    return head + _summary_text(school, max(SUMMARY_LIMIT - len(head), 10))


def _stage_title(stage: str) -> str:
    try:
        return "Этап «" + STATE_TITLES[CenterState(stage)] + "»"
    except ValueError:
        return "Этап центра"


def new_calendar(name: str) -> icalendar.Calendar:
    """An empty PUBLISH calendar named ``name`` (X-WR-CALNAME, Russian)."""
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("name", name)  # RFC 7986
    return cal


def deadline_event(
    *,
    uid: str,
    due: date,
    summary: str,
    details: Sequence[str],
    now: datetime,
    earlier: Sequence[date] = (),
) -> icalendar.Event:
    """One all-day event: its DESCRIPTION begins «Срок: <due>», then ``details``
    (after «Срок перенесён с …» when the deadline was moved from ``earlier`` dates)."""
    import icalendar

    event = icalendar.Event()
    event.add("uid", uid)
    event.add("sequence", deadline_sequence(due, earlier))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", due)
    event.add("dtend", due + timedelta(days=1))
    event.add("summary", summary)
    moved = [f"Срок перенесён с {earlier[0]:%d.%m.%Y} на {due:%d.%m.%Y}."] if earlier else []
    event.add("description", "\n".join([f"Срок: {due:%d.%m.%Y}.", *moved, *details]))
    event.add("transp", "TRANSPARENT")
    return event


def _roadmap_code(reminder: Reminder) -> str:
    # A reminder stored before the code was recorded: a stable stand-in from its title.
    if reminder.roadmap_code:
        return reminder.roadmap_code
    return hashlib.sha256(reminder.roadmap_title.encode("utf-8")).hexdigest()[:12]


def event_uid(reminder: Reminder) -> str:
    """The UID of the reminder's deadline: the same as `calendar export`'s for it."""
    if reminder.subject_kind == "center_stage":
        return deadline_uid(
            roadmap=_roadmap_code(reminder),
            measure=reminder.measure_number,
            period=reminder.period,
            center=reminder.center_code or "",
            stage=reminder.stage,
        )
    return deadline_uid(
        roadmap=_roadmap_code(reminder), measure=reminder.measure_number, period=reminder.period
    )


def deadline_summary(reminder: Reminder) -> str:
    """The event title: what, then who (the school for a center stage)."""
    if reminder.subject_kind == "center_stage" and reminder.center_name:
        return stage_summary(stage=reminder.stage, school=reminder.center_name)
    return cycle_summary(
        measure=reminder.measure_number, period=reminder.period, title=reminder.title
    )


def reminder_details(reminder: Reminder) -> list[str]:
    """The DESCRIPTION lines after the date: the center, the measure, documents, roadmap."""
    lines = []
    if reminder.subject_kind == "center_stage":
        if reminder.center_name:
            place = "Центр «Точка роста» на базе " + russian.typographic_quotes(
                " ".join(reminder.center_name.split())
            )
            if reminder.center_code:
                place += f" (код {reminder.center_code})"
            if reminder.municipality:
                place += f", {reminder.municipality}"
            lines.append(place + ".")
        lines.append(f"{reminder.title}.")
    else:
        lines.append(f"{measure_name(reminder.measure_number, reminder.period)}: {reminder.title}")
    if reminder.evidence:
        lines.append("Документы: " + "; ".join(reminder.evidence) + ".")
    lines.append(reminder.roadmap_title)
    return lines


def build_calendar(reminders: Sequence[Reminder], *, now: datetime) -> bytes:
    """An iCalendar (RFC 5545) file with one all-day event per distinct deadline.

    Args:
        reminders: the letter's reminders (several reminders of one deadline share one
            event; a bounced address told to the coordinator, ``bounce``, is no deadline
            and has none).
        now: the DTSTAMP of the events (aware).

    Returns:
        The ``.ics`` bytes (UTF-8, CRLF lines).
    """
    seen: set[str] = set()
    events: list[bytes] = []
    stamp = now.astimezone(UTC)
    for reminder in sorted(reminders, key=lambda r: r.urgency):
        if reminder.bounce is not None:
            continue
        uid = event_uid(reminder)
        if uid in seen:
            continue
        seen.add(uid)
        events.append(
            _event_ical(
                uid,
                reminder.deadline,
                deadline_summary(reminder),
                tuple(reminder_details(reminder)),
                stamp,
                reminder.earlier_deadlines,
            )
        )
    head, end = _letter_calendar()
    return head + b"".join(events) + end


@functools.cache
def _letter_calendar() -> tuple[bytes, bytes]:
    """The letters' calendar without events, cut where its events go (before its END):
    `icalendar.Calendar.to_ical` writes a calendar as its own lines, then each
    component's `to_ical`, then END."""
    whole = bytes(new_calendar(LETTER_CALENDAR_NAME).to_ical())
    end = b"END:VCALENDAR\r\n"
    if not whole.endswith(end):  # pragma: no cover - icalendar writes it so
        raise AssertionError("an icalendar calendar that does not end with END:VCALENDAR")
    return whole[: -len(end)], end


@memoised
def _event_ical(
    uid: str,
    due: date,
    summary: str,
    details: tuple[str, ...],
    stamp: datetime,
    earlier: tuple[date, ...],
) -> bytes:
    """One deadline's event as `icalendar` writes it (`deadline_event`), kept: the
    same deadline on the same tick is the same bytes in every letter (its school's, the
    coordinator's digest, each re-rendering of an amended digest)."""
    event = deadline_event(
        uid=uid, due=due, summary=summary, details=details, now=stamp, earlier=earlier
    )
    return bytes(event.to_ical())
