"""Notifications benchmark: rendering and queuing reminders; delivering to local SMTP.

    python benchmarks/bench_notifications.py [--quick] [--db URL]

1. 20,000 reminders (2,000 recipients × 10 deadlines, so 2,000 digest letters):
   rendering alone (templates, calendar, MIME, header checks) beside rendering *and*
   queuing them with `queue_reminders` in one transaction (SQLite file by default).
2. Delivery to an aiosmtpd server on loopback: `deliver_due` (claim, send, record each
   letter in its own transaction) beside a bare smtplib loop sending the same bytes
   over one connection.
"""

from __future__ import annotations

import argparse
import logging
import smtplib
import socket
import tempfile
import time
import warnings
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from base import db
from notifications.deliver import deliver_due
from notifications.headers import envelope_headers
from notifications.letters import address_letter, compose
from notifications.outbox import OUTBOX
from notifications.queue import queue_reminders
from notifications.render import Renderer
from notifications.transport import SmtpSettings, SmtpTransport, TlsMode
from notifications.values import Recipient, Reminder, Rung
from workflow.storage import schema

NOW = datetime(2022, 8, 22, 6, 0, tzinfo=UTC)
SENDER = "roadmap@edu.example.org"


def make_reminders(count: int, per_recipient: int = 10) -> list[Reminder]:
    coordinator = Recipient(email="coordinator@edu.example.org", name="Департамент образования")
    out: list[Reminder] = []
    for n in range(count):
        school = n // per_recipient
        offset = n % per_recipient - 3  # three overdue, one due today, six ahead
        deadline = NOW.date() + timedelta(days=offset * 4)
        rung = Rung.OVERDUE if offset < 0 else Rung.ON_DAY if offset == 0 else Rung.BEFORE
        out.append(
            Reminder(
                key=f"bench:{n}",
                send_on=NOW.date(),
                recipient=Recipient(
                    email=f"school{school}@example.org", name=f"МБОУ «СОШ № {school}»"
                ),
                cc=(coordinator,) if rung is Rung.OVERDUE else (),
                rung=rung,
                days=abs(offset * 4),
                deadline=deadline,
                subject_kind="center_stage",
                title=f"Этап {n % per_recipient + 1}: обучение педагогов по программам оператора",
                roadmap_title="Дорожная карта «Точка роста», Ивановская область",
                measure_number=n % 9 + 1,
                center_code=f"IV-{school:05d}",
                center_name=f"МБОУ «Средняя общеобразовательная школа № {school}»",
                municipality="Шуйский муниципальный район",
                evidence=("Сертификаты о повышении квалификации", "Отчёт о переподготовке"),
                period="2022",
                reply_to=coordinator.email,
            )
        )
    return out


def render_only(reminders: list[Reminder], renderer: Renderer) -> int:
    groups: dict[tuple[str, date], list[Reminder]] = defaultdict(list)
    for r in reminders:
        groups[(r.recipient.email, r.send_on)].append(r)
    for members in groups.values():
        letter = renderer.render_reminders(members, now=NOW)
        first = members[0]
        addressing = address_letter(
            first.recipient, [c for m in members for c in m.cc], first.reply_to
        )
        compose(letter, addressing)
    return len(groups)


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


def fresh_engine(url: str | None, folder: Path) -> sa.engine.Engine:
    engine = db.make_engine(url or f"sqlite:///{folder / 'bench.db'}", create_dir=True)
    schema.upgrade(engine)
    with db.write(engine) as conn:
        conn.execute(sa.text("DELETE FROM reminder"))
        conn.execute(OUTBOX.delete())
    return engine


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the work")
    parser.add_argument(
        "--db", default=None, help="database URL (default: a temporary SQLite file)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    n_reminders = 2_000 if args.quick else 20_000
    n_letters = 100 if args.quick else 500
    renderer = Renderer()
    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reminders = make_reminders(n_reminders)
        renderer.render_reminders(reminders[:10], now=NOW)  # warm the template cache

        t0 = time.perf_counter()
        letters = render_only(reminders, renderer)
        render_s = time.perf_counter() - t0

        engine = fresh_engine(args.db, folder)
        t0 = time.perf_counter()
        with db.write(engine) as conn:
            queued = queue_reminders(conn, reminders, now=NOW, renderer=renderer)
        queue_s = time.perf_counter() - t0
        assert queued == n_reminders
        with db.write(engine) as conn:
            again_t0 = time.perf_counter()
            assert queue_reminders(conn, reminders, now=NOW, renderer=renderer) == 0
            again_s = time.perf_counter() - again_t0
        rows += [
            (
                f"render {n_reminders:,} reminders → {letters:,} letters",
                f"{render_s:.2f} s",
                f"{n_reminders / render_s:,.0f} reminders/s",
            ),
            (
                "render + queue_reminders (one transaction)",
                f"{queue_s:.2f} s",
                f"{n_reminders / queue_s:,.0f} reminders/s",
            ),
            ("  ratio queue / render alone", f"{queue_s / render_s:.2f}x", ""),
            (
                "re-offer the same reminders (all known)",
                f"{again_s:.2f} s",
                f"{n_reminders / again_s:,.0f} reminders/s",
            ),
        ]

        # Delivery: the first n_letters letters, to aiosmtpd on loopback.
        from aiosmtpd.controller import Controller

        sink = _Sink()
        port = free_port()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            controller = Controller(sink, hostname="127.0.0.1", port=port)
            controller.start()
        try:
            with db.write(engine) as conn:
                first = sa.select(OUTBOX.c.id).order_by(OUTBOX.c.id).limit(n_letters)
                ids = list(conn.execute(first).scalars())
                # Only these go out; the rest are marked sent so deliver_due skips them.
                conn.execute(OUTBOX.update().where(OUTBOX.c.id.not_in(ids)).values(status="sent"))
                payloads = [
                    (r.key, r.envelope.split(","), bytes(r.message))
                    for r in conn.execute(sa.select(OUTBOX).where(OUTBOX.c.id.in_(ids)))
                ]
            transport = SmtpTransport(
                SmtpSettings(host="127.0.0.1", port=port, tls=TlsMode.NONE, mail_from=SENDER)
            )
            t0 = time.perf_counter()
            sent = 0
            while True:
                report = deliver_due(engine, transport, now=NOW, batch=50)
                sent += report.sent
                if not report.claimed:
                    break
            deliver_s = time.perf_counter() - t0
            assert sent == n_letters, sent

            t0 = time.perf_counter()
            client = smtplib.SMTP("127.0.0.1", port)
            date_header = "Mon, 22 Aug 2022 06:00:00 +0000"
            for key, rcpts, message in payloads:
                data = (
                    envelope_headers(mail_from=SENDER, key=key, date_header=date_header) + message
                )
                client.sendmail(SENDER, rcpts, data)
            client.quit()
            bare_s = time.perf_counter() - t0
        finally:
            controller.stop()
        engine.dispose()
        rows += [
            (
                f"deliver_due {n_letters} letters → aiosmtpd",
                f"{deliver_s:.2f} s",
                f"{n_letters / deliver_s:,.0f} letters/s",
            ),
            (
                f"bare smtplib loop, same {n_letters} letters",
                f"{bare_s:.2f} s",
                f"{n_letters / bare_s:,.0f} letters/s",
            ),
            ("  ratio deliver_due / bare smtplib (time)", f"{deliver_s / bare_s:.2f}x", ""),
        ]

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'time':>9}  rate")
    print("-" * (width + 30))
    for name, seconds, rate in rows:
        print(f"{name:<{width}}  {seconds:>9}  {rate}")


if __name__ == "__main__":
    main()
