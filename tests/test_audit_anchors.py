"""The audit chain anchored outside the database (issue 11, item 1): the tamper suite.

Each case tampers with the database the way someone with the files (SQLite) or the
schema owner's rights (PostgreSQL) can: the append-only triggers switched off
(`bypass_append_only`). The first four break the chain itself and are found by the chain
alone; the last four are *consistent*: every later hash, the head and the stored states
are recomputed, so the chain alone passes (asserted), and only the kept heads
(``audit verify --anchors``) or the key show them. Every case is run on SQLite and
PostgreSQL through the real CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from typer.testing import Result

from base import db
from tests.conftest import bypass_append_only
from workflow.engine import anchors, audit, audit_key
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, CYCLE, EVENT, GENESIS_HASH, HEAD

Cli = Callable[..., Result]


def _text(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(autouse=True)
def _no_key_left() -> Any:
    """The key is per process: a test that set it leaves none to the next."""
    yield
    audit_key.use(None)


@pytest.fixture
def anchor_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The configured anchor file, outside the database's folder."""
    folder = tmp_path / "anchors"
    folder.mkdir()
    path = folder / "anchors.tsv"
    monkeypatch.setenv("TOCHKA_ANCHOR_FILE", str(path))
    return path


@pytest.fixture
def anchored(cli: Cli, stored: StoredRoadmap, centers3: list[CenterRow], anchor_file: Path) -> Path:
    """A chain of several events (an import, two transitions), its head anchored."""
    for code in ("C00000", "C00001"):
        fired = cli("--now", "2021-02-01", "centers", "fire", code, "agree_infrastructure")
        assert fired.exit_code == 0, fired.output
    anchored = cli("audit", "anchor")
    assert anchored.exit_code == 0, anchored.output
    assert "дописан" in anchored.output
    assert cli("audit", "verify", "--anchors", str(anchor_file)).exit_code == 0
    return anchor_file


def _rows(conn: Connection, roadmap_id: int) -> list[Any]:
    return list(
        conn.execute(sa.select(EVENT).where(EVENT.c.roadmap_id == roadmap_id).order_by(EVENT.c.seq))
    )


def _rechain(conn: Connection, roadmap_id: int) -> None:
    """What a tamperer does after an edit: recompute every hash and the head."""
    prev = GENESIS_HASH
    seq = 0
    for row in _rows(conn, roadmap_id):
        fields = dict(row._mapping)
        digest = audit.event_hash(fields, prev)
        conn.execute(
            sa.update(EVENT).where(EVENT.c.id == row.id).values(prev_hash=prev, hash=digest)
        )
        prev, seq = digest, row.seq
    conn.execute(sa.update(HEAD).where(HEAD.c.roadmap_id == roadmap_id).values(seq=seq, hash=prev))


def _chain_alone_passes(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consistent cases pass the chain check without kept heads (why anchors exist)."""
    monkeypatch.delenv("TOCHKA_ANCHOR_FILE")
    alone = cli("audit", "verify")
    assert alone.exit_code == 0, alone.output
    assert "в порядке" in alone.output


def _rewritten(cli: Cli, anchor_file: Path) -> str:
    found = cli("audit", "verify", "--anchors", str(anchor_file))
    assert found.exit_code == 1, found.output
    text = _text(found)
    assert "Журнал аудита дорожной карты «ivanovo-2021-2023»" in text
    assert "Traceback" not in text
    return text


# --- the chain alone finds these ----------------------------------------------------------


def test_a_changed_event_is_found(cli: Cli, engine: Engine, anchored: Path) -> None:
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("UPDATE event SET actor = 'someone-else' WHERE seq = 3")
    text = _rewritten(cli, anchored)
    assert "нарушен: событие № 3" in text
    assert "содержимое события изменено" in text


def test_a_deleted_event_is_found(cli: Cli, engine: Engine, anchored: Path) -> None:
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("DELETE FROM event WHERE seq = 3")
    text = _rewritten(cli, anchored)
    assert "ожидалось событие № 3, найдено № 4" in text


def test_reordered_events_are_found(cli: Cli, engine: Engine, anchored: Path) -> None:
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("UPDATE event SET seq = -3 WHERE seq = 3")
        conn.exec_driver_sql("UPDATE event SET seq = 3 WHERE seq = 4")
        conn.exec_driver_sql("UPDATE event SET seq = 4 WHERE seq = -3")
    text = _rewritten(cli, anchored)
    assert "нарушен: событие № 3" in text
    assert "ссылка на предыдущее событие не совпадает" in text


def test_an_inserted_event_is_found(
    cli: Cli, engine: Engine, stored: StoredRoadmap, anchored: Path
) -> None:
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("UPDATE event SET seq = seq + 1000 WHERE seq >= 3")
        conn.exec_driver_sql("UPDATE event SET seq = seq - 999 WHERE seq >= 1000")
        copy = dict(_rows(conn, stored.id)[1]._mapping)
        copy.pop("id")
        conn.execute(sa.insert(EVENT).values(copy | {"seq": 3, "actor": "intruder"}))
    text = _rewritten(cli, anchored)
    assert "нарушен: событие № 3" in text


# --- consistent tampering: only the kept heads find these -------------------------------


def test_a_consistent_rewrite_is_named_as_rewritten(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    anchored: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = anchors.read_anchors(anchored)[-1]
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("UPDATE event SET actor = 'someone-else' WHERE seq = 2")
        _rechain(conn, stored.id)
        found = conn.execute(sa.select(EVENT.c.hash).where(EVENT.c.seq == kept.seq)).scalar()
    text = _rewritten(cli, anchored)
    assert "переписан: событие № " + str(kept.seq) + " не то, что было сохранено" in text
    # The kept value and the found one are both named, in full.
    assert f"Сохранённый заголовок {kept.seq}:{kept.hash}" in text
    assert f"хеш {found}" in text
    _chain_alone_passes(cli, monkeypatch)


def test_a_forged_append_is_found_by_the_keyed_chain(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    centers3: list[CenterRow],
    anchor_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A forged event appended after the last kept head extends that head: no anchor can
    # tell it from a real one. The key can: every event written through tochka is signed.
    monkeypatch.setenv("TOCHKA_AUDIT_KEY", "k" * 32)
    fired = cli("--now", "2021-02-01", "centers", "fire", "C00000", "agree_infrastructure")
    assert fired.exit_code == 0, fired.output
    assert cli("audit", "anchor").exit_code == 0
    assert cli("audit", "verify", "--anchors", str(anchor_file)).exit_code == 0
    with db.write(engine) as conn:
        bypass_append_only(conn)
        _forge_transition(conn, stored.id, "C00001")
    text = _rewritten(cli, anchor_file)
    assert "не подписано ключом" in text
    # Without the key the forgery passes (recomputed unkeyed), which is why the key exists.
    monkeypatch.delenv("TOCHKA_AUDIT_KEY")
    monkeypatch.delenv("TOCHKA_ANCHOR_FILE")
    without_key = cli("audit", "verify")
    assert without_key.exit_code == 0, without_key.output


def test_a_keyed_chain_stripped_of_its_seals_is_found_by_the_anchors(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    centers3: list[CenterRow],
    anchor_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The forger's way round the key: recompute the whole chain without it (every seal
    # gone), then append. The chain alone cannot tell (nothing sealed is left); the kept
    # head, a sealed hash, can. The key and the anchors are meant to be used together.
    monkeypatch.setenv("TOCHKA_AUDIT_KEY", "another key, held by the daemon's account")
    for code in ("C00000", "C00001"):
        fired = cli("--now", "2021-02-01", "centers", "fire", code, "agree_infrastructure")
        assert fired.exit_code == 0
    assert cli("audit", "anchor").exit_code == 0
    verified = cli("audit", "verify")
    assert verified.exit_code == 0
    assert "Подписано ключом событий: 2." in _text(verified)
    assert anchors.read_anchors(anchor_file)[-1].hash.startswith(audit.SEALED)
    with db.write(engine) as conn:
        bypass_append_only(conn)
        _rechain(conn, stored.id)  # without the key: every hash plain again
        _forge_transition(conn, stored.id, "C00002")
    monkeypatch.delenv("TOCHKA_ANCHOR_FILE")
    assert cli("audit", "verify").exit_code == 0  # the chain alone: nothing sealed to miss
    text = _rewritten(cli, anchor_file)
    assert "переписан" in text


def _forge_transition(conn: Connection, roadmap_id: int, code: str) -> None:
    """Append a consistent, unkeyed transition of center ``code`` and fix its row."""
    head = conn.execute(sa.select(HEAD).where(HEAD.c.roadmap_id == roadmap_id)).one()
    center = conn.execute(
        sa.select(CENTER).where(CENTER.c.roadmap_id == roadmap_id, CENTER.c.code == code)
    ).one()
    fields: dict[str, Any] = {
        "roadmap_id": roadmap_id,
        "seq": head.seq + 1,
        "entity_kind": "center",
        "entity_id": center.id,
        "entity_key": code,
        "trigger": "agree_infrastructure",
        "from_state": center.state,
        "to_state": "infrastructure_agreed",
        "actor": "operator",
        "on_behalf_of": None,
        "recorded_at": datetime(2021, 2, 1, 9, 0, tzinfo=UTC),
        "effective_date": datetime(2021, 2, 1).date(),
        "evidence": None,
        "comment": None,
        "prev_hash": head.hash,
    }
    fields["hash"] = audit.event_hash(fields, head.hash)
    conn.execute(sa.insert(EVENT).values(fields))
    conn.execute(
        sa.update(CENTER)
        .where(CENTER.c.id == center.id)
        .values(state="infrastructure_agreed", version=center.version + 1)
    )
    conn.execute(
        sa.update(HEAD)
        .where(HEAD.c.roadmap_id == roadmap_id)
        .values(seq=fields["seq"], hash=fields["hash"])
    )


def test_an_erased_tail_is_found(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    anchored: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = anchors.read_anchors(anchored)[-1]
    with db.write(engine) as conn:
        bypass_append_only(conn)
        last = _rows(conn, stored.id)[-1]
        conn.execute(sa.delete(EVENT).where(EVENT.c.id == last.id))
        conn.execute(
            sa.update(CENTER)
            .where(CENTER.c.id == last.entity_id)
            .values(state=last.from_state, version=CENTER.c.version - 1)
        )
        _rechain(conn, stored.id)
    text = _rewritten(cli, anchored)
    assert f"в журнале {kept.seq - 1} событий, а сохранённый заголовок — событие № {kept.seq}" in (
        text
    )
    assert "события удалены" in text
    _chain_alone_passes(cli, monkeypatch)


def test_a_total_wipe_is_found(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    anchored: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = anchors.read_anchors(anchored)[-1]
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.execute(sa.delete(EVENT))
        conn.execute(sa.delete(CENTER))
        conn.execute(sa.delete(CYCLE))
        conn.execute(sa.update(HEAD).values(seq=0, hash=GENESIS_HASH))
    text = _rewritten(cli, anchored)
    assert f"в журнале 0 событий, а сохранённый заголовок — событие № {kept.seq}" in text
    assert "в базе заголовок 0:" + GENESIS_HASH in text
    _chain_alone_passes(cli, monkeypatch)


# --- the kept heads: printed, given back, appended --------------------------------------


def test_a_printed_head_given_back_with_expect_proves_the_chain_extends_it(
    cli: Cli, engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    fired = cli(
        "--show-head", "--now", "2021-02-01", "centers", "fire", "C00000", "agree_infrastructure"
    )
    assert fired.exit_code == 0, fired.output
    line = fired.output.splitlines()[-1]
    assert line.startswith("Заголовок журнала «ivanovo-2021-2023»: ")
    head = line.rsplit(" ", 1)[1]
    seq, digest = anchors.parse_head(head)
    assert len(digest) == 64
    with db.read(engine) as conn:
        assert anchors.heads(conn)[0].text == head
    # A later transition extends it: still proven.
    assert (
        cli("--now", "2021-02-01", "centers", "fire", "C00001", "agree_infrastructure").exit_code
        == 0
    )
    assert cli("audit", "verify", "--expect", head).exit_code == 0
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql(f"UPDATE event SET comment = 'x' WHERE seq = {seq}")
        _rechain(conn, stored.id)
    refused = cli("audit", "verify", "--expect", head)
    assert refused.exit_code == 1
    assert f"Сохранённый заголовок {head} (--expect)" in _text(refused)
    bad = cli("audit", "verify", "--expect", "12:abc")
    assert bad.exit_code == 1
    assert "«12:abc» — не заголовок журнала" in _text(bad)


def test_show_head_under_json_keeps_stdout_for_data(
    cli: Cli, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    fired = cli(
        "--json", "--show-head", "--now", "2021-02-01", "centers", "fire", "C00000", "equip"
    )
    # A refusal (a transition not allowed) writes nothing the head would change for.
    assert fired.exit_code == 1
    ok = cli(
        "--json",
        "--show-head",
        "--now",
        "2021-02-01",
        "centers",
        "fire",
        "C00000",
        "agree_infrastructure",
    )
    assert ok.exit_code == 0
    json.loads(ok.stdout)  # stdout: the command's data only
    heads = json.loads(ok.stderr.strip().splitlines()[-1])["audit_head"]
    assert [h["roadmap"] for h in heads] == ["ivanovo-2021-2023"]
    assert len(heads[0]["hash"]) == 64


def test_audit_anchor_appends_only_heads_that_moved(
    cli: Cli, stored: StoredRoadmap, centers3: list[CenterRow], anchor_file: Path
) -> None:
    assert cli("audit", "anchor").exit_code == 0
    again = cli("audit", "anchor")
    assert again.exit_code == 0
    assert "ничего не дописано" in again.output
    assert len(anchor_file.read_text().splitlines()) == 1
    assert (
        cli("--now", "2021-02-01", "centers", "fire", "C00000", "agree_infrastructure").exit_code
        == 0
    )
    assert cli("audit", "anchor").exit_code == 0
    lines = [line.split("\t") for line in anchor_file.read_text().splitlines()]
    assert [(parts[0], int(parts[1])) for parts in lines] == [
        ("ivanovo-2021-2023", int(lines[0][1])),
        ("ivanovo-2021-2023", int(lines[0][1]) + 1),
    ]
    assert anchor_file.stat().st_mode & 0o777 == 0o600


def test_audit_anchor_refuses_to_anchor_a_rewritten_chain(
    cli: Cli, engine: Engine, stored: StoredRoadmap, anchored: Path
) -> None:
    before = anchored.read_bytes()
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("UPDATE event SET actor = 'x' WHERE seq = 2")
        _rechain(conn, stored.id)
    refused = cli("audit", "anchor")
    assert refused.exit_code == 1
    assert "переписан" in _text(refused)
    assert anchored.read_bytes() == before


def test_an_anchor_file_inside_the_data_folder_is_refused(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCHKA_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TOCHKA_ANCHOR_FILE", str(tmp_path / "var" / "anchors.tsv"))
    refused = cli("audit", "anchor")
    assert refused.exit_code == 1
    assert "лежит в папке данных" in _text(refused)
    assert not (tmp_path / "var" / "anchors.tsv").exists()


def test_the_daemon_anchors_after_a_tick(
    engine: Engine, stored: StoredRoadmap, anchor_file: Path
) -> None:
    import scheduler
    from tests.test_tick import Recorder

    anchor_file.touch()  # written by init (a vanished file is not re-created: below)
    daemon = scheduler.Daemon(engine=engine, queue=Recorder())
    # The tick of 01.03.2021 opens the measure cycles due by then: the chain moves.
    assert daemon.tick_all(datetime(2021, 3, 1, 9, 0, tzinfo=UTC))
    lines = anchor_file.read_text().splitlines()
    with db.read(engine) as conn:
        head = anchors.heads(conn)[0]
    assert head.seq > 1
    assert lines[-1].split("\t")[:3] == [head.roadmap, str(head.seq), head.hash]
    daemon.tick_all(datetime(2021, 3, 1, 9, 0, tzinfo=UTC))  # nothing moved: nothing added
    assert len(anchor_file.read_text().splitlines()) == len(lines)


def test_a_roadmap_the_anchors_know_but_the_database_lost_is_found(
    cli: Cli, db_url: str, stored: StoredRoadmap, anchored: Path
) -> None:
    # What a wipe that deletes the roadmap row too leaves: a kept head with nothing to
    # extend it (written here as the anchor file would hold it).
    with anchored.open("a") as kept:
        kept.write(
            f"gone-roadmap\t7\t{'cd' * 32}\t2026-12-01T09:00:00+00:00\t"
            f"{anchors.database_id(db_url)}\n"
        )
    found = cli("audit", "verify", "--anchors", str(anchored))
    assert found.exit_code == 1
    text = _text(found)
    assert "«gone-roadmap» переписан: дорожная карта удалена из базы вместе с журналом" in text
    assert f"Сохранённый заголовок 7:{'cd' * 32}" in text
