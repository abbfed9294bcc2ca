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
    # Registered as Python's import does: a dataclass of the module looks its module up
    # in sys.modules (string annotations).
    sys.modules[spec.name] = module
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


def test_the_summary_lists_every_path_of_the_issue_measured_or_not() -> None:
    """`make bench` ends with one table: each path of issue 16's table in order, with the
    rows the benchmarks returned for it, «not measured» where none did, then the rest
    (a benchmark that returned nothing or failed is named, not silently left out)."""
    run_all = _load("run_all.py")
    federal = {
        "key": "federal",
        "path": "federal day: the tick",
        "today": "310 s",
        "floor": "120 s",
        "ratio": "2.58x (2.50–2.66)",
        "peak": "210 MB RSS",
        "goal": "≤ 2x",
        "met": False,
    }
    lines = run_all.summary(
        [
            ("federal_day", [federal, {"path": "delivery of the day", "today": "90 s"}]),
            ("bench_cli", None),
            ("bench_report", ValueError("broken")),
        ]
    )
    titles = list(run_all.ISSUE_ROWS.values())
    assert len(lines) == len(titles) + 3
    assert lines[-4] == ["federal day: the tick", "310 s", "120 s", "2.58x (2.50–2.66)",
                         "210 MB RSS", "≤ 2x", "NO"]
    assert [line[0] for line in lines[:-4]] == titles[:-1]
    assert {line[1] for line in lines[:-4]} == {"not measured"}
    assert [line[0] for line in lines[-3:]] == [
        "delivery of the day",
        "bench_cli: returned no rows (see its output above)",
        "bench_report: failed (ValueError)",
    ]
    assert lines[-1][-1] == "NO"
