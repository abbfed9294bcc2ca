"""Roles and scopes: every role × every changing command × in- and out-of-scope target.

Each case runs the real CLI as a given OS account (the only identity the CLI accepts)
and checks the exit code, the refusal's wording, that nothing changed, and that the
refusal itself is in the audit trail, which still verifies.

Over 500 lines: one file per subject, so that every refusal of that subject and its
exact Russian message are found in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import SHIPPED, T0, grant
from workflow.engine import audit, centers, cycles
from workflow.engine.access import ROLE_TITLES, Actor, Role
from workflow.engine.transitions import TransitionEngine
from workflow.imports.centers_file import CenterRow
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.loader import load_roadmap
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, CONTACT, CYCLE, EVENT, USER
from workflow.storage.tables import VALUE as INDICATOR_VALUE

Cli = Callable[..., Result]
IN, OUT = "Шуйский район", "Кинешемский район"
ROLES = ["coordinator", "municipality", "school", "viewer", "stranger"]
PATH_TO = {
    "planned": [],
    "infrastructure_agreed": ["agree_infrastructure"],
    "equipped": ["agree_infrastructure", "equip"],
    "staff_trained": ["agree_infrastructure", "equip", "train_staff"],
    "opened": ["agree_infrastructure", "equip", "train_staff", "open"],
}


@dataclass(frozen=True)
class Case:
    name: str
    allowed: frozenset[str]  # roles allowed on an in-scope target
    scoped: bool  # whether the target has an out-of-scope variant


CASES = [
    Case("fire agree_infrastructure", frozenset({"coordinator"}), True),
    Case("fire equip", frozenset({"coordinator", "municipality"}), True),
    Case("fire start_reporting", frozenset({"coordinator", "municipality", "school"}), True),
    Case("fire train_staff", frozenset({"coordinator", "municipality"}), True),
    Case("fire open", frozenset({"coordinator", "municipality"}), True),
    Case("fire withdraw", frozenset({"coordinator"}), True),
    Case("fire revert", frozenset({"coordinator"}), True),
    Case("centers import", frozenset({"coordinator", "municipality"}), True),
    Case("indicators submit", frozenset({"coordinator", "municipality", "school"}), True),
    Case("indicators import", frozenset({"coordinator", "municipality", "school"}), True),
    Case("cycles open", frozenset({"coordinator"}), False),
    Case("cycles fire", frozenset({"coordinator"}), False),
    Case("cycles cancel", frozenset({"coordinator"}), False),
    Case("users add", frozenset({"coordinator"}), False),
    Case("users remove", frozenset({"coordinator"}), False),
    Case("outbox send", frozenset({"coordinator"}), False),
    Case("municipalities import", frozenset({"coordinator"}), False),
    Case("tick", frozenset({"coordinator"}), False),
]


def _expected(case: Case, role: str, in_scope: bool) -> bool:
    if role not in case.allowed:
        return False
    return in_scope or role == "coordinator"


def _center(
    engine: Engine, stored: StoredRoadmap, code: str, municipality: str, state: str
) -> None:
    row = CenterRow(
        code=code,
        name=f"Школа {code}",
        municipality=municipality,
        cohort=2021,
        email=f"{code.lower()}@example.org",
        line=2,
    )
    centers.import_centers(engine, stored, [row], filename="setup", actor="operator", now=T0)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for trigger in PATH_TO[state]:
        fire.fire_center(code, trigger, actor=Actor(login="operator"), now=T0)


def _state(engine: Engine, code: str) -> tuple[str, int] | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(CENTER.c.state, CENTER.c.version).where(CENTER.c.code == code)
        ).first()
    return None if row is None else (row.state, row.version)


def _refusals(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (r.actor, r.trigger, r.entity_key)
            for r in conn.execute(
                sa.select(EVENT).where(EVENT.c.entity_kind == "refusal").order_by(EVENT.c.seq)
            )
        ]


def _set_school_scope(engine: Engine, stored: StoredRoadmap, code: str) -> None:
    with db.write(engine) as conn:
        conn.execute(
            sa.update(USER)
            .where(USER.c.roadmap_id == stored.id, USER.c.login == "school")
            .values(scope=[code])
        )


@pytest.mark.parametrize("role", ROLES)
def test_every_command_for_a_role(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    tmp_path: Path,
    role: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(tmp_path / "mail"))
    grant(engine, stored.id, ["coord"], "coordinator")
    grant(engine, stored.id, ["municipality"], "municipality", [IN])
    grant(engine, stored.id, ["school"], "school", ["X"])
    grant(engine, stored.id, ["viewer", "viewer2"], "viewer")
    login = role  # the OS account of this case; "stranger" is registered nowhere
    if role == "coordinator":
        login = "coord"
    seen_refusals = 0
    for case in CASES:
        for in_scope in [True, False] if case.scoped else [True]:
            tag = f"{case.name.replace(' ', '-')}-{'in' if in_scope else 'out'}-{role}"
            code = tag.upper()[:60]
            municipality = IN if in_scope else OUT
            check_state: Callable[[], object]
            verb, _, detail = case.name.partition(" ")
            if verb == "fire":
                trigger = detail
                pre = {
                    "agree_infrastructure": "planned",
                    "equip": "infrastructure_agreed",
                    "train_staff": "equipped",
                    "open": "staff_trained",
                    "start_reporting": "opened",
                    "withdraw": "planned",
                    "revert": "infrastructure_agreed",
                }[trigger]
                _center(engine, stored, code, municipality, pre)
                if in_scope:
                    _set_school_scope(engine, stored, code)
                args = ["centers", "fire", code, trigger]
                if trigger in ("withdraw", "revert"):
                    args += ["--comment", "ошибка ввода"]
                if trigger == "open":
                    args = ["--now", "2021-09-01", *args]
                check_state = lambda code=code: _state(engine, code)  # noqa: E731
            elif case.name == "centers import":
                csv = tmp_path / f"{tag}.csv"
                csv.write_text(
                    "code,name,municipality,cohort,email\n"
                    f"{code},Школа,{municipality},2022,i@example.org\n",
                    encoding="utf-8",
                )
                args = ["centers", "import", str(csv)]
                check_state = lambda code=code: _state(engine, code)  # noqa: E731
            elif case.name == "indicators submit":
                _center(engine, stored, code, municipality, "opened")
                if in_scope:
                    _set_school_scope(engine, stored, code)
                args = [
                    "--now",
                    "2021-10-05",
                    "indicators",
                    "submit",
                    code,
                    "2021-Q3",
                    "natsci_students=40",
                    "tech_students=25",
                    "extra_programs_students=12",
                ]
                check_state = lambda: _count(engine, INDICATOR_VALUE)  # noqa: E731
            elif case.name == "indicators import":
                _center(engine, stored, code, municipality, "opened")
                if in_scope:
                    _set_school_scope(engine, stored, code)
                csv = tmp_path / f"{tag}-values.csv"
                csv.write_text(
                    "Код,Период,natsci_students,tech_students,extra_programs_students\n"
                    f"{code},2021-Q3,40,25,12\n",
                    encoding="utf-8",
                )
                args = ["--now", "2021-10-05", "indicators", "import", str(csv)]
                check_state = lambda: _count(engine, INDICATOR_VALUE)  # noqa: E731
            elif case.name == "cycles cancel":
                cycle = cycles.open_cycle(
                    engine, stored, 4, due=date(2021, 7, 1), actor="operator", now=T0
                )
                args = ["cycles", "fire", str(cycle.id), "cancel", "--comment", "не нужен"]
                check_state = lambda cid=cycle.id: _cycle_state(engine, cid)  # noqa: E731
            elif case.name == "cycles open":
                args = ["cycles", "open", "3", "--due", "2021-02-15"]
                check_state = lambda: _count(engine, CYCLE)  # noqa: E731
            elif case.name == "cycles fire":
                cycle = cycles.open_cycle(
                    engine, stored, 4, due=date(2021, 6, 1), actor="operator", now=T0
                )
                args = ["cycles", "fire", str(cycle.id), "start"]
                check_state = lambda cid=cycle.id: _cycle_state(engine, cid)  # noqa: E731
            elif case.name == "users add":
                args = ["users", "add", f"new-{role}", "--role", "viewer"]
                check_state = lambda: _count(engine, USER)  # noqa: E731
            elif case.name == "users remove":
                args = (
                    ["users", "remove", "viewer2"]
                    if role != "coordinator"
                    else ["users", "remove", "viewer"]
                )
                check_state = lambda: _count(engine, USER)  # noqa: E731
            elif case.name == "tick":
                args = ["--now", "2021-03-01", "tick"]
                check_state = lambda: _count(engine, CYCLE)  # noqa: E731
            elif case.name == "municipalities import":
                csv = tmp_path / f"{tag}.csv"
                csv.write_text(
                    f"municipality,email\n{IN},uo-{role}@example.org\n", encoding="utf-8"
                )
                args = ["municipalities", "import", str(csv)]
                check_state = lambda: _contacts(engine)  # noqa: E731
            else:
                args = ["outbox", "send"]
                check_state = lambda: None  # noqa: E731
            before = check_state()
            result = cli(*args, actor=login)
            allowed = _expected(case, role, in_scope)
            if allowed:
                assert result.exit_code == 0, (tag, result.output)
                if verb != "fire" or True:
                    assert case.name == "outbox send" or check_state() != before, tag
            else:
                assert result.exit_code == 1, (tag, result.output)
                assert "Отказано" in result.output, (tag, result.output)
                assert check_state() == before, tag
                seen_refusals += 1
                refusal = _refusals(engine)[-1]
                assert refusal[0] == login, tag
                if role == "stranger":
                    assert "не зарегистрирован" in result.output
                elif role not in case.allowed:
                    title = ROLE_TITLES[Role(role)]
                    assert f"у пользователя — {title}" in result.output, (tag, result.output)
                else:
                    assert OUT in result.output or "вне области" in result.output, tag
    assert len(_refusals(engine)) == seen_refusals
    with db.read(engine) as conn:
        assert audit.verify(conn, stored.id, stored.definition.code).events > 0
    assert cli("audit", "verify", actor=login).exit_code == 0


def _contacts(engine: Engine) -> list[tuple[str, str]]:
    table = CONTACT
    with engine.connect() as conn:
        return [(r.name, r.email) for r in conn.execute(sa.select(table.c.name, table.c.email))]


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _cycle_state(engine: Engine, cycle_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(sa.select(CYCLE.c.state).where(CYCLE.c.id == cycle_id)).scalar_one()
        )


def test_on_behalf_of_is_for_coordinators_and_recorded(
    cli: Cli, engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    grant(engine, stored.id, ["director"], "school", [centers3[0].code])
    grant(engine, stored.id, ["viewer"], "viewer")
    # For director only what a school may do itself (issue 10): report its opened center.
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for trigger in PATH_TO["opened"]:
        fire.fire_center(centers3[0].code, trigger, actor=Actor(login="operator"), now=T0)
    ok = cli(
        "--on-behalf-of",
        "director",
        "centers",
        "fire",
        centers3[0].code,
        "start_reporting",
        actor="operator",
    )
    assert ok.exit_code == 0, ok.output
    history = json.loads(cli("--json", "history", "center", centers3[0].code).output)
    assert (history[-1]["actor"], history[-1]["on_behalf_of"]) == ("operator", "director")
    refused = cli(
        "--on-behalf-of",
        "operator",
        "centers",
        "fire",
        centers3[1].code,
        "agree_infrastructure",
        actor="viewer",
    )
    assert refused.exit_code == 1
    assert "может только координатор" in refused.output
    unknown = cli(
        "--on-behalf-of",
        "nobody",
        "centers",
        "fire",
        centers3[1].code,
        "agree_infrastructure",
        actor="operator",
    )
    assert unknown.exit_code == 1
    assert "nobody" in unknown.output
    assert _state(engine, centers3[1].code) == ("planned", 1)
    # The refusal names who tried (operator), not the user they named.
    assert _refusals(engine)[-1] == ("operator", "fire", f"Центр {centers3[1].code}")
    ghost = cli("--on-behalf-of", "ghost", "users", "add", "zed", "--role", "viewer")
    assert ghost.exit_code == 1
    assert "«ghost»" in ghost.output
    assert "не зарегистрирован" in ghost.output
    assert _refusals(engine)[-1] == ("operator", "manage_users", "zed")
    assert cli("--json", "users", "list").output.count('"zed"') == 0


def test_user_administration_errors(
    cli: Cli, engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    bad_scope = cli("users", "add", "m1", "--role", "municipality", "--scope", "Атлантида")
    assert bad_scope.exit_code == 1
    assert "неизвестный муниципалитет: «Атлантида»" in bad_scope.output
    bad_center = cli("users", "add", "s1", "--role", "school", "--scope", "NOPE")
    assert bad_center.exit_code == 1
    assert "«NOPE» не найден" in bad_center.output
    bad_role = cli("users", "add", "s1", "--role", "admin")
    assert bad_role.exit_code == 1
    assert "Неизвестная роль «admin»" in bad_role.output
    good = cli(
        "--json",
        "users",
        "add",
        "m1",
        "--role",
        "municipality",
        "--scope",
        centers3[0].municipality,
    )
    assert good.exit_code == 0, good.output
    assert json.loads(good.output)["scope"] == [centers3[0].municipality]
    unknown = cli("users", "remove", "ghost")
    assert unknown.exit_code == 1
    with engine.connect() as conn:
        events = conn.execute(
            sa.select(EVENT.c.trigger, EVENT.c.entity_key, EVENT.c.to_state)
            .where(EVENT.c.entity_kind == "user")
            .order_by(EVENT.c.seq)
        ).all()
    assert [tuple(e) for e in events] == [("add", "m1", "municipality")]


def test_roles_are_read_and_written_in_russian(cli: Cli, stored: StoredRoadmap) -> None:
    """``--role`` takes the Russian name too; listings and messages show it, the id stays
    in ``--json`` and in the database."""
    added = cli("users", "add", "v1", "--role", "Наблюдатель")
    assert added.exit_code == 0, added.output
    assert "роль «наблюдатель»" in added.output
    listed = cli("users", "list")
    assert "наблюдатель" in listed.output
    assert "viewer" not in listed.output
    assert {"login": "v1", "role": "viewer"}.items() <= {
        k: v
        for u in json.loads(cli("--json", "users", "list").output)
        if u["login"] == "v1"
        for k, v in u.items()
    }.items()


def test_the_last_coordinator_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from workflow.cli.app import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "first")
    runner = CliRunner()
    init = runner.invoke(app, ["init"])
    assert init.exit_code == 0, init.output
    assert "Пользователь first назначен координатором" in init.output
    again = runner.invoke(app, ["init"])
    assert "назначен координатором" not in again.output
    # Who loaded the roadmap is in the audit trail, once (the second init changed nothing).
    engine = db.make_engine(f"sqlite:///{tmp_path / 'var' / 'tochka.db'}")
    with engine.connect() as conn:
        loads = conn.execute(
            sa.select(EVENT.c.entity_kind, EVENT.c.trigger, EVENT.c.actor, EVENT.c.comment).where(
                EVENT.c.entity_kind == "roadmap"
            )
        ).all()
    engine.dispose()
    assert [tuple(e) for e in loads] == [
        ("roadmap", "load", "first", f"sha256 {load_roadmap(SHIPPED).content_hash[:12]}")
    ]
    users = json.loads(runner.invoke(app, ["--json", "users", "list"]).output)
    assert [(u["login"], u["role"]) for u in users] == [("first", "coordinator")]
    demote = runner.invoke(app, ["users", "add", "first", "--role", "viewer"])
    assert demote.exit_code == 1
    assert "последний координатор" in demote.output
    remove = runner.invoke(app, ["users", "remove", "first"])
    assert remove.exit_code == 1
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "var" / "tochka.db").stat().st_mode & 0o777 == 0o600


def test_file_modes_touch_only_tochkas_folder_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import grp
    import os

    from typer.testing import CliRunner

    from workflow.cli.app import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "first")
    runner = CliRunner()
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    url = f"sqlite:///{shared / 'tochka.db'}"
    # A group that does not exist: refused before anything is created.
    monkeypatch.setenv("TOCHKA_FILE_MODE_GROUP", "no-such-group-tochka")
    refused = runner.invoke(app, ["--db", url, "init"])
    assert refused.exit_code == 1
    assert "Группа «no-such-group-tochka» (TOCHKA_FILE_MODE_GROUP) не найдена." in refused.output
    assert list(shared.iterdir()) == []
    assert not (tmp_path / "var").exists()
    # The operators' group: folder setgid and group-writable, files group-writable.
    group = grp.getgrgid(os.getgid())
    monkeypatch.setenv("TOCHKA_FILE_MODE_GROUP", group.gr_name)
    done = runner.invoke(app, ["--db", url, "init"])
    assert done.exit_code == 0, done.output
    # The database is elsewhere: no ./var (issue 10; tests/test_init_files.py has the
    # group's mode on the folder init creates for the default database).
    assert not (tmp_path / "var").exists()
    assert (shared / "tochka.db").stat().st_mode & 0o777 == 0o660
    assert (shared / "tochka.db").stat().st_gid == group.gr_gid
    # The folder the database sits in is not Tochka's: left as it was.
    assert shared.stat().st_mode & 0o777 == 0o755


def test_the_roadmap_file_declares_who_fires_what(
    cli: Cli, engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    """A region lets schools report their own opening by editing the file, not code."""
    from workflow.roadmap import store as roadmap_store
    from workflow.roadmap.loader import parse_roadmap

    assert stored.definition.permissions["center"]["open"] == ("coordinator", "municipality")
    code = centers3[0].code
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for trigger in ("agree_infrastructure", "equip", "train_staff"):
        fire.fire_center(code, trigger, actor=Actor(login="operator"), now=T0)
    grant(engine, stored.id, ["director"], "school", [code])
    refused = cli("centers", "fire", code, "open", actor="director")
    assert refused.exit_code == 1
    assert "нужна роль координатор или муниципалитет, у пользователя — школа" in refused.output
    source = stored.definition.source.replace(
        "    open: [coordinator, municipality]\n", "    open: [coordinator, municipality, school]\n"
    )
    changed = parse_roadmap(source, filename="changed.yaml")
    roadmap_store.store(engine, changed, now=T0)
    allowed = cli("centers", "fire", code, "open", actor="director")
    assert allowed.exit_code == 0, allowed.output
    assert _state(engine, code) == ("opened", 5)


def test_permissions_in_the_file_are_validated() -> None:
    from tests.conftest import SHIPPED
    from workflow.errors import RoadmapFileError
    from workflow.roadmap.loader import parse_roadmap

    source = SHIPPED.read_text(encoding="utf-8").replace(
        "    withdraw: [coordinator]\n", "    withdraw: [coordinator, admin]\n    fly: [school]\n"
    )
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(source, filename="r.yaml")
    messages = [(p.field, p.message) for p in caught.value.problems]
    assert (
        "permissions.center.withdraw[1]",
        "неизвестная роль «admin»; допустимы: coordinator, municipality, school, system",
    ) in messages
    assert any(f == "permissions.center.fly" and "неизвестный ключ «fly»" in m for f, m in messages)


def test_a_stranger_is_refused_before_the_values_are_checked(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    """An unregistered user learns nothing about the data and leaves a trace."""
    result = cli(
        "--now", "2021-10-05", "indicators", "submit", "NOPE", "2021-Q3", "x=1", actor="mallory"
    )
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "Отказано: mallory" in text
    assert "не найден" not in text
    assert _refusals(engine) == [("mallory", "submit_indicators", "NOPE")]


def test_only_a_coordinator_reloads_the_roadmap(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """Reloading changes who may fire what: a viewer is refused, nothing changes, and the
    coordinator's reload is one audited event."""
    grant(engine, stored.id, ["viewer"], "viewer")
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        SHIPPED.read_text(encoding="utf-8").replace(
            "    open: [coordinator, municipality]", "    open: [coordinator, municipality, school]"
        ),
        encoding="utf-8",
    )
    new_hash = load_roadmap(changed).content_hash

    def stored_hash() -> str:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    sa.select(roadmap_store.ROADMAP.c.content_hash).where(
                        roadmap_store.ROADMAP.c.id == stored.id
                    )
                ).scalar_one()
            )

    refused = cli("init", "--roadmap", str(changed), actor="viewer")
    assert refused.exit_code == 1
    assert "Отказано: viewer" in " ".join(refused.output.split())
    assert stored_hash() == stored.definition.content_hash
    assert _refusals(engine) == [("viewer", "load_roadmap", "ivanovo-2021-2023")]
    done = cli("init", "--roadmap", str(changed), actor="operator")
    assert done.exit_code == 0, done.output
    assert stored_hash() == new_hash
    with engine.connect() as conn:
        loads = conn.execute(
            sa.select(EVENT.c.actor, EVENT.c.from_state, EVENT.c.comment).where(
                EVENT.c.entity_kind == "roadmap"
            )
        ).all()
    old = stored.definition.content_hash[:12]
    assert [tuple(e) for e in loads] == [("operator", "loaded", f"sha256 {old} → {new_hash[:12]}")]


@pytest.mark.postgres
def test_init_on_postgresql_leaves_local_folders_alone(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from workflow.cli.app import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "first")
    result = CliRunner().invoke(app, ["--db", db_url, "init"])
    assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []  # no ./var created or chmod-ed
