"""``tochka evidence``: the documents attached to transitions (list, get), and the
``--evidence-file KIND=PATH`` option the transition commands share
(`read_evidence_files`, `evidence_store`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode

if TYPE_CHECKING:
    from workflow.cli.context import CliState
    from workflow.engine.evidence import EvidenceFile, Listed
    from workflow.engine.evidence_store import EvidenceStore
    from workflow.roadmap.definition import Roadmap

app = typer.Typer(help="Документы-основания, приложенные к переходам.", no_args_is_help=True)

_HEX = re.compile(r"[0-9a-f]{4,64}")


def read_evidence_files(values: list[str], roadmap: Roadmap, st: CliState) -> list[EvidenceFile]:
    """``--evidence-file KIND=PATH`` values → the files read and judged, before anything
    is written; the kind must be one the roadmap declares.

    Raises:
        InputError: the value is not ``KIND=PATH``, the kind is unknown, or the file is
            refused (`workflow.engine.evidence.read_file`), naming the argument.
    """
    from workflow.engine.evidence import Limits, read_file
    from workflow.errors import InputError

    kinds = {k.id: k.name for k in roadmap.evidence_kinds}
    listed = "Виды: " + "; ".join(f"{kind} — {name}" for kind, name in kinds.items()) + "."
    limits = Limits.of(st.settings)
    files: list[EvidenceFile] = []
    for value in values:
        argument = f"--evidence-file «{value}»"
        kind, sep, path = value.partition("=")
        kind = kind.strip()
        if not sep or not kind or not path.strip():
            raise InputError(f"{argument}: укажите файл как ВИД=ПУТЬ.", hint=listed)
        if kind not in kinds:
            raise InputError(f"{argument}: неизвестный вид документа «{kind}».", hint=listed)
        files.append(read_file(kind, path, limits=limits, argument=argument))
    return files


def evidence_store(st: CliState) -> EvidenceStore:
    """The store of this database (`workflow.engine.evidence_store.store_for`)."""
    from workflow.engine.evidence_store import store_for

    return store_for(st.settings, st.db_url)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} Б"
    for unit, scale in (("КБ", 1024), ("МБ", 1024 * 1024)):
        if size < scale * 1024 or unit == "МБ":
            return f"{size / scale:.1f}".replace(".", ",") + f" {unit}"
    raise AssertionError  # unreachable


def _subject(item: Listed, roadmap: Roadmap) -> str:
    if item.entity_kind == "center":
        return f"центр {item.entity_key}"
    measure, _, period = item.entity_key.partition("/")
    return f"мероприятие {measure}, {period} (цикл {item.entity_id})"


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    center: Annotated[
        str | None, typer.Option("--center", help="Только документы этого центра (код).")
    ] = None,
    cycle: Annotated[
        int | None,
        typer.Option("--cycle", help="Только документы этого цикла (номер из tochka cycles list)."),
    ] = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Документы, приложенные к переходам: дата, центр или мероприятие, вид, файл,
    размер, начало SHA-256 (для tochka evidence get)."""
    from base import db
    from workflow.engine import centers, cycles, evidence
    from workflow.errors import InputError

    if center is not None and cycle is not None:
        raise InputError(
            "--center и --cycle вместе не указываются.",
            hint="Документы центра — --center КОД, документы цикла — --cycle НОМЕР.",
        )
    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        if center is not None:
            centers.get_center(conn, stored.id, center)  # an unknown code is named
        if cycle is not None:
            cycles.get_cycle(conn, stored.id, cycle)
        found = evidence.listed(conn, stored.id, center=center, cycle=cycle)
    if st.json:
        print_json([item.as_json() for item in found])
        return
    from workflow.cli.listing import Column, Fit, print_table

    definition = stored.definition
    kinds = {k.id: k.name for k in definition.evidence_kinds}
    print_table(
        f"Документы: {len(found)}",
        (
            Column("дата"),
            Column("центр/мероприятие", Fit.WRAP),
            Column("вид", Fit.WRAP),
            Column("имя файла", Fit.WRAP),
            Column("размер", right=True),
            Column("sha256"),
        ),
        [
            (
                f"{item.effective_date:%d.%m.%Y}",
                _subject(item, definition),
                kinds.get(item.file.kind, item.file.kind),
                item.file.name,
                _size(item.file.size),
                item.file.sha256[:12],
            )
            for item in found
        ],
        width=st.width,
    )


@app.command("get")
@handle_errors
def get(
    ctx: typer.Context,
    sha256: Annotated[
        str,
        typer.Argument(
            metavar="ХЕШ",
            help="SHA-256 документа или его начало (не короче 4 знаков), из «tochka evidence "
            "list».",
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Куда записать файл.")],
    force: Annotated[bool, typer.Option("--force", help="Заменить существующий файл.")] = False,
    roadmap: RoadmapCode = None,
) -> None:
    """Записать документ в файл (его содержимое проверяется по SHA-256)."""
    import hashlib

    from base import db
    from workflow.engine import evidence
    from workflow.errors import EvidenceBroken, InputError, NotFound

    prefix = sha256.strip().lower()
    if not _HEX.fullmatch(prefix):
        raise InputError(
            f"HASH «{sha256}»: нужен SHA-256 — от 4 до 64 шестнадцатеричных знаков (0-9, a-f).",
            hint="Хеши документов: tochka evidence list.",
        )
    if output.is_dir():
        raise InputError(f"-o {output}: это папка; укажите имя файла.")
    if output.exists() and not force:
        raise InputError(
            f"-o {output}: файл уже есть, не заменён.",
            hint="Чтобы заменить его, добавьте --force.",
        )
    if not output.parent.is_dir():
        raise InputError(f"-o {output}: папки {output.parent} нет.")
    st = state(ctx)
    store = evidence_store(st)
    with db.read(st.engine()) as conn:
        matches: dict[str, evidence.Listed] = {}
        for stored in st.roadmaps(roadmap):
            for item in evidence.listed(conn, stored.id):
                if item.file.sha256.startswith(prefix):
                    matches.setdefault(item.file.sha256, item)
        if not matches:
            raise NotFound(
                f"Документа с SHA-256, начинающимся с «{prefix}», в журнале нет.",
                hint="Хеши документов: tochka evidence list.",
            )
        if len(matches) > 1:
            shown = "; ".join(f"{h[:16]}… «{i.file.name}»" for h, i in list(matches.items())[:10])
            raise InputError(
                f"HASH «{prefix}»: под это начало подходят документы ({len(matches)}): {shown}.",
                hint="Укажите больше знаков хеша.",
            )
        ((full, item),) = matches.items()
        content = store.read(conn, full)
    label = f"файл «{item.file.name}» (sha256 {full[:12]}…)"
    if content is None:
        raise EvidenceBroken(
            problems=[f"{label}: нет в хранилище {store.where}"], where=store.where
        )
    actual = hashlib.sha256(content).hexdigest()
    if actual != full:
        raise EvidenceBroken(
            problems=[f"{label}: содержимое изменено — его SHA-256 теперь {actual[:12]}…"],
            where=store.where,
        )
    _write_file(output, content)
    if st.json:
        print_json(
            {"sha256": full, "name": item.file.name, "size": len(content), "output": str(output)}
        )
        return
    done(f"Записан {output}: «{item.file.name}», {_size(len(content))}, SHA-256 {full}.")


def _write_file(path: Path, content: bytes) -> None:
    """Write beside the target, then rename: an interrupted write leaves no half file."""
    import contextlib
    import os
    import tempfile

    from base.errors import os_reason
    from workflow.errors import InputError

    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise InputError(f"-o {path}: файл не записан: {os_reason(exc)}.") from None


def verify_stored(st: CliState, roadmap: str | None) -> str | None:
    """``audit verify``: re-hash the documents the events record.

    Returns:
        A line on what was checked, for the text output (None in JSON, whose shape is
        the chains' list, and when no event records a file).

    Raises:
        EvidenceBroken: a file missing or altered.
    """
    from base import db
    from notifications.russian import plural
    from workflow.engine import evidence

    store = evidence_store(st)
    with db.read(st.engine()) as conn:
        checked = evidence.verify_files(
            conn, [(s.id, s.definition.code) for s in st.roadmaps(roadmap)], store
        )
    if st.json or not checked.references:
        return None
    line = (
        f"Документы-основания: {plural(checked.files, 'файл', 'файла', 'файлов')} "
        f"({plural(checked.references, 'ссылка', 'ссылки', 'ссылок')} в журнале) — "
        "содержимое совпадает с SHA-256."
    )
    if checked.unreferenced:
        line += (
            f" В хранилище ещё {plural(checked.unreferenced, 'файл', 'файла', 'файлов')} без "
            "записи в журнале (след прерванной записи; не ошибка)."
        )
    return line
