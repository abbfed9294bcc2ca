"""The anchors under faults (review of issue 11): a check that compares nothing is never
a pass.

- Anchor lines are matched to a database by its chain (the hash of each roadmap's first
  event, which a copy, restore or move keeps), or by the database's path, or — for lines
  of the older five-field form — by roadmap code; a database restored elsewhere is still
  checked, and ``--anchors FILE`` without a line for this database is an error.
- ``backup verify`` refuses a wiped copy and a copy cut below a head kept before its own
  last event.
- Every command (not only init) refuses a 0-byte database file, and a missing one the
  anchors remember, without touching it.
- A configured anchor file that vanished is an error once the database works.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from base import db
from tests import test_audit_anchors, test_init_guard
from tests.conftest import bypass_append_only
from tests.test_audit_anchors import _rechain, _rows
from tests.test_init_guard import _initialised, _said, _tochka
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, CYCLE, EVENT, GENESIS_HASH, HEAD

Cli = Callable[..., Result]

ROADMAP = "ivanovo-2021-2023"

# The fixtures of the modules whose features these tests break.
anchor_file = test_audit_anchors.anchor_file
anchored = test_audit_anchors.anchored
here = test_init_guard.here


def _text(result: Result) -> str:
    return " ".join(result.output.split())


def _rewrite_lines(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    lines = [line.split("\t") for line in path.read_text().splitlines()]
    path.write_text("".join("\t".join(change(parts)) + "\n" for parts in lines))


def _consistent_rewrite(engine: Engine, stored: StoredRoadmap) -> None:
    """Edit event 2 and recompute every later hash and the head (event 1, the chain's
    identity, stays)."""
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.exec_driver_sql("UPDATE event SET actor = 'someone-else' WHERE seq = 2")
        _rechain(conn, stored.id)


# --- item 1: lines written for the database where it was ------------------------------


def test_lines_written_for_another_path_still_check_this_chain(
    cli: Cli, engine: Engine, stored: StoredRoadmap, anchored: Path
) -> None:
    # The database restored or moved elsewhere: the lines name the old place.
    _rewrite_lines(anchored, lambda p: p[:4] + ["/srv/old-place/tochka.db"] + p[5:])
    assert cli("audit", "verify", "--anchors", str(anchored)).exit_code == 0
    _consistent_rewrite(engine, stored)
    found = cli("audit", "verify", "--anchors", str(anchored))
    assert found.exit_code == 1, found.output
    assert f"Журнал аудита дорожной карты «{ROADMAP}» переписан" in _text(found)


def test_five_field_lines_for_another_path_are_matched_by_roadmap_code(
    cli: Cli, engine: Engine, stored: StoredRoadmap, anchored: Path
) -> None:
    # Lines of the older form (no chain field), written where the database was.
    _rewrite_lines(anchored, lambda p: p[:4] + ["/srv/old-place/tochka.db"])
    assert cli("audit", "verify", "--anchors", str(anchored)).exit_code == 0
    _consistent_rewrite(engine, stored)
    found = cli("audit", "verify", "--anchors", str(anchored))
    assert found.exit_code == 1, found.output
    assert "переписан" in _text(found)


def test_a_copy_restored_into_another_file_and_rewritten_is_found(
    db_url: str, engine: Engine, stored: StoredRoadmap, anchored: Path, tmp_path: Path
) -> None:
    # The README's recipe, with the repro of the review: a copy in another file.
    if not db_url.startswith("sqlite"):
        pytest.skip("a file copy is SQLite's; PostgreSQL is covered by the tests above")
    from workflow.cli.app import app

    elsewhere = tmp_path / "elsewhere.db"
    engine.dispose()
    shutil.copyfile(db_url.removeprefix("sqlite:///"), elsewhere)
    copy = db.make_engine(f"sqlite:///{elsewhere}")
    try:
        _consistent_rewrite(copy, stored)
    finally:
        copy.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("workflow.engine.identity.os_login", lambda: "operator")
        found = CliRunner().invoke(
            app, ["--db", str(elsewhere), "audit", "verify", "--anchors", str(anchored)]
        )
    assert found.exit_code == 1, found.output
    assert "переписан" in _text(found)
    assert "в порядке" not in found.output


def test_an_anchor_file_with_no_line_for_this_database_is_an_error(
    cli: Cli, stored: StoredRoadmap, anchored: Path
) -> None:
    # Five fields, so that the refusal is seen against the code before the chain field.
    _rewrite_lines(anchored, lambda p: ["other-roadmap", *p[1:4], "/srv/other.db"])
    refused = cli("audit", "verify", "--anchors", str(anchored))
    assert refused.exit_code == 1, refused.output
    text = _text(refused)
    assert f"в файле {anchored} нет ни одной строки для этой базы" in text
    # What the file holds and what the database has are both named.
    assert "«other-roadmap» (цепочка не указана, база /srv/other.db, строк 1)" in text
    assert f"В базе: «{ROADMAP}» (цепочка " in text
    assert "в порядке" not in text


def test_a_wipe_is_named_by_the_latest_kept_head(
    cli: Cli, engine: Engine, stored: StoredRoadmap, anchored: Path
) -> None:
    fired = cli("--now", "2021-02-01", "centers", "fire", "C00002", "agree_infrastructure")
    assert fired.exit_code == 0
    assert cli("audit", "anchor").exit_code == 0
    latest = anchored.read_text().splitlines()[-1].split("\t")
    with db.write(engine) as conn:
        bypass_append_only(conn)
        conn.execute(sa.delete(EVENT))
        conn.execute(sa.delete(CENTER))
        conn.execute(sa.delete(CYCLE))
        conn.execute(sa.update(HEAD).values(seq=0, hash=GENESIS_HASH))
    found = cli("audit", "verify", "--anchors", str(anchored))
    assert found.exit_code == 1
    text = _text(found)
    assert f"Сохранённый заголовок {latest[1]}:{latest[2]} ({anchored}, строка 2" in text


# --- item 4: a configured anchor file that vanished ------------------------------------


def test_a_configured_anchor_file_that_vanished_is_an_error(
    cli: Cli, engine: Engine, stored: StoredRoadmap, anchored: Path
) -> None:
    anchored.unlink()
    with db.write(engine) as conn:  # the wipe of the review's repro
        bypass_append_only(conn)
        conn.execute(sa.delete(EVENT))
        conn.execute(sa.delete(CENTER))
        conn.execute(sa.delete(CYCLE))
        conn.execute(sa.update(HEAD).values(seq=0, hash=GENESIS_HASH))
    refused = cli("audit", "verify")
    assert refused.exit_code == 1, refused.output
    text = _text(refused)
    assert f"Файл якорей {anchored} (anchor_file, TOCHKA_ANCHOR_FILE) не найден" in text
    assert "в порядке" not in text
    assert not anchored.exists()


def test_a_configured_anchor_file_without_lines_yet_is_said_so(
    cli: Cli, stored: StoredRoadmap, anchor_file: Path
) -> None:
    anchor_file.touch()
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "якорей ещё нет" in _text(verified)


# --- item 2: backup verify of a wiped or cut copy --------------------------------------


def _sqlite_only(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("tochka backup copies SQLite only")


def _copy_of(cli: Cli, tmp_path: Path) -> tuple[Path, Engine]:
    copy = tmp_path / "copy.db"
    made = cli("backup", "-o", str(copy))
    assert made.exit_code == 0, made.output
    return copy, db.make_engine(f"sqlite:///{copy}")


def test_backup_verify_refuses_a_wiped_copy(
    cli: Cli, db_url: str, stored: StoredRoadmap, anchored: Path, tmp_path: Path
) -> None:
    _sqlite_only(db_url)
    copy, tampered = _copy_of(cli, tmp_path)
    try:
        with db.write(tampered) as conn:
            bypass_append_only(conn)
            conn.execute(sa.delete(EVENT))
            conn.execute(sa.delete(CENTER))
            conn.execute(sa.update(HEAD).values(seq=0, hash=GENESIS_HASH))
    finally:
        tampered.dispose()
    refused = cli("backup", "verify", str(copy))
    assert refused.exit_code == 1, refused.output
    text = _text(refused)
    assert f"«{ROADMAP}» переписан: в копии нет ни одного события" in text


def test_backup_verify_refuses_a_copy_cut_below_a_head_kept_before_its_last_event(
    cli: Cli, db_url: str, stored: StoredRoadmap, anchored: Path, tmp_path: Path
) -> None:
    _sqlite_only(db_url)
    kept = anchored.read_text().splitlines()[-1].split("\t")
    copy, tampered = _copy_of(cli, tmp_path)
    try:
        with db.write(tampered) as conn:
            bypass_append_only(conn)
            rows = _rows(conn, stored.id)
            for row in rows[-2:]:  # the last two transitions erased...
                assert row.entity_kind == "center"
                conn.execute(sa.delete(EVENT).where(EVENT.c.id == row.id))
                conn.execute(
                    sa.update(CENTER)
                    .where(CENTER.c.id == row.entity_id)
                    .values(state=row.from_state, version=CENTER.c.version - 1)
                )
            # ...and the one left made to look recent: a copy "newer" than the kept head.
            conn.execute(
                sa.update(EVENT)
                .where(EVENT.c.id == rows[-3].id)
                .values(recorded_at=datetime.now(UTC) + timedelta(minutes=5))
            )
            _rechain(conn, stored.id)
    finally:
        tampered.dispose()
    refused = cli("backup", "verify", str(copy))
    assert refused.exit_code == 1, refused.output
    text = _text(refused)
    assert f"сохранённый заголовок — событие № {kept[1]}, записанный раньше" in text
    assert "обрезан или переписан" in text


# --- item 3: other commands on a 0-byte or missing database ----------------------------


def test_status_on_a_truncated_database_refuses_and_leaves_it_empty(here: Path) -> None:
    path, head = _initialised(here)
    path.write_bytes(b"")
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        extra.unlink(missing_ok=True)
    refused = _tochka(here, "status")
    assert refused.returncode == 1, refused.stdout
    text = _said(refused)
    assert "Файл базы var/tochka.db пуст (0 байт)" in text
    assert f"Последний известный заголовок журнала: «{ROADMAP}» {head}" in text
    assert "tochka backup verify" in text
    assert "Выполните tochka init" not in text
    assert path.stat().st_size == 0
    assert not Path(f"{path}-wal").exists()


def test_status_on_a_deleted_database_the_anchors_remember_refuses(here: Path) -> None:
    path, head = _initialised(here)
    for extra in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        extra.unlink(missing_ok=True)
    refused = _tochka(here, "status")
    assert refused.returncode == 1
    text = _said(refused)
    assert "База данных var/tochka.db не найдена, а файл якорей" in text
    assert f"«{ROADMAP}» {head}" in text
    assert "Создайте её: tochka init" not in text
    assert not path.exists()


def test_status_on_a_missing_database_nobody_remembers_still_says_init(here: Path) -> None:
    refused = _tochka(here, "status")
    assert refused.returncode == 1
    assert "Создайте её: tochka init" in _said(refused)
    assert not (here / "work" / "var" / "tochka.db").exists()


# --- item 5: the daemon's log and the SMTP refusal say things once, in words ------------


def test_the_daemons_delivery_log_line_is_key_value_words(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    import scheduler
    from notifications.deliver import DeliveryReport
    from tests.test_tick import Recorder

    report = DeliveryReport(claimed=5, sent=3, retrying=1, dead=1, errors=["12: x", "13: y"])
    report.transport_error = "Письмо не отправлено: нет соединения с 127.0.0.1:1"
    daemon = scheduler.Daemon(engine=engine, queue=Recorder(), deliver=lambda now: report)
    with caplog.at_level("INFO", logger="tochka"):
        daemon.deliver_once()
    [line] = [r.getMessage() for r in caplog.records if "event=delivery " in r.getMessage()]
    assert line == (
        "event=delivery claimed=5 sent=3 retrying=1 dead=1 released=0 failed_rows=2 "
        "transport_error=«Письмо не отправлено: нет соединения с 127.0.0.1:1»"
    )


def test_outbox_send_to_an_unreachable_server_says_it_once(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    csv = tmp_path / "c.csv"
    csv.write_text(
        "code,name,municipality,cohort,email\n"
        "S1,МБОУ «Школа № 1»,Шуйский район,2021,s1@example.org\n",
        encoding="utf-8",
    )
    assert cli("--now", "2021-03-01", "centers", "import", str(csv)).exit_code == 0
    assert (
        cli("--now", "2021-03-02", "centers", "fire", "S1", "agree_infrastructure").exit_code == 0
    )
    for name, value in {
        "TOCHKA_SMTP_HOST": "127.0.0.1",
        "TOCHKA_SMTP_PORT": str(port),
        "TOCHKA_SMTP_TLS": "none",
        "TOCHKA_SMTP_TIMEOUT": "2",
        "TOCHKA_MAIL_FROM": "tochka@edu.example.org",
    }.items():
        monkeypatch.setenv(name, value)
    refused = cli("--now", "2021-03-02T10:00:00+03:00", "outbox", "send")
    assert refused.exit_code == 1
    text = _text(refused)
    assert f"Почтовый сервер недоступен: нет соединения с 127.0.0.1:{port}" in text
    assert "недоступен: Письмо не отправлено" not in text


def test_the_daemon_does_not_recreate_a_vanished_anchor_file(
    engine: Engine, stored: StoredRoadmap, anchor_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import scheduler
    from tests.test_tick import Recorder

    daemon = scheduler.Daemon(engine=engine, queue=Recorder())
    with caplog.at_level("INFO", logger="tochka"):
        assert daemon.tick_all(datetime(2021, 3, 1, 9, 0, tzinfo=UTC))
    # A file holding only today's heads would let audit verify pass over what was lost.
    assert not anchor_file.exists()
    assert any(
        f"Файл якорей {anchor_file} не найден: демон не создаёт его заново" in r.getMessage()
        for r in caplog.records
    )


def test_audit_anchor_refuses_a_chain_rewritten_after_a_move(
    cli: Cli, engine: Engine, stored: StoredRoadmap, anchored: Path
) -> None:
    # The lines name where the database was; a rewritten chain is still not anchored.
    _rewrite_lines(anchored, lambda p: p[:4] + ["/srv/old-place/tochka.db"] + p[5:])
    _consistent_rewrite(engine, stored)
    before = anchored.read_bytes()
    refused = cli("audit", "anchor")
    assert refused.exit_code == 1, refused.output
    assert "переписан" in _text(refused)
    assert anchored.read_bytes() == before
