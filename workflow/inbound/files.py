"""Reading saved messages (``tochka replies import``): one ``.eml``, a folder of them, an mbox.

The same recording as the mailbox's (`workflow.inbound.record.record_message`), one
transaction per message, keyed by the Message-ID: importing a file twice, or a message
the daemon has already read from the mailbox, records nothing new.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from base import db
from workflow.errors import InputError
from workflow.inbound.record import Outcome, Source, record_message

__all__ = ["ImportReport", "import_path"]

_HEAD_LIMIT = 1024 * 1024


@dataclass
class ImportReport:
    """What an import did: each message's outcome, by its place in the input."""

    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def _messages(path: Path, max_bytes: int) -> Iterator[tuple[str, bytes, int]]:
    """(where, data, size) of each message; data is only the header beyond the limit."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
        if not files:
            raise InputError(f"В папке {path} нет файлов .eml.")
        for file in files:
            yield from _messages(file, max_bytes)
        return
    if _is_mbox(path):
        box = mailbox.mbox(path, create=False)
        try:
            for number, key in enumerate(box.iterkeys(), start=1):
                data = box.get_bytes(key)
                yield f"{path} (письмо {number})", data, len(data)
        finally:
            box.close()
        return
    size = path.stat().st_size
    if size > max_bytes:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_LIMIT)
        end = head.find(b"\r\n\r\n")
        end = head.find(b"\n\n") if end < 0 else end
        yield str(path), head if end < 0 else head[: end + 2], size
        return
    yield str(path), path.read_bytes(), size


def import_path(
    engine: Engine, path: Path, *, max_bytes: int, received_at: datetime | None = None
) -> ImportReport:
    """Record every message of ``path`` (a file, a folder of ``.eml``, an mbox).

    Raises:
        InputError: the path is missing, unreadable, or a folder without ``.eml`` files.
    """
    if not path.exists():
        raise InputError(f"Файл или папка {path} не найдены.")
    report = ImportReport()
    try:
        for where, data, size in _messages(path, max_bytes):
            with db.write(engine) as conn:
                outcome = record_message(
                    conn,
                    data,
                    source=Source(mailbox="file", description=where),
                    size=size,
                    max_bytes=max_bytes,
                    received_at=received_at,
                )
            report.outcomes.append((where, outcome))
    except PermissionError:
        raise InputError(f"Нет прав на чтение {path}.") from None
    except IsADirectoryError:
        raise InputError(f"{path} — не файл письма.") from None
    except mailbox.Error:
        raise InputError(f"Файл {path} не прочитан как почтовый ящик mbox.") from None
    return report
