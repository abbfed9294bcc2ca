"""Which rung of which deadline is due: the pure reminder maths, no database.

A *deadline* is something with a due date that reminds someone: a measure cycle (its
responsible parties) or a center stage (the school and its municipality). This module
builds deadlines from plain values, finds the rung due on a day (`latest_due`,
`sends_from`) and turns a rung into one `Reminder` per recipient. Selecting deadlines
and recording the rungs sent is SQL: `workflow.schedule.reminders`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from notifications.monitoring_form import MonitoringForm
from notifications.values import Recipient, Reminder, Rung
from states.center import STATE_TITLES as CENTER_TITLES
from states.center import CenterState
from workflow.roadmap.deadlines import StageDeadline
from workflow.roadmap.definition import Measure, PartyKind, Roadmap
from workflow.roadmap.items import cycle_measure, stated_due
from workflow.roadmap.parties import Nobody, routed_per_center
from workflow.roadmap.workdays import next_working_day, term_end, working_day_on_or_before
from workflow.schedule import asks
from workflow.schedule.ladder import (
    RungDate,
    RungKind,
    cc_coordinator,
    due_rung,
    is_last_rung,
    ladder,
)

KIND_CYCLE = "cycle"
KIND_CENTER = "center"

# Longer than any run of Russian non-working days (New Year: up to 12).
_LONGEST_DAYS_OFF = 20


# --- rungs ------------------------------------------------------------------------------


def rung_offset(rung: RungDate) -> int:
    """Signed days from the deadline: -14 for ``before-14``, 0 on the day, 7 for ``overdue-7``."""
    return -rung.days if rung.kind is RungKind.BEFORE else rung.days


def latest_due(deadline: date, roadmap: Roadmap, today: date) -> RungDate | None:
    """The latest rung due by ``today``, ignoring what was sent (`due_rung` with nothing).

    Same result as `due_rung`, but for a deadline long past it looks at the overdue rungs
    near ``today`` only, instead of building the whole ladder from the deadline on (a
    tick asks this for every open deadline every day).
    """
    policy = roadmap.reminders
    every = policy.overdue_every_days
    end = term_end(deadline)  # overdue counts from the term's legal end, as the ladder's
    if every >= 1 and today > end:
        # Walk down from past today: the first overdue rung sent by today is the latest
        # one, and it survives the ladder's same-day collapse (the collapse keeps the
        # later rung of a day, and overdue rungs never share a day with earlier kinds).
        # Start beyond the longest run of days off: a rung due after New Year's holidays
        # is sent before them, on or before today.
        k = min(((today - end).days + _LONGEST_DAYS_OFF) // every + 1, policy.overdue_rungs)
        while k >= 1:
            nominal = end + timedelta(days=k * every)
            send_on = working_day_on_or_before(nominal)
            if send_on <= end:
                send_on = next_working_day(end)
            if send_on <= today:
                return RungDate(
                    kind=RungKind.OVERDUE,
                    days=k * every,
                    nominal=nominal,
                    send_on=send_on,
                    key_part=f"{RungKind.OVERDUE.value}-{k * every}",
                )
            k -= 1
    return due_rung(deadline, policy, today=today, already_sent=())


def sends_from(
    deadline: date, roadmap: Roadmap, *, start: date, until: date, sent_offset: int | None
) -> list[tuple[date, RungDate]]:
    """The rungs daily ticks from ``start`` to ``until`` would send, with the day of each.

    The first tick catches up with the latest rung due by ``start`` (sent on ``start``);
    later rungs go out on their ``send_on``. Rungs at or before ``sent_offset`` (the
    latest rung already recorded) are not sent again.
    """
    result: list[tuple[date, RungDate]] = []
    floor = sent_offset
    rungs = ladder(deadline, roadmap.reminders, until=until)
    caught_up = [r for r in rungs if r.send_on <= start]
    if caught_up and (floor is None or rung_offset(caught_up[-1]) > floor):
        result.append((start, caught_up[-1]))
        floor = rung_offset(caught_up[-1])
    for rung in rungs:
        if start < rung.send_on <= until and (floor is None or rung_offset(rung) > floor):
            result.append((rung.send_on, rung))
    return result


# --- deadlines --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Deadline:
    """A due date that reminds someone.

    Attributes:
        kind: ``cycle`` or ``center``.
        entity_id: the cycle's or center's row id (0 for a cycle not created yet).
        stage: the center stage, empty for a cycle.
        deadline_id: ``cycle:{id}`` or ``center:{code}:{stage}``.
        due: the local due date.
        measure: the measure behind it.
        period: the cycle's period label, or the cohort year for a stage.
        recipients: who is reminded.
        title: what is due, Russian.
        center_code, center_name, municipality: for a center stage.
        asks: what each recipient is asked, by its address in lower case (a recipient
            not in it is asked as a party of the roadmap, by its kind).
    """

    kind: str
    entity_id: int
    stage: str
    deadline_id: str
    due: date
    measure: int
    period: str
    recipients: tuple[Recipient, ...]
    title: str
    center_code: str | None = None
    center_name: str | None = None
    municipality: str | None = None
    asks: Mapping[str, Ask] = field(default_factory=dict)
    #: The due dates a cycle or a center's stage had before its revisions, oldest first
    #: (`deadline_revision`, `stage_revision`).
    earlier: tuple[date, ...] = ()
    #: Municipalities a per-center party stands for that have no address: the
    #: coordinator is reminded in their place (`workflow.schedule.per_center`).
    unaddressed: tuple[str, ...] = ()
    #: Why a per-center party has nobody to remind (no center yet, or all withdrawn):
    #: the coordinator is reminded in its place, every rung (`workflow.schedule.per_center`).
    nobody: Nobody | None = None


@dataclass(frozen=True, kw_only=True)
class Ask:
    """Who one recipient of a deadline is, for the letter that asks it to act.

    Attributes:
        role: a `PartyKind` value: department, federal_operator, municipality, school.
        party: the roadmap party id, for a party of the roadmap (its documents).
        missing: for a school owing monitoring: the indicators still missing, Russian
            («Численность обучающихся …, чел.»).
        received: for the same school: the values it has already submitted for the
            period («Численность обучающихся … — 25 чел.»).
        form: for the same school: the monitoring form its letter attaches.
    """

    role: str
    party: str = ""
    missing: tuple[str, ...] = ()
    #: For a per-center party's authority or school: the names of its centers.
    centers: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    form: MonitoringForm | None = None


def party_recipients(roadmap: Roadmap, party_ids: Sequence[str]) -> tuple[Recipient, ...]:
    """The parties' addresses, in order, each address once."""
    seen: dict[str, Recipient] = {}
    for party_id in party_ids:
        try:
            party = roadmap.party(party_id)
        except KeyError:
            continue
        if party.per_center:  # reminded at each center's address (workflow.schedule.per_center)
            continue
        seen.setdefault(
            party.email.strip().lower(),
            Recipient(email=party.email, name=party.name, contact=party.contact),
        )
    return tuple(seen.values())


def escalation_recipient(roadmap: Roadmap) -> Recipient | None:
    """Who has every overdue item in its own digest: ``reminders.escalate_to`` (the
    coordinator), or the roadmap's coordinator when the policy names no known party."""
    return _escalation(roadmap)


def _escalation(roadmap: Roadmap) -> Recipient | None:
    # The policy's escalate_to names the regional coordinator's party; fall back to the
    # roadmap's coordinator when the policy names no known party.
    for party_id in (roadmap.reminders.escalate_to, roadmap.coordinator):
        try:
            party = roadmap.party(party_id)
        except KeyError:
            continue
        return Recipient(email=party.email, name=party.name, contact=party.contact)
    return None


def _reply_to(roadmap: Roadmap) -> str:
    try:
        return roadmap.party(roadmap.coordinator).email
    except KeyError:
        return ""


def monitoring_measure(roadmap: Roadmap) -> int | None:
    """The measure whose cycles collect the centers' indicators: the one the
    ``reporting`` stage starts with (measure 9, quarterly monitoring, in the decree)."""
    for rule in roadmap.stages:
        if rule.stage == CenterState.REPORTING.value:
            return rule.measure
    return None


def cycle_deadline(
    roadmap: Roadmap,
    *,
    cycle_id: int,
    measure: int,
    period: str,
    due: date,
    also: Sequence[Recipient] = (),
    also_asks: Mapping[str, Ask] | None = None,
    earlier: Sequence[date] = (),
    unaddressed: Sequence[str] = (),
    nobody: Nobody | None = None,
) -> Deadline:
    """The deadline of one measure cycle: its responsible parties are reminded, and
    ``also`` (for monitoring: the schools that still owe their indicators; for a
    per-center party: every center's authority or school), with what each is asked in
    ``also_asks``, by address in lower case. ``unaddressed``: municipalities without an
    address, for which the coordinator is reminded; ``nobody``: why the per-center
    parties have nobody at all (no center), for whom the coordinator is reminded."""
    m = cycle_measure(roadmap, measure, period)  # an item's cycle: the item's title, documents
    wanted: dict[str, Ask] = {}
    for party_id in m.responsible:
        try:
            party = roadmap.party(party_id)
        except KeyError:
            continue
        if party.per_center:
            continue
        wanted.setdefault(_key(party.email), Ask(role=party.kind.value, party=party.id))
    for email, ask in (also_asks or {}).items():
        wanted.setdefault(_key(email), ask)
    in_place = bool(unaddressed) or (nobody is not None and bool(routed_per_center(roadmap, m)))
    if in_place and (coordinator := _escalation(roadmap)) is not None:
        # Told in the unaddressed municipalities' place, or of parties with nobody
        # (`asks.coordinator_unaddressed`).
        wanted.setdefault(_key(coordinator.email), Ask(role=PartyKind.DEPARTMENT.value))
        also = (*also, coordinator)
    for recipient in also:
        wanted.setdefault(_key(recipient.email), Ask(role=PartyKind.SCHOOL.value))
    return Deadline(
        kind=KIND_CYCLE,
        entity_id=cycle_id,
        stage="",
        deadline_id=f"cycle:{cycle_id}",
        due=due,
        measure=measure,
        period=period,
        recipients=_unique((*party_recipients(roadmap, m.responsible), *also)),
        title=m.title,
        asks=wanted,
        earlier=tuple(earlier),
        unaddressed=tuple(unaddressed),
        nobody=nobody if in_place else None,
    )


def _nobody(roadmap: Roadmap, deadline: Deadline) -> asks.NobodyNote | None:
    """Who has nobody to remind for ``deadline`` and why, for the coordinator's letter."""
    if deadline.nobody is None:
        return None
    parties = routed_per_center(roadmap, roadmap.measure(deadline.measure))
    return asks.NobodyNote(parties=parties, reason=deadline.nobody) if parties else None


def _per_center(roadmap: Roadmap, party_id: str) -> bool:
    try:
        return bool(party_id) and roadmap.party(party_id).per_center
    except KeyError:
        return False


def _key(email: str) -> str:
    return email.strip().lower()


def _unique(recipients: Sequence[Recipient]) -> tuple[Recipient, ...]:
    seen: dict[str, Recipient] = {}
    for r in recipients:
        seen.setdefault(r.email.strip().lower(), r)
    return tuple(seen.values())


def stage_title(stage: StageDeadline, measure: Measure) -> str:
    """What a center stage deadline is about, Russian."""
    if stage.starts:
        what = f"начало этапа «{CENTER_TITLES[CenterState(stage.stage)]}»"
    else:
        what = f"этап «{CENTER_TITLES[CenterState(stage.stage)]}»"
    return f"Центр «Точка роста»: {what} ({measure.title})"


def center_deadline(
    roadmap: Roadmap,
    stage: StageDeadline,
    *,
    cohort: int,
    center_id: int,
    code: str,
    name: str,
    municipality: str,
    email: str,
    municipality_contact: Recipient | None = None,
    earlier: Sequence[date] = (),
) -> Deadline:
    """The deadline of one center's stage: the school is reminded, and the education
    authority of its municipality when its address is known (`workflow.engine.municipalities`).
    ``earlier``: the dates the stage had for this center before an order moved it
    (`workflow.engine.stage_revisions`), oldest first."""
    assert stage.due is not None
    wanted = {_key(email): Ask(role=PartyKind.SCHOOL.value)}
    if municipality_contact is not None:
        wanted.setdefault(_key(municipality_contact.email), Ask(role=PartyKind.MUNICIPALITY.value))
    return Deadline(
        kind=KIND_CENTER,
        entity_id=center_id,
        stage=stage.stage,
        deadline_id=f"center:{code}:{stage.stage}",
        due=stage.due,
        measure=stage.measure,
        period=str(cohort),
        recipients=_unique(
            (Recipient(email=email, name=name),)
            + ((municipality_contact,) if municipality_contact is not None else ())
        ),
        title=stage_title(stage, roadmap.measure(stage.measure)),
        center_code=code,
        center_name=name,
        municipality=municipality,
        asks=wanted,
        earlier=tuple(earlier),
    )


def _ask_text(
    roadmap: Roadmap,
    deadline: Deadline,
    recipient: Recipient,
    *,
    coordinator: Recipient | None,
    owners: Sequence[str],
    overdue: bool = False,
) -> asks.AskText:
    """What ``recipient`` is asked for ``deadline`` (see `workflow.schedule.asks`)."""
    measure = cycle_measure(roadmap, deadline.measure, deadline.period)
    ask = deadline.asks.get(_key(recipient.email))
    is_coordinator = coordinator is not None and _key(coordinator.email) == _key(recipient.email)
    if deadline.kind == KIND_CENTER:
        if ask is not None and ask.role == PartyKind.MUNICIPALITY.value:
            return asks.municipality_stage(roadmap, deadline.stage, deadline.center_name or "")
        if ask is None and is_coordinator:
            return asks.coordinator_stage(owners)
        return asks.school_stage(roadmap, deadline.stage)
    if ask is not None and _per_center(roadmap, ask.party):
        return asks.per_center_cycle(roadmap, measure, ask.party, ask.role, ask.centers)
    if ask is not None and ask.role == PartyKind.SCHOOL.value and not ask.party:
        return asks.school_monitoring(roadmap, deadline.period, ask.missing, ask.received)
    nobody = _nobody(roadmap, deadline)
    if is_coordinator and (deadline.unaddressed or nobody) and (ask is None or not ask.party):
        return asks.coordinator_unaddressed(
            deadline.unaddressed, owners, overdue=overdue, nobody=nobody
        )
    if ask is None:
        # The coordinator told of an item it is not responsible for.
        return asks.coordinator_escalation(owners)
    if ask.party == roadmap.coordinator or is_coordinator:
        label = (
            asks.OWING_INDICATORS
            if deadline.measure == monitoring_measure(roadmap)
            else asks.ALSO_REMINDED
        )
        text = asks.coordinator_cycle(
            roadmap, measure, ask.party or roadmap.coordinator, owners, owners_label=label
        )
        return asks.with_unaddressed(text, deadline.unaddressed, nobody=nobody)
    return asks.party_cycle(roadmap, measure, ask.party, ask.role)


def build_reminders(
    roadmap: Roadmap,
    deadline: Deadline,
    rung: RungDate,
    *,
    send_on: date,
    journal: tuple[int, str] | None = None,
    weekly_summary: bool = True,
) -> list[Reminder]:
    """One `Reminder` per recipient of ``deadline`` for ``rung``, sent on ``send_on``.

    Nobody gets a copy of another's letter. From the first overdue rung on the
    coordinator (``reminders.escalate_to``) has the item in its own digest, once, with
    who owes it: as a recipient already (its own measure), or as one more reminder
    (another party's, a school's). ``journal`` (the audit chain head, sequence and hash)
    is carried by the coordinator's reminders for its digest's «Журнал» line.
    ``weekly_summary``: whether the coordinator's weekly summary is sent (the
    ``weekly_summary`` setting is not off): the last overdue letter says where the item
    goes next, the summary or the coordinator's own control.
    """
    measure = cycle_measure(roadmap, deadline.measure, deadline.period)
    evidence = tuple(roadmap.evidence_kind(k).name for k in measure.evidence)
    coordinator = _escalation(roadmap)
    recipients = list(deadline.recipients)
    coordinator_key = _key(coordinator.email) if coordinator is not None else None
    if (
        coordinator is not None
        and cc_coordinator(rung)
        and all(_key(r.email) != coordinator_key for r in recipients)
    ):
        recipients.append(coordinator)
    last = is_last_rung(rung, roadmap.reminders)
    title = (
        asks.period_title(deadline.period, cohort=roadmap.by_cohort(deadline.measure))
        if deadline.kind == KIND_CYCLE
        else ""
    )
    stated = "" if deadline.earlier else stated_due(measure, deadline.due)
    owners = [r.name or r.email for r in deadline.recipients if _key(r.email) != coordinator_key]
    # A moved deadline's rungs are new reminders, not the ones queued for its old date.
    moved = f"@{deadline.due.isoformat()}" if deadline.earlier else ""
    result: list[Reminder] = []
    for recipient in recipients:
        mine = _key(recipient.email) == coordinator_key
        text = _ask_text(
            roadmap,
            deadline,
            recipient,
            coordinator=coordinator,
            owners=owners if mine else (),
            overdue=cc_coordinator(rung),
        )
        seq, head = journal if (mine and journal is not None) else (0, "")
        result.append(
            Reminder(
                key=f"{roadmap.code}:{deadline.deadline_id}{moved}:{rung.key_part}:"
                f"{recipient.email}",
                send_on=send_on,
                recipient=recipient,
                rung=Rung(rung.kind.value),
                days=rung.days,
                deadline=deadline.due,
                term_end=term_end(deadline.due),
                subject_kind="measure" if deadline.kind == KIND_CYCLE else "center_stage",
                title=deadline.title,
                roadmap_title=roadmap.title,
                signature=roadmap.signature,
                measure_number=deadline.measure,
                center_code=deadline.center_code,
                center_name=deadline.center_name,
                municipality=deadline.municipality,
                evidence=evidence,
                period=deadline.period,
                reply_to=_reply_to(roadmap),
                timezone=roadmap.timezone,
                roadmap_code=roadmap.code,
                stage=deadline.stage,
                role=text.role,
                action=text.action,
                documents=text.documents,
                missing=text.missing,
                received=text.received,
                how=text.how,
                period_title=title,
                owners=text.owners,
                owners_label=text.owners_label,
                last_rung=last,
                weekly_summary=weekly_summary,
                journal_seq=seq,
                journal_hash=head,
                earlier_deadlines=deadline.earlier,
                deadline_title=stated if deadline.kind == KIND_CYCLE else "",
                form=_form(deadline, recipient),
            )
        )
    return result


def _form(deadline: Deadline, recipient: Recipient) -> MonitoringForm | None:
    """The monitoring form of a school that owes the period's indicators, else None."""
    ask = deadline.asks.get(_key(recipient.email))
    return ask.form if ask is not None and ask.role == PartyKind.SCHOOL.value else None
