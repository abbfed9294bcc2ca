"""CLI cold start, as whole processes, beside floors measured in the same run.

- ``tochka --help`` beside the ``--help`` of a two-command Typer app (target <= 1.5x).
- ``tochka centers list`` on 100 centers beside ``python -c "import sqlmodel"`` (target <= 1.3x).

Run: python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

import argparse
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


def _alternating_medians(
    ours: list[str], floor: list[str], runs: int, cwd: Path
) -> tuple[float, float]:
    """Median wall time of each command, run alternately so both see the same load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for side, cmd in enumerate((ours, floor)):
            started = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
            times[side].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else 15
    tochka = str(BIN / "tochka")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "two.py").write_text(TWO_COMMANDS)
        csv = folder / "centers.csv"
        csv.write_text(
            "code,name,municipality,cohort,email\n"
            + "".join(
                f"C{i:03d},Школа {i},Район {i % 7},2022,s{i}@example.org\n" for i in range(100)
            ),
            encoding="utf-8",
        )
        subprocess.run([tochka, "init"], cwd=folder, check=True, capture_output=True)
        subprocess.run(
            [tochka, "centers", "import", str(csv)], cwd=folder, check=True, capture_output=True
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
                1.3,
            ),
        ]
        print(f"CLI cold start, median of {runs} whole-process runs, alternating with the floor")
        results: list[dict[str, object]] = []  # run_all's summary rows
        for name, cmd, floor_name, floor_cmd, target in rows:
            ours, floor = _alternating_medians(cmd, floor_cmd, runs, folder)
            ratio = ours / floor
            verdict = "OK" if ratio <= target else "ABOVE TARGET"
            print(
                f"  {name:28s} {ours * 1000:7.0f} ms | {floor_name:30s} {floor * 1000:7.0f} ms"
                f" | {ratio:4.2f}x (target <= {target}x) {verdict}"
            )
            results.append(
                {
                    "key": "cli" if "centers list" in name else "",
                    "path": f"`{name}` cold",
                    "today": f"{ours * 1000:.0f} ms",
                    "floor": f"{floor_name} {floor * 1000:.0f} ms",
                    "ratio": f"{ratio:.2f}x (median of {runs})",
                    "goal": f"≤ {target}x",
                    "met": ratio <= target,
                }
            )
    return results


if __name__ == "__main__":
    main()
