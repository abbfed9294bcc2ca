"""Reading a file of center transitions (`tochka centers fire --from FILE`).

A CSV or XLSX table, read like the other table files (`workflow.imports.tablefile`: UTF-8
or Windows-1251, ``,``/``;``/tab, the first sheet of a workbook, blank rows skipped), with
a header row naming its columns in Russian or by their English ids:

- «Код» (``code``): the center's code;
- «Действие» (``trigger``): the transition, by its Russian name («оснащение») or its id
  (``equip``), as `tochka centers fire` takes it;
- «Документы» (``evidence``, optional): ``ВИД=ТЕКСТ; ВИД=ТЕКСТ`` with kinds the roadmap
  declares (``evidence_kinds``);
- «Комментарий» (``comment``, optional): the comment or reason recorded with the event.

Columns of a centers list («Наименование», «Муниципальное образование», «Год создания»,
«Email», «Состояние») are allowed and skipped, so a filtered list can be filled in.

A file that cannot be read as such a table (not CSV/XLSX, a wrong header) is refused as a
whole (`ImportFileError`); a row's own problems (an empty cell, an unknown action, a bad
document pair, an XLSX formula) stay with the row (`FireRow.problems`), each with its
line and column, so that the caller can report them beside the other rows' outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from states import CENTER_WORKFLOW
from states.errors import named
from workflow.errors import ImportFileError, Problem
from workflow.imports.header import Column, ColumnUse, Header, HeaderSpec
from workflow.imports.tablefile import (
    Rows,
    cell_text,
    csv_rows,
    is_filled,
    normalise_header,
    open_xlsx,
    opening,
    table_suffix,
    visible,
)
from workflow.roadmap.definition import Roadmap

__all__ = ["FIRE_HEADER", "FireRow", "read_fire_file", "trigger_named"]

FIRE_HEADER = HeaderSpec(
    columns=(
        Column(key="code", aliases=("код", "код центра", "центр", "code"), russian_name="Код"),
        Column(
            key="trigger",
            aliases=("действие", "переход", "trigger", "action"),
            russian_name="Действие",
        ),
        Column(
            key="evidence",
            aliases=("документы", "документ", "подтверждение", "evidence"),
            russian_name="Документы",
            use=ColumnUse.OPTIONAL,
        ),
        Column(
            key="comment",
            aliases=("комментарий", "причина", "comment"),
            russian_name="Комментарий",
            use=ColumnUse.OPTIONAL,
        ),
        *(
            Column(
                key=f"skip_{key}", aliases=aliases, russian_name=aliases[0], use=ColumnUse.IGNORED
            )
            for key, aliases in (
                ("name", ("наименование", "название", "наименование организации", "name")),
                ("municipality", ("муниципальное образование", "муниципалитет", "municipality")),
                ("cohort", ("год создания", "год", "cohort")),
                ("email", ("email", "e-mail", "электронная почта")),
                ("state", ("состояние", "state", "версия", "version")),
            )
        ),
    ),
    label="«{russian}»",
    unknown="неизвестный столбец «{written}»: ожидаются {expected}",
    repeated="столбец «{written}» повторяет столбец {column} «{first}»",
)

_TITLES = CENTER_WORKFLOW.spec.trigger_titles
_TRIGGERS: Mapping[str, str] = MappingProxyType(
    {normalise_header(t): t for t in CENTER_WORKFLOW.triggers}
    | {normalise_header(_TITLES[t]): t for t in CENTER_WORKFLOW.triggers if t in _TITLES}
)


def trigger_named(text: str) -> str | None:
    """The center trigger ``text`` names: its id or its Russian name, in any case and
    spacing, «е» for «ё»; None if none."""
    return _TRIGGERS.get(normalise_header(text))


@dataclass(frozen=True, kw_only=True)
class FireRow:
    """One row of a transitions file.

    Attributes:
        line: the row's line in the file.
        code: the center's code as written (stripped).
        action: the action's cell as written; ``trigger`` the trigger it names (None when
            it names none).
        evidence: {evidence kind: text}, None when the row gives no documents.
        comment: the comment, None when empty.
        columns: the 1-based column of each of the file's columns (``code``,
            ``trigger``, ``evidence``, ``comment``) the header names.
        problems: what is wrong with the row itself; the row is not fired if any.
    """

    line: int
    code: str
    action: str
    trigger: str | None
    evidence: Mapping[str, str] | None
    comment: str | None
    columns: Mapping[str, int]
    problems: tuple[Problem, ...] = ()


def read_fire_file(path: str | Path, *, roadmap: Roadmap) -> list[FireRow]:
    """Read a transitions file (see the module docstring).

    Raises:
        ImportFileError: the file as a whole cannot be read: not CSV/XLSX, unreadable,
            empty, a wrong header, no rows.
    """
    filename = str(path)
    suffix = table_suffix(filename)
    formulas: dict[int, set[int]] = {}
    with opening(filename):
        rows: Rows
        if suffix == ".csv":
            _, rows = csv_rows(
                Path(path).read_bytes(), filename, headers=FIRE_HEADER.known, counted=False
            )
        else:
            rows = _xlsx_rows(Path(path), filename, formulas)
        try:
            found = [(line, cells) for line, cells in rows if is_filled(cells)]
        finally:
            rows.close()
    if not found:
        raise ImportFileError([Problem(file=filename, message="файл пуст: нет ни одной строки")])
    (header_line, header_cells), data = found[0], found[1:]
    header = FIRE_HEADER.read(header_cells, filename=filename, line=header_line)
    if not data:
        raise ImportFileError(
            [Problem(file=filename, line=header_line, message="в файле только заголовок")]
        )
    kinds = {k.id: k.name for k in roadmap.evidence_kinds}
    read = _RowReader(filename, header, len(header_cells), kinds)
    return [read(line, cells, formulas.get(line, _NO_FORMULAS)) for line, cells in data]


def _xlsx_rows(path: Path, filename: str, formulas: dict[int, set[int]]) -> Rows:
    """The first sheet's rows as text; the 1-based columns of each line's formula cells
    go to ``formulas`` (their text is the formula, never shown as a value)."""
    opened = open_xlsx(path, filename, data_only=False)
    if opened is None:
        return
    workbook, sheet = opened
    try:
        for line, row in enumerate(sheet.iter_rows(), start=1):
            cells: list[str] = []
            for index, cell in enumerate(row):
                if getattr(cell, "data_type", None) == "f":
                    formulas.setdefault(line, set()).add(index + 1)
                    cells.append("=")  # a filled cell, so the row is not taken for blank
                else:
                    cells.append(cell_text(getattr(cell, "value", None)))
            yield line, cells
    finally:
        workbook.close()


_NO_FORMULAS: frozenset[int] = frozenset()


class _RowReader:
    """Reads the data rows of one file: what every row shares (the columns, the
    evidence kinds, the triggers its action cells name) is worked out once per file,
    not once per row."""

    def __init__(
        self, filename: str, header: Header, width: int, kinds: Mapping[str, str]
    ) -> None:
        self.filename = filename
        self.width = width
        self.kinds = kinds
        get = header.columns.get
        self.code, self.trigger = get("code"), get("trigger")
        self.evidence, self.comment = get("evidence"), get("comment")
        # One mapping shared by every row (read-only).
        self.columns = MappingProxyType({key: i + 1 for key, i in header.columns.items()})
        self.triggers: dict[str, str | None] = {}  # action as written -> trigger_named

    def __call__(self, line: int, cells: list[str], formulas: Collection[int]) -> FireRow:
        if not formulas and len(cells) <= self.width:
            clean = self._clean(line, cells)
            if clean is not None:
                return clean
        return self._checked(line, cells, formulas)

    def _trigger(self, action: str) -> str | None:
        """The trigger an action names (`trigger_named`), found once per action written."""
        try:
            return self.triggers[action]
        except KeyError:
            trigger = self.triggers[action] = trigger_named(action)
            return trigger

    def _clean(self, line: int, cells: list[str]) -> FireRow | None:
        """The row when nothing is wrong with it (no formula, no cell past the header:
        the caller's condition), read without collecting problems; None as soon as
        something is, for `_checked` to name every problem in order. Most rows of a
        file are clean, and this is a third of the checked reading's work."""
        count = len(cells)

        def cell(index: int | None) -> str:
            return "" if index is None or index >= count else cells[index].strip()

        code, action = cell(self.code), cell(self.trigger)
        if not code or not action:
            return None
        trigger = self._trigger(action)
        if trigger is None:
            return None
        written = cell(self.evidence)
        try:
            evidence = _evidence(written, self.kinds, _unclean) if written else None
        except _Unclean:
            return None
        return FireRow(
            line=line,
            code=code,
            action=action,
            trigger=trigger,
            evidence=evidence,
            comment=cell(self.comment) or None,
            columns=self.columns,
        )

    def _checked(self, line: int, cells: list[str], formulas: Collection[int]) -> FireRow:
        """The row with every problem it has, each with its line and column."""
        filename, columns = self.filename, self.columns
        problems: list[Problem] = []

        def problem(message: str, column: int | None) -> None:
            problems.append(
                Problem(file=filename, line=line, column=column or None, message=message)
            )

        for column in sorted(formulas) if formulas else ():
            problem(
                "в ячейке формула: впишите значение (формулы не вычисляются при чтении файла)",
                column,
            )
        count = len(cells)

        def cell(index: int | None) -> str:
            if index is None or index >= count or (formulas and index + 1 in formulas):
                return ""
            return cells[index].strip()

        for index in range(self.width, count):
            if cells[index].strip() and index + 1 not in formulas:
                problem(
                    f"значение «{visible(cells[index].strip())}» за последним столбцом "
                    "(в ячейке с разделителем столбцов возьмите её в кавычки)",
                    index + 1,
                )
        code, action = cell(self.code), cell(self.trigger)
        if not code and columns["code"] not in formulas:
            problem("код центра не заполнен", columns["code"])
        trigger: str | None = None
        if not action:
            if columns["trigger"] not in formulas:
                problem("действие не заполнено", columns["trigger"])
        else:
            trigger = self._trigger(action)
            if trigger is None:
                problem(
                    f"неизвестное действие «{visible(action)}»; возможные: "
                    + named(CENTER_WORKFLOW.triggers, _TITLES),
                    columns["trigger"],
                )
        written = cell(self.evidence)
        evidence = (
            _evidence(written, self.kinds, lambda m: problem(m, columns.get("evidence")))
            if written
            else None
        )
        return FireRow(
            line=line,
            code=code,
            action=action,
            trigger=trigger,
            evidence=evidence,
            comment=cell(self.comment) or None,
            columns=columns,
            problems=tuple(sorted(problems, key=_column)) if problems else (),
        )


class _Unclean(Exception):
    """A clean reading (`_RowReader._clean`) met a problem: the row is read again, checked."""


def _unclean(_message: str) -> None:
    raise _Unclean


def _column(problem: Problem) -> int:
    return problem.column or 0


def _evidence(
    text: str, kinds: Mapping[str, str], problem: Callable[[str], None]
) -> dict[str, str] | None:
    """``ВИД=ТЕКСТ; ВИД=ТЕКСТ`` → {kind: text}; a bad pair is a problem (None then)."""
    result: dict[str, str] = {}
    for piece in text.split(";"):
        part = piece.strip()
        if not part:
            continue
        kind, sep, value = part.partition("=")
        kind, value = kind.strip(), value.strip()
        if not sep or not kind or not value:
            listed = ", ".join(kinds)
            problem(f"документ «{visible(part)}»: укажите его как ВИД=ТЕКСТ; виды: {listed}")
            return None
        if kind not in kinds:
            listed = ", ".join(kinds)
            problem(
                f"документ «{visible(part)}»: неизвестный вид «{visible(kind)}»; виды: {listed}"
            )
            return None
        if kind in result:
            problem(f"документ вида «{kind}» указан дважды")
            return None
        result[kind] = value
    return result or None
