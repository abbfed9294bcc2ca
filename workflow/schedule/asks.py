"""What a reminder asks its reader to do: the action, the documents, how to send them.

Each recipient of a deadline has a role (`workflow.roadmap.definition.PartyKind`): the
department (the coordinator: its measure cycles), the federal operator (its part of a
measure), a municipality (its centers' stages), a school (its center's stages and its
indicator submissions). A letter asks its reader for *its* action with the documents
*it* sends: the evidence kinds a party provides (``provided_by`` in the roadmap file),
the documents a stage asks of the school (``stages[i].documents``), the indicators a
school has not submitted yet. Pure wording, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from notifications.ics import cohort_text, month_title, repeat_text, split_repeat
from notifications.values import item_number
from states.center import STATE_TITLES as CENTER_TITLES
from states.center import CenterState
from workflow.roadmap.definition import Measure, Party, PartyKind, Roadmap, StageRule
from workflow.roadmap.indicators import parse_period
from workflow.roadmap.parties import NOBODY_HINTS, NOBODY_REASONS, Nobody, doers

#: The most names an overdue item lists of who owes it; the rest are counted.
MAX_OWNERS_SHOWN = 10

#: What a school is asked to do for each stage of its center.
SCHOOL_STAGE_ACTIONS: dict[str, str] = {
    CenterState.INFRASTRUCTURE_AGREED.value: (
        "подготовьте и согласуйте с координатором сведения для инфраструктурного листа центра"
    ),
    CenterState.EQUIPPED.value: (
        "завершите оснащение центра и приведение его помещений в соответствие "
        "с методическими рекомендациями Минпросвещения России"
    ),
    CenterState.STAFF_TRAINED.value: (
        "завершите обучение педагогов центра по программам из реестра федерального оператора"
    ),
    CenterState.OPENED.value: "откройте центр и сообщите координатору об открытии",
    CenterState.REPORTING.value: (
        "начните ежеквартальную отчётность центра: значения показателей за каждый квартал "
        "сдаются ответом на письмо о мониторинге"
    ),
}


@dataclass(frozen=True, kw_only=True)
class AskText:
    """The body of one reminder for one reader.

    Attributes:
        role: the reader's role (a `PartyKind` value, ``department`` for the coordinator).
        action: what the reader is asked to do, a Russian sentence with a capital letter.
        documents: what the reader sends (Russian names), in the roadmap's order.
        missing: the indicators still missing (monitoring letters to a school).
        received: the values the same school has already submitted for the period.
        how: how to send them: reply to this letter, to whom.
        owners: for the coordinator: who else owes the item (names).
        owners_label: how the letter introduces ``owners``.
    """

    role: str
    action: str
    documents: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    how: str = ""
    owners: tuple[str, ...] = ()
    owners_label: str = ""


#: How the coordinator's letter introduces who else owes an item.
ALSO_REMINDED = "Напоминание получили также"
OWING_INDICATORS = "Показатели ещё не сдали"
OVERDUE_AT = "Просрочено у"


def period_title(period: str, *, cohort: bool = False) -> str:
    """A period label as people read it: «II квартал 2023 г.», «2022 г.», «март 2022 г.»
    (a monthly cycle, ``2022-03``), «15.04.2021», «пункт 2.3» (an item's cycle, ``2020/2.3``),
    «центр N1» (a relative deadline's cycle after a center's stage). It is read in
    parentheses or after «период:», so a re-created cycle (``"центр N1#2"``) reads
    «центр N1, повторно», the third «…, 3-й раз». ``cohort``: the label is a cohort's
    year (a ``per_cohort`` measure, due the year before): «центры 2023 г.»."""
    base, count = split_repeat(period)
    text = cohort_text(base) if cohort else _base_title(base)
    return f"{text}, {repeat_text(count)}" if count > 1 else text


def _base_title(period: str) -> str:
    if (number := item_number(period)) is not None:
        return f"пункт {number}"
    parsed = parse_period(period)
    if parsed is not None:
        return parsed.title if parsed.quarter is not None else f"{parsed.year} г."
    if (month := month_title(period)) is not None:
        return month
    try:
        return f"{date.fromisoformat(period):%d.%m.%Y}"
    except ValueError:
        return period


def _coordinator_name(roadmap: Roadmap) -> tuple[str, str]:
    try:
        party = roadmap.party(roadmap.coordinator)
    except KeyError:
        return "координатор", ""
    return party.name, party.email


def reply_how(roadmap: Roadmap, what: str) -> str:
    """«Ответьте на это письмо, приложив …: ответ получит <координатор> (<адрес>).»"""
    name, email = _coordinator_name(roadmap)
    to = f"{name} ({email})" if email else name
    return f"Ответьте на это письмо, {what}: ответ получит {to}."


def party_documents(roadmap: Roadmap, measure: Measure, party_id: str) -> tuple[str, ...]:
    """The measure's documents the party sends (evidence kinds it provides)."""
    result: list[str] = []
    for kind_id in measure.evidence:
        try:
            kind = roadmap.evidence_kind(kind_id)
        except KeyError:
            continue
        if (kind.provided_by or roadmap.coordinator) == party_id:
            result.append(kind.name)
    return tuple(result)


def owners_shown(names: Sequence[str]) -> tuple[str, ...]:
    """At most `MAX_OWNERS_SHOWN` names, the rest as «и ещё N»."""
    shown = tuple(n for n in names if n)
    if len(shown) <= MAX_OWNERS_SHOWN:
        return shown
    rest = len(shown) - MAX_OWNERS_SHOWN
    return (*shown[:MAX_OWNERS_SHOWN], f"и ещё {rest}")


def stage_rule(roadmap: Roadmap, stage: str) -> StageRule | None:
    """The roadmap's rule of a center stage, or None."""
    for rule in roadmap.stages:
        if rule.stage == stage:
            return rule
    return None


def coordinator_cycle(
    roadmap: Roadmap,
    measure: Measure,
    party_id: str,
    owners: Sequence[str],
    *,
    owners_label: str = ALSO_REMINDED,
) -> AskText:
    """The coordinator's own measure cycle: do it, record it with its documents."""
    documents = party_documents(roadmap, measure, party_id)
    action = "Выполните мероприятие и отметьте его выполненным в Tochka"
    action += ", приложив документы." if documents else "."
    return AskText(
        role=PartyKind.DEPARTMENT.value,
        action=action,
        documents=documents,
        how="Отметка о выполнении и документы вносятся в Tochka.",
        owners=owners_shown(owners),
        owners_label=owners_label if owners else "",
    )


def party_cycle(roadmap: Roadmap, measure: Measure, party_id: str, role: str) -> AskText:
    """Another responsible party (the federal operator): its part, its documents."""
    documents = party_documents(roadmap, measure, party_id)
    if documents:
        return AskText(
            role=role,
            action="Просим выполнить вашу часть мероприятия и направить документы.",
            documents=documents,
            how=reply_how(roadmap, "приложив документы"),
        )
    return AskText(
        role=role,
        action="Просим сообщить о выполнении вашей части мероприятия.",
        how=reply_how(roadmap, "коротко сообщив, что сделано"),
    )


def school_monitoring(
    roadmap: Roadmap, period: str, missing: Sequence[str], received: Sequence[str] = ()
) -> AskText:
    """A school that owes the period's indicators: which ones, what it has already sent,
    and how to submit."""
    when = period_title(period)
    return AskText(
        role=PartyKind.SCHOOL.value,
        action=f"Сдайте значения показателей центра за {when}"
        + ("" if when.endswith(".") else "."),
        missing=tuple(missing),
        received=tuple(received),
        how=reply_how(
            roadmap,
            "приложив заполненную форму из вложения (файл .xlsx) или указав по строке на "
            "показатель его название и значение (доли — в процентах)",
        ),
    )


def school_stage(roadmap: Roadmap, stage: str) -> AskText:
    """The school's own stage: what it does, what it sends."""
    rule = stage_rule(roadmap, stage)
    documents = rule.documents if rule is not None else ()
    action = SCHOOL_STAGE_ACTIONS.get(stage, "выполните этап центра")
    action = action[0].upper() + action[1:] + "."
    return AskText(
        role=PartyKind.SCHOOL.value,
        action=action,
        documents=documents,
        how=reply_how(roadmap, "приложив документы" if documents else "сообщив о выполнении"),
    )


def municipality_stage(roadmap: Roadmap, stage: str, school: str) -> AskText:
    """The municipality of a center: see that its school does the stage."""
    rule = stage_rule(roadmap, stage)
    documents = rule.documents if rule is not None else ()
    title = CENTER_TITLES[CenterState(stage)]
    return AskText(
        role=PartyKind.MUNICIPALITY.value,
        action=(
            f"Проконтролируйте, чтобы школа ({school}) выполнила этап «{title}»"
            + (" и направила документы." if documents else ".")
        ),
        documents=documents,
        how=reply_how(roadmap, "переслав документы школы" if documents else "сообщив о выполнении"),
    )


def coordinator_stage(owners: Sequence[str]) -> AskText:
    """The coordinator told of a center's overdue stage (folded into its own digest)."""
    return AskText(
        role=PartyKind.DEPARTMENT.value,
        action=(
            "Срок этапа прошёл, этап не отмечен. Свяжитесь со школой и муниципалитетом; "
            "когда документы получены, отметьте этап в Tochka."
        ),
        owners=owners_shown(owners),
        owners_label=OVERDUE_AT if owners else "",
    )


def coordinator_escalation(owners: Sequence[str]) -> AskText:
    """The coordinator told of another party's overdue part of a measure."""
    return AskText(
        role=PartyKind.DEPARTMENT.value,
        action=(
            "Срок прошёл, мероприятие не отмечено выполненным. Свяжитесь с ответственными; "
            "когда документы получены, отметьте выполнение в Tochka."
        ),
        owners=owners_shown(owners),
        owners_label=OVERDUE_AT if owners else "",
    )


def per_center_cycle(
    roadmap: Roadmap, measure: Measure, party_id: str, role: str, centers: Sequence[str]
) -> AskText:
    """A center's education authority or school reminded for a measure whose party
    stands for each center's own (`workflow.roadmap.parties`): the measure's action for
    its centers, with the documents the party provides."""
    documents = party_documents(roadmap, measure, party_id)
    shown = owners_shown(centers)
    if role == PartyKind.MUNICIPALITY.value:
        where = "по центрам «Точка роста» вашего муниципального образования"
        if shown:
            where += f" ({', '.join(shown)})"
    else:
        where = "в вашей школе" + (f" (центр «Точка роста»: {', '.join(shown)})" if shown else "")
    if documents:
        return AskText(
            role=role,
            action=f"Просим выполнить мероприятие {where} и направить документы.",
            documents=documents,
            how=reply_how(roadmap, "приложив документы"),
        )
    return AskText(
        role=role,
        action=f"Просим выполнить мероприятие {where} и сообщить о выполнении.",
        how=reply_how(roadmap, "коротко сообщив, что сделано"),
    )


def _unaddressed_text(municipalities: Sequence[str]) -> str:
    names = ", ".join(owners_shown(municipalities))
    return (
        f"У муниципалитетов без адреса ({names}) напоминание получаете вы: передайте его "
        "органам управления образованием или загрузите их адреса (tochka municipalities "
        "import)."
    )


@dataclass(frozen=True, kw_only=True)
class NobodyNote:
    """Per-center parties with nobody to remind, and why (no center to reach).

    Attributes:
        parties: the measure's per-center parties (`workflow.roadmap.parties`).
        reason: why they have nobody.
    """

    parties: tuple[Party, ...]
    reason: Nobody


def _nobody_text(note: NobodyNote) -> str:
    return (
        f"Мероприятие выполняют {doers(note.parties)}, но {NOBODY_REASONS[note.reason]}: "
        f"напоминаем вам. Передайте напоминание исполнителям; {NOBODY_HINTS[note.reason]}."
    )


def coordinator_unaddressed(
    municipalities: Sequence[str],
    owners: Sequence[str],
    *,
    overdue: bool,
    nobody: NobodyNote | None = None,
) -> AskText:
    """The coordinator reminded in the place of municipalities that have no address, or
    of per-center parties that have nobody to remind (``nobody``: no center yet)."""
    parts = ["Срок прошёл, мероприятие не отмечено выполненным."] if overdue else []
    if nobody is not None:
        parts.append(_nobody_text(nobody))
    if municipalities:
        if not overdue and nobody is None:
            parts.append("Мероприятие выполняют муниципалитеты.")
        parts.append(_unaddressed_text(municipalities))
    return AskText(
        role=PartyKind.DEPARTMENT.value,
        action=" ".join(parts),
        owners=owners_shown(owners),
        owners_label=(OVERDUE_AT if overdue else ALSO_REMINDED) if owners else "",
    )


def with_unaddressed(
    text: AskText, municipalities: Sequence[str], *, nobody: NobodyNote | None = None
) -> AskText:
    """The coordinator's own ask, told also of the municipalities without an address
    and of per-center parties that have nobody to remind."""
    extra = [_nobody_text(nobody)] if nobody is not None else []
    if municipalities:
        extra.append(_unaddressed_text(municipalities))
    if not extra:
        return text
    return replace(text, action=" ".join([text.action, *extra]))
