"""Rendering letters from Russian jinja2 templates.

Templates live in ``notifications/templates``; a folder given to `Renderer` overrides
them file by file (same file name). Each letter kind has three templates:
``<kind>.subject.j2``, ``<kind>.txt.j2`` and ``<kind>.html.j2``; kinds are
``reminder_before``, ``reminder_on_day``, ``reminder_overdue``, ``digest``,
``notice`` and ``weekly_summary``. Undefined variables are errors
(`jinja2.StrictUndefined`), HTML templates are autoescaped, text and subject templates
are not. `Renderer.check` renders every
template with sample data so that a broken override is refused when the daemon starts.

Form, the same for every kind: the greeting (`greeting`: the contact person by name, or
«Добрый день!»), the signature block (`notifications.signature.Signature`), a subject
that starts with what and who and fits `SUBJECT_LIMIT` (`subject_line`), and Russian
quotation marks («…» outside, „…“ inside: `russian.typographic_quotes`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from notifications import russian
from notifications.bounce_alert import BounceAlert
from notifications.errors import TemplateProblem
from notifications.headers import clean_text
from notifications.ics import build_calendar
from notifications.monitoring_form import form_attachments
from notifications.reference import SUBJECT_ROOM
from notifications.signature import Signature
from notifications.summary import WeeklySummary, sample_summary
from notifications.values import Notice, Recipient, Reminder, Rung

log = logging.getLogger(__name__)

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"

#: Letter kinds and the parts each kind has.
KINDS: tuple[str, ...] = (
    "reminder_before",
    "reminder_on_day",
    "reminder_overdue",
    "digest",
    "notice",
    "weekly_summary",
)
PARTS: tuple[str, ...] = ("subject", "txt", "html")
#: A subject is at most this many characters (a phone shows about 40, a desktop 90),
#: its reference token («[ТР-8F3K]», added when the letter is composed) included.
SUBJECT_LIMIT = 90
#: ... except that a school's name is kept whole up to this length of the subject (98
#: before the token, as before subjects carried one: the token never cuts a name that
#: fitted); the name is cut only when even this is not enough (60 characters and more).
SUBJECT_HARD_LIMIT = 98 + SUBJECT_ROOM
#: What `subject_line` may use of them: the token's room is kept for it.
_LINE_LIMIT = SUBJECT_LIMIT - SUBJECT_ROOM
_LINE_HARD_LIMIT = SUBJECT_HARD_LIMIT - SUBJECT_ROOM
#: The "what" of a subject is never cut shorter than this (then the date goes first).
_MIN_WHAT = 20

#: What a center stage's deadline asks for, as a subject says it.
STAGE_WHAT: dict[str, str] = {
    "infrastructure_agreed": "согласование инфраструктурного листа",
    "equipped": "оснащение центра",
    "staff_trained": "обучение педагогов центра",
    "opened": "открытие центра",
    "reporting": "начало отчётности центра",
}
#: Shorter forms of the same, for a subject whose school's name is long.
STAGE_WHAT_SHORT: dict[str, str] = {
    "infrastructure_agreed": "инфраструктурный лист",
    "equipped": "оснащение",
    "staff_trained": "обучение педагогов",
    "reporting": "начало отчётности",
}
_RUNG_KIND = {
    Rung.BEFORE: "reminder_before",
    Rung.ON_DAY: "reminder_on_day",
    Rung.OVERDUE: "reminder_overdue",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderedLetter:
    """The rendered parts of one letter (headers are added by `notifications.letters`).

    Attributes:
        kind: the template kind used.
        subject: one clean line.
        text: the plain-text part.
        html: the HTML part.
        ics: the calendar attachment, or None (transition notices).
        attachments: other files to attach.
        sender_name: who writes (the signature's department): the display name of the
            letter's Reply-To and, unless one is configured, of its From.
    """

    kind: str
    subject: str
    text: str
    html: str
    ics: bytes | None
    attachments: tuple[Attachment, ...] = ()
    sender_name: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Attachment:
    """A file attached to a letter."""

    filename: str
    maintype: str
    subtype: str
    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemView:
    """One reminder as the templates see it: the facts plus the Russian wording."""

    reminder: Reminder
    status: Rung
    days: int
    deadline_text: str
    when_text: str
    what: str = ""
    #: ``what`` and its shorter forms, the preferred first (`subject_line`).
    what_forms: tuple[str, ...] = ()
    #: The item's number in a digest, continuous across its date groups (0: a single
    #: reminder, not numbered).
    number: int = 0

    def __getattr__(self, name: str) -> Any:
        # Templates write ``item.title``; the reminder's fields show through.
        return getattr(self.reminder, name)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineGroup:
    """The digest's section for one deadline date."""

    deadline: date
    deadline_text: str
    status: Rung
    when_text: str
    items: tuple[ItemView, ...]


def letter_day(reminder: Reminder, now: datetime) -> date:
    """The local day the letter is written for: its ``send_on``, or today if later.

    A reminder caught up after downtime speaks of the day it is actually sent, so its
    «через N дней» is true when it arrives.
    """
    try:
        zone: Any = ZoneInfo(reminder.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return max(reminder.send_on, now.astimezone(zone).date())


def item_view(reminder: Reminder, now: datetime) -> ItemView:
    """Wording of one reminder relative to the letter day (see `letter_day`).

    The status comes from the dates, not only from the rung: a rung moved to the
    previous working day (a Sunday deadline reminded on Friday) still says «через 2 дня».
    Overdue days count from the term's legal end (``term_end``): a deadline on Saturday
    01.01.2022 is met until Monday 10.01.2022, and a letter of 11.01 says «просрочено на
    1 день».
    """
    day = letter_day(reminder, now)
    end = reminder.term_end or reminder.deadline
    left = (reminder.deadline - day).days
    if left > 0:
        status, count, when = Rung.BEFORE, left, russian.in_days(left)
    elif day <= end:
        when = "сегодня" if day == end else f"до {russian.long_date(end)} включительно"
        status, count = Rung.ON_DAY, 0
    else:
        late = (day - end).days
        status, count, when = Rung.OVERDUE, late, russian.overdue_by(late)
    return ItemView(
        reminder=reminder,
        status=status,
        days=count,
        deadline_text=russian.long_date(reminder.deadline),
        when_text=when,
        what=item_what(reminder),
        what_forms=item_what_forms(reminder),
    )


def _school_monitoring(reminder: Reminder) -> bool:
    """A school asked for its indicators of a monitoring cycle (not a center stage, not
    another measure's cycle reminded to each center's school, such as its site's page
    about the center). Only the indicators' measure names what the school has not
    submitted (``missing``, never empty for a school that owes the period)."""
    return (
        reminder.role == "school" and reminder.subject_kind == "measure" and bool(reminder.missing)
    )


def item_what(reminder: Reminder) -> str:
    """What a reminder is about, short, for a subject: a center stage's action
    («открытие центра»), a school's indicators of a quarter («показатели за III квартал
    2021 г.») or the measure's title."""
    stage = getattr(reminder, "stage", "")
    if _school_monitoring(reminder):
        when = clean_text(getattr(reminder, "period_title", "") or reminder.period)
        return f"показатели за {when}"
    return STAGE_WHAT.get(stage) or russian.typographic_quotes(clean_text(reminder.title))


def item_what_forms(reminder: Reminder) -> tuple[str, ...]:
    """`item_what` and, for a center stage, its shorter form (`STAGE_WHAT_SHORT`)."""
    what = item_what(reminder)
    if _school_monitoring(reminder):
        # The quarter as official papers shorten it («III кв. 2021 г.»), then the word
        # alone: the school's name is what a long subject keeps.
        brief = what.replace(" квартал ", " кв. ")
        return tuple(dict.fromkeys((what, brief, "показатели")))
    short = STAGE_WHAT_SHORT.get(getattr(reminder, "stage", ""))
    return (what, short) if short and short != what else (what,)


def item_who(reminder: Reminder) -> str:
    """Whom a reminder is about, for a subject: the school (the center's, or the school
    asked for its indicators), else the period."""
    if reminder.center_name:
        return russian.typographic_quotes(clean_text(reminder.center_name))
    if _school_monitoring(reminder) and reminder.recipient.name:
        return russian.typographic_quotes(clean_text(reminder.recipient.name))
    title = getattr(reminder, "period_title", "") or reminder.period
    return clean_text(title)


def _forms(part: str | Sequence[str]) -> list[str]:
    forms = [part] if isinstance(part, str) else list(part)
    return [clean_text(f) for f in forms] or [""]


def subject_line(
    lead: str | Sequence[str],
    what: str | Sequence[str],
    who: str = "",
    when: str = "",
    *,
    whole: bool = False,
) -> str:
    """«{lead} {what} — {who} ({when})» in at most `SUBJECT_LIMIT` characters with the
    reference token the letter adds (`notifications.reference.SUBJECT_ROOM`).

    ``lead`` and ``what`` may each be several forms of the same thing, the preferred
    first («начало отчётности центра», «начало отчётности»): the first combination that
    fits is used, with the date if possible. Otherwise the what is shortened (on a word
    boundary, with «…», not below a few words) unless it is ``whole`` (a digest's
    count: never cut), then the date in brackets goes; a school's name is kept whole if
    the subject then fits `SUBJECT_HARD_LIMIT` (token included), and only beyond it cut on a word
    boundary (never right after «№»): a name is never lost to a long measure title.
    Every part is cleaned (`clean_text`: one line, no control characters) before it is
    measured; a who that only repeats the date (a cycle named by its due date) is left
    out.
    """
    leads, whats = _forms(lead), _forms(what)
    who, when = clean_text(who), clean_text(when)
    if who == when:
        who = ""

    def line(lead_part: str, what_part: str, when_part: str, who_part: str = who) -> str:
        text = f"{lead_part} {what_part}".strip()
        if who_part:
            text += f" — {who_part}"
        if when_part:
            text += f" ({when_part})"
        return text

    short_lead, short_what = leads[-1], whats[-1]
    for when_part in (when, ""):
        for what_form in whats:
            for lead_form in leads:
                if len(text := line(lead_form, what_form, when_part)) <= _LINE_LIMIT:
                    return text
        room = _LINE_LIMIT - len(line(short_lead, "", when_part)) - 1
        if not whole and len(whats) == 1 and room >= min(_MIN_WHAT, len(short_what)):
            return line(short_lead, russian.shorten(short_what, room), when_part)
    if not whole and len(whats) == 1:  # a shorter form given is short enough
        first_word = len(short_what.split(" ", 1)[0]) + 1
        short_what = russian.shorten(short_what, max(_MIN_WHAT, first_word))
    if len(text := line(short_lead, short_what, "")) <= _LINE_HARD_LIMIT:
        return text
    room = _LINE_LIMIT - len(line(short_lead, short_what, "", "")) - 3  # " — "
    return line(short_lead, short_what, "", russian.shorten(who, max(room, 1)))


def _enumerate(numbers: Sequence[int]) -> str:
    """«2», «1 и 3», «1, 2 и 4»."""
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " и " + words[-1]


def last_rung_note(items: Sequence[ItemView]) -> str:
    """What a letter says once about the items whose last overdue reminder it carries.

    True whether or not the earlier overdue rungs were sent (a daemon down for weeks
    catches up with the last rung directly): «Напоминания о просрочке … на этом
    заканчиваются», then where the item goes next. For the coordinator: the weekly
    summary, or, when the summary is off (``weekly_summary``), its own control; for
    anyone else: the coordinator. A digest names the items by their numbers.
    """
    last = [i for i in items if i.last_rung]
    if not last:
        return ""
    many = len(last) > 1
    if any(i.owners or i.role == "department" for i in last):
        if all(i.weekly_summary for i in last):
            then = (
                "дальше эти пункты будут только в еженедельной сводке"
                if many
                else "дальше пункт будет только в еженедельной сводке"
            )
        else:
            then = "еженедельная сводка не рассылается, дальше срок контролирует координатор"
    else:
        then = "дальше срок контролирует координатор"
    if all(i.number for i in last):
        which = ("по пунктам " if many else "по пункту ") + _enumerate([i.number for i in last])
        return f"Напоминания о просрочке {which} на этом заканчиваются: {then}."
    return f"Напоминания о просрочке по этому пункту на этом заканчиваются: {then}."


def counts_text(counts: dict[str, int], total: int) -> str:
    """A digest's count, in words: «5 напоминаний, из них просрочено 3, со сроком
    сегодня 1, с приближающимся сроком 1»; «4 напоминания, все с приближающимся сроком»."""
    head = russian.plural(total, "напоминание", "напоминания", "напоминаний")
    parts = [
        (counts.get("overdue", 0), "просрочено", "все просрочены"),
        (counts.get("today", 0), "со сроком сегодня", "у всех срок сегодня"),
        (counts.get("upcoming", 0), "с приближающимся сроком", "все с приближающимся сроком"),
    ]
    for count, _some, every in parts:
        if count == total and total > 1:
            return f"{head}, {every}"
    listed = [f"{some} {count}" for count, some, _every in parts if count]
    return f"{head}, из них " + ", ".join(listed) if listed else head


def greeting(recipient: Recipient) -> str:
    """«Здравствуйте, Анна Петровна!» with a contact person, else «Добрый день!» (never
    an organisation's name: «Здравствуйте, федеральный оператор!» reads wrong)."""
    contact = clean_text(getattr(recipient, "contact", "") or "")
    return f"Здравствуйте, {contact}!" if contact else "Добрый день!"


def center_phrase(name: str) -> str:
    """«центр «Точка роста» на базе МБОУ «Школа № 1»» (the name's own quotes kept right)."""
    return f"центр «Точка роста» на базе {russian.typographic_quotes(clean_text(name))}"


def asks_reply(recipient: Recipient, reply_to: str) -> bool:
    """Whether a letter's footer asks for questions by reply or to ``reply_to``: not in a
    letter to that address itself (the coordinator's own letters: it is not told to
    write to itself)."""
    return recipient.email.strip().lower() != (reply_to or "").strip().lower()


def _form(source: Any, recipient: Recipient) -> dict[str, Any]:
    """The context every kind shares: greeting, signature, whether to ask for a reply."""
    signature: Signature | None = getattr(source, "signature", None)
    return {
        "greeting": greeting(recipient),
        "signature": signature.lines if signature is not None else (),
        "sender_name": signature.department if signature is not None else "",
        "ask_reply": asks_reply(recipient, getattr(source, "reply_to", "")),
    }


def reminders_context(reminders: Sequence[Reminder], now: datetime) -> dict[str, Any]:
    """What a letter says of one recipient's reminders of one day (a digest, or the
    weekly summary that carries them): the items, numbered across their deadline groups
    when there are several, the earliest (most urgent) first, their counts and the note
    on the items whose last overdue reminder this is. The bounced addresses told to the
    coordinator (``Reminder.bounce``) are no deadlines: ``bounces`` lists them apart."""
    alerts = [r.bounce for r in reminders if r.bounce is not None]
    ordered = sorted((r for r in reminders if r.bounce is None), key=lambda r: r.urgency)
    items = [item_view(r, now) for r in ordered]
    if len(items) > 1 or alerts:  # a digest: one numbering across its date groups
        items = [replace(item, number=n) for n, item in enumerate(items, start=1)]
    groups: list[DeadlineGroup] = []
    for item in items:
        if groups and groups[-1].deadline == item.reminder.deadline:
            last = groups[-1]
            groups[-1] = DeadlineGroup(
                deadline=last.deadline,
                deadline_text=last.deadline_text,
                status=last.status,
                when_text=last.when_text,
                items=(*last.items, item),
            )
        else:
            groups.append(
                DeadlineGroup(
                    deadline=item.reminder.deadline,
                    deadline_text=item.deadline_text,
                    status=item.status,
                    when_text=item.when_text,
                    items=(item,),
                )
            )
    counts = {
        "overdue": sum(1 for i in items if i.status is Rung.OVERDUE),
        "today": sum(1 for i in items if i.status is Rung.ON_DAY),
        "upcoming": sum(1 for i in items if i.status is Rung.BEFORE),
    }
    return {
        "day": letter_day((ordered or list(reminders))[0], now) if reminders else None,
        "items": items,
        "item": items[0] if items else None,
        "groups": groups,
        "counts": counts,
        "counts_text": counts_text(counts, len(items)),
        "total": len(items),
        "last_note": last_rung_note(items),
        "bounces": alerts,
    }


def letter_context(reminders: Sequence[Reminder], now: datetime) -> tuple[str, dict[str, Any]]:
    """The template kind and the context of one recipient's letter of one day: a single
    reminder's kind by its status (before / on the day / overdue), or ``digest``.

    Args:
        reminders: one or more reminders with the same recipient, the most urgent first.
        now: the time of rendering (aware).
    """
    first = reminders[0]
    days = reminders_context(reminders, now)
    items = days["items"]
    cc: dict[str, Recipient] = {}
    for reminder in reminders:
        for copy in reminder.cc:
            cc.setdefault(copy.email.strip().lower(), copy)
    context: dict[str, Any] = {
        **_form(first, first.recipient),
        **days,
        "recipient": first.recipient,
        "roadmap_title": first.roadmap_title,
        "reply_to": first.reply_to,
        "escalated": bool(cc),
        "cc": list(cc.values()),
    }
    # A digest names its school when all of it is about one; a single reminder its
    # school, or the period of a measure.
    schools = {r.center_name for r in reminders}
    one = len(reminders) == 1 or (len(schools) == 1 and first.center_name)
    context["who"] = item_who(first) if one else ""
    kind = _RUNG_KIND[items[0].status] if len(items) == 1 and not days["bounces"] else "digest"
    return kind, context


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates, kept for the process and on disk, so a template is compiled
    once (compiling them all takes a tenth of a second: the daemon's start-up check,
    `Renderer.check`, each command that renders, each in-process test of one).

    In memory, every `Renderer` of the process shares them; on disk, in jinja2's own
    per-account folder (``_jinja2-cache-<uid>`` in the temporary folder, made and
    checked by jinja2 as readable and writable by this account alone), the next process
    of the same account finds them. Not in ``var/``: an operators' group shares it, and
    code one account writes there would run as another (the daemon's). Each is found by
    the template's name and file and the environment's options (`_options`), and taken
    only for the same source (jinja2 checks its checksum: an override file that changed
    is compiled again). A disk the cache cannot use (no such folder, unsafe, full)
    leaves the memory alone.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._disk: jinja2.BytecodeCache | None = None
        self._disk_tried = False

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> jinja2.bccache.Bucket:
        # jinja2's own, with the options that shape the code in the key.
        key = self.get_cache_key(f"{_options(environment)}|{name}", filename)
        bucket = jinja2.bccache.Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def _on_disk(self) -> jinja2.BytecodeCache | None:
        if not self._disk_tried:
            self._disk_tried = True
            try:
                self._disk = jinja2.FileSystemBytecodeCache()
            except (OSError, RuntimeError) as exc:  # no safe folder: memory only
                log.info("compiled templates kept in memory only: %s", exc)
        return self._disk

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)
            return
        disk = self._on_disk()
        if disk is None:
            return
        try:
            disk.load_bytecode(bucket)
        except Exception as exc:  # noqa: BLE001  # a damaged file: compiled again
            log.info("compiled template %s not read: %s", bucket.key, exc)
            bucket.reset()
        if bucket.code is not None:
            self._code[bucket.key] = bucket.bytecode_to_string()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()
        disk = self._on_disk()
        if disk is not None:
            try:
                disk.dump_bytecode(bucket)
            except OSError as exc:
                log.info("compiled template %s not kept on disk: %s", bucket.key, exc)


def _options(environment: jinja2.Environment) -> str:
    """The options of an environment that shape its templates' compiled code."""
    escape = environment.autoescape
    escaped = [escape(n) if callable(escape) else escape for n in ("a.html.j2", "a.txt", None)]
    return repr(
        (
            environment.block_start_string,
            environment.block_end_string,
            environment.variable_start_string,
            environment.variable_end_string,
            environment.comment_start_string,
            environment.comment_end_string,
            environment.line_statement_prefix,
            environment.line_comment_prefix,
            environment.trim_blocks,
            environment.lstrip_blocks,
            environment.newline_sequence,
            environment.keep_trailing_newline,
            environment.undefined.__name__,
            escaped,
            sorted(environment.extensions),
            environment.optimized,
        )
    )


_COMPILED = _CompiledTemplates()


class Renderer:
    """Renders reminder, digest and notice letters from the (overridable) templates.

    Args:
        templates_dir: a folder whose files replace the built-in templates of the same
            name; None uses the built-in ones only.
    """

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "html.j2"), default_for_string=False, default=False
            ),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            bytecode_cache=_COMPILED,
        )
        self.env.filters.update(
            long_date=russian.long_date,
            short_date=russian.short_date,
            days=russian.days,
            in_days=russian.in_days,
            overdue_by=russian.overdue_by,
        )
        self.env.filters.update(
            quotes=russian.typographic_quotes,
            quoted=russian.quoted,
            center_phrase=center_phrase,
            # «Центр оснащён; персонал центра обучен»: a headline after the first.
            lower_first=lambda text: text[:1].lower() + text[1:],
        )
        self.env.globals["plural"] = russian.plural
        self.env.globals["plural_word"] = russian.plural_word
        self.env.globals["subject_line"] = subject_line

    def _render(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        parts: list[str] = []
        for part in PARTS:
            name = f"{kind}.{part}.j2"
            try:
                parts.append(self.env.get_template(name).render(context))
            except jinja2.TemplateError as exc:
                where = (
                    f" (строка {exc.lineno})" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
                )
                raise TemplateProblem(
                    template=name, detail=f"{type(exc).__name__}: {exc}{where}"
                ) from exc
            except Exception as exc:
                # An override is code we did not write: any error in it is its problem.
                raise TemplateProblem(template=name, detail=f"{type(exc).__name__}: {exc}") from exc
        subject = clean_text(parts[0])
        if not subject:
            raise TemplateProblem(template=f"{kind}.subject.j2", detail="пустая тема письма")
        return subject, parts[1], parts[2]

    def render_reminders(self, reminders: Sequence[Reminder], *, now: datetime) -> RenderedLetter:
        """Render one letter for one recipient's reminders of one day.

        A single reminder uses the template of its status (before / on the day /
        overdue); several make a digest, grouped by deadline, the earliest (most
        urgent) first.

        Args:
            reminders: one or more reminders with the same recipient.
            now: the time of rendering (aware); fixes "today" and the calendar stamp.

        Raises:
            TemplateProblem: a template failed.
            ValueError: ``reminders`` is empty.
        """
        if not reminders:
            raise ValueError("a letter needs at least one reminder")
        ordered = sorted(reminders, key=lambda r: r.urgency)
        kind, context = letter_context(ordered, now)
        subject, text, html = self._render(kind, context)
        return RenderedLetter(
            kind=kind,
            subject=subject,
            text=text,
            html=html,
            ics=build_calendar(ordered, now=now) if context["items"] else None,
            attachments=form_attachments(ordered),
            sender_name=context["sender_name"],
        )

    def render_notice(
        self, notice: Notice, *, now: datetime, earlier: Sequence[Notice] = ()
    ) -> RenderedLetter:
        """Render a transition notice letter.

        Args:
            notice: the notice (the latest, when the letter carries several).
            now: the time of rendering (aware).
            earlier: the notices of the same day to the same recipient already in the
                letter, in order: the letter lists them all (``notices``).

        Raises:
            TemplateProblem: a template failed.
        """
        context: dict[str, Any] = {
            **_form(notice, notice.recipient),
            "notice": notice,
            "notices": [*earlier, notice],
            "recipient": notice.recipient,
            "roadmap_title": notice.roadmap_title,
            "reply_to": notice.reply_to,
            "now": now,
        }
        subject, text, html = self._render("notice", context)
        return RenderedLetter(
            kind="notice",
            subject=subject,
            text=text,
            html=html,
            ics=None,
            sender_name=context["sender_name"],
        )

    def render_summary(
        self, summary: WeeklySummary, *, now: datetime | None = None
    ) -> RenderedLetter:
        """Render the weekly summary letter, the dashboard attached.

        The coordinator's reminders of the day (``summary.reminders``, folded in by the
        queue) come first, as its digest would have said them (``day``, ``groups``,
        ``counts_text``, ``last_note``), with their calendar attached.

        Args:
            summary: the summary.
            now: the time of rendering (aware), for the folded reminders' wording and
                calendar stamp; defaults to the summary's date at noon UTC.

        Raises:
            TemplateProblem: a template failed.
        """
        stamp = now or datetime.combine(summary.as_of, time(12), tzinfo=UTC)
        context: dict[str, Any] = {
            **_form(summary, summary.recipient),
            **reminders_context(summary.reminders, stamp),
            "summary": summary,
            "recipient": summary.recipient,
            "roadmap_title": summary.roadmap_title,
            "reply_to": summary.reply_to,
        }
        subject, text, html = self._render("weekly_summary", context)
        attachment = Attachment(
            filename=summary.attachment_name,
            maintype="text",
            subtype="html",
            data=summary.attachment,
        )
        return RenderedLetter(
            kind="weekly_summary",
            subject=subject,
            text=text,
            html=html,
            ics=build_calendar(sorted(summary.reminders, key=lambda r: r.urgency), now=stamp)
            if any(r.bounce is None for r in summary.reminders)
            else None,
            attachments=(attachment,),
            sender_name=context["sender_name"],
        )

    def check(self, *, now: datetime | None = None) -> None:
        """Render every template with sample data; refuse a broken set at start-up.

        Args:
            now: the sample "now"; defaults to a fixed date (the check is not about time).

        Raises:
            TemplateProblem: the first template that fails to load or render.
        """
        stamp = now or datetime(2022, 8, 22, 9, 0, tzinfo=UTC)
        if self.templates_dir is not None:
            if not self.templates_dir.is_dir():
                raise TemplateProblem(
                    template=str(self.templates_dir), detail="папка шаблонов не найдена"
                )
            known = {f"{kind}.{part}.j2" for kind in KINDS for part in PARTS}
            for path in sorted(self.templates_dir.iterdir()):
                if path.is_file() and path.name not in known and not path.name.startswith("_"):
                    log.warning("template override %s matches no letter template", path.name)
        samples = sample_reminders(stamp)
        for reminder in samples:
            self.render_reminders([reminder], now=stamp)
        self.render_reminders(samples, now=stamp)
        self.render_reminders([sample_bounce(stamp)], now=stamp)
        self.render_reminders([samples[0], sample_bounce(stamp)], now=stamp)
        self.render_notice(sample_notice(), now=stamp)
        self.render_notice(sample_notice(), now=stamp, earlier=[sample_notice()])
        self.render_summary(sample_summary())
        self.render_summary(replace(sample_summary(), reminders=tuple(samples)), now=stamp)
        self.render_summary(
            replace(sample_summary(), reminders=(*samples, sample_bounce(stamp))), now=stamp
        )


#: The signature of the sample letters (the template check renders every part of it).
SAMPLE_SIGNATURE = Signature(
    department="Департамент образования Ивановской области",
    contact="Иванова Анна Петровна, главный специалист",
    address="г. Иваново",
)


def sample_reminders(now: datetime) -> list[Reminder]:
    """One reminder per status, around ``now``'s date, with awkward characters in names."""
    today = now.astimezone(ZoneInfo("Europe/Moscow")).date()
    coordinator = Recipient(email="coordinator@example.org", name="Координатор проекта")
    common: dict[str, Any] = {
        "send_on": today,
        "recipient": Recipient(email="school@example.org", name="МБОУ «Школа № 1»"),
        "subject_kind": "center_stage",
        "roadmap_title": "Дорожная карта «Точка роста», Ивановская область",
        "center_code": "IV-001",
        "center_name": "МБОУ «Средняя школа № 1» <b>&</b>",
        "municipality": "Шуйский муниципальный район",
        "evidence": ("Сертификаты о повышении квалификации", "Отчёт о переподготовке"),
        "period": "2022",
        "reply_to": coordinator.email,
        "timezone": "Europe/Moscow",
        "signature": SAMPLE_SIGNATURE,
    }
    return [
        Reminder(
            key="sample-before",
            rung=Rung.BEFORE,
            days=3,
            deadline=today + timedelta(days=3),
            title="Обучение педагогов по программам федерального оператора",
            measure_number=6,
            **common,
        ),
        Reminder(
            key="sample-on-day",
            rung=Rung.ON_DAY,
            days=0,
            deadline=today,
            title="Приведение площадок в соответствие с брендбуком",
            measure_number=7,
            **common,
        ),
        Reminder(
            key="sample-overdue",
            rung=Rung.OVERDUE,
            days=5,
            deadline=today - timedelta(days=5),
            title="Начало работы центров",
            measure_number=8,
            cc=(coordinator,),
            **common,
        ),
    ]


def sample_bounce(now: datetime) -> Reminder:
    """A bounced address told to the coordinator (`notifications.bounce_alert`)."""
    today = now.astimezone(ZoneInfo("Europe/Moscow")).date()
    coordinator = Recipient(email="coordinator@example.org", name="Координатор проекта")
    return Reminder(
        key="sample-bounce",
        send_on=today,
        recipient=coordinator,
        rung=Rung.ON_DAY,
        days=0,
        deadline=today,
        subject_kind="bounce",
        title="Адрес не принимает письма: school@example.org",
        roadmap_title="Дорожная карта «Точка роста», Ивановская область",
        measure_number=0,
        period="",
        reply_to=coordinator.email,
        timezone="Europe/Moscow",
        signature=SAMPLE_SIGNATURE,
        role="department",
        bounce=BounceAlert(
            address="school@example.org",
            letter_id=12,
            letter_subject="Центр «Точка роста» <b>&</b>: инфраструктурный лист согласован",
            letter_sent=today - timedelta(days=1),
            returned=today,
            reason="такого почтового ящика нет",
            server="5.1.1 550 5.1.1 <school@example.org>: User unknown",
            owners=("центр IV-001 «МБОУ «Средняя школа № 1»»",),
            fix="уточните адрес у школы и исправьте его: tochka centers update IV-001 --email "
            "НОВЫЙ_АДРЕС",
        ),
    )


def sample_notice() -> Notice:
    """A transition notice with every optional field set."""
    return Notice(
        key="sample-notice",
        recipient=Recipient(
            email="school@example.org", name="МБОУ «Школа № 1»", contact="Пётр Ильич"
        ),
        cc=(Recipient(email="coordinator@example.org", name="Координатор"),),
        headline="Центр открыт",
        entity="Центр «Точка роста» МБОУ «Средняя школа № 1»",
        from_state="Персонал обучен",
        to_state="Открыт",
        effective_date=date(2022, 9, 1),
        actor="Иванова А. А.",
        roadmap_title="Дорожная карта «Точка роста», Ивановская область",
        center_code="IV-001",
        center_name="МБОУ «Средняя школа № 1»",
        municipality="Шуйский муниципальный район",
        comment="Открытие состоялось, публикации в СМИ приложены.",
        evidence=("Публикация в СМИ",),
        reply_to="coordinator@example.org",
        timezone="Europe/Moscow",
        signature=SAMPLE_SIGNATURE,
    )
