"""Option types shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

RoadmapCode = Annotated[
    str | None,
    typer.Option("--roadmap", help="Код дорожной карты (если в базе их несколько)."),
]
Evidence = Annotated[
    list[str] | None,
    typer.Option(
        "--evidence",
        help="Подтверждающий документ: ТЕКСТ или ВИД=ТЕКСТ (можно несколько раз).",
    ),
]
Comment = Annotated[
    str | None,
    typer.Option("--comment", help="Комментарий или причина (для withdraw, revert, cancel)."),
]
ExpectVersion = Annotated[
    int | None,
    typer.Option("--expect-version", help="Применить, только если версия объекта такая."),
]
