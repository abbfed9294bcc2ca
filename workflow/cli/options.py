"""Option types shared by several commands."""

from __future__ import annotations

from pathlib import Path
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

# Positional arguments shared by several commands (their help is shown by `-h`).
CenterCodeArg = Annotated[str, typer.Argument(help="Код центра.")]
CycleIdArg = Annotated[int, typer.Argument(help="Номер цикла (из «tochka cycles list»).")]
LoginArg = Annotated[str, typer.Argument(help="Учётная запись ОС.")]
CenterTriggerArg = Annotated[
    str,
    typer.Argument(
        help="Переход: agree_infrastructure, equip, train_staff, open, start_reporting, "
        "withdraw или revert."
    ),
]
CycleTriggerArg = Annotated[
    str, typer.Argument(help="Переход: start, complete, mark_overdue или cancel.")
]
TableFileArg = Annotated[Path, typer.Argument(help="Файл CSV или XLSX.")]
