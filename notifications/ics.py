"""The calendar (.ics) attachment of reminder letters: one all-day event per deadline.

The event UID depends only on what the deadline is (roadmap, measure, period, center),
not on the rung or the letter, so a calendar that imports the before, on-the-day and
overdue letters keeps one event and updates it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import icalendar

from notifications.values import Reminder

PRODID = "-//Tochka//Точка роста reminders//RU"


def event_uid(reminder: Reminder) -> str:
    """A UID stable for the deadline across rungs and recipients."""
    identity = "\x1f".join(
        [
            reminder.roadmap_title,
            str(reminder.measure_number),
            reminder.period,
            reminder.subject_kind,
            reminder.center_code or "",
            reminder.deadline.isoformat(),
        ]
    )
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32] + "@tochka"


def deadline_summary(reminder: Reminder) -> str:
    """The event title: «Срок: <title>» plus the center for a center stage."""
    summary = f"Срок: {reminder.title}"
    if reminder.center_name:
        summary += f" — {reminder.center_name}"
    return summary


def build_calendar(reminders: Sequence[Reminder], *, now: datetime) -> bytes:
    """An iCalendar (RFC 5545) file with one all-day event per distinct deadline.

    Args:
        reminders: the letter's reminders (several reminders of one deadline share one
            event).
        now: the DTSTAMP of the events (aware).

    Returns:
        The ``.ics`` bytes (UTF-8, CRLF lines).
    """
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    seen: set[str] = set()
    for reminder in sorted(reminders, key=lambda r: r.urgency):
        uid = event_uid(reminder)
        if uid in seen:
            continue
        seen.add(uid)
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", reminder.deadline)
        event.add("dtend", reminder.deadline + timedelta(days=1))
        event.add("summary", deadline_summary(reminder))
        lines = [
            f"{reminder.roadmap_title}",
            f"Мероприятие № {reminder.measure_number}, период {reminder.period}",
        ]
        if reminder.center_name:
            lines.append(f"Центр: {reminder.center_name} ({reminder.center_code or ''})")
        if reminder.evidence:
            lines.append("Документы: " + "; ".join(reminder.evidence))
        event.add("description", "\n".join(lines))
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return bytes(cal.to_ical())
