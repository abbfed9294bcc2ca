"""The mutation check as a test (issue 11, must-show): ``tools/mutation.py`` removes
each guarded line in a copy of the code and every mutant must be killed by its tests.

It takes about 75 s (the two PostgreSQL daemon mutants most of it); ``make mutation``
runs the same check on its own, ``-m 'not mutation'`` leaves it out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import mutation  # noqa: E402  # tools/ is not a package

pytestmark = pytest.mark.mutation


def test_every_pattern_matches_the_code_once() -> None:
    """The mutations still fit the code (a fast, separate failure when it moved)."""
    mutation.check_patterns(mutation.MUTANTS)


@pytest.mark.slow
def test_every_mutant_is_killed() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "mutation.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    table = done.stdout.split("\nmutant", 1)[1].splitlines()[1:]
    verdicts = {line.split()[0]: line.split(None, 1)[1].strip() for line in table if line}
    expected_pg = (
        "killed" if os.environ.get("TOCHKA_TEST_PG_URL") else "not run (no TOCHKA_TEST_PG_URL)"
    )
    for mutant in mutation.MUTANTS:
        assert verdicts[mutant.name] == ("killed" if not mutant.postgres else expected_pg), report
