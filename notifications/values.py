"""Value objects the scheduler hands to the outbox: recipients, rungs and reminders.

A `Reminder` is one rung of a deadline's reminder ladder for one recipient. The
scheduler builds them (level-triggered, idempotent by `Reminder.key`);
`notifications.queue.queue_reminders` records and groups them into daily digests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from notifications.bounce_alert import BounceAlert
from notifications.monitoring_form import MonitoringForm
from notifications.signature import Signature

#: The period label of a compound measure's item cycle: its due year and the item's
#: number, ``"2020/2.3"`` (`workflow.roadmap.items` makes them).
ITEM_PERIOD_RE = re.compile(r"([0-9]{4})/([0-9]+(?:\.[0-9]+)+)")


def item_number(period: str) -> str | None:
    """The item number of an item cycle's period label (``"2020/2.3"`` → ``"2.3"``);
    None for any other label."""
    match = ITEM_PERIOD_RE.fullmatch(period)
    return match.group(2) if match else None


class Rung(StrEnum):
    """Where a reminder stands relative to its deadline."""

    BEFORE = "before"
    """``days`` days before the deadline."""
    ON_DAY = "on_day"
    """On the deadline itself (``days`` is 0)."""
    OVERDUE = "overdue"
    """``days`` days after the deadline, the work not done."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipient:
    """A person or body that receives letters.

    Attributes:
        email: the address (validated when the letter is built, not here).
        name: the display name, Russian; control characters are stripped when used.
        contact: the person letters greet («Здравствуйте, Анна Петровна!»); empty: the
            letter greets the organisation («Добрый день!»).
    """

    email: str
    name: str = ""
    contact: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Reminder:
    """One reminder of one deadline, for one recipient, to be sent on one day.

    Attributes:
        key: unique per deadline, rung and recipient; queuing a known key does nothing.
        send_on: the local day (roadmap time zone) the reminder belongs to.
        recipient: the responsible party.
        cc: copies; reminders carry none (the coordinator has overdue items in its own
            digest), kept for letters stored before.
        rung: before / on the day / overdue.
        days: days before the deadline (``before``) or overdue (``overdue``); 0 on the day.
        deadline: the local due date.
        term_end: the last day the deadline is still met (the next working day when it
            falls on a non-working day, Civil Code art. 193); None: ``deadline`` itself
            (reminders stored before). Overdue days count from it.
        subject_kind: ``"measure"`` or ``"center_stage"``.
        title: the measure title or the center stage description, Russian.
        roadmap_title: the roadmap's title.
        measure_number: the measure's number in the roadmap.
        center_code: the center's code for a center stage, else None.
        center_name: the center's (school's) name, else None.
        municipality: the center's municipality, else None.
        evidence: Russian names of the documents that close the deadline.
        period: the cycle's period label, e.g. ``"2022-Q3"``.
        reply_to: the coordinator's address for replies.
        timezone: the roadmap's IANA time zone, e.g. ``"Europe/Moscow"``.
        signature: the letter's signature block (None: the roadmap's title signs).
        roadmap_code: the roadmap's code (with measure, period, center and stage it names
            the deadline: the calendar UID, `notifications.ics.deadline_uid`).
        stage: the center stage (a `states.CenterState` value) for a center stage, else "".
        role: the reader's role: ``department`` (the coordinator), ``federal_operator``,
            ``municipality`` or ``school``; empty in reminders stored before roles.
        action: what the reader is asked to do, a Russian sentence.
        documents: what the reader sends (Russian names); ``evidence`` lists all of the
            measure's documents, whoever provides them.
        missing: the indicators the reader has not submitted (a school's monitoring).
        how: how to send them: reply to this letter, to whom.
        period_title: the period as people read it, e.g. «II квартал 2023 г.».
        deadline_title: the deadline as the roadmap states it when that is not a day
            («февраль 2022 г.», a month-only deadline due on the month's last day,
            ``deadline``); empty: the day ``deadline`` is what the letter shows.
        owners: for the coordinator: who else owes the item.
        owners_label: how the letter introduces ``owners`` («Просрочено у»).
        received: the values the reader has already submitted for the period, «name —
            value unit» (a school's monitoring).
        last_rung: this is the last overdue reminder the roadmap allows; later the item
            appears in the coordinator's weekly summary only.
        weekly_summary: whether the coordinator's weekly summary is sent; when it is off
            the last overdue letter does not promise it.
        journal_seq, journal_hash: the roadmap's audit chain head when queued, in the
            coordinator's reminders (0 and "" elsewhere).
    """

    key: str
    send_on: date
    recipient: Recipient
    cc: tuple[Recipient, ...] = ()
    rung: Rung
    days: int
    deadline: date
    term_end: date | None = None
    subject_kind: str
    title: str
    roadmap_title: str
    measure_number: int
    center_code: str | None = None
    center_name: str | None = None
    municipality: str | None = None
    evidence: tuple[str, ...] = ()
    period: str
    reply_to: str
    timezone: str = "Europe/Moscow"
    signature: Signature | None = None
    roadmap_code: str = ""
    stage: str = ""
    role: str = ""
    action: str = ""
    documents: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    how: str = ""
    period_title: str = ""
    owners: tuple[str, ...] = ()
    owners_label: str = ""
    last_rung: bool = False
    weekly_summary: bool = True
    journal_seq: int = 0
    journal_hash: str = ""
    #: The due dates this deadline had before it was moved, oldest first (empty: never
    #: moved): the letter says «срок перенесён с … на …», the calendar's SEQUENCE grows.
    earlier_deadlines: tuple[date, ...] = ()
    deadline_title: str = ""
    #: The monitoring form a school's measure-9 reminder attaches (filled in and sent
    #: back by reply); None for every other reminder.
    form: MonitoringForm | None = None
    #: An address that returned one of our letters, told to the coordinator once
    #: (``subject_kind`` ``"bounce"``): not a deadline; its ``deadline`` is the letter's
    #: day. None for every reminder of a deadline.
    bounce: BounceAlert | None = None

    @property
    def item_number(self) -> str | None:
        """The compound measure's item this reminder is about («2.3»), or None."""
        return item_number(self.period)

    @property
    def urgency(self) -> tuple[date, int, str, str]:
        """Sort key: earliest deadline first (the most overdue leads), then measure, center."""
        return (self.deadline, self.measure_number, self.center_code or "", self.key)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored with the reminder so a digest can be re-rendered)."""
        return (
            {
                "key": self.key,
                "send_on": self.send_on.isoformat(),
                "recipient": _recipient_json(self.recipient),
                "cc": [_recipient_json(r) for r in self.cc],
                "rung": self.rung.value,
                "days": self.days,
                "deadline": self.deadline.isoformat(),
                "term_end": None if self.term_end is None else self.term_end.isoformat(),
                "subject_kind": self.subject_kind,
                "title": self.title,
                "roadmap_title": self.roadmap_title,
                "measure_number": self.measure_number,
                "center_code": self.center_code,
                "center_name": self.center_name,
                "municipality": self.municipality,
                "evidence": list(self.evidence),
                "period": self.period,
                "reply_to": self.reply_to,
                "timezone": self.timezone,
                "signature": None if self.signature is None else self.signature.to_json(),
                "roadmap_code": self.roadmap_code,
                "stage": self.stage,
                "role": self.role,
                "action": self.action,
                "documents": list(self.documents),
                "missing": list(self.missing),
                "how": self.how,
                "period_title": self.period_title,
                "owners": list(self.owners),
                "owners_label": self.owners_label,
                "last_rung": self.last_rung,
                "weekly_summary": self.weekly_summary,
                "received": list(self.received),
                "journal_seq": self.journal_seq,
                "journal_hash": self.journal_hash,
            }
            | (
                {"earlier_deadlines": [d.isoformat() for d in self.earlier_deadlines]}
                if self.earlier_deadlines
                else {}
            )
            | ({"deadline_title": self.deadline_title} if self.deadline_title else {})
            | ({"form": self.form.to_json()} if self.form is not None else {})
            | ({"bounce": self.bounce.to_json()} if self.bounce is not None else {})
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reminder:
        """Rebuild a reminder stored with `to_json`."""
        return cls(
            key=data["key"],
            send_on=date.fromisoformat(data["send_on"]),
            recipient=Recipient(**data["recipient"]),
            cc=tuple(Recipient(**r) for r in data["cc"]),
            rung=Rung(data["rung"]),
            days=int(data["days"]),
            deadline=date.fromisoformat(data["deadline"]),
            term_end=date.fromisoformat(data["term_end"]) if data.get("term_end") else None,
            subject_kind=data["subject_kind"],
            title=data["title"],
            roadmap_title=data["roadmap_title"],
            measure_number=int(data["measure_number"]),
            center_code=data["center_code"],
            center_name=data["center_name"],
            municipality=data["municipality"],
            evidence=tuple(data["evidence"]),
            period=data["period"],
            reply_to=data["reply_to"],
            timezone=data["timezone"],
            signature=Signature.from_json(data.get("signature")),
            roadmap_code=data.get("roadmap_code", ""),
            stage=data.get("stage", ""),
            role=data.get("role", ""),
            action=data.get("action", ""),
            documents=tuple(data.get("documents", ())),
            missing=tuple(data.get("missing", ())),
            how=data.get("how", ""),
            period_title=data.get("period_title", ""),
            owners=tuple(data.get("owners", ())),
            owners_label=data.get("owners_label", ""),
            last_rung=bool(data.get("last_rung", False)),
            weekly_summary=bool(data.get("weekly_summary", True)),
            received=tuple(data.get("received", ())),
            journal_seq=int(data.get("journal_seq", 0)),
            journal_hash=data.get("journal_hash", ""),
            earlier_deadlines=tuple(
                date.fromisoformat(d) for d in data.get("earlier_deadlines", ())
            ),
            deadline_title=data.get("deadline_title", ""),
            form=MonitoringForm.from_json(data.get("form")),
            bounce=BounceAlert.from_json(data.get("bounce")),
        )


def _recipient_json(recipient: Recipient) -> dict[str, str]:
    data = {"email": recipient.email, "name": recipient.name}
    if recipient.contact:  # absent in reminders stored before contacts
        data["contact"] = recipient.contact
    return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """A transition notice («Центр открыт»), queued in the state change's transaction.

    Attributes:
        key: unique idempotency key (e.g. the audit event's id); a known key is ignored.
        recipient: who is told.
        cc: copies.
        headline: what happened, Russian, e.g. «Центр открыт»; the letter's subject.
        entity: what it happened to, e.g. «Центр «МБОУ СОШ № 1»» or «Мероприятие 6».
        from_state: the previous state's Russian label, or None for a first state.
        to_state: the new state's Russian label.
        effective_date: the local date the change takes effect.
        actor: who fired the transition.
        roadmap_title: the roadmap's title.
        center_code: the center's code, when the notice is about a center.
        center_name: the center's name, when the notice is about a center.
        municipality: the center's municipality.
        comment: the operator's comment, if any.
        evidence: Russian names of the documents recorded with the change.
        reply_to: the coordinator's address.
        timezone: the roadmap's time zone.
        signature: the letter's signature block (None: the roadmap's title signs).
    """

    key: str
    recipient: Recipient
    cc: tuple[Recipient, ...] = ()
    headline: str
    entity: str
    from_state: str | None = None
    to_state: str
    effective_date: date
    actor: str
    roadmap_title: str
    center_code: str | None = None
    center_name: str | None = None
    municipality: str | None = None
    comment: str | None = None
    evidence: tuple[str, ...] = ()
    reply_to: str
    timezone: str = "Europe/Moscow"
    signature: Signature | None = None
