"""Transition notices: the engine's notice hook that queues «Центр открыт»-style letters."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from notifications.queue import queue_notice
from notifications.render import Renderer
from notifications.values import Notice, Recipient
from states.center import STATE_TITLES, CenterState
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


def center_notice_hook(roadmap: Roadmap, renderer: Renderer) -> NoticeHook:
    """A hook that tells the school (coordinator in copy) about each center transition.

    The notice names who acted by full name and role (`actor_title`), never the login,
    and lists the evidence recorded with the event.
    """
    coordinator = roadmap.party(roadmap.coordinator)
    coordinator_rcpt = Recipient(
        email=coordinator.email, name=coordinator.name, contact=coordinator.contact
    )

    def hook(conn: Connection, result: TransitionResult, now: datetime) -> None:
        if result.entity_kind != "center":
            return
        center = conn.execute(
            sa.select(
                CENTER.c.roadmap_id, CENTER.c.name, CENTER.c.email, CENTER.c.municipality
            ).where(CENTER.c.id == result.entity_id)
        ).one()
        recorded = conn.execute(
            sa.select(EVENT.c.evidence).where(
                EVENT.c.roadmap_id == center.roadmap_id, EVENT.c.seq == result.seq
            )
        ).scalar_one_or_none()
        queue_notice(
            conn,
            Notice(
                key=f"{roadmap.code}:event:{result.seq}",
                recipient=Recipient(email=center.email, name=center.name),
                cc=(coordinator_rcpt,),
                headline=headline(result.trigger, result.from_state),
                entity=f"центр «Точка роста» на базе {center.name}",
                from_state=STATE_TITLES[CenterState(result.from_state)],
                to_state=STATE_TITLES[CenterState(result.to_state)],
                effective_date=result.effective_date,
                actor=actor_title(conn, center.roadmap_id, result.actor),
                roadmap_title=roadmap.title,
                signature=roadmap.signature,
                center_code=result.entity_key,
                center_name=center.name,
                municipality=center.municipality,
                comment=result.comment,
                evidence=_evidence(roadmap, recorded),
                reply_to=coordinator.email,
                timezone=roadmap.timezone,
            ),
            now=now,
            renderer=renderer,
        )

    return hook


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
