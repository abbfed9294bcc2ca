"""The options of ``tochka centers fire --from FILE`` (`workflow.cli.bulk_fire`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

OptionalCenterCodeArg = Annotated[
    str | None,
    typer.Argument(metavar="КОД", help="Код центра (без --from).", show_default=False),
]
OptionalCenterTriggerArg = Annotated[
    str | None,
    typer.Argument(
        metavar="ПЕРЕХОД",
        help="Переход (без --from; укажите id в скобках): согласование инфраструктурного "
        "листа (agree_infrastructure), оснащение (equip), обучение персонала (train_staff), "
        "открытие центра (open), начало отчётности (start_reporting), исключение из "
        "дорожной карты (withdraw) или отмена перехода (revert).",
        show_default=False,
    ),
]
FromFile = Annotated[
    Path | None,
    typer.Option(
        "--from",
        help="Таблица переходов CSV или XLSX, по строке на переход: «Код», «Действие» "
        "(название или id), необязательные «Документы» (ВИД=ТЕКСТ; ВИД=ТЕКСТ) и "
        "«Комментарий». Каждая строка — отдельный переход со своим событием журнала; "
        "без --all-or-nothing строки без ошибок выполняются, строки с ошибками — нет "
        "(они перечисляются с номером строки и столбца, код выхода 1).",
        show_default=False,
    ),
]
AllOrNothing = Annotated[
    bool,
    typer.Option(
        "--all-or-nothing",
        help="С --from: все строки одной транзакцией; если хоть одна строка с ошибкой, "
        "не выполняется ни одна (перечисляются все ошибки).",
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="С --from: только проверить каждую строку (права, состояние, документы), "
        "ничего не изменяя.",
    ),
]
