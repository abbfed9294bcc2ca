"""Returned monitoring forms: a school's reply that carries the filled-in XLSX.

`returned_form` runs in the transaction that records a matched reply
(`workflow.inbound.record.record_message`). When the letter answered carried a
monitoring form (`notifications.monitoring_form`: its reminders' stored JSON says so)
and the reply has a spreadsheet attached, the file is judged and read:

1. by its content (`workflow.engine.media.detect`): an ``.xlsm``, a file with macros, a
   zip bomb, an executable or anything but XLSX is refused with the media check's
   reason; a form unpacks to kilobytes, so more than `MAX_UNPACKED_FORM` is refused too;
2. by its marker (the very hidden sheet and defined name the form carries): a workbook
   without it is not our form; one for another roadmap, center or period than the
   letter's, or of another layout version, is refused;
3. cell by cell, with the validators of ``tochka indicators import``
   (`workflow.roadmap.indicators.parse_value`: the unit, the range, whole numbers,
   two decimals for shares), each error named by its cell («ячейка F9: …»);
4. then by `workflow.engine.indicators.record_in`, the store's own checks (the center
   opened, the period begun and inside the program), in this transaction.

Any error: nothing is recorded and the school is answered with every error. No error:
the roadmap's ``monitoring.forms`` decides. ``record`` (the default) records the values
at once, their source the file's SHA-256 and the message's number and Message-ID, and
answers with the values taken; ``accept`` records nothing yet, leaves the submission
``pending`` and answers that the values wait for the coordinator, whose ``tochka replies
accept`` calls `accept_form` (the same reading of the stored message, then recorded, the
coordinator the values' actor). Accepting a form fires no transition: the letter's
deadline is the monitoring measure's cycle, one for every school, which the form of one
center does not close (as in ``record``, where a form is recorded with no transition).

A reply without a spreadsheet (values written in the text) is left as it is: a
submission for the coordinator.
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from base.errors import TochkaError
from notifications.form_reply import FormReply, queue_form_reply
from notifications.monitoring_form import (
    FORM_KIND,
    FORM_VERSION,
    MARKER_NAME,
    MARKER_SHEET,
    SHEET,
    MonitoringForm,
)
from notifications.outbox import REMINDER
from notifications.values import Recipient
from workflow.engine import media
from workflow.engine.access import AccessDenied, Actor
from workflow.engine.indicators import record_in
from workflow.engine.transitions import SYSTEM_ACTOR
from workflow.errors import EffectiveDateRefused, ImportFileError
from workflow.imports.indicators_file import percent_text
from workflow.imports.tablefile import cell_text
from workflow.inbound.message import Attachment, Parsed, parse
from workflow.roadmap.definition import UNIT_TITLES, FormsPolicy, Indicator, IndicatorUnit
from workflow.roadmap.indicators import (
    RawRow,
    RawValue,
    format_value,
    parse_period,
    parse_value,
    required_indicators,
)
from workflow.roadmap.store import StoredRoadmap, resolve
from workflow.storage.inbound import INBOUND, SubmissionState

__all__ = ["MAX_UNPACKED_FORM", "FormResult", "accept_form", "kept_form", "returned_form"]

#: The most a returned form may unpack to: ours unpacks to about 30 KB.
MAX_UNPACKED_FORM = 20 * 1024 * 1024
_SPREADSHEET_NAME = re.compile(r"\.(xlsx|xlsm|xlsb|xls|ods|xltx|xltm)$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class FormResult:
    """What reading a returned form did.

    Attributes:
        reason: the Russian line kept with the message («форма мониторинга принята: …»).
        recorded: how many values were recorded (0 when waiting or refused).
        errors: what was wrong, each error once; empty when the form was taken.
        pending: valid values waiting for the coordinator's acceptance.
    """

    reason: str
    recorded: int = 0
    errors: tuple[str, ...] = ()
    pending: bool = False


@dataclass
class _Reading:
    form: MonitoringForm | None = None
    # (indicator code, text as shown, cell reference, column)
    cells: list[tuple[str, str, str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _letter_forms(conn: Connection, letter_id: int) -> list[MonitoringForm]:
    """The forms the reminders of our letter ``letter_id`` carried."""
    forms: list[MonitoringForm] = []
    for (payload,) in conn.execute(
        sa.select(REMINDER.c.payload).where(REMINDER.c.outbox_id == letter_id)
    ):
        data = payload if isinstance(payload, dict) else json.loads(payload)
        form = MonitoringForm.from_json(data.get("form"))
        if form is not None:
            forms.append(form)
    return forms


def _spreadsheet_like(attachment: Attachment) -> bool:
    kind = attachment.content_type.lower()
    return bool(
        _SPREADSHEET_NAME.search(attachment.name)
        or "spreadsheet" in kind
        or "excel" in kind
        or attachment.data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0"))
    )


def _judge(attachment: Attachment) -> str | None:
    """Why the file cannot be a form (the media checks' reason), or None."""
    try:
        kind = media.detect(attachment.data)
    except media.Refused as refused:
        return f"файл «{attachment.name}» не принят: {refused.reason}"
    if kind.name != "xlsx":
        return (
            f"файл «{attachment.name}» — {kind.title}, а не форма .xlsx: заполните форму, "
            "приложенную к письму, и пришлите её в том же формате"
        )
    unpacked = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(attachment.data)).infolist())
    if unpacked > MAX_UNPACKED_FORM:
        return (
            f"файл «{attachment.name}» распаковывается в {unpacked // (1024 * 1024)} МБ — "
            "форма мониторинга занимает килобайты: пришлите форму из письма"
        )
    return None


def _read(attachment: Attachment, forms: Sequence[MonitoringForm]) -> _Reading:
    """The marker checked against the letter's forms, then the input cells as text."""
    import openpyxl  # ~140 ms to import: only a returned form pays it

    reading = _Reading()
    name = attachment.name
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            book = openpyxl.load_workbook(io.BytesIO(attachment.data), data_only=True)
    except Exception:  # noqa: BLE001  # openpyxl's errors are many and English
        reading.errors.append(
            f"файл «{name}» не открывается как книга Excel: сохраните форму заново в Excel "
            "или LibreOffice (формат .xlsx)"
        )
        return reading
    try:
        marker = _marker(book)
        if marker is None:
            reading.errors.append(
                f"файл «{name}» — не форма мониторинга Точки (в нём нет отметки формы): "
                "заполните форму, приложенную к письму"
            )
            return reading
        form = _matching(marker, forms, name, reading.errors)
        if form is None:
            return reading
        reading.form = form
        sheet = book[SHEET] if SHEET in book.sheetnames else None
        if sheet is None:
            reading.errors.append(f"в файле «{name}» нет листа «{SHEET}» с показателями")
            return reading
        # The cells are the letter's form's (the marker only names the form).
        for index, row in enumerate(form.rows):
            ref = form.input_cell(index)
            cell = sheet[ref]
            value = cell.value
            text = cell_text(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                text = percent_text(value, cell.number_format) or _number_text(value)
            reading.cells.append((row.code, text.strip(), ref, int(cell.column)))
        return reading
    finally:
        book.close()


def _number_text(value: float) -> str:
    """A number as Excel shows it (15 significant digits: 87.25, not 87.250000000000001)."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.15g}"


def _marker(book: Any) -> dict[str, Any] | None:
    text: object = None
    defined = book.defined_names.get(MARKER_NAME)
    if defined is not None:
        for sheet_name, ref in defined.destinations:
            if sheet_name in book.sheetnames:
                text = book[sheet_name][ref.replace("$", "")].value
    if text is None and MARKER_SHEET in book.sheetnames:
        text = book[MARKER_SHEET]["A1"].value
    if not isinstance(text, str):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("kind") == FORM_KIND else None


def _matching(
    marker: dict[str, Any], forms: Sequence[MonitoringForm], name: str, errors: list[str]
) -> MonitoringForm | None:
    if marker.get("version") != FORM_VERSION:
        errors.append(
            f"файл «{name}» — форма другой версии ({marker.get('version')}): заполните форму, "
            "приложенную к этому письму"
        )
        return None
    for form in forms:
        if (marker.get("roadmap"), marker.get("center"), marker.get("period")) == (
            form.roadmap_code,
            form.center_code,
            form.period,
        ):
            return form
    expected = forms[0]
    center = str(marker.get("center", ""))[:40]
    period = parse_period(str(marker.get("period", "")))
    when = period.title if period is not None else str(marker.get("period", ""))[:20]
    errors.append(
        f"файл «{name}» — форма центра {center} за {when}, а письмо — о центре "
        f"{expected.center_code} за {expected.period_title}: заполните форму, приложенную "
        "к этому письму"
    )
    return None


def _values(
    reading: _Reading, stored: StoredRoadmap
) -> tuple[list[tuple[Indicator, str, float, str, int]], list[str]]:
    """The filled cells checked by the import's validators: (indicator, text, value, cell,
    column) and the errors by cell."""
    checked: list[tuple[Indicator, str, float, str, int]] = []
    errors: list[str] = []
    for code, text, ref, column in reading.cells:
        if not text:
            continue
        try:
            indicator = stored.definition.indicator(code)
        except KeyError:
            errors.append(f"ячейка {ref}: показателя больше нет в дорожной карте")
            continue
        try:
            value = parse_value(indicator, text)
        except ValueError as exc:
            errors.append(f"ячейка {ref}: {exc}")
            continue
        checked.append((indicator, text, value, ref, column))
    if not errors and not checked:
        refs = [ref for _code, _text, ref, _column in reading.cells]
        span = f", ячейки {refs[0]}–{refs[-1]}" if refs else ""
        errors.append(f"в форме не заполнено ни одно значение (столбец «Значение»{span})")
    return checked, errors


def _shown(indicator: Indicator, value: float) -> str:
    unit = UNIT_TITLES[indicator.unit]
    sep = "" if indicator.unit is IndicatorUnit.PERCENT else " "
    return f"{indicator.name} — {format_value(indicator, value)}{sep}{unit}"


def returned_form(
    conn: Connection,
    inbound_id: int,
    parsed: Parsed,
    letter_id: int,
    *,
    now: datetime,
    accepting: bool = False,
    actor: Actor = SYSTEM_ACTOR,
) -> FormResult | None:
    """Read the form a matched reply carries back, record or keep it, answer the school.

    Args:
        conn: the write transaction recording the message.
        inbound_id: the message's row.
        parsed: the message as read.
        letter_id: the outbox row of our letter it answers.
        now: the time of recording.
        accepting: the coordinator accepts it now (`accept_form`): recorded whatever the
            roadmap's ``monitoring.forms`` says.
        actor: who records the values (the daemon; the coordinator who accepts).

    Returns:
        None when the letter carried no form or the reply no spreadsheet; else what was
        done (the message's ``reason`` and ``submission`` are updated to say so).

    Raises:
        AccessDenied, EffectiveDateRefused: when accepting, the acceptor may not record
            the center's values, or its date is refused: the acceptor's faults, not the
            school's, raised rather than written into the school's answer.
    """
    forms = _letter_forms(conn, letter_id)
    files = [a for a in parsed.attachments if _spreadsheet_like(a)]
    if not forms or not files:
        return None
    stored = resolve(conn, forms[0].roadmap_code)
    errors: list[str] = []
    readings: list[tuple[Attachment, _Reading]] = []
    for attachment in files:
        refused = _judge(attachment)
        if refused is not None:
            errors.append(refused)
            continue
        reading = _read(attachment, forms)
        errors += reading.errors
        readings.append((attachment, reading))
    if not errors and len(readings) > 1:
        errors.append(f"к письму приложено {len(readings)} формы: пришлите одну заполненную форму")
    attachment, reading = readings[0] if readings else (files[0], _Reading())
    form = reading.form or forms[0]
    checked: list[tuple[Indicator, str, float, str, int]] = []
    if not errors:
        checked, errors = _values(reading, stored)
    policy = stored.definition.monitoring.forms
    record_now = accepting or policy is FormsPolicy.RECORD
    recorded = 0
    lines = [_shown(i, v) for i, _t, v, _r, _c in checked]
    if not errors and record_now:
        try:
            result = record_in(
                conn,
                stored,
                _rows(form, stored, checked),
                filename=attachment.name,
                actor=actor,
                now=now,
                source=f"форма {attachment.sha256}, письмо №\u00a0{inbound_id} "
                f"{parsed.message_id or ''}".strip(),
            )
        except ImportFileError as exc:
            errors += [p.message for p in exc.problems]
        except TochkaError as exc:
            if accepting and isinstance(exc, AccessDenied | EffectiveDateRefused):
                raise
            errors.append(str(exc.message))
        else:
            recorded = result.recorded
            status = {str(v["indicator"]): str(v["status"]) for v in result.values}
            lines = [
                _shown(i, v) + (" (без изменений)" if status.get(i.code) == "unchanged" else "")
                for i, _t, v, _r, _c in checked
            ]
    center = f"{form.center_code} «{form.center_name}»"
    pending = not errors and not record_now
    if errors:
        reason = (
            f"форма мониторинга не принята ({len(errors)} ошиб.: {errors[0]}"
            + ("; …" if len(errors) > 1 else "")
            + "); ничего не записано, школе отправлен ответ"
        )
    elif pending:
        reason = (
            f"форма мониторинга проверена: {len(checked)} знач. ждут решения координатора; "
            "школе отправлен ответ"
        )
    else:
        reason = (
            f"форма мониторинга принята: записано значений {recorded} ({form.center_code}, "
            f"{form.period_title}); школе отправлен ответ"
        )
    signature = stored.definition.signature
    queue_form_reply(
        conn,
        FormReply(
            key=f"form-reply:{inbound_id}" + (":accepted" if accepting else ""),
            recipient=Recipient(email=parsed.from_addrs[0], name=form.center_name),
            reply_to=form.reply_to,
            signature=signature,
            center=center,
            period_title=form.period_title,
            filename=attachment.name,
            values=tuple(lines),
            errors=tuple(errors),
            pending=pending,
        ),
        now=now,
    )
    conn.execute(
        INBOUND.update()
        .where(INBOUND.c.id == inbound_id)
        .values(
            reason=reason,
            submission=SubmissionState.PENDING.value if pending else None,
        )
    )
    return FormResult(reason=reason, recorded=recorded, errors=tuple(errors), pending=pending)


def _rows(
    form: MonitoringForm,
    stored: StoredRoadmap,
    checked: Sequence[tuple[Indicator, str, float, str, int]],
) -> list[RawRow]:
    """The values as the import's rows: one per period label (a fourth quarter's form
    holds the per-year indicators too, reported for the year)."""
    period = parse_period(form.period)
    labels = (
        {i.code: label for i, label in required_indicators(stored.definition, period)}
        if period is not None
        else {}
    )
    by_label: dict[str, list[RawValue]] = {}
    for indicator, text, _value, ref, column in checked:
        by_label.setdefault(labels.get(indicator.code, form.period), []).append(
            RawValue(indicator=indicator.code, text=text, column=column, field=ref)
        )
    return [
        RawRow(center=form.center_code, period=label, values=tuple(values))
        for label, values in by_label.items()
    ]


def kept_form(conn: Connection, inbound_id: int) -> MonitoringForm | None:
    """The monitoring form the message ``inbound_id`` brings back, as `returned_form`
    sees one: the letter it answers carried a form and it has a spreadsheet attached
    (None: not a returned form). The spreadsheet itself is read by `accept_form`."""
    row = conn.execute(
        sa.select(INBOUND.c.raw, INBOUND.c.outbox_id).where(INBOUND.c.id == inbound_id)
    ).first()
    if row is None or row.raw is None or row.outbox_id is None:
        return None
    forms = _letter_forms(conn, int(row.outbox_id))
    if forms and any(_spreadsheet_like(a) for a in parse(bytes(row.raw)).attachments):
        return forms[0]
    return None


def accept_form(
    conn: Connection, inbound_id: int, *, now: datetime, actor: Actor = SYSTEM_ACTOR
) -> FormResult | None:
    """Record the values of a form kept for acceptance (``monitoring.forms: accept``),
    in the caller's transaction (``tochka replies accept N``'s).

    The stored message is read again, through the same checks (`returned_form`); the
    school is answered with the values taken or, if the center's state or the roadmap
    changed since, with the errors. ``actor``: the coordinator who accepts, recorded as
    the values' author (checked by `workflow.engine.indicators.record_in`).

    Returns:
        None when the message carries no form back (the caller accepts it as it does
        any submission).

    Raises:
        AccessDenied, EffectiveDateRefused: as `returned_form` when accepting.
    """
    row = conn.execute(
        sa.select(INBOUND.c.raw, INBOUND.c.outbox_id).where(INBOUND.c.id == inbound_id)
    ).first()
    if row is None or row.raw is None or row.outbox_id is None:
        return None
    return returned_form(
        conn,
        inbound_id,
        parse(bytes(row.raw)),
        int(row.outbox_id),
        now=now,
        accepting=True,
        actor=actor,
    )
