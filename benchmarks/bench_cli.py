"""CLI cold start, as whole processes, beside floors measured in the same run.

- ``tochka --help`` beside the ``--help`` of a two-command Typer app (target <= 1.5x).
- ``tochka centers list`` on 100 centers beside ``python -c "import sqlmodel"`` (target <= 1.2x).

Both sides run as an installed program runs: with compiled bytecode. The environment may
say PYTHONDONTWRITEBYTECODE (so the shared source tree gets no ``__pycache__``); then
every run of ours would compile Tochka's modules while the floor reads site-packages'
bytecode written at install. Each side therefore runs with its bytecode in a private
cache (``PYTHONPYCACHEPREFIX``, a temporary folder), filled by one warm-up run. Runs
alternate with the floor; the ratio is taken per pair and printed as min/median/max, with
each side's peak RSS (the largest of its runs).

Run: python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TWO_COMMANDS = """
import typer
app = typer.Typer()
@app.command()
def one() -> None: pass
@app.command()
def two() -> None: pass
app()
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall time of one whole-process run and its peak RSS in KiB."""
    started = time.perf_counter()
    child = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.stderr is not None
    errors = child.stderr.read()
    child.stderr.close()
    if child.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {child.returncode}: {errors.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss


def _alternating(
    ours: list[str], floor: list[str], runs: int, cwd: Path, env: dict[str, str]
) -> tuple[list[float], list[float], int, int]:
    """Each command's wall times, run alternately so both see the same load (after one
    warm-up run each, which fills the bytecode cache), and each one's peak RSS."""
    times: tuple[list[float], list[float]] = ([], [])
    peaks = [0, 0]
    for cmd in (ours, floor):
        _run(cmd, cwd, env)
    for _ in range(runs):
        for side, cmd in enumerate((ours, floor)):
            elapsed, peak = _run(cmd, cwd, env)
            times[side].append(elapsed)
            peaks[side] = max(peaks[side], peak)
    return times[0], times[1], peaks[0], peaks[1]


def _spread(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    return "/".join(
        f"{v * scale:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="7 runs of each (15 without)")
    args = parser.parse_args(argv)
    runs = 7 if args.quick else 15
    tochka = str(BIN / "tochka")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at start: {load} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        (folder / "two.py").write_text(TWO_COMMANDS)
        csv = folder / "centers.csv"
        csv.write_text(
            "code,name,municipality,cohort,email\n"
            + "".join(
                f"C{i:03d},Школа {i},Район {i % 7},2022,s{i}@example.org\n" for i in range(100)
            ),
            encoding="utf-8",
        )
        subprocess.run([tochka, "init"], cwd=folder, env=env, check=True, capture_output=True)
        subprocess.run(
            [tochka, "centers", "import", str(csv)],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
        )
        rows = [
            (
                "tochka --help",
                [tochka, "--help"],
                "two-command Typer app --help",
                [sys.executable, str(folder / "two.py"), "--help"],
                1.5,
            ),
            (
                "tochka centers list (100)",
                [tochka, "centers", "list"],
                'python -c "import sqlmodel"',
                [sys.executable, "-c", "import sqlmodel"],
                1.2,
            ),
        ]
        print(
            f"CLI cold start, {runs} whole-process runs of each, alternating with the floor "
            "(min/median/max; bytecode cached for both)"
        )
        results: list[dict[str, object]] = []  # run_all's summary rows
        for name, cmd, floor_name, floor_cmd, target in rows:
            ours, floor, ours_kib, floor_kib = _alternating(cmd, floor_cmd, runs, folder, env)
            ratios = [a / b for a, b in zip(ours, floor, strict=True)]
            ratio = statistics.median(ratios)
            verdict = "OK" if ratio <= target else "ABOVE TARGET"
            print(f"  {name}")
            print(f"    ours  : {_spread(ours, 1000):>14} ms; peak RSS {ours_kib / 1024:.0f} MiB")
            print(
                f"    floor : {_spread(floor, 1000):>14} ms ({floor_name}); "
                f"peak RSS {floor_kib / 1024:.0f} MiB"
            )
            print(f"    ratio : {_spread(ratios, 1, 2):>14} x (target <= {target}x) {verdict}")
            results.append(
                {
                    "key": "cli" if "centers list" in name else "",
                    "path": f"`{name}` cold",
                    "today": f"{statistics.median(ours) * 1000:.0f} ms",
                    "floor": f"{floor_name} {statistics.median(floor) * 1000:.0f} ms",
                    "ratio": f"{ratio:.2f}x ({min(ratios):.2f}–{max(ratios):.2f})",
                    "peak": f"{ours_kib / 1024:.0f} MiB RSS (floor {floor_kib / 1024:.0f})",
                    "goal": f"≤ {target}x",
                    "met": ratio <= target,
                }
            )
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average at end: {load}")
    return results


if __name__ == "__main__":
    main()
