"""Top-level commands: init, status, history, audit verify."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import CenterCodeArg, CycleIdArg, RoadmapCode
from workflow.roadmap.shipped import IVANOVO_159_RP

history_app = typer.Typer(help="История изменений центра или цикла.", no_args_is_help=True)
audit_app = typer.Typer(help="Журнал аудита.", no_args_is_help=True)

SHIPPED_ROADMAP = IVANOVO_159_RP


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("adopt")(adopt)
    app.command("status")(status)
    app.add_typer(history_app, name="history")
    app.add_typer(audit_app, name="audit")


@handle_errors
def init(
    ctx: typer.Context,
    roadmap: Annotated[
        Path | None,
        typer.Option("--roadmap", help="Файл дорожной карты (по умолчанию — поставляемая 159-рп)."),
    ] = None,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Создать схему, даже если файл базы пуст или не база Tochka, или файл "
            "якорей помнит журнал этой базы (база создаётся заново намеренно).",
        ),
    ] = False,
    upgrade_only: Annotated[
        bool,
        typer.Option(
            "--upgrade-only",
            help="Только обновить существующую базу Tochka, никогда не создавать новую "
            "(для запуска демона: systemd ExecStartPre).",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Переход на Точку посреди программы: день (ДД.ММ.ГГГГ или ГГГГ-ММ-ДД), с "
            "которого база ведёт программу; о сроках до него не напоминается. Прежнее "
            "состояние вносит tochka adopt.",
        ),
    ] = None,
) -> None:
    """Создать или обновить базу и загрузить дорожную карту (повторный запуск безопасен).

    Схема не создаётся поверх потерянных данных: в пустом файле, в чужом файле и на месте
    базы, чей журнал помнит файл якорей, — только с --new.
    """
    from base import db
    from workflow.cli import init_guard
    from workflow.engine.users import load_roadmap_as
    from workflow.roadmap.suspicious import suspicious, warning_text
    from workflow.storage import files, schema

    st = state(ctx)
    definition = st.load_roadmap_file(roadmap or SHIPPED_ROADMAP)
    adoption_day = _adoption_day(as_of, definition, st.now(definition.timezone))
    # A wrong group is refused before anything is created with the default mode.
    gid = files.file_mode_gid(st.settings.file_mode_group or None)
    var_dir = Path(st.settings.var_dir)
    path = db.sqlite_path(db.normalize_url(st.db_url))
    # Checked before anything is created; PostgreSQL: the server guards the data, no
    # folder or mode is touched.
    placement = files.database_place(path, folder=var_dir) if path is not None else None
    guard = init_guard.check(st, path, new=new, upgrade_only=upgrade_only)
    engine = st.engine(create=True)
    guard.check_schema(engine)
    before, after = schema.upgrade(engine)
    note = None
    if path is not None and placement is not None:
        if placement.new_file:  # an existing file keeps the mode its owner gave it
            files.restrict_file_mode(
                path, folder=var_dir if placement.new_folder else None, gid=gid
            )
        else:
            note = files.open_mode_note(path, gid=gid)
    roadmap_id, outcome, bootstrapped = load_roadmap_as(
        engine, definition, st.actor_ref, now=st.now()
    )
    adopted = None
    if adoption_day is not None:
        from workflow.engine.adoption import set_adopted_on
        from workflow.roadmap.store import StoredRoadmap

        set_adopted_on(
            engine,
            StoredRoadmap(id=roadmap_id, definition=definition),
            adoption_day,
            actor=st.actor_ref,
            now=st.now(definition.timezone),
        )
        adopted = adoption_day
    guard.after_init(engine)
    attention = _nobody_warnings(st, engine, roadmap_id, definition)
    if st.json:
        print_json(
            {
                "db": db.describe_url(st.db_url),
                "schema_before": before,
                "schema": after,
                "roadmap": definition.code,
                "roadmap_id": roadmap_id,
                "roadmap_status": outcome,
                "content_hash": definition.content_hash,
                "coordinator_added": st.actor if bootstrapped else None,
                "adopted_on": adopted.isoformat() if adopted else None,
                "warnings": suspicious(definition),
                "silent_measures": attention,
            }
        )
        return
    schema_text = (
        "создана" if before is None else ("обновлена" if before != after else "уже актуальна")
    )
    roadmap_text = {
        "created": "загружена",
        "updated": "обновлена",
        "unchanged": "уже загружена, без изменений",
    }[outcome]
    done(f"База {db.describe_url(st.db_url)}: схема {schema_text} (версия {after}).")
    done(
        f"Дорожная карта «{definition.code}»: {roadmap_text} "
        f"(sha256 {definition.content_hash[:12]})."
    )
    if bootstrapped:
        done(f"Пользователь {st.actor} назначен координатором дорожной карты.")
    if adopted is not None:
        done(
            f"Переход на Точку: {adopted:%d.%m.%Y}. О сроках до этого дня не напоминается; "
            "прежнее состояние центров и выполненные циклы вносит tochka adopt."
        )
    if note:
        done(note)
    from workflow.roadmap import placeholders

    held = not st.settings.allow_placeholder_addresses
    warning = placeholders.warning(definition, held=held)
    if warning is not None:
        typer.echo(warning, err=True)
    for line in warning_text(definition):
        typer.echo(line, err=True)
    for line in attention:
        typer.echo(f"Внимание: {line}", err=True)


def _nobody_warnings(st: Any, engine: Any, roadmap_id: int, definition: Any) -> list[str]:
    """What ``init`` says of the loaded roadmap's data, not its file: the measures whose
    per-center parties have nobody to remind yet (no center registered), whose
    reminders go to the coordinator (`workflow.views.overview.nobody_warnings`)."""
    from base import db
    from base.clock import local_date
    from workflow.roadmap.store import StoredRoadmap
    from workflow.views.overview import nobody_warnings

    stored = StoredRoadmap(id=roadmap_id, definition=definition)
    with db.read(engine) as conn:
        return nobody_warnings(conn, stored, today=local_date(st.now(), definition.timezone))


def _adoption_day(text: str | None, definition: Any, now: Any) -> Any:
    """``--as-of`` as a date, checked before anything is created (None: not given)."""
    if text is None:
        return None
    from base.clock import local_date, parse_date
    from workflow.engine.adoption import check_as_of

    day = parse_date(text, what="--as-of")
    check_as_of(definition, day, today=local_date(now, definition.timezone))
    return day


@handle_errors
def adopt(
    ctx: typer.Context,
    stages: Annotated[
        Path | None,
        typer.Option(
            "--stages",
            help="CSV или XLSX: «Код» и даты этапов центров в столбцах с названиями этапов "
            "(«инфраструктурный лист согласован», «оснащён», «персонал обучен», «открыт», "
            "«отчитывается»), по желанию «Текущий этап».",
        ),
    ] = None,
    cycles_file: Annotated[
        Path | None,
        typer.Option(
            "--cycles",
            help="CSV или XLSX выполненных циклов: «№ мероприятия», «Период», «Дата "
            "выполнения», «Документ» (ВИД=ТЕКСТ; …).",
        ),
    ] = None,
    roadmap: RoadmapCode = None,
) -> None:
    """Внести состояние на день перехода на Точку (после tochka init --as-of): даты этапов
    центров и выполненные циклы мероприятий — событиями журнала с их датами, всё или
    ничего."""
    from base import db
    from workflow.engine import adoption
    from workflow.errors import FileProblems, InputError
    from workflow.imports.state_file import read_cycles_file, read_stages_file

    st = state(ctx)
    if stages is None and cycles_file is None:
        raise InputError(
            "Не указан ни один файл.",
            hint="tochka adopt --stages ЭТАПЫ.csv --cycles ЦИКЛЫ.csv (можно один из них).",
        )
    stored = st.roadmap(roadmap)
    engine = st.engine()
    with db.read(engine) as conn:
        as_of = adoption.adopted_on(conn, stored.id)
    if as_of is None:
        raise InputError(
            "Дата перехода на Точку не записана.",
            hint="Сначала: tochka init --as-of ДД.ММ.ГГГГ (день, с которого база ведёт программу).",
        )
    problems: list[Any] = []
    stage_rows: list[Any] = []
    done_rows: list[Any] = []
    # Both files are read before either error is shown: one round of fixes.
    if stages is not None:
        try:
            stage_rows = read_stages_file(stages, as_of=as_of)
        except FileProblems as exc:
            problems += exc.problems
    if cycles_file is not None:
        try:
            done_rows = read_cycles_file(cycles_file, roadmap=stored.definition, as_of=as_of)
        except FileProblems as exc:
            problems += exc.problems
    if problems:
        from workflow.errors import ImportFileError

        raise ImportFileError(problems)
    report = adoption.import_state(
        engine,
        stored,
        stages=stage_rows,
        stages_file=str(stages or ""),
        done=done_rows,
        cycles_file=str(cycles_file or ""),
        actor=st.actor_ref,
    )
    if st.json:
        print_json(
            {
                "adopted_on": report.adopted_on.isoformat(),
                "centers": report.centers,
                "stage_events": report.stage_events,
                "cycles_done": report.cycles,
                "cycles_created": report.cycles_created,
                "unchanged": report.unchanged,
            }
        )
        return
    done(
        f"Внесено на день перехода {report.adopted_on:%d.%m.%Y}: центров {report.centers} "
        f"(этапов {report.stage_events}), выполненных циклов {report.cycles}"
        + (f", без изменений {report.unchanged}" if report.unchanged else "")
        + "."
    )


@handle_errors
def status(ctx: typer.Context, roadmap: RoadmapCode = None) -> None:
    """Сводка: мероприятия и их циклы, центры по этапам."""
    from base import db
    from workflow.views.overview import roadmap_status

    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        summary = roadmap_status(conn, stored, today=st.now(stored.definition.timezone))
    if st.json:
        print_json(summary.as_json())
        return
    _print_status(summary, st.width)


def _print_status(summary: Any, width: int | None) -> None:
    """``tochka status`` for people: measures with their cycles, centers by stage."""
    from workflow.cli.listing import NBSP, Column, Fit, print_lines, table_lines, wrap
    from workflow.cli.names import center_state_title, cycle_state_title

    lines = [
        *wrap(summary.title, width),
        *wrap(f"Дорожная карта «{summary.roadmap}», на {summary.today:%d.%m.%Y}", width),
        *([""] + wrap(summary.program, width) if summary.program else []),
        "",
        "Мероприятия",
        "",
    ]
    lines += table_lines(
        (
            Column("№", right=True),
            Column("мероприятие", Fit.CUT),
            Column("срок", Fit.WRAP),
            Column("циклы", Fit.WRAP),
            Column("след. срок"),
        ),
        [
            (
                str(m.number),
                m.title,
                m.deadline_text,
                ", ".join(f"{cycle_state_title(s)}:{NBSP}{n}" for s, n in m.cycles.items())
                or "ещё нет",
                f"{m.next_due:%d.%m.%Y}" if m.next_due else "—",
            )
            for m in summary.measures
        ],
        width,
    )
    lines += ["", "Центры по этапам", ""]
    lines += table_lines(
        (Column("этап", Fit.WRAP), Column("центров", right=True)),
        [(center_state_title(s), str(n)) for s, n in summary.centers.items()],
        width,
    )
    missing = summary.without_address
    if missing:
        more = len(missing) - 5
        lines.append("")
        lines += wrap(
            f"Муниципалитеты без адреса для напоминаний ({len(missing)}): "
            f"{', '.join(missing[:5])}{f' и ещё {more}' if more > 0 else ''}. Напоминания об "
            "этапах их центров получают только школы; адреса загружает tochka municipalities "
            "import.",
            width,
        )
    for line in summary.silent:
        lines += ["", *wrap(f"Внимание: {line}", width)]
    for address, since in summary.bounced:
        lines += ["", *wrap(f"Адрес не принимает письма: {address}, с {since:%d.%m.%Y}", width)]
    print_lines(lines)


@history_app.command("center")
@handle_errors
def history_center(ctx: typer.Context, code: CenterCodeArg, roadmap: RoadmapCode = None) -> None:
    """История центра."""
    from base import db
    from workflow.cli.names import people
    from workflow.engine import centers

    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        events = centers.history(
            conn, stored.id, "center", centers.center_id(conn, stored.id, code)
        )
        names = people(conn, stored.id)
    _print_history(st.json, f"История центра {code}", events, st.width, names=names)


@history_app.command("cycle")
@handle_errors
def history_cycle(ctx: typer.Context, cycle_id: CycleIdArg, roadmap: RoadmapCode = None) -> None:
    """История цикла мероприятия."""
    from base import db
    from workflow.cli.names import cycle_label, people
    from workflow.engine import centers, cycles

    st = state(ctx)
    stored = st.roadmap(roadmap)
    with db.read(st.engine()) as conn:
        cycle = cycles.get_cycle(conn, stored.id, cycle_id)
        events = centers.history(conn, stored.id, "cycle", cycle.id)
        names = people(conn, stored.id)
    label = cycle_label(cycle.id, cycle.measure, cycle.period)
    _print_history(st.json, f"История: {label}", events, st.width, kind="cycle", names=names)


def _print_history(
    as_json: bool,
    title: str,
    events: list[dict[str, object]],
    width: int | None,
    *,
    kind: str = "center",
    names: Mapping[str, str],
) -> None:
    """The events of one center or cycle: date, trigger, states, who (by name and role:
    ``names``, `workflow.cli.names.people`); the documents and the comment under each
    (in their own line, which holds long texts at 80 columns)."""
    if as_json:
        print_json(events)
        return
    from datetime import date

    from workflow.cli.listing import Column, Fit, print_table
    from workflow.cli.names import ru_dates, state_title, trigger_title, who
    from workflow.engine.evidence import texts as evidence_texts

    rows = []
    notes = []
    for e in events:
        evidence = e["evidence"] or {}
        assert isinstance(evidence, dict)
        acted = who(names, str(e["actor"]), str(e["on_behalf_of"] or "") or None)
        before = state_title(kind, str(e["from_state"])) if e["from_state"] else "—"
        parts = [f"документ: {v}" for v in evidence_texts(evidence).values()]
        if e["comment"]:
            parts.append(f"комментарий: {ru_dates(str(e['comment']))}")
        rows.append(
            (
                str(e["seq"]),
                f"{date.fromisoformat(str(e['effective_date'])):%d.%m.%Y}",
                trigger_title(kind, str(e["trigger"])),
                f"{before} → {state_title(kind, str(e['to_state']))}",
                acted,
            )
        )
        notes.append("; ".join(parts))
    print_table(
        f"{title}: событий {len(events)}",
        (
            Column("№", right=True),
            Column("дата"),
            # The trigger and who («Иванова Анна Петровна, координатор») wrap too:
            # kept whole on one line they alone push the table past 80 columns.
            Column("переход", Fit.WRAP),
            Column("состояние", Fit.WRAP),
            Column("кто", Fit.WRAP),
        ),
        rows,
        width=width,
        notes=notes,
    )


@audit_app.command("verify")
@handle_errors
def audit_verify(
    ctx: typer.Context,
    roadmap: RoadmapCode = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            help="Сохранённый заголовок НОМЕР:ХЕШ: цепочка должна его продолжать "
            "(можно несколько раз).",
        ),
    ] = None,
    anchors_file: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="Файл якорей: цепочка должна продолжать каждый записанный заголовок "
            "(по умолчанию — anchor_file из настроек, если задан).",
        ),
    ] = None,
) -> None:
    """Проверить цепочку хешей журнала, совпадение состояний с журналом и сохранённые
    заголовки (якоря)."""
    from workflow.engine import anchors

    st = state(ctx)
    kept = [anchors.Anchor(roadmap=roadmap, seq=s, hash=h) for s, h in _expected(expect)]
    source = anchors_file or anchors.anchor_path(st.settings)
    if anchors_file is not None and not anchors_file.is_file():
        raise _no_anchor_file(anchors_file)
    engine = st.engine()
    if source is not None:
        database = anchors.database_id(st.db_url)
        kept += kept_in_file(
            engine, source, database=database, explicit=anchors_file is not None, roadmap=roadmap
        )
    results = verify_chains(engine, roadmap, kept)
    from workflow.cli.evidence_cmd import verify_stored

    documents = verify_stored(st, roadmap)  # the documents the events record, re-hashed
    _print_verified(st.json, results, kept_from=source)
    if documents:
        done(documents)


def kept_in_file(
    engine: Any, source: Path, *, database: str, explicit: bool, roadmap: str | None = None
) -> list[Any]:
    """The heads of the anchor file ``source`` that apply to the database of ``engine``.

    Args:
        engine: the database (or a backup copy).
        source: the anchor file: given by ``--anchors`` (``explicit``) or configured.
        database: the database as anchor lines name it (`anchors.database_id`).
        explicit: ``--anchors`` was given: a file with no line for this database is an
            error (the check asked for would compare nothing).
        roadmap: only this roadmap's lines.

    Raises:
        InputError: the configured file is missing while the database has a roadmap (a
            database after ``init`` has been anchored: the file vanished or moved); an
            explicit file holds no line for this database.
    """
    from base import db
    from workflow.engine import anchors
    from workflow.errors import InputError

    lines = anchors.read_anchors(source)
    with db.read(engine) as conn:
        chains = anchors.chain_ids(conn)
        found = anchors.heads(conn)
    codes = [h.roadmap for h in found]
    if not explicit and found and not source.exists():
        listed = "; ".join(f"«{h.roadmap}» {h.text}" for h in found)
        raise InputError(
            f"Файл якорей {source} (anchor_file, TOCHKA_ANCHOR_FILE) не найден, а база уже "
            f"работает (заголовок журнала: {listed}): сверять не с чем — файл удалён или "
            "перемещён, или путь в настройках неверен.",
            hint="Верните файл якорей на место (из копии) или исправьте путь, затем "
            "повторите проверку. Если файл якорей задан только что для базы, которая раньше "
            "работала без него, начните его: tochka audit anchor.",
        )
    selected = [
        a
        for a in anchors.select_kept(lines, database=database, chains=chains, codes=codes)
        if roadmap is None or a.roadmap == roadmap
    ]
    if explicit and not selected:
        here = (
            "; ".join(
                f"«{code}»" + (f" (цепочка {chains[code][:12]}…)" if code in chains else "")
                for code in codes
                if roadmap is None or code == roadmap
            )
            or "нет дорожных карт"
        )
        raise InputError(
            f"--anchors: в файле {source} нет ни одной строки для этой базы — сверять не с "
            f"чем. В базе: {here}. В файле: {_file_holds(lines)}.",
            hint="Строка файла якорей относится к базе, если совпадает цепочка (хеш первого "
            "события дорожной карты) или путь к базе; строки старого вида без цепочки — по "
            "коду дорожной карты. Проверьте, что это файл якорей этой базы.",
        )
    return selected


def _file_holds(lines: list[Any]) -> str:
    """What an anchor file holds, for the refusal above: roadmap, chain, database."""
    from workflow.engine.anchors import RESTART

    groups: dict[tuple[str, str, str], int] = {}
    for a in lines:
        if a.roadmap == RESTART:
            continue
        key = (a.roadmap, a.chain[:12] + "…" if a.chain else "не указана", a.database or "?")
        groups[key] = groups.get(key, 0) + 1
    if not groups:
        return "ни одного заголовка"
    shown = [
        f"«{code}» (цепочка {chain}, база {where}, строк {count})"
        for (code, chain, where), count in list(groups.items())[:5]
    ]
    more = f" и ещё {len(groups) - 5}" if len(groups) > 5 else ""
    return "; ".join(shown) + more


def _expected(expect: list[str] | None) -> list[tuple[int, str]]:
    from workflow.engine.anchors import parse_head

    return [parse_head(text) for text in expect or []]


def _no_anchor_file(path: Path) -> Exception:
    from workflow.errors import InputError

    return InputError(
        f"--anchors: файл {path} не найден."
        if not path.exists()
        else f"--anchors: {path} — папка.",
        hint="Укажите файл якорей, который пишут tochka audit anchor и демон.",
    )


def verify_chains(
    engine: Any, roadmap: str | None, kept: list[Any], *, is_copy: bool = False
) -> Any:
    """Verify every roadmap's chain (or ``roadmap``'s), then the kept heads against it.

    Returns:
        (verify reports, anchor checks), one of each per roadmap.
    """
    from base import db
    from workflow.engine import anchors, audit
    from workflow.roadmap import store as roadmap_store

    with db.read(engine) as conn:
        targets = [roadmap] if roadmap else roadmap_store.codes(conn)
        reports = []
        for code in targets:
            stored = roadmap_store.resolve(conn, code)
            reports.append(audit.verify(conn, stored.id, code))
        checks = anchors.check_anchors(conn, kept, codes=targets, is_copy=is_copy)
        found = anchors.heads(conn, targets)
    return reports, checks, found


def _print_verified(as_json: bool, results: Any, *, kept_from: Path | None) -> None:
    reports, checks, found = results
    by_code = {c.roadmap: c for c in checks}
    head_of = {h.roadmap: h.text for h in found}
    if as_json:
        print_json(
            [
                {
                    "roadmap": r.roadmap,
                    "events": r.events,
                    "entities": r.entities,
                    "head": r.head_hash,
                    "audit_head": head_of.get(r.roadmap),
                    "anchors_checked": by_code[r.roadmap].checked,
                    "anchors_ahead": by_code[r.roadmap].ahead,
                    "sealed": r.sealed,
                    "sealed_unchecked": r.unchecked,
                }
                for r in reports
            ]
        )
        return
    for r in reports:
        check = by_code[r.roadmap]
        kept = (
            f" Сохранённых заголовков подтверждено: {check.checked}."
            if check.checked
            else (
                " Сохранённых заголовков для этой базы ещё нет (якорей ещё нет)."
                if kept_from is not None
                else ""
            )
        )
        if check.ahead:
            kept += f" Новее этой копии: {check.ahead} (копия сделана раньше)."
        if r.sealed:
            kept += f" Подписано ключом событий: {r.sealed}."
        if r.unchecked:
            kept += (
                f" Содержимое {r.unchecked} подписанных событий не проверено: ключ не задан "
                "(audit_key, TOCHKA_AUDIT_KEY)."
            )
        done(
            f"Журнал «{r.roadmap}» в порядке: событий {r.events}, объектов {r.entities}, "
            f"заголовок {head_of.get(r.roadmap)}.{kept}"
        )


@audit_app.command("anchor")
@handle_errors
def audit_anchor(
    ctx: typer.Context,
    restored: Annotated[
        bool,
        typer.Option(
            "--restored",
            help="База восстановлена из копии: прежние заголовки этой базы больше не "
            "проверяются (события после копии признаны потерянными), запись начинается заново.",
        ),
    ] = False,
) -> None:
    """Дописать заголовки цепочек в файл якорей (anchor_file, TOCHKA_ANCHOR_FILE), если
    они изменились с последней записи."""
    from workflow.engine import anchors
    from workflow.errors import InputError

    st = state(ctx)
    path = anchors.anchor_path(st.settings)
    if path is None:
        raise InputError(
            "Файл якорей не задан.",
            hint="Задайте anchor_file в файле настроек или TOCHKA_ANCHOR_FILE — файл вне "
            "папки данных, куда дописываются заголовки журнала.",
        )
    engine = st.engine()
    # A chain is anchored only when it verifies and extends what was kept — the lines
    # that apply to it wherever they were written (`anchors.select_kept`) — after a
    # restore: only when it verifies; the heads kept before are then set aside.
    from base import db

    with db.read(engine) as conn:
        chains = anchors.chain_ids(conn)
        codes = [h.roadmap for h in anchors.heads(conn)]
    kept = anchors.select_kept(
        anchors.read_anchors(path),
        database=anchors.database_id(st.db_url),
        chains=chains,
        codes=codes,
    )
    verify_chains(engine, None, [] if restored else kept)
    if restored:
        anchors.append_restart(path, url=st.db_url)
    appended = anchors.append_anchor(engine, path, url=st.db_url)
    if st.json:
        print_json(
            {
                "file": str(path),
                "appended": [{"roadmap": h.roadmap, "audit_head": h.text} for h in appended],
            }
        )
        return
    if not appended:
        done(f"Заголовки не изменились с последней записи в {path}: ничего не дописано.")
    for h in appended:
        done(f"Журнал «{h.roadmap}»: заголовок {h.text} дописан в {path}.")
