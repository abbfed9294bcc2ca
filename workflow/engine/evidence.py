"""Evidence documents: files attached to a transition (``--evidence-file KIND=PATH``).

A file is read and judged before anything is written (`read_file`: its name, size and
content type, `workflow.engine.media`); its content is stored by its SHA-256
(`workflow.engine.evidence_store`) in the transition's transaction, and the event's
evidence records it under `FILES_KEY`::

    {"order": "№ 12 от 01.02.2022",
     "_files": [{"kind": "order", "name": "prikaz.pdf", "sha256": "…",
                 "media_type": "application/pdf", "size": 48213}]}

so the audit chain's hash covers the document. A kind given only as a file gets the
text «файл «prikaz.pdf»» beside it: whoever reads the evidence as text (history, the
letters, the final report) sees the document named, and a cycle's ``complete`` counts the
kind as supplied. `FILES_KEY` starts with «_», which no evidence kind id may.

`listed` reads the files the events record; `verify_files` re-hashes the stored content
of each. A content file no event refers to (a crash between storing and committing) is
harmless: it is named by its hash, nothing points to it, and `verify_files` counts it
without failing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.errors import os_reason
from workflow.engine import media
from workflow.errors import EvidenceBroken, InputError
from workflow.storage.tables import EVENT

if TYPE_CHECKING:
    from workflow.config import Settings
    from workflow.engine.evidence_store import EvidenceStore

__all__ = [
    "FILES_KEY",
    "MAX_NAME",
    "EvidenceFile",
    "FileRef",
    "FilesChecked",
    "Limits",
    "Listed",
    "clean_name",
    "event_evidence",
    "listed",
    "read_file",
    "refs",
    "texts",
    "verify_files",
]

FILES_KEY = "_files"
#: The longest file name kept (most file systems' limit for one name).
MAX_NAME = 255
_MB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What a file must be to be accepted: no larger than ``max_bytes``, of one of the
    ``types`` (`workflow.engine.media.TYPES` names)."""

    max_bytes: int
    types: frozenset[str]

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings set (``TOCHKA_EVIDENCE_MAX_MB``, ``…_TYPES``)."""
        return cls(
            max_bytes=int(settings.evidence_max_mb * _MB),
            types=frozenset(settings.evidence_types.split(",")),
        )


@dataclass(frozen=True, kw_only=True)
class FileRef:
    """A file as an event records it."""

    kind: str
    name: str
    sha256: str
    media_type: str
    size: int

    def record(self) -> dict[str, object]:
        """The JSON the event keeps."""
        return {
            "kind": self.kind,
            "name": self.name,
            "sha256": self.sha256,
            "media_type": self.media_type,
            "size": self.size,
        }


@dataclass(frozen=True, kw_only=True)
class EvidenceFile(FileRef):
    """A file read and accepted, with its content, ready to be stored."""

    content: bytes = field(repr=False)


def clean_name(raw: str) -> str:
    """The name a file is recorded under: its last path component (``../../x.pdf`` and
    ``C:\\docs\\x.pdf`` give ``x.pdf``), in Unicode NFC, without surrounding spaces.

    Raises:
        ValueError: the name (Russian reason) has a NUL or another control character,
            is longer than `MAX_NAME` characters, or is empty, ``.`` or ``..``.
    """
    if "\x00" in raw:
        raise ValueError("в имени файла нулевой символ (NUL)")
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise ValueError("в имени файла управляющий символ")
    if len(name) > MAX_NAME:
        raise ValueError(f"имя файла длиннее {MAX_NAME} символов ({len(name)})")
    if name in ("", ".", ".."):
        raise ValueError("у файла нет имени")
    return name


def _mb(size: int) -> str:
    return f"{size / _MB:.1f}".rstrip("0").rstrip(".").replace(".", ",") + " МБ"


def read_file(kind: str, path_text: str, *, limits: Limits, argument: str) -> EvidenceFile:
    """Read and judge the file ``path_text`` given as evidence of ``kind``.

    Args:
        kind: the evidence kind (checked by the caller against the roadmap).
        path_text: the path as the person wrote it.
        limits: the size and types accepted.
        argument: the argument as written (``--evidence-file order=x.pdf``), for errors.

    Raises:
        InputError: naming the argument and the file: a NUL or an overlong name, no such
            file, a folder or another non-regular file, no permission to read it, an
            empty file, a file over the size limit, content refused or not allowed.
    """

    def refuse(why: str, hint: str | None = None) -> InputError:
        return InputError(f"{argument}: {why}.", hint=hint)

    if "\x00" in path_text:
        raise refuse("в имени файла нулевой символ (NUL)")
    last = path_text.rstrip("/").rsplit("/", 1)[-1]
    if len(last) > MAX_NAME:
        raise refuse(f"имя файла длиннее {MAX_NAME} символов ({len(last)}): такого файла нет")
    try:
        info = os.stat(path_text)
    except FileNotFoundError:
        raise refuse(f"файл «{path_text}» не найден") from None
    except NotADirectoryError:
        raise refuse(f"файл «{path_text}» не найден: часть пути — не папка") from None
    except PermissionError:
        raise refuse(f"нет прав на чтение файла «{path_text}»") from None
    except OSError as exc:
        raise refuse(f"файл «{path_text}» не прочитан: {os_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise refuse(f"«{path_text}» — папка, а не файл", hint="Укажите файл документа.")
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"«{path_text}» — не обычный файл (устройство, канал или сокет)")
    too_big = (
        f"файл «{path_text}» больше допустимого: {{size}}, а можно не больше "
        f"{_mb(limits.max_bytes)}"
    )
    size_hint = "Предел задаёт TOCHKA_EVIDENCE_MAX_MB (в мегабайтах)."
    if info.st_size > limits.max_bytes:
        raise refuse(too_big.format(size=_mb(info.st_size)), hint=size_hint)
    try:
        with open(path_text, "rb") as handle:
            content = handle.read(limits.max_bytes + 1)
    except PermissionError:
        raise refuse(f"нет прав на чтение файла «{path_text}»") from None
    except OSError as exc:
        raise refuse(f"файл «{path_text}» не прочитан: {os_reason(exc)}") from None
    if len(content) > limits.max_bytes:  # it grew after the stat
        raise refuse(too_big.format(size=f"больше {_mb(limits.max_bytes)}"), hint=size_hint)
    if not content:
        raise refuse(f"файл «{path_text}» пустой", hint="Укажите файл с документом.")
    try:
        name = clean_name(last)
    except ValueError as exc:
        raise refuse(f"файл «{path_text}»: {exc}", hint="Переименуйте файл.") from None
    try:
        found = media.detect(content)
    except media.Refused as exc:
        raise refuse(
            f"файл «{path_text}» не принят: {exc.reason}", hint=_allowed_hint(limits)
        ) from None
    if found.name not in limits.types:
        raise refuse(
            f"файл «{path_text}» не принят: {found.title} не входит в допустимые виды файлов",
            hint=_allowed_hint(limits),
        )
    return EvidenceFile(
        kind=kind,
        name=name,
        sha256=hashlib.sha256(content).hexdigest(),
        media_type=found.media_type,
        size=len(content),
        content=content,
    )


def _allowed_hint(limits: Limits) -> str:
    allowed = ", ".join(t.title for n, t in media.TYPES.items() if n in limits.types)
    return f"Допустимы (по содержимому, не по имени): {allowed}; их задаёт TOCHKA_EVIDENCE_TYPES."


def texts(evidence: Mapping[str, Any] | None) -> dict[str, str]:
    """The evidence as {kind: text}, without the file records."""
    return {k: v for k, v in (evidence or {}).items() if k != FILES_KEY and isinstance(v, str)}


def refs(evidence: Mapping[str, Any] | None) -> list[FileRef]:
    """The files an event's evidence records (a malformed record is skipped)."""
    found: list[FileRef] = []
    records = (evidence or {}).get(FILES_KEY)
    for r in records if isinstance(records, list) else ():
        try:
            found.append(
                FileRef(
                    kind=str(r["kind"]),
                    name=str(r["name"]),
                    sha256=str(r["sha256"]),
                    media_type=str(r["media_type"]),
                    size=int(r["size"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return found


def event_evidence(
    given: Mapping[str, str] | None, files: Sequence[FileRef]
) -> dict[str, Any] | None:
    """The evidence an event records: the texts given, a text naming the files of each
    kind given only as files, and the file records (each file of a kind once)."""
    if not files:  # every row of a bulk file: a copy of the texts, or None
        return dict(given) if given else None
    result: dict[str, Any] = dict(given or {})
    unique = list({(f.kind, f.sha256): f for f in files}.values())
    by_kind: dict[str, list[str]] = {}
    for f in unique:
        by_kind.setdefault(f.kind, []).append(f"«{f.name}»")
    for kind, names in by_kind.items():
        if not (result.get(kind) or "").strip():
            result[kind] = ("файл " if len(names) == 1 else "файлы ") + ", ".join(names)
    if unique:
        result[FILES_KEY] = [f.record() for f in unique]
    return result or None


@dataclass(frozen=True, kw_only=True)
class Listed:
    """A file recorded by an event of a center or a cycle."""

    seq: int
    effective_date: date
    entity_kind: str
    entity_id: int
    entity_key: str
    file: FileRef

    def as_json(self) -> dict[str, object]:
        """The JSON of ``tochka evidence list --json``."""
        return {
            "event": self.seq,
            "effective_date": self.effective_date.isoformat(),
            "entity": self.entity_kind,
            "id": self.entity_id,
            "key": self.entity_key,
            **self.file.record(),
        }


def listed(
    conn: Connection, roadmap_id: int, *, center: str | None = None, cycle: int | None = None
) -> list[Listed]:
    """The files the roadmap's events record, by effective date (ties in recorded order);
    only one center's (by code) or one cycle's (by id) when asked."""
    query = sa.select(
        EVENT.c.seq,
        EVENT.c.effective_date,
        EVENT.c.entity_kind,
        EVENT.c.entity_id,
        EVENT.c.entity_key,
        EVENT.c.evidence,
    ).where(EVENT.c.roadmap_id == roadmap_id, EVENT.c.entity_kind.in_(("center", "cycle")))
    if center is not None:
        query = query.where(EVENT.c.entity_kind == "center", EVENT.c.entity_key == center)
    if cycle is not None:
        query = query.where(EVENT.c.entity_kind == "cycle", EVENT.c.entity_id == cycle)
    query = query.order_by(EVENT.c.effective_date, EVENT.c.seq)
    return [
        Listed(
            seq=row.seq,
            effective_date=row.effective_date,
            entity_kind=row.entity_kind,
            entity_id=row.entity_id,
            entity_key=row.entity_key,
            file=ref,
        )
        for row in conn.execute(query)
        for ref in refs(row.evidence)
    ]


@dataclass(frozen=True, kw_only=True)
class FilesChecked:
    """What `verify_files` checked: distinct files, the events' references to them, and
    stored files no event refers to (harmless, counted only)."""

    files: int
    references: int
    unreferenced: int


def verify_files(
    conn: Connection, roadmaps: Iterable[tuple[int, str]], store: EvidenceStore
) -> FilesChecked:
    """Re-hash the stored content of every file the roadmaps' events record.

    Args:
        roadmaps: (id, code) of each roadmap checked.

    Raises:
        EvidenceBroken: naming each file that is missing from the store or whose content
            no longer has the recorded hash or size, and where it is recorded.
    """
    where: dict[str, list[tuple[str, Listed]]] = {}
    references = 0
    for roadmap_id, code in roadmaps:
        for item in listed(conn, roadmap_id):
            references += 1
            where.setdefault(item.file.sha256, []).append((code, item))
    problems: list[str] = []
    for sha, places in where.items():
        first = places[0][1]
        seen = "; ".join(_place(code, item) for code, item in places[:3])
        if len(places) > 3:
            seen += f" и ещё {len(places) - 3}"
        label = f"файл «{first.file.name}» (sha256 {sha[:12]}…, {seen})"
        found = store.digest(conn, sha)
        if found is None:
            problems.append(f"{label}: нет в хранилище {store.where}")
        elif found[0] != sha:
            problems.append(f"{label}: содержимое изменено — его SHA-256 теперь {found[0][:12]}…")
        elif found[1] != first.file.size:
            problems.append(f"{label}: размер {found[1]} байт, а записано {first.file.size}")
    if problems:
        raise EvidenceBroken(problems=problems, where=store.where)
    unreferenced = len(store.hashes(conn) - where.keys())
    return FilesChecked(files=len(where), references=references, unreferenced=unreferenced)


def _place(code: str, item: Listed) -> str:
    what = f"центр {item.entity_key}" if item.entity_kind == "center" else f"цикл {item.entity_id}"
    return f"«{code}», {what}, событие № {item.seq}"
