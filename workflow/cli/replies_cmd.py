"""``tochka replies``: the messages that came back — import, list, show, and the
coordinator's decision on a reply: accept (the deadline's transition with the attached
files as evidence) or reject (the reason sent to the sender)."""

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
SUBMISSION_TITLES = {
    "pending": "ждёт решения координатора",
    "accepted": "принят координатором",
    "rejected": "отклонён координатором",
}
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


def _deadlines_text(deadlines: list[Any]) -> str:
    """The deadlines a reply may be for, as the table shows them."""
    if not deadlines:
        return "нет (письмо без сроков)"
    return "; ".join(d.title for d in deadlines)


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
        Path,
        typer.Argument(
            metavar="ПУТЬ", help="Файл письма .eml, папка с файлами .eml или файл mbox."
        ),
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Прочитать сохранённые письма (для ведомств без IMAP)."""
    from workflow.engine.access import Action
    from workflow.inbound.files import import_path

    st = state(ctx)
    authorize(st, st.roadmap_ids(roadmap), Action.MANAGE_OUTBOX, str(path), any_of=True)
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
            "(quarantine), автоматическое (auto), не принято (refused); или только ответы "
            "с этим решением: ждёт решения координатора (pending), принят координатором "
            "(accepted), отклонён координатором (rejected).",
        ),
    ] = None,
) -> None:
    """Входящие письма, новые последними; у ответа — срок, к которому он относится."""
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
        decided = pick(state_name, SUBMISSION_TITLES)
        if found is None and decided is None:
            raise InputError(
                f"Неизвестное состояние письма «{state_name}».",
                hint="Состояния: "
                + ", ".join(f"{t} ({s})" for s, t in STATE_TITLES.items())
                + "; решения по ответам: "
                + ", ".join(f"{t} ({s})" for s, t in SUBMISSION_TITLES.items())
                + ".",
            )
        if found is not None:
            query = query.where(INBOUND.c.state == found)
        else:
            query = query.where(INBOUND.c.submission == decided)
    from workflow.inbound.submissions import deadlines_of

    with db.read(st.engine()) as conn:
        rows = conn.execute(query).all()
        deadlines = deadlines_of(
            conn, sorted({r.outbox_id for r in rows if r.outbox_id is not None})
        )
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
                    "deadlines": [
                        {"key": d.key, "title": d.title}
                        for d in deadlines.get(r.outbox_id, [])
                        if r.state == "matched"
                    ],
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
            Column("срок", Fit.WRAP),
            Column("почему / решение", Fit.WRAP),
        ),
        [
            (
                str(r.id),
                _state_title(r)
                + (f", письмо №\u00a0{r.outbox_id}" if r.state == "matched" else ""),
                r.from_addr or r.from_header,
                r.subject,
                _deadlines_text(deadlines.get(r.outbox_id, [])) if r.state == "matched" else "",
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
    number: Annotated[
        int, typer.Argument(metavar="НОМЕР", help="Номер письма (из «tochka replies list»).")
    ],
) -> None:
    """Письмо: от кого, на что отвечает, текст без цитаты, вложения с размером и SHA-256."""
    import sqlalchemy as sa

    from base import db
    from notifications.outbox import OUTBOX
    from workflow.errors import InputError
    from workflow.inbound import submissions
    from workflow.roadmap.store import resolve_id
    from workflow.storage.inbound import INBOUND

    st = state(ctx)
    states: list[Any] = []
    decided = None
    who = ""
    with db.read(st.engine()) as conn:
        row = conn.execute(sa.select(INBOUND).where(INBOUND.c.id == number)).first()
        letter = None
        if row is not None and row.outbox_id is not None:
            letter = conn.execute(
                sa.select(OUTBOX.c.id, OUTBOX.c.subject, OUTBOX.c.recipient).where(
                    OUTBOX.c.id == row.outbox_id
                )
            ).first()
            found = submissions.deadlines_of(conn, [row.outbox_id])[row.outbox_id]
            if found and row.state == "matched":
                states = submissions.deadline_states(
                    conn, resolve_id(conn, found[0].roadmap_code), found
                )
        if row is not None:
            decided = submissions.decision_of(conn, row.id)
            if decided is not None:
                who = submissions.who_decided(conn, decided)
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
                "deadlines": [
                    {
                        "key": d.deadline.key,
                        "title": d.deadline.title,
                        "closed": d.closed,
                        "not_yet": d.not_yet,
                    }
                    for d in states
                ],
                "decision": None
                if decided is None
                else {
                    "decision": decided.trigger,
                    "by": decided.actor,
                    "on_behalf_of": decided.on_behalf_of,
                    "date": decided.effective_date.isoformat(),
                    "comment": decided.comment,
                    "event": decided.seq,
                },
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
    if states:
        lines.append("  срок:" if len(states) == 1 else f"  сроки письма ({len(states)}):")
        for d in states:
            status = f" — закрыт: {d.closed}" if d.closed else ""
            status = status or (f" — пока нельзя: {d.not_yet}" if d.not_yet else "")
            key = f" (--for {d.deadline.key})" if len(states) > 1 else ""
            lines.append(f"    {d.deadline.title}{key}{status}")
    elif row.state == "matched":
        lines.append("  срок: нет — письмо, на которое отвечает ответ, не напоминало о сроке")
    if row.submission:
        lines.append(f"  решение: {SUBMISSION_TITLES.get(row.submission, row.submission)}")
    if decided is not None:
        lines.append(f"    {decided.effective_date:%d.%m.%Y}, {who}, событие №\u00a0{decided.seq}")
        if decided.comment:
            label = "причина" if decided.trigger == "reject" else "что сделано"
            lines.append(f"    {label}: {decided.comment}")
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


For = Annotated[
    str | None,
    typer.Option(
        "--for",
        help="Срок, к которому относится ответ, когда письмо напоминало о нескольких: "
        "КОД_ЦЕНТРА:этап (S1:equipped) или cycle:НОМЕР — как в «tochka replies show».",
    ),
]


@app.command("accept")
@handle_errors
def accept(
    ctx: typer.Context,
    number: Annotated[
        int, typer.Argument(metavar="НОМЕР", help="Номер ответа (из «tochka replies list»).")
    ],
    for_: For = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Вид документа вложений: ВИД (для всех) или «ИМЯ_ФАЙЛА=ВИД»; по умолчанию — "
            "единственный вид документа мероприятия.",
        ),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option("--skip", help="Не прикладывать это вложение (имя файла); можно несколько."),
    ] = None,
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            "--evidence",
            help="Ещё документ текстом: ВИД=ТЕКСТ (например, ссылка на публикацию); можно "
            "несколько.",
        ),
    ] = None,
) -> None:
    """Принять ответ: выполнить переход его срока (следующий этап центра или выполнение
    цикла) с вложениями как документами-основаниями и сообщить отправителю."""
    from base import db
    from workflow.cli.evidence_cmd import evidence_store
    from workflow.cli.options import order_documents
    from workflow.engine.evidence import Limits
    from workflow.errors import InputError
    from workflow.inbound import submissions
    from workflow.inbound.forms import kept_form
    from workflow.mailer import make_renderer
    from workflow.schedule.notices import center_notice_hook

    st = state(ctx)
    with db.read(st.engine()) as conn:
        item = submissions.load(conn, number)
        submissions.check_decidable(conn, item, "принять")
        form = kept_form(conn, item.id)
        if form is None:
            found = submissions.deadlines_for(conn, item)
            code = found[0].roadmap_code if found else None
        else:
            code = form.roadmap_code
        from workflow.roadmap.store import resolve

        stored = resolve(conn, code) if code else None
        chosen = (
            submissions.choose(conn, stored.id if stored else 0, item, found, for_)
            if form is None
            else None
        )
    assert stored is not None  # choose refuses a letter without deadlines
    definition = stored.definition
    if form is not None:
        given = [
            o
            for o, v in (
                ("--for", for_),
                ("--kind", kind),
                ("--skip", skip),
                ("--evidence", evidence),
            )
            if v
        ]
        if given:
            raise InputError(
                f"Ответ №\u00a0{number} возвращает форму мониторинга центра "
                f"{form.center_code}: её значения записываются как показатели, "
                f"{', '.join(given)} к ней не относятся.",
                hint=f"Примите ответ без них: tochka replies accept {number}.",
            )
        _accept_form(st, definition, stored.id, item)
        return
    assert chosen is not None
    if chosen.not_yet is not None:
        raise InputError(
            f"Ответ №\u00a0{number} — на {chosen.deadline.title}: {chosen.not_yet}.",
            hint="Сначала отметьте предыдущий этап (tochka centers fire) или примите ответ "
            "на его срок.",
        )
    texts = order_documents(evidence or [], definition)
    files = submissions.attached_files(
        item,
        definition,
        chosen.deadline,
        limits=Limits.of(st.settings),
        kinds=kind or [],
        skip=skip or [],
    )
    if not files and not texts:
        raise InputError(
            f"Ответ №\u00a0{number}: в нём нет принимаемых вложений — нечем подтвердить срок.",
            hint="Укажите документ текстом (--evidence ВИД=ТЕКСТ, например ссылку из письма) "
            "или отклоните ответ (tochka replies reject).",
        )
    hook = (
        center_notice_hook(definition, make_renderer(st.settings))
        if chosen.deadline.kind == "center"
        else None
    )
    accepted = submissions.accept(
        st.engine(),
        definition,
        stored.id,
        item,
        chosen,
        files,
        actor=st.actor_ref,
        now=st.now(definition.timezone),
        texts=texts,
        evidence_store=evidence_store(st),
        notice_hook=hook,
    )
    if isinstance(accepted, submissions.FormAccepted):  # a form came back meanwhile
        _form_outcome(st, item, accepted)
        return
    last = accepted.results[-1]
    if st.json:
        print_json(
            {
                "id": number,
                "submission": "accepted",
                "deadline": accepted.deadline.key,
                "events": [r.seq for r in accepted.results],
                "decision_event": accepted.decision_seq,
                "state": last.to_state,
                "files": [f.record() for f in accepted.files],
            }
        )
        return
    from workflow.cli.names import state_title

    for f in accepted.files:
        typer.echo(f"  документ «{f.name}», SHA-256 {f.sha256}")
    done(
        f"Ответ №\u00a0{number} принят: {accepted.deadline.title} — "
        f"{state_title(last.entity_kind, last.from_state)} → "
        f"{state_title(last.entity_kind, last.to_state)} (событие №\u00a0{last.seq}); "
        f"отправителю {item.from_addr} поставлено письмо."
    )


def _accept_form(st: Any, definition: Any, roadmap_id: int, item: Any) -> None:
    """``replies accept`` of a returned monitoring form: the values recorded (or the
    errors answered), the school answered by the form's letter; no transition."""
    from workflow.cli.evidence_cmd import evidence_store
    from workflow.inbound import submissions

    accepted = submissions.accept(
        st.engine(),
        definition,
        roadmap_id,
        item,
        None,
        (),
        actor=st.actor_ref,
        now=st.now(definition.timezone),
        evidence_store=evidence_store(st),
    )
    assert isinstance(accepted, submissions.FormAccepted)  # kept_form found the form
    _form_outcome(st, item, accepted)


def _form_outcome(st: Any, item: Any, accepted: Any) -> None:
    """What accepting a form did: the values recorded, or (exit code 1, the decision
    committed) the errors the form no longer passes, which the school was sent."""
    from workflow.cli.context import fail

    result = accepted.result
    what = (
        f"форма мониторинга центра {accepted.center_code} «{accepted.center_name}» "
        f"за {accepted.period_title}"
    )
    if result.errors:
        listed = "; ".join(result.errors)
        raise fail(
            f"Ответ №\u00a0{item.id}: {what} не принята — она больше не проходит проверку "
            f"({listed}); значения не записаны, ответ отклонён (событие "
            f"№\u00a0{accepted.decision_seq}), школе {item.from_addr} поставлено письмо с "
            "ошибками.",
            hint="Школа пришлёт исправленную форму ответом на то же письмо; подробности: "
            f"tochka replies show {item.id}.",
        )
    if st.json:
        print_json(
            {
                "id": item.id,
                "submission": "accepted",
                "form": {
                    "center": accepted.center_code,
                    "period": accepted.period_title,
                    "recorded": result.recorded,
                },
                "decision_event": accepted.decision_seq,
            }
        )
        return
    done(
        f"Ответ №\u00a0{item.id} принят: {what} — записано значений {result.recorded} "
        f"(событие №\u00a0{accepted.decision_seq}); школе {item.from_addr} поставлено письмо."
    )


@app.command("reject")
@handle_errors
def reject(
    ctx: typer.Context,
    number: Annotated[
        int, typer.Argument(metavar="НОМЕР", help="Номер ответа (из «tochka replies list»).")
    ],
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Причина отказа (обязательна): её получит отправитель."),
    ] = None,
    for_: For = None,
) -> None:
    """Отклонить ответ с причиной: отправитель получит письмо с ней, срок остаётся открытым."""
    from base import db
    from workflow.errors import InputError
    from workflow.inbound import submissions
    from workflow.roadmap.store import resolve

    if reason is None or not reason.strip():
        raise InputError(
            "--reason: укажите причину отказа — её получит отправитель.",
            hint="Например: --reason «нет подписи руководителя на акте».",
        )
    st = state(ctx)
    with db.read(st.engine()) as conn:
        item = submissions.load(conn, number)
        submissions.check_decidable(conn, item, "отклонить")
        found = submissions.deadlines_for(conn, item)
        stored = resolve(conn, found[0].roadmap_code if found else None)
        states = submissions.deadline_states(conn, stored.id, found)
        if for_ is not None:
            states = [submissions.choose(conn, stored.id, item, found, for_)]
    definition = stored.definition
    seq = submissions.reject(
        st.engine(),
        definition,
        stored.id,
        item,
        states,
        reason,
        actor=st.actor_ref,
        now=st.now(definition.timezone),
    )
    if st.json:
        print_json({"id": number, "submission": "rejected", "decision_event": seq})
        return
    done(
        f"Ответ №\u00a0{number} отклонён (событие №\u00a0{seq}); отправителю {item.from_addr} "
        "поставлено письмо с причиной."
    )
