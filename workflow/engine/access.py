"""Operators, roles and permissions, enforced by the engine.

Roles:
- ``coordinator``: everything in a roadmap (users, imports, cycles, every transition).
- ``municipality``: the centers of the municipalities in its scope: the center triggers
  the roadmap allows to municipalities, imports of its own centers, indicator values.
- ``school``: one center: indicator values and the triggers the roadmap allows to schools.
- ``viewer``: reads only.
The daemon acts as the ``system`` role (``SYSTEM_ACTOR``), which only the scheduler's
own triggers allow. Which role may fire which trigger is declared in the roadmap file
(``permissions``); `DEFAULT_PERMISSIONS` applies where the file says nothing.

A coordinator may act ``--on-behalf-of`` another registered user only for what that
user may do themselves: every check (role, then scope) applies to both, and the act is
recorded for both.

A refusal says which role or scope is missing (and whose), changes nothing, and is
itself recorded in the audit trail (an event of kind ``refusal``), in its own
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from base import db
from base.clock import local_date
from base.errors import TochkaError
from workflow.storage.tables import USER


class Role(StrEnum):
    """What a user may do in a roadmap."""

    COORDINATOR = "coordinator"
    MUNICIPALITY = "municipality"
    SCHOOL = "school"
    VIEWER = "viewer"
    SYSTEM = "system"


ASSIGNABLE_ROLES = (Role.COORDINATOR, Role.MUNICIPALITY, Role.SCHOOL, Role.VIEWER)

ROLE_TITLES = {
    Role.COORDINATOR: "координатор",
    Role.MUNICIPALITY: "муниципалитет",
    Role.SCHOOL: "школа",
    Role.VIEWER: "наблюдатель",
    Role.SYSTEM: "планировщик",
}


def _titles(roles: Iterable[str]) -> str:
    """«координатор или муниципалитет»: role ids as a person reads them."""
    known = {role.value: title for role, title in ROLE_TITLES.items()}
    return " или ".join(known.get(r, r) for r in roles)


class Action(StrEnum):
    """Things that change data; each is checked against the actor's role and scope."""

    FIRE = "fire"
    IMPORT_CENTERS = "import_centers"
    UPDATE_CENTER = "update_center"
    OPEN_CYCLE = "open_cycle"
    SUBMIT_INDICATORS = "submit_indicators"
    MANAGE_USERS = "manage_users"
    MANAGE_OUTBOX = "manage_outbox"
    LOAD_ROADMAP = "load_roadmap"
    MANAGE_CONTACTS = "manage_contacts"
    RECONCILE = "reconcile"
    RESCHEDULE = "reschedule"


ACTION_TITLES = {
    Action.FIRE: "переход",
    Action.IMPORT_CENTERS: "импорт центров",
    Action.UPDATE_CENTER: "изменение центра",
    Action.OPEN_CYCLE: "открытие цикла мероприятия",
    Action.SUBMIT_INDICATORS: "ввод показателей",
    Action.MANAGE_USERS: "управление пользователями",
    Action.MANAGE_OUTBOX: "управление очередью писем",
    Action.LOAD_ROADMAP: "загрузка дорожной карты",
    Action.MANAGE_CONTACTS: "загрузка адресов муниципалитетов",
    Action.RECONCILE: "сверка (tick) и запуск демона",
    Action.RESCHEDULE: "перенос срока",
}

#: Who may fire which trigger, when the roadmap file does not say.
DEFAULT_PERMISSIONS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "center": {
        "agree_infrastructure": ("coordinator",),
        "equip": ("coordinator", "municipality"),
        "train_staff": ("coordinator", "municipality"),
        "open": ("coordinator", "municipality"),
        "start_reporting": ("coordinator", "municipality", "school"),
        "withdraw": ("coordinator",),
        "revert": ("coordinator",),
    },
    "cycle": {
        "start": ("coordinator",),
        "complete": ("coordinator",),
        "cancel": ("coordinator",),
        "mark_overdue": ("system", "coordinator"),
    },
}


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who fires: the login, and whom a coordinator acts for (if anyone).

    ``system`` marks the daemon; only code builds such an actor (`SYSTEM_ACTOR`), never
    a command-line option.
    """

    login: str
    on_behalf_of: str | None = None
    system: bool = False


@dataclass(frozen=True, kw_only=True)
class Principal:
    """A user as the checks see it."""

    login: str
    role: Role
    scope: tuple[str, ...] = ()
    #: The user named by ``--on-behalf-of``: the checks apply to them as well.
    acting_for: Principal | None = None

    def covers_center(self, code: str, municipality: str) -> bool:
        """Whether a center is within this user's scope."""
        if self.role in (Role.COORDINATOR, Role.SYSTEM, Role.VIEWER):
            return True
        if self.role is Role.MUNICIPALITY:
            return municipality in self.scope
        return code in self.scope


SYSTEM = Principal(login="tochka-daemon", role=Role.SYSTEM)


class AccessDenied(TochkaError):
    """The actor's role or scope does not allow the action; nothing was changed.

    ``login`` is who tried; ``on_behalf_of`` the user they named, if any.
    """

    def __init__(
        self,
        *,
        login: str,
        action: Action,
        target: str,
        missing: str,
        hint: str | None = None,
        on_behalf_of: str | None = None,
    ) -> None:
        self.login = login
        self.on_behalf_of = on_behalf_of
        self.action = action
        self.target = target
        self.missing = missing
        who = login if on_behalf_of is None else f"{login} от имени {on_behalf_of}"
        super().__init__(
            f"Отказано: {who} — {ACTION_TITLES[action]} «{target}»: {missing}.",
            hint=hint or "Обратитесь к региональному координатору (tochka users list).",
        )


_PRINCIPAL = sa.select(USER.c.role, USER.c.scope).where(
    USER.c.roadmap_id == sa.bindparam("rid"), USER.c.login == sa.bindparam("login")
)


def principal(conn: Connection, roadmap_id: int, login: str) -> Principal | None:
    """The registered user ``login`` of a roadmap, or None."""
    row = conn.execute(_PRINCIPAL, {"rid": roadmap_id, "login": login}).first()
    if row is None:
        return None
    return Principal(login=login, role=Role(row.role), scope=tuple(row.scope or ()))


def require_user(
    conn: Connection, roadmap_id: int, login: str, *, action: Action, target: str
) -> Principal:
    """The registered user, or AccessDenied naming the missing registration."""
    found = principal(conn, roadmap_id, login)
    if found is None:
        raise AccessDenied(
            login=login,
            action=action,
            target=target,
            missing="пользователь не зарегистрирован в этой дорожной карте",
            hint=f"Координатор может добавить его: tochka users add {login} --role РОЛЬ.",
        )
    return found


def check_on_behalf(
    conn: Connection,
    roadmap_id: int,
    who: Principal,
    other: str,
    target: str,
    action: Action = Action.FIRE,
) -> Principal:
    """Only a coordinator may act for another user, and that user must exist.

    A refusal names the person who tried (``who``) and the user they named.

    Returns:
        ``who``, acting for the named user: `check_fire` and `check_action` then check
        the act for both.
    """
    if who.role is not Role.COORDINATOR:
        raise AccessDenied(
            login=who.login,
            on_behalf_of=other,
            action=action,
            target=target,
            missing=f"действовать от имени «{other}» может только координатор "
            f"(роль пользователя — {ROLE_TITLES[who.role]})",
        )
    found = principal(conn, roadmap_id, other)
    if found is None:
        raise AccessDenied(
            login=who.login,
            on_behalf_of=other,
            action=action,
            target=target,
            missing=f"пользователь «{other}», от имени которого действие, не зарегистрирован "
            "в этой дорожной карте",
            hint=f"Координатор может добавить его: tochka users add {other} --role РОЛЬ.",
        )
    return replace(who, acting_for=found)


def _parties(who: Principal) -> list[tuple[Principal, str | None]]:
    """Whom a check applies to: the actor, then the user named by ``--on-behalf-of``
    (with the login of the coordinator who named them)."""
    if who.acting_for is None:
        return [(who, None)]
    return [(who, None), (who.acting_for, who.login)]


def _named_hint(named: str) -> str:
    return (
        f"От имени пользователя действуют только в пределах его роли и области: "
        f"выполните это действие без --on-behalf-of или от имени того, кому оно разрешено "
        f"(права {named}: tochka users list)."
    )


def _holder(named: bool) -> str:
    """Who has the role: «пользователя» (the actor), or «него», the named user the
    message has just introduced by login."""
    return "него" if named else "пользователя"


def allowed_roles(
    permissions: Mapping[str, Mapping[str, Sequence[str]]], machine: str, trigger: str
) -> tuple[str, ...]:
    """Roles that may fire ``trigger`` on ``machine`` (``center`` or ``cycle``)."""
    if machine in permissions:
        # A roadmap that declares a machine's permissions owns them: an unlisted trigger
        # is the coordinator's alone, as the roadmap file's comment says.
        return tuple(permissions[machine].get(trigger, ("coordinator",)))
    return tuple(DEFAULT_PERMISSIONS.get(machine, {}).get(trigger, ("coordinator",)))


def check_fire(
    who: Principal,
    permissions: Mapping[str, Mapping[str, Sequence[str]]],
    *,
    machine: str,
    trigger: str,
    target: str,
    center: tuple[str, str] | None = None,
) -> None:
    """Raise AccessDenied unless ``who`` (and the user it acts for) may fire ``trigger``
    on this target."""
    roles = allowed_roles(permissions, machine, trigger)
    for user, tried_by in _parties(who):
        if user.role.value not in roles:
            raise _denied(
                user,
                tried_by,
                Action.FIRE,
                f"{target}: {trigger}",
                f"нужна роль {_titles(roles)}, "
                f"у {_holder(tried_by is not None)} — {ROLE_TITLES[user.role]}",
            )
        if center is not None and not user.covers_center(*center):
            code, municipality = center
            raise _denied(
                user,
                tried_by,
                Action.FIRE,
                f"{target}: {trigger}",
                _scope_missing(user, code, municipality, named=tried_by is not None),
            )


def _denied(
    user: Principal, tried_by: str | None, action: Action, target: str, missing: str
) -> AccessDenied:
    """The refusal of ``user``; for a named user it names the coordinator who tried."""
    if tried_by is None:
        return AccessDenied(login=user.login, action=action, target=target, missing=missing)
    return AccessDenied(
        login=tried_by,
        on_behalf_of=user.login,
        action=action,
        target=target,
        missing=f"пользователь «{user.login}», от имени которого действие, сам этого "
        f"сделать не может: {missing}",
        hint=_named_hint(user.login),
    )


#: Who may perform each non-transition action (transitions: the roadmap's permissions).
_ACTION_ROLES: dict[Action, tuple[Role, ...]] = {
    Action.IMPORT_CENTERS: (Role.COORDINATOR, Role.MUNICIPALITY),
    Action.UPDATE_CENTER: (Role.COORDINATOR, Role.MUNICIPALITY),
    Action.OPEN_CYCLE: (Role.COORDINATOR,),
    Action.SUBMIT_INDICATORS: (Role.COORDINATOR, Role.MUNICIPALITY, Role.SCHOOL),
    Action.MANAGE_USERS: (Role.COORDINATOR,),
    Action.MANAGE_OUTBOX: (Role.COORDINATOR,),
    Action.LOAD_ROADMAP: (Role.COORDINATOR,),
    Action.RESCHEDULE: (Role.COORDINATOR,),
    Action.MANAGE_CONTACTS: (Role.COORDINATOR,),
    Action.RECONCILE: (Role.COORDINATOR,),
    Action.FIRE: (Role.COORDINATOR,),
}


def check_action(
    who: Principal, action: Action, *, target: str, centers: Sequence[tuple[str, str]] = ()
) -> None:
    """Raise AccessDenied unless ``who`` (and the user it acts for) may perform
    ``action`` on all of ``centers``."""
    roles = _ACTION_ROLES[action]
    for user, tried_by in _parties(who):
        if user.role not in roles:
            raise _denied(
                user,
                tried_by,
                action,
                target,
                f"нужна роль {_titles(r.value for r in roles)}, "
                f"у {_holder(tried_by is not None)} — {ROLE_TITLES[user.role]}",
            )
        for code, municipality in centers:
            if not user.covers_center(code, municipality):
                raise _denied(
                    user,
                    tried_by,
                    action,
                    target,
                    _scope_missing(user, code, municipality, named=tried_by is not None),
                )


def _scope_missing(who: Principal, code: str, municipality: str, *, named: bool = False) -> str:
    # For the named user the message has just introduced them: «его область».
    if who.role is Role.MUNICIPALITY:
        scope = "его область" if named else "область пользователя"
        return f"центр {code} относится к «{municipality}», а {scope} — " + ", ".join(
            f"«{m}»" for m in who.scope
        )
    scope = "его области" if named else "области пользователя"
    return f"центр {code} вне {scope} ({', '.join(who.scope) or 'пусто'})"


def record_refusal(
    engine: Engine,
    roadmap_id: int,
    denied: AccessDenied,
    *,
    on_behalf_of: str | None,
    recorded_at: datetime,
    effective: Any,
) -> None:
    """Append the refusal to the audit trail in a transaction of its own."""
    # Imported here: the audit chain (some 15 ms to import) is needed only to record a
    # refusal, and a read command imports this module for its roles and checks
    # (`tochka users list`, the coordinator check of `outbox send`).
    from workflow.engine import audit

    with db.write(engine) as conn:
        audit.append(
            conn,
            roadmap_id,
            [
                audit.NewEvent(
                    entity_kind="refusal",
                    entity_id=0,
                    entity_key=denied.target[:96],
                    trigger=denied.action.value,
                    from_state=None,
                    to_state="refused",
                    actor=denied.login,
                    on_behalf_of=on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    comment=denied.missing,
                )
            ],
        )


def authorize_action(
    conn: Connection,
    roadmap_id: int,
    actor: Any,
    action: Action,
    *,
    target: str,
    centers: Sequence[tuple[str, str]] = (),
) -> Principal:
    """Check a non-transition action (import, cycle opening, indicators, users, outbox)
    for an engine `Actor` inside the caller's transaction.

    Returns:
        The actor's `Principal`, acting for the user named by ``--on-behalf-of`` (a later
        `check_action` of the same act, on centers known only then, checks both).
    """
    if actor.system:
        return SYSTEM
    who = require_user(conn, roadmap_id, actor.login, action=action, target=target)
    if actor.on_behalf_of is not None:
        who = check_on_behalf(conn, roadmap_id, who, actor.on_behalf_of, target, action)
    check_action(who, action, target=target, centers=centers)
    return who


@contextmanager
def refusals_recorded(
    engine: Engine,
    roadmap_id: int,
    *,
    timezone: str,
    actor: Actor,
    now: datetime,
    clock: Callable[[], datetime],
) -> Iterator[None]:
    """Let an AccessDenied through after recording it in a transaction of its own (the
    refused change's transaction has rolled back by then)."""
    try:
        yield
    except AccessDenied as denied:
        record_refused(
            engine, roadmap_id, denied, timezone=timezone, actor=actor, now=now, clock=clock
        )
        raise


def record_refused(
    engine: Engine,
    roadmap_id: int,
    denied: AccessDenied,
    *,
    timezone: str,
    actor: Actor,
    now: datetime,
    clock: Callable[[], datetime],
) -> None:
    """Record ``denied`` as `refusals_recorded` does, for a caller that catches it
    itself (`TransitionEngine.fire_centers`, a transaction per row of a file)."""
    record_refusal(
        engine,
        roadmap_id,
        denied,
        on_behalf_of=actor.on_behalf_of,
        recorded_at=clock(),
        effective=local_date(now, timezone),
    )


def as_actor(actor: Actor | str) -> Actor:
    """An engine `Actor` from an Actor or a bare login (library callers and tests)."""
    return Actor(login=actor) if isinstance(actor, str) else actor
