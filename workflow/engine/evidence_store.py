"""Where the content of evidence documents is kept, addressed by SHA-256.

Two stores behind one interface, `EvidenceStore`:

- `FolderStore`: one file per content, named by its hash, in one folder: ``evidence/``
  beside the SQLite database (``var/evidence/``), or ``TOCHKA_EVIDENCE_DIR``. Nothing is
  written outside that folder: a file goes to a temporary name in it (``.tmp-…``), is
  fsynced, then renamed to its hash, and the folder fsynced.
- `DatabaseStore`: the ``evidence_blob`` table (PostgreSQL without
  ``TOCHKA_EVIDENCE_DIR``), written in the transition's own transaction.

`EvidenceStore.put` runs inside the transition's write transaction, after every check
of the transition has passed: a refused transition stores nothing. Should `put` fail
half-way, the files it created are removed before the error propagates (and the
transaction rolls back). The one window left: the commit failing after `put` renamed a
new file into the folder leaves a content file no event refers to; it is harmless
(`workflow.engine.evidence.verify_files` counts it and passes) and is never removed
afterwards, since another transaction may by then refer to the same content. Two
transactions storing the same new content on PostgreSQL are serialised by an advisory
lock on its hash; SQLite's write lock serialises them already.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base import db
from base.errors import os_reason
from workflow.errors import EvidenceNotStored
from workflow.storage.tables import EVIDENCE_BLOB

if TYPE_CHECKING:
    from workflow.config import Settings
    from workflow.engine.evidence import EvidenceFile

__all__ = ["DatabaseStore", "EvidenceStore", "FolderStore", "store_for"]

_HASH = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


class EvidenceStore(Protocol):
    """Content by SHA-256. ``where`` names the store for people."""

    @property
    def where(self) -> str: ...

    def put(self, conn: Connection, files: Sequence[EvidenceFile]) -> None:
        """Store the files' content inside the caller's write transaction."""

    def read(self, conn: Connection, sha256: str) -> bytes | None:
        """The content stored under ``sha256``, None if there is none."""

    def digest(self, conn: Connection, sha256: str) -> tuple[str, int] | None:
        """The SHA-256 and size of what is stored under ``sha256`` now, None if nothing."""

    def hashes(self, conn: Connection) -> set[str]:
        """Every hash stored."""


def _lock(conn: Connection, sha256: str) -> None:
    """On PostgreSQL, hold the hash's advisory lock until the transaction ends."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(sha256[:16]), "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _unique(files: Sequence[EvidenceFile]) -> list[EvidenceFile]:
    return list({f.sha256: f for f in files}.values())


class FolderStore:
    """Content files named by their hash in ``root`` (created there if missing, never
    its parents)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def where(self) -> str:
        return str(self.root)

    def path(self, sha256: str) -> Path:
        """The file of ``sha256`` (a hash, never a path a person wrote)."""
        if not _HASH.fullmatch(sha256):
            raise ValueError(sha256)
        return self.root / sha256

    def put(self, conn: Connection, files: Sequence[EvidenceFile]) -> None:
        created: list[Path] = []
        try:
            for f in _unique(files):
                _lock(conn, f.sha256)
                target = self.path(f.sha256)
                if self._holds(target, f.sha256):
                    continue
                self._write(target, f.content)
                created.append(target)
        except OSError as exc:
            for path in created:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise EvidenceNotStored(
                f"Документ не сохранён в хранилище {self.root}: {os_reason(exc)}. "
                "Переход не выполнен.",
                hint="Проверьте папку хранилища (TOCHKA_EVIDENCE_DIR), место на диске и права.",
            ) from None

    def _holds(self, target: Path, sha256: str) -> bool:
        """The target exists with the right content (an altered one is rewritten)."""
        try:
            found = _file_digest(target)
        except FileNotFoundError:
            return False
        return found[0] == sha256

    def _write(self, target: Path, content: bytes) -> None:
        if not self.root.is_dir():
            self.root.mkdir(mode=0o700)  # the folder only: a missing parent is an error
        fd, temp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        folder = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def read(self, conn: Connection, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def digest(self, conn: Connection, sha256: str) -> tuple[str, int] | None:
        try:
            return _file_digest(self.path(sha256))
        except (FileNotFoundError, IsADirectoryError):
            return None

    def hashes(self, conn: Connection) -> set[str]:
        try:
            return {p.name for p in self.root.iterdir() if _HASH.fullmatch(p.name)}
        except FileNotFoundError:
            return set()


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class DatabaseStore:
    """Content in the ``evidence_blob`` table of the database itself."""

    where = "базе данных (таблица evidence_blob)"

    def put(self, conn: Connection, files: Sequence[EvidenceFile]) -> None:
        from base.clock import system_clock

        for f in _unique(files):
            _lock(conn, f.sha256)
            found = self.digest(conn, f.sha256)
            if found is not None and found[0] == f.sha256:
                continue
            values = {
                "size": f.size,
                "media_type": f.media_type,
                "content": f.content,
                "stored_at": system_clock(),
            }
            if found is None:
                conn.execute(sa.insert(EVIDENCE_BLOB).values(sha256=f.sha256, **values))
            else:  # altered behind our back: the right content again
                conn.execute(
                    sa.update(EVIDENCE_BLOB)
                    .where(EVIDENCE_BLOB.c.sha256 == f.sha256)
                    .values(**values)
                )

    def read(self, conn: Connection, sha256: str) -> bytes | None:
        content = conn.execute(
            sa.select(EVIDENCE_BLOB.c.content).where(EVIDENCE_BLOB.c.sha256 == sha256)
        ).scalar_one_or_none()
        return None if content is None else bytes(content)

    def digest(self, conn: Connection, sha256: str) -> tuple[str, int] | None:
        content = self.read(conn, sha256)
        return None if content is None else (hashlib.sha256(content).hexdigest(), len(content))

    def hashes(self, conn: Connection) -> set[str]:
        return set(conn.execute(sa.select(EVIDENCE_BLOB.c.sha256)).scalars())


def store_for(settings: Settings, db_url: str) -> EvidenceStore:
    """The store the settings and the database imply: ``TOCHKA_EVIDENCE_DIR`` if set;
    else ``evidence/`` beside a SQLite file; else the database's own table."""
    if settings.evidence_dir:
        return FolderStore(Path(settings.evidence_dir))
    path = db.sqlite_path(db.normalize_url(db_url))
    if path is not None:
        return FolderStore(path.parent / "evidence")
    return DatabaseStore()
