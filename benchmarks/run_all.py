"""Run every benchmark in this folder (``make bench``); pass --quick for a short run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def benchmarks() -> list[Path]:
    """The benchmarks `main` runs, in order (tests/test_benchmarks_run.py checks that this
    is every script in the folder)."""
    # bulk_fire.py and replies.py are named for their commands (`centers fire --from`,
    # `replies import`), not bench_*.
    return [*sorted(HERE.glob("bench_*.py")), HERE / "bulk_fire.py", HERE / "replies.py"]


def main() -> int:
    args = [a for a in sys.argv[1:] if a == "--quick"]
    for path in benchmarks():
        print(f"\n=== {path.stem}")
        module = importlib.import_module(path.stem)
        module.main(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
