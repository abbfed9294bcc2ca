"""Letters: rendering and queuing reminders beside a bare floor; delivery to local SMTP.

    python benchmarks/bench_notifications.py [--quick] [--db URL] [--rounds N]

1. **Render and queue** 20,000 reminders (``--quick``: 2,000): per school eight of its
   own (two overdue, one due today, five ahead: a digest of eight items) and its two
   overdue items again in the coordinator's digest (so 2,000 school letters and one
   coordinator letter of 4,000 items), with roles, actions, documents, signatures and
   time zones as the scheduler builds them.

   * ours, render: `Renderer.render_reminders` and `letters.compose` per letter
     (templates, wording, calendar, MIME, every header checked);
   * ours, render + queue: `queue_reminders` in one write transaction (the above plus
     the known-key and digest-group reads, the outbox and reminder rows; a fresh
     SQLite file each round, or ``--db``);
   * floor: the same templates rendered with bare jinja2 (one `jinja2.Environment`,
     the same options and filters, each template compiled once) from the same data
     (each letter's template context, prepared before the clock starts), the same
     calendar built with icalendar (the same events and properties) and the same
     message built with `email`'s MIME classes (multipart/mixed: text and HTML
     alternatives in base64, the .ics attached; To, Reply-To, Subject with its
     reference token, Auto-Submitted; CRLF): no address rule, no header checks, no
     database. Before the
     rounds the floor's first letters are compared with ours part by part (subject,
     text, HTML, calendar): the benchmark stops if they differ.

   Goal: ours, render + queue, within 2x the floor.

2. **Delivery** of 500 letters (``--quick``: 100) to an aiosmtpd server on loopback:
   `deliver_pending` as ``tochka outbox send`` runs it (claims of 50, sent over one
   connection, each outcome recorded in its own transaction, the batch's last one
   durably) beside a bare smtplib loop sending the same bytes (the same From, Date and
   Message-ID lines) over one connection. Goal: within 1.3x.

Rounds alternate between the sides (``--rounds``, at least 5); each ratio is the median
of the per-round ratios, with their range as the spread. Peak memory (tracemalloc) is
measured in a separate run of each side, since tracing slows everything.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import shutil
import smtplib
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import policy as email_policy
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import icalendar  # noqa: E402
import jinja2  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from base import db  # noqa: E402
from notifications import ics, memo  # noqa: E402
from notifications.deliver import deliver_pending  # noqa: E402
from notifications.letters import CALENDAR_FILENAME, address_letter, compose  # noqa: E402
from notifications.outbox import (  # noqa: E402
    OUTBOX,
    OUTBOX_LETTER,
    OUTBOX_WITH_LETTER,
    REMINDER,
    OutboxStatus,
)
from notifications.queue import digest_group, digest_key, queue_reminders  # noqa: E402
from notifications.reference import with_reference  # noqa: E402
from notifications.render import BUILTIN_TEMPLATES, Renderer, letter_context  # noqa: E402
from notifications.signature import Signature  # noqa: E402
from notifications.transport import SmtpSettings, SmtpTransport, TlsMode  # noqa: E402
from notifications.values import Recipient, Reminder, Rung  # noqa: E402
from workflow.storage import schema  # noqa: E402

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
SENDER = "roadmap@edu.example.org"
COORDINATOR = Recipient(
    email="coordinator@edu.example.org",
    name="Департамент образования Ивановской области",
    contact="Иванова Анна Петровна",
)
SIGNATURE = Signature(
    department="Департамент образования Ивановской области",
    contact="Иванова Анна Петровна, главный специалист",
    phone="+7 (4932) 32-00-00",
    address="г. Иваново, ул. Батурина, д. 12/140",
)
ROADMAP = "Дорожная карта «Точка роста», Ивановская область"
STAGES = ("infrastructure_agreed", "equipped", "staff_trained", "opened", "reporting")
#: Per school: its own reminders, of which the first OVERDUE are overdue (and also go
#: to the coordinator's digest).
OWN, OVERDUE = 8, 2
_FLOOR_POLICY = email_policy.compat32.clone(linesep="\r\n")


def make_reminders(count: int) -> list[Reminder]:
    """``count`` reminders: per school `OWN` of its own and its `OVERDUE` overdue items
    again for the coordinator (``count`` / 10 schools)."""
    out: list[Reminder] = []
    for school in range(count // (OWN + OVERDUE)):
        code = f"IV-{school:05d}"
        name = f"МБОУ «Средняя общеобразовательная школа № {school}» г. Шуя"
        recipient = Recipient(
            email=f"school{school}@shuya.example.org", name=name, contact="Петров Пётр Ильич"
        )
        for n in range(OWN):
            offset = n - OVERDUE  # two overdue, one due today, five ahead
            deadline = NOW.date() + timedelta(days=offset * 4 + (school % 3))
            rung = Rung.OVERDUE if offset < 0 else Rung.ON_DAY if offset == 0 else Rung.BEFORE
            common: dict[str, Any] = {
                "send_on": NOW.date(),
                "rung": rung,
                "days": abs(offset * 4),
                "deadline": deadline,
                "subject_kind": "center_stage",
                "title": f"Этап {n + 1}: обучение педагогов по программам федерального оператора",
                "roadmap_title": ROADMAP,
                "roadmap_code": "ivanovo-2021-2023",
                "measure_number": n % 9 + 1,
                "center_code": code,
                "center_name": name,
                "municipality": "Шуйский муниципальный район",
                "evidence": ("Сертификаты о повышении квалификации", "Отчёт о переподготовке"),
                "period": "2022",
                "reply_to": COORDINATOR.email,
                "stage": STAGES[n % len(STAGES)],
                "signature": SIGNATURE,
            }
            out.append(
                Reminder(
                    key=f"bench:{school}:{n}:school",
                    recipient=recipient,
                    role="school",
                    action="Направьте подтверждающие документы ответом на это письмо",
                    documents=("Сертификаты о повышении квалификации",),
                    how="ответом на это письмо",
                    **common,
                )
            )
            if rung is Rung.OVERDUE:
                out.append(
                    Reminder(
                        key=f"bench:{school}:{n}:department",
                        recipient=COORDINATOR,
                        role="department",
                        action="Проконтролируйте выполнение",
                        owners=(name,),
                        owners_label="Просрочено у",
                        journal_seq=1200,
                        journal_hash="ab12cd34ef56",
                        **common,
                    )
                )
    return out


def letters_of(reminders: Sequence[Reminder]) -> list[list[Reminder]]:
    """The reminders grouped as the queue groups them: per recipient and day."""
    groups: dict[tuple[str, date], list[Reminder]] = defaultdict(list)
    for r in reminders:
        groups[(r.recipient.email, r.send_on)].append(r)
    return list(groups.values())


# ------------------------------------------------------------------------------ floor


@dataclass(frozen=True, slots=True)
class FloorLetter:
    """What the floor is given for one letter: the data, not the work."""

    kind: str
    context: dict[str, Any]
    to: tuple[str, str]
    reply_to: tuple[str, str]
    token: str
    #: (UID, SEQUENCE, due, SUMMARY, DESCRIPTION) of each calendar event.
    events: tuple[tuple[str, int, date, str, str], ...]


def floor_environment(renderer: Renderer) -> jinja2.Environment:
    """A bare `jinja2.Environment` over the built-in templates, with the options and
    the template filters and globals the product's templates call."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False, default=False
        ),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(renderer.env.filters)
    env.globals.update(renderer.env.globals)
    return env


def floor_inputs(letters: Sequence[Sequence[Reminder]]) -> list[FloorLetter]:
    """Each letter's data for the floor, prepared before the clock starts."""
    out = []
    for members in letters:
        ordered = sorted(members, key=lambda r: r.urgency)
        kind, context = letter_context(ordered, NOW)
        first = ordered[0]
        seen: dict[str, tuple[str, int, date, str, str]] = {}
        for r in ordered:
            uid = ics.event_uid(r)
            seen.setdefault(
                uid,
                (
                    uid,
                    ics.deadline_sequence(r.deadline, r.earlier_deadlines),
                    r.deadline,
                    ics.deadline_summary(r),
                    "\n".join([f"Срок: {r.deadline:%d.%m.%Y}.", *ics.reminder_details(r)]),
                ),
            )
        key = digest_key(digest_group(first.recipient.email, first.send_on), first.send_on, 1)
        out.append(
            FloorLetter(
                kind=kind,
                context=context,
                to=(first.recipient.name, first.recipient.email),
                reply_to=(context["sender_name"], first.reply_to),
                token=with_reference("", key).strip(),
                events=tuple(seen.values()),
            )
        )
    return out


def floor_calendar(events: Sequence[tuple[str, int, date, str, str]]) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", ics.PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", ics.LETTER_CALENDAR_NAME)
    cal.add("name", ics.LETTER_CALENDAR_NAME)
    for uid, sequence, due, summary, description in events:
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("sequence", sequence)
        event.add("dtstamp", NOW)
        event.add("dtstart", due)
        event.add("dtend", due + timedelta(days=1))
        event.add("summary", summary)
        event.add("description", description)
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return bytes(cal.to_ical())


def floor_parts(env: jinja2.Environment, letter: FloorLetter) -> tuple[str, str, str]:
    """The subject (one line, its token at the end), the text and the HTML."""
    subject, text, html = (
        env.get_template(f"{letter.kind}.{part}.j2").render(letter.context)
        for part in ("subject", "txt", "html")
    )
    return " ".join(subject.split()) + " " + letter.token, text, html


def floor_letter(env: jinja2.Environment, letter: FloorLetter) -> bytes:
    """The letter with `email`'s MIME classes (``compat32``, CRLF): its modern API
    (`EmailMessage`, ``policy.SMTP``) folds long Cyrillic headers several times slower,
    which is no floor."""
    subject, text, html = floor_parts(env, letter)
    outer = MIMEMultipart("mixed")
    outer["To"] = formataddr(letter.to, charset="utf-8")
    outer["Reply-To"] = formataddr(letter.reply_to, charset="utf-8")
    outer["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]  # compat32 takes it
    outer["Auto-Submitted"] = "auto-generated"
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(text.replace("\n", "\r\n"), "plain", "utf-8"))
    alternative.attach(MIMEText(html.replace("\n", "\r\n"), "html", "utf-8"))
    outer.attach(alternative)
    calendar = MIMEText(floor_calendar(letter.events).decode(), "calendar", "utf-8")
    calendar.set_param("method", "PUBLISH")
    calendar.add_header("Content-Disposition", "attachment", filename=CALENDAR_FILENAME)
    outer.attach(calendar)
    return outer.as_bytes(policy=_FLOOR_POLICY)


def floor(env: jinja2.Environment, letters: Sequence[FloorLetter]) -> int:
    return sum(len(floor_letter(env, letter)) for letter in letters)


# ------------------------------------------------------------------------------- ours


def ours_render(letters: Sequence[Sequence[Reminder]], renderer: Renderer) -> int:
    """Render and compose every letter as the queue does (no database)."""
    size = 0
    for members in letters:
        first = min(members, key=lambda r: r.urgency)
        letter = renderer.render_reminders(members, now=NOW)
        addressing = address_letter(
            first.recipient, [c for m in members for c in m.cc], first.reply_to
        )
        key = digest_key(digest_group(first.recipient.email, first.send_on), first.send_on, 1)
        size += len(compose(letter, addressing, key=key))
    return size


def _payloads(raw: bytes) -> list[tuple[str, bytes]]:
    msg = BytesParser(policy=email_policy.default).parsebytes(raw)
    return [
        (p.get_content_type(), bytes(p.get_payload(decode=True)))
        for p in msg.walk()
        if not p.is_multipart()
    ]


def check_same_letters(
    env: jinja2.Environment,
    renderer: Renderer,
    letters: Sequence[Sequence[Reminder]],
    inputs: Sequence[FloorLetter],
) -> None:
    """The floor writes the letters ours writes: same subject, text, HTML and calendar."""
    for members, letter in zip(letters, inputs, strict=True):
        first = min(members, key=lambda r: r.urgency)
        key = digest_key(digest_group(first.recipient.email, first.send_on), first.send_on, 1)
        addressing = address_letter(first.recipient, [], first.reply_to)
        rendered = renderer.render_reminders(members, now=NOW)
        raw = compose(rendered, addressing, key=key)
        ours = (with_reference(rendered.subject, key), _payloads(raw))
        bare = (floor_parts(env, letter)[0], _payloads(floor_letter(env, letter)))
        if ours != bare:
            raise SystemExit("the floor's letter differs from ours: the benchmark is not fair")


def fresh_engine(url: str | None, path: Path) -> sa.engine.Engine:
    engine = db.make_engine(url or f"sqlite:///{path}", create_dir=True)
    schema.upgrade(engine)
    with db.write(engine) as conn:
        conn.execute(REMINDER.delete())
        conn.execute(OUTBOX_LETTER.delete())
        conn.execute(OUTBOX.delete())
    return engine


def ours_queue(engine: sa.engine.Engine, reminders: Sequence[Reminder], renderer: Renderer) -> int:
    with db.write(engine) as conn:
        queued = queue_reminders(conn, reminders, now=NOW, renderer=renderer)
    assert queued == len(reminders), queued
    return queued


# --------------------------------------------------------------------------- delivery


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


def floor_send(port: int, payloads: Sequence[tuple[str, list[str], bytes]]) -> int:
    """Bare smtplib: one connection, each letter with its From, Date and Message-ID."""
    date_header = format_datetime(NOW)
    client = smtplib.SMTP("127.0.0.1", port)
    for key, rcpts, message in payloads:
        mid = hashlib.sha256(key.encode()).hexdigest()[:40]
        head = (
            f"From: <{SENDER}>\r\nDate: {date_header}\r\n"
            f"Message-ID: <{mid}.tochka@edu.example.org>\r\n"
        )
        client.sendmail(SENDER, rcpts, head.encode("ascii") + message)
    client.quit()
    return len(payloads)


def ours_send(engine: sa.engine.Engine, transport: SmtpTransport, expected: int) -> int:
    """What ``tochka outbox send`` runs: batches of 50 over one connection."""
    report = deliver_pending(engine, transport, now=NOW, batch=50)
    assert report.sent == expected, report
    return report.sent


def reset_outbox(engine: sa.engine.Engine, ids: Sequence[int]) -> None:
    with db.write(engine) as conn:
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id.in_(ids))
            .values(
                status=OutboxStatus.PENDING.value,
                attempts=0,
                next_attempt_at=NOW,
                sent_at=None,
                message_id=None,
                recorded_at=None,
            )
        )


# ---------------------------------------------------------------------------- figures


def _timed(func: Callable[[], object]) -> float:
    """Seconds of one call, from cold: what the letters' functions keep from earlier
    rounds is forgotten first (`notifications.memo`), as on a tick of a new day."""
    memo.clear()
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def _peak(func: Callable[[], object]) -> float:
    """Peak traced memory of one call, MiB (from cold, as `_timed`)."""
    memo.clear()
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _ratios(ours: Sequence[float], floor: Sequence[float]) -> list[float]:
    return [o / f for o, f in zip(ours, floor, strict=True)]


def _ratio_line(name: str, ratios: Sequence[float], goal: float) -> str:
    mid = statistics.median(ratios)
    verdict = "в пределах цели" if mid <= goal else "ЦЕЛЬ НЕ ДОСТИГНУТА"
    return (
        f"  {name}: {mid:.2f}x (median of {len(ratios)} rounds, spread "
        f"{min(ratios):.2f}-{max(ratios):.2f}; goal ≤ {goal:g}x: {verdict})"
    )


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    """Run the benchmark, print its figures and return run_all's summary rows."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the work")
    parser.add_argument(
        "--db", default=None, help="database URL (default: a temporary SQLite file per round)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side (at least 5)")
    args = parser.parse_args(argv)
    rounds = max(args.rounds, 5)
    logging.basicConfig(level=logging.ERROR)
    n_reminders = 2_000 if args.quick else 20_000
    n_letters = 100 if args.quick else 500

    renderer = Renderer()
    reminders = make_reminders(n_reminders)
    assert len(reminders) == n_reminders, len(reminders)
    # The coordinator's digest last.
    letters = sorted(letters_of(reminders), key=len)
    env = floor_environment(renderer)
    inputs = floor_inputs(letters)
    check_same_letters(env, renderer, letters[:3] + letters[-1:], inputs[:3] + inputs[-1:])
    floor(env, inputs[:3])  # both warm: every template compiled once before timing
    ours_render(letters[:3], renderer)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = folder / "empty.db"
        fresh_engine(None, template).dispose()

        def engine_for(n: int) -> sa.engine.Engine:
            if args.db:
                return fresh_engine(args.db, template)
            path = folder / f"round{n}.db"
            shutil.copyfile(template, path)
            return db.make_engine(f"sqlite:///{path}")

        floor_s: list[float] = []
        render_s: list[float] = []
        queue_s: list[float] = []
        for n in range(rounds):
            floor_s.append(_timed(lambda: floor(env, inputs)))
            render_s.append(_timed(lambda: ours_render(letters, renderer)))
            engine = engine_for(n)
            queue_s.append(_timed(functools.partial(ours_queue, engine, reminders, renderer)))
            if n < rounds - 1:
                engine.dispose()
        # `engine` keeps the last round's letters for the re-offer and the delivery.
        with db.write(engine) as conn:
            again_s = _timed(
                lambda: queue_reminders(conn, reminders, now=NOW, renderer=renderer) == 0
            )
        peak_floor = _peak(lambda: floor(env, inputs))
        peak_queue_engine = engine_for(rounds)
        peak_queue = _peak(lambda: ours_queue(peak_queue_engine, reminders, renderer))
        peak_queue_engine.dispose()

        count = len(letters)
        print(
            f"Render + queue {n_reminders:,} reminders → {count:,} letters "
            f"({count - 1:,} school digests of {OWN}, the coordinator's of "
            f"{len(letters[-1]):,} items); {rounds} rounds"
        )
        for name, times in (
            ("floor (bare jinja2 + icalendar + email)", floor_s),
            ("ours, render + compose", render_s),
            ("ours, render + queue_reminders (one transaction)", queue_s),
        ):
            mid = statistics.median(times)
            print(
                f"  {name:<50} {mid:6.2f} s  {n_reminders / mid:8,.0f} reminders/s  "
                f"(spread {min(times):.2f}-{max(times):.2f} s)"
            )
        print(f"  {'re-offer the same reminders (all known)':<50} {again_s:6.2f} s")
        print(
            f"  peak memory (tracemalloc): floor {peak_floor:.0f} MiB, "
            f"ours render + queue {peak_queue:.0f} MiB"
        )
        print(_ratio_line("ratio render / floor", _ratios(render_s, floor_s), 2))
        print(_ratio_line("ratio render + queue / floor", _ratios(queue_s, floor_s), 2))

        # Delivery: the first n_letters school letters, to aiosmtpd on loopback.
        from aiosmtpd.controller import Controller

        port = free_port()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
            controller.start()
        try:
            with db.write(engine) as conn:
                first = sa.select(OUTBOX.c.id).order_by(OUTBOX.c.id).limit(n_letters)
                ids = list(conn.execute(first).scalars())
                # Only these go out; the rest are marked sent so deliver_due skips them.
                conn.execute(OUTBOX.update().where(OUTBOX.c.id.not_in(ids)).values(status="sent"))
                letters_sent = (
                    sa.select(OUTBOX.c.key, OUTBOX.c.envelope, OUTBOX_LETTER.c.message)
                    .select_from(OUTBOX_WITH_LETTER)
                    .where(OUTBOX.c.id.in_(ids))
                )
                payloads = [
                    (r.key, r.envelope.split(","), bytes(r.message))
                    for r in conn.execute(letters_sent)
                ]
            transport = SmtpTransport(
                SmtpSettings(host="127.0.0.1", port=port, tls=TlsMode.NONE, mail_from=SENDER)
            )
            send_s: list[float] = []
            bare_s: list[float] = []
            for _ in range(rounds):
                reset_outbox(engine, ids)
                send_s.append(_timed(lambda: ours_send(engine, transport, n_letters)))
                bare_s.append(_timed(lambda: floor_send(port, payloads)))
            reset_outbox(engine, ids)
            peak_send = _peak(lambda: ours_send(engine, transport, n_letters))
            peak_bare = _peak(lambda: floor_send(port, payloads))
        finally:
            controller.stop()
        engine.dispose()
        print(f"Delivery of {n_letters} letters to aiosmtpd on loopback; {rounds} rounds")
        for name, times in (
            ("floor (bare smtplib loop, one connection)", bare_s),
            ("ours, deliver_pending (batches of 50)", send_s),
        ):
            mid = statistics.median(times)
            print(
                f"  {name:<50} {mid:6.2f} s  {n_letters / mid:8,.0f} letters/s  "
                f"(spread {min(times):.2f}-{max(times):.2f} s)"
            )
        print(f"  peak memory (tracemalloc): floor {peak_bare:.1f} MiB, ours {peak_send:.1f} MiB")
        print(_ratio_line("ratio deliver_pending / bare smtplib", _ratios(send_s, bare_s), 1.3))

    def row(key: str, path: str, ours: list[float], base: list[float], peak: str, goal: float,
            unit: str) -> dict[str, object]:
        ratios = _ratios(ours, base)
        return {
            "key": key,
            "path": path,
            "today": f"{statistics.median(ours):.2f} s",
            "floor": f"{statistics.median(base):.2f} s ({unit})",
            "ratio": f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}–{max(ratios):.2f})",
            "peak": peak,
            "goal": f"≤ {goal:g}x",
            "met": statistics.median(ratios) <= goal,
        }

    return [
        row("render", f"render + queue {n_reminders:,} reminders", queue_s, floor_s,
            f"{peak_queue:.0f} MiB (floor {peak_floor:.0f})", 2, "bare jinja2 + email"),
        row("delivery", f"delivery of {n_letters} letters to local SMTP", send_s, bare_s,
            f"{peak_send:.1f} MiB (floor {peak_bare:.1f})", 1.3, "bare smtplib loop"),
    ]


if __name__ == "__main__":
    main()
