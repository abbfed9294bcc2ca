"""Replies with filled monitoring forms (`tochka replies import DIR`) beside a floor that
parses the same messages with ``email`` and loads the same forms with openpyxl.

Set-up (not measured): a SQLite database with N schools at «отчётность», the 09:00 tick
of 01.10.2021 queueing each school's measure-9 letter with its XLSX form, ``outbox send``
through the file transport (the CLI as processes), then N replies as a mail client writes
them (``Re:``, ``In-Reply-To``, the quoted letter) with the school's form filled in with
openpyxl (three values), one ``.eml`` each in one folder.

Ours is what ``tochka replies import DIR`` runs (`workflow.inbound.files.import_path`,
the recording path the IMAP poller uses too): for each message a write transaction that
parses it, matches it to its letter, judges the form by content, reads its marker and
cells through the indicator import's validators, records the values with their source
and queues the school's answer. The floor reads each file, parses it with
``email.message_from_bytes`` (the default policy), takes the XLSX attachment and loads it
with ``openpyxl.load_workbook`` reading the marker and the three values: no database,
no checks. Rounds alternate between the sides, ours on a fresh copy of the seeded
database each time; the spread is the range over rounds. Peak memory (tracemalloc) is
measured in a separate run of each side, since tracing slows everything. The machine's
load average is printed with the figures (other work slows the sides unevenly).

Run: python benchmarks/replies.py [--quick]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import functools
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openpyxl  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from base import db  # noqa: E402
from workflow.engine import centers  # noqa: E402
from workflow.engine.access import Actor  # noqa: E402
from workflow.engine.bulk import BulkMode, BulkRow, fire_rows  # noqa: E402
from workflow.engine.identity import os_login  # noqa: E402
from workflow.engine.transitions import TransitionEngine  # noqa: E402
from workflow.engine.users import bootstrap_coordinator  # noqa: E402
from workflow.imports.centers_file import CenterRow  # noqa: E402
from workflow.inbound.files import import_path  # noqa: E402
from workflow.roadmap import store as roadmap_store  # noqa: E402
from workflow.roadmap.loader import load_roadmap  # noqa: E402
from workflow.roadmap.shipped import IVANOVO_159_RP  # noqa: E402
from workflow.storage import schema  # noqa: E402
from workflow.storage.tables import VALUE  # noqa: E402

SEEDED = datetime(2021, 1, 10, 9, 0, tzinfo=UTC)
FIRED = datetime(2021, 9, 1, 9, 0, tzinfo=UTC)
FORWARD = ("agree_infrastructure", "equip", "train_staff", "open", "start_reporting")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
VALUES = {"F9": 120, "F10": 40, "F11": 55}
LIMIT = 25 * 1024 * 1024
TOCHKA = str(Path(sys.executable).with_name("tochka"))


def _tochka(db_path: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [TOCHKA, "--db", f"sqlite:///{db_path}", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"set-up step {args} failed:\n{done.stdout}\n{done.stderr}")


def _seed(folder: Path, count: int, phases: dict[str, float]) -> tuple[Path, Path]:
    """The seeded database and the folder of replies (see the module's description);
    ``phases`` gets the seconds each step took."""
    started = time.perf_counter()
    path = folder / "seed.db"
    engine = db.make_engine(f"sqlite:///{path}", create_dir=True)
    schema.upgrade(engine)
    rid, _ = roadmap_store.store(engine, load_roadmap(IVANOVO_159_RP), now=SEEDED)
    login = os_login()  # the CLI steps below run as this account
    with db.write(engine) as conn:
        bootstrap_coordinator(conn, rid, login, SEEDED, SEEDED.date())
    with db.read(engine) as conn:
        stored = roadmap_store.resolve(conn, None)
    rows = [
        CenterRow(
            code=f"C{i:05d}",
            name=f"МБОУ «Школа № {i}»",
            municipality="Шуйский район",
            cohort=2021,
            email=f"s{i}@example.org",
            line=i + 2,
        )
        for i in range(count)
    ]
    centers.import_centers(engine, stored, rows, filename="bench", actor=login, now=SEEDED)
    fire = TransitionEngine(engine, stored.definition, stored.id)
    for trigger in FORWARD:
        outcomes = fire_rows(
            fire,
            [BulkRow(line=r.line, code=r.code, trigger=trigger) for r in rows],
            actor=Actor(login=login),
            now=FIRED,
            mode=BulkMode.ALL_OR_NOTHING,
        )
        assert all(o.error is None for o in outcomes), outcomes[0].error
    engine.dispose()

    mail = folder / "mail"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCHKA_")}
    env.update(TOCHKA_MAIL_DIR=str(mail), TOCHKA_MAIL_FROM="tochka@edu.example.org")
    env["PYTHONWARNINGS"] = "ignore"
    phases["schools"] = time.perf_counter() - started
    _tochka(path, env, "--now", "2021-10-01T09:00:00+03:00", "tick")
    phases["tick"] = time.perf_counter() - started - sum(phases.values())
    _tochka(path, env, "--now", "2021-10-01T10:00:00+03:00", "outbox", "send")
    phases["send"] = time.perf_counter() - started - sum(phases.values())

    replies = folder / "replies"
    replies.mkdir()
    made = 0
    for letter_path in sorted(mail.glob("*.eml")):
        letter = email.message_from_bytes(letter_path.read_bytes(), policy=email.policy.default)
        assert isinstance(letter, EmailMessage)
        forms = [p for p in letter.iter_attachments() if p.get_content_type() == XLSX]
        if not forms:
            continue  # the coordinator's and the operator's letters
        (form,) = forms
        data = form.get_payload(decode=True)
        assert isinstance(data, bytes)
        sender = str(letter["To"]).rsplit("<", 1)[-1].rstrip(">")
        raw = _reply(letter, sender, str(form.get_filename()), _filled(data), made)
        (replies / f"{made:05d}.eml").write_bytes(raw)
        made += 1
    if made != count:
        raise SystemExit(f"set-up: {made} forms sent, {count} expected")
    phases["replies"] = time.perf_counter() - started - sum(phases.values())
    return path, replies


def _filled(data: bytes) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["Мониторинг"]
    for ref, value in VALUES.items():
        sheet[ref] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _reply(letter: EmailMessage, sender: str, name: str, data: bytes, n: int) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Школа <{sender}>"
    msg["To"] = str(letter["From"])
    msg["Subject"] = f"Re: {letter['Subject']}"
    msg["Date"] = format_datetime(datetime(2021, 10, 5, 12, 0, tzinfo=UTC))
    msg["Message-ID"] = f"<form-{n}@school.example.org>"
    msg["In-Reply-To"] = str(letter["Message-ID"])
    msg["References"] = str(letter["Message-ID"])
    body = letter.get_body(preferencelist=("plain",))
    quoted = "\n".join(f"> {line}" for line in body.get_content().splitlines()) if body else ""
    msg.set_content(f"Форма во вложении.\n\nТочка роста пишет:\n{quoted}\n")
    maintype, subtype = XLSX.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _copy(seed: Path, folder: Path) -> Path:
    path = folder / "ours.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(seed, path)
    return path


def ours(db_path: Path, replies: Path) -> int:
    """``tochka replies import DIR`` without its CLI: every message recorded."""
    engine = db.make_engine(f"sqlite:///{db_path}")
    report = import_path(engine, replies, max_bytes=LIMIT)
    with db.read(engine) as conn:
        values = conn.execute(sa.select(sa.func.count()).select_from(VALUE)).scalar_one()
    engine.dispose()
    states = {o.state.value if o.state else None for _w, o in report.outcomes}
    assert states == {"matched"}, states
    assert values == len(VALUES) * len(report.outcomes), values
    return len(report.outcomes)


def floor(replies: Path) -> int:
    """The same files parsed with ``email`` and their forms loaded with openpyxl."""
    done = 0
    for path in sorted(replies.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        (form,) = [p for p in message.iter_attachments() if p.get_content_type() == XLSX]
        data = form.get_payload(decode=True)
        assert isinstance(data, bytes)
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
        assert book["tochka"]["A1"].value
        sheet = book["Мониторинг"]
        assert [sheet[ref].value for ref in VALUES] == list(VALUES.values())
        done += 1
    return done


def _timed(func: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    done = func()
    return time.perf_counter() - started, done


def _peak(func: Callable[[], object]) -> float:
    """Peak traced memory of one run, MiB."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 replies, 3 rounds")
    args = parser.parse_args(argv)
    count = 100 if args.quick else 1000
    rounds = 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        phases: dict[str, float] = {}
        seed, replies = _seed(folder, count, phases)
        ours_s: list[float] = []
        floor_s: list[float] = []
        ratios: list[float] = []
        # Other work on the machine slows the two sides unevenly: say how loaded it was.
        load_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
        for _ in range(rounds):
            copy = _copy(seed, folder)
            elapsed, done = _timed(functools.partial(ours, copy, replies))
            assert done == count
            ours_s.append(elapsed)
            elapsed, done = _timed(lambda: floor(replies))
            assert done == count
            floor_s.append(elapsed)
            ratios.append(ours_s[-1] / floor_s[-1])
        ours_mib = _peak(lambda: ours(_copy(seed, folder), replies))
        floor_mib = _peak(lambda: floor(replies))
        size = sum(p.stat().st_size for p in replies.glob("*.eml")) / count / 1024
        print(
            f"replies with filled monitoring forms, {count} messages (~{size:.0f} KB each), "
            "SQLite WAL"
        )
        print(
            f"  set-up : {sum(phases.values()):.0f} s, not measured ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
            + ")"
        )
        print(
            f"  ours   : {count / statistics.median(ours_s):8.1f} replies/s (median of {rounds}; "
            f"{count / max(ours_s):.1f}-{count / min(ours_s):.1f}; "
            f"{1000 * statistics.median(ours_s) / count:.1f} ms each); peak memory "
            f"{ours_mib:.1f} MiB"
        )
        print(
            f"  floor  : {count / statistics.median(floor_s):8.1f} replies/s (email + openpyxl, "
            f"no database; {count / max(floor_s):.1f}-{count / min(floor_s):.1f}; "
            f"{1000 * statistics.median(floor_s) / count:.1f} ms each); peak memory "
            f"{floor_mib:.1f} MiB"
        )
        print(
            f"  ratio  : {statistics.median(ratios):8.2f}x the floor's time, median; rounds "
            + " ".join(f"{r:.2f}" for r in ratios)
            + f" (spread {min(ratios):.2f}-{max(ratios):.2f})"
        )
        load_end = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"  load   : {load_start} at the first round, {load_end} at the end (1, 5, 15 min)")
    return [  # run_all's summary row
        {
            "path": f"replies import, {count} replies with filled forms",
            "today": f"{count / statistics.median(ours_s):.1f} replies/s",
            "floor": f"{count / statistics.median(floor_s):.1f} /s (email + openpyxl)",
            "ratio": f"{statistics.median(ratios):.2f}x time "
            f"({min(ratios):.2f}–{max(ratios):.2f})",
            "peak": f"{ours_mib:.1f} MiB (floor {floor_mib:.1f})",
            "goal": "—",
            "met": None,
        }
    ]


if __name__ == "__main__":
    main()
