"""Municipal education authorities: whom a center's stage reminders also go to.

Issue 3: "a center stage reminds the school and its municipality". The municipality is
the name the centers file gives (``municipality``); its address comes from a contacts
file that `tochka municipalities import` reads, all or nothing:

    municipality,email,recipient
    Шуйский муниципальный район,uo@shuya.example.org,Управление образования Шуйского района

Headers may be Russian («Муниципальное образование»/«Муниципалитет», «Email»/«Электронная
почта», «Получатель»/«Орган управления образованием»); ``recipient`` is optional (the
letter then addresses the municipality by name). Every name must be one the roadmap's
centers use, written the same way (a typo would otherwise silently remind nobody); a
row replaces the contact of its municipality, others stay. The change is recorded in the
audit trail. Encodings, delimiters and workbooks are those of the centers file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from base import db
from base.addresses import is_valid_email
from base.clock import Clock, local_date, system_clock
from notifications.values import Recipient
from workflow.engine import audit
from workflow.engine.access import Action, as_actor, authorize_action, refusals_recorded
from workflow.errors import ImportFileError, Problem
from workflow.imports.tablefile import (
    csv_rows,
    is_filled,
    normalise_header,
    opening,
    table_suffix,
    visible,
    xlsx_rows,
)
from workflow.storage.tables import CENTER, CONTACT

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from notifications.values import Recipient
    from workflow.engine.access import Actor
    from workflow.roadmap.store import StoredRoadmap

__all__ = ["ContactRow", "contacts", "import_contacts", "listing", "read_contacts_file"]

_ALIASES: dict[str, str] = {
    "municipality": "municipality",
    "муниципальное образование": "municipality",
    "муниципалитет": "municipality",
    "email": "email",
    "e-mail": "email",
    "e mail": "email",
    "электронная почта": "email",
    "эл. почта": "email",
    "адрес электронной почты": "email",
    "recipient": "recipient",
    "получатель": "recipient",
    "орган управления образованием": "recipient",
    "наименование органа": "recipient",
}
_RUSSIAN = {
    "municipality": "Муниципальное образование",
    "email": "Email",
    "recipient": "Получатель",
}
_MAX_RECIPIENT = 200


@dataclass(frozen=True, kw_only=True)
class ContactRow:
    """One validated row of a contacts file (``line`` is its line in the file)."""

    municipality: str
    email: str
    recipient: str
    line: int
    column: int = 1


def read_contacts_file(path: str | Path) -> list[ContactRow]:
    """Read and check a contacts file; every problem at once, with line and column.

    Raises:
        ImportFileError: the file cannot be read, or a row or the header is wrong.
    """
    filename = str(path)
    suffix = table_suffix(filename)
    with opening(filename):
        if suffix == ".csv":
            _, rows = csv_rows(Path(path).read_bytes(), filename, headers=_ALIASES)
        else:
            _, rows = xlsx_rows(Path(path), filename)
    problems: list[Problem] = []
    result: list[ContactRow] = []
    try:
        header = next((row for row in rows if is_filled(row[1])), None)
        if header is None:
            raise ImportFileError(
                [Problem(file=filename, message="файл пуст: нет ни одной строки")]
            )
        header_line, cells = header
        columns: dict[str, int] = {}
        for index, raw in enumerate(cells):
            written = raw.strip()
            if not written:
                continue
            key = _ALIASES.get(normalise_header(written))
            if key is None:
                problems.append(
                    Problem(
                        file=filename,
                        line=header_line,
                        column=index + 1,
                        field=written,
                        message=f"неизвестный столбец «{written}»: ожидаются "
                        "Муниципальное образование, Email и (необязательно) Получатель",
                    )
                )
            elif key in columns:
                problems.append(
                    Problem(
                        file=filename,
                        line=header_line,
                        column=index + 1,
                        field=written,
                        message=f"столбец «{written}» повторяет столбец {columns[key] + 1}",
                    )
                )
            else:
                columns[key] = index
        missing = [_RUSSIAN[k] for k in ("municipality", "email") if k not in columns]
        if missing:
            problems.append(
                Problem(
                    file=filename,
                    line=header_line,
                    message=f"в заголовке нет столбцов: {', '.join(missing)}",
                )
            )
        if problems:
            raise ImportFileError(problems)
        seen: dict[str, int] = {}
        for line, row in rows:
            if not is_filled(row):
                continue

            def cell(key: str, row: list[str] = row) -> str:
                index = columns.get(key)
                return row[index].strip() if index is not None and index < len(row) else ""

            def problem(key: str, message: str, *, line: int = line) -> None:
                problems.append(
                    Problem(
                        file=filename,
                        line=line,
                        column=columns[key] + 1,
                        field=_RUSSIAN[key],
                        message=message,
                    )
                )

            municipality, email, recipient = cell("municipality"), cell("email"), cell("recipient")
            if not municipality:
                problem("municipality", "не указано муниципальное образование")
            elif municipality.casefold() in seen:
                problem(
                    "municipality",
                    f"«{municipality}» уже есть в строке {seen[municipality.casefold()]}",
                )
            else:
                seen[municipality.casefold()] = line
            if not email:
                problem("email", "не указан адрес электронной почты")
            elif not is_valid_email(email):
                problem("email", f"«{visible(email)}» — не адрес электронной почты")
            if len(recipient) > _MAX_RECIPIENT or any(ord(c) < 32 for c in recipient):
                problem(
                    "recipient",
                    f"получатель длиннее {_MAX_RECIPIENT} знаков или содержит перевод строки",
                )
            result.append(
                ContactRow(
                    municipality=municipality,
                    email=email,
                    recipient=recipient or municipality,
                    line=line,
                    column=columns["municipality"] + 1,
                )
            )
        if not result and not problems:
            problems.append(Problem(file=filename, message="в файле нет ни одной строки данных"))
        if problems:
            raise ImportFileError(problems)
        return result
    finally:
        rows.close()


def import_contacts(
    engine: Engine,
    stored: StoredRoadmap,
    rows: Sequence[ContactRow],
    *,
    filename: str,
    actor: Actor | str,
    now: datetime,
    clock: Clock = system_clock,
) -> tuple[int, int]:
    """Store the contacts of ``rows`` in one transaction; (added, changed).

    Raises:
        AccessDenied: the actor is not a coordinator (the refusal is recorded).
        ImportFileError: a municipality no center of the roadmap names; nothing stored.
    """

    table = CONTACT
    by = as_actor(actor)
    recorded_at = clock()
    effective = local_date(now, stored.definition.timezone)
    with (
        refusals_recorded(
            engine,
            stored.id,
            timezone=stored.definition.timezone,
            actor=by,
            now=now,
            clock=clock,
        ),
        db.write(engine) as conn,
    ):
        authorize_action(conn, stored.id, by, Action.MANAGE_CONTACTS, target=filename)
        known = set(
            conn.execute(
                sa.select(CENTER.c.municipality).distinct().where(CENTER.c.roadmap_id == stored.id)
            ).scalars()
        )
        unknown = [r for r in rows if r.municipality not in known]
        if unknown:
            near = {k.casefold(): k for k in known}
            raise ImportFileError(
                [
                    Problem(
                        file=filename,
                        line=r.line,
                        column=r.column,
                        field=_RUSSIAN["municipality"],
                        message=f"муниципальное образование «{r.municipality}» не встречается "
                        "среди центров дорожной карты"
                        + (
                            f" (в списке центров: «{near[r.municipality.casefold()]}»)"
                            if r.municipality.casefold() in near
                            else ""
                        ),
                    )
                    for r in unknown
                ]
            )
        existing = {
            row.name: row
            for row in conn.execute(
                sa.select(table.c.id, table.c.name, table.c.email, table.c.recipient).where(
                    table.c.roadmap_id == stored.id
                )
            )
        }
        added = changed = 0
        events: list[audit.NewEvent] = []
        for r in rows:
            before = existing.get(r.municipality)
            if before is None:
                inserted = conn.execute(
                    table.insert().values(
                        roadmap_id=stored.id,
                        name=r.municipality,
                        email=r.email,
                        recipient=r.recipient,
                        updated_at=recorded_at,
                    )
                ).inserted_primary_key
                assert inserted is not None
                contact_id = inserted[0]
                added += 1
            elif (before.email, before.recipient) != (r.email, r.recipient):
                contact_id = before.id
                conn.execute(
                    table.update()
                    .where(table.c.id == before.id)
                    .values(email=r.email, recipient=r.recipient, updated_at=recorded_at)
                )
                changed += 1
            else:
                continue
            events.append(
                audit.NewEvent(
                    entity_kind="municipality",
                    entity_id=int(contact_id),
                    entity_key=r.municipality[:96],
                    trigger="set_contact",
                    from_state=None if before is None else "set",
                    to_state="set",
                    actor=by.login,
                    on_behalf_of=by.on_behalf_of,
                    recorded_at=recorded_at,
                    effective_date=effective,
                    comment=(
                        (f"{before.email} → " if before is not None else "")
                        + f"{r.email}; получатель: {r.recipient}; {filename}, строка {r.line}"
                    ),
                )
            )
        if events:
            audit.append(conn, stored.id, events)
    return added, changed


def contacts(conn: Connection, roadmap_id: int) -> Mapping[str, Recipient]:
    """Municipality name → its recipient, for the reminders."""

    table = CONTACT
    return {
        row.name: Recipient(email=row.email, name=row.recipient)
        for row in conn.execute(
            sa.select(table.c.name, table.c.email, table.c.recipient).where(
                table.c.roadmap_id == roadmap_id
            )
        )
    }


def listing(conn: Connection, roadmap_id: int) -> list[dict[str, Any]]:
    """Every municipality of the roadmap's centers and every contact, by name."""

    table = CONTACT
    centers: dict[str, int] = dict(
        conn.execute(
            sa.select(CENTER.c.municipality, sa.func.count())
            .where(CENTER.c.roadmap_id == roadmap_id)
            .group_by(CENTER.c.municipality)
        ).all()
    )
    stored = {
        row.name: row
        for row in conn.execute(
            sa.select(table.c.name, table.c.email, table.c.recipient).where(
                table.c.roadmap_id == roadmap_id
            )
        )
    }
    return [
        {
            "municipality": name,
            "centers": int(centers.get(name, 0)),
            "email": stored[name].email if name in stored else None,
            "recipient": stored[name].recipient if name in stored else None,
        }
        for name in sorted(set(centers) | set(stored))
    ]
