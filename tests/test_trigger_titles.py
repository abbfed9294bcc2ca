"""``history`` and ``centers show`` name transitions in Russian and dates as DD.MM.YYYY.

A trigger id (``mark_overdue``, ``create``) never reaches a person by itself; where the
person must type it (``centers show``: the transitions allowed now) it stands in brackets
after its title. A stored comment's ISO date («срок 2022-01-01») is shown as 01.01.2022.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import make_rows
from workflow.engine import centers, cycles
from workflow.roadmap.recurrence import CycleSpec
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]
NOW = datetime(2021, 12, 20, 9, tzinfo=UTC)


def test_history_and_show_name_transitions_in_russian(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    (row,) = make_rows(1)
    centers.import_centers(engine, stored, [row], filename="c.csv", actor="importer", now=NOW)
    shown = cli("--now", "2021-12-20", "centers", "show", row.code)
    assert shown.exit_code == 0, shown.output
    assert (
        "Допустимые переходы: согласование инфраструктурного листа (agree_infrastructure), "
        "исключение из дорожной карты (withdraw)" in " ".join(shown.output.split())
    )
    center = cli("--wide", "history", "center", row.code)
    assert center.exit_code == 0, center.output
    assert "создание" in center.output
    assert " create " not in center.output

    with db.write(engine) as conn:
        (cycle_id,) = cycles.create_cycles(
            conn,
            stored,
            [CycleSpec(measure=9, period="2021-Q4", due=date(2022, 1, 1))],
            origin="schedule",
            actor="tochka-daemon",
            now=NOW,
            recorded_at=NOW,
        )
    history = cli("--wide", "history", "cycle", str(cycle_id))
    assert history.exit_code == 0, history.output
    assert "создание" in history.output
    assert "срок 01.01.2022" in history.output
    assert "2022-01-01" not in history.output
    assert " create " not in history.output


def test_history_names_who_acted_by_full_name_and_role(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    """«кто» is the user's full name and role; the login only for a user without a
    recorded name; the daemon is «система Tochka»."""
    (row,) = make_rows(1)
    centers.import_centers(engine, stored, [row], filename="c.csv", actor="importer", now=NOW)
    for args in (
        ("users", "add", "ivanova", "--role", "координатор", "--name", "Иванова Анна Петровна"),
        ("users", "add", "petrov", "--role", "координатор"),
    ):
        added = cli("--now", "2021-12-20", *args)
        assert added.exit_code == 0, added.output
    fired = cli(
        "--now", "2021-12-20", "centers", "fire", row.code, "agree_infrastructure", actor="ivanova"
    )
    assert fired.exit_code == 0, fired.output
    fired = cli(
        "--now",
        "2021-12-20",
        "centers",
        "fire",
        row.code,
        "revert",
        "--comment",
        "ошибка",
        actor="petrov",
    )
    assert fired.exit_code == 0, fired.output
    with db.write(engine) as conn:
        cycles.create_cycles(
            conn,
            stored,
            [CycleSpec(measure=9, period="2021-Q4", due=date(2022, 1, 1))],
            origin="schedule",
            actor="tochka-daemon",
            now=NOW,
            recorded_at=NOW,
        )

    history = cli("--wide", "history", "center", row.code)
    assert history.exit_code == 0, history.output
    who = [
        line.rsplit("  ", 1)[-1].strip()
        for line in history.output.splitlines()[3:]
        if line[:3].strip().isdigit()
    ]
    assert who == [
        "importer, координатор",
        "Иванова Анна Петровна, координатор",
        "petrov, координатор",
    ]
