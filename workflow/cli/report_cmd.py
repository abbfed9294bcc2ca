"""``tochka report``: the quarterly report, the status dashboard and the final report."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode

app = typer.Typer(
    help="Отчёты: ежеквартальный отчёт, сводка состояния, итоговый отчёт.", no_args_is_help=True
)


class QuarterlyFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"


class StatusFormat(StrEnum):
    HTML = "html"
    XLSX = "xlsx"


Output = Annotated[Path, typer.Option("-o", "--output", help="Файл отчёта.")]


@app.command("quarterly")
@handle_errors
def quarterly(
    ctx: typer.Context,
    period: Annotated[str, typer.Argument(metavar="КВАРТАЛ", help="Квартал, например 2022-Q3.")],
    output: Output,
    fmt: Annotated[
        QuarterlyFormat, typer.Option("--format", help="Формат файла.")
    ] = QuarterlyFormat.XLSX,
    roadmap: RoadmapCode = None,
) -> None:
    """Отчёт о выполнении показателей центров за квартал, по дорожной карте: XLSX или CSV."""
    from base import db
    from workflow.engine.indicators import period_of
    from workflow.roadmap.definition import IndicatorPeriod
    from workflow.views import quarterly as report_module
    from workflow.views.output import atomic_output, check_output

    st = state(ctx)
    stored = st.roadmap(roadmap)
    quarter = period_of(period, stored.definition, kind=IndicatorPeriod.QUARTER)
    check_output(output)
    with db.read(st.engine()) as conn:
        report = report_module.build(conn, stored, quarter, generated_at=st.now())
    writer = report_module.write_xlsx if fmt is QuarterlyFormat.XLSX else report_module.write_csv
    with atomic_output(output) as temporary:
        writer(report, temporary)
    missing = sum(1 for line in report.lines if line.missing)
    if st.json:
        print_json(
            {
                "file": str(output),
                "period": quarter.label,
                "format": fmt.value,
                "centers": len(report.lines),
                "missing": missing,
                "empty": report.empty,
            }
        )
        return
    if report.empty:
        done(f"{report.empty_text} Записан пустой отчёт: {output}.")
        return
    done(
        f"Отчёт за {quarter.title} записан в {output}: центров — {len(report.lines)}, "
        f"без полных сведений — {missing}."
    )


@app.command("status")
@handle_errors
def status(
    ctx: typer.Context,
    output: Output,
    fmt: Annotated[
        StatusFormat, typer.Option("--format", help="Формат файла.")
    ] = StatusFormat.HTML,
    roadmap: RoadmapCode = None,
) -> None:
    """Сводка состояния: этапы центров по годам, муниципалитеты, мероприятия, ближайшие сроки."""
    from base import db
    from workflow.views import dashboard
    from workflow.views.output import atomic_output, check_output

    st = state(ctx)
    stored = st.roadmap(roadmap)
    check_output(output)
    with db.read(st.engine()) as conn:
        data = dashboard.build(conn, stored, now=st.now(stored.definition.timezone))
    writer = dashboard.write_html if fmt is StatusFormat.HTML else dashboard.write_xlsx
    with atomic_output(output) as temporary:
        writer(data, temporary)
    if st.json:
        print_json(
            {
                "file": str(output),
                "format": fmt.value,
                "today": data.today.isoformat(),
                "centers": data.total_centers,
                "overdue_cycles": len(data.overdue),
                "upcoming": len(data.upcoming),
            }
        )
        return
    done(
        f"Сводка на {data.today:%d.%m.%Y} записана в {output}: центров — {data.total_centers}, "
        f"просроченных мероприятий — {len(data.overdue)}, сроков в ближайшие 30 дней — "
        f"{len(data.upcoming)}."
    )


class FinalFormat(StrEnum):
    XLSX = "xlsx"
    HTML = "html"


@app.command("final")
@handle_errors
def final(
    ctx: typer.Context,
    output: Output,
    fmt: Annotated[FinalFormat, typer.Option("--format", help="Формат файла.")] = FinalFormat.XLSX,
    roadmap: RoadmapCode = None,
) -> None:
    """Итоговый отчёт программы: мероприятия и этапы центров — в срок, с опозданием, не
    выполнено — с документами; XLSX или HTML. До конца программы — промежуточный."""
    from base import db
    from workflow.views import final as report_module
    from workflow.views.output import atomic_output, check_output

    st = state(ctx)
    stored = st.roadmap(roadmap)
    check_output(output)
    with db.read(st.engine()) as conn:
        report = report_module.build(conn, stored, now=st.now(stored.definition.timezone))
    writer = report_module.write_xlsx if fmt is FinalFormat.XLSX else report_module.write_html
    with atomic_output(output) as temporary:
        writer(report, temporary)
    cycles, stages = report.cycle_totals, report.stage_totals
    if st.json:
        print_json(
            {
                "file": str(output),
                "format": fmt.value,
                "today": report.today.isoformat(),
                "interim": report.interim,
                "cycles": {v.value: n for v, n in cycles.items()},
                "stages": {v.value: n for v, n in stages.items()},
            }
        )
        return
    kind = "Промежуточный отчёт" if report.interim else "Итоговый отчёт"
    late = cycles[report_module.Verdict.LATE] + stages[report_module.Verdict.LATE]
    missed = cycles[report_module.Verdict.NOT_DONE] + stages[report_module.Verdict.NOT_DONE]
    done(
        f"{kind} на {report.today:%d.%m.%Y} записан в {output}: циклов мероприятий — "
        f"{len(report.cycles)}, этапов центров — {len(report.stages)}; с опозданием — {late}, "
        f"не выполнено — {missed}."
    )
