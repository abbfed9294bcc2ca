"""The transition engine: one state change, one transaction.

In one write transaction a fire reads the entity (state, version, the actor's role, its
last event) and the audit chain's head in one statement that locks both, runs the pure
state machine, then writes: a versioned UPDATE (optimistic lock: a lost race updates no
row and raises `Conflict`), the audit event appended to the chain, and any outbox rows
from the notice hook — committed together or not at all. Four statements per fire, each
built once at import (Core, from SQLAlchemy's compiled cache).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import Clock, system_clock
from base.errors import TochkaError
from notifications.ics import period_text
from states import CENTER_WORKFLOW, CYCLE_WORKFLOW, StateHolder, Workflow
from states.center import CenterState
from workflow.engine import access, audit, dates
from workflow.engine import evidence as evidence_files
from workflow.engine.access import Actor
from workflow.engine.audit import NewEvent
from workflow.errors import Conflict, NotFound
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.items import cycle_measure
from workflow.storage.prepared import Prepared, Statement
from workflow.storage.tables import CENTER, CYCLE, HEAD, USER

if TYPE_CHECKING:
    from workflow.engine.evidence import EvidenceFile
    from workflow.engine.evidence_store import EvidenceStore


@dataclass(frozen=True, kw_only=True)
class TransitionResult:
    """A committed transition."""

    entity_kind: str
    entity_id: int
    entity_key: str
    trigger: str
    from_state: str
    to_state: str
    version: int
    seq: int
    effective_date: date
    actor: str
    comment: str | None


@dataclass(frozen=True, kw_only=True)
class CenterFire:
    """One center transition of many (`TransitionEngine.fire_centers_in`)."""

    code: str
    trigger: str
    evidence: Mapping[str, str] | None = None
    comment: str | None = None


@dataclass(kw_only=True)
class _Center:
    """A center as `_check_center` reads it, kept up to date through a batch of fires."""

    id: int
    code: str
    state: str
    version: int
    previous_state: str | None
    municipality: str
    actor_role: str | None
    actor_scope: list[str] | None
    last_effective: date | None
    event_count: int

    def moved(self, state: str, previous: str | None, effective: date) -> None:
        """As the fire's UPDATE and event leave the center."""
        self.state = state
        self.previous_state = previous
        self.version += 1
        self.event_count += 1
        self.last_effective = effective


#: Called inside the transition's transaction to queue outbox rows (no other I/O).
NoticeHook = Callable[[Connection, TransitionResult, datetime], None]


SYSTEM_ACTOR = Actor(login="tochka-daemon", system=True)


# The center, the actor's role, the center's last event and the chain head in one
# statement (the role check runs on every fire; the head is the one `audit.append`
# extends). FOR UPDATE OF center, audit_head on PostgreSQL (the center's row first, as
# every writer takes them); SQLite holds the write lock from BEGIN IMMEDIATE. A roadmap
# whose chain has no head yet reads no row here: `_CENTER_READ_HEADLESS` then.
def _center_read(*, with_head: bool, codes: int = 0) -> sa.Select[Any]:
    base = CENTER.outerjoin(
        USER,
        (USER.c.roadmap_id == CENTER.c.roadmap_id) & (USER.c.login == sa.bindparam("login")),
    )
    return (
        sa.select(
            CENTER.c.id,
            *((CENTER.c.code,) if codes else ()),
            CENTER.c.state,
            CENTER.c.version,
            CENTER.c.previous_state,
            CENTER.c.municipality,
            USER.c.role.label("actor_role"),
            USER.c.scope.label("actor_scope"),
            *dates.last_event_columns("center", CENTER.c.roadmap_id, CENTER.c.id),
            *((audit.HEAD_SEQ, audit.HEAD_HASH) if with_head else ()),
        )
        .select_from(audit.head_join(base, CENTER.c.roadmap_id) if with_head else base)
        .where(
            CENTER.c.roadmap_id == sa.bindparam("roadmap_id"),
            CENTER.c.code.in_([sa.bindparam(f"code_{n}") for n in range(codes)])
            if codes
            else CENTER.c.code == sa.bindparam("code"),
        )
        .with_for_update(of=[CENTER, HEAD] if with_head else CENTER)
    )


_CENTER_READ = _center_read(with_head=True)
_CENTER_READ_HEADLESS = _center_read(with_head=False)

# Many centers at once (`TransitionEngine.fire_centers_in`), locked in the order of their
# codes, before the chain head (`audit.append` locks it): two batches over the same
# centers, or a batch and a single fire, take the rows in one order and never deadlock.
# Codes per read: well under SQLite's and psycopg's limits of parameters per statement.
_CODES_PER_READ = 2048


def _centers_read(size: int) -> Prepared:
    """`_center_read` of ``size`` codes (a power of two: a read of fewer codes repeats
    its last one, so a dozen statements, each compiled once per process, serve every
    batch), in the order of their codes."""
    found = _CENTERS_READS.get(size)
    if found is None:
        statement = _center_read(with_head=False, codes=size).order_by(CENTER.c.code)
        found = _CENTERS_READS[size] = Prepared(statement)
    return found


_CENTERS_READS: dict[int, Prepared] = {}


def _center_update(previous: Any) -> sa.Update:
    return (
        sa.update(CENTER)
        .where(CENTER.c.id == sa.bindparam("b_id"), CENTER.c.version == sa.bindparam("b_version"))
        .values(
            state=sa.bindparam("b_state"),
            previous_state=previous,
            version=sa.bindparam("b_version") + 1,
            updated_at=sa.bindparam("b_now"),
        )
    )


_CENTER_UPDATE = _center_update(sa.bindparam("b_previous"))
# Every move but a withdrawal clears the previous state: NULL written in the SQL, as a
# bound None costs SQLite's driver a failed adapter lookup (an exception) on every row.
_CENTER_UPDATE_CLEARED = _center_update(sa.null())


def _center_update_of(previous: str | None) -> sa.Update:
    """The UPDATE of a center fire that leaves ``previous`` as its previous state."""
    return _CENTER_UPDATE_CLEARED if previous is None else _CENTER_UPDATE


def _cycle_read(*, with_head: bool) -> sa.Select[Any]:
    return (
        sa.select(
            CYCLE.c.id,
            CYCLE.c.state,
            CYCLE.c.version,
            CYCLE.c.measure,
            CYCLE.c.period,
            CYCLE.c.evidence,
            *dates.last_event_columns("cycle", CYCLE.c.roadmap_id, CYCLE.c.id),
            *((audit.HEAD_SEQ, audit.HEAD_HASH) if with_head else ()),
        )
        .select_from(audit.head_join(CYCLE, CYCLE.c.roadmap_id) if with_head else CYCLE)
        .where(CYCLE.c.roadmap_id == sa.bindparam("roadmap_id"), CYCLE.c.id == sa.bindparam("id"))
        .with_for_update(of=[CYCLE, HEAD] if with_head else CYCLE)
    )


# As for centers: the cycle and the chain head in one statement.
_CYCLE_READ = _cycle_read(with_head=True)
_CYCLE_READ_HEADLESS = _cycle_read(with_head=False)

_CYCLE_UPDATE = (
    sa.update(CYCLE)
    .where(CYCLE.c.id == sa.bindparam("b_id"), CYCLE.c.version == sa.bindparam("b_version"))
    .values(
        state=sa.bindparam("b_state"),
        evidence=sa.bindparam("b_evidence"),
        version=sa.bindparam("b_version") + 1,
        updated_at=sa.bindparam("b_now"),
    )
)


# Each hot statement compiled once per process and run on the driver's cursor on SQLite
# (`workflow.storage.prepared`), looked up by the statement a caller names.
_PREPARED: dict[int, Prepared] = {
    id(statement): Prepared(statement)
    for statement in (
        _CENTER_READ,
        _CENTER_READ_HEADLESS,
        _CENTER_UPDATE,
        _CENTER_UPDATE_CLEARED,
        _CYCLE_READ,
        _CYCLE_READ_HEADLESS,
        _CYCLE_UPDATE,
    )
}


def _prepared(statement: Statement) -> Prepared:
    found = _PREPARED.get(id(statement))
    return Prepared(statement) if found is None else found


def _unguarded(workflow: Workflow) -> frozenset[tuple[str, str]]:
    """The (state, trigger) pairs of ``workflow`` whose move depends on nothing else: a
    public trigger whose first transition out of the state has no guard (the library
    takes the first transition whose guards pass)."""
    seen: set[tuple[str, str]] = set()
    free: set[tuple[str, str]] = set()
    for edge in workflow.edges():
        key = (edge.source, edge.trigger)
        if key in seen:
            continue
        seen.add(key)
        if not edge.guards and edge.trigger not in workflow.spec.internal:
            free.add(key)
    return frozenset(free)


# A center's move on a pair of `_CENTER_UNGUARDED`, as the state machine decided it the
# first time (it cannot decide otherwise: no guard, no callback); every other fire, and a
# refusal, goes through the machine each time.
_CENTER_UNGUARDED = _unguarded(CENTER_WORKFLOW)
_CENTER_MOVES: dict[tuple[str, str], str] = {}


def cycle_label(cycle_id: int, measure: int, period: str) -> str:
    """A cycle as every message names it: «Цикл 23 (мероприятие 9, II квартал 2023 г.)»,
    its period as people read it, never the label «2023-Q2»."""
    return f"Цикл {cycle_id} (мероприятие {measure}, {period_text(period)})"


class TransitionEngine:
    """Fires triggers on centers and measure cycles of one roadmap.

    Args:
        engine: the database.
        roadmap: the roadmap definition; ``roadmap_id`` its row id.
        clock: the real time, recorded on each event (``now`` is the effective time).
        notice_hook: queues outbox rows in the transition's transaction.
        evidence_store: where the content of evidence files goes (``files`` of a fire).
    """

    def __init__(
        self,
        engine: Engine,
        roadmap: Roadmap,
        roadmap_id: int,
        *,
        clock: Clock = system_clock,
        notice_hook: NoticeHook | None = None,
        evidence_store: EvidenceStore | None = None,
    ) -> None:
        self.engine = engine
        self.roadmap = roadmap
        self.roadmap_id = roadmap_id
        self.clock = clock
        self.notice_hook = notice_hook
        self.evidence_store = evidence_store
        # The principals built from the roles and scopes the fires read (`_principal`).
        self._principals: dict[tuple[str, str, tuple[str, ...]], access.Principal] = {}

    def _principal(self, login: str, row: Any) -> access.Principal:
        """The user ``login`` as the role and scope read with the entity (``row``) make
        it: one object for each such value (a frozen one, so shared safely), since every
        row of a batch reads the same user and building it was a tenth of a row's check.
        A role or scope changed since is read as another value, another principal; the
        values are a roadmap's users', so they stay few."""
        scope = tuple(row.actor_scope or ())
        key = (login, row.actor_role, scope)
        found = self._principals.get(key)
        if found is None:
            found = self._principals[key] = access.Principal(
                login=login, role=access.Role(row.actor_role), scope=scope
            )
        return found

    def fire_center(
        self,
        code: str,
        trigger: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Mapping[str, str] | None = None,
        comment: str | None = None,
        expected_version: int | None = None,
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        """Fire ``trigger`` on the center ``code``.

        ``files``: evidence documents, recorded in the event and stored in
        ``evidence_store`` in the same transaction (`workflow.engine.evidence`).

        Raises:
            NotFound: no such center in this roadmap.
            AccessDenied: the actor's role or scope does not allow it (the refusal is
                recorded in the audit trail).
            TriggerNotAllowed, GuardRefused: the state machine refused (nothing changed).
            Conflict: the center changed since it was read (or since ``expected_version``).
            EffectiveDateImplausible: ``now`` is taken for a typo (before 2000, or more
                than a year past the program's end).
            EffectiveDateBeforeLast: ``now`` is earlier than the center's last event.
        """
        effective = dates.plausible_effective(self.roadmap, now, real=self.clock())
        return self._fire_center_alone(
            code,
            trigger,
            actor=actor,
            now=now,
            effective=effective,
            evidence=evidence,
            comment=comment,
            expected_version=expected_version,
            files=files,
        )

    def fire_centers(
        self, fires: Sequence[CenterFire], *, actor: Actor, now: datetime
    ) -> list[TransitionResult | TochkaError]:
        """Many `fire_center`s, in order, each in its own transaction: a fire refused is
        returned in its place (a refusal of rights recorded, as `fire_center` records
        it) and the next goes on. The effective date of ``now`` is found once, with one
        reading of the clock for its plausibility (a refusal is every fire's)."""
        try:
            effective = dates.plausible_effective(self.roadmap, now, real=self.clock())
        except TochkaError as exc:
            return [exc for _ in fires]
        outcomes: list[TransitionResult | TochkaError] = []
        for fire in fires:
            try:
                outcomes.append(
                    self._fire_center_alone(
                        fire.code,
                        fire.trigger,
                        actor=actor,
                        now=now,
                        effective=effective,
                        evidence=fire.evidence,
                        comment=fire.comment,
                        expected_version=None,
                    )
                )
            except TochkaError as exc:  # a failure to record the refusal too, as alone
                outcomes.append(exc)
        return outcomes

    def _fire_center_alone(
        self,
        code: str,
        trigger: str,
        *,
        actor: Actor,
        now: datetime,
        effective: date,
        evidence: Mapping[str, str] | None,
        comment: str | None,
        expected_version: int | None,
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        """`_fire_center_in` in a write transaction of its own; a refusal of rights is
        recorded (in a transaction of its own) and raised, as `refusals_recorded` does,
        by a plain ``except``: a file's rows enter it once each."""
        try:
            with db.write(self.engine) as conn:
                return self._fire_center_in(
                    conn,
                    code,
                    trigger,
                    actor=actor,
                    now=now,
                    effective=effective,
                    evidence=evidence,
                    comment=comment,
                    expected_version=expected_version,
                    files=files,
                )
        except access.AccessDenied as denied:
            access.record_refused(
                self.engine,
                self.roadmap_id,
                denied,
                timezone=self.roadmap.timezone,
                actor=actor,
                now=now,
                clock=self.clock,
            )
            raise

    def fire_center_in(
        self,
        conn: Connection,
        code: str,
        trigger: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Mapping[str, str] | None = None,
        comment: str | None = None,
        floor_ignores: Collection[str] = (),
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        """`fire_center` inside the caller's write transaction (an all-or-nothing import
        of many transitions, `workflow.engine.adoption`; a reply accepted together with
        its decision, `workflow.inbound.submissions`); a refusal is raised, not
        recorded: the caller's transaction rolls back as a whole.

        ``floor_ignores``: triggers whose events do not bound the effective date from
        below (adoption: a center known only from its import may get history dated
        before the import, `workflow.engine.adoption`)."""
        effective = dates.plausible_effective(self.roadmap, now, real=self.clock())
        return self._fire_center_in(
            conn,
            code,
            trigger,
            actor=actor,
            now=now,
            effective=effective,
            evidence=evidence,
            comment=comment,
            expected_version=None,
            floor_ignores=floor_ignores,
            files=files,
        )

    def fire_centers_in(
        self,
        conn: Connection,
        fires: Sequence[CenterFire],
        *,
        actor: Actor,
        now: datetime,
    ) -> list[TransitionResult | TochkaError]:
        """Many `fire_center_in`s inside the caller's write transaction, in order: each
        fire is checked as `fire_center_in` checks it, against the center as the earlier
        fires left it; a refusal is returned in its fire's place, not raised.

        When every fire passes, all are written at once, exactly as one by one: one
        versioned UPDATE per fire (executemany), their audit events appended in order in
        one INSERT, then the notice hook of each. When one is refused, nothing is
        written (the caller's transaction is to roll back): the others' results say
        what they would have done. The centers are read in one statement per
        `_CODES_PER_READ` codes, locked in the order of their codes, then the chain head
        (its ``seq`` numbers the results). The clock is read once: the events, committed
        together, record one moment.
        """
        try:
            effective = dates.plausible_effective(self.roadmap, now, real=self.clock())
        except TochkaError as exc:
            return [exc for _ in fires]
        centers = self._read_centers(conn, {f.code for f in fires}, actor.login)
        head = audit.lock_head(conn, self.roadmap_id)
        # One reading of the clock for the batch: its events commit in one transaction,
        # at one moment, as one fire's do (and one object, whose bound value and
        # canonical text are built once, `base.columns`, `audit._moment`).
        recorded_at = self.clock()
        seq = 0 if head is None else head[0]
        outcomes: list[TransitionResult | TochkaError] = []
        updates: list[dict[str, Any]] = []
        events: list[NewEvent] = []
        for fire in fires:
            center = centers.get(fire.code)
            try:
                new_state, previous = self._check_center(
                    conn,
                    center,
                    fire.code,
                    fire.trigger,
                    actor=actor,
                    effective=effective,
                    comment=fire.comment,
                    expected_version=None,
                )
            except TochkaError as exc:
                outcomes.append(exc)
                continue
            assert center is not None  # _check_center raised NotFound otherwise
            seq += 1
            updates.append(
                {
                    "b_id": center.id,
                    "b_version": center.version,
                    "b_state": new_state,
                    "b_previous": previous,
                    "b_now": recorded_at,
                }
            )
            events.append(
                NewEvent(
                    entity_kind="center",
                    entity_id=center.id,
                    entity_key=fire.code,
                    trigger=fire.trigger,
                    from_state=center.state,
                    to_state=new_state,
                    actor=actor.login,
                    on_behalf_of=actor.on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    evidence=evidence_files.event_evidence(fire.evidence, ()),
                    comment=fire.comment,
                )
            )
            outcomes.append(
                TransitionResult(
                    entity_kind="center",
                    entity_id=center.id,
                    entity_key=fire.code,
                    trigger=fire.trigger,
                    from_state=center.state,
                    to_state=new_state,
                    version=center.version + 1,
                    seq=seq,
                    effective_date=effective,
                    actor=actor.login,
                    comment=fire.comment,
                )
            )
            center.moved(new_state, previous, effective)
        if not events or len(events) < len(outcomes):
            return outcomes  # nothing to write, or a refusal: nothing is written
        # A run of rows of one statement at a time, in the rows' order (a center's second
        # row updates the version its first left).
        updated = 0
        for statement, run in groupby(updates, lambda u: _center_update_of(u["b_previous"])):
            updated += _prepared(statement).run(conn, list(run))
        sane = conn.dialect.supports_sane_multi_rowcount
        if sane and updated != len(updates):  # pragma: no cover - locked since the read
            raise RuntimeError(f"{len(updates)} center updates changed {updated} rows")
        audit.append(conn, self.roadmap_id, events, head=head)
        if self.notice_hook is not None:
            for index, outcome in enumerate(outcomes):
                assert isinstance(outcome, TransitionResult)
                try:
                    self.notice_hook(conn, outcome, now)
                except TochkaError as exc:
                    outcomes[index] = exc
        return outcomes

    def _read_centers(
        self, conn: Connection, codes: Collection[str], login: str
    ) -> dict[str, _Center]:
        """The centers of ``codes`` that exist, as `_check_center` reads them, locked
        (`_centers_read`)."""
        found: dict[str, _Center] = {}
        ordered = sorted(codes)
        for start in range(0, len(ordered), _CODES_PER_READ):
            chunk = ordered[start : start + _CODES_PER_READ]
            size = 1 << (len(chunk) - 1).bit_length()
            params: dict[str, object] = {"roadmap_id": self.roadmap_id, "login": login}
            params.update((f"code_{n}", chunk[min(n, len(chunk) - 1)]) for n in range(size))
            for row in _centers_read(size).rows(conn, params):
                found[row.code] = _Center(
                    id=row.id,
                    code=row.code,
                    state=row.state,
                    version=row.version,
                    previous_state=row.previous_state,
                    municipality=row.municipality,
                    actor_role=row.actor_role,
                    actor_scope=row.actor_scope,
                    last_effective=row.last_effective,
                    event_count=row.event_count,
                )
        return found

    def fire_cycle_in(
        self,
        conn: Connection,
        cycle_id: int,
        trigger: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Mapping[str, str] | None = None,
        comment: str | None = None,
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        """`fire_cycle` inside the caller's write transaction, as `fire_center_in`."""
        effective = dates.plausible_effective(self.roadmap, now, real=self.clock())
        row, head = self._read(conn, _CYCLE_READ, _CYCLE_READ_HEADLESS, {"id": cycle_id})
        return self._fire_cycle_row(
            conn,
            row,
            head,
            cycle_id,
            trigger,
            actor=actor,
            now=now,
            effective=effective,
            evidence=evidence,
            comment=comment,
            expected_version=None,
            files=files,
        )

    def _fire_center_in(
        self,
        conn: Connection,
        code: str,
        trigger: str,
        *,
        actor: Actor,
        now: datetime,
        effective: date,
        evidence: Mapping[str, str] | None,
        comment: str | None,
        expected_version: int | None,
        floor_ignores: Collection[str] = (),
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        row, head = self._read(
            conn, _CENTER_READ, _CENTER_READ_HEADLESS, {"code": code, "login": actor.login}
        )
        new_state, previous = self._check_center(
            conn,
            row,
            code,
            trigger,
            actor=actor,
            effective=effective,
            comment=comment,
            expected_version=expected_version,
            floor_ignores=floor_ignores,
        )
        params = {
            "b_id": row.id,
            "b_version": row.version,
            "b_state": new_state,
            "b_previous": previous,
        }
        return self._apply(
            conn,
            _center_update_of(previous),
            params,
            head=head,
            kind="center",
            entity_id=row.id,
            key=code,
            label=f"Центр {code}",
            trigger=trigger,
            from_state=row.state,
            to_state=new_state,
            version=row.version,
            actor=actor,
            now=now,
            effective=effective,
            evidence=evidence,
            comment=comment,
            files=files,
        )

    def _check_center(
        self,
        conn: Connection,
        row: Any,
        code: str,
        trigger: str,
        *,
        actor: Actor,
        effective: date,
        comment: str | None,
        expected_version: int | None,
        floor_ignores: Collection[str] = (),
    ) -> tuple[str, str | None]:
        """Every check of a center fire, in order, on the center as ``row`` has it (read
        with `_center_read`, or as the earlier fires of a batch left it): the state it
        moves to, and the state a withdrawal comes from (None for any other move).

        Raises:
            NotFound, AccessDenied, Conflict, EffectiveDateBeforeLast, TriggerNotAllowed,
            GuardRefused: as `fire_center` says.
        """
        if row is None:
            raise NotFound(
                f"Центр с кодом «{code}» не найден в дорожной карте «{self.roadmap.code}».",
                hint="Список центров: tochka centers list.",
            )
        label = f"Центр {code}"
        known = None if row.actor_role is None else self._principal(actor.login, row)
        self._authorize(
            conn,
            actor,
            "center",
            trigger,
            target=label,
            center=(code, row.municipality),
            known=known,
        )
        self._check_expected(label, expected_version, row.version)
        last = (
            dates.last_effective(conn, self.roadmap_id, "center", row.id, excluding=floor_ignores)
            if floor_ignores
            else dates.last_of_row(conn, self.roadmap_id, "center", row)
        )
        dates.check_not_before_last(effective, last, entity=label, act=trigger, what="этого центра")
        new_state = _CENTER_MOVES.get((row.state, trigger))
        if new_state is None:
            holder = StateHolder(state=row.state, reason=comment, previous_state=row.previous_state)
            new_state = CENTER_WORKFLOW.fire(holder, trigger, entity=label)
            if (row.state, trigger) in _CENTER_UNGUARDED:
                _CENTER_MOVES[(row.state, trigger)] = new_state
        # Remember where a withdrawal came from, so that ``revert`` can go back there.
        return new_state, (row.state if new_state == CenterState.WITHDRAWN else None)

    def fire_cycle(
        self,
        cycle_id: int,
        trigger: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Mapping[str, str] | None = None,
        comment: str | None = None,
        expected_version: int | None = None,
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        """Fire ``trigger`` on the measure cycle ``cycle_id``.

        ``complete`` needs evidence of every kind the measure's result names (a kind
        given as a file in ``files`` counts, as for `fire_center`).

        Raises:
            NotFound, TriggerNotAllowed, GuardRefused, Conflict: as for `fire_center`.
            EffectiveDateImplausible, EffectiveDateBeforeLast: as for `fire_center`
                (the cycle's last event).
        """
        effective = dates.plausible_effective(self.roadmap, now, real=self.clock())
        with self._refusals_recorded(actor, now), db.write(self.engine) as conn:
            row, head = self._read(conn, _CYCLE_READ, _CYCLE_READ_HEADLESS, {"id": cycle_id})
            return self._fire_cycle_row(
                conn,
                row,
                head,
                cycle_id,
                trigger,
                actor=actor,
                now=now,
                effective=effective,
                evidence=evidence,
                comment=comment,
                expected_version=expected_version,
                files=files,
            )

    def _fire_cycle_row(
        self,
        conn: Connection,
        row: Any,
        head: tuple[int, str] | None,
        cycle_id: int,
        trigger: str,
        *,
        actor: Actor,
        now: datetime,
        effective: date,
        evidence: Mapping[str, str] | None,
        comment: str | None,
        expected_version: int | None,
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        if row is None:
            raise NotFound(
                f"Цикл мероприятия № {cycle_id} не найден в дорожной карте «{self.roadmap.code}».",
                hint="Список циклов: tochka cycles list.",
            )
        # An item's cycle needs the item's documents (`workflow.roadmap.items`).
        measure = cycle_measure(self.roadmap, row.measure, row.period)
        label = cycle_label(cycle_id, row.measure, row.period)
        self._authorize(conn, actor, "cycle", trigger, target=label)
        self._check_expected(label, expected_version, row.version)
        dates.check_not_before_last(
            effective,
            dates.last_of_row(conn, self.roadmap_id, "cycle", row),
            entity=label,
            act=trigger,
            what="этого цикла",
        )
        required = {kind: self.roadmap.evidence_kind(kind).name for kind in measure.evidence}
        recorded = evidence_files.event_evidence(evidence, files)
        merged = {**(row.evidence or {}), **evidence_files.texts(recorded)}
        holder = StateHolder(
            state=row.state, reason=comment, evidence=merged, required_evidence=required
        )
        new_state = CYCLE_WORKFLOW.fire(holder, trigger, entity=label)
        params = {
            "b_id": row.id,
            "b_version": row.version,
            "b_state": new_state,
            "b_evidence": merged or None,
        }
        return self._apply(
            conn,
            _CYCLE_UPDATE,
            params,
            head=head,
            kind="cycle",
            entity_id=row.id,
            key=f"{row.measure}/{row.period}",
            label=label,
            trigger=trigger,
            from_state=row.state,
            to_state=new_state,
            version=row.version,
            actor=actor,
            now=now,
            effective=effective,
            evidence=evidence,
            comment=comment,
            files=files,
        )

    def _read(
        self,
        conn: Connection,
        statement: sa.Select[Any],
        headless: sa.Select[Any],
        params: dict[str, object],
    ) -> tuple[Any, tuple[int, str] | None]:
        """The row (None: no such entity) and the chain head read and locked with it
        (None: `audit.append` reads it, the chain has no head yet)."""
        params["roadmap_id"] = self.roadmap_id
        row = _prepared(statement).first(conn, params)
        if row is not None:
            return row, (row.head_seq, row.head_hash)
        return _prepared(headless).first(conn, params), None

    def _authorize(
        self,
        conn: Connection,
        actor: Actor,
        machine: str,
        trigger: str,
        *,
        target: str,
        center: tuple[str, str] | None = None,
        known: access.Principal | None = None,
    ) -> None:
        """Check the actor's role and scope inside the transaction (a role just revoked
        by a concurrent transaction is seen); ``known`` is the role already read."""
        if actor.system:
            who = access.SYSTEM
        else:
            who = known or access.require_user(
                conn, self.roadmap_id, actor.login, action=access.Action.FIRE, target=target
            )
            if actor.on_behalf_of is not None:
                # The named user is checked for the same trigger and center below.
                who = access.check_on_behalf(conn, self.roadmap_id, who, actor.on_behalf_of, target)
        access.check_fire(
            who,
            self.roadmap.permissions,
            machine=machine,
            trigger=trigger,
            target=target,
            center=center,
        )

    def _refusals_recorded(self, actor: Actor, now: datetime) -> Any:
        return access.refusals_recorded(
            self.engine,
            self.roadmap_id,
            timezone=self.roadmap.timezone,
            actor=actor,
            now=now,
            clock=self.clock,
        )

    @staticmethod
    def _check_expected(label: str, expected: int | None, actual: int) -> None:
        if expected is not None and expected != actual:
            raise Conflict(entity=label, expected=expected, actual=actual)

    def _apply(
        self,
        conn: Connection,
        statement: sa.Update,
        params: dict[str, object],
        *,
        head: tuple[int, str] | None = None,
        kind: str,
        entity_id: int,
        key: str,
        label: str,
        trigger: str,
        from_state: str,
        to_state: str,
        version: int,
        actor: Actor,
        now: datetime,
        effective: date,
        evidence: Mapping[str, str] | None,
        comment: str | None,
        files: Sequence[EvidenceFile] = (),
    ) -> TransitionResult:
        """Write a checked fire (``effective``: the date of ``now`` in the roadmap's
        zone, as the caller's `dates.plausible_effective` has it)."""
        if files and self.evidence_store is None:
            raise ValueError("evidence files need an evidence_store")
        recorded_at = self.clock()
        params["b_now"] = recorded_at
        updated = _prepared(statement).run(conn, params)
        if updated != 1:
            current = conn.execute(
                sa.select((CENTER if kind == "center" else CYCLE).c.version).where(
                    (CENTER if kind == "center" else CYCLE).c.id == entity_id
                )
            ).scalar()
            raise Conflict(entity=label, expected=version, actual=current)
        seq = audit.append(
            conn,
            self.roadmap_id,
            head=head,
            events=[
                NewEvent(
                    entity_kind=kind,
                    entity_id=entity_id,
                    entity_key=key,
                    trigger=trigger,
                    from_state=from_state,
                    to_state=to_state,
                    actor=actor.login,
                    on_behalf_of=actor.on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    evidence=evidence_files.event_evidence(evidence, files),
                    comment=comment,
                )
            ],
        )
        result = TransitionResult(
            entity_kind=kind,
            entity_id=entity_id,
            entity_key=key,
            trigger=trigger,
            from_state=from_state,
            to_state=to_state,
            version=version + 1,
            seq=seq,
            effective_date=effective,
            actor=actor.login,
            comment=comment,
        )
        if self.notice_hook is not None:
            self.notice_hook(conn, result, now)
        if files and self.evidence_store is not None:
            # Last, when every check has passed: a refused transition stores nothing.
            self.evidence_store.put(conn, files)
        return result
