"""Queuing reminders and notices: idempotency, digests, amendments, follow-ups (both DBs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications.errors import NotRetryable, OutboxRowNotFound
from notifications.outbox import (
    OUTBOX,
    OUTBOX_LETTER,
    OUTBOX_WITH_LETTER,
    REMINDER,
    OutboxStatus,
    list_outbox,
    retry,
    status_counts,
)
from notifications.queue import queue_notice, queue_reminders
from notifications.render import Renderer
from notifications.values import Notice, Recipient, Reminder, Rung
from tests.subjects import line_of

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)  # 09:00 in Moscow


def _letters(engine: Engine) -> list[sa.Row]:  # type: ignore[type-arg]
    with db.read(engine) as conn:
        return list(
            conn.execute(
                sa.select(OUTBOX, OUTBOX_LETTER.c.message)
                .select_from(OUTBOX_WITH_LETTER)
                .order_by(OUTBOX.c.id)
            )
        )


def _subject(raw: bytes) -> str:
    return str(BytesParser(policy=policy.default).parsebytes(raw)["Subject"])


def _text(raw: bytes) -> str:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_queue_reminders_records_each_key_once(
    engine: Engine, renderer: Renderer, make_reminder: Callable[..., Reminder]
) -> None:
    first = make_reminder(key="a")
    with db.write(engine) as conn:
        assert queue_reminders(conn, [first, first], now=NOW, renderer=renderer) == 1
    with db.write(engine) as conn:
        assert queue_reminders(conn, [first], now=NOW, renderer=renderer) == 0
        assert queue_reminders(conn, [], now=NOW, renderer=renderer) == 0
    rows = _letters(engine)
    assert [(r.kind, r.status, r.recipient, r.attempts) for r in rows] == [
        ("digest", "pending", "school1@example.org", 0)
    ]
    assert rows[0].next_attempt_at == NOW
    assert rows[0].next_attempt_at.tzinfo is not None
    assert rows[0].envelope == "school1@example.org"


def test_one_letter_per_recipient_and_day_most_urgent_first(
    engine: Engine, renderer: Renderer, make_reminder: Callable[..., Reminder]
) -> None:
    other = Recipient(email="school2@example.org", name="МКОУ «ООШ № 2»")
    reminders = [
        make_reminder(key="later", deadline=date(2022, 8, 25), title="Обучение педагогов"),
        make_reminder(
            key="overdue",
            rung=Rung.OVERDUE,
            days=21,
            deadline=date(2022, 8, 1),
            title="Объявление закупок",
            measure_number=5,
        ),
        make_reminder(
            key="today",
            rung=Rung.ON_DAY,
            days=0,
            deadline=TODAY_,
            title="Проверка площадок",
            measure_number=7,
        ),
        make_reminder(key="other", recipient=other),
        make_reminder(key="tomorrow", send_on=date(2022, 8, 23), deadline=date(2022, 8, 26)),
    ]
    with db.write(engine) as conn:
        assert queue_reminders(conn, reminders, now=NOW, renderer=renderer) == 5
    rows = _letters(engine)
    assert len(rows) == 3
    digest = next(
        r for r in rows if r.recipient == "school1@example.org" and r.next_attempt_at == NOW
    )
    text = _text(digest.message)
    assert (
        text.index("Объявление закупок")
        < text.index("Проверка площадок")
        < text.index("Обучение педагогов")
    )
    assert "просрочено на 21 день" in text
    assert line_of(_subject(digest.message)) == (
        "Сроки на 22.08.2022: 3 напоминания, просрочено 1 — МБОУ «Средняя школа № 1»"
    )
    # The next day's letter waits for midnight in Moscow.
    tomorrow = next(r for r in rows if r.next_attempt_at != NOW)
    assert tomorrow.next_attempt_at == datetime(2022, 8, 22, 21, 0, tzinfo=UTC)
    with db.read(engine) as conn:
        owners = dict(conn.execute(sa.select(REMINDER.c.key, REMINDER.c.outbox_id)).all())
    assert owners["later"] == owners["overdue"] == owners["today"] == digest.id
    assert len(set(owners.values())) == 3


TODAY_ = date(2022, 8, 22)


def test_pending_digest_is_amended_in_place(
    engine: Engine, renderer: Renderer, make_reminder: Callable[..., Reminder]
) -> None:
    with db.write(engine) as conn:
        queue_reminders(conn, [make_reminder(key="a")], now=NOW, renderer=renderer)
    before = _letters(engine)[0]
    assert _subject(before.message).startswith("Через 3 дня: ")
    later = NOW + timedelta(hours=1)
    with db.write(engine) as conn:
        added = make_reminder(key="b", deadline=date(2022, 8, 24), title="Второе мероприятие")
        assert queue_reminders(conn, [added], now=later, renderer=renderer) == 1
    rows = _letters(engine)
    assert len(rows) == 1
    assert rows[0].key == before.key
    assert rows[0].id == before.id
    assert rows[0].next_attempt_at == NOW
    assert "2 напоминания" in _subject(rows[0].message)
    text = _text(rows[0].message)
    assert text.index("Второе мероприятие") < text.index("Обучение педагогов")


@pytest.mark.parametrize("state", ["sending", "sent", "failed"])
def test_reminder_after_the_digest_left_goes_in_the_next_days_letter(
    engine: Engine, renderer: Renderer, make_reminder: Callable[..., Reminder], state: str
) -> None:
    """One letter per recipient and day: a reminder that comes after the day's letter
    left waits for the next day's letter, which the next day's reminders amend."""
    with db.write(engine) as conn:
        queue_reminders(conn, [make_reminder(key="a")], now=NOW, renderer=renderer)
        conn.execute(OUTBOX.update().values(status=state, attempts=1))
    with db.write(engine) as conn:
        added = [make_reminder(key="b", title="Второе"), make_reminder(key="c", title="Третье")]
        assert queue_reminders(conn, added, now=NOW, renderer=renderer) == 2
        assert queue_reminders(conn, added, now=NOW, renderer=renderer) == 0
    tomorrow = TODAY_ + timedelta(days=1)
    with db.write(engine) as conn:
        next_day = make_reminder(key="d", title="Четвёртое", send_on=tomorrow)
        assert queue_reminders(conn, [next_day], now=NOW + timedelta(days=1), renderer=renderer)
    rows = _letters(engine)
    assert [r.key.split(":")[1] for r in rows] == [TODAY_.isoformat(), tomorrow.isoformat()]
    assert [r.key.rsplit(":", 1)[1] for r in rows] == ["1", "1"]
    assert rows[0].status == state
    later = rows[1]
    assert later.status == "pending"
    # It waits for its day to begin (00:00 in Moscow).
    assert later.next_attempt_at == datetime(2022, 8, 22, 21, 0, tzinfo=UTC)
    text = _text(later.message)
    for title in ("Второе", "Третье", "Четвёртое"):
        assert title in text
    assert "Обучение педагогов" not in text
    with db.read(engine) as conn:
        owners = {
            key: (outbox_id, day)
            for key, outbox_id, day in conn.execute(
                sa.select(REMINDER.c.key, REMINDER.c.outbox_id, REMINDER.c.send_on)
            )
        }
    assert owners == {
        "a": (rows[0].id, TODAY_),
        "b": (later.id, tomorrow),
        "c": (later.id, tomorrow),
        "d": (later.id, tomorrow),
    }


def test_invalid_recipient_goes_dead_and_others_go_on(
    engine: Engine, renderer: Renderer, make_reminder: Callable[..., Reminder]
) -> None:
    bad = Recipient(email="школа без адреса", name="Школа")
    with db.write(engine) as conn:
        count = queue_reminders(
            conn,
            [make_reminder(key="bad", recipient=bad), make_reminder(key="good")],
            now=NOW,
            renderer=renderer,
        )
    assert count == 2
    rows = {r.recipient: r for r in _letters(engine)}
    assert rows["школа без адреса"].status == "dead"
    assert "адрес" in rows["школа без адреса"].last_error
    assert rows["школа без адреса"].message == b""
    assert rows["school1@example.org"].status == "pending"
    with db.write(engine) as conn, pytest.raises(NotRetryable):
        retry(conn, rows["школа без адреса"].id, NOW)


def test_invalid_copy_is_left_out_with_a_note(
    engine: Engine, renderer: Renderer, make_reminder: Callable[..., Reminder]
) -> None:
    cc = (Recipient(email="coordinator@edu.example.org"), Recipient(email="bad\nBcc:x@y.z"))
    with db.write(engine) as conn:
        queue_reminders(conn, [make_reminder(key="a", cc=cc)], now=NOW, renderer=renderer)
    row = _letters(engine)[0]
    assert row.status == "pending"
    assert row.envelope == "school1@example.org,coordinator@edu.example.org"
    assert "Cc" in row.last_error


def test_queue_notice_is_idempotent(
    engine: Engine, renderer: Renderer, make_notice: Callable[..., Notice]
) -> None:
    with db.write(engine) as conn:
        assert queue_notice(conn, make_notice(), now=NOW, renderer=renderer) is True
        assert queue_notice(conn, make_notice(), now=NOW, renderer=renderer) is False
    (row,) = _letters(engine)
    assert (row.kind, row.key, row.status) == ("notice", "notice:1", "pending")
    assert (
        line_of(_subject(row.message))
        == "Центр открыт — Центр «Точка роста» МБОУ «СОШ № 1» (01.09.2022)"
    )
    assert row.envelope == "school1@example.org,coordinator@edu.example.org"


def test_notice_rolls_back_with_the_callers_transaction(
    engine: Engine, renderer: Renderer, make_notice: Callable[..., Notice]
) -> None:
    def state_change_that_fails() -> None:
        with db.write(engine) as conn:
            queue_notice(conn, make_notice(), now=NOW, renderer=renderer)
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        state_change_that_fails()
    assert _letters(engine) == []


def test_list_outbox_and_retry(
    engine: Engine, renderer: Renderer, make_notice: Callable[..., Notice]
) -> None:
    with db.write(engine) as conn:
        for n in range(3):
            queue_notice(conn, make_notice(key=f"n{n}"), now=NOW, renderer=renderer)
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.key == "n1")
            .values(status="dead", attempts=5, last_error="SMTP 554")
        )
        conn.execute(OUTBOX.update().where(OUTBOX.c.key == "n2").values(status="sent"))
    with db.read(engine) as conn:
        everything = list_outbox(conn)
        dead = list_outbox(conn, "dead")
        counts = status_counts(conn)
    assert [e.key for e in everything] == ["n0", "n1", "n2"]
    assert [e.key for e in dead] == ["n1"]
    assert dead[0].status is OutboxStatus.DEAD
    assert dead[0].last_error == "SMTP 554"
    assert counts[OutboxStatus.PENDING] == 1
    assert counts[OutboxStatus.SENDING] == 0
    later = NOW + timedelta(days=1)
    with db.write(engine) as conn:
        entry = retry(conn, dead[0].id, later)
    assert (entry.status, entry.attempts, entry.next_attempt_at) == (OutboxStatus.FAILED, 0, later)
    with db.write(engine) as conn:
        with pytest.raises(NotRetryable):
            retry(conn, everything[2].id, later)
        with pytest.raises(OutboxRowNotFound):
            retry(conn, 999_999, later)
    with db.read(engine) as conn, pytest.raises(ValueError, match="bogus"):
        list_outbox(conn, "bogus")
