"""The layering is checked, not only stated: the import-linter contract in ``.importlinter``.

`make lint` runs ``lint-imports``; these tests show that the contract holds on the tree,
that it fails when a forbidden import is added (on a copy of the packages in a temporary
folder), and that the daemon (``scheduler.py``, a module import-linter cannot take as a
root) imports no CLI.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = ("base", "states", "notifications", "workflow")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(tree / ".importlinter"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contract, to break without touching the real tree."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "scheduler.py", tmp_path / "scheduler.py")
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def _add_import(path: Path, line: str) -> None:
    text = path.read_text(encoding="utf-8")
    anchor = "from __future__ import annotations\n"
    assert anchor in text
    path.write_text(text.replace(anchor, f"{anchor}\n{line}\n", 1), encoding="utf-8")


def test_the_contract_holds_on_the_tree(tree: Path) -> None:
    done = _lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "notifications/values.py",
            "import workflow.engine.audit  # noqa",
            "The notifications layer never imports the workflow or the daemon",
        ),
        ("states/cycle.py", "import notifications.outbox  # noqa", "The state machines import"),
        ("workflow/engine/audit.py", "import workflow.cli.app  # noqa", "Layers"),
        ("workflow/roadmap/definition.py", "import workflow.schedule.ladder  # noqa", "Layers"),
        ("base/db.py", "import workflow.errors  # noqa", "Layers"),
        ("workflow/views/overview.py", "import scheduler  # noqa", "Only the CLI starts"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    _add_import(tree / module, line)
    done = _lint(tree)
    assert done.returncode != 0, done.stdout
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert module.removesuffix(".py").replace("/", ".") in broken


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, ``from a import b`` counted as ``a`` and ``a.b`` (``b``
    may be a module: ``from workflow import cli``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_daemon_imports_no_cli() -> None:
    imported = _imported_modules(ROOT / "scheduler.py")
    assert imported, "scheduler.py imports something"
    assert not {name for name in imported if name.startswith("workflow.cli")}


@pytest.mark.parametrize(
    "line", ["from workflow.cli import app", "from workflow import cli", "import workflow.cli.app"]
)
def test_the_daemon_check_sees_a_cli_import(tmp_path: Path, line: str) -> None:
    copy = tmp_path / "scheduler.py"
    copy.write_text(
        (ROOT / "scheduler.py").read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8"
    )
    assert {name for name in _imported_modules(copy) if name.startswith("workflow.cli")}
