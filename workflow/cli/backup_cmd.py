"""``tochka backup -o FILE`` and ``tochka backup verify FILE``.

A SQLite database is copied with SQLite's online backup API (`sqlite3.Connection.backup`):
a consistent snapshot while the daemon and operators keep working, written beside the
target and renamed into place, owner-only (the copy holds what the database holds). A
copy is checked by opening it read-only: SQLite's integrity check, the audit chain of
every roadmap from genesis, and the heads kept in the anchor file (the copy must extend
each head it is new enough to hold). PostgreSQL is copied by ``pg_dump``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from workflow.cli.context import EXIT_USAGE, done, fail, handle_errors, print_json, state

app = typer.Typer(
    help="Резервная копия базы SQLite: tochka backup -o ФАЙЛ; проверка копии: tochka backup "
    "verify ФАЙЛ.",
    invoke_without_command=True,
    no_args_is_help=False,
)

_WHAT = "файл копии"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="backup")


@app.callback()
@handle_errors
def backup(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Файл копии (например, tochka-копия.db).")
    ] = None,
) -> None:
    """Сделать резервную копию базы SQLite (tochka backup -o ФАЙЛ) или проверить копию
    (tochka backup verify ФАЙЛ)."""
    if ctx.invoked_subcommand is not None:
        if output is not None:
            raise fail("-o относится к tochka backup -o ФАЙЛ, а не к проверке.", code=EXIT_USAGE)
        return
    if output is None:
        raise fail(
            "Не указан файл копии.",
            hint="tochka backup -o ФАЙЛ — сделать копию; tochka backup verify ФАЙЛ — проверить.",
            code=EXIT_USAGE,
        )
    from base import db
    from workflow.engine import anchors

    st = state(ctx)
    url = db.normalize_url(st.db_url)
    source = db.sqlite_path(url)
    if source is None:
        raise fail(
            f"База {db.describe_url(url)} — PostgreSQL: её копию делает pg_dump, "
            "tochka backup копирует только SQLite.",
            hint="Копия: pg_dump -Fc -f tochka.dump «адрес базы»; проверка: pg_restore -d "
            "«пустая база» tochka.dump, затем tochka --db «пустая база» audit verify "
            "--anchors «файл якорей».",
            code=EXIT_USAGE,
        )
    target = _checked_target(output)
    engine = st.engine()
    if target.exists() and target.resolve() == source.resolve():
        raise fail(
            f"«{output}» — сама база: копия не записана.",
            hint="Укажите в -o другой файл, лучше на другом диске.",
        )
    copied = _copy(engine, target)
    with _opened(target) as copy, db.read(copy) as conn:
        found = anchors.heads(conn)
    if st.json:
        print_json(
            {
                "file": str(output),
                "bytes": copied,
                "audit_head": [{"roadmap": h.roadmap, "head": h.text} for h in found],
            }
        )
        return
    done(f"Копия базы записана в {output} ({copied} байт).")
    for h in found:
        done(f"Журнал «{h.roadmap}» в копии: заголовок {h.text}.")
    done(f"Проверка копии: tochka backup verify {output}")


def _checked_target(output: Path) -> Path:
    """``-o`` checked like every other ``-o`` (`workflow.views.output.check_output`)."""
    from workflow.errors import InputError
    from workflow.views.output import check_output

    if output.expanduser().is_dir():
        raise InputError(
            f"«{output}» — папка, а не файл: {_WHAT} не записан.",
            hint=f"Укажите имя файла, например -o {output / 'tochka-копия.db'}.",
        )
    return check_output(output, what=_WHAT)


def _copy(engine: Any, target: Path) -> int:
    """Copy the database into ``target`` through a temporary file; its size in bytes."""
    from base.errors import os_reason
    from workflow.errors import InputError

    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(
            f"Не удалось записать «{target}»: {os_reason(exc)}; {_WHAT} не записан."
        ) from None
    os.close(handle)  # mkstemp: owner-only, which the copy keeps
    temporary = Path(name)
    try:
        raw = engine.raw_connection()
        try:
            destination = sqlite3.connect(temporary)
            try:
                raw.driver_connection.backup(destination)
                # One self-contained file: no -wal beside the copy.
                destination.execute("PRAGMA journal_mode = DELETE")
            finally:
                destination.close()
        finally:
            raw.close()
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        if isinstance(exc, OSError | sqlite3.OperationalError):
            reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
            raise InputError(
                f"Не удалось записать «{target}»: {reason}; {_WHAT} не записан.",
                hint="Проверьте место на диске и права на папку; прежний файл, если был, "
                "не изменён.",
            ) from None
        raise
    return target.stat().st_size


@contextlib.contextmanager
def _opened(path: Path) -> Any:
    """An engine on a SQLite file opened read-only (nothing in or beside it is written)."""
    import sqlalchemy as sa

    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    engine = sa.create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=sa.pool.NullPool,
    )
    try:
        yield engine
    finally:
        engine.dispose()


@app.command("verify")
@handle_errors
def verify(
    ctx: typer.Context,
    copy: Annotated[Path, typer.Argument(metavar="ФАЙЛ", help="Файл резервной копии.")],
    anchors_file: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="Файл якорей (по умолчанию — anchor_file из настроек, если задан).",
        ),
    ] = None,
) -> None:
    """Проверить копию: целостность файла, журнал аудита от начала и сохранённые заголовки."""
    from base import db
    from workflow.cli.system_cmd import kept_in_file, verify_chains
    from workflow.engine import anchors
    from workflow.errors import DatabaseUnavailable, InputError
    from workflow.storage import schema

    st = state(ctx)
    if not copy.is_file():
        raise InputError(
            f"Копия {copy} не найдена." if not copy.exists() else f"«{copy}» — папка, а не файл.",
            hint="Укажите файл, записанный tochka backup -o.",
        )
    source = anchors_file or anchors.anchor_path(st.settings)
    if anchors_file is not None and not anchors_file.is_file():
        raise InputError(f"--anchors: файл {anchors_file} не найден.")
    kept: list[Any] = []
    with open(copy, "rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise DatabaseUnavailable(
                f"Копия {copy} — не база данных SQLite (или повреждена).",
                hint="Возьмите другую копию.",
            )
    with _opened(copy) as engine:
        try:
            with engine.connect() as conn:
                integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                revision = db.check_schema(conn, schema.KNOWN_REVISIONS)
        except sa_errors() as exc:
            raise db.database_error(exc, f"sqlite:///{copy}") from None
        if integrity != "ok":
            raise DatabaseUnavailable(
                f"Копия {copy} повреждена: проверка целостности SQLite — «{integrity}».",
                hint="Возьмите другую копию.",
            )
        if revision != schema.HEAD:
            raise DatabaseUnavailable(
                f"Копия {copy} — не база Tochka этой версии (схема "
                f"{revision or 'отсутствует'}, нужна {schema.HEAD}).",
                hint="Копию старой версии проверяют после восстановления: скопируйте её на "
                "место базы, tochka init --upgrade-only, затем tochka audit verify.",
            )
        if source is not None:
            # The lines of the database this installation uses and of the copy's chains
            # wherever they were written (`anchors.select_kept`).
            kept = kept_in_file(
                engine,
                source,
                database=anchors.database_id(st.db_url),
                explicit=anchors_file is not None,
            )
        reports, checks, found = verify_chains(engine, None, kept, is_copy=True)
    by_code = {c.roadmap: c for c in checks}
    head_of = {h.roadmap: h.text for h in found}
    if st.json:
        print_json(
            {
                "file": str(copy),
                "integrity": integrity,
                "schema": revision,
                "roadmaps": [
                    {
                        "roadmap": r.roadmap,
                        "events": r.events,
                        "audit_head": head_of.get(r.roadmap),
                        "anchors_checked": by_code[r.roadmap].checked,
                        "anchors_newer": by_code[r.roadmap].ahead,
                    }
                    for r in reports
                ],
            }
        )
        return
    done(f"Копия {copy} в порядке: целостность SQLite ok, схема {revision}.")
    for r in reports:
        check = by_code[r.roadmap]
        line = (
            f"Журнал «{r.roadmap}»: событий {r.events}, заголовок {head_of.get(r.roadmap)}, "
            f"подтверждено сохранённых заголовков: {check.checked}"
        )
        if check.ahead:
            line += f"; новее копии: {check.ahead} (события после копии в ней нет)"
        done(line + ".")
    if source is None:
        done("Файл якорей не задан: копия сверена только сама с собой (anchor_file, --anchors).")


def sa_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError,)
