"""``tochka replies``: the messages that came back — import, list, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from workflow.cli.context import authorize, done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode

app = typer.Typer(help="Ответы на письма Точки: входящая почта.", no_args_is_help=True)

#: The states as people read them (`workflow.storage.inbound.InboundState`).
STATE_TITLES = {
    "matched": "ответ на письмо",
    "quarantine": "карантин",
    "auto": "автоматическое",
    "refused": "не принято",
}
SUBMISSION_TITLES = {"pending": "ждёт решения координатора"}
MATCHED_BY_TITLES = {
    "in-reply-to": "по заголовку In-Reply-To",
    "references": "по заголовку References",
    "token": "по метке в теме",
}


def _state_title(row: Any) -> str:
    title = str(STATE_TITLES.get(row.state, row.state))
    if row.state == "auto" and row.auto_kind:
        from workflow.inbound.record import AUTO_TITLES

        title += f" ({AUTO_TITLES.get(row.auto_kind, row.auto_kind)})"
    return title


def _size(size: int) -> str:
    if size < 1024:
        return f"{size}\u00a0Б"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f}".replace(".", ",") + "\u00a0КБ"
    return f"{size / 1024 / 1024:.1f}".replace(".", ",") + "\u00a0МБ"


@app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="Файл письма .eml, папка с файлами .eml или файл mbox.")
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Прочитать сохранённые письма (для ведомств без IMAP)."""
    from workflow.engine.access import Action
    from workflow.inbound.files import import_path

    st = state(ctx)
    authorize(st, st.roadmaps(roadmap), Action.MANAGE_OUTBOX, str(path), any_of=True)
    max_bytes = int(st.settings.inbound_max_mb * 1024 * 1024)
    report = import_path(st.engine(), path, max_bytes=max_bytes)
    if st.json:
        print_json(
            [
                {
                    "source": where,
                    "id": o.id,
                    "state": o.state.value if o.state else None,
                    "duplicate": o.duplicate,
                    "reason": o.reason,
                }
                for where, o in report.outcomes
            ]
        )
        return
    lines = []
    fresh = 0
    for where, outcome in report.outcomes:
        if outcome.duplicate:
            lines.append(f"{where}: уже записано (№\u00a0{outcome.id}), пропущено")
            continue
        fresh += 1
        title = STATE_TITLES.get(outcome.state.value if outcome.state else "", "")
        lines.append(
            f"{where}: №\u00a0{outcome.id} — {title}"
            + (f": {outcome.reason}" if outcome.reason else "")
        )
    for line in lines:
        typer.echo(line)
    done(f"Записано писем: {fresh} из {len(report.outcomes)}.")


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    state_name: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Только в этом состоянии: ответ на письмо (matched), карантин "
            "(quarantine), автоматическое (auto), не принято (refused).",
        ),
    ] = None,
) -> None:
    """Входящие письма, новые последними."""
    import sqlalchemy as sa

    from base import db
    from workflow.cli.names import pick
    from workflow.errors import InputError
    from workflow.storage.inbound import INBOUND

    st = state(ctx)
    query = sa.select(
        INBOUND.c.id,
        INBOUND.c.state,
        INBOUND.c.auto_kind,
        INBOUND.c.from_addr,
        INBOUND.c.from_header,
        INBOUND.c.subject,
        INBOUND.c.outbox_id,
        INBOUND.c.submission,
        INBOUND.c.reason,
        INBOUND.c.received_at,
    ).order_by(INBOUND.c.id)
    if state_name is not None:
        found = pick(state_name, STATE_TITLES)
        if found is None:
            raise InputError(
                f"Неизвестное состояние письма «{state_name}».",
                hint="Состояния: " + ", ".join(f"{t} ({s})" for s, t in STATE_TITLES.items()) + ".",
            )
        query = query.where(INBOUND.c.state == found)
    with db.read(st.engine()) as conn:
        rows = conn.execute(query).all()
    if st.json:
        print_json(
            [
                {
                    "id": r.id,
                    "state": r.state,
                    "auto_kind": r.auto_kind,
                    "from": r.from_addr,
                    "subject": r.subject,
                    "outbox_id": r.outbox_id,
                    "submission": r.submission,
                    "reason": r.reason,
                    "received_at": r.received_at.isoformat(),
                }
                for r in rows
            ]
        )
        return
    from workflow.cli.listing import Column, Fit, print_table

    print_table(
        f"Входящие письма: {len(rows)}",
        (
            Column("№", right=True),
            Column("состояние", Fit.WRAP),
            Column("от кого"),
            Column("тема", Fit.CUT),
            Column("почему", Fit.WRAP),
        ),
        [
            (
                str(r.id),
                _state_title(r)
                + (f", письмо №\u00a0{r.outbox_id}" if r.state == "matched" else ""),
                r.from_addr or r.from_header,
                r.subject,
                r.reason or SUBMISSION_TITLES.get(r.submission or "", ""),
            )
            for r in rows
        ],
        width=st.width,
    )


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(help="Номер письма (из «tochka replies list»).")],
) -> None:
    """Письмо: от кого, на что отвечает, текст без цитаты, вложения с размером и SHA-256."""
    import sqlalchemy as sa

    from base import db
    from notifications.outbox import OUTBOX
    from workflow.errors import InputError
    from workflow.storage.inbound import INBOUND

    st = state(ctx)
    with db.read(st.engine()) as conn:
        row = conn.execute(sa.select(INBOUND).where(INBOUND.c.id == number)).first()
        letter = None
        if row is not None and row.outbox_id is not None:
            letter = conn.execute(
                sa.select(OUTBOX.c.id, OUTBOX.c.subject, OUTBOX.c.recipient).where(
                    OUTBOX.c.id == row.outbox_id
                )
            ).first()
    if row is None:
        raise InputError(
            f"Входящего письма №\u00a0{number} нет.",
            hint="Номера писем — в «tochka replies list».",
        )
    if st.json:
        print_json(
            {
                "id": row.id,
                "state": row.state,
                "auto_kind": row.auto_kind,
                "reason": row.reason,
                "from": row.from_addr,
                "from_header": row.from_header,
                "subject": row.subject,
                "date": row.date_header,
                "message_id": row.message_id,
                "outbox_id": row.outbox_id,
                "matched_by": row.matched_by,
                "submission": row.submission,
                "text": row.text,
                "attachments": row.attachments,
                "notes": row.notes,
                "size": row.size,
                "sha256": row.sha256,
                "source": row.source,
            }
        )
        return
    lines = [
        f"Входящее письмо №\u00a0{row.id}: {_state_title(row)}",
        f"  от: {row.from_header or row.from_addr or 'не указано'}",
        f"  тема: {row.subject or 'без темы'}",
    ]
    if row.date_header:
        lines.append(f"  дата: {row.date_header}")
    lines.append(f"  размер: {_size(row.size)}, SHA-256 {row.sha256}")
    if letter is not None:
        how = MATCHED_BY_TITLES.get(row.matched_by or "", "")
        lines.append(
            f"  ответ на письмо №\u00a0{letter.id} для {letter.recipient} «{letter.subject}»"
            + (f" ({how})" if how else "")
        )
    if row.reason:
        lines.append(f"  почему: {row.reason}")
    if row.submission:
        lines.append(f"  решение: {SUBMISSION_TITLES.get(row.submission, row.submission)}")
    for note in row.notes or []:
        lines.append(f"  замечание: {note}")
    if row.attachments:
        lines.append(f"  вложения ({len(row.attachments)}):")
        for item in row.attachments:
            lines.append(
                f"    {item['name']} — {_size(int(item['size']))}, SHA-256 {item['sha256']}"
            )
    else:
        lines.append("  вложений нет")
    lines.append("")
    lines.append("Текст (без цитаты):" if row.text else "Текста нет.")
    if row.text:
        lines.extend(f"  {line}" for line in row.text.split("\n"))
    for line in lines:
        typer.echo(line)
