"""``tochka centers import`` streams (issue 16, item 5): the file is read as it is written,
chunk by chunk in one transaction, and stays all or nothing.

A file of 200,000 rows took 755 MB and its bar stopped at 98 % for 28 s: every row was
held as a row, then as a value, then as an event, and written after the last was read.
Now `center_rows` yields each valid row as it is read and `import_centers` writes them
`_WRITE_CHUNK` at a time. What must not change, checked here on both backends: a bad
row, a code already in the roadmap or a center outside the actor's scope found after
thousands of rows were written leaves nothing behind; the refusals come in the order
they always did (the file's problems first, then the rights, then the codes taken); the
progress moves with the writing; the memory does not grow with the rows (a process of
its own, ru_maxrss). The speed is benchmarks/bench_import.py's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.conftest import T0, grant
from workflow.engine import audit, centers
from workflow.engine import centers as centers_module
from workflow.imports.centers_file import center_rows
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT, HEAD

Cli = Callable[..., Result]
HEADER = "code,name,municipality,cohort,email\n"
ROWS = 3_500  # three chunks written before the last rows are read


def _file(
    folder: Path,
    count: int,
    *,
    name: str = "c.csv",
    last: str | None = None,
    town: str = "Шуйский район",
) -> Path:
    lines = [f"S{i:06d},Школа № {i},{town},2022,s{i}@example.org\n" for i in range(count)]
    if last is not None:
        lines.append(last)
    path = folder / name
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def _written(engine: Engine) -> tuple[int, int, int]:
    """Centers, center events and the chain head's sequence number."""
    with db.read(engine) as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(CENTER)).scalar_one()
        events = conn.execute(
            sa.select(sa.func.count()).select_from(EVENT).where(EVENT.c.entity_kind == "center")
        ).scalar_one()
        head = conn.execute(sa.select(sa.func.max(HEAD.c.seq))).scalar_one()
    return int(count), int(events), int(head or 0)


def test_a_large_file_is_written_whole_with_its_events(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    before = _written(engine)
    result = cli("centers", "import", str(_file(tmp_path, ROWS)))
    assert result.exit_code == 0, result.output
    assert f"Импортировано центров: {ROWS}" in result.output
    assert _written(engine) == (ROWS, ROWS, before[2] + ROWS)
    with db.read(engine) as conn:
        last = conn.execute(
            sa.select(EVENT.c.entity_key, EVENT.c.comment).order_by(EVENT.c.seq.desc()).limit(1)
        ).one()
        report = audit.verify(conn, stored.id, stored.definition.code)
    assert tuple(last) == (f"S{ROWS - 1:06d}", f"импорт из {tmp_path / 'c.csv'}, строка {ROWS + 1}")
    assert report.events == before[2] + ROWS


@pytest.mark.parametrize(
    ("last", "message"),
    [
        ("S999999,Школа,Шуйский район,2022,не-адрес\n", "«не-адрес» — не адрес электронной почты"),
        ("S999999,Школа,Шуйский район,1999,x@example.org\n", "год создания 1999 вне периода"),
        ("S000007,Школа,Шуйский район,2022,x@example.org\n", "код «S000007» повторяется"),
    ],
    ids=["email", "cohort", "repeated"],
)
def test_a_bad_last_row_leaves_nothing_written(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path, last: str, message: str
) -> None:
    before = _written(engine)
    path = _file(tmp_path, ROWS, last=last)
    result = cli("centers", "import", str(path))
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert f"{path}, строка {ROWS + 2}" in text  # the file and the line …
    assert "столбец" in text  # … and the column
    assert message in text
    assert _written(engine) == before


def test_a_code_the_roadmap_has_late_in_the_file_leaves_nothing_written(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    first = cli("centers", "import", str(_file(tmp_path, 1, name="one.csv")))
    assert first.exit_code == 0, first.output
    before = _written(engine)
    path = tmp_path / "c.csv"
    lines = [f"T{i:06d},Школа № {i},Шуйский район,2022,t{i}@example.org\n" for i in range(ROWS)]
    path.write_text(HEADER + "".join(lines) + "S000000,Школа,Шуйский район,2022,x@example.org\n")
    result = cli("centers", "import", str(path))
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert f"{path}, строка {ROWS + 2}, столбец 1" in text
    assert "центр с кодом «S000000» уже есть в базе." in text
    assert _written(engine) == before


def _refusals(engine: Engine) -> int:
    with db.read(engine) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(EVENT)
                .where(EVENT.c.entity_kind == "refusal")
            ).scalar_one()
        )


def test_refusals_come_in_their_order_whatever_row_they_are_on(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """A municipality importing a file whose first row is another municipality's
    center: refused and recorded, nothing written (the rows after it are read, not
    written). With a bad row at the end too: the file's problem is what is said (as when
    the whole file was read before the rights were asked), and no refusal is recorded;
    with a code the roadmap has at the end: the refusal, as the rights come first."""
    grant(engine, stored.id, ["mun"], "municipality", ["Шуйский район"])
    first = cli("centers", "import", str(_file(tmp_path, 1, name="one.csv")))
    assert first.exit_code == 0, first.output
    before = _written(engine)
    outside = "Z000001,Школа,Лежневский район,2022,x@example.org\n"
    body = "".join(
        f"T{i:06d},Школа № {i},Шуйский район,2022,t{i}@example.org\n" for i in range(ROWS)
    )
    path = tmp_path / "c.csv"
    for last, said, refusals in (
        ("", "«Лежневский район»", 1),
        ("S000000,Школа,Шуйский район,2022,x@example.org\n", "«Лежневский район»", 2),
        ("T999999,Школа,Шуйский район,2022,не-адрес\n", "не адрес электронной почты", 2),
    ):
        path.write_text(HEADER + outside + body + last, encoding="utf-8")
        result = cli("centers", "import", str(path), actor="mun")
        assert result.exit_code == 1
        text = " ".join(result.output.split())
        assert said in text
        if "адрес" in said:  # the file's problem, and nothing of the refusal
            assert "Лежневский" not in text
        assert "уже есть в базе" not in text
        assert _written(engine)[:2] == before[:2]
        assert _refusals(engine) == refusals


def test_the_progress_moves_with_the_writing(
    engine: Engine, stored: StoredRoadmap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are checked and written in turns: the bar (the reader's progress) does
    not reach its end before the writing has begun, nor stand still while it goes on."""
    seen: list[str] = []
    append = audit.append

    def logged(*args: object, **kwargs: object) -> int:
        seen.append("write")
        return append(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(audit, "append", logged)
    rows = center_rows(
        _file(tmp_path, ROWS),
        program_years=stored.definition.cohort_years,
        progress=lambda done, total: seen.append(f"{done}/{total}"),
    )
    count = centers.import_centers(engine, stored, rows, filename="c.csv", actor="operator", now=T0)
    assert count == ROWS
    assert seen == [
        "1000/3500",
        "write",
        "2000/3500",
        "write",
        "3000/3500",
        "write",
        "3500/3500",
        "write",
    ]
    assert centers_module._WRITE_CHUNK == 1000


# ------------------------------------------------------------------------------ memory

TOCHKA = str(Path(sys.executable).with_name("tochka"))
#: What importing 60,000 rows more may add to the process's peak. Streamed: the file's
#: text and a code per row, ~15 MB; the rows read into a list first, ~38 MB (and as
#: before issue 16, values, events and all: ~190 MB).
GROWTH_MB = 25


def _import_peak(folder: Path, count: int) -> int:
    """Peak RSS (MB) of ``tochka centers import`` of ``count`` rows into a fresh database,
    in a process of its own (a fresh parent, so that no other child counts)."""
    url = f"sqlite:///{folder / f'{count}.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    init = subprocess.run(
        [TOCHKA, "--db", url, "--now", "2021-01-11T09:00", "init"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    script = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024\n"
        "print(done.returncode, peak)\n"
    )
    path = _file(folder, count, name=f"{count}.csv")
    done = subprocess.run(
        [sys.executable, "-c", script, TOCHKA, "--db", url, "--now", "2021-01-11T09:05"]
        + ["centers", "import", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    code, peak = (int(v) for v in done.stdout.split())
    assert code == 0, done.stderr
    return peak


@pytest.mark.slow
def test_the_memory_of_an_import_does_not_grow_with_its_rows(tmp_path: Path) -> None:
    small = _import_peak(tmp_path, 10_000)
    large = _import_peak(tmp_path, 70_000)
    assert large < 300
    assert large - small < GROWTH_MB, f"{small} MB for 10,000 rows, {large} MB for 70,000"
