"""Every command with hostile arguments (issue 10, item 6): no traceback for any input.

The command tree is walked from the Typer app (``workflow.cli.app:app``), so a new
command is covered as soon as it is registered. Each command runs through the real entry
point (``workflow.cli.app.main``, in-process: usage errors are Russian there, as for a
user) with a wrong ``--db`` (a plain path into a missing folder, ``garbage``,
``mysql://x``), a date that is not one (``--now 31.02.2021``, ``--now 9999-99-99``), and,
for the options it has, an unknown filter value, a wrong date, and an ``-o`` into a missing
folder or onto a folder. Each run must exit 1 or 2 with a Russian message and no
traceback, and leave everything as it was: the database file's bytes and every file and
folder of the working folder.

The commands that never open the database (`DB_FREE`) do their job whatever ``--db``
says; that is checked too (exit 0, nothing created).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import typer

from workflow.cli.app import app, main
from workflow.roadmap.shipped import IVANOVO_159_RP

#: Commands that read no database: a wrong --db does not concern them.
DB_FREE = {"roadmap validate", "roadmap schema", "roadmap diagram"}
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
#: Seconds one command may take before the test calls it hung (a daemon that started).
HUNG_AFTER = 30

# A value for each required argument or option, by its name (a command that is not
# refused reaches its real work with these).
ARGUMENTS = {
    "code": "C00000",
    "center": "C00000",
    "cycle_id": "1",
    "outbox_id": "1",
    "measure": "3",
    "period": "2021-Q4",
    "values": "natsci_students=1",
    "login": "newcomer",
    "machine": "center",
}
OPTIONS = {"--due": "01.03.2021", "--role": "viewer", "--until": "01.03.2021"}
TRIGGERS = {"centers fire": "agree_infrastructure", "cycles fire": "start"}
# For the options a command has: values that must be refused.
BAD_OPTIONS: dict[str, list[str]] = {
    "--roadmap": ["nosuch"],
    "--state": ["nosuch"],
    "--municipality": ["Нигдейский район"],
    "--cohort": ["1900"],
    "--measure": ["999"],
    "--status": ["nosuch"],
    "--party": ["nosuch"],
    "--format": ["nosuch"],
    "--role": ["nosuch"],
    "--scope": ["NOSUCH-CENTER"],
    "--until": ["31.02.2021", "9999-99-99"],
    "--due": ["31.02.2021"],
    "--simulate-from": ["31.02.2021"],
    "--simulate-to": ["9999-99-99"],
    "--expect-version": ["-1"],
    "--batch": ["0"],
}


#: Options that set a value rather than filter: any municipality is a new one there.
NOT_FILTERS = {("centers update", "--municipality")}


@dataclass(frozen=True)
class Command:
    name: str  # "report quarterly"
    arguments: tuple[str, ...]  # its required arguments, filled
    options: frozenset[str]  # every option it has
    required: tuple[str, ...]  # its required options, filled (name, value, ...)


def _commands() -> list[Command]:
    found: list[Command] = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        name = " ".join(path)
        arguments: list[str] = []
        options: set[str] = set()
        required: list[str] = []
        for param in command.params:
            if param.param_type_name == "argument":
                if param.name == "trigger":
                    arguments.append(TRIGGERS[name])
                elif param.name == "file":
                    arguments.append("{file}")
                else:
                    arguments.append(ARGUMENTS.get(param.name, "x"))
                continue
            long = max(param.opts, key=len)
            options.add(long)
            if param.required:
                required += [long, "{out}" if long == "--output" else OPTIONS.get(long, "x")]
        found.append(
            Command(
                name=name,
                arguments=tuple(arguments),
                options=frozenset(options),
                required=tuple(required),
            )
        )

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


def _cases() -> Iterator[Any]:
    for command in COMMANDS:
        for db in ("{missing}/tochka.db", "garbage", "mysql://x"):
            yield pytest.param(command, ["--db", db], [], id=f"{command.name} --db {db}")
        for now in ("31.02.2021", "9999-99-99"):
            yield pytest.param(command, ["--now", now], [], id=f"{command.name} --now {now}")
        for option in sorted(command.options & BAD_OPTIONS.keys()):
            if (command.name, option) in NOT_FILTERS:
                continue
            for value in BAD_OPTIONS[option]:
                yield pytest.param(
                    command, [], [option, value], id=f"{command.name} {option} {value}"
                )
        if "--output" in command.options:
            for out in ("{missing}/out.file", "{work}"):
                yield pytest.param(command, [], ["--output", out], id=f"{command.name} -o {out}")


@dataclass
class Place:
    work: Path
    db: Path

    def state(self) -> tuple[str, frozenset[str]]:
        """The database file's digest and every path under the working folder."""
        digest = hashlib.sha256(self.db.read_bytes()).hexdigest()
        paths = frozenset(str(p.relative_to(self.work)) for p in self.work.rglob("*"))
        return digest, paths


def _invoke(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``tochka ARGS`` through the real entry point; (exit code, stdout, stderr)."""

    class Hung(BaseException):
        pass

    def hung(_signum: int, _frame: FrameType | None) -> None:
        raise Hung(f"tochka {' '.join(args)} ran for more than {HUNG_AFTER} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HUNG_AFTER)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.argv", ["tochka", *args])
            with pytest.raises(SystemExit) as exited:
                main()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    code = exited.value.code
    return code if isinstance(code, int) else 0, captured.out, captured.err


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    """An initialised database with centers and cycles, in a working folder of its own
    that is the current folder and holds Tochka's folder (TOCHKA_VAR_DIR)."""
    work = tmp_path_factory.mktemp("hostile")
    (work / "c.csv").write_text(
        "code,name,municipality,cohort,email\n"
        "C00000,МБОУ «Школа № 1»,Шуйский район,2021,s1@example.org\n"
        "C00001,МБОУ «Школа № 2»,Шуйский район,2022,s2@example.org\n",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("TOCHKA_")]:
            patch.delenv(key)
        patch.setenv("TOCHKA_VAR_DIR", str(work / "var"))
        patch.setenv("TOCHKA_MAIL_DIR", str(work / "var" / "mail"))
        patch.setattr("workflow.engine.identity.os_login", lambda: "operator")
        patch.chdir(work)
        from typer.testing import CliRunner

        runner = CliRunner()
        for now, args in (
            ("2021-01-11", ["init"]),
            ("2021-01-12", ["centers", "import", "c.csv"]),
            ("2021-02-20", ["tick"]),
        ):
            result = runner.invoke(app, ["--now", now, *args], catch_exceptions=False)
            assert result.exit_code == 0, (args, result.output)
        # A file the import commands may read (new centers: importing it would change
        # the database, so a hostile run that reached it shows as a change).
        (work / "c.csv").write_text(
            "code,name,municipality,cohort,email\n"
            "C00009,МБОУ «Школа № 9»,Шуйский район,2021,s9@example.org\n",
            encoding="utf-8",
        )
        yield Place(work=work, db=work / "var" / "tochka.db")


@pytest.mark.parametrize(("command", "before", "after"), list(_cases()))
def test_hostile_arguments_are_refused_in_russian_and_change_nothing(
    place: Place,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: Command,
    before: list[str],
    after: list[str],
) -> None:
    monkeypatch.chdir(place.work)
    for key in [k for k in os.environ if k.startswith("TOCHKA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TOCHKA_VAR_DIR", str(place.work / "var"))
    monkeypatch.setenv("TOCHKA_MAIL_DIR", str(place.work / "var" / "mail"))
    monkeypatch.setattr("workflow.engine.identity.os_login", lambda: "operator")
    files = {
        "{missing}": str(place.work / "missing"),
        "{work}": str(place.work),
        "{out}": str(place.work / "out.file"),
        "{file}": str(IVANOVO_159_RP if command.name == "roadmap validate" else "c.csv"),
    }

    def filled(values: list[str] | tuple[str, ...]) -> list[str]:
        out = []
        for value in values:
            for key, path in files.items():
                value = value.replace(key, path)
            out.append(value)
        return out

    required = list(command.required)
    if after and after[0] in required:  # the hostile value replaces the required one
        at = required.index(after[0])
        del required[at : at + 2]
    args = [
        *filled(before),
        *command.name.split(),
        *filled(command.arguments),
        *filled(required),
        *filled(after),
    ]
    state = place.state()
    code, out, err = _invoke(args, capsys)
    said = out + err
    assert "Traceback" not in said, said
    if code == 0 and before[:1] == ["--db"] and command.name in DB_FREE:
        assert place.state() == state
        return
    assert code in (1, 2), (args, code, said)
    assert CYRILLIC.search(err), (args, said)
    assert place.state() == state, (args, said)


def test_every_command_is_walked() -> None:
    """The walk finds the command groups and their commands (a broken walk tests nothing)."""
    names = {c.name for c in COMMANDS}
    assert {"init", "centers import", "report quarterly", "calendar export"} <= names
    assert {"reminders preview", "daemon run"} <= names
    assert len(names) >= 30
    with_output = {c.name for c in COMMANDS if "--output" in c.options}
    assert with_output >= {"report quarterly", "report status", "calendar export"}
