"""``tochka indicators``: list the roadmap's indicators, submit and import values."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode, TableFileArg

app = typer.Typer(help="Показатели центров (ежеквартальный мониторинг).", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, roadmap: RoadmapCode = None) -> None:
    """Показатели дорожной карты: код, наименование, единица, период, цель."""
    from workflow.roadmap.definition import PERIOD_TITLES, UNIT_TITLES

    st = state(ctx)
    indicators = st.roadmap(roadmap).definition.indicators
    if st.json:
        print_json(
            [
                {
                    "code": i.code,
                    "name": i.name,
                    "unit": i.unit.value,
                    "period": i.period.value,
                    "target": i.target,
                }
                for i in indicators
            ]
        )
        return
    if not indicators:
        done("В дорожной карте нет показателей (раздел indicators файла дорожной карты).")
        return
    from workflow.cli.listing import Column, Fit, print_table

    print_table(
        f"Показатели: {len(indicators)}",
        (
            Column("код"),
            Column("наименование", Fit.WRAP),
            Column("единица", Fit.WRAP),
            Column("период", Fit.WRAP),
            Column("цель", right=True),
        ),
        [
            (
                i.code,
                i.name,
                UNIT_TITLES[i.unit],
                PERIOD_TITLES[i.period],
                "—" if i.target is None else f"{i.target:g}",
            )
            for i in indicators
        ],
        width=st.width,
    )


@app.command("submit")
@handle_errors
def submit(
    ctx: typer.Context,
    center: Annotated[str, typer.Argument(metavar="ЦЕНТР", help="Код центра.")],
    period: Annotated[
        str,
        typer.Argument(metavar="ПЕРИОД", help="Период: 2022-Q3 (квартал) или 2022 (год)."),
    ],
    values: Annotated[
        list[str],
        typer.Argument(
            # Typer adds the "..." of a list argument to the usage line itself.
            metavar="ПОКАЗАТЕЛЬ=ЗНАЧЕНИЕ",
            help="Код показателя (из «tochka indicators list») и значение, например "
            "natsci_students=120; один или несколько.",
        ),
    ],
    roadmap: RoadmapCode = None,
) -> None:
    """Сдать значения показателей центра за период (исправление — новой записью)."""
    from workflow.engine import indicators
    from workflow.errors import Problem

    st = state(ctx)
    stored = st.roadmap(roadmap)
    raw: list[indicators.RawValue] = []
    problems: list[Problem] = []
    for argument in values:
        code, sep, text = argument.partition("=")
        if not sep or not code.strip():
            problems.append(
                Problem(
                    file=indicators.COMMAND_LINE,
                    field=argument,
                    message="ожидается ПОКАЗАТЕЛЬ=ЗНАЧЕНИЕ, например natsci_students=120",
                )
            )
            continue
        raw.append(indicators.RawValue(indicator=code.strip(), text=text, field=argument))
    if problems:
        raise indicators.SubmissionRefused(problems)
    result = indicators.record(
        st.engine(),
        stored,
        [indicators.RawRow(center=center, period=period, values=tuple(raw))],
        filename=None,
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
    )
    _report(st.json, result, f"центр {center}, период {period.strip()}")


@app.command("import")
@handle_errors
def import_(ctx: typer.Context, file: TableFileArg, roadmap: RoadmapCode = None) -> None:
    """Импорт значений показателей из CSV или XLSX (строка — центр и период; всё или ничего)."""
    from workflow.engine import indicators
    from workflow.imports.indicators_file import read_indicators_file

    st = state(ctx)
    stored = st.roadmap(roadmap)
    rows = read_indicators_file(file, stored.definition)
    result = indicators.record(
        st.engine(),
        stored,
        rows,
        filename=str(file),
        actor=st.actor_ref,
        now=st.now(stored.definition.timezone),
    )
    _report(st.json, result, f"из {file}")


def _report(as_json: bool, result: Any, where: str) -> None:
    if as_json:
        print_json(
            {"recorded": result.recorded, "unchanged": result.unchanged, "values": result.values}
        )
        return
    done(
        f"Показатели приняты ({where}): записано значений — {result.recorded}, "
        f"без изменений — {result.unchanged}."
    )
