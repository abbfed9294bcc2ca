"""What a school's monitoring form holds: its center, the period, the indicators due.

`forms_for` reads, in one query, the values of the period before for every center that
is sent a form, and returns one `notifications.monitoring_form.MonitoringForm` per
center: the indicators the period requires (`required_indicators`: the per-quarter
ones, and in the fourth quarter the per-year ones), each with its unit, its allowed
range and the value the center gave for the period before (the quarter before for a
per-quarter indicator, the year before for a per-year one). The workbook itself is made
by `notifications.monitoring_form.build_form` when the letter is rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.engine import Connection

from notifications.monitoring_form import FormRow, MonitoringForm
from workflow.engine.indicators import center_facts, format_value, latest_values
from workflow.roadmap.definition import UNIT_TITLES, IndicatorPeriod, IndicatorUnit, Roadmap
from workflow.roadmap.indicators import COUNT_CEILING, Period, parse_period, required_indicators

__all__ = ["forms_for", "previous_label"]


def previous_label(period: Period, kind: IndicatorPeriod) -> str:
    """The label of the period before ``period`` for an indicator of ``kind``:
    «2021-Q2» before «2021-Q3», «2020-Q4» before «2021-Q1», «2020» before «2021»."""
    if kind is IndicatorPeriod.YEAR or period.quarter is None:
        return str(period.year - 1)
    if period.quarter == 1:
        return f"{period.year - 1}-Q4"
    return f"{period.year}-Q{period.quarter - 1}"


def _title(label: str) -> str:
    parsed = parse_period(label)
    return parsed.title if parsed is not None else label


def forms_for(
    conn: Connection,
    roadmap_id: int,
    roadmap: Roadmap,
    *,
    codes: Sequence[str],
    period: str,
    due: date,
) -> dict[str, MonitoringForm]:
    """The form of each center of ``codes`` for ``period`` (a quarter or a year label),
    by code; empty when the period is not a label or requires no indicator."""
    parsed = parse_period(period)
    if parsed is None:
        return {}
    required = required_indicators(roadmap, parsed)
    if not required or not codes:
        return {}
    before = {i.code: previous_label(parsed, i.period) for i, _label in required}
    centers = center_facts(conn, roadmap_id, codes)
    values = latest_values(conn, roadmap_id, sorted(set(before.values())))
    try:
        reply_to = roadmap.party(roadmap.coordinator).email
    except KeyError:
        reply_to = ""
    last_title = _title(previous_label(parsed, IndicatorPeriod.QUARTER))
    forms: dict[str, MonitoringForm] = {}
    for code in codes:
        center = centers.get(code)
        if center is None:
            continue
        rows: list[FormRow] = []
        for indicator, label in required:
            previous = values.get((center.id, before[indicator.code], indicator.code))
            bound = indicator.upper_bound
            rows.append(
                FormRow(
                    code=indicator.code,
                    name=indicator.name,
                    unit=UNIT_TITLES[indicator.unit],
                    whole=indicator.unit is not IndicatorUnit.PERCENT,
                    maximum=float(COUNT_CEILING) if bound is None else bound,
                    period_title=_title(label) if label != parsed.label else "",
                    last=""
                    if previous is None
                    else format_value(indicator, previous[1])
                    + (f" (за {_title(before[indicator.code])})" if label != parsed.label else ""),
                )
            )
        forms[code] = MonitoringForm(
            roadmap_code=roadmap.code,
            roadmap_title=roadmap.title,
            center_code=center.code,
            center_name=center.name,
            period=parsed.label,
            period_title=parsed.title,
            last_title=last_title,
            due=due,
            reply_to=reply_to,
            rows=tuple(rows),
        )
    return forms
