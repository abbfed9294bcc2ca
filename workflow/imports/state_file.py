"""Reading the state a region had before it adopted Tochka (`tochka adopt`), all or nothing.

Two table files (CSV or XLSX, read like the centers file: `workflow.imports.tablefile`):

- **stages**: one row per center: «Код» (the center's code), then for each stage of the
  center's lifecycle the date it was reached, in a column titled as the state machine
  names the stage (`states.center.STATE_TITLES`: «инфраструктурный лист согласован»,
  «оснащён», «персонал обучен», «открыт», «отчитывается»), and optionally «Текущий этап»
  (checked against the last dated stage). Columns of a centers list («Наименование»,
  «Муниципальное образование», «Год создания», «Email») are allowed and skipped.
- **cycles**: one row per measure cycle already done: «№ мероприятия», «Период» (the
  period label, as `tochka cycles list` shows it: ``2021-Q3``, ``2021``), «Дата
  выполнения» and «Документ» (``ВИД=ТЕКСТ; ВИД=ТЕКСТ``, or just the text when the
  measure needs one kind of document).

Dates are ``ДД.ММ.ГГГГ`` or ``ГГГГ-ММ-ДД`` (an XLSX date cell as well). Every row is
checked against the file itself and the roadmap (stages in order, no stage skipped, no
date after the adoption date, a measure and period that exist) and every problem is
reported with its line and column; the database checks follow in
`workflow.engine.adoption`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from base.clock import parse_date
from base.errors import InputError
from states.center import LIFECYCLE, STATE_TITLES, CenterState
from workflow.errors import ImportFileError, Problem
from workflow.imports.header import Column, ColumnUse, Header, HeaderSpec
from workflow.imports.tablefile import (
    Rows,
    csv_rows,
    is_filled,
    normalise_header,
    opening,
    table_suffix,
    visible,
    xlsx_rows,
)
from workflow.roadmap.definition import Roadmap
from workflow.roadmap.recurrence import CycleSpec, scheduled_cycles

__all__ = ["CycleDoneRow", "StageRow", "read_cycles_file", "read_stages_file"]

#: The stages a center reaches after «запланирован», in lifecycle order.
STAGES: tuple[CenterState, ...] = LIFECYCLE[1:]

_IGNORED = tuple(
    Column(key=f"skip_{key}", aliases=aliases, russian_name=aliases[0], use=ColumnUse.IGNORED)
    for key, aliases in (
        ("name", ("наименование", "название", "наименование организации")),
        ("municipality", ("муниципальное образование", "муниципалитет")),
        ("cohort", ("год создания", "год")),
        ("email", ("email", "e-mail", "электронная почта")),
    )
)

_STAGES_HEADER = HeaderSpec(
    columns=(
        Column(key="code", aliases=("код", "код центра", "code"), russian_name="Код"),
        Column(
            key="current",
            aliases=("текущий этап", "этап", "состояние"),
            russian_name="Текущий этап",
            use=ColumnUse.OPTIONAL,
        ),
        *(
            Column(
                key=stage.value,
                aliases=(STATE_TITLES[stage], stage.value),
                russian_name=STATE_TITLES[stage],
                use=ColumnUse.OPTIONAL,
            )
            for stage in STAGES
        ),
        *_IGNORED,
    ),
    label="«{russian}»",
    unknown="неизвестный столбец «{written}» (этапы центра: {expected})",
    repeated="столбец «{written}» повторяет столбец {column} «{first}»",
)

_CYCLES_HEADER = HeaderSpec(
    columns=(
        Column(
            key="measure",
            aliases=("№ мероприятия", "номер мероприятия", "мероприятие", "№", "measure"),
            russian_name="№ мероприятия",
        ),
        Column(key="period", aliases=("период", "period"), russian_name="Период"),
        Column(
            key="done",
            aliases=("дата выполнения", "выполнено", "дата", "done"),
            russian_name="Дата выполнения",
        ),
        Column(
            key="evidence",
            aliases=("документ", "документы", "подтверждение", "evidence"),
            russian_name="Документ",
            use=ColumnUse.OPTIONAL,
        ),
        Column(
            key="skip_title",
            aliases=("наименование мероприятия", "наименование"),
            russian_name="Наименование мероприятия",
            use=ColumnUse.IGNORED,
        ),
    ),
    label="«{russian}»",
)

_BY_TITLE = {normalise_header(STATE_TITLES[s]): s for s in LIFECYCLE} | {
    normalise_header(s.value): s for s in LIFECYCLE
}


@dataclass(frozen=True, kw_only=True)
class StageRow:
    """One center's stages before adoption.

    Attributes:
        code: the center's code; ``code_column`` its 1-based column.
        line: the row's line in the file.
        target: the stage the center is in at adoption (the last one dated).
        reached: each stage reached, its date and its 1-based column, in lifecycle order.
    """

    code: str
    code_column: int
    line: int
    target: CenterState
    reached: tuple[tuple[CenterState, date, int], ...]


@dataclass(frozen=True, kw_only=True)
class CycleDoneRow:
    """One measure cycle done before adoption.

    Attributes:
        measure, period, due: the cycle (its due date by the recurrence).
        done: the day it was done; ``done_column`` its 1-based column.
        evidence: {evidence kind: text}.
        line: the row's line in the file.
    """

    measure: int
    period: str
    due: date
    done: date
    done_column: int
    evidence: dict[str, str]
    line: int


class _File:
    """The rows of one file and the problems found in them."""

    def __init__(self, path: str | Path, spec: HeaderSpec, empty: str) -> None:
        self.filename = str(path)
        self.spec = spec
        self.empty = empty
        self.problems: list[Problem] = []

    def problem(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        self.problems.append(Problem(file=self.filename, line=line, column=column, message=message))

    def rows(self, path: str | Path) -> tuple[Header, list[tuple[int, list[str]]]]:
        suffix = table_suffix(self.filename)
        with opening(self.filename):
            rows: Rows
            if suffix == ".csv":
                _, rows = csv_rows(Path(path).read_bytes(), self.filename, headers=self.spec.known)
            else:
                _, rows = xlsx_rows(Path(path), self.filename)
            try:
                found = [(line, cells) for line, cells in rows if is_filled(cells)]
            finally:
                rows.close()
        if not found:
            raise ImportFileError([Problem(file=self.filename, message=f"файл пуст: {self.empty}")])
        (header_line, header_cells), data = found[0], found[1:]
        header = self.spec.read(header_cells, filename=self.filename, line=header_line)
        if not data:
            self.problem(f"в файле только заголовок: {self.empty}")
        width = len(header_cells)
        for line, cells in data:
            for index in range(width, len(cells)):
                if cells[index].strip():
                    self.problem(
                        f"значение «{visible(cells[index].strip())}» за последним столбцом "
                        "(в ячейке с разделителем столбцов возьмите её в кавычки)",
                        line=line,
                        column=index + 1,
                    )
        return header, data

    def cell(self, header: Header, cells: list[str], key: str) -> tuple[str, int]:
        """The stripped text of column ``key`` and its 1-based column (0: no column)."""
        index = header.columns.get(key)
        if index is None:
            return "", 0
        return (cells[index].strip() if index < len(cells) else ""), index + 1

    def date(self, text: str, *, what: str, line: int, column: int, as_of: date) -> date | None:
        try:
            day = parse_date(text, what=what)
        except InputError:
            self.problem(
                f"«{visible(text)}» — не дата (ожидается ДД.ММ.ГГГГ или ГГГГ-ММ-ДД)",
                line=line,
                column=column,
            )
            return None
        if day > as_of:
            self.problem(
                f"дата {day:%d.%m.%Y} позже даты перехода на Точку {as_of:%d.%m.%Y}: "
                "в файл вносится только то, что было до перехода",
                line=line,
                column=column,
            )
            return None
        return day

    def finish(self) -> None:
        if self.problems:
            self.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
            raise ImportFileError(self.problems)


def read_stages_file(path: str | Path, *, as_of: date) -> list[StageRow]:
    """Read and check a stages file (see the module docstring).

    Raises:
        ImportFileError: every problem, in file order; nothing is returned.
    """
    f = _File(path, _STAGES_HEADER, "нет ни одной строки с центрами")
    header, data = f.rows(path)
    stage_columns = [s for s in STAGES if s.value in header.columns]
    if not stage_columns and "current" not in header.columns:
        f.problem(
            "в заголовке нет ни одного этапа: ожидаются столбцы "
            + ", ".join(f"«{STATE_TITLES[s]}»" for s in STAGES),
            line=header.line,
        )
    first_line: dict[str, int] = {}
    result: list[StageRow] = []
    for line, cells in data:
        row = _stage_row(f, header, line, cells, as_of, first_line)
        if row is not None:
            result.append(row)
    f.finish()
    return result


def _stage_row(
    f: _File, header: Header, line: int, cells: list[str], as_of: date, first_line: dict[str, int]
) -> StageRow | None:
    ok = True
    code, code_column = f.cell(header, cells, "code")
    if not code:
        f.problem("код центра не заполнен", line=line, column=code_column)
        ok = False
    elif code in first_line:
        f.problem(
            f"центр «{visible(code)}» повторяется: строки {first_line[code]} и {line}",
            line=line,
            column=code_column,
        )
        ok = False
    else:
        first_line[code] = line
    reached: list[tuple[CenterState, date, int]] = []
    missing: tuple[CenterState, int] | None = None  # the first stage without a date
    for stage in STAGES:
        text, column = f.cell(header, cells, stage.value)
        title = STATE_TITLES[stage]
        if not text:
            if missing is None:
                missing = (stage, column)
            continue
        day = f.date(text, what=title, line=line, column=column, as_of=as_of)
        if day is None:
            ok = False
            continue
        if missing is not None:
            gap, gap_column = missing
            f.problem(
                f"нет даты этапа «{STATE_TITLES[gap]}», а следующий этап «{title}» указан: "
                "этапы проходятся по порядку",
                line=line,
                column=gap_column or column,
            )
            ok = False
            missing = (stage, column)  # one problem per gap
            continue
        if reached and day < reached[-1][1]:
            before, before_day, _ = reached[-1]
            f.problem(
                f"дата этапа «{title}» {day:%d.%m.%Y} раньше даты предыдущего этапа "
                f"«{STATE_TITLES[before]}» {before_day:%d.%m.%Y}",
                line=line,
                column=column,
            )
            ok = False
        reached.append((stage, day, column))
    target = reached[-1][0] if reached else CenterState.PLANNED
    current, current_column = f.cell(header, cells, "current")
    if current:
        named = _BY_TITLE.get(normalise_header(current))
        if named is None:
            f.problem(
                f"неизвестный этап «{visible(current)}»; этапы: "
                + ", ".join(f"«{STATE_TITLES[s]}»" for s in LIFECYCLE),
                line=line,
                column=current_column,
            )
            ok = False
        elif ok and named is not target:
            f.problem(
                f"текущий этап «{STATE_TITLES[named]}», а последний этап с датой — "
                f"«{STATE_TITLES[target]}»: укажите даты всех этапов до текущего",
                line=line,
                column=current_column,
            )
            ok = False
    if not ok:
        return None
    return StageRow(
        code=code, code_column=code_column, line=line, target=target, reached=tuple(reached)
    )


def read_cycles_file(path: str | Path, *, roadmap: Roadmap, as_of: date) -> list[CycleDoneRow]:
    """Read and check a file of measure cycles done before adoption.

    A period is one the measure's recurrence has by ``as_of`` (`scheduled_cycles`).

    Raises:
        ImportFileError: every problem, in file order; nothing is returned.
    """
    f = _File(path, _CYCLES_HEADER, "нет ни одного выполненного цикла")
    header, data = f.rows(path)
    specs = {(s.measure, s.period): s for s in scheduled_cycles(roadmap, as_of=as_of)}
    numbers = {m.number for m in roadmap.measures}
    first_line: dict[tuple[int, str], int] = {}
    result: list[CycleDoneRow] = []
    for line, cells in data:
        row = _cycle_row(f, header, line, cells, roadmap, as_of, specs, numbers, first_line)
        if row is not None:
            result.append(row)
    f.finish()
    return result


def _cycle_row(
    f: _File,
    header: Header,
    line: int,
    cells: list[str],
    roadmap: Roadmap,
    as_of: date,
    specs: dict[tuple[int, str], CycleSpec],
    numbers: Iterable[int],
    first_line: dict[tuple[int, str], int],
) -> CycleDoneRow | None:
    number_text, number_column = f.cell(header, cells, "measure")
    period, period_column = f.cell(header, cells, "period")
    done_text, done_column = f.cell(header, cells, "done")
    evidence_text, evidence_column = f.cell(header, cells, "evidence")
    number = int(number_text) if number_text.isdigit() else None
    if number is None or number not in set(numbers):
        f.problem(
            f"нет мероприятия № «{visible(number_text)}» в дорожной карте «{roadmap.code}»",
            line=line,
            column=number_column,
        )
        return None
    spec = specs.get((number, period))
    if spec is None:
        known = sorted(p for m, p in specs if m == number)
        f.problem(
            f"у мероприятия № {number} нет периода «{visible(period)}» со сроком до "
            f"{as_of:%d.%m.%Y}"
            + (f"; периоды: {', '.join(known)}" if known else "; циклов по графику у него нет"),
            line=line,
            column=period_column,
        )
        return None
    if (number, period) in first_line:
        f.problem(
            f"цикл {number}/{period} повторяется: строки {first_line[number, period]} и {line}",
            line=line,
            column=period_column,
        )
        return None
    first_line[number, period] = line
    if not done_text:
        f.problem("дата выполнения не заполнена", line=line, column=done_column)
        return None
    done = f.date(done_text, what="Дата выполнения", line=line, column=done_column, as_of=as_of)
    if done is None:
        return None
    measure = roadmap.measure(number)
    evidence = _evidence(f, evidence_text, roadmap, measure.evidence, line, evidence_column)
    if evidence is None:
        return None
    missing = [k for k in measure.evidence if k not in evidence]
    if missing:
        f.problem(
            f"мероприятию № {number} нужны документы: "
            + "; ".join(f"{k}=… ({roadmap.evidence_kind(k).name})" for k in missing),
            line=line,
            column=evidence_column or None,
        )
        return None
    return CycleDoneRow(
        measure=number,
        period=period,
        due=spec.due,
        done=done,
        done_column=done_column,
        evidence=evidence,
        line=line,
    )


def _evidence(
    f: _File,
    text: str,
    roadmap: Roadmap,
    needed: tuple[str, ...],
    line: int,
    column: int,
) -> dict[str, str] | None:
    kinds = {k.id for k in roadmap.evidence_kinds}
    result: dict[str, str] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        kind, sep, value = part.partition("=")
        if sep and kind.strip() in kinds and value.strip():
            result[kind.strip()] = value.strip()
        elif len(needed) == 1 and not sep:
            result[needed[0]] = part
        else:
            f.problem(
                f"документ «{visible(part)}»: укажите вид документа, ВИД=ТЕКСТ; виды: "
                + ", ".join(sorted(kinds)),
                line=line,
                column=column,
            )
            return None
    return result
