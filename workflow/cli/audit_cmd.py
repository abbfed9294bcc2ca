"""``tochka audit log``: the audit trail itself, filtered, newest last.

``audit verify`` lives with the other top-level commands (`workflow.cli.system_cmd`);
`register` adds ``log`` to the same ``audit`` group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from workflow.cli.context import handle_errors, print_json, state
from workflow.cli.options import RoadmapCode

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from workflow.engine.audit_log import LogEntry

DEFAULT_LIMIT = 50
MAX_LIMIT = 10_000
_KINDS = (
    "transition (переход), import (импорт), update (изменение), cycle (новый цикл), "
    "refusal (отказ), roadmap (дорожная карта), user (пользователь), "
    "municipality (муниципалитет)"
)


def _check_actor(conn: Connection, roadmap_id: int, actor: str) -> None:
    """Refuse an ``--actor`` that never acted in the roadmap, naming those who did (an
    unknown login would otherwise give an empty log, as if nobody had done anything)."""
    from workflow.engine.audit_log import actors
    from workflow.errors import InputError

    known = actors(conn, roadmap_id)
    if actor in known:
        return
    shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
    raise InputError(
        f"--actor: «{actor}» не встречается в журнале этой дорожной карты.",
        hint=f"В журнале: {shown}." if known else "Журнал пуст.",
    )


def register(audit_app: typer.Typer) -> None:
    """Add ``log`` to the ``audit`` group."""
    audit_app.command("log")(audit_log)


@handle_errors
def audit_log(
    ctx: typer.Context,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Только действия этого пользователя (или от его имени)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="С даты действия: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="По дату действия включительно: ГГГГ-ММ-ДД или ДД.ММ.ГГГГ."),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help=f"Вид события (можно несколько раз): {_KINDS}."),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help=f"Сколько последних событий показать: от 1 до {MAX_LIMIT} "
            f"(по умолчанию {DEFAULT_LIMIT}).",
        ),
    ] = DEFAULT_LIMIT,
    roadmap: RoadmapCode = None,
) -> None:
    """Журнал аудита: кто, когда и что сделал (отказы тоже), последние события внизу."""
    from base import db
    from base.clock import parse_date
    from workflow.engine.audit_log import LOG_KIND_TITLES, LogKind, read_log
    from workflow.errors import InputError

    st = state(ctx)
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(
            f"--limit: {limit} — вне допустимого: от 1 до {MAX_LIMIT}.",
            hint="Больше событий — по частям: --since и --until.",
        )
    by_name = {k.value: k for k in LogKind} | {t: k for k, t in LOG_KIND_TITLES.items()}
    kinds: list[LogKind] = []
    for written in kind or []:
        found = by_name.get(" ".join(written.split()).lower())
        if found is None:
            raise InputError(
                f"--kind: неизвестный вид события «{written}».", hint=f"Виды: {_KINDS}."
            )
        kinds.append(found)
    first = parse_date(since, what="--since") if since is not None else None
    last = parse_date(until, what="--until") if until is not None else None
    if first is not None and last is not None and first > last:
        raise InputError(
            f"--since {first:%d.%m.%Y} позже --until {last:%d.%m.%Y}.",
            hint="Укажите начало периода не позже его конца.",
        )
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        if actor is not None:
            _check_actor(conn, stored.id, actor)
        page = read_log(
            conn, stored.id, actor=actor, since=first, until=last, kinds=kinds, limit=limit
        )
    if st.json:
        print_json(
            {
                "roadmap": stored.definition.code,
                "matched": page.matched,
                "shown": len(page.entries),
                "events": [e.as_json() for e in page.entries],
            }
        )
        return
    from workflow.cli.listing import Column, Fit, print_lines, print_table, terminal_width, wrap

    zone = stored.definition.timezone
    width = terminal_width()
    print_table(
        f"Журнал аудита «{stored.definition.code}»: событий {page.matched}",
        (
            Column("№", right=True),
            Column("дата"),
            Column("вид", Fit.WRAP),
            Column("объект", Fit.WRAP),
            Column("действие", Fit.WRAP),
            Column("кто", Fit.WRAP),
        ),
        [_row(e) for e in page.entries],
        width=width,
        # When it was recorded, and the comment: under the row, where a long text fits.
        notes=[_note(e, zone) for e in page.entries],
    )
    if page.matched > len(page.entries):
        print_lines(
            wrap(
                f"Показаны последние {len(page.entries)} из {page.matched}: "
                "сузьте выборку (--since, --until, --actor, --kind) или увеличьте --limit.",
                width,
            )
        )


def _row(e: LogEntry) -> tuple[str, ...]:
    from workflow.engine.audit_log import LOG_KIND_TITLES

    return (
        str(e.seq),
        f"{e.effective_date:%d.%m.%Y}",
        LOG_KIND_TITLES[e.kind] if e.kind else e.entity_kind,
        _subject(e),
        _action(e),
        e.actor + (f" за {e.on_behalf_of}" if e.on_behalf_of else ""),
    )


def _note(e: LogEntry, zone: str) -> str:
    from zoneinfo import ZoneInfo

    from workflow.engine.evidence import texts

    details = "; ".join(f"{k}: {v}" for k, v in texts(e.evidence).items())
    parts = [f"записано {e.recorded_at.astimezone(ZoneInfo(zone)):%d.%m.%Y %H:%M}"]
    parts += [p for p in (e.comment or "", details) if p]
    return " ".join("; ".join(parts).split())  # one paragraph: a comment's newlines too


def _subject(e: LogEntry) -> str:
    match e.entity_kind:
        case "center":
            return f"центр {e.entity_key}"
        case "cycle":
            return f"цикл {e.entity_id} ({e.entity_key})"
        case "user":
            return f"пользователь {e.entity_key}"
        case "roadmap":
            return f"дорожная карта {e.entity_key}"
        case "municipality":
            return f"муниципалитет {e.entity_key}"
        case "reply":  # the key is the reply's sender
            return f"ответ № {e.entity_id} от {e.entity_key}"
        case _:  # a refusal's key is what was refused («Центр A1: open»)
            return e.entity_key


def _action(e: LogEntry) -> str:
    from workflow.engine.access import ACTION_TITLES, Action

    if e.entity_kind == "reply":
        return {"accept": "ответ принят", "reject": "ответ отклонён"}.get(e.trigger, e.trigger)
    if e.entity_kind == "refusal":
        try:
            return f"отказано: {ACTION_TITLES[Action(e.trigger)]}"
        except ValueError:
            return f"отказано: {e.trigger}"
    titles = _state_titles(e.entity_kind)
    after = titles.get(e.to_state, e.to_state)
    if e.from_state is None:
        return f"{e.trigger}: {after}"
    if e.from_state == e.to_state:
        return f"{e.trigger} ({after})"
    return f"{e.trigger}: {titles.get(e.from_state, e.from_state)} → {after}"


def _state_titles(entity_kind: str) -> dict[str, str]:
    if entity_kind == "center":
        from states.center import STATE_TITLES as CENTER_TITLES

        return {s.value: t for s, t in CENTER_TITLES.items()}
    if entity_kind == "cycle":
        from states.cycle import STATE_TITLES as CYCLE_TITLES

        return {s.value: t for s, t in CYCLE_TITLES.items()}
    if entity_kind == "user":
        from workflow.engine.access import ROLE_TITLES

        return {r.value: t for r, t in ROLE_TITLES.items()} | {"removed": "удалён"}
    return {"loaded": "загружена", "set": "задан"}
