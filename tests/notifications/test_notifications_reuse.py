"""What the letters keep and reuse (issue 16, item 3), and that keeping it changes nothing.

Compiled templates (once per process, and on disk for the next process of the same
account), memoised wording and header values, calendar events kept by what they are;
one SMTP connection for a whole run of batches, and one disk flush per batch instead of
one per letter. Timing is the benchmark's business (benchmarks/bench_notifications.py):
these tests check what is reused and that the letters are the same.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import jinja2
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications import deliver, headers, ics, memo, render
from notifications.deliver import Deliverer, deliver_pending
from notifications.headers import READ_POLICY, SMTP_POLICY, has_forbidden
from notifications.outbox import OUTBOX
from notifications.queue import queue_notice
from notifications.render import Renderer
from notifications.transport import SmtpSettings, SmtpTransport, TlsMode
from notifications.values import Notice, Recipient, Reminder, Rung
from tests.notifications.conftest import SmtpRecorder

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
SENDER = "roadmap@edu.example.org"
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ compiled templates


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The template names jinja2 compiles from source from now on."""
    names: list[str] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, name: Any = None, *a: Any, **k: Any) -> Any:
        if name is not None:
            names.append(name)
        return original(self, source, name, *a, **k)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


def test_a_second_renderer_compiles_no_template(compiles: list[str]) -> None:
    Renderer().check()  # whatever this process had not compiled yet
    compiles.clear()
    second = Renderer()
    second.check()
    assert compiles == []
    # The same letters as a renderer that compiles everything itself.
    alone = Renderer()
    alone.env.bytecode_cache = None
    alone.check()
    assert compiles  # it did compile
    reminders = render.sample_reminders(NOW)
    assert second.render_reminders(reminders, now=NOW) == alone.render_reminders(reminders, now=NOW)


def test_an_override_changed_on_disk_is_compiled_again(tmp_path: Path) -> None:
    override = tmp_path / "reminder_before.subject.j2"
    override.write_text("Скоро срок: {{ item.title }}", encoding="utf-8")
    Renderer(tmp_path).check()
    override.write_text("Скоро срок: {{ item.no_such_field }}", encoding="utf-8")
    with pytest.raises(render.TemplateProblem, match="reminder_before.subject.j2"):
        Renderer(tmp_path).check()
    override.write_text("Срок близко: {{ item.title }}", encoding="utf-8")
    (reminder,) = [r for r in render.sample_reminders(NOW) if r.rung is Rung.BEFORE]
    assert (
        Renderer(tmp_path).render_reminders([reminder], now=NOW).subject.startswith("Срок близко: ")
    )


def test_other_environment_options_are_other_code() -> None:
    env = Renderer().env
    other = jinja2.Environment(trim_blocks=False, lstrip_blocks=True, keep_trailing_newline=True)
    assert render._options(env) != render._options(other)
    key = render._COMPILED.get_bucket(env, "digest.txt.j2", "f", "x").key
    assert render._COMPILED.get_bucket(other, "digest.txt.j2", "f", "x").key != key


_CHILD = """
import jinja2, sys
names = []
compile = jinja2.Environment.compile
def counting(self, source, name=None, *a, **k):
    names.append(name)
    return compile(self, source, name, *a, **k)
jinja2.Environment.compile = counting
from notifications.render import Renderer
Renderer().check()
print(len(names))
"""


def _child(tmp: Path) -> int:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


def test_the_next_process_finds_the_compiled_templates_on_disk(tmp_path: Path) -> None:
    first = _child(tmp_path)
    assert first >= len(render.KINDS) * len(render.PARTS)
    folder = tmp_path / f"_jinja2-cache-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # this account's alone
    assert _child(tmp_path) == 0


def test_an_unsafe_cache_folder_leaves_the_memory_alone(tmp_path: Path) -> None:
    # The account's folder is a link to elsewhere (someone else's, say): jinja2 refuses
    # it, and the templates are compiled in memory, nothing written there.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"_jinja2-cache-{os.getuid()}").symlink_to(elsewhere)
    assert _child(tmp_path) >= len(render.KINDS) * len(render.PARTS)
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------- memoised values


def test_has_forbidden_is_the_character_rule_for_every_character() -> None:
    # The printable shortcut must not let through any character the rule forbids.
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        assert has_forbidden(ch) == headers._forbidden(ch), f"U+{code:04X}"


def test_a_long_header_value_is_not_kept() -> None:
    registry = READ_POLICY.header_factory
    assert isinstance(registry, headers._CachedRegistry)
    memo.clear()
    registry("Subject", "Отчёт " * 10)
    assert len(registry._made) == 1
    registry("Subject", "Отчёт " * 1000)  # a hostile 6,000-character subject
    assert len(registry._made) == 1


def test_kept_headers_are_bounded_and_the_used_ones_stay() -> None:
    registry = SMTP_POLICY.header_factory
    assert isinstance(registry, headers._CachedRegistry)
    memo.clear()
    hot = registry("Content-Transfer-Encoding", "base64")
    for n in range(3 * headers._MEMO_HEADERS):
        registry("Subject", f"Письмо № {n}")  # each letter's own
        assert registry("Content-Transfer-Encoding", "base64") is hot
    assert len(registry._made) == headers._MEMO_HEADERS


def test_memo_clear_forgets_everything() -> None:
    headers.clean_text("Школа № 1")
    headers.make_address("school@example.org", "Школа")
    assert headers.clean_text.cache_info().currsize > 0
    memo.clear()
    assert headers.clean_text.cache_info().currsize == 0
    assert headers.make_address.cache_info().currsize == 0


# ------------------------------------------------------------------- calendar events


def _plain_calendar(reminders: list[Reminder], now: datetime) -> bytes:
    """The calendar as icalendar writes it with no event kept (before the cache)."""
    cal = ics.new_calendar(ics.LETTER_CALENDAR_NAME)
    seen: set[str] = set()
    for r in sorted(reminders, key=lambda r: r.urgency):
        uid = ics.event_uid(r)
        if uid not in seen:
            seen.add(uid)
            cal.add_component(
                ics.deadline_event(
                    uid=uid,
                    due=r.deadline,
                    summary=ics.deadline_summary(r),
                    details=ics.reminder_details(r),
                    now=now,
                    earlier=r.earlier_deadlines,
                )
            )
    return bytes(cal.to_ical())


def test_kept_events_make_the_calendar_icalendar_writes(
    make_reminder: Callable[..., Reminder],
) -> None:
    reminders = [
        make_reminder(key="a"),
        make_reminder(key="b", measure_number=7, deadline=date(2022, 8, 21), rung=Rung.OVERDUE),
        make_reminder(key="c", recipient=Recipient(email="other@example.org")),  # same event
        make_reminder(
            key="d", measure_number=8, earlier_deadlines=(date(2022, 8, 1),), title="Закупки"
        ),
    ]
    memo.clear()
    assert ics.build_calendar(reminders, now=NOW) == _plain_calendar(reminders, NOW)
    assert ics.build_calendar(reminders, now=NOW) == _plain_calendar(reminders, NOW)  # kept
    assert ics.build_calendar(reminders[1:2], now=NOW) == _plain_calendar(reminders[1:2], NOW)
    events = icalendar.Calendar.from_ical(ics.build_calendar(reminders, now=NOW)).walk("VEVENT")
    assert len(events) == 3


def test_a_kept_event_is_stamped_with_its_own_tick(
    make_reminder: Callable[..., Reminder],
) -> None:
    reminder = make_reminder()
    later = NOW + timedelta(days=1)
    ics.build_calendar([reminder], now=NOW)
    assert ics.build_calendar([reminder], now=later) == _plain_calendar([reminder], later)


# --------------------------------------------------------- one connection, one flush


class _Peers(SmtpRecorder):
    """Records the client's port of each letter: one port, one connection."""

    peers: list[Any]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def peers_server(start_smtp: Callable[..., Any]) -> Any:
    handler = _Peers()
    handler.peers = []
    return start_smtp(handler)


def _transport(server: Any) -> SmtpTransport:
    return SmtpTransport(
        SmtpSettings(
            host=server.host, port=server.port, tls=TlsMode.NONE, mail_from=SENDER, timeout=5
        )
    )


def _notices(engine: Engine, renderer: Renderer, count: int, prefix: str = "reuse") -> None:
    with db.write(engine) as conn:
        for n in range(count):
            queue_notice(
                conn,
                Notice(
                    key=f"{prefix}:{n}",
                    recipient=Recipient(email=f"school{n}@example.org", name=f"Школа № {n}"),
                    headline="Центр открыт",
                    entity=f"Центр «Точка роста» МБОУ «Школа № {n}»",
                    to_state="Открыт",
                    effective_date=date(2022, 9, 1),
                    actor="Иванова А. А.",
                    roadmap_title="Дорожная карта «Точка роста»",
                    reply_to="coordinator@example.org",
                ),
                now=NOW,
                renderer=renderer,
            )


@pytest.fixture
def durability(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each write transaction of the deliverer waits for the disk."""
    seen: list[bool] = []
    original = db.write

    def spying(engine: Engine, *, durable: bool = True) -> Iterator[Any]:
        seen.append(durable)
        return original(engine, durable=durable)

    monkeypatch.setattr(deliver.db, "write", spying)
    return seen


def test_a_run_sends_every_batch_over_one_connection(
    engine: Engine, renderer: Renderer, peers_server: Any, durability: list[bool]
) -> None:
    _notices(engine, renderer, 23)
    durability.clear()  # the queuing's
    report = deliver_pending(engine, _transport(peers_server), now=NOW, batch=10)
    assert (report.claimed, report.sent, report.more) == (23, 23, False)
    assert len(peers_server.handler.peers) == 23
    assert len(set(peers_server.handler.peers)) == 1
    # Each batch: its claim and all but its last outcome are not waited for on disk; the
    # last outcome's commit makes the batch durable.
    batches = [
        [False, *[False] * 9, True],
        [False, *[False] * 9, True],
        [False, False, False, True],
    ]
    assert durability == [flag for batch in batches for flag in batch]
    with db.read(engine) as conn:
        statuses = conn.execute(sa.select(OUTBOX.c.status)).scalars().all()
    assert set(statuses) == {"sent"}


def test_the_daemons_batches_share_a_connection_until_none_is_due(
    engine: Engine, renderer: Renderer, peers_server: Any
) -> None:
    _notices(engine, renderer, 7)
    deliverer = Deliverer(engine, _transport(peers_server))
    assert deliverer(NOW, batch=3).sent == 3
    assert deliverer(NOW, batch=3).sent == 3
    assert deliverer(NOW, batch=3).sent == 1
    assert deliverer(NOW, batch=3).claimed == 0  # nothing due: the connection is closed
    assert deliverer._sessions._session is None
    _notices(engine, renderer, 9, prefix="later")
    assert deliverer(NOW, batch=20).sent == 9
    ports = [peer[1] for peer in peers_server.handler.peers]
    assert len(set(ports[:7])) == 1
    assert set(ports[7:]).isdisjoint(ports[:7])  # a new connection for the new letters
    deliverer.close()


def test_an_idle_connection_is_not_reused(
    engine: Engine, renderer: Renderer, peers_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _notices(engine, renderer, 4)
    deliverer = Deliverer(engine, _transport(peers_server))
    assert deliverer(NOW, batch=2).sent == 2
    monkeypatch.setattr(deliver, "_IDLE_SESSION_SECONDS", -1.0)  # idle too long since
    assert deliverer(NOW, batch=2).sent == 2
    deliverer.close()
    ports = [peer[1] for peer in peers_server.handler.peers]
    assert ports[0] == ports[1]
    assert ports[2] != ports[1]


def test_a_run_stops_at_its_time_limit_and_says_more_is_due(
    engine: Engine, renderer: Renderer, peers_server: Any
) -> None:
    _notices(engine, renderer, 5)
    report = deliver_pending(engine, _transport(peers_server), now=NOW, batch=2, time_limit=0)
    assert (report.sent, report.more) == (2, True)
    report = deliver_pending(engine, _transport(peers_server), now=NOW, batch=2)
    assert (report.sent, report.more) == (3, False)


def _synchronous(conn: sa.Connection) -> Any:
    if conn.dialect.name == "sqlite":
        return conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
    return conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()


def test_a_transaction_that_does_not_wait_for_the_disk_leaves_the_connection_as_it_was(
    engine: Engine,
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    with db.write(engine, durable=False) as conn:
        assert _synchronous(conn) == (1 if sqlite else "off")  # NORMAL
        conn.execute(OUTBOX.delete())
    with db.write(engine) as conn:
        assert _synchronous(conn) == (2 if sqlite else "on")  # FULL
    with pytest.raises(RuntimeError), db.write(engine, durable=False):
        raise RuntimeError("rolled back")
    with db.read(engine) as conn:
        assert _synchronous(conn) == (2 if sqlite else "on")
