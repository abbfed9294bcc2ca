"""Option types shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from workflow.roadmap.definition import Roadmap

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
EvidenceFiles = Annotated[
    list[str] | None,
    typer.Option(
        "--evidence-file",
        help="Файл документа: ВИД=ПУТЬ (вид из evidence_kinds дорожной карты; PDF, "
        "DOC/DOCX, XLS/XLSX, ODT/ODS, JPG/PNG); можно несколько раз. Хранится по SHA-256, "
        "хеш записывается в журнал.",
    ),
]
Comment = Annotated[
    str | None,
    typer.Option(
        "--comment",
        help="Комментарий или причина (для исключения — withdraw, отмены перехода — revert, "
        "отмены цикла — cancel).",
    ),
]
ExpectVersion = Annotated[
    int | None,
    typer.Option("--expect-version", help="Применить, только если версия объекта такая."),
]

# Positional arguments shared by several commands (their help is shown by `-h`). Each has
# a Russian metavar in capitals: the usage line, `-h` and usage errors name it by that.
CenterCodeArg = Annotated[str, typer.Argument(metavar="КОД", help="Код центра.")]
CycleIdArg = Annotated[
    int, typer.Argument(metavar="НОМЕР", help="Номер цикла (из «tochka cycles list»).")
]
LoginArg = Annotated[str, typer.Argument(metavar="ЛОГИН", help="Учётная запись ОС.")]
CenterTriggerArg = Annotated[
    str,
    typer.Argument(
        metavar="ПЕРЕХОД",
        help="Переход (укажите id в скобках): согласование инфраструктурного листа "
        "(agree_infrastructure), оснащение (equip), обучение персонала (train_staff), "
        "открытие центра (open), начало отчётности (start_reporting), исключение из "
        "дорожной карты (withdraw) или отмена перехода (revert).",
    ),
]
CycleTriggerArg = Annotated[
    str,
    typer.Argument(
        metavar="ПЕРЕХОД",
        help="Переход (укажите id в скобках): начало выполнения (start), выполнение "
        "(complete), просрочка (mark_overdue) или отмена (cancel).",
    ),
]
TableFileArg = Annotated[Path, typer.Argument(metavar="ФАЙЛ", help="Файл CSV или XLSX.")]


def order_documents(values: list[str], roadmap: Roadmap) -> dict[str, str]:
    """``--evidence KIND=TEXT`` of a reschedule (a cycle's or a center stage's) →
    {kind: text}; the kind must be one the roadmap declares."""
    from workflow.errors import InputError

    kinds = {k.id: k.name for k in roadmap.evidence_kinds}
    listed = "Виды: " + "; ".join(f"{kind} — {name}" for kind, name in kinds.items()) + "."
    result: dict[str, str] = {}
    for value in values:
        kind, sep, text = (part.strip() for part in value.partition("="))
        if not sep or not kind or not text:
            raise InputError(f"--evidence «{value}»: укажите документ как ВИД=ТЕКСТ.", hint=listed)
        if kind not in kinds:
            raise InputError(
                f"--evidence «{value}»: неизвестный вид документа «{kind}».", hint=listed
            )
        result[kind] = text
    return result
