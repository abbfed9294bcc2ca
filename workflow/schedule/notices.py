"""Transition notices: the engine's notice hook that queues «Центр открыт»-style letters."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from notifications.queue import queue_notice
from notifications.render import Renderer
from notifications.values import Notice, Recipient
from states.center import STATE_TITLES, CenterState
from workflow.engine.transitions import NoticeHook, TransitionResult
from workflow.roadmap.definition import Roadmap
from workflow.storage.tables import CENTER

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
    """A hook that tells the school (coordinator in copy) about each center transition."""
    coordinator = roadmap.party(roadmap.coordinator)
    coordinator_rcpt = Recipient(email=coordinator.email, name=coordinator.name)

    def hook(conn: Connection, result: TransitionResult, now: datetime) -> None:
        if result.entity_kind != "center":
            return
        center = conn.execute(
            sa.select(CENTER.c.name, CENTER.c.email, CENTER.c.municipality).where(
                CENTER.c.id == result.entity_id
            )
        ).one()
        queue_notice(
            conn,
            Notice(
                key=f"{roadmap.code}:event:{result.seq}",
                recipient=Recipient(email=center.email, name=center.name),
                cc=(coordinator_rcpt,),
                headline=HEADLINES.get(result.trigger, "Состояние центра изменено"),
                entity=f"Центр «{center.name}»",
                from_state=STATE_TITLES[CenterState(result.from_state)],
                to_state=STATE_TITLES[CenterState(result.to_state)],
                effective_date=result.effective_date,
                actor=result.actor,
                roadmap_title=roadmap.title,
                center_code=result.entity_key,
                center_name=center.name,
                municipality=center.municipality,
                comment=result.comment,
                reply_to=coordinator.email,
                timezone=roadmap.timezone,
            ),
            now=now,
            renderer=renderer,
        )

    return hook
