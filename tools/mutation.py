"""Mutation check: remove each last line of defence in a copy of the code and see the
tests that guard it go red (issue 11, item 10).

For each mutant the packages (and the tests) are copied to a temporary folder, the
mutation is applied to the copy as textual replacements, each of which must match
exactly once (a pattern that no longer matches means the code moved: the check fails
loudly instead of reporting a mutant it never made), and the tests that should kill it
run with the copy first on ``PYTHONPATH`` (the CLI and daemon processes the tests start
import the copy too). The same tests run once on the unmutated copy first: a mutant is
"killed" only by tests that pass without it.

Usage::

    .venv/bin/python tools/mutation.py            # every mutant
    .venv/bin/python tools/mutation.py --list     # what each one changes
    .venv/bin/python tools/mutation.py --only verify-letter-not-called

PostgreSQL mutants run when ``TOCHKA_TEST_PG_URL`` is set (``make mutation`` sets it as
``make test`` does) and are reported "not run" otherwise.

Exit status: 0 every mutant run was killed; 1 some mutant survived; 2 the check itself
could not run (a pattern that does not match once, a test failing unmutated, a test
that errors).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What is copied: the packages, the daemon module, the tests and pytest's settings.
COPIED = ("base", "states", "workflow", "notifications", "scheduler.py", "tests", "pyproject.toml")


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (which must occur exactly once) by ``new`` in ``path``."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]
    postgres: bool = False


_ADVISORY_LOCK = Edit(
    "workflow/schedule/leader.py",
    'sa.text("SELECT pg_try_advisory_lock(hashtext(:name || current_schema()))")',
    'sa.text("SELECT true OR pg_try_advisory_lock(hashtext(:name || current_schema()))")',
)

_BATCH_CENTERS = (
    "        centers = self._read_centers(conn, {f.code for f in fires}, actor.login)\n"
)
_BATCH_HEAD = "        head = audit.lock_head(conn, self.roadmap_id)\n"

MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "advisory-lock-always-granted",
        "pg_try_advisory_lock replaced by true: every PostgreSQL daemon leads",
        (_ADVISORY_LOCK,),
        (
            "tests/test_daemon_leader.py::"
            "test_two_postgres_daemons_at_once_only_the_leader_ever_reconciles",
        ),
        postgres=True,
    ),
    Mutant(
        "advisory-lock-always-granted/takeover",
        "the same mutant against the takeover test: the standby must not reconcile "
        "before the leader is killed (a start-up heartbeat does not count)",
        (_ADVISORY_LOCK,),
        (
            "tests/test_daemon_leader.py::test_postgres_standby_reconciles_only_after_the_leader_is_killed",
        ),
        postgres=True,
    ),
    Mutant(
        "versioned-update-without-version",
        "the center's versioned UPDATE loses `version = :b_version` from its WHERE",
        (
            Edit(
                "workflow/engine/transitions.py",
                '.where(CENTER.c.id == sa.bindparam("b_id"), '
                'CENTER.c.version == sa.bindparam("b_version"))',
                '.where(CENTER.c.id == sa.bindparam("b_id"))',
            ),
        ),
        ("tests/test_guards.py::test_a_stale_version_reaching_the_versioned_update_is_refused",),
    ),
    Mutant(
        "outbox-key-not-unique",
        "the outbox table is created without UNIQUE(key) (migration 0001)",
        (
            Edit(
                "workflow/storage/migrations/versions/0001_initial.py",
                "    sa.Column('last_error', sa.Text(), nullable=True),\n"
                "    sa.PrimaryKeyConstraint('id'),\n"
                "    sa.UniqueConstraint('key')\n",
                "    sa.Column('last_error', sa.Text(), nullable=True),\n"
                "    sa.PrimaryKeyConstraint('id'),\n",
            ),
        ),
        (
            "tests/test_guards.py::"
            "test_a_duplicate_outbox_key_past_the_application_check_is_refused",
        ),
    ),
    Mutant(
        "set-header-unchecked",
        "set_header writes any value: both of its checks never refuse",
        (
            Edit(
                "notifications/headers.py",
                "        if has_forbidden(value) or _ENCODED_WORD_RE.search(value):\n"
                "            raise UnsafeHeader(field=name, value=value, ",
                "        if False:\n            raise UnsafeHeader(field=name, value=value, ",
            ),
            Edit(
                "notifications/headers.py",
                "        if has_forbidden(address.display_name) or "
                "has_forbidden(address.addr_spec):\n"
                "            raise UnsafeHeader(field=name, value=str(address), ",
                "        if False:\n"
                "            raise UnsafeHeader(field=name, value=str(address), ",
            ),
        ),
        (
            "tests/test_guards.py::test_set_header_alone_refuses_unsafe_text",
            "tests/test_guards.py::test_set_header_alone_refuses_an_unsafe_display_name",
        ),
    ),
    Mutant(
        "verify-letter-not-called",
        "compose no longer calls verify_letter on the serialised letter",
        (
            Edit(
                "notifications/letters.py",
                "    raw = msg.as_bytes(policy=SMTP_POLICY)\n    verify_letter(\n",
                "    raw = msg.as_bytes(policy=SMTP_POLICY)\n    (lambda *_a, **_k: None)(\n",
            ),
        ),
        ("tests/test_guards.py::test_verify_letter_alone_refuses_what_set_header_would_have",),
    ),
    Mutant(
        "batch-locks-the-head-before-its-centers",
        "fire_centers_in locks the chain head before the centers of its batch",
        (
            Edit(
                "workflow/engine/transitions.py",
                _BATCH_CENTERS + _BATCH_HEAD,
                _BATCH_HEAD + _BATCH_CENTERS,
            ),
        ),
        (
            "tests/test_concurrency.py::"
            "test_a_batch_and_a_single_fire_on_its_center_do_not_deadlock",
        ),
        postgres=True,
    ),
)


class MutationError(Exception):
    """The check cannot run as written (the code moved, a test errors)."""


def check_patterns(mutants: Sequence[Mutant], root: Path = ROOT) -> None:
    """Every pattern occurs exactly once in the current code, or MutationError."""
    for mutant in mutants:
        for edit in mutant.edits:
            text = (root / edit.path).read_text(encoding="utf-8")
            found = text.count(edit.old)
            if found != 1:
                raise MutationError(
                    f"{mutant.name}: the pattern occurs {found} times in {edit.path} "
                    f"(expected once): the code moved; update tools/mutation.py.\n"
                    f"pattern: {edit.old!r}"
                )


def copy_tree(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)


def apply(mutant: Mutant, tree: Path) -> None:
    check_patterns([mutant], tree)
    for edit in mutant.edits:
        path = tree / edit.path
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(edit.old, edit.new, 1), encoding="utf-8")


def _env(tree: Path) -> dict[str, str]:
    """The environment of a run on ``tree``: the copy first on the path; its bytecode in
    a cache beside the copies (removed with them), so that the CLI processes its tests
    start compile the copy once, not each (every copy has its own path, hence its own
    entries: no mutant reads another's bytecode)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tree.parent / "pycache")
    return env


def _check_imports_from(tree: Path) -> None:
    """The copy, not the installed checkout, is what the tests and the CLI import."""
    probe = subprocess.run(
        [sys.executable, "-c", "import workflow, notifications; print(workflow.__file__)"],
        capture_output=True,
        text=True,
        env=_env(tree),
        cwd=tree,
        check=False,
    )
    where = Path(probe.stdout.strip()).resolve()
    if probe.returncode != 0 or tree.resolve() not in where.parents:
        raise MutationError(f"the copy is not imported first: workflow from {where}")


def run_tests(tree: Path, tests: Sequence[str]) -> tuple[int, str]:
    """pytest's exit status and output for ``tests`` run against ``tree`` (``-rA``: one
    summary line per test, read by `outcomes`). Assertions are not rewritten
    (``--assert=plain``): a verdict needs only whether each test passed, and rewriting
    the modules of a fresh copy, each run, took 1.3 s of a 3 s run (the environment
    keeps pytest from caching them)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--assert=plain",
            *tests,
        ],
        capture_output=True,
        text=True,
        env=_env(tree),
        cwd=tree,
        timeout=600,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


_OUTCOMES = ("PASSED", "FAILED", "ERROR")


def outcomes(output: str, test: str) -> set[str]:
    """What pytest's ``-rA`` summary says of ``test`` (a node id, or a test whose
    parametrised cases are ``test[...]``): PASSED, FAILED and/or ERROR."""
    found = set()
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        node = rest.split(" - ", 1)[0].strip()
        if word in _OUTCOMES and (node == test or node.startswith(f"{test}[")):
            found.add(word)
    return found


def verdict_of(mutant: Mutant, status: int, output: str) -> str:
    """killed (some test of the mutant failed), SURVIVED (all passed) or ERROR, from a
    run that may have held other mutants' tests too (the same mutation)."""
    seen = [outcomes(output, test) for test in mutant.tests]
    if status not in (0, 1) or any(not s or "ERROR" in s for s in seen):
        return f"ERROR (pytest exit {status})"
    return "killed" if any("FAILED" in s for s in seen) else "SURVIVED"


def _groups(mutants: Sequence[Mutant]) -> list[list[Mutant]]:
    """The mutants by mutation: those making the same edits share one mutated copy and
    one pytest run (each is still judged by its own tests)."""
    groups: dict[tuple[Edit, ...], list[Mutant]] = {}
    for mutant in mutants:
        groups.setdefault(mutant.edits, []).append(mutant)
    return list(groups.values())


def _tail(output: str, lines: int = 15) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--only", action="append", default=[], help="run this mutant only")
    parser.add_argument(
        "--show", action="store_true", help="print how the tests failed for each mutant"
    )
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.only and len(mutants) != len(set(args.only)):
        known = ", ".join(m.name for m in MUTANTS)
        print(f"unknown mutant in {args.only}; known: {known}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            print(f"{m.name}: {m.what}\n    killed by: {', '.join(m.tests)}")
        return 0
    try:
        check_patterns(mutants)
    except MutationError as exc:
        print(f"mutation check cannot run: {exc}", file=sys.stderr)
        return 2
    have_pg = bool(os.environ.get("TOCHKA_TEST_PG_URL"))
    runnable = [m for m in mutants if have_pg or not m.postgres]
    results: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="tochka-mutation-") as tmp:
        base = Path(tmp) / "baseline"
        copy_tree(base)
        try:
            _check_imports_from(base)
        except MutationError as exc:
            print(f"mutation check cannot run: {exc}", file=sys.stderr)
            return 2
        # Baseline: the killing tests pass on the unmutated copy.
        tests = sorted({t for m in runnable for t in m.tests})
        started = time.monotonic()
        status, output = run_tests(base, tests)
        if status != 0:
            print(
                f"mutation check cannot run: the tests fail without any mutation\n{_tail(output)}",
                file=sys.stderr,
            )
            return 2
        print(f"baseline: {len(tests)} tests pass unmutated ({time.monotonic() - started:.1f} s)")
        for mutant in mutants:
            if mutant not in runnable:
                results.append((mutant.name, "not run (no TOCHKA_TEST_PG_URL)", 0.0))
        for group in _groups(runnable):
            tree = Path(tmp) / group[0].name.replace("/", "-")
            copy_tree(tree)
            apply(group[0], tree)
            started = time.monotonic()
            status, output = run_tests(tree, sorted({t for m in group for t in m.tests}))
            took = time.monotonic() - started
            for mutant in group:
                verdict = verdict_of(mutant, status, output)
                if verdict == "killed" and args.show:
                    failures = [ln for ln in output.splitlines() if ln.startswith(("E ", "FAILED"))]
                    print("\n".join(failures[:12]))
                elif verdict.startswith("ERROR"):
                    print(f"{mutant.name}: pytest exit {status}\n{_tail(output)}", file=sys.stderr)
                results.append((mutant.name, verdict, took))
                print(f"{mutant.name}: {verdict} ({took:.1f} s)", flush=True)
            shutil.rmtree(tree, ignore_errors=True)
        results.sort(key=lambda r: [m.name for m in mutants].index(r[0]))
    width = max(len(name) for name, _, _ in results)
    print("\nmutant".ljust(width + 2) + "  result")
    for name, verdict, _took in results:
        print(f"{name.ljust(width)}  {verdict}")
    if any(v.startswith("ERROR") for _, v, _ in results):
        return 2
    return 1 if any(v == "SURVIVED" for _, v, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
