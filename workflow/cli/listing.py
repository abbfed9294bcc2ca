"""Plain text for people: aligned tables and lines that fit the terminal.

Listings are the most frequent commands and their start-up time is budgeted
(benchmarks/bench_cli.py): importing and laying out a Rich table for 100 rows costs about
as much as the rest of the command, so every table and wrapped text is laid out here.

The rules, the same for every command:

- In a terminal, output fits the terminal's width (``COLUMNS``, else the terminal's
  size). A long cell is wrapped (`Fit.WRAP`) or cut (`Fit.CUT`, the full text is in the
  command's ``show``) on word boundaries; a cut ends with «…». An e-mail address, a date,
  a code or a number (`Fit.KEEP`) is never broken, and a line may grow past the width
  rather than break one. A word of a text is not broken either, unless it is longer than
  `WRAP_WORD_LIMIT` (a name written without spaces): it is wrapped or cut inside, so that
  a hostile name cannot push a listing past the terminal.
- With ``--wide``, or when stdout is not a terminal (a pipe, a file, journald), nothing
  is cut or wrapped: each row and each message is one line.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import IO

#: Narrowest a cut column gets (less than this is not worth reading).
CUT_MINIMUM = 14
#: Where a cut column stops giving way to the others.
CUT_COMFORT = 28
#: A wrapped column is as wide as its longest word up to this; a longer word is broken.
WRAP_WORD_LIMIT = 24
ELLIPSIS = "…"
_GAP = "  "
_NOTE = "    "
#: Kept together when wrapping: «№ 5», not «№» at a line's end.
_NO_BREAK_AFTER = ("№ ",)
#: A no-break space in a cell glues two words (``выполнен:\u00a03``); printed as a space.
NBSP = "\u00a0"
_SPACES = re.compile(r"[ \t\r\n]+")
#: What a person types or copies: an address, a link, a code or a number (with digits).
_WHOLE = re.compile(r"[@/:\d_]")


class Fit(Enum):
    """What a table column does when the table is wider than the terminal."""

    KEEP = "keep"
    """Never shortened: codes, dates, numbers, e-mail addresses."""
    WRAP = "wrap"
    """Wrapped on word boundaries onto more lines."""
    CUT = "cut"
    """Cut on a word boundary, with «…» (the full text is in ``show``)."""


@dataclass(frozen=True)
class Column:
    """A table column: its heading and what it does when space is short."""

    title: str
    fit: Fit = Fit.KEEP
    right: bool = False


def terminal_width(stream: IO[str] | None = None) -> int | None:
    """The width to fit on ``stream`` (stdout by default): None when it is not a terminal.

    ``COLUMNS`` wins over the terminal's own size, as for every other program.
    """
    stream = sys.stdout if stream is None else stream
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):  # a closed or exotic stream
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def cut(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` characters, cut after a whole word with
    «…». A first word longer than the width is cut inside (a title with no space in it
    would otherwise push the line past the terminal; its full text is in ``show``)."""
    words = _words(text)
    text = " ".join(words)
    if len(text) <= width:
        return text.replace(NBSP, " ")
    kept = ""
    for word in words:
        candidate = f"{kept} {word}" if kept else word
        if len(candidate) + len(ELLIPSIS) > width:
            break
        kept = candidate
    if not kept:
        kept = words[0][: max(width - len(ELLIPSIS), 1)]
    return kept.rstrip(" ,;:—-").replace(NBSP, " ") + ELLIPSIS


def _words(text: str) -> list[str]:
    """The words of ``text``: split at spaces, not at no-break spaces."""
    for phrase in _NO_BREAK_AFTER:
        text = text.replace(phrase, phrase[:-1] + NBSP)
    return [w for w in _SPACES.split(text) if w]


def wrap(
    text: str, width: int | None, *, first: str = "", rest: str = "", break_long: bool = False
) -> list[str]:
    """``text`` as lines of at most ``width`` characters (None: one line per paragraph),
    broken only at spaces (with ``break_long``, a word longer than ``width`` is broken
    too). ``first`` prefixes the first line; a paragraph's continued lines are indented by
    ``rest`` more than the paragraph itself."""
    lines: list[str] = []
    for number, paragraph in enumerate(text.split("\n")):
        prefix = first if number == 0 else ""
        if width is None:
            lines.append((prefix + paragraph).replace(NBSP, " "))
            continue
        body = paragraph.lstrip(" ")
        indent = paragraph[: len(paragraph) - len(body)]
        for phrase in _NO_BREAK_AFTER:
            body = body.replace(phrase, phrase[:-1] + NBSP)
        wrapped = textwrap.wrap(
            body,
            width=max(width, len(prefix + indent) + 1),
            initial_indent=prefix + indent,
            subsequent_indent=indent + rest,
            break_long_words=break_long,
            break_on_hyphens=False,
        ) or [(prefix + indent).rstrip()]
        lines.extend(line.replace(NBSP, " ") for line in wrapped)
    return lines


def _longest_word(text: str) -> int:
    return max((len(w) for w in _words(text)), default=0)


def _longest_unbreakable(text: str) -> int:
    """The width a wrapped cell needs: its longest word up to `WRAP_WORD_LIMIT`, or its
    longest e-mail address, link or code whatever its length (those are never broken)."""
    return max(
        (len(w) if _WHOLE.search(w) else min(len(w), WRAP_WORD_LIMIT) for w in _words(text)),
        default=0,
    )


def _widths(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None
) -> list[int]:
    natural = [len(c.title) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            natural[i] = max(natural[i], len(cell))
    if width is None:
        return natural
    minimum = []
    for i, column in enumerate(columns):
        if column.fit is Fit.KEEP:
            minimum.append(natural[i])
        elif column.fit is Fit.WRAP:
            # Never narrower than a word, up to a limit: a longer "word" (a name written
            # without spaces) is broken rather than pushing the line past the terminal.
            longest = max((_longest_unbreakable(row[i]) for row in rows), default=0)
            minimum.append(max(len(column.title), longest))
        else:
            minimum.append(max(len(column.title), min(natural[i], CUT_MINIMUM)))
    # A cut text is read best with a couple of dozen characters; a wrapped one can go
    # down to half its length (two lines) first.
    comfort = [
        max(low, min(full, CUT_COMFORT)) if c.fit is Fit.CUT else max(low, (full + 1) // 2)
        for c, low, full in zip(columns, minimum, natural, strict=True)
    ]
    widths = list(natural)
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - width
    # Take from the widest shrinkable column first, one character at a time, down to the
    # comfortable widths, then down to the minimums: the columns end up as even as that
    # allows.
    for floor in (comfort, minimum):
        while excess > 0:
            shrinkable = [i for i in range(len(widths)) if widths[i] > floor[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    # Still wider than the terminal: the line grows, no word is broken.
    return widths


def table_lines(
    columns: Sequence[Column | str],
    rows: Sequence[Sequence[str]],
    width: int | None,
    *,
    notes: Sequence[str] = (),
) -> list[str]:
    """The heading, a rule and the rows of a table fitted to ``width`` (None: as wide as
    its cells). ``notes[i]``, if not empty, is a free text printed under row ``i``,
    indented, as wide as the table may be (a comment, the documents). When a row takes
    several lines, rows are parted by a blank line."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    widths = _widths(cols, rows, width)
    laid_out = [row_lines(cols, widths, row, width) for row in rows]
    for k, note in enumerate(notes):
        if note:
            laid_out[k] += wrap(note, width, first=_NOTE, rest=_NOTE + "  ")
    out = heading_lines(cols, widths)
    spaced = any(len(r) > 1 for r in laid_out)
    for k, lines in enumerate(laid_out):
        if spaced and k:
            out.append("")
        out.extend(lines)
    return out


def column_widths(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None
) -> list[int]:
    """The widths `table_lines` gives ``columns`` for ``rows``. For a table printed as it
    is produced (`heading_lines`, `row_lines`), ``rows`` may be a digest of a first pass:
    the longest cell of each column, and a row of each wrapped column's longest word."""
    return _widths(columns, rows, width)


def _line(columns: Sequence[Column], widths: Sequence[int], cells: Sequence[str]) -> str:
    parts = [
        cell.rjust(w) if col.right else cell.ljust(w)
        for cell, w, col in zip(cells, widths, columns, strict=True)
    ]
    return _GAP.join(parts).rstrip()


def heading_lines(columns: Sequence[Column], widths: Sequence[int]) -> list[str]:
    """A table's heading and its rule, for ``widths`` (`column_widths`)."""
    return [_line(columns, widths, [c.title for c in columns]), _GAP.join("─" * w for w in widths)]


def row_lines(
    columns: Sequence[Column], widths: Sequence[int], row: Sequence[str], width: int | None
) -> list[str]:
    """The lines of one row laid out in ``widths`` (`column_widths`): cut and wrapped cells
    as in `table_lines` (None: as wide as its cells)."""
    if width is None or all(len(cell) <= w for cell, w in zip(row, widths, strict=True)):
        # Every cell fits its column (or nothing is cut): one line, the common case of
        # a long table, laid out without the cut-and-wrap machinery.
        return [_line(columns, widths, [cell.replace(NBSP, " ") for cell in row])]
    cells: list[list[str]] = []
    for cell, w, col in zip(row, widths, columns, strict=True):
        if len(cell) <= w or width is None or col.fit is Fit.KEEP:
            cells.append([cell.replace(NBSP, " ")])
        elif col.fit is Fit.CUT:
            cells.append([cut(cell, w)])
        else:
            cells.append(wrap(cell, w, break_long=True))
    height = max((len(c) for c in cells), default=1)
    return [
        _line(columns, widths, [c[k] if k < len(c) else "" for c in cells]) for k in range(height)
    ]


def print_table(
    title: str,
    columns: Sequence[Column | str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    notes: Sequence[str] = (),
) -> None:
    """Print ``title`` and the table (`table_lines`); ``width`` is the terminal's (None:
    no limit)."""
    lines = [*wrap(title, width), "", *table_lines(columns, rows, width, notes=notes)]
    sys.stdout.write("\n".join(lines) + "\n")


def print_lines(lines: Sequence[str]) -> None:
    """Write ``lines`` to stdout as they are."""
    sys.stdout.write("".join(f"{line}\n" for line in lines))
