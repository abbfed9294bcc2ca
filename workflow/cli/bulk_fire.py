"""``tochka centers fire --from FILE``: many center transitions from one table file.

The file is read by `workflow.imports.fire_file` and fired by `workflow.engine.bulk`;
this module prints the outcome of every row («строка, центр, действие, итог») and ends
with an error (exit 1) listing each refused row with its line and column when any row
was refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow.errors import FileProblems, Problem

if TYPE_CHECKING:
    import typer

    from base.errors import TochkaError
    from workflow.cli.context import CliState
    from workflow.engine.bulk import RowOutcome
    from workflow.imports.fire_file import FireRow
    from workflow.roadmap.store import StoredRoadmap


class RowsRefused(FileProblems):
    """Some rows of a transitions file were refused; the others committed."""

    title = "Не выполнены строки файла"


class NothingChanged(FileProblems):
    """All or nothing: a row was refused, so no row was committed."""

    title = "Ничего не изменено (--all-or-nothing)"


class DryRunRefused(FileProblems):
    """A dry run found rows that would be refused; nothing was changed anyway."""

    title = "Проверка (--dry-run) не пройдена, ничего не изменено"


def run(
    st: CliState,
    stored: StoredRoadmap,
    path: Path,
    *,
    all_or_nothing: bool,
    dry_run: bool,
) -> None:
    """Fire every row of ``path`` (see `workflow.engine.bulk`) and report them.

    Raises:
        ImportFileError: the file cannot be read as a transitions table; nothing fired.
        RowsRefused, NothingChanged, DryRunRefused: a row was refused (after the table
            of every row's outcome is printed).
    """
    from workflow.engine.bulk import BulkMode, BulkRow, fire_rows
    from workflow.engine.transitions import TransitionEngine
    from workflow.imports.fire_file import read_fire_file
    from workflow.mailer import make_renderer
    from workflow.schedule.notices import center_notice_hook

    filename = str(path)
    read = read_fire_file(path, roadmap=stored.definition)
    good = [
        BulkRow(
            line=r.line,
            code=r.code,
            trigger=r.trigger,
            evidence=r.evidence,
            comment=r.comment,
        )
        for r in read
        if not r.problems and r.trigger is not None
    ]
    # All or nothing with a row unreadable: the others are still checked, never committed.
    commit = not dry_run and not (all_or_nothing and len(good) < len(read))
    hook = center_notice_hook(stored.definition, make_renderer(st.settings))
    fire = TransitionEngine(st.engine(), stored.definition, stored.id, notice_hook=hook)
    outcomes = fire_rows(
        fire,
        good,
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
        mode=BulkMode.ALL_OR_NOTHING if all_or_nothing else BulkMode.EACH,
        commit=commit,
    )
    by_line = {o.row.line: o for o in outcomes}
    problems: list[Problem] = []
    for r in read:
        if r.problems:
            problems.extend(r.problems)
        elif (o := by_line[r.line]).error is not None:
            problems.append(_problem(filename, r, o.error))
    _print(st, filename, read, by_line, all_or_nothing=all_or_nothing, dry_run=dry_run)
    if problems:
        error = DryRunRefused if dry_run else NothingChanged if all_or_nothing else RowsRefused
        raise error(problems)


def _problem(filename: str, row: FireRow, error: TochkaError) -> Problem:
    """A refused row as a problem, with the error's advice (`_refusal`)."""
    column, message = _refusal(row, error)
    if error.hint:
        message = f"{message} {error.hint}"
    return Problem(file=filename, line=row.line, column=column, message=message)


def _refusal(row: FireRow, error: TochkaError) -> tuple[int | None, str]:
    """The column a row's refusal is about (the code of a center not found, the action
    a state refused, the comment a withdrawal lacks; None: the row) and its message."""
    from states.center import GUARD_HAS_REASON
    from states.errors import GuardRefused, StateError
    from workflow.errors import NotFound

    if isinstance(error, NotFound):
        return row.columns.get("code"), error.message
    if isinstance(error, GuardRefused) and error.guard == GUARD_HAS_REASON:
        # The reason is the row's comment here, not the single fire's --comment.
        column = row.columns.get("comment", row.columns.get("trigger"))
        return column, error.message.replace("(--comment)", "(столбец «Комментарий»)")
    if isinstance(error, StateError):
        return row.columns.get("trigger"), error.message
    return None, error.message


def _print(
    st: CliState,
    filename: str,
    read: list[FireRow],
    by_line: dict[int, RowOutcome],
    *,
    all_or_nothing: bool,
    dry_run: bool,
) -> None:
    from workflow.cli.context import print_json
    from workflow.cli.listing import Column, Fit, print_table
    from workflow.cli.names import state_title, trigger_title
    from workflow.engine.bulk import Outcome

    if st.json:
        print_json([_as_json(r, by_line.get(r.line)) for r in read])
        return
    rows: list[tuple[str, str, str, str]] = []
    done = 0
    for r in read:
        action = trigger_title("center", r.trigger) if r.trigger else r.action
        o = by_line.get(r.line)
        if o is None:
            what = "ошибка в строке: " + "; ".join(
                p.message if p.column is None else f"столбец {p.column}: {p.message}"
                for p in r.problems
            )
        elif o.error is not None:
            what = "отказ: " + _refusal(r, o.error)[1]
        else:
            assert o.result is not None
            moved = (
                f"{state_title('center', o.result.from_state)} → "
                f"{state_title('center', o.result.to_state)}"
            )
            if o.outcome is Outcome.DONE:
                done += 1
                what = f"выполнено: {moved} (событие № {o.result.seq})"
            elif dry_run:
                what = f"пройдёт: {moved}"
            else:
                what = f"не выполнено (в файле есть ошибки): {moved}"
        rows.append((str(r.line), r.code, action, what))
    if dry_run:
        title = f"Проверка файла {filename} (--dry-run), ничего не изменено; строк: {len(read)}"
    elif all_or_nothing and done == 0 and read:
        title = f"Переходы из файла {filename}: ничего не выполнено из {len(read)}"
    else:
        title = f"Переходы из файла {filename}: выполнено {done} из {len(read)}"
    print_table(
        title,
        (
            Column("строка", right=True),
            Column("центр"),
            Column("действие", Fit.WRAP),
            Column("итог", Fit.WRAP),
        ),
        rows,
        width=st.width,
    )


def _as_json(row: FireRow, outcome: RowOutcome | None) -> dict[str, object]:
    data: dict[str, object] = {
        "line": row.line,
        "code": row.code,
        "trigger": row.trigger or row.action,
    }
    if outcome is None:
        data |= {"outcome": "invalid", "error": "; ".join(p.message for p in row.problems)}
        return data
    data["outcome"] = outcome.outcome.value
    if outcome.error is not None:
        data["error"] = outcome.error.message
    if outcome.result is not None:
        result = outcome.result
        data |= {
            "from_state": result.from_state,
            "state": result.to_state,
            "version": result.version,
            "event": result.seq if outcome.outcome.value == "done" else None,
            "effective_date": result.effective_date.isoformat(),
        }
    return data


def require_bulk_usage(
    from_file: Path | None,
    *,
    code: str | None,
    trigger: str | None,
    evidence: list[str] | None,
    evidence_file: list[str] | None,
    comment: str | None,
    expect_version: int | None,
) -> None:
    """Refuse options that do not go with ``--from`` (or ``--from``'s own without it).

    Raises:
        typer.Exit: exit code 2, the usage error printed.
    """
    from workflow.cli.context import EXIT_USAGE, fail

    if from_file is None:
        raise fail(
            "--all-or-nothing и --dry-run указываются только вместе с --from ФАЙЛ.",
            hint="Справка: tochka centers fire -h",
            code=EXIT_USAGE,
        )
    given = [
        name
        for name, value in (
            ("КОД", code),
            ("ПЕРЕХОД", trigger),
            ("--evidence", evidence),
            ("--evidence-file", evidence_file),
            ("--comment", comment),
            ("--expect-version", expect_version),
        )
        if value
    ]
    if given:
        raise fail(
            f"С --from ФАЙЛ не указываются {', '.join(given)}: центр, переход, документы и "
            "комментарий каждой строки — в столбцах файла.",
            hint="Столбцы: «Код», «Действие», «Документы», «Комментарий».",
            code=EXIT_USAGE,
        )


def missing_argument(ctx: typer.Context, name: str) -> Exception:
    """The usage error of a single fire without its ``code`` or ``trigger`` (optional
    only because ``--from`` replaces them), worded as Click words a missing argument."""
    from typer._click.exceptions import MissingParameter

    param: Any = next(p for p in ctx.command.params if p.name == name)
    return MissingParameter(ctx=ctx, param=param)
