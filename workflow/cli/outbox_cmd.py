"""``tochka outbox``: list, retry, send; the addresses that bounce (bounces, unflag)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from workflow.cli.context import authorize, done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode

app = typer.Typer(help="Исходящие письма.", no_args_is_help=True)

_MOSCOW = ZoneInfo("Europe/Moscow")


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Статус: название (не доставлено) или id: pending, sending, sent, failed, dead.",
        ),
    ] = None,
) -> None:
    """Письма в очереди."""
    from base import db
    from notifications.outbox import list_outbox
    from workflow.cli.names import OUTBOX_STATUS_TITLES, outbox_status_title, pick
    from workflow.errors import InputError

    st = state(ctx)
    if status is not None:
        found = pick(status, OUTBOX_STATUS_TITLES)
        if found is None:
            raise InputError(
                f"Неизвестный статус письма «{status}».",
                hint="Статусы: "
                + ", ".join(f"{t} ({s})" for s, t in OUTBOX_STATUS_TITLES.items())
                + ".",
            )
        status = found
    with db.read(st.engine()) as conn:
        entries = list_outbox(conn, status)
    if st.json:
        print_json(
            [
                {
                    "id": e.id,
                    "key": e.key,
                    "kind": e.kind,
                    "recipient": e.recipient,
                    "subject": e.subject,
                    "status": e.status.value,
                    "attempts": e.attempts,
                    "next_attempt_at": e.next_attempt_at.isoformat(),
                    "sent_at": e.sent_at.isoformat() if e.sent_at else None,
                    "queued_at": e.queued_at.isoformat() if e.queued_at else None,
                    "message_id": e.message_id,
                    "last_error": e.last_error,
                }
                for e in entries
            ]
        )
        return
    from workflow.cli.listing import Column, Fit, print_table

    now = st.now()
    print_table(
        f"Письма: {len(entries)}" + (" (время московское)" if entries else ""),
        (
            Column("№", right=True),
            # The attempts made are said in the status: one column fewer keeps the table
            # within 80 columns with a school's address.
            Column("статус", Fit.WRAP),
            # When the next attempt is due, after the count; date and time wrap onto two
            # lines. Short headings: with a school's address the table still fits 80.
            Column("когда", Fit.WRAP),
            Column("кому"),
            Column("тема", Fit.CUT),
            Column("ошибка", Fit.WRAP),
        ),
        [
            (
                str(e.id),
                outbox_status_title(e.status.value)
                + (f" (попыток:\u00a0{e.attempts})" if e.attempts else ""),
                _next_attempt(e, now),
                e.recipient,
                e.subject,
                e.last_error or "",
            )
            for e in entries
        ],
        width=st.width,
    )


def _next_attempt(entry: Any, now: Any) -> str:
    """When the deliverer takes the letter next, in Moscow time (as ``daemon status``):
    «сейчас» when it is due, the day and time (the year too when it is not this year's);
    empty for a letter that is sent, given up, or being sent now."""
    from zoneinfo import ZoneInfo

    from notifications.outbox import OutboxStatus

    if entry.status not in (OutboxStatus.PENDING, OutboxStatus.FAILED):
        return ""
    if entry.next_attempt_at <= now:
        return "сейчас"
    zone = ZoneInfo("Europe/Moscow")
    at = entry.next_attempt_at.astimezone(zone)
    day = f"{at:%d.%m}" if at.year == now.astimezone(zone).year else f"{at:%d.%m.%Y}"
    return f"{day} {at:%H:%M}"


@app.command("retry")
@handle_errors
def retry(
    ctx: typer.Context,
    outbox_id: Annotated[
        int, typer.Argument(metavar="НОМЕР", help="Номер письма (из «tochka outbox list»).")
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Поставить неотправленное письмо в очередь снова."""
    from base import db
    from notifications.outbox import retry as retry_row

    st = state(ctx)
    _require_coordinator(st, f"письмо {outbox_id}", roadmap)
    with db.write(st.engine()) as conn:
        entry = retry_row(conn, outbox_id, st.now())
    if st.json:
        print_json({"id": entry.id, "status": entry.status.value})
        return
    from workflow.cli.names import outbox_status_title

    done(f"Письмо {entry.id} снова в очереди ({outbox_status_title(entry.status.value)}).")


@app.command("send")
@handle_errors
def send(
    ctx: typer.Context,
    batch: Annotated[int, typer.Option("--batch", help="Сколько писем за раз.")] = 200,
    roadmap: RoadmapCode = None,
) -> None:
    """Отправить письма, срок которых наступил, сейчас."""
    from notifications.deliver import deliver_pending
    from workflow.errors import InputError
    from workflow.mailer import delivery_policy, make_transport

    if batch < 1:  # the loop below ends on a short batch: 0 would never end
        raise InputError(f"--batch: «{batch}» — нужно целое число писем не меньше 1.")
    st = state(ctx)
    _require_coordinator(st, "отправка писем", roadmap)
    settings = st.settings
    engine = st.engine()
    transport = make_transport(settings)
    policy = delivery_policy(settings)
    # Batch after batch over one SMTP connection, until a batch comes back short.
    report = deliver_pending(engine, transport, now=st.now(), batch=batch, **policy)
    totals = {"sent": report.sent, "retrying": report.retrying, "dead": report.dead}
    errors = report.errors
    if st.json:
        print_json({**totals, "transport_error": report.transport_error, "errors": errors})
    else:
        done(
            f"Отправлено: {totals['sent']}, будет повторено: {totals['retrying']}, "
            f"не доставлено: {totals['dead']}."
        )
        for line in errors:
            done(f"  {line}")
    if report.transport_error:
        from base.errors import TochkaError

        # The transport's error is a letter's («Письмо не отправлено: …»); here it is the
        # server's, said once.
        reason = report.transport_error.removeprefix("Письмо не отправлено: ")
        raise TochkaError(
            f"Почтовый сервер недоступен: {reason}",
            hint="Письма остались в очереди и будут отправлены при следующей попытке.",
        )


@app.command("bounces")
@handle_errors
def bounces(ctx: typer.Context) -> None:
    """Адреса, которые не принимают письма: с какого дня, сколько отказов, последняя
    причина (пока отметку не сняли)."""
    from base import db
    from workflow.engine.bounces import flags

    st = state(ctx)
    with db.read(st.engine()) as conn:
        found = flags(conn)
    if st.json:
        print_json([f.as_json() for f in found])
        return
    from workflow.cli.listing import Column, Fit, print_table

    print_table(
        f"Адреса, не принимающие письма: {len(found)}",
        (
            Column("адрес"),
            Column("с", right=True),
            Column("отказов", right=True),
            Column("письмо", right=True),
            Column("причина", Fit.WRAP),
        ),
        [
            (
                f.address,
                f"{f.since.astimezone(_MOSCOW):%d.%m.%Y}",
                str(f.bounces),
                "" if f.letter_id is None else str(f.letter_id),
                " ".join(p for p in (f.status, f.reason) if p) or "без пояснения",
            )
            for f in found
        ],
        width=st.width,
    )
    if found:
        done(
            "Исправьте адрес (tochka centers update КОД --email …, tochka municipalities "
            "import, файл дорожной карты) — отметка снимется сама; или снимите её: tochka "
            "outbox unflag АДРЕС --reason …"
        )


@app.command("unflag")
@handle_errors
def unflag(
    ctx: typer.Context,
    address: Annotated[
        str, typer.Argument(metavar="АДРЕС", help="Адрес (из «tochka outbox bounces»).")
    ],
    reason: Annotated[
        str,
        typer.Option("--reason", help="Почему адрес снова принимает письма (в журнал)."),
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Снять отметку «адрес не принимает письма» (записывается в журнал)."""
    from workflow.engine.bounces import unflag_address

    st = state(ctx)
    stored = st.roadmap(roadmap)
    flag = unflag_address(
        st.engine(),
        stored,
        address,
        reason=reason,
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
    )
    if st.json:
        print_json({"unflagged": flag.as_json()})
        return
    done(
        f"Отметка снята: {flag.address} (отказов: {flag.bounces}, с "
        f"{flag.since.astimezone(_MOSCOW):%d.%m.%Y}). Новый отказ снова отметит адрес."
    )


def _require_coordinator(st: Any, target: str, roadmap: str | None) -> None:
    """The outbox serves every roadmap in the database: a coordinator of the roadmap
    named by ``--roadmap``, or of any roadmap, may send and retry (refusals recorded)."""
    from workflow.engine.access import Action

    authorize(st, st.roadmap_ids(roadmap), Action.MANAGE_OUTBOX, target, any_of=True)
