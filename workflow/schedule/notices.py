"""Transition notices: the engine's notice hook that queues «Центр открыт»-style letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from notifications.queue import queue_notice
from notifications.render import Renderer
from notifications.values import Notice, Recipient
from states.center import STATE_TITLES, CenterState, CenterTrigger
from workflow.engine.evidence import texts as evidence_texts
from workflow.engine.transitions import NoticeHook, TransitionResult
from workflow.engine.users import actor_title
from workflow.roadmap.definition import Roadmap
from workflow.storage.tables import CENTER, EVENT

HEADLINES: dict[str, str] = {
    "agree_infrastructure": "Инфраструктурный лист согласован",
    "equip": "Центр оснащён",
    "train_staff": "Персонал центра обучен",
    "open": "Центр открыт",
    "start_reporting": "Центр начал отчётность",
    "withdraw": "Центр исключён из дорожной карты",
    "revert": "Изменение состояния центра отменено",
}


#: A center event with what its notice names: the center's school, address, municipality.
_EVENTS = sa.select(
    EVENT.c.roadmap_id,
    EVENT.c.seq,
    EVENT.c.entity_key,
    EVENT.c.trigger,
    EVENT.c.from_state,
    EVENT.c.to_state,
    EVENT.c.effective_date,
    EVENT.c.actor,
    EVENT.c.on_behalf_of,
    EVENT.c.comment,
    EVENT.c.evidence,
    CENTER.c.name,
    CENTER.c.email,
    CENTER.c.municipality,
).join(CENTER, CENTER.c.id == EVENT.c.entity_id)


def center_notice_hook(roadmap: Roadmap, renderer: Renderer) -> NoticeHook:
    """A hook that tells the school about each center transition.

    The notice names who acted by full name and role (`actor_title`), never the login,
    and lists the evidence recorded with the event. A school's marks of one day go as
    one letter (`queue_notice` with ``carried``: the day's letter, while not sent, is
    re-rendered with every mark; after it has left, the next day's). The coordinator
    gets no copy: its weekly summary lists the week's marks («Отмечено за неделю»,
    `workflow.schedule.weekly.week_marks`), so a busy day is not a letter per mark.
    """
    coordinator = roadmap.party(roadmap.coordinator)

    def notice(conn: Connection, event: Any) -> Notice:
        """The notice of one center event (an ``EVENT`` row joined with its center)."""
        return Notice(
            key=f"{roadmap.code}:event:{event.seq}",
            recipient=Recipient(email=event.email, name=event.name),
            headline=headline(event.trigger, event.from_state),
            entity=f"центр «Точка роста» на базе {event.name}",
            from_state=STATE_TITLES[CenterState(event.from_state)],
            to_state=STATE_TITLES[CenterState(event.to_state)],
            effective_date=event.effective_date,
            actor=_who(conn, event),
            roadmap_title=roadmap.title,
            signature=roadmap.signature,
            center_code=event.entity_key,
            center_name=event.name,
            municipality=event.municipality,
            comment=event.comment,
            evidence=_evidence(roadmap, event.evidence),
            reply_to=coordinator.email,
            timezone=roadmap.timezone,
        )

    def hook(conn: Connection, result: TransitionResult, now: datetime) -> None:
        if result.entity_kind != "center":
            return
        roadmap_id = conn.execute(
            sa.select(CENTER.c.roadmap_id).where(CENTER.c.id == result.entity_id)
        ).scalar_one()
        current = conn.execute(
            _EVENTS.where(EVENT.c.roadmap_id == roadmap_id, EVENT.c.seq == result.seq)
        ).one()

        def carried(key: str) -> list[Notice]:
            # A pending letter of the recipient's day carries every notice to it from
            # its first event on (later ones joined it while it was pending).
            first = int(key.rsplit(":", 1)[1])
            rows = conn.execute(
                _EVENTS.where(
                    EVENT.c.roadmap_id == roadmap_id,
                    EVENT.c.seq >= first,
                    EVENT.c.seq < result.seq,
                    EVENT.c.entity_kind == "center",
                    EVENT.c.trigger.in_([t.value for t in CenterTrigger]),
                    sa.func.lower(CENTER.c.email) == str(current.email).strip().lower(),
                ).order_by(EVENT.c.seq)
            )
            return [notice(conn, row) for row in rows]

        queue_notice(conn, notice(conn, current), now=now, renderer=renderer, carried=carried)

    return hook


def _who(conn: Connection, event: Any) -> str:
    """Who marked it, as the weekly summary says it: «Смирнова Ольга Петровна,
    координатор, от имени: Кузнецова Анна Сергеевна, муниципалитет» when the
    coordinator recorded a municipality's or school's mark for it."""
    who = actor_title(conn, event.roadmap_id, event.actor)
    if event.on_behalf_of:
        who += f", от имени: {actor_title(conn, event.roadmap_id, str(event.on_behalf_of))}"
    return who


def headline(trigger: str, from_state: str) -> str:
    """What happened, as people say it: the stage reached («Центр оснащён»), or for a
    revert the stage whose mark was taken back («Отметка этапа «оснащён» отменена»)."""
    if trigger == "revert":
        return f"Отметка этапа «{STATE_TITLES[CenterState(from_state)]}» отменена"
    return HEADLINES.get(trigger, "Состояние центра изменено")


def _evidence(roadmap: Roadmap, recorded: dict[str, str] | None) -> tuple[str, ...]:
    """The documents recorded with the event, as a letter lists them: «вид: текст»
    for a known evidence kind, the text alone for a center's free-form document."""
    lines: list[str] = []
    for kind, text in evidence_texts(recorded).items():  # a file by its name
        try:
            name = roadmap.evidence_kind(kind).name
        except KeyError:
            lines.append(text)
            continue
        lines.append(f"{name}: {text}" if text else name)
    return tuple(lines)
