"""Per-center parties: a municipality or school party stands for each center's own.

A party of kind ``municipality`` or ``school`` without an ``email`` of its own is a
*per-center* party (`workflow.roadmap.definition.Party.per_center`): a measure naming it
is reminded to the education authority of every municipality that has a center of the
roadmap (its address from ``tochka municipalities import``), or to every center's school
(the address of the centers file), one letter per recipient and day as always
(`workflow.schedule.per_center` reads the addresses). A measure that a center stage
follows reaches them through the stage's reminders instead (each center's school and
authority, about its own center), never twice.

Where the addresses come from decides what is refused and when:

- school addresses are a required column of the centers file, so a school party always
  has its source;
- municipality addresses are data imported after the file is loaded: the file cannot
  know them. A municipality with centers but no address is named by ``tochka status``,
  and its reminder goes to the coordinator instead, with the municipality named;
- centers are data too: before the first is registered (or once every center is
  withdrawn) a per-center party has nobody to reach. Its measure's reminders, the early
  ones too, go to the coordinator in its place, saying why (`Nobody`), and ``tochka
  status`` and ``tochka init`` warn (`nobody_warnings`);
- a party of any other kind has no source at all: the file refuses it without an
  ``email`` (`workflow.roadmap.schema`), and so it refuses a per-center party as the
  coordinator or as ``reminders.escalate_to``, which are written to at one address.

A municipality or school party *with* an ``email`` keeps that one address; ``roadmap
validate`` and ``init`` warn that it is not routed per center (`fixed_address_warnings`).
Pure: no database.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from enum import StrEnum

from workflow.roadmap.definition import Measure, Party, PartyKind, Roadmap

#: The party kinds that may stand for each center's own (without an address).
PER_CENTER_KINDS: tuple[PartyKind, ...] = (PartyKind.MUNICIPALITY, PartyKind.SCHOOL)

#: Russian names of the per-center recipients, as messages write them.
WHO: dict[PartyKind, str] = {
    PartyKind.MUNICIPALITY: "органу управления образованием муниципалитета каждого центра",
    PartyKind.SCHOOL: "школе каждого центра",
}

#: Who does a per-center party's measure, as «Мероприятие выполняют …» writes it.
DOERS: dict[PartyKind, str] = {
    PartyKind.MUNICIPALITY: "органы управления образованием муниципалитетов центров",
    PartyKind.SCHOOL: "школы центров",
}


class Nobody(StrEnum):
    """Why a per-center party has nobody to remind: no center to take an address from."""

    NO_CENTERS = "no_centers"
    """No center of the roadmap is registered yet (``tochka centers import``)."""
    ALL_WITHDRAWN = "all_withdrawn"
    """Every center of the roadmap is withdrawn."""


#: The reason as the coordinator's letter and the warnings say it.
NOBODY_REASONS: dict[Nobody, str] = {
    Nobody.NO_CENTERS: "ни одного центра ещё не зарегистрировано",
    Nobody.ALL_WITHDRAWN: "все центры исключены из программы",
}

#: What the coordinator can do about it.
NOBODY_HINTS: dict[Nobody, str] = {
    Nobody.NO_CENTERS: "центры загружает tochka centers import",
    Nobody.ALL_WITHDRAWN: "исключённый центр возвращает tochka centers fire КОД revert",
}


def nobody_reason(*, registered: int, active: int) -> Nobody | None:
    """Why per-center parties have nobody, from the roadmap's center counts
    (``registered``: all, ``active``: not withdrawn); None: there is a center."""
    if active > 0:
        return None
    return Nobody.NO_CENTERS if registered == 0 else Nobody.ALL_WITHDRAWN


def doers(parties: Sequence[Party]) -> str:
    """«органы управления образованием муниципалитетов центров и школы центров»."""
    kinds = [k for k in PER_CENTER_KINDS if any(p.kind is k for p in parties)]
    return " и ".join(DOERS[k] for k in kinds)


def per_center_parties(roadmap: Roadmap, measure: Measure) -> tuple[Party, ...]:
    """The measure's responsible parties that stand for each center's own, in order."""
    result: list[Party] = []
    for party_id in measure.responsible:
        try:
            party = roadmap.party(party_id)
        except KeyError:
            continue
        if party.per_center:
            result.append(party)
    return tuple(result)


def followed_by_stage(roadmap: Roadmap, measure: int) -> bool:
    """Whether a center stage follows the measure: its per-center parties are then
    reminded through the stage, center by center, not through the measure's cycles."""
    return any(rule.measure == measure for rule in roadmap.stages)


def routed_per_center(roadmap: Roadmap, measure: Measure) -> tuple[Party, ...]:
    """The per-center parties a cycle of ``measure`` reminds at every center's
    authority or school (none for a measure a stage follows)."""
    if followed_by_stage(roadmap, measure.number):
        return ()
    return per_center_parties(roadmap, measure)


def fixed_address_warnings(roadmap: Roadmap) -> list[str]:
    """Russian warnings about municipality and school parties with one fixed address.

    Such a party is reminded at that one address, never at each center's authority or
    school; the file may mean it (a single district), so this is a warning, not a
    refusal. One sentence per party, in the file's order, without a prefix, as
    `workflow.roadmap.suspicious.suspicious` returns its own (``roadmap validate`` and
    ``init`` print them).
    """
    lines: list[str] = []
    for party in roadmap.parties:
        if party.kind not in PER_CENTER_KINDS or party.per_center:
            continue
        measures = [m.number for m in roadmap.measures if party.id in m.responsible]
        used = " (мероприятия № " + ", ".join(str(n) for n in measures) + ")" if measures else ""
        lines.append(
            f"Участник «{party.id}» ({party.name}) вида «{party.kind.value}» "
            f"получает напоминания{used} по одному адресу {party.email}, а не "
            f"{WHO[party.kind]}. Если напоминать нужно каждому, уберите у участника email."
        )
    return lines


def unaddressed_warnings(roadmap: Roadmap, without_address: Sequence[str]) -> list[str]:
    """For ``tochka status``: the measures a per-center municipality party does whose
    reminders go to the coordinator for ``without_address`` (municipalities with
    centers but no address). Russian, one line per measure."""
    if not without_address:
        return []
    names = ", ".join(f"«{name}»" for name in without_address[:5])
    if len(without_address) > 5:
        names += f" и ещё {len(without_address) - 5}"
    return [
        f"мероприятие № {m.number} выполняют муниципалитеты каждого центра, но нет адреса "
        f"у муниципалитетов: {names}; их напоминания получает координатор "
        "(адреса загружает tochka municipalities import)."
        for m in roadmap.measures
        if any(p.kind is PartyKind.MUNICIPALITY for p in routed_per_center(roadmap, m))
    ]


def nobody_warnings(
    roadmap: Roadmap, reason: Nobody | None, measures: Collection[int] | None = None
) -> list[str]:
    """For ``tochka status`` and ``tochka init``: the measures whose per-center parties
    have nobody to remind for ``reason`` (none: there is a center), so the coordinator is
    reminded in their place. ``measures``: only these (the ones that still remind);
    None: every such measure. Russian, one line per measure, without a prefix."""
    if reason is None:
        return []
    lines = []
    for m in roadmap.measures:
        routed = routed_per_center(roadmap, m)
        if not routed or (measures is not None and m.number not in measures):
            continue
        lines.append(
            f"мероприятие № {m.number}: некому напоминать — его выполняют {doers(routed)}, "
            f"а {NOBODY_REASONS[reason]}; его напоминания получает координатор "
            f"({NOBODY_HINTS[reason]})."
        )
    return lines
