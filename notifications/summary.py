"""The weekly summary letter: the status dashboard, in brief, with the full page attached.

The caller (`workflow.schedule.weekly`) reads the figures and renders the dashboard; this module
only carries them to the templates, so `notifications` stays independent of `workflow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from notifications.signature import Signature
from notifications.values import Recipient, Reminder


@dataclass(frozen=True, kw_only=True, slots=True)
class SummaryLine:
    """A dated line of the summary: an overdue measure cycle or an upcoming deadline.

    Attributes:
        title: what is due (a measure and its period, or a cohort's stage).
        due: the deadline.
        days: days late (overdue lines) or days left (upcoming lines).
        silenced: an overdue item past the last overdue reminder the roadmap allows:
            nobody is reminded of it any more, the weekly summary is where it stays.
    """

    title: str
    due: date
    days: int
    silenced: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class LateCenterLine:
    """A center long overdue on a stage: one line per center, its earliest unmet stage.

    Attributes:
        school: the school the center is based at, as the coordinator knows it (already
            shortened to fit a line, on a word boundary).
        municipality: the center's municipality.
        stage: the earliest overdue stage, named as the action it asks for
            («оснащение центра», «открытие центра»).
        due: that stage's deadline.
        days: days late on it.
        more: how many further stages of the center are overdue too.
    """

    school: str
    municipality: str
    stage: str
    due: date
    days: int
    more: int = 0

    @property
    def title(self) -> str:
        """The center and its stage in one phrase (for a template override written
        for the older summary, whose lines had a ``title``)."""
        return f"Центр «Точка роста» на базе {self.school} ({self.municipality}): {self.stage}"


@dataclass(frozen=True, kw_only=True, slots=True)
class MarkLine:
    """A center's stage marked during the week (one audit event of a center).

    Attributes:
        headline: what was marked, as the school's notice says it («Центр оснащён»,
            «Отметка этапа „оснащён“ отменена»).
        school: the school the center is based at (shortened to fit a line).
        municipality: the center's municipality.
        day: the event's effective date.
        who: who marked it, by full name and role (never the login).
    """

    headline: str
    school: str
    municipality: str
    day: date
    who: str


@dataclass(frozen=True, kw_only=True)
class WeeklySummary:
    """One weekly summary letter to one recipient.

    Attributes:
        key: the idempotency key (one letter per roadmap and ISO week).
        recipient: the coordinator.
        reply_to: where replies go.
        roadmap_title: the roadmap's title.
        as_of: the date the figures are for.
        total_centers: all centers, withdrawn included.
        opened_centers: centers open: working (``opened``) or already reporting.
        late_centers: centers behind a passed stage deadline.
        stages: (stage title, centers in it), lifecycle order, every stage.
        overdue: overdue measure cycles, the longest overdue first.
        upcoming: deadlines of the next days, the nearest first.
        horizon_days: how many days ``upcoming`` covers.
        attachment_name: file name of the attached dashboard.
        attachment: the dashboard, a self-contained HTML page.
        signature: the letter's signature block (None: the roadmap's title signs).
        silenced: centers long overdue on a stage whose reminders have stopped (the
            roadmap's ``reminders.overdue_rungs`` were sent): they are in this letter
            only, one line per center, the longest overdue first, at most a page of
            them (measure cycles: ``overdue``, flagged).
        silenced_total: how many such centers there are, those not listed included
            (0: as many as listed).
        silenced_rungs: how many overdue reminders the responsible got before.
        journal: the audit chain head as ``SEQ:HASH`` (empty before the first event);
            ``tochka audit verify --expect SEQ:HASH`` checks the chain against it.
        marked: the centers' stages marked in the week ``marked_from``..``marked_to``
            (the schools get a notice each; the coordinator reads them here, never as a
            copy of the school's letter), in order, at most a page of them.
        marked_total: how many marks the week had, those not listed included (0: as
            many as listed).
        bounced: the addresses that do not take our letters (a delivery status
            notification said so) and the day of the first letter that bounced.
        reminders: the coordinator's reminders of the day the summary goes out, folded
            in by `notifications.queue.queue_summary` (the summary is that day's one
            letter to the coordinator); empty when there were none.
    """

    key: str
    recipient: Recipient
    reply_to: str
    roadmap_title: str
    as_of: date
    total_centers: int
    opened_centers: int
    late_centers: int
    stages: tuple[tuple[str, int], ...]
    overdue: tuple[SummaryLine, ...] = ()
    upcoming: tuple[SummaryLine, ...] = ()
    horizon_days: int = 30
    attachment_name: str = "svodka.html"
    attachment: bytes = field(default=b"", repr=False)
    signature: Signature | None = None
    silenced: tuple[LateCenterLine, ...] = ()
    silenced_total: int = 0
    silenced_rungs: int = 4
    journal: str = ""
    marked: tuple[MarkLine, ...] = ()
    marked_total: int = 0
    marked_from: date | None = None
    marked_to: date | None = None
    reminders: tuple[Reminder, ...] = ()
    bounced: tuple[tuple[str, date], ...] = ()

    @property
    def marked_count(self) -> int:
        """All the marks of the week, listed or not."""
        return max(self.marked_total, len(self.marked))

    @property
    def marked_unlisted(self) -> int:
        """The marks of the week the letter does not list."""
        return self.marked_count - len(self.marked)

    @property
    def silenced_count(self) -> int:
        """All the long-overdue centers, listed or not."""
        return max(self.silenced_total, len(self.silenced))

    @property
    def silenced_unlisted(self) -> int:
        """The long-overdue centers the letter does not list (they are in the attachment)."""
        return self.silenced_count - len(self.silenced)


def sample_summary() -> WeeklySummary:
    """A summary with every part filled, awkward characters included (template checks)."""
    return WeeklySummary(
        key="sample-summary",
        recipient=Recipient(email="coordinator@example.org", name="Координатор <проекта>"),
        reply_to="coordinator@example.org",
        roadmap_title="Дорожная карта «Точка роста», Ивановская область",
        as_of=date(2022, 8, 22),
        total_centers=40,
        opened_centers=12,
        late_centers=3,
        stages=(("Запланирован", 10), ("Открыт", 12), ("Исключён", 1)),
        overdue=(
            SummaryLine(
                title="Мероприятие № 9, 2022-Q2 & <b>", due=date(2022, 7, 1), days=52, silenced=True
            ),
        ),
        upcoming=(SummaryLine(title="Когорта 2022: открыт", due=date(2022, 9, 1), days=10),),
        silenced=(
            LateCenterLine(
                school="МБОУ «Школа № 1» <i>",
                municipality="Шуйский район",
                stage="оснащение центра",
                due=date(2022, 6, 1),
                days=82,
                more=2,
            ),
        ),
        silenced_total=61,
        marked=(
            MarkLine(
                headline="Центр открыт",
                school="МБОУ «Школа № 2» <b>",
                municipality="Кинешемский район",
                day=date(2022, 8, 17),
                who="Иванова Анна Петровна, координатор",
            ),
        ),
        marked_total=3,
        marked_from=date(2022, 8, 15),
        marked_to=date(2022, 8, 21),
        journal="12:" + "ab" * 32,
        attachment_name="svodka-2022-08-22.html",
        attachment=b"<!doctype html><title>sample</title>",
    )
