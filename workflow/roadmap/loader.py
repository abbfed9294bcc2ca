"""Reading and validating a roadmap definition file (YAML).

The file is parsed with PyYAML's safe composer into a node tree, which keeps every
value's line and column and shows a key written twice. The tree becomes plain data
(nothing is constructed from YAML tags: a scalar that is not a string, a decimal integer
or a boolean stays the text written, so an unquoted ``2021-02-30`` is reported as a
non-existent date instead of crashing the timestamp constructor), which the pydantic
models of `workflow.roadmap.schema` validate. Their errors are put back on the nodes:
every problem carries its line, column and field, and all of them are reported together
in one `RoadmapFileError`. ``tochka roadmap schema`` prints the same rules as a JSON
Schema.

Format (version 1)::

    format: 1                         # required, the only supported version
    code: ivanovo-2021-2023           # roadmap id: [a-z0-9] words joined by single "-"
    title: "..."                      # Russian, verbatim from the decree
    decree: "Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп"
    amended_by:                       # optional; the decree a new version follows: loading
      number: "45-рп"                 # it (tochka roadmap load) names it in the audit event
      date: "15.03.2023"              # and in each moved cycle's revision; tochka roadmap
      title: "О внесении изменений в распоряжение ... № 159-рп"   # diff shows the changes
    region: "Ивановская область"
    period: {start: "2021-01-01", end: "2023-12-31"}
    cohorts: {first: 2022, last: 2023}   # optional; the years centers are created in
                                      # (inside the period); default: every program year
    timezone: Europe/Moscow           # an IANA zone name known to zoneinfo
    coordinator: department           # party id of the regional coordinator
    parties:                          # id: [a-z][a-z0-9_]*; kind: a PartyKind value
      - {id: department, kind: department, name: "...", email: "coordinator@example.org",
         contact: "Анна Петровна"}    # optional: whom letters greet («Здравствуйте, …!»);
                                      # without it «Добрый день!»
      - {id: municipalities, kind: municipality, name: "органы управления образованием"}
                                      # email optional for kind municipality or school
                                      # only: the party stands for each center's
                                      # authority or school (`workflow.roadmap.parties`)
    evidence_kinds:                   # id: [a-z][a-z0-9_]*
      - {id: government_decree, name: "распоряжение Правительства Ивановской области"}
      - {id: operator_letter, name: "письмо федерального оператора",
         provided_by: federal_operator}   # optional: who sends it; default the coordinator
    measures:
      - number: 1                     # positive integer, unique
        title: "<verbatim>"
        responsible: [department]     # party ids, at least one
        responsible_text: "<verbatim>"
        result: "<verbatim>"
        evidence: [government_decree] # evidence kind ids that closing a cycle requires
        deadline_text: "07.12.2020"
        recurrence: {kind: once, first_due: "2020-12-07"}
        done:                         # optional, once/once_then_as_needed only: already
          on: "2020-12-07"            # done on this day (not in the future): the cycle is
          evidence:                   # recorded done as history, never reminded; one
            government_decree: "№ 159-рп от 07.12.2020"  # text per evidence kind
    stages:                           # stage: a CenterState value after "planned"
      - {stage: infrastructure_agreed, measure: 3}     # the deadline comes from the
                                                       # by_schedule measure's cycles
      - {stage: equipped, measure: 7, due: "25.08"}    # DD.MM in the cohort year
      - {stage: infrastructure_agreed, measure: 4, due: "01.12",
         year: cohort-1}                               # optional: cohort (default),
                                                       # cohort-1: the year before, cohort+1
      - {stage: reporting, measure: 9, due: "01.10", starts: true}
      - {stage: opened, measure: 8, due: "01.09",
         documents: ["ссылка на публикацию об открытии центра"]}  # optional: what the
                                                       # school sends for the stage
    reminders:                        # optional; these are the defaults
      days_before: [14, 3]            # distinct positive integers
      on_day: true
      overdue_every_days: 7           # positive integer
      overdue_rungs: 4                # 0..52 overdue reminders; then the item is in the
                                      # coordinator's weekly summary only
      escalate_to: department         # a party id; defaults to the coordinator
    closing:                          # optional; how the program closes
      grace_days: 90                  # 0..366 days after the period's end the
                                      # roadmap is closed, nothing more is sent (default 90)
      measures: [9]                   # the reports that close the program: reminded after
                                      # its end until then (default: every measure)
    permissions:                      # optional; who may fire which trigger
      center:                         # center triggers; roles: coordinator, municipality,
        equip: [coordinator, municipality]   # school, system (the daemon)
      cycle:
        mark_overdue: [system, coordinator]
    indicators:                       # optional; what centers report (measure 9)
      - code: natsci_students         # [a-z][a-z0-9_]*, unique
        name: "Численность обучающихся ..."   # Russian, as reports print it
        unit: persons                 # persons, units (whole numbers) or percent (0..100)
        period: quarter               # quarter ("2022-Q3") or year ("2022")
        target: 100                   # optional: a value at or above it meets the target
        max: 5000                     # optional: the largest acceptable value
    monitoring:                       # optional; the returned monitoring forms (the XLSX
      forms: record                   # a school's measure-9 letter attaches): record
                                      # (default) records a valid form's values at once;
                                      # accept keeps them for `tochka replies accept`
    signature:                        # optional; the block every letter ends with
      department: "..."               # optional; defaults to the coordinator party's name
      contact: "Иванова Анна Петровна, главный специалист"   # each key optional
      phone: "+7 (4932) ..."
      address: "153000, г. Иваново, ..."

Recurrence kinds are the `Recurrence` values. ``first_due`` is required for ``once``,
``once_then_as_needed``, ``annual``, ``quarterly``, ``monthly`` and ``dates_yearly``
(unless a deadline rule ``due`` replaces it) and forbidden for ``as_needed``,
``by_schedule``, ``per_cohort`` and ``after``; it may precede the program start (the
decree's preparatory measures are due in 2020) but not follow its end. The cycles and their
period labels are `workflow.roadmap.recurrence`'s. Every key of ``recurrence``, with one
example each::

    kind: monthly                     # once, once_then_as_needed, annual, quarterly,
                                      # monthly, dates_yearly, per_cohort, after,
                                      # as_needed, by_schedule
    first_due: "2022-02-05"           # the first due date; monthly: due every month on
                                      # that day, reporting the month before ("2022-01");
                                      # a day 29-31 the month lacks is its last day
    until: "2023-06-30"               # optional, recurring kinds: no cycle due after it
                                      # (a cycle due on it is kept); from the first due
                                      # date up to the roadmap's close (period end +
                                      # closing.grace_days); see ``until`` below
    due: {after_period: {days: 5, working: true}}   # monthly/quarterly/annual, instead
                                      # of first_due: «в течение 5 рабочих дней после
                                      # окончания квартала» (working: the Russian calendar;
                                      # without it calendar days, 1-120)
    due: {day_of_next_month: 10}      # «не позднее 10 числа месяца, следующего за
                                      # отчётным кварталом» (1-31; past a month's end: its
                                      # last day)
    first_period: "2022-Q1"           # with due: the first reported period: "2022-01"
                                      # (monthly), "2022-Q1" (quarterly), 2022 (annual)
    dates: ["15.06", "15.12"]         # dates_yearly: DD.MM each year; first_due is one of
                                      # them; labels are the ISO dates ("2022-06-15")
    day: "01.12"                      # per_cohort: one cycle per cohort, due on this day
    year: cohort-1                    # per_cohort: of the year before the cohort's
                                      # (cohort, cohort-N, cohort+N, N 1-5); a date before
                                      # the program for the first cohort is refused
    after: {measure: 4, days: 10}     # kind after: «в течение 10 дней после заключения
                                      # соглашения»: a cycle per done cycle of measure 4
                                      # (labelled with its period), due 10 days after the
                                      # day it was done; or {stage: equipped, days: 5,
                                      # working: true}: a cycle per center that reached
                                      # the stage («центр A1»), due its 5th
                                      # working day after; 1-365 days; not the measure
                                      # itself, no circle (A after B after A)

For example «ежемесячно, до 5 числа месяца, следующего за отчётным» is
``{kind: monthly, first_period: "2022-01", due: {day_of_next_month: 5}}`` (or
``{kind: monthly, first_due: "2022-02-05"}``), and «ежегодно, до 1 декабря года,
предшествующего году создания центров» is ``{kind: per_cohort, day: "01.12", year:
cohort-1}``.

``until`` ends a recurring measure (``annual``, ``quarterly``, ``monthly``,
``dates_yearly``, ``per_cohort``) by its cycles' *due dates*, inclusive: a cycle due on
``until`` is created, the first one due after it and every later one are not. The
reported periods are not cut: with ``{kind: monthly, first_due: "2022-02-05", until:
"2022-04-05"}`` the last cycle is March's report, due 05.04.2022 (``until:
"2022-04-04"`` would end with February's). Without ``until`` the program decides: every
period that starts inside it has its cycle, so an annual measure has one for each
program year. «ежегодно, до 1 ноября, в 2022 - 2024 годах» is ``{kind: annual,
first_due: "2022-11-01", until: "2024-12-31"}``: cycles 2022, 2023 and 2024, none for
2025. Refused: ``until`` for ``once``, ``once_then_as_needed``, ``as_needed``,
``by_schedule`` and ``after`` (a single dated cycle or none); after the roadmap's close
(nothing is reminded then); before the measure's first due date (it would have no cycle).
``tochka roadmap show`` prints it with the measure's rule («сроки не позже 31.12.2024»)
and the due dates it leaves.

Reopening and cancelling, for relative deadlines: only a done source
creates a dependent cycle (a source cycle cancelled while open creates nothing, and a
done cycle is never reopened or cancelled); an open dependent whose source is no longer
done (a center reverted below the stage or withdrawn) is cancelled, with an audited
event naming why; a done dependent stays done; when the source is done again a new
dependent is made, due from the new day and labelled as repeated («центр A1#2», read
«центр A1 (повторно)») (`workflow.roadmap.relative`).

Warnings (`workflow.roadmap.suspicious`, printed by ``tochka roadmap validate`` and
``tochka init``, refusing nothing): a quarterly ``first_due`` that is not 01.01, 01.04,
01.07 or 01.10; a stage with its own ``due`` tied to a ``by_schedule`` measure; a
reporting stage whose ``due`` is on no day its measure's cycles are due on.

``done`` (``on``, ``evidence``) states that a measure with a single cycle was done before
the file was loaded, e.g. by the decree itself: the reconciler records that cycle done on
``on`` with the evidence, through the transition engine, in an audit event naming the
roadmap file (`workflow.schedule.file_done`), and never reminds it. ``evidence`` names
exactly the kinds the measure's ``evidence`` lists. ``on`` may not be in the future (the
loading command's date) nor before the year preceding the program's start; a recurring
(``annual``, ``quarterly``) or operator-opened measure may not have ``done``: its done
cycles are entered with ``tochka adopt`` or ``tochka cycles fire``. A YAML 1.1 tool reads
a bare ``on`` key as true, so the shipped file quotes it (``"on":``); Tochka reads the
key as written either way.

A compound measure (``once`` only) lists its items, each a cycle of its own
(`workflow.roadmap.items`, labelled ``"2020/2.3"``), reminded on its own deadline; the
measure is done when all its items are. The source's footnotes stay with the texts they
qualify. Every key, with one example each::

    due_text: "10 ноября 2020* года"  # optional: the deadline as the source writes it,
                                      # when it carries more than deadline_text (a mark)
    footnotes: {"*": "по согласованию с Минпросвещения России"}   # optional: mark → the
                                      # footnote; a mark (*, **, ¹, ²) in a text without
                                      # its footnote is refused, a footnote no text marks
                                      # is a warning
    items:                            # optional, once measures only; not with done
      - number: "2.1"                 # the measure's number, a dot, the item's; unique
        title: "должностного лица ..."   # verbatim
        due: "2020-12-16"             # optional: the measure's first_due by default
        due: "2022-02"                # a month only («февраль 2022»): its last day,
                                      # 28.02.2022, shown «февраль 2022 г.»
        due_text: "16 декабря 2020* года"   # optional, as the source writes it
        evidence: [department_order]  # optional: the measure's evidence by default
        footnotes: {"*": "..."}       # optional: the item's own footnotes

A month-only date (``"2022-02"``) is also accepted as a ``first_due``: the month's last
day.

Dates are written ``2021-03-01`` or ``01.03.2021``, quoted or not. Field paths in
problems use the English keys and 0-based list indexes: ``measures[3].recurrence.kind``
is the recurrence of the fourth measure in the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from workflow.errors import Problem, RoadmapFileError
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.schema import RoadmapFile, validate_roadmap_data
from workflow.roadmap.schema_fields import ROADMAP_ERROR, SUPPORTED_FORMAT, YamlScalar

__all__ = ["SUPPORTED_FORMAT", "load_roadmap", "parse_roadmap", "parse_stored"]

_TAG_STR = "tag:yaml.org,2002:str"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"
_DECIMAL_RE = re.compile(r"-?[0-9]+")
# The YAML 1.1 true words that PyYAML resolves as booleans.
_TRUE_WORDS = frozenset({"true", "yes", "on"})
# A roadmap has about a thousand values; YAML aliases can multiply a small file into
# billions ("billion laughs"), so the expanded tree is bounded.
_MAX_VALUES = 100_000

Loc = tuple[str | int, ...]


def load_roadmap(path: str | Path, *, now: datetime | None = None) -> Roadmap:
    """Read and validate a roadmap file.

    Args:
        path: the YAML file.
        now: the real time (the command's clock): a measure's ``done`` date after its
            day is refused. None: not checked (a definition read back from the database).

    Returns:
        The validated roadmap; ``content_hash`` is the SHA-256 of the file's bytes and
        ``source`` its text.

    Raises:
        RoadmapFileError: the file cannot be read, is not UTF-8, is not valid YAML or
            breaks the format; ``problems`` lists every problem found.
    """
    filename = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise RoadmapFileError([Problem(file=filename, message="файл не найден")]) from None
    except OSError as exc:
        raise RoadmapFileError(
            [Problem(file=filename, message=f"не удалось прочитать файл: {exc.strerror or exc}")]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(data, exc.start)
        raise RoadmapFileError(
            [
                Problem(
                    file=filename,
                    line=line,
                    column=column,
                    message="файл не в кодировке UTF-8: сохраните его в UTF-8",
                )
            ]
        ) from None
    return _parse(text, data, filename, now=now)


def parse_roadmap(text: str, *, filename: str, now: datetime | None = None) -> Roadmap:
    """Validate a roadmap given as text.

    Args:
        text: the YAML text.
        filename: the name used in problems.
        now: as `load_roadmap`'s.

    Returns:
        The validated roadmap; ``content_hash`` is the SHA-256 of the text in UTF-8.

    Raises:
        RoadmapFileError: the text is not valid YAML or breaks the format.
    """
    return _parse(text, text.encode("utf-8"), filename, now=now)


def parse_stored(source: str, code: str) -> Roadmap:
    """Validate a roadmap's source as the database keeps it (`workflow.roadmap.store`).

    The source passed this module's checks when it was loaded, so libyaml's parser
    composes it when PyYAML has it: the same nodes as the pure-Python loader's (tags,
    values, positions), in 0.7 ms instead of 12 for the shipped roadmap, most of a parse
    that every command resolving a roadmap pays in a new process. Should libyaml refuse
    the source, the pure-Python loader composes it and says what is wrong, as before.

    Raises:
        RoadmapFileError: the source breaks the format (of a newer Tochka, say).
    """
    text = source.removeprefix("\ufeff")
    return _parse(
        text,
        source.encode("utf-8"),
        f"<дорожная карта «{code}» в базе>",
        now=None,
        composed=_compose_fast(text),
    )


def _compose_fast(text: str) -> Node | None:
    """``text`` composed by libyaml's parser; None without libyaml or when it refuses."""
    if not yaml.__with_libyaml__:
        return None
    try:
        return yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None


def _parse(
    text: str,
    data: bytes,
    filename: str,
    *,
    now: datetime | None,
    composed: Node | None = None,
) -> Roadmap:
    # A BOM is legal in a UTF-8 file; the stored source should not carry it.
    text = text.removeprefix("\ufeff")
    try:
        root = composed if composed is not None else yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = yaml_problem(exc.problem or exc.context or "")
        raise RoadmapFileError(
            [
                Problem(
                    file=filename,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    message=f"синтаксическая ошибка YAML: {reason}",
                )
            ]
        ) from None
    except yaml.reader.ReaderError as exc:
        line, column = _char_position(text, exc.position)
        raise RoadmapFileError(
            [
                Problem(
                    file=filename,
                    line=line,
                    column=column,
                    message=f"недопустимый символ U+{exc.character:04X} в файле"
                    if isinstance(exc.character, int)
                    else "недопустимый символ в файле",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise RoadmapFileError(
            [
                Problem(
                    file=filename, message=f"синтаксическая ошибка YAML: {yaml_problem(str(exc))}"
                )
            ]
        ) from None
    if root is None:
        raise RoadmapFileError(
            [Problem(file=filename, line=1, column=1, message="файл пуст: нет дорожной карты")]
        )
    roadmap = _validate(root, filename, now=now)
    return replace(roadmap, content_hash=hashlib.sha256(data).hexdigest(), source=text)


#: PyYAML's problems (English) as a person reads them; the position is given beside.
_YAML_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), text)
    for pattern, text in (
        (r"^expected ',' or '\]', but got '<stream end>'", "список в [ ] не закрыт: нет «]»"),
        (r"^expected ',' or '\}', but got '<stream end>'", "словарь в { } не закрыт: нет «}»"),
        (r"^expected ',' or '\]', but got", "в списке [ ] ожидается «,» или «]»"),
        (r"^expected ',' or '\}', but got", "в словаре { } ожидается «,» или «}»"),
        (
            r"^mapping values are not allowed here",
            "двоеточие здесь недопустимо: значение, "
            "содержащее «: », возьмите в кавычки, или проверьте отступ",
        ),
        (
            r"^found character '\\t' that cannot start any token",
            "табуляция в отступе: отступы делаются пробелами",
        ),
        (
            r"^found character '(.)' that cannot start any token",
            "значение не может начинаться с символа «{0}»: возьмите его в кавычки",
        ),
        (r"^found undefined alias '(.*)'", "ссылка *{0} на неопределённую метку"),
        (r"^found unexpected end of stream", "файл кончился внутри значения: не закрыта кавычка"),
        (r"^second occurrence", "метка & определена второй раз"),
        (r"^expected <block end>, but found", "нарушены отступы: строка не на своём уровне"),
        (r"^could not find expected ':'", "ожидается «:» после ключа"),
        (r"^expected the node content, but found", "ожидается значение"),
        (r"^found unknown escape character", "неизвестная escape-последовательность в кавычках"),
        (r"^found unhashable key", "ключ не может быть списком или словарём"),
    )
)


def yaml_problem(problem: str) -> str:
    """The Russian words for one of PyYAML's problems (never its English text)."""
    for pattern, text in _YAML_PROBLEMS:
        found = pattern.search(problem)
        if found:
            # Not str.format: the texts hold braces («{ }»).
            return text.replace("{0}", found.group(1)) if found.groups() else text
    return "нарушена структура файла (проверьте отступы, двоеточия и кавычки)"


def _validate(root: Node, filename: str, *, now: datetime | None) -> Roadmap:
    """The roadmap the node tree describes, or every problem with it."""
    tree = _Tree(filename)
    data = tree.data(root, ())
    problems = list(tree.problems)
    model: RoadmapFile | None = None
    try:
        model = validate_roadmap_data(data, now=now)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # At one position a mapping's wrong keys read better before the keys it lacks.
        errors.sort(key=lambda error: error["type"] == "missing")
        problems += [tree.problem(error) for error in errors]
    if problems or model is None:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise RoadmapFileError(problems)
    return model.to_definition()


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset in undecodable data."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _char_position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


class _Tree:
    """The node tree as plain data, and the way back from a data location to its node.

    ``values`` maps each location (``("measures", 0, "title")``) to the node holding its
    value and ``keys`` to the node of its key, for errors about the key itself.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.values: dict[Loc, Node] = {}
        self.keys: dict[Loc, Node] = {}
        self.problems: list[Problem] = []
        self._open: set[int] = set()  # the collections being converted: aliases can loop

    def data(self, node: Node, loc: Loc) -> object:
        """The node's value: dicts, lists, and scalars as `schema_fields` describes them."""
        self.values[loc] = node
        if len(self.values) > _MAX_VALUES:
            raise RoadmapFileError(
                [self._at(node, loc, f"слишком много значений: больше {_MAX_VALUES}")]
            )
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if id(node) in self._open:
            raise RoadmapFileError(
                [self._at(node, loc, "значение ссылается само на себя через псевдоним YAML")]
            )
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.data(item, (*loc, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, loc)
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, object]:
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problems.append(self._at(key_node, loc, "ключ должен быть строкой"))
                continue
            key = str(key_node.value)
            key_loc = (*loc, key)
            if key in result:
                # The first value stays: the rest of the file is still checked.
                self.problems.append(self._at(key_node, key_loc, f"ключ «{key}» повторяется"))
                continue
            self.keys[key_loc] = key_node
            result[key] = self.data(value_node, key_loc)
        return result

    def problem(self, error: ErrorDetails) -> Problem:
        """A pydantic error as a problem at its node, in Russian."""
        loc: Loc = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        kind = error["type"]
        if kind == ROADMAP_ERROR and "at" in ctx:
            at = ctx["at"]
            loc = (*loc, *at) if isinstance(at, tuple | list) else (*loc, at)
        if kind == "extra_forbidden":
            node = self.keys[loc]
        else:
            # A missing key (or a rule about an absent one) is reported at its mapping.
            found = loc
            while found not in self.values:
                found = found[:-1]
            node = self.values[found]
        return self._at(node, loc, _message(kind, ctx, node, loc))

    def _at(self, node: Node, loc: Loc, message: str) -> Problem:
        return Problem(
            file=self.filename,
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
            field=_field(loc),
            message=message,
        )


def _scalar(node: ScalarNode) -> object:
    text = str(node.value)
    if node.tag == _TAG_STR:
        return text
    if node.tag == _TAG_INT and _DECIMAL_RE.fullmatch(text):
        return int(text)
    if node.tag == _TAG_BOOL:
        return text.lower() in _TRUE_WORDS
    return YamlScalar(text=text, tag=node.tag)


def _message(kind: str, ctx: dict[str, Any], node: Node, loc: Loc) -> str:
    """Russian for a pydantic error type; our own validators' errors carry their message."""
    what = _kind(node)
    if kind == ROADMAP_ERROR:
        return str(ctx["message"])
    if kind == "missing":
        return f"нет обязательного ключа «{loc[-1]}»"
    if kind == "extra_forbidden":
        return f"неизвестный ключ «{loc[-1]}»; допустимы: {', '.join(_keys_at(loc[:-1]))}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"ожидается словарь (ключ: значение), а не {what}"
    if kind == "list_type":
        return f"ожидается список, а не {what}"
    if kind == "too_short":
        return "список не должен быть пустым"
    if kind in ("string_type", "enum", "literal_error"):
        # An Enum or a Literal gets here only with a non-string: `one_of` words the rest.
        if not isinstance(node, ScalarNode):
            return f"ожидается строка, а не {what}"
        if node.tag == _TAG_NULL:
            return "значение не задано"
        return f"ожидается строка, а не {what}; заключите значение в кавычки"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"ожидается целое число, а не {what}"
    if kind in ("bool_type", "bool_parsing"):
        return f"ожидается true или false, а не {what}"
    if kind == "float_type":
        return f"ожидается число, а не {what}"
    if kind == "greater_than_equal":
        return f"число должно быть не меньше {ctx['ge']:g}"
    return "недопустимое значение"


def _field(loc: Loc) -> str | None:
    """``("measures", 3, "recurrence")`` as ``measures[3].recurrence``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or None


def _keys_at(loc: Loc) -> tuple[str, ...]:
    """The keys a mapping at ``loc`` may hold, in the schema's order."""
    annotation: Any = RoadmapFile
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            annotation = get_args(annotation)[0] if get_origin(annotation) is list else None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part)
            annotation = info.annotation if info else None
        else:
            return ()
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return tuple(annotation.model_fields)
    return ()


def _unwrap(annotation: Any) -> Any:
    """The type under ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, type(int | None)):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _kind(node: Node) -> str:
    """A Russian name for what the node holds, for "expected X, not Y" messages."""
    if isinstance(node, MappingNode):
        return "словарь"
    if isinstance(node, SequenceNode):
        return "список"
    return {
        _TAG_STR: "строка",
        _TAG_INT: "целое число",
        _TAG_BOOL: "логическое значение",
        _TAG_NULL: "пустое значение",
        "tag:yaml.org,2002:float": "дробное число",
        "tag:yaml.org,2002:timestamp": "дата",
    }.get(node.tag, "значение")
