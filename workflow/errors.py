"""Errors of the workflow layer. All derive from `base.errors.TochkaError`; the errors of
the shared base (`InputError`, `SchemaTooNew`, `DatabaseUnavailable` and its kinds of
fault: `DiskFull`, `ReadOnlyDatabase`, `PermissionDenied`, `DatabaseDamaged`) are
re-exported.

Messages are Russian (people read them); attributes keep the values for code and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from base.errors import (
    DatabaseDamaged,
    DatabaseUnavailable,
    DiskFull,
    InputError,
    PermissionDenied,
    ReadOnlyDatabase,
    SchemaTooNew,
    TochkaError,
)

__all__ = [
    "AuditBroken",
    "Conflict",
    "DatabaseDamaged",
    "DatabaseUnavailable",
    "DiskFull",
    "EffectiveDateBeforeLast",
    "EffectiveDateImplausible",
    "EffectiveDateRefused",
    "EvidenceBroken",
    "EvidenceNotStored",
    "FileProblems",
    "ImportFileError",
    "InputError",
    "NotFound",
    "PermissionDenied",
    "Problem",
    "ReadOnlyDatabase",
    "RoadmapFileError",
    "SchemaTooNew",
    "TochkaError",
]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a file a person gave us, and where it is.

    ``line`` and ``column`` are 1-based; ``field`` is the YAML path (``measures[3].recurrence``)
    or the column header of a table file.
    """

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", строка {self.line}"
        if self.column is not None:
            where += f", столбец {self.column}"
        if self.field:
            where += f", поле «{self.field}»"
        return f"{where}: {self.message}"


class FileProblems(TochkaError):
    """A file was refused; ``problems`` lists every problem found, in file order."""

    title = "Файл отклонён"

    def __init__(self, problems: Sequence[Problem], *, hint: str | None = None) -> None:
        self.problems = tuple(problems)
        lines = [f"{self.title}: найдено ошибок — {len(self.problems)}."]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines), hint=hint)


class RoadmapFileError(FileProblems):
    """The roadmap definition file is invalid; nothing was loaded."""

    title = "Дорожная карта не загружена"


class ImportFileError(FileProblems):
    """An import file is invalid; nothing was imported (all or nothing)."""

    title = "Импорт не выполнен, ничего не изменено"


class NotFound(TochkaError):
    """An entity named by the user does not exist."""


class Conflict(TochkaError):
    """The entity changed since it was read: the transition was not applied."""

    def __init__(self, *, entity: str, expected: int, actual: int | None) -> None:
        self.entity = entity
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{entity}: конфликт — запись изменена другим оператором "
            f"(ожидалась версия {expected}, сейчас {actual if actual is not None else 'нет'}).",
            hint="Посмотрите текущее состояние (tochka centers show / tochka history) "
            "и повторите команду.",
        )


class AuditBroken(TochkaError):
    """The audit chain does not verify; ``event_id`` is the first broken event."""

    def __init__(self, *, roadmap: str, event_id: int | None, seq: int | None, why: str) -> None:
        self.roadmap = roadmap
        self.event_id = event_id
        self.seq = seq
        self.why = why
        where = f"событие № {seq} (id {event_id})" if event_id is not None else f"позиция {seq}"
        super().__init__(
            f"Журнал аудита дорожной карты «{roadmap}» нарушен: {where}: {why}",
            hint="Восстановите базу из резервной копии и выясните, кто менял её в обход tochka.",
        )


class EvidenceBroken(TochkaError):
    """Stored evidence documents are missing or altered; ``problems`` names each."""

    def __init__(self, *, problems: Sequence[str], where: str) -> None:
        self.problems = tuple(problems)
        self.where = where
        lines = [f"Документы-основания повреждены: найдено ошибок — {len(self.problems)}."]
        lines += [f"  {p}" for p in self.problems]
        super().__init__(
            "\n".join(lines),
            hint=f"Верните файлы в хранилище {where} из резервной копии (имя файла — его "
            "SHA-256) и выясните, кто их менял.",
        )


class EvidenceNotStored(TochkaError):
    """An evidence document could not be stored: the transition was not recorded."""


class EffectiveDateRefused(InputError):
    """The effective date of an act (``--now``) cannot be accepted; nothing was changed."""

    def __init__(self, message: str, *, effective: date, hint: str | None = None) -> None:
        self.effective = effective
        super().__init__(message, hint=hint)


class EffectiveDateBeforeLast(EffectiveDateRefused):
    """The act is dated before the last event of its object (the history would run
    backwards); ``last`` is that event's effective date."""

    def __init__(self, *, effective: date, last: date, entity: str, what: str) -> None:
        self.last = last
        self.entity = entity
        super().__init__(
            f"Дата действия {effective:%d.%m.%Y} раньше последнего события {what} "
            f"({last:%d.%m.%Y}): {entity} — ничего не изменено.",
            effective=effective,
            hint=f"События истории идут по дате действия: укажите --now не раньше "
            f"{last:%d.%m.%Y} (или без --now, сегодняшней датой).",
        )


class EffectiveDateImplausible(EffectiveDateRefused):
    """The effective date lies outside ``earliest``..``latest``: taken for a typo."""

    def __init__(self, *, effective: date, earliest: date, latest: date, why: str) -> None:
        self.earliest = earliest
        self.latest = latest
        super().__init__(
            f"Дата действия {effective:%d.%m.%Y} похожа на опечатку: допустимы даты "
            f"с {earliest:%d.%m.%Y} по {latest:%d.%m.%Y} ({why}); ничего не изменено.",
            effective=effective,
            hint="Проверьте год в --now (ГГГГ-ММ-ДД).",
        )
