"""A command imports what it uses and no more (`tochka centers list` is budgeted against
``import sqlmodel`` in benchmarks/bench_cli.py): the other command modules, the outbox,
the inbound mail, the audit chain, the rights, the roadmap's model, the anchors (read
only for a missing or empty database file), the tables it does not read, the TOML parser
and the address rule (the settings use them only for a file or a sender given), jinja2,
openpyxl, APScheduler and Rich stay unimported. ``tochka -h`` still lists every command,
each defined where `workflow.cli.app.COMMANDS` says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
from sqlalchemy.engine import Engine

from tests.conftest import T0, grant, make_rows
from workflow.cli import app as cli_app
from workflow.engine import centers, identity
from workflow.roadmap.store import StoredRoadmap

#: Imported by ``centers list`` only if something that it does not use crept back in.
NOT_FOR_A_LISTING = (
    "notifications.outbox",
    "workflow.storage.inbound",
    "workflow.engine.bounces",
    "workflow.engine.audit",
    "workflow.engine.access",
    "workflow.roadmap.definition",
    "workflow.engine.anchors",
    "jinja2",
    "openpyxl",
    "apscheduler",
    "rich",
    # Read by the settings only when asked for: the TOML parser for a TOCHKA_CONFIG file,
    # the address rule for a configured sender (`workflow.config`).
    "tomllib",
    "base.addresses",
    # The tables a listing does not read (`workflow.storage.tables` builds a table when it
    # is first named): ``center`` and the ``roadmap`` its key names are all it needs.
    "workflow.storage.tables.cycles",
    "workflow.storage.tables.events",
    "workflow.storage.tables.users",
    "workflow.storage.tables.rungs",
    "workflow.storage.tables.daemons",
    "workflow.storage.tables.indicators",
    "workflow.storage.tables.municipalities",
    "workflow.storage.tables.versions",
    "workflow.storage.tables.revisions",
    "workflow.storage.tables.evidence",
)

# A ``tochka`` command in a fresh interpreter, then what it had imported.
_RUN = """
import json, sys
entry, url, out, *args = sys.argv[1:]
sys.argv = ["tochka", "--db", url, *args]
from workflow.cli import app
try:
    getattr(app, entry)()
except SystemExit as stop:
    code = stop.code
from sqlmodel.main import SQLModel, default_registry
import gc
with open(out, "w") as found:
    json.dump(
        {
            "code": code,
            "frozen": gc.get_freeze_count(),
            "collecting": gc.isenabled(),
            "modules": sorted(sys.modules),
            "tables": sorted(SQLModel.metadata.tables),
            "mapped": sorted(mapper.class_.__name__ for mapper in default_registry.mappers),
        },
        found,
    )
"""


def _fresh(
    db_url: str, tmp_path: Path, *args: str, entry: str = "console_main"
) -> tuple[dict[str, Any], str]:
    """``tochka --db db_url *args`` in a fresh interpreter, entered as the program is
    (``entry``: `workflow.cli.app.console_main`): what `_RUN` saw, and stdout."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, entry, db_url, str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    found: dict[str, Any] = json.loads(out.read_text())
    assert found["code"] == 0, done.stderr
    return found, done.stdout


def test_centers_list_imports_only_what_it_uses(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    centers.import_centers(engine, stored, make_rows(3), filename="c.csv", actor="t", now=T0)
    found, stdout = _fresh(db_url, tmp_path, "centers", "list")
    assert "Центры: 3" in stdout
    modules = set(found["modules"])
    assert "workflow.cli.centers_cmd" in modules
    assert {"workflow.storage.tables.centers", "workflow.storage.tables.roadmap"} <= modules
    # Core tables: no SQLModel class (its pydantic model and declarative mapping) is built.
    assert found["tables"] == ["center", "roadmap"]
    assert found["mapped"] == []
    others = {f"workflow.cli.{where.split(':')[0]}" for _, where in cli_app.COMMANDS}
    assert sorted(others & modules) == ["workflow.cli.centers_cmd"]
    crept = [m for m in modules if m.split(".")[0] in NOT_FOR_A_LISTING or m in NOT_FOR_A_LISTING]
    assert crept == []


def test_outbox_send_parses_no_roadmap_and_builds_no_renderer(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """``tochka outbox send`` on an empty outbox: the coordinator check reads the
    roadmaps' ids (`workflow.cli.context.authorize`), so no definition is parsed (no
    YAML, no loader), and no letter is rendered (`workflow.mailer.make_renderer` imports
    Jinja2)."""
    grant(engine, stored.id, (identity.os_login(),), "coordinator")
    found, stdout = _fresh(db_url, tmp_path, "outbox", "send")
    assert "Отправлено: 0" in stdout
    modules = set(found["modules"])
    assert {"notifications.deliver", "workflow.mailer", "workflow.engine.access"} <= modules
    unused = ("workflow.roadmap.loader", "yaml", "jinja2", "notifications.render")
    assert [m for m in unused if m in modules] == []


#: What recording a change brings (the audit chain, its dates, the outbox's tables, the
#: bounces): the engine's users, cycles and municipalities import it when a change runs,
#: and the rights (`workflow.engine.access`) when a refusal is recorded.
FOR_CHANGES = (
    "workflow.engine.audit",
    "workflow.engine.dates",
    "workflow.engine.bounces",
    "notifications.outbox",
)


def test_the_listings_import_nothing_for_changes(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """``tochka users list`` reads the roles (`workflow.engine.access`), ``tochka cycles
    list`` the parsed roadmap and ``tochka municipalities list`` the contacts; none
    imports `FOR_CHANGES`, and the cycles' and municipalities' listings not the rights
    either. The roadmap's recurrences and period titles ask for no
    working day and build no calendar: the Russian calendar (`workflow.roadmap.workdays`
    makes it on the first lookup; it imports every country of `holidays`) and
    `icalendar` (`notifications.ics`) stay unimported."""
    found, stdout = _fresh(db_url, tmp_path, "users", "list")
    assert "operator" in stdout
    modules = set(found["modules"])
    assert {"workflow.engine.users", "workflow.engine.access"} <= modules
    assert sorted(modules.intersection(FOR_CHANGES)) == []
    assert found["mapped"] == []  # the users' table is a Core table
    found, stdout = _fresh(db_url, tmp_path, "cycles", "list")
    assert "Циклы: 0" in stdout
    modules = set(found["modules"])
    assert {"workflow.engine.cycles", "workflow.roadmap.loader"} <= modules
    assert {"workflow.roadmap.workdays", "notifications.ics"} <= modules
    unused = (*FOR_CHANGES, "workflow.engine.access", "holidays", "icalendar")
    assert sorted(modules.intersection(unused)) == []
    assert found["mapped"] == []  # the cycles' table too
    found, stdout = _fresh(db_url, tmp_path, "municipalities", "list")
    assert found["code"] == 0
    modules = set(found["modules"])
    assert "workflow.engine.municipalities" in modules
    assert sorted(modules.intersection((*FOR_CHANGES, "workflow.engine.access"))) == []
    assert found["mapped"] == []  # and the contacts'


def test_history_maps_no_class(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """``tochka history center`` reads the audit chain's events, the users (who acted) and
    the cycles: Core tables (`workflow.storage.tables.events`, `users`, `cycles`), no
    SQLModel class built."""
    centers.import_centers(engine, stored, make_rows(1), filename="c.csv", actor="t", now=T0)
    found, stdout = _fresh(db_url, tmp_path, "history", "center", "C00000")
    assert "История центра C00000: событий 1" in stdout
    assert {"event", "audit_head", "app_user", "measure_cycle"} <= set(found["tables"])
    assert found["mapped"] == []


def test_outbox_list_maps_no_class(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """The outbox's tables are Core tables (`notifications.outbox`): ``tochka outbox list``
    builds no SQLModel class (their pydantic models and declarative mappings)."""
    found, stdout = _fresh(db_url, tmp_path, "outbox", "list")
    assert "notifications.outbox" in found["modules"]
    assert {"outbox", "outbox_letter", "reminder"} <= set(found["tables"])
    assert found["mapped"] == []


def test_centers_show_maps_no_class(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """``tochka centers show`` reads the center's moved deadlines, its reminder rungs,
    its indicator values and the roadmap's versions: Core tables
    (`workflow.storage.tables.revisions`, `rungs`, `indicators`, `versions`)."""
    centers.import_centers(engine, stored, make_rows(1), filename="c.csv", actor="t", now=T0)
    found, stdout = _fresh(db_url, tmp_path, "centers", "show", "C00000")
    assert "C00000" in stdout
    assert {"stage_revision", "sent_rung", "indicator_value"} <= set(found["tables"])
    assert found["mapped"] == []


def test_init_again_imports_no_alembic_and_no_rich(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """``tochka init`` on a database at the head revision with its roadmap loaded: no
    migration to run (`workflow.storage.schema.upgrade` imports Alembic only for one),
    and the warnings of `workflow.views.overview` need no Rich table."""
    found, stdout = _fresh(db_url, tmp_path, "init")
    assert "схема уже актуальна" in stdout
    modules = set(found["modules"])
    assert {"workflow.storage.schema", "workflow.views.overview"} <= modules
    assert [m for m in ("alembic", "rich") if m in modules] == []


def test_the_start_is_frozen_when_the_command_runs(
    db_url: str, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """`workflow.cli.app.console_main` (the program) pauses the cyclic garbage collector
    for the start; when the command runs, what the start made is frozen and the
    collector is back on. Help, which runs no command, freezes nothing and leaves the
    collector on. `main`, which tests call in-process, freezes nothing: it would freeze
    the test process's objects."""
    found, _ = _fresh(db_url, tmp_path, "centers", "list")
    assert found["frozen"] > 20_000
    assert found["collecting"] is True
    found, stdout = _fresh(db_url, tmp_path, "-h")
    assert "centers" in stdout
    assert (found["frozen"], found["collecting"]) == (0, True)
    found, _ = _fresh(db_url, tmp_path, "centers", "list", entry="main")
    assert (found["frozen"], found["collecting"]) == (0, True)


def test_the_working_days_calendar_is_made_on_the_first_lookup() -> None:
    """`workflow.roadmap.workdays` imports `holidays` when a working day is first asked
    for, and knows the transfers then (07.03.2022 off, 05.03.2022 a working Saturday)."""
    check = (
        "import sys; from datetime import date; from workflow.roadmap import workdays; "
        "before = 'holidays' in sys.modules; "
        "print(before, workdays.is_working_day(date(2022, 3, 7)), "
        "workdays.is_working_day(date(2022, 3, 5)), 'holidays.countries' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.stdout.split() == ["False", "False", "True", "True"]


def test_every_command_is_defined_where_the_table_says() -> None:
    """Each module of `COMMANDS` defines exactly the commands the table gives it, and
    ``tochka`` lists them in the table's order (``tochka -h`` shows that order)."""
    by_module: dict[str, list[str]] = {}
    for name, where in cli_app.COMMANDS:
        by_module.setdefault(where, []).append(name)
    for where, names in by_module.items():
        assert list(cli_app._load(where)) == names, where
    root = typer.main.get_command(cli_app.app)
    assert list(root.commands) == [name for name, _ in cli_app.COMMANDS]


def test_a_group_builds_the_command_looked_up() -> None:
    """`workflow.cli.app._Deferred`: ``tochka centers list`` builds ``list`` alone of the
    group's commands; the group lists them all, in the order and with the commands an
    eager Typer build of the same app gives."""
    from typer.main import get_group_from_info
    from typer.models import TyperInfo

    from workflow.cli import centers_cmd

    group = cli_app._load("centers_cmd:app")["centers"]
    assert group.commands.built() == []
    eager = get_group_from_info(
        TyperInfo(centers_cmd.app, name="centers"),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
        suggest_commands=True,
    )
    assert list(group.commands) == list(eager.commands)
    assert group.commands["list"].name == "list"
    assert group.commands.built() == ["list"]
    for name, command in eager.commands.items():
        lazy = group.commands[name]
        assert (lazy.name, lazy.help, [p.name for p in lazy.params]) == (
            command.name,
            command.help,
            [p.name for p in command.params],
        )
