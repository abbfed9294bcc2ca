"""A measure done before its file was loaded (issue 14, item 5; issue 13's measure 1).

``done: {on: DATE, evidence: {KIND: TEXT}}`` in the roadmap file records the measure's
single cycle done as history: created and completed through the transition engine,
effective ``on``, in an audit event naming the file; never reminded nor overdue; nothing
new on later ticks. Bad input (``on`` in the future, an evidence kind the measure does
not declare, a recurring measure) is refused with file, line, column and field, and
nothing is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from tests.conftest import TEST_COORDINATORS, grant
from tests.test_tick import Recorder, run
from workflow.engine import audit
from workflow.errors import RoadmapFileError
from workflow.roadmap import store as roadmap_store
from workflow.roadmap.loader import load_roadmap, parse_roadmap
from workflow.roadmap.schema import json_schema
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CYCLE, EVENT, ROADMAP, SENT

SHIPPED_TEXT = IVANOVO_159_RP.read_text(encoding="utf-8")
REAL_NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
DECREE = "распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп, пункт 1"

#: Measure 1's ``done`` block as the shipped file writes it.
SHIPPED_DONE = (
    f'    done:\n      "on": "2020-12-07"\n      evidence:\n        government_decree: "{DECREE}"\n'
)


def with_done(block: str) -> str:
    """The shipped text with measure 1's ``done`` replaced by ``block``."""
    assert SHIPPED_DONE in SHIPPED_TEXT
    return SHIPPED_TEXT.replace(SHIPPED_DONE, block)


def problems(text: str, *, now: datetime = REAL_NOW) -> list[tuple[int | None, int | None, str]]:
    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml", now=now)
    return [(p.line, p.column, f"{p.field}: {p.message}") for p in caught.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ------------------------------------------------------------------- the file


def test_the_shipped_file_records_measure_1_done_by_the_decree() -> None:
    measure = load_roadmap(IVANOVO_159_RP, now=REAL_NOW).measure(1)
    assert measure.done is not None
    assert measure.done.on == date(2020, 12, 7)
    assert measure.done.evidence_map == {"government_decree": DECREE}
    # The JSON Schema the operator's editor reads has the key.
    done = json_schema()["$defs"]["MeasureEntry"]["properties"]["done"]
    assert done["$ref"] == "#/$defs/DoneEntry"
    assert set(json_schema()["$defs"]["DoneEntry"]["required"]) == {"on", "evidence"}


def test_done_in_the_future_is_refused_with_line_column_and_field() -> None:
    text = with_done(SHIPPED_DONE.replace("2020-12-07", "2026-12-04"))
    line = line_of(text, '"on": "2026-12-04"')
    assert problems(text) == [
        (
            line,
            13,
            "measures[0].done.on: дата выполнения 04.12.2026 в будущем (сегодня 03.12.2026): "
            "в файле отмечают только уже выполненное",
        )
    ]
    # The same day is not the future; a definition read back from the database (no
    # clock) is not checked again.
    parse_roadmap(text, filename="r.yaml", now=datetime(2026, 12, 4, 6, 0, tzinfo=UTC))
    parse_roadmap(text, filename="r.yaml")


def test_done_long_before_the_program_is_refused() -> None:
    text = with_done(SHIPPED_DONE.replace("2020-12-07", "2019-12-31"))
    ((line, _, message),) = problems(text)
    assert line == line_of(text, '"on": "2019-12-31"')
    assert message.startswith("measures[0].done.on: дата выполнения 31.12.2019 раньше года")


def test_an_evidence_kind_the_measure_does_not_declare_is_refused() -> None:
    text = with_done(SHIPPED_DONE.replace("government_decree:", "department_order:"))
    line = line_of(text, "department_order: ")  # the mapping starts at its first key
    assert problems(text) == [
        (
            line,
            9,
            "measures[0].done.evidence: вид документа «department_order» не указан в "
            "evidence мероприятия; допустимы: government_decree",
        )
    ]


def test_done_of_a_recurring_measure_is_refused() -> None:
    # Measure 9 (quarterly monitoring) gets a done block after its recurrence line.
    anchor = "  - number: 9\n"
    start = SHIPPED_TEXT.index(anchor)
    end = SHIPPED_TEXT.index("recurrence:", start)
    end = SHIPPED_TEXT.index("\n", end) + 1
    text = (
        SHIPPED_TEXT[:end]
        + '    done: {on: "2021-10-01", evidence: {operator_letter: "письмо"}}\n'
        + SHIPPED_TEXT[end:]
    )
    ((line, column, message),) = problems(text)
    assert (line, column) == (line_of(text, 'done: {on: "2021-10-01"'), 11)
    assert message.startswith(
        "measures[8].done: done задаётся только для мероприятия с одним сроком"
    )
    assert "«quarterly»" in message


# ------------------------------------------------------------------ the effect


@pytest.fixture
def stored_done(engine: Engine) -> StoredRoadmap:
    definition = load_roadmap(IVANOVO_159_RP, now=REAL_NOW)
    roadmap_id, _ = roadmap_store.store(engine, definition, now=REAL_NOW)
    grant(engine, roadmap_id, TEST_COORDINATORS, "coordinator")
    with engine.connect() as conn:
        return roadmap_store.resolve(conn, definition.code)


def measure_1(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(CYCLE.c.id, CYCLE.c.state, CYCLE.c.evidence).where(CYCLE.c.measure == 1)
            )
        ]


def events_of(engine: Engine, cycle_id: int) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            (r.trigger, r.to_state, r.effective_date, r.evidence, r.comment, r.actor)
            for r in conn.execute(
                sa.select(EVENT)
                .where(EVENT.c.entity_kind == "cycle", EVENT.c.entity_id == cycle_id)
                .order_by(EVENT.c.seq)
            )
        ]


def test_the_tick_records_the_cycle_done_on_its_day_and_never_reminds_it(
    engine: Engine, stored_done: StoredRoadmap
) -> None:
    queue = Recorder()
    # Before the day it was done (simulated time), the cycle does not exist: nothing to
    # remind, although its first reminder (14 days before) is due.
    run(engine, stored_done, "2020-11-23", queue)
    assert measure_1(engine) == []
    for day in ("2020-12-04", "2020-12-07", "2020-12-08", "2020-12-21", "2021-01-11"):
        run(engine, stored_done, day, queue)
    ((cycle_id, state, evidence),) = measure_1(engine)
    assert (state, evidence) == ("done", {"government_decree": DECREE})
    comment = (
        f"отмечено выполненным в файле дорожной карты «ivanovo-2021-2023» "
        f"(sha256 {stored_done.definition.content_hash[:12]}): выполнено 07.12.2020"
    )
    assert events_of(engine, cycle_id) == [
        ("create", "scheduled", date(2020, 12, 7), None, "срок 2020-12-07", "tochka-daemon"),
        ("start", "in_progress", date(2020, 12, 7), None, comment, "tochka-daemon"),
        ("complete", "done", date(2020, 12, 7), {"government_decree": DECREE}, comment,
         "tochka-daemon"),
    ]  # fmt: skip
    # Never reminded: no reminder about measure 1 on any rung.
    assert queue.items  # the other measures were reminded meanwhile
    assert [r for r in queue.items if r.deadline == date(2020, 12, 7)] == []
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(
                    SENT.c.kind == "cycle", SENT.c.entity_id == cycle_id
                )
            ).scalar_one()
            == 0
        )
    with engine.connect() as conn:
        audit.verify(conn, stored_done.id, stored_done.definition.code)


def test_a_late_first_tick_records_it_and_later_ticks_change_nothing(
    engine: Engine, stored_done: StoredRoadmap
) -> None:
    queue = Recorder()
    first = run(engine, stored_done, "2021-01-11", queue)
    assert first.cycles_created >= 1
    with engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(sa.select(EVENT).order_by(EVENT.c.seq))]
    assert run(engine, stored_done, "2021-01-11", queue).cycles_created == 0
    run(engine, stored_done, "2021-01-12", queue)
    with engine.connect() as conn:
        after = [tuple(r) for r in conn.execute(sa.select(EVENT).order_by(EVENT.c.seq))]
    new = after[len(before) :]
    assert after[: len(before)] == before
    assert all(row[EVENT.c.keys().index("entity_key")] != "1/2020" for row in new)
    ((_, state, _),) = measure_1(engine)
    assert state == "done"


# ------------------------------------------------------------------------ CLI

Cli = Callable[..., Result]


def test_cli_load_refuses_a_future_done_and_changes_nothing(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    result = cli("--now", "2021-01-11", "init")
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(sa.select(ROADMAP))]
    bad = tmp_path / "r.yaml"
    bad.write_text(with_done(SHIPPED_DONE.replace("2020-12-07", "2099-01-01")), encoding="utf-8")
    result = cli("roadmap", "load", str(bad))
    assert result.exit_code != 0
    line = line_of(bad.read_text(encoding="utf-8"), '"on": "2099-01-01"')
    assert (
        f"{bad}, строка {line}, столбец 13, поле «measures[0].done.on»: дата выполнения "
        "01.01.2099 в будущем"
    ) in result.output
    assert "Traceback" not in result.output
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.select(ROADMAP))] == before
    shown = json.loads(cli("--json", "roadmap", "show").output)
    assert shown["measures"][0]["done"] == {
        "on": "2020-12-07",
        "evidence": {"government_decree": DECREE},
    }
    assert "выполнено до загрузки: 07.12.2020" in cli("roadmap", "show").output
    # `audit verify` passes after the tick recorded it.
    assert cli("--now", "2021-01-11", "tick").exit_code == 0
    assert cli("audit", "verify").exit_code == 0


def test_the_cli_checks_done_against_its_now_not_the_real_clock(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """``--now`` is the commands' today: the shipped measure 1, done on 07.12.2020, is
    in the future on 06.12.2020 for ``validate`` and ``init``, and recorded from its day."""
    refused = cli("--now", "2020-12-06", "roadmap", "validate", str(IVANOVO_159_RP))
    assert refused.exit_code != 0
    assert "дата выполнения 07.12.2020 в будущем (сегодня 06.12.2020)" in " ".join(
        refused.output.split()
    )
    result = cli("--now", "2020-12-06", "init")
    assert result.exit_code != 0
    assert "дата выполнения 07.12.2020 в будущем (сегодня 06.12.2020)" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output
    assert cli("--now", "2020-12-07", "roadmap", "validate", str(IVANOVO_159_RP)).exit_code == 0
    result = cli("--now", "2020-12-07", "init")
    assert result.exit_code == 0, result.output
    # A new version is read as of --now too (diff and load).
    new = tmp_path / "r.yaml"
    new.write_text(with_done(SHIPPED_DONE.replace("2020-12-07", "2020-12-09")), encoding="utf-8")
    for command in ("diff", "load"):
        refused = cli("--now", "2020-12-08", "roadmap", command, str(new))
        assert refused.exit_code != 0, command
        assert "дата выполнения 09.12.2020 в будущем (сегодня 08.12.2020)" in " ".join(
            refused.output.split()
        ), command


def test_the_final_report_says_the_file_entered_it_not_the_tick_s_account(
    engine: Engine, stored_done: StoredRoadmap
) -> None:
    from workflow.views import final

    run(engine, stored_done, "2020-12-07", Recorder())
    with engine.connect() as conn:
        report = final.build(conn, stored_done, now=datetime(2021, 1, 11, 9, tzinfo=UTC))
    (line,) = [c for c in report.cycles if c.measure == 1]
    assert line.record.recorded_by == "файл дорожной карты"  # not «tochka-daemon»
    assert line.record.evidence.startswith("распоряжение Правительства Ивановской области:")
    assert (
        '<td data-label="кем внесено">файл дорожной карты<span class="muted">, внесено '
    ) in final.render_html(report)
