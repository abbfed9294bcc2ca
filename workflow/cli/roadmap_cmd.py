"""``tochka roadmap``: show, validate, diff, load, versions, schema, diagram."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode

app = typer.Typer(
    help="Дорожная карта: просмотр, проверка файла, изменения новой версии и её загрузка, "
    "версии, схема файла, диаграммы.",
    no_args_is_help=True,
)


class Machine(StrEnum):
    CENTER = "center"
    CYCLE = "cycle"


@app.command("show")
@handle_errors
def show(ctx: typer.Context, roadmap: RoadmapCode = None) -> None:
    """Показать загруженную дорожную карту: тексты распоряжения и то, как их прочла
    Tochka, — правило каждого срока, сроки по программе, сроки этапов по наборам."""
    from workflow.roadmap import describe

    st = state(ctx)
    definition = st.roadmap(roadmap).definition
    if st.json:
        print_json(
            {
                "code": definition.code,
                "title": definition.title,
                "decree": definition.decree,
                "region": definition.region,
                "period": {
                    "start": definition.period_start.isoformat(),
                    "end": definition.period_end.isoformat(),
                },
                "cohorts": list(definition.cohort_years),
                "timezone": definition.timezone,
                "content_hash": definition.content_hash,
                "coordinator": definition.coordinator,
                "parties": [
                    {
                        "id": p.id,
                        "kind": p.kind.value,
                        "name": p.name,
                        "email": p.email,
                        "per_center": p.per_center,
                    }
                    for p in definition.parties
                ],
                "measures": [
                    {
                        "number": m.number,
                        "title": m.title,
                        "responsible": list(m.responsible),
                        "result": m.result,
                        "evidence": list(m.evidence),
                        "deadline": m.deadline_text,
                        "recurrence": m.recurrence.value,
                        "first_due": m.first_due.isoformat() if m.first_due else None,
                        "after": (
                            {
                                "measure": m.after.measure,
                                "stage": m.after.stage,
                                "days": m.after.days,
                                "working": m.after.working,
                            }
                            if m.after
                            else None
                        ),
                        "done": (
                            {"on": m.done.on.isoformat(), "evidence": m.done.evidence_map}
                            if m.done
                            else None
                        ),
                        "items": [
                            {
                                "number": i.number,
                                "title": i.title,
                                "due": i.due.isoformat(),
                                "month_only": i.month_only,
                                "due_text": i.due_text,
                                "evidence": list(i.evidence),
                                "footnotes": dict(i.footnotes),
                            }
                            for i in m.items
                        ],
                        "footnotes": dict(m.footnotes),
                        **describe.measure_json(definition, m),
                    }
                    for m in definition.measures
                ],
                "stages": [
                    {
                        "stage": s.stage,
                        "measure": s.measure,
                        "due_month": s.due_month,
                        "due_day": s.due_day,
                        "starts": s.starts,
                        **describe.stage_json(definition, s),
                    }
                    for s in definition.stages
                ],
                "reminders": describe.reminders_json(definition),
                "closing": describe.closing_json(definition),
            }
        )
        return
    _print_roadmap(definition, st.width)


def _print_roadmap(definition: Any, width: int | None) -> None:
    """The roadmap in full, a block per measure: at 80 columns six columns of long texts
    would leave a dozen characters to each."""
    from workflow.cli.listing import print_lines, wrap
    from workflow.roadmap import describe

    lines = [
        *wrap(definition.title, width),
        *wrap(
            f"{definition.decree}; период {definition.period_start:%d.%m.%Y} — "
            f"{definition.period_end:%d.%m.%Y}; часовой пояс {definition.timezone}",
            width,
        ),
        *wrap(describe.cohorts_text(definition), width, rest="  "),
        *wrap(f"Напоминания: {describe.reminders_text(definition)}", width, rest="  "),
        *wrap(describe.closing_text(definition), width, rest="  "),
        "",
        f"Стороны: {len(definition.parties)}",
    ]
    for party in definition.parties:
        address = party.email or "адреса у каждого центра"  # a per-center party
        lines += wrap(f"{party.id} — {party.name}, {address}", width, first="  ", rest="    ")
    lines += ["", f"Мероприятия: {len(definition.measures)}"]
    for m in definition.measures:
        number = f"{m.number}. "
        indent = " " * len(number)
        lines.append("")
        lines += wrap(m.title, width, first=number, rest=indent)
        rows = [
            ("ответственный", m.responsible_text),
            ("результат", m.result),
            ("срок", m.deadline_text),
            ("правило", describe.measure_rule(definition, m)),
        ]
        cycles = describe.program_cycles(definition, m)
        if cycles and not m.items and m.done is None:
            rows.append(("сроки", describe.dues_text(cycles)))
        for label, text in rows:
            lines += wrap(_glued(f"{label}: {text}"), width, first=indent, rest=indent + "  ")
        if m.done is not None:
            documents = "; ".join(text for _, text in m.done.evidence)
            lines += wrap(
                f"выполнено до загрузки: {m.done.on:%d.%m.%Y} ({documents})",
                width,
                first=indent,
                rest=indent + "  ",
            )
        lines += _items_and_footnotes(m, indent, width)
    lines += _stages(definition, width)
    print_lines(lines)


def _stages(definition: Any, width: int | None) -> list[str]:
    """The centers' stages: each one's measure, its deadline relative to the cohort's
    year and its date for each cohort, the documents the school sends."""
    from workflow.cli.listing import wrap
    from workflow.roadmap import describe

    lines = ["", f"Этапы центров: {len(definition.stages)}"]
    for rule in definition.stages:
        title = describe.stage_json(definition, rule)["title"]
        lines.append("")
        lines += wrap(f"{title} — мероприятие № {rule.measure}", width, first="  ", rest="    ")
        rows = [describe.stage_rule(definition, rule)]
        if dues := describe.stage_dues_text(definition, rule):
            rows.append(f"по наборам: {dues}")
        if rule.documents:
            rows.append(f"документы: {'; '.join(rule.documents)}")
        for text in rows:
            lines += wrap(_glued(text), width, first="    ", rest="      ")
    return lines


def _glued(text: str) -> str:
    """The rules' text with what reads as one word kept on one line: a year and its
    «г.», «всего N»."""
    from workflow.cli.listing import NBSP

    return text.replace(" г.", f"{NBSP}г.").replace("всего ", f"всего{NBSP}")


def _items_and_footnotes(m: Any, indent: str, width: int | None) -> list[str]:
    """A measure's source text of its deadline, its items with their deadlines and the
    footnotes under them, in small print's place: after the measure's own lines."""
    from workflow.cli.listing import wrap
    from workflow.roadmap.items import due_title

    lines: list[str] = []
    if m.due_text:
        lines += wrap(f"срок в источнике: {m.due_text}", width, first=indent, rest=indent + "  ")
    for item in m.items:
        head = f"{indent}{item.number}. "
        lines += wrap(item.title, width, first=head, rest=" " * len(head))
        due = due_title(item.due, month_only=item.month_only)
        if item.due_text:
            due = f"{item.due_text} ({due})"
        lines += wrap(f"срок: {due}", width, first=" " * len(head), rest=" " * (len(head) + 2))
        for mark, text in item.footnotes:
            lines += wrap(f"{mark} {text}", width, first=" " * len(head), rest=" " * len(head))
    for mark, text in m.footnotes:
        lines += wrap(f"{mark} {text}", width, first=indent, rest=indent + "  ")
    return lines


@app.command("validate")
@handle_errors
def validate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="ФАЙЛ", help="Файл YAML дорожной карты.")],
) -> None:
    """Проверить файл дорожной карты, ничего не загружая."""
    from workflow.roadmap.suspicious import suspicious, warning_text

    definition = state(ctx).load_roadmap_file(file)
    if state(ctx).json:
        print_json(
            {
                "file": str(file),
                "valid": True,
                "code": definition.code,
                "measures": len(definition.measures),
                "content_hash": definition.content_hash,
                "warnings": suspicious(definition),
            }
        )
        return
    done(
        f"Файл {file} корректен: дорожная карта «{definition.code}», "
        f"мероприятий {len(definition.measures)}."
    )
    for line in warning_text(definition):
        typer.echo(line, err=True)


def _against_stored(st: Any, file: Path, code: str | None) -> tuple[Any, Any, Any]:
    """The new file, the stored roadmap it amends and what it changes.

    Raises:
        InputError: the file changes the roadmap's code, or the new version is refused
            (a measure with cycles dropped, the period shortened under cycles).
    """
    from base import db
    from workflow.errors import InputError
    from workflow.roadmap import store as roadmap_store
    from workflow.roadmap.amendment import code_refusal

    definition = st.load_roadmap_file(file)
    with db.read(st.engine()) as conn:
        known = roadmap_store.codes(conn)
        target = code or (definition.code if definition.code in known else None)
        stored = roadmap_store.resolve(conn, target)
        comparison = roadmap_store.compare_stored(conn, stored.id, stored.definition, definition)
    refusal = code_refusal(stored.definition.code, definition.code)
    if refusal is not None:
        raise InputError(f"{file}: {refusal}")
    if comparison.refusals:
        raise InputError(
            f"Новая версия {file} не может быть загружена, ничего не изменено:\n"
            + "\n".join(f"- {text}" for text in comparison.refusals),
        )
    return definition, stored, comparison


@app.command("diff")
@handle_errors
def diff(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="ФАЙЛ", help="Файл YAML новой версии дорожной карты.")
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Что изменит новая версия файла (поправка): мероприятия, сроки, период, стороны и
    что станет с циклами. Ничего не загружает."""
    st = state(ctx)
    _, _, comparison = _against_stored(st, file, roadmap)
    if st.json:
        print_json(
            {
                "changed": comparison.changed,
                "lines": comparison.lines,
                "moves": [
                    {
                        "cycle": m.cycle_id,
                        "measure": m.measure,
                        "period": m.period,
                        "original": m.original.isoformat(),
                        "revised": m.revised.isoformat(),
                    }
                    for m in comparison.moves
                ],
            }
        )
        return
    for line in comparison.lines:
        typer.echo(line)


@app.command("load")
@handle_errors
def load(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="ФАЙЛ", help="Файл YAML новой версии дорожной карты.")
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Загрузить новую версию дорожной карты (поправку) одной транзакцией: прежняя версия
    сохраняется, сроки открытых циклов переносятся с записью в журнал."""
    from workflow.engine.users import load_roadmap_as

    st = state(ctx)
    definition, _, comparison = _against_stored(st, file, roadmap)
    roadmap_id, outcome, _ = load_roadmap_as(
        st.engine(), definition, st.actor_ref, now=st.now(definition.timezone)
    )
    if st.json:
        print_json(
            {
                "roadmap": definition.code,
                "roadmap_id": roadmap_id,
                "roadmap_status": outcome,
                "content_hash": definition.content_hash,
                "moved": len(comparison.moves),
            }
        )
        return
    if outcome == "unchanged":
        done(f"Дорожная карта «{definition.code}» уже в этой версии: ничего не изменено.")
        return
    basis = f" по {definition.amended_by.text}" if definition.amended_by else ""
    done(
        f"Дорожная карта «{definition.code}»: загружена новая версия{basis} "
        f"(sha256 {definition.content_hash[:12]}); сроков циклов перенесено: "
        f"{len(comparison.moves)}."
    )


@app.command("versions")
@handle_errors
def versions(ctx: typer.Context, roadmap: RoadmapCode = None) -> None:
    """Загруженные версии дорожной карты: хеш, период, основание, кто и когда загрузил."""
    from zoneinfo import ZoneInfo

    from base import db
    from base.clock import as_utc, zone_name
    from workflow.roadmap import store as roadmap_store

    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        rows = roadmap_store.versions(conn, stored.id)
    if st.json:
        print_json(
            [
                {
                    "version": r.version,
                    "content_hash": r.content_hash,
                    "period": {
                        "start": r.period_start.isoformat(),
                        "end": r.period_end.isoformat(),
                    },
                    "amended_by": r.amended_by,
                    "loaded_by": r.loaded_by,
                    "loaded_at": r.loaded_at.isoformat(),
                }
                for r in rows
            ]
        )
        return
    zone = stored.definition.timezone
    for r in rows:
        # The roadmap's own clock, named as Russia names it («МСК»), never UTC.
        local = as_utc(r.loaded_at).astimezone(ZoneInfo(zone))
        typer.echo(
            f"{r.version}. sha256 {r.content_hash[:12]}, период {r.period_start:%d.%m.%Y} — "
            f"{r.period_end:%d.%m.%Y}; {r.amended_by or 'исходная редакция'}; загрузил "
            f"{r.loaded_by or '—'} {local:%d.%m.%Y %H:%M} {zone_name(r.loaded_at, zone)}"
        )


@app.command("schema")
@handle_errors
def schema() -> None:
    """JSON Schema файла дорожной карты: редактор проверит по ней файл при вводе.

    Например, в VS Code с расширением YAML: сохраните вывод в roadmap.schema.json и
    добавьте в начало файла дорожной карты строку
    «# yaml-language-server: $schema=roadmap.schema.json». Схема строже загрузчика в одном:
    срок этапа ДД.ММ в ней — строка в кавычках (без кавычек редактор прочтёт 25.08 как число).
    """
    # pydantic is needed only here and in validation: not on every command's start-up.
    from workflow.roadmap.schema import json_schema

    print_json(json_schema())


@app.command("diagram")
@handle_errors
def diagram(
    machine: Annotated[
        Machine,
        typer.Argument(metavar="ОБЪЕКТ", help="center (центр) или cycle (цикл мероприятия)."),
    ],
) -> None:
    """Диаграмма состояний (Mermaid) центра или цикла мероприятия."""
    from states.machine import CENTER_SPEC, CYCLE_SPEC, mermaid

    spec = CENTER_SPEC if machine is Machine.CENTER else CYCLE_SPEC
    typer.echo(mermaid(spec), nl=False)
