"""The header row of a table file, declared once per kind of file.

A reader says which columns it knows (`Column`: a key, the names people write, the
Russian name messages use, whether the column is required) and how its messages word
them (`HeaderSpec`); `HeaderSpec.read` maps a header row to column indexes and reports
every problem of the row at once: an unknown column, a column written twice, a required
column missing. Header cells are compared without case, surrounding or repeated
spaces, BOM or «ё» (`workflow.imports.tablefile.normalise_header`, or the reader's own
normaliser).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from workflow.errors import ImportFileError, Problem
from workflow.imports.tablefile import normalise_header

__all__ = ["Column", "ColumnUse", "Header", "HeaderSpec"]


class ColumnUse(Enum):
    """What a reader does with a column."""

    #: The header must name it, once.
    REQUIRED = "required"
    #: The header may name it, once.
    OPTIONAL = "optional"
    #: Allowed and skipped, any number of times: a column a report or a list of centers
    #: carries for people, which the reader does not need.
    IGNORED = "ignored"


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column a reader knows.

    Attributes:
        key: the reader's name for it (``code``); unique within a spec.
        aliases: the names a header may give it, in any case and spacing.
        russian_name: how messages and problem fields name it («Код»).
        use: whether the header must name it.
    """

    key: str
    aliases: tuple[str, ...]
    russian_name: str
    use: ColumnUse = ColumnUse.REQUIRED

    def __post_init__(self) -> None:
        if not self.aliases:
            raise ValueError(f"column {self.key!r} has no aliases")


@dataclass(frozen=True, kw_only=True)
class Header:
    """A header row mapped to the columns of a spec.

    Attributes:
        line: the header's line in the file.
        columns: the 0-based index of each key the header names (ignored columns left
            out), in the header's order.
        names: each of those keys' header text as written (stripped).
    """

    line: int
    columns: Mapping[str, int]
    names: Mapping[str, str]


# The placeholders each message template may use (checked when a spec is built).
_PLACEHOLDERS: dict[str, dict[str, object]] = {
    "label": {"key": "", "russian": ""},
    "unknown": {"written": "", "expected": ""},
    "repeated": {"written": "", "column": 0, "first": ""},
    "missing": {"labels": ""},
}


@dataclass(frozen=True, kw_only=True)
class HeaderSpec:
    """The header a kind of table file has, and how its problems are worded.

    A header cell names the first column (in ``columns`` order) that has its
    normalised text as an alias; list the columns that must win a shared name first.

    Attributes:
        columns: the columns the reader knows.
        normalise: how a header cell and an alias are compared.
        label: how the ``expected`` and ``missing`` lists name a column:
            ``{key}`` and ``{russian}`` (its ``russian_name``).
        expected: the columns an unknown-column message lists; by default every
            column that is not ignored, by ``label``, separated by commas.
        unknown: the message for a cell no column has as alias: ``{written}``,
            ``{expected}``.
        repeated: the message for a second cell naming a column: ``{written}``,
            ``{column}`` (the 1-based column of the first), ``{first}`` (its text).
        missing: the message for required columns the header lacks: ``{labels}``.
    """

    columns: tuple[Column, ...]
    normalise: Callable[[str], str] = normalise_header
    label: str = "{russian}"
    expected: str | None = None
    unknown: str = "неизвестный столбец «{written}»: ожидаются {expected}"
    repeated: str = "столбец «{written}» повторяет столбец {column}"
    missing: str = "в заголовке нет столбцов: {labels}"
    _by_alias: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = [column.key for column in self.columns]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"column keys repeated in a header spec: {', '.join(repeated)}")
        for name, values in _PLACEHOLDERS.items():
            template: str = getattr(self, name)
            try:
                template.format(**values)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"header spec template {name}={template!r}: {exc}") from None
        by_alias: dict[str, Column] = {}
        for column in self.columns:
            for alias in column.aliases:
                by_alias.setdefault(self.normalise(alias), column)
        object.__setattr__(self, "_by_alias", MappingProxyType(by_alias))

    @property
    def known(self) -> frozenset[str]:
        """Every alias as normalised: the header names a CSV's encoding is judged by."""
        return frozenset(self._by_alias)

    def column(self, key: str) -> Column:
        """The column of ``key``.

        Raises:
            KeyError: no column has that key.
        """
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def read(self, cells: list[str], *, filename: str, line: int) -> Header:
        """Map a header row to the spec's columns.

        Args:
            cells: the header row's cells as text.
            filename: the name shown in problems.
            line: the header's line in the file.

        Returns:
            The columns the header names.

        Raises:
            ImportFileError: every problem of the header, in column order, then the
                missing required columns.
        """
        problems: list[Problem] = []
        columns: dict[str, int] = {}
        names: dict[str, str] = {}
        for index, cell in enumerate(cells):
            written = cell.strip()
            if not written:
                continue
            column = self._by_alias.get(self.normalise(written))
            if column is not None and column.use is ColumnUse.IGNORED:
                continue
            if column is None:
                message = self.unknown.format(written=written, expected=self._expected())
            elif column.key in columns:
                first = columns[column.key]
                message = self.repeated.format(
                    written=written, column=first + 1, first=names[column.key]
                )
            else:
                columns[column.key] = index
                names[column.key] = written
                continue
            problems.append(
                Problem(file=filename, line=line, column=index + 1, field=written, message=message)
            )
        missing = [
            self._label(column)
            for column in self.columns
            if column.use is ColumnUse.REQUIRED and column.key not in columns
        ]
        if missing:
            problems.append(
                Problem(
                    file=filename,
                    line=line,
                    message=self.missing.format(labels=", ".join(missing)),
                )
            )
        if problems:
            raise ImportFileError(problems)
        return Header(line=line, columns=columns, names=names)

    def _label(self, column: Column) -> str:
        return self.label.format(key=column.key, russian=column.russian_name)

    def _expected(self) -> str:
        if self.expected is not None:
            return self.expected
        return ", ".join(
            self._label(column) for column in self.columns if column.use is not ColumnUse.IGNORED
        )


#: The columns the centers file and the municipalities' contacts file share, declared once.
MUNICIPALITY_COLUMN = Column(
    key="municipality",
    aliases=("municipality", "муниципальное образование", "муниципалитет"),
    russian_name="Муниципальное образование",
)
EMAIL_COLUMN = Column(
    key="email",
    aliases=(
        "email",
        "e-mail",
        "e mail",
        "электронная почта",
        "эл. почта",
        "адрес электронной почты",
    ),
    russian_name="Email",
)
