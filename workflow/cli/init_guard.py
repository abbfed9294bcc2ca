"""``tochka init`` never creates a schema over lost data.

A SQLite file truncated to 0 bytes, a file that is not a Tochka database, a database
missing (or a PostgreSQL database without Tochka's schema) while the anchor file still
remembers its chain: each is refused with the last known head and the backup advice,
unless ``--new`` says the new database is meant. ``--upgrade-only`` never creates one.
A missing database that no anchor remembers is created by plain ``init`` (``make run`` on
a fresh clone).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from workflow.cli.context import CliState

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from workflow.engine.anchors import Anchor

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class Guard:
    """What `check` found, for the steps after the engine is open."""

    st: CliState
    new: bool
    upgrade_only: bool
    anchor_file: Path | None
    known: list[Anchor] = field(default_factory=list)

    def check_schema(self, engine: Engine) -> None:
        """The server's database (PostgreSQL), once open: no schema is refused like a
        missing SQLite file (a SQLite file was checked before it was opened)."""
        from base import db
        from workflow.storage import schema

        if not db.is_sqlite(engine):
            with engine.connect() as conn:
                revision = db.check_schema(conn, schema.KNOWN_REVISIONS)
            what = f"в базе {db.describe_url(self.st.db_url)} нет схемы Tochka"
            self._refuse_missing(revision is None, what)

    def after_init(self, engine: Engine) -> None:
        """Anchor the new heads; with ``--new`` over a remembered chain, mark the restart."""
        from workflow.engine import anchors

        if self.anchor_file is None:
            return
        if self.new and self.known:
            anchors.append_restart(self.anchor_file, url=self.st.db_url)
        anchors.append_anchor(engine, self.anchor_file, url=self.st.db_url)

    def _refuse_missing(self, missing: bool, what: str) -> None:
        """Refuse a database that has no Tochka schema, when init may not create one."""
        from workflow.errors import DatabaseUnavailable, InputError

        if not missing:
            if self.new:
                raise InputError(
                    "--new: база уже содержит схему Tochka, создавать её заново не нужно.",
                    hint="Обновить её: tochka init (без --new).",
                )
            return
        if self.upgrade_only:
            raise DatabaseUnavailable(
                f"init --upgrade-only: {what}, а этот режим только обновляет существующую "
                f"базу.{self._known_text()}",
                hint=_RESTORE
                + " Новую базу создаёт tochka init (без --upgrade-only), а если файл якорей "
                "помнит журнал — tochka init --new.",
            )
        if self.known and not self.new:
            raise DatabaseUnavailable(
                f"{_capital(what)}, а файл якорей {self.anchor_file} помнит журнал этой базы: "
                f"init не создаёт новую базу на месте потерянной.{self._known_text()}",
                hint=_RESTORE + " Если база действительно создаётся заново: tochka init --new.",
            )

    def _known_text(self) -> str:
        if not self.known:
            return ""
        heads = "; ".join(f"«{a.roadmap}» {a.text} ({a.where})" for a in self.known)
        return f" Последний известный заголовок журнала: {heads}."


_RESTORE = (
    "Данные, похоже, потеряны: восстановите базу из резервной копии (проверьте её: tochka "
    "backup verify КОПИЯ) и положите на место файла базы; затем tochka audit verify."
)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def check(st: CliState, path: Path | None, *, new: bool, upgrade_only: bool) -> Guard:
    """Refuse, before anything is opened or created, a SQLite file init must not touch.

    Args:
        st: the command's state (settings, database URL).
        path: the SQLite file, or None for PostgreSQL (checked by `Guard.check_schema`).
        new: ``--new`` was given.
        upgrade_only: ``--upgrade-only`` was given.

    Raises:
        InputError: ``--new`` with ``--upgrade-only``; the anchor file is misplaced or
            unreadable.
        DatabaseUnavailable: an empty file, a file that is not a Tochka database, or a
            missing file the anchors remember (without ``--new``); with ``--upgrade-only``
            any file that is not a Tochka database.
    """
    from workflow.engine import anchors
    from workflow.errors import DatabaseUnavailable, InputError

    if new and upgrade_only:
        raise InputError(
            "--new и --upgrade-only вместе не бывают: первый создаёт базу, второй запрещает.",
            hint="Укажите что-то одно.",
        )
    anchor_file = anchors.anchor_path(st.settings)
    known = []
    if anchor_file is not None and not anchor_file.parent.is_dir():
        # Checked first: init would otherwise create the database and fail to anchor it.
        raise InputError(
            f"Папка {anchor_file.parent} файла якорей (anchor_file, TOCHKA_ANCHOR_FILE) не "
            "существует: ничего не создано.",
            hint=f"Создайте её (mkdir -p {anchor_file.parent}) или исправьте путь.",
        )
    if anchor_file is not None:
        kept = anchors.read_anchors(anchor_file)
        known = anchors.last_known(kept, database=anchors.database_id(st.db_url))
    guard = Guard(st=st, new=new, upgrade_only=upgrade_only, anchor_file=anchor_file, known=known)
    if path is None:
        return guard
    if not path.exists():
        guard._refuse_missing(True, f"база данных {path} не найдена")
        return guard
    size = path.stat().st_size
    if size == 0:
        if not new or upgrade_only:
            raise DatabaseUnavailable(
                f"Файл базы {path} пуст (0 байт): init не создаёт схему поверх пустого файла — "
                f"похоже, база обрезана и данные потеряны.{guard._known_text()}",
                hint=_RESTORE + " Если файл пуст намеренно: tochka init --new.",
            )
        return guard
    kind = _sqlite_kind(path)
    if kind == "foreign":
        raise DatabaseUnavailable(
            f"Файл {path} — не база данных SQLite (или повреждён): init его не меняет."
            f"{guard._known_text()}",
            hint="Проверьте путь в --db / TOCHKA_DB_URL. " + _RESTORE,
        )
    if kind == "other":
        if upgrade_only or not new:
            raise DatabaseUnavailable(
                f"Файл {path} — база SQLite, но не Tochka (в ней нет схемы Tochka): init её "
                f"не меняет.{guard._known_text()}",
                hint="Проверьте путь в --db / TOCHKA_DB_URL. Создать схему Tochka в этом "
                "файле намеренно: tochka init --new.",
            )
        return guard
    if kind == "tochka" and new:
        guard._refuse_missing(False, "")
    return guard


def refuse_lost(st: CliState, path: Path) -> None:
    """Every command but init: refuse a SQLite file of 0 bytes, or a missing one the
    anchor file remembers, with the last known head and the backup advice — before the
    file is opened, so it stays exactly as it is (missing stays missing).

    Raises:
        DatabaseUnavailable: the file is empty, or missing while the anchors name a head.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = None
    except OSError:
        return  # unreadable: the engine's own error says why
    if size not in (None, 0):
        return  # the usual case, before anything is imported for the others
    from workflow.engine import anchors
    from workflow.errors import DatabaseUnavailable, InputError

    known: list[Anchor] = []
    anchor_file = None
    try:
        anchor_file = anchors.anchor_path(st.settings)
        if anchor_file is not None:
            kept = anchors.read_anchors(anchor_file)
            known = anchors.last_known(kept, database=anchors.database_id(st.db_url))
    except InputError:
        known = []  # a misplaced or unreadable anchor file: refused by the commands using it
    guard = Guard(st=st, new=False, upgrade_only=False, anchor_file=anchor_file, known=known)
    if size == 0:
        raise DatabaseUnavailable(
            f"Файл базы {path} пуст (0 байт): похоже, база обрезана и данные потеряны; "
            f"команда не выполнена, файл не тронут.{guard._known_text()}",
            hint=_RESTORE + " Если база создаётся заново намеренно: tochka init --new.",
        )
    if known:
        raise DatabaseUnavailable(
            f"База данных {path} не найдена, а файл якорей {anchor_file} помнит её журнал: "
            f"данные, похоже, потеряны; ничего не создано.{guard._known_text()}",
            hint=_RESTORE + " Если база действительно создаётся заново: tochka init --new.",
        )


def _sqlite_kind(path: Path) -> str:
    """``tochka`` (has Tochka's schema), ``other`` (SQLite without it), ``foreign`` (not
    SQLite), or ``unknown`` (could not be read: the engine's own error will say why).
    Read-only: a file init refuses is left exactly as it was."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
    except OSError:
        return "unknown"
    if magic != _SQLITE_MAGIC:
        return "foreign"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            revision = (
                conn.execute("SELECT version_num FROM alembic_version").fetchone()
                if found
                else None
            )
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return "unknown"
    return "tochka" if revision else "other"
