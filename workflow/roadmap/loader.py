"""Reading and validating a roadmap definition file (YAML).

The file is parsed with PyYAML's safe composer and validated node by node, so every
problem carries its line and column; all problems are collected and reported together
in one `RoadmapFileError`. Nothing is constructed from YAML tags: scalars are read as
the text written in the file, which is why an unquoted ``2021-02-30`` is reported as a
non-existent date instead of crashing the timestamp constructor.

Format (version 1)::

    format: 1                         # required, the only supported version
    code: ivanovo-2021-2023           # roadmap id: [a-z0-9] words joined by single "-"
    title: "..."                      # Russian, verbatim from the decree
    decree: "Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп"
    region: "Ивановская область"
    period: {start: "2021-01-01", end: "2023-12-31"}
    timezone: Europe/Moscow           # an IANA zone name known to zoneinfo
    coordinator: department           # party id of the regional coordinator
    parties:                          # id: [a-z][a-z0-9_]*; kind: a PartyKind value
      - {id: department, kind: department, name: "...", email: "coordinator@example.org"}
    evidence_kinds:                   # id: [a-z][a-z0-9_]*
      - {id: government_decree, name: "распоряжение Правительства Ивановской области"}
    measures:
      - number: 1                     # positive integer, unique
        title: "<verbatim>"
        responsible: [department]     # party ids, at least one
        responsible_text: "<verbatim>"
        result: "<verbatim>"
        evidence: [government_decree] # evidence kind ids that closing a cycle requires
        deadline_text: "07.12.2020"
        recurrence: {kind: once, first_due: "2020-12-07"}
    stages:                           # stage: a CenterState value after "planned"
      - {stage: infrastructure_agreed, measure: 3}     # the deadline comes from the
                                                       # by_schedule measure's cycles
      - {stage: equipped, measure: 7, due: "25.08"}    # DD.MM in the cohort year
      - {stage: reporting, measure: 9, due: "01.10", starts: true}
    reminders:                        # optional; these are the defaults
      days_before: [14, 3]            # distinct positive integers
      on_day: true
      overdue_every_days: 7           # positive integer
      escalate_to: department         # a party id; defaults to the coordinator
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

Recurrence kinds are the `Recurrence` values. ``first_due`` is required for ``once``,
``once_then_as_needed``, ``annual`` and ``quarterly`` and forbidden for ``as_needed``
and ``by_schedule``; it may precede the program start (the decree's preparatory
measures are due in 2020) but not follow its end.

Dates are written ``2021-03-01`` or ``01.03.2021``, quoted or not. Field paths in
problems use the English keys and 0-based list indexes: ``measures[3].recurrence.kind``
is the recurrence of the fourth measure in the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from states.center import LIFECYCLE, CenterState, CenterTrigger
from states.cycle import CycleTrigger
from workflow.errors import Problem, RoadmapFileError
from workflow.imports.centers_file import is_valid_email
from workflow.roadmap.definition import (
    PERMISSION_ROLES,
    EvidenceKind,
    Indicator,
    IndicatorPeriod,
    IndicatorUnit,
    Measure,
    Party,
    PartyKind,
    Recurrence,
    ReminderPolicy,
    Roadmap,
    StageRule,
)

__all__ = ["SUPPORTED_FORMAT", "load_roadmap", "parse_roadmap"]

SUPPORTED_FORMAT = 1

_TAG_STR = "tag:yaml.org,2002:str"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

_CODE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ID_RE = re.compile(r"[a-z][a-z0-9_]*")
_CODE_RULE = "строчные латинские буквы, цифры и дефис"
_ID_RULE = "строчные латинские буквы, цифры и «_», первая — буква"
_DECIMAL_RE = re.compile(r"[0-9]+")
_ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_RU_DATE_RE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})")
_DAY_MONTH_RE = re.compile(r"([0-9]{2})\.([0-9]{2})")
# The YAML 1.1 true words that PyYAML resolves as booleans.
_TRUE_WORDS = frozenset({"true", "yes", "on"})

_NEEDS_FIRST_DUE = frozenset(
    {Recurrence.ONCE, Recurrence.ONCE_THEN_AS_NEEDED, Recurrence.ANNUAL, Recurrence.QUARTERLY}
)
# "planned" is where every center starts and "withdrawn" is not a step of the plan,
# so only the stages after "planned" can be tied to a measure.
_STAGE_VALUES: tuple[str, ...] = tuple(s.value for s in LIFECYCLE[1:])

_TOP_REQUIRED = (
    "format",
    "code",
    "title",
    "decree",
    "region",
    "period",
    "timezone",
    "coordinator",
    "parties",
    "evidence_kinds",
    "measures",
    "stages",
)
_TOP_OPTIONAL = ("reminders", "indicators", "permissions")


def load_roadmap(path: str | Path) -> Roadmap:
    """Read and validate a roadmap file.

    Args:
        path: the YAML file.

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
    return _parse(text, data, filename)


def parse_roadmap(text: str, *, filename: str) -> Roadmap:
    """Validate a roadmap given as text.

    Args:
        text: the YAML text.
        filename: the name used in problems.

    Returns:
        The validated roadmap; ``content_hash`` is the SHA-256 of the text in UTF-8.

    Raises:
        RoadmapFileError: the text is not valid YAML or breaks the format.
    """
    return _parse(text, text.encode("utf-8"), filename)


def _parse(text: str, data: bytes, filename: str) -> Roadmap:
    # A BOM is legal in a UTF-8 file; the stored source should not carry it.
    text = text.removeprefix("\ufeff")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "ошибка разбора"
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
            [Problem(file=filename, message=f"синтаксическая ошибка YAML: {exc}")]
        ) from None
    if root is None:
        raise RoadmapFileError(
            [Problem(file=filename, line=1, column=1, message="файл пуст: нет дорожной карты")]
        )
    roadmap = _Validator(filename).roadmap(root)
    return replace(roadmap, content_hash=hashlib.sha256(data).hexdigest(), source=text)


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset in undecodable data."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _char_position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


@dataclass(frozen=True, kw_only=True)
class _MeasureRef:
    """What the stage checks need to know about a declared measure."""

    recurrence: Recurrence | None


class _Validator:
    """Walks the composed node tree, recording every problem; builds the roadmap if none.

    Each reader returns None when its value is unusable, after recording why; callers
    skip checks that depend on an unusable value so one mistake is reported once.
    Readers take ``None`` for an absent key and return None without a problem:
    `mapping` has already reported the key as missing if it was required.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []

    # ----------------------------------------------------------------- reporting

    def problem(self, node: Node, path: str, message: str) -> None:
        self.problems.append(
            Problem(
                file=self.filename,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                field=path or None,
                message=message,
            )
        )

    # ------------------------------------------------------------------- readers

    def mapping(
        self,
        node: Node | None,
        path: str,
        *,
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> dict[str, Node] | None:
        """The mapping's values by key, after checking its keys."""
        if node is None:
            return None
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"ожидается словарь (ключ: значение), а не {_kind(node)}")
            return None
        allowed = (*required, *optional)
        result: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key_path = _join(path, key_node.value) if isinstance(key_node, ScalarNode) else path
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, path, "ключ должен быть строкой")
                continue
            key = str(key_node.value)
            if key in result:
                self.problem(key_node, key_path, f"ключ «{key}» повторяется")
                continue
            if key not in allowed:
                self.problem(
                    key_node,
                    key_path,
                    f"неизвестный ключ «{key}»; допустимы: {', '.join(allowed)}",
                )
                continue
            result[key] = value_node
        for key in required:
            if key not in result:
                self.problem(node, _join(path, key), f"нет обязательного ключа «{key}»")
        return result

    def sequence(
        self, node: Node | None, path: str, *, non_empty: bool = False
    ) -> list[Node] | None:
        if node is None:
            return None
        if not isinstance(node, SequenceNode):
            self.problem(node, path, f"ожидается список, а не {_kind(node)}")
            return None
        if non_empty and not node.value:
            self.problem(node, path, "список не должен быть пустым")
            return None
        return list(node.value)

    def string(self, node: Node | None, path: str) -> str | None:
        """A non-blank string; other scalars must be quoted to count as text."""
        if node is None:
            return None
        if not isinstance(node, ScalarNode):
            self.problem(node, path, f"ожидается строка, а не {_kind(node)}")
            return None
        if node.tag == _TAG_NULL:
            self.problem(node, path, "значение не задано")
            return None
        if node.tag != _TAG_STR:
            self.problem(
                node, path, f"ожидается строка, а не {_kind(node)}; заключите значение в кавычки"
            )
            return None
        value = str(node.value)
        if not value.strip():
            self.problem(node, path, "значение не должно быть пустым")
            return None
        return value

    def text(self, node: Node | None, path: str) -> str | None:
        """The written text of any non-empty scalar (dates, DD.MM resolve as other tags)."""
        if node is None:
            return None
        if not isinstance(node, ScalarNode):
            self.problem(node, path, f"ожидается строка, а не {_kind(node)}")
            return None
        value = str(node.value).strip()
        if node.tag == _TAG_NULL or not value:
            self.problem(node, path, "значение не задано")
            return None
        return value

    def integer(self, node: Node | None, path: str, *, minimum: int | None = None) -> int | None:
        if node is None:
            return None
        if (
            not isinstance(node, ScalarNode)
            or node.tag != _TAG_INT
            or not _DECIMAL_RE.fullmatch(str(node.value))
        ):
            self.problem(node, path, f"ожидается целое число, а не {_kind(node)}")
            return None
        value = int(node.value)
        if minimum is not None and value < minimum:
            self.problem(node, path, f"число должно быть не меньше {minimum}")
            return None
        return value

    def boolean(self, node: Node | None, path: str) -> bool | None:
        if node is None:
            return None
        if not isinstance(node, ScalarNode) or node.tag != _TAG_BOOL:
            self.problem(node, path, f"ожидается true или false, а не {_kind(node)}")
            return None
        return str(node.value).lower() in _TRUE_WORDS

    def identifier(
        self, node: Node | None, path: str, *, pattern: re.Pattern[str], rule: str
    ) -> str | None:
        if node is None:
            return None
        value = self.string(node, path)
        if value is None:
            return None
        if not pattern.fullmatch(value):
            self.problem(node, path, f"недопустимый идентификатор «{value}»: допустимы {rule}")
            return None
        return value

    def choice(self, node: Node | None, path: str, allowed: Sequence[str], what: str) -> str | None:
        if node is None:
            return None
        value = self.string(node, path)
        if value is None:
            return None
        if value not in allowed:
            self.problem(
                node, path, f"неизвестный {what} «{value}»; допустимы: {', '.join(allowed)}"
            )
            return None
        return value

    def date_value(self, node: Node | None, path: str) -> date | None:
        if node is None:
            return None
        value = self.text(node, path)
        if value is None:
            return None
        if match := _ISO_DATE_RE.fullmatch(value):
            year, month, day = (int(g) for g in match.groups())
        elif match := _RU_DATE_RE.fullmatch(value):
            day, month, year = (int(g) for g in match.groups())
        else:
            self.problem(node, path, f"«{value}» — не дата: пишите ГГГГ-ММ-ДД или ДД.ММ.ГГГГ")
            return None
        try:
            return date(year, month, day)
        except ValueError:
            self.problem(node, path, f"даты {value} не существует")
            return None

    def day_month(self, node: Node | None, path: str) -> tuple[int, int] | None:
        if node is None:
            return None
        value = self.text(node, path)
        if value is None:
            return None
        match = _DAY_MONTH_RE.fullmatch(value)
        if not match:
            self.problem(node, path, f"«{value}» — не день и месяц: пишите ДД.ММ, например 25.08")
            return None
        day, month = int(match.group(1)), int(match.group(2))
        try:
            # A non-leap year: a stage deadline must exist in every cohort year.
            date(2021, month, day)
        except ValueError:
            self.problem(node, path, f"дня {value} нет в каждом году")
            return None
        return month, day

    def email(self, node: Node | None, path: str) -> str | None:
        if node is None:
            return None
        value = self.string(node, path)
        if value is None:
            return None
        if not is_valid_email(value):
            self.problem(node, path, f"«{value}» — не адрес электронной почты")
            return None
        return value

    # ------------------------------------------------------------------ sections

    def roadmap(self, root: Node) -> Roadmap:
        top = self.mapping(root, "", required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
        if top is None:
            raise RoadmapFileError(self.problems)

        def get(key: str) -> Node | None:
            return top.get(key)

        fmt_node = get("format")
        fmt = self.integer(fmt_node, "format")
        if fmt_node is not None and fmt is not None and fmt != SUPPORTED_FORMAT:
            self.problem(
                fmt_node,
                "format",
                f"версия формата {fmt} не поддерживается; поддерживается {SUPPORTED_FORMAT}",
            )
        code = self.identifier(get("code"), "code", pattern=_CODE_RE, rule=_CODE_RULE)
        title = self.string(get("title"), "title")
        decree = self.string(get("decree"), "decree")
        region = self.string(get("region"), "region")
        period = self.period(get("period"))
        timezone = self.timezone(get("timezone"))

        parties, party_ids = self.parties(get("parties"))
        coordinator = self.party_ref(get("coordinator"), "coordinator", party_ids)
        evidence_kinds, evidence_ids = self.evidence_kinds(get("evidence_kinds"))
        measures, measure_refs = self.measures(
            get("measures"), party_ids, evidence_ids, period[1] if period else None
        )
        stages = self.stages(get("stages"), measure_refs)
        reminders_node = get("reminders")
        reminders = (
            self.reminders(reminders_node, party_ids, coordinator)
            if reminders_node is not None
            else ReminderPolicy(escalate_to=coordinator or "")
        )
        indicators = self.indicators(get("indicators"))
        permissions = self.permissions(get("permissions"))

        if self.problems:
            self.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
            raise RoadmapFileError(self.problems)
        # No problem recorded means every reader returned a value.
        assert code is not None
        assert title is not None
        assert decree is not None
        assert region is not None
        assert period is not None
        assert timezone is not None
        assert coordinator is not None
        assert reminders is not None
        return Roadmap(
            code=code,
            title=title,
            decree=decree,
            region=region,
            period_start=period[0],
            period_end=period[1],
            timezone=timezone,
            coordinator=coordinator,
            parties=tuple(parties),
            evidence_kinds=tuple(evidence_kinds),
            measures=tuple(measures),
            stages=tuple(stages),
            reminders=reminders,
            indicators=tuple(indicators),
            permissions=permissions,
        )

    def period(self, node: Node | None) -> tuple[date, date] | None:
        if node is None:
            return None
        fields = self.mapping(node, "period", required=("start", "end"))
        if fields is None:
            return None
        start = self.date_value(fields.get("start"), "period.start")
        end = self.date_value(fields.get("end"), "period.end")
        if start is None or end is None:
            return None
        if end < start:
            self.problem(
                fields["end"],
                "period.end",
                f"окончание программы ({end:%d.%m.%Y}) раньше её начала ({start:%d.%m.%Y})",
            )
            return None
        return start, end

    def timezone(self, node: Node | None) -> str | None:
        if node is None:
            return None
        value = self.string(node, "timezone")
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(
                node, "timezone", f"неизвестный часовой пояс «{value}»; например, Europe/Moscow"
            )
            return None
        return value

    def parties(self, node: Node | None) -> tuple[list[Party], set[str]]:
        """The valid parties, and every id declared (valid or not, to avoid echo errors)."""
        parties: list[Party] = []
        declared: set[str] = set()
        items = self.sequence(node, "parties", non_empty=True)
        kinds = tuple(k.value for k in PartyKind)
        for index, item in enumerate(items or ()):
            path = f"parties[{index}]"
            fields = self.mapping(item, path, required=("id", "kind", "name", "email"))
            if fields is None:
                continue
            party_id = self._declared_id(fields.get("id"), f"{path}.id", declared, "участник")
            kind = self.choice(fields.get("kind"), f"{path}.kind", kinds, "вид")
            name = self.string(fields.get("name"), f"{path}.name")
            email = self.email(fields.get("email"), f"{path}.email")
            if party_id and kind and name and email:
                parties.append(Party(id=party_id, kind=PartyKind(kind), name=name, email=email))
        return parties, declared

    def evidence_kinds(self, node: Node | None) -> tuple[list[EvidenceKind], set[str]]:
        kinds: list[EvidenceKind] = []
        declared: set[str] = set()
        items = self.sequence(node, "evidence_kinds", non_empty=True)
        for index, item in enumerate(items or ()):
            path = f"evidence_kinds[{index}]"
            fields = self.mapping(item, path, required=("id", "name"))
            if fields is None:
                continue
            kind_id = self._declared_id(
                fields.get("id"), f"{path}.id", declared, "вид подтверждающего документа"
            )
            name = self.string(fields.get("name"), f"{path}.name")
            if kind_id and name:
                kinds.append(EvidenceKind(id=kind_id, name=name))
        return kinds, declared

    def _declared_id(
        self, node: Node | None, path: str, declared: set[str], what: str
    ) -> str | None:
        if node is None:
            return None
        if isinstance(node, ScalarNode) and node.tag == _TAG_STR:
            raw = str(node.value)
            if raw in declared:
                self.problem(node, path, f"{what} с идентификатором «{raw}» уже объявлен")
                return None
            declared.add(raw)
        return self.identifier(node, path, pattern=_ID_RE, rule=_ID_RULE)

    def party_ref(self, node: Node | None, path: str, party_ids: set[str]) -> str | None:
        if node is None:
            return None
        value = self.string(node, path)
        if value is None:
            return None
        if value not in party_ids:
            self.problem(node, path, f"участник «{value}» не объявлен в parties")
            return None
        return value

    def measures(
        self,
        node: Node | None,
        party_ids: set[str],
        evidence_ids: set[str],
        period_end: date | None,
    ) -> tuple[list[Measure], dict[int, _MeasureRef] | None]:
        """The valid measures, and what stages need of each number (None if unknowable)."""
        measures: list[Measure] = []
        refs: dict[int, _MeasureRef] = {}
        items = self.sequence(node, "measures", non_empty=True)
        numbers_known = items is not None
        required = (
            "number",
            "title",
            "responsible",
            "responsible_text",
            "result",
            "evidence",
            "deadline_text",
            "recurrence",
        )
        for index, item in enumerate(items or ()):
            path = f"measures[{index}]"
            fields = self.mapping(item, path, required=required)
            if fields is None:
                numbers_known = False
                continue
            number = self.integer(fields.get("number"), f"{path}.number", minimum=1)
            numbers_known = numbers_known and number is not None
            if number is not None and number in refs:
                self.problem(fields["number"], f"{path}.number", f"мероприятие № {number} уже есть")
                number = None
            title = self.string(fields.get("title"), f"{path}.title")
            responsible_text = self.string(
                fields.get("responsible_text"), f"{path}.responsible_text"
            )
            result = self.string(fields.get("result"), f"{path}.result")
            deadline_text = self.string(fields.get("deadline_text"), f"{path}.deadline_text")
            responsible = self._refs(
                fields.get("responsible"),
                f"{path}.responsible",
                party_ids,
                non_empty=True,
                unknown="участник «{}» не объявлен в parties",
            )
            evidence = self._refs(
                fields.get("evidence"),
                f"{path}.evidence",
                evidence_ids,
                non_empty=False,
                unknown="вид документа «{}» не объявлен в evidence_kinds",
            )
            recurrence = self.recurrence(fields.get("recurrence"), f"{path}.recurrence", period_end)
            if number is not None:
                refs[number] = _MeasureRef(recurrence=recurrence[0] if recurrence else None)
            if (
                number is not None
                and title
                and responsible is not None
                and responsible_text
                and result
                and evidence is not None
                and deadline_text
                and recurrence
            ):
                measures.append(
                    Measure(
                        number=number,
                        title=title,
                        responsible=responsible,
                        responsible_text=responsible_text,
                        result=result,
                        evidence=evidence,
                        deadline_text=deadline_text,
                        recurrence=recurrence[0],
                        first_due=recurrence[1],
                    )
                )
        return measures, refs if numbers_known else None

    def _refs(
        self,
        node: Node | None,
        path: str,
        known: set[str],
        *,
        non_empty: bool,
        unknown: str,
    ) -> tuple[str, ...] | None:
        if node is None:
            return None
        items = self.sequence(node, path, non_empty=non_empty)
        if items is None:
            return None
        values: list[str] = []
        ok = True
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            value = self.string(item, item_path)
            if value is None:
                ok = False
            elif value not in known:
                self.problem(item, item_path, unknown.format(value))
                ok = False
            elif value in values:
                self.problem(item, item_path, f"«{value}» указан дважды")
                ok = False
            else:
                values.append(value)
        return tuple(values) if ok else None

    def recurrence(
        self, node: Node | None, path: str, period_end: date | None
    ) -> tuple[Recurrence, date | None] | None:
        if node is None:
            return None
        fields = self.mapping(node, path, required=("kind",), optional=("first_due",))
        if fields is None:
            return None
        kinds = tuple(r.value for r in Recurrence)
        kind_value = self.choice(fields.get("kind"), f"{path}.kind", kinds, "вид повторения")
        due_node = fields.get("first_due")
        first_due = self.date_value(due_node, f"{path}.first_due")
        if kind_value is None:
            return None
        kind = Recurrence(kind_value)
        if kind in _NEEDS_FIRST_DUE and due_node is None:
            self.problem(
                node, f"{path}.first_due", f"для вида «{kind.value}» нужен первый срок first_due"
            )
            return None
        if kind not in _NEEDS_FIRST_DUE and due_node is not None:
            self.problem(
                due_node,
                f"{path}.first_due",
                f"для вида «{kind.value}» first_due не задаётся: сроки назначает оператор",
            )
            return None
        if due_node is not None and first_due is None:
            return None
        if first_due is not None and period_end is not None and first_due > period_end:
            assert due_node is not None
            self.problem(
                due_node,
                f"{path}.first_due",
                f"первый срок {first_due:%d.%m.%Y} позже окончания программы {period_end:%d.%m.%Y}",
            )
            return None
        return kind, first_due

    def stages(self, node: Node | None, measures: dict[int, _MeasureRef] | None) -> list[StageRule]:
        """The stage rules; ``measures`` is None when a measure number was unreadable.

        In that case a reference to an unknown number may be that measure's, so it is
        not reported: the unreadable number already was.
        """
        rules: list[StageRule] = []
        seen: set[str] = set()
        items = self.sequence(node, "stages")
        for index, item in enumerate(items or ()):
            path = f"stages[{index}]"
            fields = self.mapping(
                item, path, required=("stage", "measure"), optional=("due", "starts")
            )
            if fields is None:
                continue
            stage = self.choice(fields.get("stage"), f"{path}.stage", _STAGE_VALUES, "этап")
            if stage is not None and stage in seen:
                self.problem(fields["stage"], f"{path}.stage", f"этап «{stage}» уже описан")
                stage = None
            elif stage is not None:
                seen.add(stage)
            number = self.integer(fields.get("measure"), f"{path}.measure", minimum=1)
            ref: _MeasureRef | None = None
            if number is not None and measures is not None:
                ref = measures.get(number)
                if ref is None:
                    self.problem(
                        fields["measure"],
                        f"{path}.measure",
                        f"мероприятия № {number} нет в measures",
                    )
                    number = None
            due_node = fields.get("due")
            due = self.day_month(due_node, f"{path}.due")
            if (
                due_node is None
                and ref is not None
                and ref.recurrence is not None
                and ref.recurrence is not Recurrence.BY_SCHEDULE
            ):
                self.problem(
                    item,
                    f"{path}.due",
                    f"нужен срок due (ДД.ММ): у мероприятия № {number} нет отдельного графика",
                )
                continue
            starts_node = fields.get("starts")
            starts = (
                self.boolean(starts_node, f"{path}.starts") if starts_node is not None else False
            )
            if stage is None or number is None or starts is None:
                continue
            if due_node is not None and due is None:
                continue
            rules.append(
                StageRule(
                    stage=CenterState(stage).value,
                    measure=number,
                    due_month=due[0] if due else None,
                    due_day=due[1] if due else None,
                    starts=starts,
                )
            )
        return rules

    def number(self, node: Node | None, path: str, *, minimum: float = 0.0) -> float | None:
        """A decimal number written plainly (``100``, ``87.5``), at least ``minimum``."""
        if node is None:
            return None
        if (
            not isinstance(node, ScalarNode)
            or node.tag not in (_TAG_INT, _TAG_FLOAT)
            or not _NUMBER_RE.fullmatch(str(node.value))
        ):
            self.problem(node, path, f"ожидается число, а не {_kind(node)}")
            return None
        value = float(node.value)
        if value < minimum:
            self.problem(node, path, f"число должно быть не меньше {minimum:g}")
            return None
        return value

    def _indicator_number(self, node: Node | None, path: str, unit: str | None) -> float | None:
        """A target or maximum: 0 when absent (so None means "invalid"), checked for the unit."""
        if node is None:
            return 0.0
        value = self.number(node, path)
        if value is None:
            return None
        if unit == IndicatorUnit.PERCENT.value and value > 100:
            self.problem(node, path, f"{value:g} больше 100: это доля в процентах")
            return None
        if (
            unit in (IndicatorUnit.PERSONS.value, IndicatorUnit.UNITS.value)
            and not value.is_integer()
        ):
            self.problem(node, path, f"показатель считается в целых числах: {value:g} — не целое")
            return None
        return value

    def indicators(self, node: Node | None) -> list[Indicator]:
        """The declared indicators (an absent key: none)."""
        result: list[Indicator] = []
        declared: set[str] = set()
        items = self.sequence(node, "indicators")
        units = tuple(u.value for u in IndicatorUnit)
        periods = tuple(p.value for p in IndicatorPeriod)
        for index, item in enumerate(items or ()):
            path = f"indicators[{index}]"
            fields = self.mapping(
                item,
                path,
                required=("code", "name", "unit", "period"),
                optional=("target", "max"),
            )
            if fields is None:
                continue
            code = self._declared_id(fields.get("code"), f"{path}.code", declared, "показатель")
            name = self.string(fields.get("name"), f"{path}.name")
            unit_value = self.choice(fields.get("unit"), f"{path}.unit", units, "код единицы")
            period_value = self.choice(fields.get("period"), f"{path}.period", periods, "период")
            target = self._indicator_number(fields.get("target"), f"{path}.target", unit_value)
            maximum = self._indicator_number(fields.get("max"), f"{path}.max", unit_value)
            if None in (code, name, unit_value, period_value, target, maximum):
                continue
            assert code is not None
            assert name is not None
            assert unit_value is not None
            assert period_value is not None
            indicator = Indicator(
                code=code,
                name=name,
                unit=IndicatorUnit(unit_value),
                period=IndicatorPeriod(period_value),
                target=None if fields.get("target") is None else target,
                maximum=None if fields.get("max") is None else maximum,
            )
            bound = indicator.upper_bound
            if indicator.target is not None and bound is not None and indicator.target > bound:
                self.problem(
                    fields["target"],
                    f"{path}.target",
                    f"цель {indicator.target:g} больше наибольшего значения {bound:g}",
                )
                continue
            result.append(indicator)
        return result

    def permissions(self, node: Node | None) -> dict[str, dict[str, tuple[str, ...]]]:
        """Who may fire which trigger: ``machine → trigger → [roles]`` (absent: none)."""
        if node is None:
            return {}
        machines = {
            "center": [t.value for t in CenterTrigger],
            "cycle": [t.value for t in CycleTrigger],
        }
        fields = self.mapping(node, "permissions", required=(), optional=tuple(machines))
        result: dict[str, dict[str, tuple[str, ...]]] = {}
        for machine, machine_node in (fields or {}).items():
            path = f"permissions.{machine}"
            triggers = self.mapping(machine_node, path, required=(), optional=machines[machine])
            declared: dict[str, tuple[str, ...]] = {}
            for trigger, roles_node in (triggers or {}).items():
                roles_path = f"{path}.{trigger}"
                items = self.sequence(roles_node, roles_path, non_empty=True)
                roles: list[str] = []
                for index, item in enumerate(items or []):
                    role = self.string(item, f"{roles_path}[{index}]")
                    if role is None:
                        continue
                    if role not in PERMISSION_ROLES:
                        self.problem(
                            item,
                            f"{roles_path}[{index}]",
                            f"неизвестная роль «{role}»; допустимы: {', '.join(PERMISSION_ROLES)}",
                        )
                    elif role in roles:
                        self.problem(
                            item, f"{roles_path}[{index}]", f"роль «{role}» указана дважды"
                        )
                    else:
                        roles.append(role)
                declared[trigger] = tuple(roles)
            result[machine] = declared
        return result

    def reminders(
        self, node: Node | None, party_ids: set[str], coordinator: str | None
    ) -> ReminderPolicy | None:
        if node is None:
            return None
        fields = self.mapping(
            node,
            "reminders",
            required=(),
            optional=("days_before", "on_day", "overdue_every_days", "escalate_to"),
        )
        if fields is None:
            return None
        defaults = ReminderPolicy()
        days_before: tuple[int, ...] | None = defaults.days_before
        if (days_node := fields.get("days_before")) is not None:
            days_before = self._days_before(days_node)
        on_day: bool | None = defaults.on_day
        if (on_day_node := fields.get("on_day")) is not None:
            on_day = self.boolean(on_day_node, "reminders.on_day")
        every: int | None = defaults.overdue_every_days
        if (every_node := fields.get("overdue_every_days")) is not None:
            every = self.integer(every_node, "reminders.overdue_every_days", minimum=1)
        escalate_to = coordinator
        if (escalate_node := fields.get("escalate_to")) is not None:
            escalate_to = self.party_ref(escalate_node, "reminders.escalate_to", party_ids)
        if days_before is None or on_day is None or every is None or escalate_to is None:
            return None
        return ReminderPolicy(
            days_before=days_before,
            on_day=on_day,
            overdue_every_days=every,
            escalate_to=escalate_to,
        )

    def _days_before(self, node: Node) -> tuple[int, ...] | None:
        items = self.sequence(node, "reminders.days_before")
        if items is None:
            return None
        values: list[int] = []
        ok = True
        for index, item in enumerate(items):
            path = f"reminders.days_before[{index}]"
            value = self.integer(item, path, minimum=1)
            if value is None:
                ok = False
            elif value in values:
                self.problem(item, path, f"{value} указано дважды")
                ok = False
            else:
                values.append(value)
        # Earliest reminder first, whatever order the file lists them in.
        return tuple(sorted(values, reverse=True)) if ok else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


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
