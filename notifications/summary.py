"""The weekly summary letter: the status dashboard, in brief, with the full page attached.

The caller (`workflow.schedule.weekly`) reads the figures and renders the dashboard; this module
only carries them to the templates, so `notifications` stays independent of `workflow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from notifications.signature import Signature
from notifications.values import Recipient


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
        opened_centers: centers opened or reporting.
        late_centers: centers behind a passed stage deadline.
        stages: (stage title, centers in it), lifecycle order, every stage.
        overdue: overdue measure cycles, the longest overdue first.
        upcoming: deadlines of the next days, the nearest first.
        horizon_days: how many days ``upcoming`` covers.
        attachment_name: file name of the attached dashboard.
        attachment: the dashboard, a self-contained HTML page.
        signature: the letter's signature block (None: the roadmap's title signs).
        silenced: center stages long overdue whose reminders have stopped (the
            roadmap's ``reminders.overdue_rungs`` were sent): they are in this letter
            only, the longest overdue first (measure cycles: ``overdue``, flagged).
        silenced_rungs: how many overdue reminders the responsible got before.
        journal: the audit chain head as ``SEQ:HASH`` (empty before the first event);
            ``tochka audit verify --expect SEQ:HASH`` checks the chain against it.
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
    silenced: tuple[SummaryLine, ...] = ()
    silenced_rungs: int = 4
    journal: str = ""


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
            SummaryLine(
                title="Центр на базе МБОУ «Школа № 1» <i>, Шуйский район: этап «Оснащён»",
                due=date(2022, 6, 1),
                days=82,
            ),
        ),
        journal="12:" + "ab" * 32,
        attachment_name="svodka-2022-08-22.html",
        attachment=b"<!doctype html><title>sample</title>",
    )
