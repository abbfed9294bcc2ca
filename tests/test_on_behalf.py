"""``--on-behalf-of``: a coordinator may act for a user only as that user may act.

The named user's role and scope are checked as well as the coordinator's, for every
command that changes data; an unknown login is refused everywhere. Every case runs the
real CLI (as the OS account ``operator``, a coordinator) on each backend and checks the
exit code, that the message names who tried and for whom, that nothing changed, and that
the refusal is in the audit trail (which still verifies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import T0, grant
from workflow.engine import audit, centers, cycles
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import (
    CENTER,
    CONTACT,
    CYCLE,
    EVENT,
    USER,
    VALUE,
)

Cli = Callable[..., Result]
IN, OUT = "Шуйский район", "Кинешемский район"
A, B = "A-01", "B-01"  # A is in director's scope (and uo's municipality), B is not
TO_OPENED = ("agree_infrastructure", "equip", "train_staff", "open")
VALUES = ("natsci_students=40", "tech_students=25", "extra_programs_students=12")


@dataclass(frozen=True)
class Setup:
    cycle_id: int
    files: Path


@pytest.fixture
def setup(engine: Engine, stored: StoredRoadmap, tmp_path: Path) -> Setup:
    """Centers A (Шуйский район) and B (Кинешемский район), both opened; director is a
    school scoped to A, uo the municipality of A; one operator cycle scheduled."""
    rows = [
        CenterRow(
            code=code,
            name=f"Школа {code}",
            municipality=municipality,
            cohort=2021,
            email=f"{code.lower()}@example.org",
            line=2 + i,
        )
        for i, (code, municipality) in enumerate([(A, IN), (B, OUT)])
    ]
    centers.import_centers(engine, stored, rows, filename="setup", actor="operator", now=T0)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for code in (A, B):
        for trigger in TO_OPENED:
            fire.fire_center(code, trigger, actor=Actor(login="operator"), now=T0)
    grant(engine, stored.id, ["director"], "school", [A])
    grant(engine, stored.id, ["uo"], "municipality", [IN])
    grant(engine, stored.id, ["viewer"], "viewer")
    cycle = cycles.open_cycle(engine, stored, 4, due=date(2021, 6, 1), actor="operator", now=T0)
    return Setup(cycle_id=cycle.id, files=tmp_path)


def _csv(setup: Setup, name: str, text: str) -> str:
    path = setup.files / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _command(action: str, setup: Setup) -> list[str]:
    """The arguments of one changing command (after ``--on-behalf-of LOGIN``)."""
    if action.startswith("fire "):
        trigger, code = action.split()[1:]
        extra = ["--comment", "ошибка ввода"] if trigger == "withdraw" else []
        return ["centers", "fire", code, trigger, *extra]
    if action.startswith("submit "):
        code = action.split()[1]
        return ["--now", "2021-10-05", "indicators", "submit", code, "2021-Q3", *VALUES]
    if action.startswith("centers import "):
        municipality = IN if action.endswith(" in") else OUT
        return [
            "centers",
            "import",
            _csv(
                setup,
                "new.csv",
                f"code,name,municipality,cohort,email\nN-01,Школа,{municipality},2022,"
                "n@example.org\n",
            ),
        ]
    commands = {
        "indicators import": [
            "--now",
            "2021-10-05",
            "indicators",
            "import",
            _csv(
                setup,
                "values.csv",
                "Код,Период,natsci_students,tech_students,extra_programs_students\n"
                f"{A},2021-Q3,40,25,12\n",
            ),
        ],
        "cycles fire": ["cycles", "fire", str(setup.cycle_id), "start"],
        "cycles open": ["cycles", "open", "3", "--due", "2021-02-15"],
        "users add": ["users", "add", "zed", "--role", "viewer"],
        "users remove": ["users", "remove", "viewer"],
        "municipalities import": [
            "municipalities",
            "import",
            _csv(setup, "uo.csv", f"municipality,email\n{IN},uo@example.org\n"),
        ],
        "tick": ["--now", "2021-03-01", "tick"],
        "daemon run": ["--now", "2021-03-01", "daemon", "run"],
        "outbox send": ["outbox", "send"],
        "outbox retry": ["outbox", "retry", "1"],
        "centers update": ["centers", "update", A, "--name", "Школа переименована"],
        "init": ["init"],
    }
    return commands[action]


def snapshot(engine: Engine) -> tuple[object, ...]:
    """Everything a command could change, but the refusals in the audit trail."""
    with db.read(engine) as conn:
        return (
            conn.execute(
                sa.select(sa.func.count()).where(EVENT.c.entity_kind != "refusal")
            ).scalar_one(),
            conn.execute(
                sa.select(CENTER.c.code, CENTER.c.state, CENTER.c.version).order_by(CENTER.c.code)
            ).all(),
            conn.execute(
                sa.select(CYCLE.c.id, CYCLE.c.state, CYCLE.c.version).order_by(CYCLE.c.id)
            ).all(),
            conn.execute(sa.select(USER.c.login, USER.c.role).order_by(USER.c.login)).all(),
            conn.execute(sa.select(sa.func.count()).select_from(VALUE)).scalar_one(),
            conn.execute(sa.select(CONTACT.c.name, CONTACT.c.email)).all(),
        )


def _refusals(engine: Engine) -> list[tuple[str, str | None, str, str]]:
    with db.read(engine) as conn:
        return [
            (r.actor, r.on_behalf_of, r.trigger, r.entity_key)
            for r in conn.execute(
                sa.select(EVENT).where(EVENT.c.entity_kind == "refusal").order_by(EVENT.c.seq)
            )
        ]


def _last_act(engine: Engine) -> tuple[str, str | None]:
    """Who the last change is recorded for: the last event, or the last indicator value."""
    with db.read(engine) as conn:
        event = conn.execute(
            sa.select(EVENT.c.actor, EVENT.c.on_behalf_of)
            .where(EVENT.c.entity_kind != "refusal")
            .order_by(EVENT.c.seq.desc())
            .limit(1)
        ).one()
        value = conn.execute(
            sa.select(VALUE.c.actor, VALUE.c.on_behalf_of).order_by(VALUE.c.id.desc()).limit(1)
        ).first()
    return (value.actor, value.on_behalf_of) if value is not None else (event[0], event[1])


def _flat(result: Result) -> str:
    return " ".join(result.output.split())


def _refused(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    named: str,
    args: list[str],
    *,
    action: str,
    why: str,
) -> str:
    """Run a command that must be refused; check exit, message, no change, audit trail."""
    before = snapshot(engine)
    refusals = len(_refusals(engine))
    result = cli("--on-behalf-of", named, *args, actor="operator")
    text = _flat(result)
    assert result.exit_code == 1, text
    assert f"Отказано: operator от имени {named} —" in text, text
    assert why in text, text
    assert "Traceback" not in text
    assert snapshot(engine) == before, text
    recorded = _refusals(engine)
    assert len(recorded) == refusals + 1
    actor, on_behalf_of, trigger, _ = recorded[-1]
    assert (actor, on_behalf_of, trigger) == ("operator", named, action)
    with db.read(engine) as conn:
        audit.verify(conn, stored.id, stored.definition.code)
    return text


#: (the user named, the command, whether it passes, the refused action and its reason)
MATRIX = [
    # director: a school scoped to A.
    ("director", "fire start_reporting A-01", None),
    ("director", "fire start_reporting B-01", ("fire", f"центр {B} вне его области ({A})")),
    ("director", "fire withdraw A-01", ("fire", "нужна роль координатор, у него — школа")),
    ("director", "fire agree_infrastructure B-01", ("fire", "у него — школа")),
    ("director", "submit A-01", None),
    ("director", "submit B-01", ("submit_indicators", f"центр {B} вне его области ({A})")),
    ("director", "indicators import", None),
    ("director", "centers import in", ("import_centers", "у него — школа")),
    ("director", "cycles fire", ("fire", "нужна роль координатор, у него — школа")),
    ("director", "cycles open", ("open_cycle", "у него — школа")),
    ("director", "users add", ("manage_users", "у него — школа")),
    ("director", "municipalities import", ("manage_contacts", "у него — школа")),
    # uo: the municipality of A.
    ("uo", "fire start_reporting A-01", None),
    ("uo", "fire start_reporting B-01", ("fire", f"а его область — «{IN}»")),
    ("uo", "submit A-01", None),
    ("uo", "submit B-01", ("submit_indicators", f"а его область — «{IN}»")),
    ("uo", "centers import in", None),
    ("uo", "centers import out", ("import_centers", f"а его область — «{IN}»")),
    ("uo", "fire withdraw B-01", ("fire", "у него — муниципалитет")),
    # viewer: reads only.
    ("viewer", "submit A-01", ("submit_indicators", "у него — наблюдатель")),
    ("viewer", "tick", ("reconcile", "у него — наблюдатель")),
]


@pytest.mark.parametrize(
    ("named", "action", "refusal"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in MATRIX],
)
def test_the_named_user_is_checked_like_the_actor(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    setup: Setup,
    named: str,
    action: str,
    refusal: tuple[str, str] | None,
) -> None:
    args = _command(action.replace(" A-01", f" {A}").replace(" B-01", f" {B}"), setup)
    if refusal is None:
        before = snapshot(engine)
        result = cli("--on-behalf-of", named, *args, actor="operator")
        assert result.exit_code == 0, result.output
        assert snapshot(engine) != before
        # Recorded for both: who did it, and for whom.
        assert _last_act(engine) == ("operator", named)
        assert _refusals(engine) == []
        return
    refused_action, why = refusal
    _refused(cli, engine, stored, named, args, action=refused_action, why=why)


def test_a_school_user_on_its_own_center_and_on_another(
    cli: Cli, engine: Engine, stored: StoredRoadmap, setup: Setup
) -> None:
    """The case of issue 10, step by step: in scope passes, out of scope and a
    coordinator-only trigger are refused, naming both people; an unknown login too."""
    ok = cli("--on-behalf-of", "director", "centers", "fire", A, "start_reporting")
    assert ok.exit_code == 0, ok.output
    out = _refused(
        cli,
        engine,
        stored,
        "director",
        ["centers", "fire", B, "start_reporting"],
        action="fire",
        why=f"пользователь «director», от имени которого действие, сам этого сделать не "
        f"может: центр {B} вне его области ({A})",
    )
    assert f"«Центр {B}: start_reporting»" in out
    assert "без --on-behalf-of" in out  # the hint says what to do instead
    _refused(
        cli,
        engine,
        stored,
        "director",
        ["centers", "fire", A, "withdraw", "--comment", "ошибка"],
        action="fire",
        why="нужна роль координатор, у него — школа",
    )
    _refused(
        cli,
        engine,
        stored,
        "nobody",
        ["centers", "fire", A, "revert", "--comment", "ошибка"],
        action="fire",
        why="пользователь «nobody», от имени которого действие, не зарегистрирован",
    )
    assert [r[:3] for r in _refusals(engine)] == [
        ("operator", "director", "fire"),
        ("operator", "director", "fire"),
        ("operator", "nobody", "fire"),
    ]
    with db.read(engine) as conn:
        states = dict(conn.execute(sa.select(CENTER.c.code, CENTER.c.state)).all())
    assert states == {A: "reporting", B: "opened"}


#: Every command that changes data, and the action its refusal is recorded as.
EVERY_CHANGE = [
    ("fire start_reporting A-01", "fire"),
    ("submit A-01", "submit_indicators"),
    ("indicators import", "submit_indicators"),
    ("centers import in", "import_centers"),
    ("cycles fire", "fire"),
    ("cycles open", "open_cycle"),
    ("users add", "manage_users"),
    ("users remove", "manage_users"),
    ("municipalities import", "manage_contacts"),
    ("tick", "reconcile"),
    ("daemon run", "reconcile"),
    ("outbox send", "manage_outbox"),
    ("outbox retry", "manage_outbox"),
    ("centers update", "update_center"),
    ("init", "load_roadmap"),
]


def test_every_command_that_checks_the_named_user_is_in_the_matrix() -> None:
    """The commands that leave ``--on-behalf-of`` to the engine are each tried above; every
    other command refuses an unknown login itself (`test_a_read_command_refuses_...`)."""
    from workflow.cli.context import _CHECKS_NAMED_USER

    tried = {" ".join(_command_name(c)) for c, _ in EVERY_CHANGE}
    assert _CHECKS_NAMED_USER <= tried, _CHECKS_NAMED_USER - tried


def _command_name(action: str) -> list[str]:
    """The command words of an EVERY_CHANGE action ("fire X" is "centers fire")."""
    first = action.split()[0]
    if first == "fire":
        return ["centers", "fire"]
    if first == "submit":
        return ["indicators", "submit"]
    words = action.split()[:2]
    return words[:1] if words[0] in ("tick", "init") else words


READS = [
    ["centers", "list"],
    ["centers", "show", A],
    ["cycles", "list"],
    ["audit", "log"],
    ["audit", "verify"],
    ["status"],
    ["history", "center", A],
    ["users", "list"],
    ["outbox", "list"],
    ["report", "status", "-o", "{out}"],
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a[:2]))
def test_a_read_command_refuses_an_unknown_login(
    cli: Cli, engine: Engine, setup: Setup, args: list[str]
) -> None:
    """A command that only reads has no act to check the named user for, yet an unknown
    login is refused, before anything is read or written."""
    before = snapshot(engine)
    filled = [a.replace("{out}", str(setup.files / "status.xlsx")) for a in args]
    result = cli("--on-behalf-of", "nobody", *filled, actor="operator")
    text = _flat(result)
    assert result.exit_code == 1, text
    assert "пользователь «nobody» не зарегистрирован" in text, text
    assert "Traceback" not in text
    assert not (setup.files / "status.xlsx").exists()
    assert snapshot(engine) == before
    # A registered user is accepted by the same command.
    assert cli("--on-behalf-of", "viewer", *filled, actor="operator").exit_code == 0


@pytest.mark.parametrize(("command", "action"), EVERY_CHANGE)
def test_an_unknown_login_is_refused_everywhere(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    setup: Setup,
    command: str,
    action: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(tmp_path / "mail"))
    text = _refused(
        cli,
        engine,
        stored,
        "nobody",
        _command(command.replace(" A-01", f" {A}"), setup),
        action=action,
        why="пользователь «nobody», от имени которого действие, не зарегистрирован",
    )
    assert "tochka users add nobody" in text


def test_a_first_load_on_behalf_of_anyone_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A roadmap not yet loaded has no users to act for: refused, nothing created."""
    from typer.testing import CliRunner

    from workflow.cli.app import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "first")
    result = CliRunner().invoke(app, ["--on-behalf-of", "nobody", "init"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert "Отказано: first от имени nobody" in text
    assert "«nobody»" in text
    engine = db.make_engine(f"sqlite:///{tmp_path / 'var' / 'tochka.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM roadmap")).scalar_one() == 0
    finally:
        engine.dispose()
