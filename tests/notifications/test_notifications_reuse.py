"""What the letters keep and reuse (issue 16, item 3), and that keeping it changes nothing.

Compiled templates (once per process, and on disk for the next process of the same
account), memoised wording and header values, calendar events kept by what they are.
Timing is the benchmark's business (benchmarks/bench_notifications.py): these tests
check what is reused and that the letters are the same.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import jinja2
import pytest

from notifications import headers, ics, memo, render
from notifications.headers import READ_POLICY, has_forbidden
from notifications.render import Renderer
from notifications.values import Recipient, Reminder, Rung

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
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
