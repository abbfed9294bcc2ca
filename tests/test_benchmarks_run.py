"""Every benchmark in benchmarks/ still imports and parses its options, so an import that
a refactoring broke (``cannot import name 'centers' from 'workflow.engine.transitions'``)
goes red in ``make test`` instead of in the next ``make bench``. The benchmarks themselves
are not run: even --quick seeds a migrated database and takes from half a minute (200
transitions) to minutes (20,000 centers); ``make bench`` runs them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "run_all.py")


def _load(name: str) -> ModuleType:
    """``benchmarks/<name>`` imported as its own module, as ``python benchmarks/<name>``
    and run_all.py import it."""
    path = BENCHMARKS / name
    spec = importlib.util.spec_from_file_location(f"benchmarks_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_there_are_benchmarks() -> None:
    assert "bench_transitions.py" in SCRIPTS
    assert "bulk_fire.py" in SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_imports_and_parses_quick(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = _load(name)
    with pytest.raises(SystemExit) as stopped:
        module.main(["--help"])
    assert stopped.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_run_all_runs_every_benchmark() -> None:
    run_all = _load("run_all.py")
    assert sorted(p.name for p in run_all.benchmarks()) == SCRIPTS
