"""Clock and time helpers. The engine never reads the wall clock itself: it takes ``now``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from base.errors import InputError

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused (convert at the edge)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


def local_date(moment: datetime, zone: str) -> date:
    """The calendar date of ``moment`` in ``zone``."""
    return as_utc(moment).astimezone(ZoneInfo(zone)).date()


#: ``25.08.2021`` or ``25.08.2021 09:30[:00]``: the Russian form, checked before ISO.
_RUSSIAN = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}(?: +\d{1,2}:\d{2}(?::\d{2})?)?$")


def zone_name(moment: datetime, zone: str) -> str:
    """Whose clock a time is on, as Russia names its zones: «МСК», «МСК+2» (Yekaterinburg),
    «МСК−1» (Kaliningrad): the zone's offset from Moscow time at ``moment``. A person reads
    this beside a time, never an IANA name such as «Europe/Moscow»."""
    here = as_utc(moment).astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
    moscow = as_utc(moment).astimezone(ZoneInfo("Europe/Moscow")).utcoffset() or timedelta()
    minutes = int((here - moscow).total_seconds()) // 60
    if not minutes:
        return "МСК"
    hours, rest = divmod(abs(minutes), 60)
    return f"МСК{'+' if minutes > 0 else '−'}{hours}" + (f":{rest:02d}" if rest else "")


def parse_now(text: str, zone: str = "Europe/Moscow") -> datetime:
    """Parse ``--now``: an ISO date or datetime, or a Russian date ``ДД.ММ.ГГГГ`` (with an
    optional time ``ЧЧ:ММ[:СС]`` after a space), as every date option accepts.

    A date means the start of that day in ``zone``; a naive datetime is read in ``zone``.

    Raises:
        InputError: the text is none of these forms.
    """
    text = text.strip()
    try:
        if _RUSSIAN.match(text):
            day_text, _, clock_text = text.partition(" ")
            clock_text = clock_text.strip()
            day = parse_date(day_text, what="--now")
            parts = [int(part) for part in clock_text.split(":")] if clock_text else [0, 0]
            at = time(parts[0], parts[1], parts[2] if len(parts) > 2 else 0)
            return datetime.combine(day, at, ZoneInfo(zone)).astimezone(UTC)
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time(0, 0), ZoneInfo(zone)).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, InputError) as exc:
        raise InputError(
            f"«{text}» — не дата: ожидается ГГГГ-ММ-ДД, ДД.ММ.ГГГГ, ГГГГ-ММ-ДДTЧЧ:ММ[:СС][±ЧЧ:ММ] "
            "или ДД.ММ.ГГГГ ЧЧ:ММ."
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


def parse_date(text: str, *, what: str) -> date:
    """Parse a date given by a person: ISO ``2021-08-25`` or Russian ``25.08.2021``.

    Raises:
        InputError: not a date that exists; ``what`` names the option in the message.
    """
    text = text.strip()
    try:
        if "." in text:
            day, month, year = text.split(".")
            return date(int(year), int(month), int(day))
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            f"{what}: «{text}» — не дата (ожидается ГГГГ-ММ-ДД или ДД.ММ.ГГГГ)."
        ) from exc
