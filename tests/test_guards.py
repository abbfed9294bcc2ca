"""The last lines of defence, each tested on its own (issue 11, item 10).

Each guard sits behind another one that normally stops the same fault first, so a test
through the normal path passes with the guard removed. These tests go past the first
line and meet the guard alone:

* the versioned UPDATE of a transition (``version = :b_version`` in its WHERE) behind
  the row lock: a stale version reaches the UPDATE directly, as a racer without the lock
  would, and is refused;
* the outbox's UNIQUE(key) constraint behind the application's "key exists" check: a raw
  INSERT of a duplicate key on both backends;
* `set_header`'s checks behind the renderer's cleaning: `set_header` called directly;
* `verify_letter` behind `set_header`: `compose` with `set_header`'s checks switched off.

``tools/mutation.py`` removes each guard in a copy of the code and sees these go red.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base import db
from notifications import letters
from notifications.errors import UnsafeHeader
from notifications.headers import SMTP_POLICY, set_header
from notifications.outbox import OUTBOX
from notifications.render import RenderedLetter
from tests.conftest import T0
from workflow.engine import transitions
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.errors import Conflict
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT

REAL = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OP = Actor(login="ivanova")


# --- the versioned UPDATE ----------------------------------------------------------------


def test_a_stale_version_reaching_the_versioned_update_is_refused(
    engine: Engine, stored: StoredRoadmap, centers3: list[CenterRow]
) -> None:
    """Two operators read the center at version 1; one fires first. The other's UPDATE,
    reached without the row lock (the engine's own statement and apply step, called with
    the version it read), matches no row: a Conflict, and nothing of it is written."""
    code = centers3[0].code
    eng = TransitionEngine(engine, stored.definition, stored.id, clock=lambda: REAL)
    with db.read(engine) as conn:  # the loser's read: no lock
        seen = conn.execute(
            sa.select(CENTER.c.id, CENTER.c.version, CENTER.c.state).where(CENTER.c.code == code)
        ).one()
    assert seen.version == 1
    winner = eng.fire_center(code, "agree_infrastructure", actor=OP, now=T0)
    assert winner.version == 2
    with engine.connect() as conn:
        events_before = conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar()

    with pytest.raises(Conflict) as caught, db.write(engine) as conn:
        eng._apply(
            conn,
            transitions._CENTER_UPDATE,
            {
                "b_id": seen.id,
                "b_version": seen.version,
                "b_state": "withdrawn",
                "b_previous": None,
            },
            kind="center",
            entity_id=seen.id,
            key=code,
            label=f"Центр {code}",
            trigger="withdraw",
            from_state=seen.state,
            to_state="withdrawn",
            version=seen.version,
            actor=OP,
            now=T0,
            effective=T0.date(),
            evidence=None,
            comment="устаревшее чтение",
        )

    assert (caught.value.expected, caught.value.actual) == (1, 2)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(CENTER.c.state, CENTER.c.version).where(CENTER.c.code == code)
        ).one()
        events_after = conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar()
    assert (row.state, row.version) == (winner.to_state, 2)
    assert events_after == events_before


# --- the outbox's UNIQUE(key) --------------------------------------------------------------


def _outbox_row(key: str) -> dict[str, Any]:
    """A complete outbox row: every column that needs a value gets a plain one."""
    plain: dict[type, Any] = {str: "x", int: 0, bytes: b"letter", datetime: T0, date: T0.date()}
    row: dict[str, Any] = {}
    for column in OUTBOX.columns:
        if column.primary_key or column.nullable or column.default is not None:
            continue
        if column.server_default is not None:
            continue
        row[column.name] = plain[getattr(column.type, "impl", column.type).python_type]
    row.update(key=key, kind="notice", status="pending", recipient="s@example.org")
    return row


def test_a_duplicate_outbox_key_past_the_application_check_is_refused(engine: Engine) -> None:
    with db.write(engine) as conn:
        conn.execute(sa.insert(OUTBOX), _outbox_row("notice:C1:open"))

    with pytest.raises(sa.exc.IntegrityError), db.write(engine) as conn:
        conn.execute(sa.insert(OUTBOX), _outbox_row("notice:C1:open"))

    with engine.connect() as conn:
        keys = list(conn.execute(sa.select(OUTBOX.c.key)).scalars())
    assert keys == ["notice:C1:open"]


# --- headers: set_header alone, verify_letter alone ---------------------------------------

# Values the email library itself accepts (it refuses only a raw CR or LF), each of which
# would change what a reader sees or what the letter carries.
UNSAFE_TEXT = [
    "Отчёт \u202egpj.exe",  # a bidirectional override disguising a name
    "a\x00b",  # NUL
    "=?utf-8?q?x=0D=0ABcc:_evil@example.org?=",  # an encoded CR LF and a new header
]


@pytest.mark.parametrize("value", UNSAFE_TEXT)
def test_set_header_alone_refuses_unsafe_text(value: str) -> None:
    message = EmailMessage(policy=SMTP_POLICY)
    message["X-Probe"] = value  # the library takes it: only set_header stands in the way
    with pytest.raises(UnsafeHeader):
        set_header(EmailMessage(policy=SMTP_POLICY), "Subject", value)


@pytest.mark.parametrize("name", ["Школа \u202eтсерп", "Школа\u2028Bcc"])
def test_set_header_alone_refuses_an_unsafe_display_name(name: str) -> None:
    address = Address(display_name=name, username="school", domain="example.org")
    with pytest.raises(UnsafeHeader):
        set_header(EmailMessage(policy=SMTP_POLICY), "To", [address])


def _lax_set_header(message: EmailMessage, name: str, value: Any) -> None:
    """set_header without its checks: what the letter would get if they were gone."""
    message[name] = value


@pytest.mark.parametrize(
    ("subject", "to_name"),
    [
        ("=?utf-8?q?x=0D=0ABcc:_evil@example.org?=", "Школа"),  # smuggles a Bcc line
        ("Отчёт \u202egpj.exe", "Школа"),
        ("a\x00b", "Школа"),
        ("Напоминание", "Школа \u202eтсерп"),
    ],
)
def test_verify_letter_alone_refuses_what_set_header_would_have(
    monkeypatch: pytest.MonkeyPatch, subject: str, to_name: str
) -> None:
    monkeypatch.setattr(letters, "set_header", _lax_set_header)
    letter = RenderedLetter(
        kind="notice", subject=subject, text="текст", html="<p>текст</p>", ics=None
    )
    addressing = letters.Addressing(
        to=Address(display_name=to_name, username="school", domain="example.org"),
        cc=(),
        reply_to=None,
    )
    with pytest.raises(UnsafeHeader):
        letters.compose(letter, addressing, key="k")


def test_compose_with_lax_headers_still_writes_a_safe_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control case: with set_header's checks off a safe letter is still composed, so
    the refusals above come from verify_letter, not from the switch itself."""
    monkeypatch.setattr(letters, "set_header", _lax_set_header)
    letter = RenderedLetter(
        kind="notice", subject="Напоминание", text="текст", html="<p>текст</p>", ics=None
    )
    addressing = letters.Addressing(
        to=Address(display_name="Школа", username="school", domain="example.org"),
        cc=(),
        reply_to=None,
    )
    assert b"To:" in letters.compose(letter, addressing, key="k")
