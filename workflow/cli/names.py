"""What the CLI calls things: Russian names of states, rungs and letter statuses, the one
name of a cycle, and the filter values a person types (ids or Russian names).

Ids (``planned``, ``before-14``, ``dead``) are for ``--json`` and scripts; tables and
messages show the Russian names. Filters take either, in any case (and «е» for «ё»).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from base.errors import InputError

OUTBOX_STATUS_TITLES: Mapping[str, str] = {
    "pending": "ожидает отправки",
    "sending": "отправляется",
    "sent": "отправлено",
    "failed": "ошибка, будет повтор",
    "dead": "не доставлено",
    "bounced": "возвращено: адрес не принимает письма",
    "held": "задержано: предел ответов отправителю",
}


def cycle_label(cycle_id: int, measure: int, period: str) -> str:
    """The name of a cycle in every message: «Цикл 10 (мероприятие 7, 2021 г.)»,
    «Цикл 23 (мероприятие 9, II квартал 2023 г.)»: the period as people read it
    (`notifications.ics.period_text`), never its label («2023-Q2»).

    The same words as the transition engine's messages about the cycle
    (`workflow.engine.transitions.cycle_label`).
    """
    from workflow.engine.transitions import cycle_label as engine_label

    return engine_label(cycle_id, measure, period)


def people(conn: Any, roadmap_id: int) -> dict[str, str]:
    """Login → who that is, as a listing names them: «Иванова Анна Петровна,
    координатор»; a user with no full name recorded by login and role («root,
    координатор»); the daemon «система Tochka (автоматически)». A login not among the
    roadmap's users (removed, or an import's) is not in the map: `who` shows it as it is."""
    from workflow.engine.access import ROLE_TITLES, SYSTEM, Role
    from workflow.engine.users import SYSTEM_TITLE, list_users

    roles = {r.value: title for r, title in ROLE_TITLES.items()}
    names = {SYSTEM.login: SYSTEM_TITLE}
    for user in list_users(conn, roadmap_id):
        if user.role == Role.SYSTEM.value:
            names[user.login] = SYSTEM_TITLE
            continue
        role = roles.get(user.role, user.role)
        names[user.login] = f"{user.full_name or user.login}, {role}"
    return names


def who(names: Mapping[str, str], actor: str, on_behalf_of: str | None = None) -> str:
    """The «кто» of an event: the actor by name and role (`people`), and for whom they
    acted: «Петров Иван, координатор за Сидорова Анна, школа»."""
    text = names.get(actor, actor)
    if on_behalf_of:
        text += f" за {names.get(on_behalf_of, on_behalf_of)}"
    return text


def center_state_title(state: str) -> str:
    """«запланирован» for ``planned``; an unknown id is shown as it is."""
    from states.center import STATE_TITLES, CenterState

    try:
        return STATE_TITLES[CenterState(state)]
    except ValueError:
        return state


def cycle_state_title(state: str) -> str:
    """«выполняется» for ``in_progress``; an unknown id is shown as it is."""
    from states.cycle import STATE_TITLES, CycleState

    try:
        return STATE_TITLES[CycleState(state)]
    except ValueError:
        return state


def state_title(kind: str, state: str) -> str:
    """The Russian name of a center's (``kind`` "center") or a cycle's state."""
    return center_state_title(state) if kind == "center" else cycle_state_title(state)


#: Events the engine records on centers and cycles outside their machines' triggers.
_ENGINE_TRIGGER_TITLES: Mapping[str, str] = {
    "create": "создание",
    "update": "изменение сведений",
    "revise": "изменение дорожной карты",
    "reschedule": "перенос срока",
}


def trigger_title(kind: str, trigger: str) -> str:
    """«согласование инфраструктурного листа» for a center's ``agree_infrastructure``,
    «просрочка» for a cycle's ``mark_overdue``; an unknown id is shown as it is."""
    from states.center import TRIGGER_TITLES as CENTER_TRIGGERS
    from states.center import CenterTrigger
    from states.cycle import TRIGGER_TITLES as CYCLE_TRIGGERS

    if kind == "center" and trigger in CenterTrigger.__members__.values():
        return CENTER_TRIGGERS[CenterTrigger(trigger)]
    if kind != "center" and trigger in CYCLE_TRIGGERS:
        return CYCLE_TRIGGERS[trigger]
    return _ENGINE_TRIGGER_TITLES.get(trigger, trigger)


def trigger_to_type(kind: str, trigger: str) -> str:
    """A trigger a person may type, named with its id: «оснащение (equip)»."""
    return f"{trigger_title(kind, trigger)} ({trigger})"


def ru_dates(text: str) -> str:
    """``text`` with its ISO dates as a person writes them: «срок 2022-01-01» → «срок
    01.01.2022» (stored comments keep the form they were recorded in)."""
    import re

    return re.sub(r"\b(\d{4})-(\d{2})-(\d{2})\b", r"\3.\2.\1", text)


def outbox_status_title(status: str) -> str:
    """«не доставлено» for ``dead``."""
    return OUTBOX_STATUS_TITLES.get(status, status)


def rung_title(rung: str) -> str:
    """«за 14 дн. до срока» for ``before-14``, «в день срока», «7 дн. после срока»."""
    kind, _, days = rung.rpartition("-")
    if rung == "on_day":
        return "в день срока"
    if kind == "before" and days.isdigit():
        return f"за {days} дн. до срока"
    if kind == "overdue" and days.isdigit():
        return f"{days} дн. после срока"
    return rung


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold().replace("ё", "е")


def pick(text: str, known: Mapping[str, str]) -> str | None:
    """The id ``text`` names among ``known`` (id → Russian name): the id or the name, in
    any case, «е» for «ё»; None if it names none."""
    wanted = _folded(text)
    for value, title in known.items():
        if wanted in (_folded(value), _folded(title)):
            return value
    return None


def pick_state(text: str, states: type[StrEnum], titles: Mapping[Any, str], *, kinds: str) -> str:
    """The state id ``text`` names (its id or its Russian name, in any case).

    Raises:
        InputError: no such state; the hint lists every state as «название (id)» after
            ``kinds`` («Состояния центра»).
    """
    known = {s.value: titles[s] for s in states}
    found = pick(text, known)
    if found is None:
        listed = ", ".join(f"{title} ({value})" for value, title in known.items())
        raise InputError(f"Неизвестное состояние «{text}».", hint=f"{kinds}: {listed}.")
    return found


def pick_value(text: str, known: Iterable[str], *, option: str, kinds: str) -> str:
    """The value of ``known`` (the values present in the data) ``text`` names, in any case.

    Raises:
        InputError: none; the hint lists the known values after ``kinds`` (or says there
            are none yet).
    """
    values = list(known)
    found = pick(text, {v: v for v in values})
    if found is None:
        listed = ", ".join(values) if values else "пока нет ни одного"
        raise InputError(f"{option}: «{text}» — неизвестное значение.", hint=f"{kinds}: {listed}.")
    return found
