"""Moved deadlines: a roadmap amendment's moves, one cycle or one center's stage
rescheduled by an order.

A moved due date is one versioned update of the cycle, one audit event (``revise`` for an
amendment, ``reschedule`` for an order; the chain's replay counts it as the cycle's next
version) and a
``deadline_revision`` row keeping the original date, the revised one, the reason and the
authorising document. The ladder starts again from the revised date: the rungs sent for
the old date are forgotten, so the next reminder is the one due by the new date. The
cycle's state is unchanged, except that an overdue cycle moved to a term that has not
ended is open again (`_reopened`: the Machine's internal ``reschedule``), and the next
tick marks it overdue again only once the new term has passed.

An order's move may carry the order itself as files (``--evidence-file KIND=PATH`` of
``cycles reschedule`` and ``centers reschedule``): read and judged before anything is
written (`workflow.engine.evidence.read_file`), recorded in the move's event beside the
texts (so the audit chain's hash covers them, and ``audit verify`` re-hashes them) and
stored by SHA-256 in the move's transaction, after every check has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, system_clock
from states.center import LIFECYCLE, CenterState
from states.center import STATE_TITLES as CENTER_TITLES
from states.cycle import RESCHEDULE as CYCLE_RESCHEDULE
from states.cycle import CycleState
from states.machine import CYCLE_WORKFLOW, StateHolder
from workflow.engine import audit, dates
from workflow.engine import evidence as evidence_files
from workflow.engine.access import Action, as_actor, authorize_action, refusals_recorded
from workflow.engine.audit import NewEvent
from workflow.engine.stage_revisions import center_deadlines
from workflow.errors import Conflict, InputError, NotFound
from workflow.roadmap.amendment import CLOSED_STATES, Move
from workflow.roadmap.closing import closes_on
from workflow.roadmap.definition import AmendingDecree, Roadmap
from workflow.roadmap.store import StoredRoadmap, current_version
from workflow.roadmap.workdays import term_end
from workflow.storage.tables import CENTER, CYCLE, EVENT, REVISION, SENT, STAGE_REVISION

if TYPE_CHECKING:
    from workflow.engine.access import Actor
    from workflow.engine.evidence import EvidenceFile
    from workflow.engine.evidence_store import EvidenceStore

REVISE_TRIGGER = "revise"
RESCHEDULE_TRIGGER = "reschedule"


def _d(day: date) -> str:
    return f"{day:%d.%m.%Y}"


def window(roadmap: Roadmap) -> tuple[date, date]:
    """The dates a deadline may be moved to: the program's start to the roadmap's close day.

    A deadline after `closing.closes_on` would never be reminded: the closed roadmap sends
    nothing.
    """
    return roadmap.period_start, closes_on(roadmap)


def _check_window(roadmap: Roadmap, due: date) -> None:
    """Refuse a new due date outside `window` (the CLI's --due), naming the window."""
    first, last = window(roadmap)
    if first <= due <= last:
        return
    raise InputError(
        f"--due: срок {_d(due)} вне допустимых дат переноса: не раньше начала программы "
        f"{_d(first)} и не позже дня закрытия программы {_d(last)}.",
        hint="Если программа продлена, сначала загрузите её новую версию "
        "(tochka roadmap diff ФАЙЛ, затем tochka roadmap load ФАЙЛ).",
    )


def _reopened(
    conn: Connection, roadmap_id: int, cycle_id: int, state: str, revised: date, effective: date
) -> str:
    """The cycle's state after its deadline moves to ``revised``.

    An overdue cycle whose new term (its legal end, Civil Code art. 193) has not ended on
    the move's effective date is open again: the Machine's internal ``reschedule`` returns
    it to the state it was marked overdue from. Any other cycle keeps its state.
    """
    if state != CycleState.OVERDUE.value or term_end(revised) < effective:
        return state
    previous = conn.execute(
        sa.select(EVENT.c.from_state)
        .where(
            EVENT.c.roadmap_id == roadmap_id,
            EVENT.c.entity_kind == "cycle",
            EVENT.c.entity_id == cycle_id,
            EVENT.c.to_state == CycleState.OVERDUE.value,
            EVENT.c.from_state != CycleState.OVERDUE.value,
        )
        .order_by(EVENT.c.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    holder = StateHolder(state=state, previous_state=previous or CycleState.SCHEDULED.value)
    return CYCLE_WORKFLOW.fire(
        holder, CYCLE_RESCHEDULE, entity=f"Цикл мероприятия № {cycle_id}", internal=True
    )


def _move(
    conn: Connection,
    roadmap_id: int,
    cycle_id: int,
    revised: date,
    *,
    trigger: str,
    reason: str,
    documents: Mapping[str, str] | None,
    version_id: int | None,
    actor: str,
    on_behalf_of: str | None,
    recorded_at: datetime,
    effective: date,
    files: Sequence[EvidenceFile] = (),
    store: EvidenceStore | None = None,
) -> int:
    recorded = evidence_files.event_evidence(documents, files)
    row = conn.execute(
        sa.select(CYCLE.c.measure, CYCLE.c.period, CYCLE.c.due_date, CYCLE.c.state)
        .where(CYCLE.c.roadmap_id == roadmap_id, CYCLE.c.id == cycle_id)
        .with_for_update()
    ).one()
    state = _reopened(conn, roadmap_id, cycle_id, str(row.state), revised, effective)
    conn.execute(
        sa.update(CYCLE)
        .where(CYCLE.c.id == cycle_id)
        .values(due_date=revised, state=state, version=CYCLE.c.version + 1, updated_at=recorded_at)
    )
    # The ladder of the old date is over: the next reminder is the new date's.
    conn.execute(
        sa.delete(SENT).where(
            SENT.c.roadmap_id == roadmap_id, SENT.c.kind == "cycle", SENT.c.entity_id == cycle_id
        )
    )
    seq = audit.append(
        conn,
        roadmap_id,
        [
            NewEvent(
                entity_kind="cycle",
                entity_id=cycle_id,
                entity_key=f"{row.measure}/{row.period}",
                trigger=trigger,
                from_state=str(row.state),
                to_state=state,
                actor=actor,
                on_behalf_of=on_behalf_of,
                recorded_at=recorded_at,
                effective_date=effective,
                evidence=recorded,
                comment=f"срок перенесён с {_d(row.due_date)} на {_d(revised)}: {reason}",
            )
        ],
    )
    _store(conn, files, store)
    document = _document(recorded)
    conn.execute(
        sa.insert(REVISION).values(
            roadmap_id=roadmap_id,
            cycle_id=cycle_id,
            original_due=row.due_date,
            revised_due=revised,
            reason=reason,
            document=document,
            version_id=version_id,
            event_seq=seq,
            actor=actor,
            recorded_at=recorded_at,
        )
    )
    return seq


def _document(recorded: Mapping[str, object] | None) -> str | None:
    """The revision row's document: the texts of the event's evidence (a file given
    alone is named «файл «prikaz.pdf»»)."""
    texts = evidence_files.texts(recorded)
    return "; ".join(texts.values()) if texts else None


def _store(conn: Connection, files: Sequence[EvidenceFile], store: EvidenceStore | None) -> None:
    """Store the move's files, last in its transaction (every check has passed)."""
    if not files:
        return
    if store is None:
        raise ValueError("evidence files need an evidence store")
    store.put(conn, files)


def apply_moves(
    conn: Connection,
    roadmap_id: int,
    moves: Sequence[Move],
    *,
    decree: AmendingDecree | None,
    actor: str,
    on_behalf_of: str | None,
    recorded_at: datetime,
    effective: date,
) -> list[int]:
    """Move the cycles a new roadmap version moves, inside the loading transaction.

    Returns:
        The sequence numbers of the revision events.
    """
    version_id = current_version(conn, roadmap_id)
    return [
        _move(
            conn,
            roadmap_id,
            m.cycle_id,
            m.revised,
            trigger=REVISE_TRIGGER,
            reason="изменение дорожной карты"
            if decree
            else "изменение дорожной карты (новая версия дорожной карты)",
            documents={"amended_by": decree.text} if decree else None,
            version_id=version_id,
            actor=actor,
            on_behalf_of=on_behalf_of,
            recorded_at=recorded_at,
            effective=effective,
        )
        for m in moves
    ]


def _reason(reason: str | None) -> str:
    """The reason of a move by an order, stripped; refused when there is none."""
    text = (reason or "").strip()
    if not text:
        raise InputError(
            "Перенос срока не выполнен: не указана причина (--reason).",
            hint="Укажите основание переноса, например --reason «письмо Минпросвещения "
            "России от 10.03.2023 № 04-123».",
        )
    return text


def reschedule_cycle(
    engine: Engine,
    roadmap: StoredRoadmap,
    cycle_id: int,
    *,
    due: date,
    reason: str | None,
    documents: Mapping[str, str],
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
    files: Sequence[EvidenceFile] = (),
    evidence_store: EvidenceStore | None = None,
) -> tuple[date, date]:
    """Move one cycle's due date by an order: ``tochka cycles reschedule``.

    ``files``: the order's documents (read and judged by the caller), recorded in the
    move's event and stored in ``evidence_store`` in its transaction.

    Returns:
        The original and the revised due date.

    Raises:
        InputError: no reason; the cycle is done or cancelled; ``due`` is its due date
            already or lies outside the program's window (nothing changed).
        NotFound: no such cycle. AccessDenied: not a coordinator (recorded).
    """
    from workflow.engine.cycles import get_cycle

    definition = roadmap.definition
    text = _reason(reason)
    _check_window(definition, due)
    by = as_actor(actor)
    with db.read(engine) as conn:
        cycle = get_cycle(conn, roadmap.id, cycle_id)
    label = f"цикл № {cycle.id} (мероприятие {cycle.measure}, {cycle.period})"
    if cycle.state in CLOSED_STATES:
        word = "выполнен" if cycle.state == "done" else "отменён"
        raise InputError(
            f"Перенос срока не выполнен: {label} уже {word}, его срок не переносится.",
            hint="Переносят сроки открытых циклов: tochka cycles list --state scheduled.",
        )
    if cycle.due_date == due:
        raise InputError(
            f"Перенос срока не выполнен: срок {label} уже {_d(due)}.",
            hint="Укажите новый срок в --due.",
        )
    with (
        refusals_recorded(
            engine, roadmap.id, timezone=definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        authorize_action(conn, roadmap.id, by, Action.RESCHEDULE, target=label)
        current = get_cycle(conn, roadmap.id, cycle_id)
        if current.version != cycle.version:
            raise Conflict(entity=label, expected=cycle.version, actual=current.version)
        effective = dates.plausible_effective(definition, now, real=clock())
        _move(
            conn,
            roadmap.id,
            cycle_id,
            due,
            trigger=RESCHEDULE_TRIGGER,
            reason=text,
            documents=dict(documents) or None,
            version_id=current_version(conn, roadmap.id),
            actor=by.login,
            on_behalf_of=by.on_behalf_of,
            recorded_at=clock(),
            effective=effective,
            files=files,
            store=evidence_store,
        )
    return cycle.due_date, due


def revisions_of(conn: Connection, roadmap_id: int, cycle_id: int) -> list[date]:
    """The due dates a cycle had before its revisions, oldest first."""
    return list(
        conn.execute(
            sa.select(REVISION.c.original_due)
            .where(REVISION.c.roadmap_id == roadmap_id, REVISION.c.cycle_id == cycle_id)
            .order_by(REVISION.c.id)
        ).scalars()
    )


STAGE_RESCHEDULE_TRIGGER = "reschedule"


def reschedule_stage(
    engine: Engine,
    roadmap: StoredRoadmap,
    code: str,
    stage: str,
    *,
    due: date,
    reason: str | None,
    documents: Mapping[str, str],
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
    files: Sequence[EvidenceFile] = (),
    evidence_store: EvidenceStore | None = None,
) -> tuple[date, date]:
    """Move one center's stage deadline by an order: ``tochka centers reschedule``.

    ``files``: the order's documents, as `reschedule_cycle`'s.

    The center leaves its cohort's deadline for that stage: a ``stage_revision`` row (the
    original and revised date, the reason, the document), one audit event on the center
    (``reschedule``, its state unchanged, its version up) and the stage's rungs sent for
    the old date forgotten, in one transaction.

    Returns:
        The original and the revised due date.

    Raises:
        InputError: no reason; ``stage`` has no deadline in the roadmap, or none set yet;
            the center is withdrawn or has reached the stage; ``due`` is the stage's due
            date already or lies outside the program's window (nothing changed).
        NotFound: no such center. AccessDenied: not a coordinator (recorded).
    """
    definition = roadmap.definition
    text = _reason(reason)
    if stage not in {s.value for s in LIFECYCLE}:
        raise InputError(
            f"Перенос срока не выполнен: «{stage}» — не этап центра.",
            hint="Этапы: " + ", ".join(f"{CENTER_TITLES[s]} ({s.value})" for s in LIFECYCLE) + ".",
        )
    stage_title = CENTER_TITLES[CenterState(stage)]
    _check_window(definition, due)
    by = as_actor(actor)
    order = [s.value for s in LIFECYCLE]
    label = f"центр {code}, этап «{stage_title}»"
    with (
        refusals_recorded(
            engine, roadmap.id, timezone=definition.timezone, actor=by, now=now, clock=clock
        ),
        db.write(engine) as conn,
    ):
        # The role first: a user who may not move deadlines learns nothing about centers.
        authorize_action(conn, roadmap.id, by, Action.RESCHEDULE, target=label)
        row = conn.execute(
            sa.select(CENTER.c.id, CENTER.c.state, CENTER.c.version, CENTER.c.cohort)
            .where(CENTER.c.roadmap_id == roadmap.id, CENTER.c.code == code)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(
                f"Центр с кодом «{code}» не найден.", hint="Список центров: tochka centers list."
            )
        if row.state == CenterState.WITHDRAWN.value:
            raise InputError(
                f"Перенос срока не выполнен: центр {code} исключён из программы, "
                "сроки его этапов не переносятся.",
                hint="Если центр возвращён в программу, сначала выполните переход revert.",
            )
        if order.index(str(row.state)) >= order.index(stage):
            now_title = CENTER_TITLES[CenterState(str(row.state))]
            raise InputError(
                f"Перенос срока не выполнен: центр {code} уже достиг этапа «{stage_title}» "
                f"(сейчас: «{now_title}»), его срок не переносится.",
                hint="Переносят сроки этапов, которых центр ещё не достиг: tochka centers "
                f"show {code}.",
            )
        dated = {
            d.stage: d
            for d in reversed(
                center_deadlines(conn, roadmap, center_id=int(row.id), cohort=int(row.cohort))
            )
        }
        current = dated.get(stage)
        if current is None:
            listed = ", ".join(
                f"{CENTER_TITLES[CenterState(s)]} ({s})" for s in order if s in dated
            )
            raise InputError(
                f"Перенос срока не выполнен: у этапа «{stage_title}» нет срока в дорожной "
                f"карте «{definition.code}».",
                hint=f"Этапы со сроками: {listed}.",
            )
        if current.due is None:
            raise InputError(
                f"Перенос срока не выполнен: срок этапа «{stage_title}» для центров "
                f"{row.cohort} года ещё не назначен (он по отдельному графику).",
                hint="Сначала задайте срок цикла мероприятия "
                f"№ {current.measure} (tochka cycles open).",
            )
        if current.due == due:
            raise InputError(
                f"Перенос срока не выполнен: срок ({label}) уже {_d(due)}.",
                hint="Укажите новый срок в --due.",
            )
        recorded_at = clock()
        effective = dates.plausible_effective(definition, now, real=recorded_at)
        dates.check_not_before_last(
            effective,
            dates.last_effective(conn, roadmap.id, "center", int(row.id)),
            entity=f"Центр {code}: перенос срока",
            what="этого центра",
        )
        conn.execute(
            sa.update(CENTER)
            .where(CENTER.c.id == row.id)
            .values(version=CENTER.c.version + 1, updated_at=recorded_at)
        )
        # The ladder of the old date is over: the next reminder is the new date's.
        conn.execute(
            sa.delete(SENT).where(
                SENT.c.roadmap_id == roadmap.id,
                SENT.c.kind == "center",
                SENT.c.entity_id == row.id,
                SENT.c.stage == stage,
            )
        )
        given = evidence_files.event_evidence(dict(documents) or None, files)
        seq = audit.append(
            conn,
            roadmap.id,
            [
                NewEvent(
                    entity_kind="center",
                    entity_id=int(row.id),
                    entity_key=code,
                    trigger=STAGE_RESCHEDULE_TRIGGER,
                    from_state=str(row.state),
                    to_state=str(row.state),
                    actor=by.login,
                    on_behalf_of=by.on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    evidence=given,
                    comment=f"срок этапа «{stage_title}» перенесён с {_d(current.due)} на "
                    f"{_d(due)}: {text}",
                )
            ],
        )
        conn.execute(
            sa.insert(STAGE_REVISION).values(
                roadmap_id=roadmap.id,
                center_id=int(row.id),
                stage=stage,
                original_due=current.due,
                revised_due=due,
                reason=text,
                document=_document(given),
                event_seq=seq,
                actor=by.login,
                recorded_at=recorded_at,
            )
        )
        _store(conn, files, evidence_store)
    return current.due, due
