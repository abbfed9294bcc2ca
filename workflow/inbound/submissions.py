"""Submissions: a matched reply is the answer to a deadline, accepted or rejected by the
coordinator (issue 15, item 4).

A reply's *deadlines* are those of the letter it answers: a reminder digest carries one
or more reminders (`notifications.outbox.REMINDER`), each of one deadline — a center's
stage or a measure cycle (`workflow.schedule.reminders`: ``center:{code}:{stage}``,
``cycle:{id}``). A reply to our decision letter answers the same deadlines as the reply
it decided (its key, ``reply:{id}:…``). Only where the letter had several deadlines still
open is the coordinator asked which one (``--for``, `Deadline.key`).

`accept` of a reply that brings a monitoring form back (`workflow.inbound.forms`:
``monitoring: {forms: accept}`` kept it for the coordinator) records the form's values
and answers the school (`workflow.inbound.forms.accept_form`), the decision recorded
beside them, in one transaction; no transition is fired: the letter's deadline is the
monitoring cycle of every school, which one center's values do not close. A form that
no longer passes the checks (the roadmap or the center changed since) records nothing:
the school is answered with the errors and the reply is rejected with them.

Otherwise `accept` fires the deadline's transition — the center's next stage trigger, a
cycle's ``complete`` (``start`` first when it was only scheduled) — with the attached files as
evidence (stored by SHA-256, their records in the event), appends the decision to the
audit chain, marks the submission accepted and queues the sender's letter: one
transaction, all or nothing. Every refusal (the message is not a matched reply, the
submission is decided already, the deadline is closed, a file is refused) is raised
before anything is written. `reject` records the reason the same way and tells the sender.

Who may decide follows the roadmap's permissions: whoever may fire the deadline's
trigger on that center or cycle (`workflow.engine.access`); a refusal is recorded in
the audit trail, as every refusal is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import local_date, system_clock
from base.errors import TochkaError
from notifications.outbox import OUTBOX, REMINDER
from notifications.reply_decision import Decision, queue_decision
from notifications.values import Recipient, Reminder
from states.center import FORWARD_TRIGGERS, LIFECYCLE, STATE_TITLES, CenterState
from states.cycle import STATE_TITLES as CYCLE_TITLES
from states.cycle import CycleState, CycleTrigger
from workflow.engine import access, audit, evidence, media
from workflow.engine.access import Actor
from workflow.engine.transitions import NoticeHook, TransitionEngine, TransitionResult, cycle_label
from workflow.errors import InputError, NotFound
from workflow.inbound.forms import FormResult, accept_form, kept_form
from workflow.inbound.message import Attachment, parse
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.items import cycle_measure
from workflow.storage.inbound import INBOUND, InboundState, SubmissionState
from workflow.storage.tables import CENTER, CYCLE, EVENT

__all__ = [
    "REPLY_KIND",
    "Accepted",
    "Deadline",
    "Decided",
    "DeadlineState",
    "FormAccepted",
    "Submission",
    "accept",
    "deadlines_for",
    "deadlines_of",
    "decision_of",
    "deadline_states",
    "load",
    "reject",
]

#: The audit events of decisions on replies (entity id: the inbound message's number).
REPLY_KIND = "reply"
ACCEPT_TRIGGER = "accept"
REJECT_TRIGGER = "reject"
#: The longest rejection reason kept (it goes into a letter and the audit trail).
MAX_REASON = 2000

_CYCLE_KEY = re.compile(r"cycle:([0-9]+)")
_DECISION_KEY = re.compile(r"reply:([0-9]+):")
_STAGE_INDEX = {state.value: index for index, state in enumerate(LIFECYCLE)}


@dataclass(frozen=True, kw_only=True)
class Deadline:
    """One deadline a letter reminded of."""

    roadmap_code: str
    kind: str  # "center" or "cycle"
    measure: int
    period: str
    due: date
    center_code: str | None = None
    center_name: str | None = None
    #: The stage the center is to reach (a `CenterState` value), for a center.
    stage: str = ""
    cycle_id: int | None = None

    @property
    def key(self) -> str:
        """What ``--for`` takes: «S1:equipped» for a center's stage, «cycle:23»."""
        if self.kind == "center":
            return f"{self.center_code}:{self.stage}"
        return f"cycle:{self.cycle_id}"

    @property
    def title(self) -> str:
        """«центр S1 — этап «оснащён», срок 25.08.2021»; «Цикл 5 (мероприятие 3, 2021 г.),
        срок 15.03.2021»."""
        if self.kind == "center":
            stage = STATE_TITLES[CenterState(self.stage)]
            return f"центр {self.center_code} — этап «{stage}», срок {self.due:%d.%m.%Y}"
        assert self.cycle_id is not None
        return f"{cycle_label(self.cycle_id, self.measure, self.period)}, срок {self.due:%d.%m.%Y}"

    @property
    def trigger(self) -> str:
        """The transition that closes it."""
        if self.kind == "center":
            return FORWARD_TRIGGERS[CenterState(self.stage)].value
        return CycleTrigger.COMPLETE.value


@dataclass(frozen=True, kw_only=True)
class DeadlineState:
    """Where a deadline stands now: ``closed`` (the reason) or open; ``not_yet``: open,
    but its transition cannot be fired from the current state (the reason)."""

    deadline: Deadline
    state: str | None
    closed: str | None = None
    not_yet: str | None = None
    municipality: str = ""


@dataclass(frozen=True, kw_only=True)
class Decided:
    """A decision recorded on a reply: who, when, what (the audit event)."""

    trigger: str
    actor: str
    on_behalf_of: str | None
    effective_date: date
    comment: str | None
    seq: int
    roadmap_id: int


@dataclass(frozen=True, kw_only=True)
class Submission:
    """A recorded inbound message as the decisions see it."""

    id: int
    state: str
    submission: str | None
    reason: str | None
    auto_kind: str | None
    from_addr: str
    from_header: str
    subject: str
    outbox_id: int | None
    outbox_key: str | None
    attachments: list[dict[str, Any]]
    raw: bytes | None


@dataclass(frozen=True, kw_only=True)
class Accepted:
    """A committed acceptance."""

    submission: int
    deadline: Deadline
    results: tuple[TransitionResult, ...]
    files: tuple[evidence.FileRef, ...]
    decision_seq: int


@dataclass(frozen=True, kw_only=True)
class FormAccepted:
    """A committed decision on a returned monitoring form: its values recorded
    (``result.recorded``), or, when it no longer passed the checks, the errors the
    school was answered with (``result.errors``) and the reply rejected."""

    submission: int
    center_code: str
    center_name: str
    period_title: str
    result: FormResult
    decision_seq: int


# --- reading ------------------------------------------------------------------------------


def load(conn: Connection, number: int) -> Submission:
    """The inbound message ``number``.

    Raises:
        NotFound: no such message.
    """
    row = conn.execute(
        sa.select(
            INBOUND.c.id,
            INBOUND.c.state,
            INBOUND.c.submission,
            INBOUND.c.reason,
            INBOUND.c.auto_kind,
            INBOUND.c.from_addr,
            INBOUND.c.from_header,
            INBOUND.c.subject,
            INBOUND.c.outbox_id,
            INBOUND.c.attachments,
            INBOUND.c.raw,
            OUTBOX.c.key.label("outbox_key"),
        )
        .select_from(INBOUND.outerjoin(OUTBOX, OUTBOX.c.id == INBOUND.c.outbox_id))
        .where(INBOUND.c.id == number)
    ).first()
    if row is None:
        raise NotFound(
            f"Входящего письма №\u00a0{number} нет.",
            hint="Номера писем — в «tochka replies list».",
        )
    return Submission(**row._asdict())


def _deadline(reminder: Reminder) -> Deadline | None:
    code = reminder.roadmap_code
    if not code or not reminder.key.startswith(f"{code}:"):
        return None  # a reminder stored before deadlines were named in keys
    rest = reminder.key[len(code) + 1 :]
    common: dict[str, Any] = {
        "roadmap_code": code,
        "measure": reminder.measure_number,
        "period": reminder.period,
        "due": reminder.deadline,
    }
    if reminder.subject_kind == "center_stage" and reminder.center_code and reminder.stage:
        return Deadline(
            kind="center",
            center_code=reminder.center_code,
            center_name=reminder.center_name,
            stage=reminder.stage,
            **common,
        )
    match = _CYCLE_KEY.match(rest)
    if match is None:
        return None
    return Deadline(kind="cycle", cycle_id=int(match[1]), **common)


def deadlines_of(conn: Connection, outbox_ids: Sequence[int]) -> dict[int, list[Deadline]]:
    """The deadlines each letter reminded of, by letter (the most urgent first, each
    once); a decision letter's are those of the letter its reply answered."""
    wanted = {i: i for i in outbox_ids}
    # A decision letter (``reply:{id}:…``) stands for the letter its reply answered.
    keys = dict(
        conn.execute(
            sa.select(OUTBOX.c.id, OUTBOX.c.key).where(OUTBOX.c.id.in_(list(wanted)))
        ).all()
    )
    for _depth in range(5):
        decided = {
            letter: int(m[1])
            for letter, source in wanted.items()
            if (m := _DECISION_KEY.match(keys.get(source, "")))
        }
        if not decided:
            break
        answered = dict(
            conn.execute(
                sa.select(INBOUND.c.id, INBOUND.c.outbox_id).where(
                    INBOUND.c.id.in_(list(decided.values()))
                )
            ).all()
        )
        for letter, inbound in decided.items():
            wanted[letter] = answered.get(inbound) or 0
        keys |= dict(
            conn.execute(
                sa.select(OUTBOX.c.id, OUTBOX.c.key).where(
                    OUTBOX.c.id.in_([wanted[letter] for letter in decided])
                )
            ).all()
        )
    found: dict[int, dict[str, Deadline]] = {i: {} for i in outbox_ids}
    sources = {source for source in wanted.values() if source}
    by_source: dict[int, list[Deadline]] = {}
    rows = conn.execute(
        sa.select(REMINDER.c.outbox_id, REMINDER.c.payload)
        .where(REMINDER.c.outbox_id.in_(list(sources)))
        .order_by(REMINDER.c.id)
    )
    reminders: dict[int, list[Reminder]] = {}
    for outbox_id, payload in rows:
        reminders.setdefault(outbox_id, []).append(Reminder.from_json(payload))
    for source, items in reminders.items():
        by_source[source] = [
            d for r in sorted(items, key=lambda r: r.urgency) if (d := _deadline(r)) is not None
        ]
    for letter, source in wanted.items():
        for item in by_source.get(source, []):
            found[letter].setdefault(item.key, item)
    return {letter: list(items.values()) for letter, items in found.items()}


def deadlines_for(conn: Connection, item: Submission) -> list[Deadline]:
    """The deadlines the reply ``item`` may be for (none: it answers no reminder)."""
    if item.outbox_id is None:
        return []
    return deadlines_of(conn, [item.outbox_id])[item.outbox_id]


def deadline_states(
    conn: Connection, roadmap_id: int, deadlines: Sequence[Deadline]
) -> list[DeadlineState]:
    """Where each deadline stands now (of one roadmap)."""
    codes = [d.center_code for d in deadlines if d.kind == "center" and d.center_code]
    cycle_ids = [d.cycle_id for d in deadlines if d.kind == "cycle" and d.cycle_id is not None]
    centers = {
        row.code: row
        for row in conn.execute(
            sa.select(CENTER.c.code, CENTER.c.state, CENTER.c.municipality).where(
                CENTER.c.roadmap_id == roadmap_id, CENTER.c.code.in_(codes)
            )
        )
    }
    cycles = dict(
        conn.execute(
            sa.select(CYCLE.c.id, CYCLE.c.state).where(
                CYCLE.c.roadmap_id == roadmap_id, CYCLE.c.id.in_(cycle_ids)
            )
        ).all()
    )
    result: list[DeadlineState] = []
    for d in deadlines:
        if d.kind == "center":
            row = centers.get(d.center_code)
            if row is None:
                result.append(
                    DeadlineState(
                        deadline=d, state=None, closed=f"центра {d.center_code} больше нет"
                    )
                )
                continue
            result.append(_center_state(d, row.state, row.municipality))
        else:
            state = cycles.get(d.cycle_id)
            if state is None:
                result.append(
                    DeadlineState(deadline=d, state=None, closed=f"цикла № {d.cycle_id} больше нет")
                )
                continue
            closed = None
            if state in (CycleState.DONE.value, CycleState.CANCELLED.value):
                what = cycle_label(d.cycle_id or 0, d.measure, d.period)
                closed = f"{what} уже «{CYCLE_TITLES[CycleState(state)]}»"
            result.append(DeadlineState(deadline=d, state=state, closed=closed))
    return result


def _center_state(d: Deadline, state: str, municipality: str) -> DeadlineState:
    code = d.center_code
    if state == CenterState.WITHDRAWN.value:
        return DeadlineState(
            deadline=d,
            state=state,
            closed=f"центр {code} исключён из дорожной карты",
            municipality=municipality,
        )
    now, wanted = _STAGE_INDEX[state], _STAGE_INDEX[d.stage]
    current = STATE_TITLES[CenterState(state)]
    if now >= wanted:
        return DeadlineState(
            deadline=d,
            state=state,
            closed=f"центр {code} уже «{current}»",
            municipality=municipality,
        )
    if now < wanted - 1:
        before = STATE_TITLES[LIFECYCLE[wanted - 1]]
        return DeadlineState(
            deadline=d,
            state=state,
            not_yet=f"центр {code} сейчас «{current}»: этап «{STATE_TITLES[CenterState(d.stage)]}» "
            f"отмечается только после этапа «{before}»",
            municipality=municipality,
        )
    return DeadlineState(deadline=d, state=state, municipality=municipality)


def decision_of(conn: Connection, number: int) -> Decided | None:
    """The last decision recorded on the reply ``number`` (None: undecided)."""
    row = conn.execute(
        sa.select(
            EVENT.c.trigger,
            EVENT.c.actor,
            EVENT.c.on_behalf_of,
            EVENT.c.effective_date,
            EVENT.c.comment,
            EVENT.c.seq,
            EVENT.c.roadmap_id,
        )
        .where(EVENT.c.entity_kind == REPLY_KIND, EVENT.c.entity_id == number)
        .order_by(EVENT.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Decided(**row._asdict())


# --- checks shared by accept and reject ---------------------------------------------------


_STATE_REFUSALS = {
    InboundState.QUARANTINE.value: "в карантине",
    InboundState.AUTO.value: "автоматическое (автоответ, отчёт о недоставке или рассылка)",
    InboundState.REFUSED.value: "не прочитано при получении",
}


def check_decidable(conn: Connection, item: Submission, verb: str) -> None:
    """Refuse a message that is not a reply waiting for a decision.

    ``verb``: «принять» or «отклонить», for the message.
    """
    label = f"Письмо №\u00a0{item.id}"
    if item.state != InboundState.MATCHED.value:
        why = _STATE_REFUSALS.get(item.state, item.state)
        reason = f" ({item.reason})" if item.reason else ""
        raise InputError(
            f"{label} {why}{reason}: это не ответ на письмо Точки от его адресата, "
            f"{verb} его нельзя.",
            hint="Принимаются и отклоняются только ответы в состоянии «ответ на письмо» "
            "(tochka replies list --state matched).",
        )
    if item.submission == SubmissionState.PENDING.value:
        return
    decided = decision_of(conn, item.id)
    done = "принят" if item.submission == SubmissionState.ACCEPTED.value else "отклонён"
    if decided is None:
        raise InputError(f"Ответ №\u00a0{item.id} уже {done}: решение не меняется.")
    raise InputError(
        f"Ответ №\u00a0{item.id} уже {done} {decided.effective_date:%d.%m.%Y} "
        f"(решение: {who_decided(conn, decided)}): решение не меняется.",
        hint=f"Подробности: tochka replies show {item.id}.",
    )


def who_decided(conn: Connection, decided: Decided) -> str:
    """«Иванова Анна Петровна, координатор» (and whom they acted for), as letters say it."""
    from workflow.engine.users import actor_title

    who = actor_title(conn, decided.roadmap_id, decided.actor)
    if decided.on_behalf_of is not None:
        who += " от имени: " + actor_title(conn, decided.roadmap_id, decided.on_behalf_of)
    return who


def choose(
    conn: Connection,
    roadmap_id: int,
    item: Submission,
    deadlines: Sequence[Deadline],
    wanted: str | None,
) -> DeadlineState:
    """The deadline the reply is for: ``wanted`` (a `Deadline.key`), the letter's only
    one, or its only one still open; refused when closed or ambiguous."""
    label = f"Ответ №\u00a0{item.id}"
    if not deadlines:
        raise InputError(
            f"{label} отвечает на письмо №\u00a0{item.outbox_id}, в котором нет сроков "
            "(уведомление о переходе или сводка): принимать нечего.",
            hint="Отклоните его (tochka replies reject) или отметьте переход сами "
            "(tochka centers fire, tochka cycles fire).",
        )
    listed = "; ".join(f"{d.key} — {d.title}" for d in deadlines)
    states = deadline_states(conn, roadmap_id, deadlines)
    if wanted is not None:
        chosen = [s for s in states if s.deadline.key.casefold() == wanted.strip().casefold()]
        if not chosen:
            raise InputError(
                f"--for «{wanted}»: такого срока нет в письме №\u00a0{item.outbox_id}, "
                f"на которое отвечает {label.lower()}.",
                hint=f"Сроки письма: {listed}.",
            )
        found = chosen[0]
    elif len(states) == 1:
        found = states[0]
    else:
        open_ = [s for s in states if s.closed is None]
        if len(open_) == 1:
            found = open_[0]
        elif not open_:
            reasons = "; ".join(f"{s.deadline.key}: {s.closed}" for s in states)
            raise InputError(
                f"{label}: все сроки письма №\u00a0{item.outbox_id} уже закрыты ({reasons}).",
                hint="Отклоните ответ (tochka replies reject) или оставьте его без решения.",
            )
        else:
            options = "; ".join(f"{s.deadline.key} — {s.deadline.title}" for s in open_)
            raise InputError(
                f"{label}: письмо №\u00a0{item.outbox_id} напоминало о нескольких открытых "
                "сроках — укажите, к какому относится ответ: --for СРОК.",
                hint=f"Открытые сроки: {options}.",
            )
    if found.closed is not None:
        raise InputError(
            f"{label} — на {found.deadline.title}: срок уже закрыт ({found.closed}), "
            "принимать нечего.",
            hint="Отклоните ответ (tochka replies reject) или оставьте его без решения.",
        )
    return found


# --- files --------------------------------------------------------------------------------


def attached_files(
    item: Submission,
    roadmap: Roadmap,
    deadline: Deadline,
    *,
    limits: evidence.Limits,
    kinds: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> list[evidence.EvidenceFile]:
    """The reply's attachments judged as evidence files (by content, as ``--evidence-file``).

    Args:
        kinds: ``KIND`` for every file, or ``NAME=KIND`` for one; by default the
            deadline's measure's only evidence kind.
        skip: names of attachments left out.

    Raises:
        InputError: naming the file: refused by type, size or name, a skipped or kinded
            name the reply does not carry, a kind the roadmap does not know or a
            measure with several kinds and none given.
    """
    attachments = _attachments(item)
    names = [a.name for a in attachments]
    for name in skip:
        if name not in names:
            raise InputError(
                f"--skip «{name}»: в ответе №\u00a0{item.id} нет такого вложения.",
                hint="Вложения: " + (", ".join(f"«{n}»" for n in names) or "нет") + ".",
            )
    known = {k.id: k.name for k in roadmap.evidence_kinds}
    listed = "Виды: " + "; ".join(f"{k} — {n}" for k, n in known.items()) + "."
    default: str | None = None
    named: dict[str, str] = {}
    for value in kinds:
        name, sep, kind = value.rpartition("=")
        kind = kind.strip()
        if kind not in known:
            raise InputError(f"--kind «{value}»: неизвестный вид документа «{kind}».", hint=listed)
        if sep:
            if name not in names:
                raise InputError(
                    f"--kind «{value}»: в ответе №\u00a0{item.id} нет вложения «{name}».",
                    hint="Вложения: " + (", ".join(f"«{n}»" for n in names) or "нет") + ".",
                )
            named[name] = kind
        else:
            default = kind
    measure = cycle_measure(roadmap, deadline.measure, deadline.period)
    if default is None and len(measure.evidence) == 1:
        default = measure.evidence[0]
    kept = [a for a in attachments if a.name not in skip]
    # Each file is judged by its content first: a refused file is named whatever its kind.
    judged = [_judged(item, attachment, "", limits) for attachment in kept]
    files: list[evidence.EvidenceFile] = []
    for attachment, file in zip(kept, judged, strict=True):
        chosen = named.get(attachment.name, default)
        if chosen is None:
            needed = "; ".join(f"{k} — {known.get(k, k)}" for k in measure.evidence)
            raise InputError(
                f"Вложение «{attachment.name}»: мероприятию №\u00a0{measure.number} нужны "
                "документы нескольких видов — укажите вид: --kind ВИД (для всех файлов) или "
                "--kind «ИМЯ=ВИД».",
                hint=f"Виды мероприятия: {needed}.",
            )
        files.append(replace(file, kind=chosen))
    return files


def _attachments(item: Submission) -> list[Attachment]:
    if item.raw is None:
        return []
    return list(parse(item.raw).attachments)


def _judged(
    item: Submission, attachment: Attachment, kind: str, limits: evidence.Limits
) -> evidence.EvidenceFile:
    def refuse(why: str) -> InputError:
        return InputError(
            f"Ответ №\u00a0{item.id}: вложение «{attachment.name}» не принято: {why}; "
            "ответ остаётся ждать решения.",
            hint=f"Оставьте файл без внимания (--skip «{attachment.name}») или отклоните "
            "ответ с причиной (tochka replies reject …), чтобы школа прислала документ "
            "ещё раз.",
        )

    content = attachment.data
    if not content:
        raise refuse("файл пустой")
    if len(content) > limits.max_bytes:
        raise refuse(
            f"файл больше допустимого ({_mb(len(content))}, можно не больше "
            f"{_mb(limits.max_bytes)}, TOCHKA_EVIDENCE_MAX_MB)"
        )
    try:
        name = evidence.clean_name(attachment.name)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    try:
        found = media.detect(content)
    except media.Refused as exc:
        raise refuse(exc.reason) from None
    if found.name not in limits.types:
        raise refuse(f"{found.title} не входит в допустимые виды файлов (TOCHKA_EVIDENCE_TYPES)")
    return evidence.EvidenceFile(
        kind=kind,
        name=name,
        sha256=hashlib.sha256(content).hexdigest(),
        media_type=found.media_type,
        size=len(content),
        content=content,
    )


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".replace(".", ",") + "\u00a0МБ"


# --- deciding -----------------------------------------------------------------------------


def _lock_pending(conn: Connection, number: int) -> None:
    """Hold the reply's row for the decision; a concurrent decision is a conflict."""
    row = conn.execute(
        sa.select(INBOUND.c.submission).where(INBOUND.c.id == number).with_for_update()
    ).first()
    if row is None or row[0] != SubmissionState.PENDING.value:
        raise _decided_meanwhile(number)


def _decided_meanwhile(number: int) -> TochkaError:
    return TochkaError(
        f"Ответ №\u00a0{number} решён другим оператором, пока команда выполнялась: "
        "решение не меняется.",
        hint=f"Посмотрите решение: tochka replies show {number}.",
    )


def _decision_event(
    conn: Connection,
    roadmap: Roadmap,
    roadmap_id: int,
    item: Submission,
    state: SubmissionState,
    comment: str,
    *,
    actor: Actor,
    now: datetime,
) -> int:
    """Record the coordinator's decision on a pending reply in the audit chain (accepted or
    rejected, with its comment); returns the event's sequence number."""
    trigger = ACCEPT_TRIGGER if state is SubmissionState.ACCEPTED else REJECT_TRIGGER
    return audit.append(
        conn,
        roadmap_id,
        [
            audit.NewEvent(
                entity_kind=REPLY_KIND,
                entity_id=item.id,
                entity_key=item.from_addr[:96],
                trigger=trigger,
                from_state=SubmissionState.PENDING.value,
                to_state=state.value,
                actor=actor.login,
                on_behalf_of=actor.on_behalf_of,
                recorded_at=system_clock(),
                effective_date=local_date(now, roadmap.timezone),
                comment=comment,
            )
        ],
    )


def _mark(conn: Connection, number: int, state: SubmissionState) -> None:
    updated = conn.execute(
        INBOUND.update()
        .where(INBOUND.c.id == number, INBOUND.c.submission == SubmissionState.PENDING.value)
        .values(submission=state.value)
    ).rowcount
    if updated != 1:
        raise _decided_meanwhile(number)


def _sender(item: Submission, deadline: DeadlineState | None) -> Recipient:
    name = ""
    if deadline is not None and deadline.deadline.center_name:
        name = deadline.deadline.center_name
    return Recipient(email=item.from_addr, name=name)


def accept(
    engine: Engine,
    roadmap: Roadmap,
    roadmap_id: int,
    item: Submission,
    chosen: DeadlineState | None,
    files: Sequence[evidence.EvidenceFile],
    *,
    actor: Actor,
    now: datetime,
    texts: Mapping[str, str] | None = None,
    evidence_store: Any,
    notice_hook: NoticeHook | None = None,
) -> Accepted | FormAccepted:
    """Accept the reply ``item``: one transaction.

    A reply that brings a monitoring form back: its values recorded, the school
    answered and the decision recorded (`FormAccepted`; ``chosen`` and ``files`` are
    not used). Any other: the deadline's transition fired with the reply's files, the
    decision recorded, the submission marked accepted and the sender's letter queued.

    Raises:
        AccessDenied: the actor may not fire the deadline's trigger, or may not record
            the form's center's values (recorded, raised).
        InputError: not a returned form and no deadline ``chosen``.
        TriggerNotAllowed, GuardRefused, Conflict, EffectiveDateBeforeLast: as the
            engine's fire (nothing written).
    """
    transitions = TransitionEngine(
        engine, roadmap, roadmap_id, notice_hook=notice_hook, evidence_store=evidence_store
    )
    comment = f"по ответу №\u00a0{item.id} от {item.from_addr}"
    with (
        access.refusals_recorded(
            engine, roadmap_id, timezone=roadmap.timezone, actor=actor, now=now, clock=system_clock
        ),
        db.write(engine) as conn,
    ):
        _lock_pending(conn, item.id)
        form = _accept_form_in(conn, roadmap, roadmap_id, item, actor=actor, now=now)
        if form is not None:
            return form
        if chosen is None:
            raise InputError(
                f"Ответ №\u00a0{item.id}: не указан срок, к которому он относится.",
                hint="Сроки ответа — в «tochka replies show».",
            )
        deadline = chosen.deadline
        results: list[TransitionResult] = []
        if deadline.kind == "center":
            assert deadline.center_code is not None
            results.append(
                transitions.fire_center_in(
                    conn,
                    deadline.center_code,
                    deadline.trigger,
                    actor=actor,
                    now=now,
                    evidence=texts or None,
                    comment=comment,
                    files=files,
                )
            )  # the engine's notice hook has told the school of the stage
        else:
            assert deadline.cycle_id is not None
            if chosen.state == CycleState.SCHEDULED.value:
                results.append(
                    transitions.fire_cycle_in(
                        conn,
                        deadline.cycle_id,
                        CycleTrigger.START.value,
                        actor=actor,
                        now=now,
                        comment=comment,
                    )
                )
            results.append(
                transitions.fire_cycle_in(
                    conn,
                    deadline.cycle_id,
                    deadline.trigger,
                    actor=actor,
                    now=now,
                    evidence=texts or None,
                    comment=comment,
                    files=files,
                )
            )
        last = results[-1]
        seq = _decision_event(
            conn,
            roadmap,
            roadmap_id,
            item,
            SubmissionState.ACCEPTED,
            f"{deadline.title}: событие №\u00a0{last.seq}",
            actor=actor,
            now=now,
        )
        _mark(conn, item.id, SubmissionState.ACCEPTED)
        queue_decision(
            conn,
            Decision(
                key=f"reply:{item.id}:accepted",
                recipient=_sender(item, chosen),
                reply_to=roadmap.party(roadmap.coordinator).email,
                signature=roadmap.signature,
                reply_number=item.id,
                reply_subject=item.subject,
                deadline=deadline.title,
                accepted=True,
                done=_done_text(deadline, last),
                files=tuple(f"«{f.name}», SHA-256 {f.sha256}" for f in files),
            ),
            now=now,
        )
    return Accepted(
        submission=item.id,
        deadline=deadline,
        results=tuple(results),
        files=tuple(files),
        decision_seq=seq,
    )


def _accept_form_in(
    conn: Connection,
    roadmap: Roadmap,
    roadmap_id: int,
    item: Submission,
    *,
    actor: Actor,
    now: datetime,
) -> FormAccepted | None:
    """The decision on a returned monitoring form, in the caller's transaction (None:
    the reply brings no form back).

    Who may accept it: whoever may record that center's indicator values (the role,
    then the center's scope), checked before the form is read, so that a refusal
    answers nobody. The school's answer is `accept_form`'s: no decision letter besides.
    """
    form = kept_form(conn, item.id)
    if form is None:
        return None
    target = f"Ответ №\u00a0{item.id} (форма мониторинга центра {form.center_code})"
    center = conn.execute(
        sa.select(CENTER.c.code, CENTER.c.municipality).where(
            CENTER.c.roadmap_id == roadmap_id, CENTER.c.code == form.center_code
        )
    ).first()
    access.authorize_action(
        conn,
        roadmap_id,
        actor,
        access.Action.SUBMIT_INDICATORS,
        target=target,
        centers=[(center.code, center.municipality)] if center is not None else [],
    )
    result = accept_form(conn, item.id, now=now, actor=actor)
    if result is None:  # `kept_form` said it brings a form back: the same reading
        return None
    what = f"форма мониторинга центра {form.center_code} за {form.period_title}"
    if result.errors:
        state = SubmissionState.REJECTED
        listed = "; ".join(result.errors)
        note = f"{what} не прошла проверку при принятии, значения не записаны: {listed}"
        note = note if len(note) <= MAX_REASON else note[: MAX_REASON - 1] + "…"
    else:
        state = SubmissionState.ACCEPTED
        note = f"{what}: записано значений {result.recorded}"
    seq = _decision_event(conn, roadmap, roadmap_id, item, state, note, actor=actor, now=now)
    # `accept_form` has taken the message off the pending list; the decision is kept.
    conn.execute(INBOUND.update().where(INBOUND.c.id == item.id).values(submission=state.value))
    return FormAccepted(
        submission=item.id,
        center_code=form.center_code,
        center_name=form.center_name,
        period_title=form.period_title,
        result=result,
        decision_seq=seq,
    )


def _done_text(deadline: Deadline, result: TransitionResult) -> str:
    if deadline.kind == "center":
        stage = STATE_TITLES[CenterState(result.to_state)]
        return f"Этап отмечен: центр {deadline.center_code} — «{stage}»."
    what = cycle_label(deadline.cycle_id or 0, deadline.measure, deadline.period)
    return f"Мероприятие отмечено выполненным: {what}."


def reject(
    engine: Engine,
    roadmap: Roadmap,
    roadmap_id: int,
    item: Submission,
    chosen: Sequence[DeadlineState],
    reason: str,
    *,
    actor: Actor,
    now: datetime,
) -> int:
    """Record the rejection with its reason, mark the submission rejected and queue the
    sender's letter with the reason: one transaction. Returns the decision's event.

    ``chosen``: the deadlines the reply may be for (the actor must be allowed to close
    each of them; none: the coordinator alone decides).

    Raises:
        InputError: an empty or overlong reason.
        AccessDenied: the actor may not decide (recorded, raised).
    """
    text = " ".join(reason.split())
    if not text:
        raise InputError(
            "--reason: укажите причину отказа — её получит отправитель.",
            hint="Например: --reason «нет подписи руководителя на акте».",
        )
    if len(text) > MAX_REASON:
        raise InputError(f"--reason: причина длиннее {MAX_REASON} символов ({len(text)}).")
    with (
        access.refusals_recorded(
            engine, roadmap_id, timezone=roadmap.timezone, actor=actor, now=now, clock=system_clock
        ),
        db.write(engine) as conn,
    ):
        _lock_pending(conn, item.id)
        _authorize_reject(conn, roadmap, roadmap_id, actor, item, chosen)
        seq = _decision_event(
            conn, roadmap, roadmap_id, item, SubmissionState.REJECTED, text, actor=actor, now=now
        )
        _mark(conn, item.id, SubmissionState.REJECTED)
        titles = "; ".join(s.deadline.title for s in chosen)
        queue_decision(
            conn,
            Decision(
                key=f"reply:{item.id}:rejected",
                recipient=_sender(item, chosen[0] if len(chosen) == 1 else None),
                reply_to=roadmap.party(roadmap.coordinator).email,
                signature=roadmap.signature,
                reply_number=item.id,
                reply_subject=item.subject,
                deadline=titles,
                accepted=False,
                reason=text,
            ),
            now=now,
        )
    return seq


def _authorize_reject(
    conn: Connection,
    roadmap: Roadmap,
    roadmap_id: int,
    actor: Actor,
    item: Submission,
    chosen: Sequence[DeadlineState],
) -> None:
    target = f"Ответ №\u00a0{item.id}"
    who = access.require_user(
        conn, roadmap_id, actor.login, action=access.Action.FIRE, target=target
    )
    if actor.on_behalf_of is not None:
        who = access.check_on_behalf(conn, roadmap_id, who, actor.on_behalf_of, target)
    if not chosen:
        access.check_action(who, access.Action.FIRE, target=target)
        return
    for state in chosen:
        d = state.deadline
        access.check_fire(
            who,
            roadmap.permissions,
            machine="center" if d.kind == "center" else "cycle",
            trigger=d.trigger,
            target=f"{target} ({d.title})",
            center=(d.center_code or "", state.municipality) if d.kind == "center" else None,
        )
