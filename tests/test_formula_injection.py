"""Spreadsheet cells are data (issue 10, item 1): no imported text becomes a formula.

Every prefix that makes a cell a formula in Excel or LibreOffice («=», «+», «-», «@», a tab,
a carriage return) goes through the real import (`tochka centers import`, `tochka
municipalities import`), then through `report quarterly` (XLSX and CSV) and `report status
--format xlsx`. The files are read back: no cell is a formula (openpyxl and the raw sheet
XML), every such CSV cell begins with «'», the import warned about each such value, and
LibreOffice, converting the workbooks, shows the texts as written (no computed value, no
link).

The reader strips a tab or a carriage return at the edges of a value and refuses one inside
it, so those two reach the database only past the reader (an older import, a direct edit):
the test writes them there, since the writers must not rely on the reader.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from states.center import FORWARD_TRIGGERS, LIFECYCLE, CenterState
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER
from workflow.views.cells import FORMULA_PREFIXES

Cli = Callable[..., Result]

LINK = '=HYPERLINK("http://evil.example/","Нажмите")'
TAB_NAME = "\t=3+4"
CR_NAME = "\r=5+6"
EVIL_TOWN = "=2+3"
TOWN = "Шуйский район"

#: The centers file: code, name, municipality (cohort 2021, all opened and reporting).
CENTERS = (
    ("F-01", LINK, TOWN),
    ("F-02", "=1+1", TOWN),
    ("F-03", "+cmd|'/C calc'!A0", EVIL_TOWN),
    ("F-04", "@SUM(1+1)", EVIL_TOWN),
    ("-F-05", "-2+3", TOWN),
    # Tab and carriage return at the edges: stripped by the reader (no warning); the
    # test then writes TAB_NAME and CR_NAME past it.
    ("F-06", "\tМБОУ «Табуляция»", TOWN),
    ("F-07", "МБОУ «Возврат»\r", TOWN),
    ("F-08", "МБОУ «Обычная СШ»", TOWN),
)
#: What the reports must show as text: every dangerous name, code and municipality.
DANGEROUS = (
    LINK,
    "=1+1",
    "+cmd|'/C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "-F-05",
    EVIL_TOWN,
    TAB_NAME,
    CR_NAME,
)
CONTACTS = (
    "municipality,email,recipient\r\n"
    f"{EVIL_TOWN},uo@example.org,@Управление образования\r\n"
    f"{TOWN},roo@example.org,\r\n"
)

WARNING = "значение начинается с {first} — в отчётах оно будет записано как текст, не как формула"


def _warning(file: Path, line: int, field: str, first: str, column: int | None = None) -> str:
    where = f"{file}, строка {line}" + (f", столбец {column}" if column else "")
    return f"Предупреждение: {where}, поле «{field}»: {WARNING.format(first=first)}"


@dataclass(frozen=True, kw_only=True)
class Produced:
    centers_import: Result
    contacts_import: Result
    centers_file: Path
    contacts_file: Path
    quarterly_xlsx: Path
    quarterly_csv: Path
    status_xlsx: Path


def _walk_to_reporting(engine: Engine, stored: StoredRoadmap) -> None:
    """Every center through its lifecycle to «отчитывается», as `tests.test_indicators.seed`."""
    fire = TransitionEngine(engine, stored.definition, stored.id).fire_center
    actor = Actor(login="operator")
    for code, _, _ in CENTERS:
        for state in LIFECYCLE[1 : LIFECYCLE.index(CenterState.REPORTING) + 1]:
            when = {
                CenterState.OPENED: datetime(2021, 9, 1, 9, tzinfo=UTC),
                CenterState.REPORTING: datetime(2021, 10, 1, 9, tzinfo=UTC),
            }.get(state, datetime(2021, 8, 20, 9, tzinfo=UTC))
            fire(code, FORWARD_TRIGGERS[state].value, actor=actor, now=when)


@pytest.fixture
def produced(cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path) -> Produced:
    centers_file = tmp_path / "centers.csv"
    with centers_file.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["code", "name", "municipality", "cohort", "email"])
        for index, (code, name, town) in enumerate(CENTERS, start=1):
            writer.writerow([code, name, town, 2021, f"school{index}@example.org"])
    centers_import = cli("--now", "2021-01-11", "centers", "import", str(centers_file))
    assert centers_import.exit_code == 0, centers_import.output
    contacts_file = tmp_path / "contacts.csv"
    contacts_file.write_text(CONTACTS, encoding="utf-8")
    contacts_import = cli("--now", "2021-01-11", "municipalities", "import", str(contacts_file))
    assert contacts_import.exit_code == 0, contacts_import.output
    with db.write(engine) as conn:
        for code, name in (("F-06", TAB_NAME), ("F-07", CR_NAME)):
            conn.execute(sa.update(CENTER).where(CENTER.c.code == code).values(name=name))
    _walk_to_reporting(engine, stored)
    for code, values in (("F-01", "natsci_students=120"), ("F-03", "tech_students=40")):
        submitted = cli("--now", "2021-10-05", "indicators", "submit", code, "2021-Q3", values)
        assert submitted.exit_code == 0, submitted.output
    # The reconciler opens the monitoring cycle (due 01.10): the status names the schools
    # that owe its indicators.
    assert cli("--now", "2021-10-06", "tick").exit_code == 0
    paths = {
        "quarterly_xlsx": tmp_path / "q.xlsx",
        "quarterly_csv": tmp_path / "q.csv",
        "status_xlsx": tmp_path / "status.xlsx",
    }
    for args in (
        ("report", "quarterly", "2021-Q3", "--format", "xlsx", "-o", str(paths["quarterly_xlsx"])),
        ("report", "quarterly", "2021-Q3", "--format", "csv", "-o", str(paths["quarterly_csv"])),
        ("report", "status", "--format", "xlsx", "-o", str(paths["status_xlsx"])),
    ):
        result = cli("--now", "2021-10-06", *args)
        assert result.exit_code == 0, result.output
    return Produced(
        centers_import=centers_import,
        contacts_import=contacts_import,
        centers_file=centers_file,
        contacts_file=contacts_file,
        **paths,
    )


def _xlsx_texts(path: Path) -> list[str]:
    """Every text cell of the workbook, after checking that no cell is a formula."""
    from openpyxl import load_workbook

    with zipfile.ZipFile(path) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert sheets
        for name in sheets:
            xml = archive.read(name)
            assert b"<f>" not in xml, name
            assert b"<f " not in xml, name
    book = load_workbook(path)
    texts: list[str] = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (sheet.title, cell.coordinate, cell.value)
                    texts.append(cell.value)
    return texts


def _as_read(text: str) -> str:
    # openpyxl writes a carriage return raw in the sheet XML, which every XML parser reads
    # as a line feed: the cell is still text, beginning with «\n».
    return text.replace("\r", "\n")


def test_import_warns_about_every_formula_like_value(produced: Produced) -> None:
    centers, contacts = produced.centers_file, produced.contacts_file
    assert produced.centers_import.stderr.splitlines() == [
        _warning(centers, 2, "Наименование", "«=»"),
        _warning(centers, 3, "Наименование", "«=»"),
        _warning(centers, 4, "Наименование", "«+»"),
        _warning(centers, 4, "Муниципальное образование", "«=»"),
        _warning(centers, 5, "Наименование", "«@»"),
        _warning(centers, 5, "Муниципальное образование", "«=»"),
        _warning(centers, 6, "Код", "«-»"),
        _warning(centers, 6, "Наименование", "«-»"),
    ]
    # Imported all the same: every center, and the confirmation on stdout.
    assert f"Импортировано центров: {len(CENTERS)}" in produced.centers_import.stdout
    assert produced.contacts_import.stderr.splitlines() == [
        _warning(contacts, 2, "Муниципальное образование", "«=»", column=1),
        _warning(contacts, 2, "Получатель", "«@»"),
    ]


def test_quarterly_xlsx_writes_every_text_as_text(produced: Produced) -> None:
    from openpyxl import load_workbook

    texts = _xlsx_texts(produced.quarterly_xlsx)
    for text in DANGEROUS:
        assert _as_read(text) in texts, text
    # Numbers stay numbers: the cohort and the submitted value.
    sheet = load_workbook(produced.quarterly_xlsx)["Центры"]
    # Rows 1-3: the title, the date, a blank row; row 4 the header.
    assert sheet["A2"].is_date
    first = next(row for row in sheet.iter_rows(min_row=5) if row[0].value == "F-01")
    assert (first[3].value, first[3].data_type) == (2021, "n")
    assert (first[5].value, first[5].data_type) == (120, "n")


def test_status_xlsx_writes_every_text_as_text(produced: Produced) -> None:
    texts = _xlsx_texts(produced.status_xlsx)
    assert EVIL_TOWN in texts
    assert TOWN in texts


def test_quarterly_csv_puts_a_quote_before_every_formula_like_text(produced: Produced) -> None:
    with produced.quarterly_csv.open(encoding="utf-8-sig", newline="") as source:
        rows = list(csv.reader(source, delimiter=";"))
    cells = [cell for row in rows for cell in row]
    for text in DANGEROUS:
        assert "'" + text in cells, text
    assert not [cell for cell in cells if cell[:1] in FORMULA_PREFIXES]
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code["F-08"][1] == "МБОУ «Обычная СШ»"  # other texts as they are
    assert by_code["F-01"][3] == "2021"
    assert by_code["F-01"][5] == "120"


# ---------------------------------------------------------------------- LibreOffice

SOFFICE = "/usr/bin/soffice"
#: CSV export: comma, quote, UTF-8, from line 1; cells as shown, not their formulas; every
#: sheet into its own file (``<name>-<sheet>.csv``).
CSV_EXPORT = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice Calc without a GUI, installed with apt-get when missing (root in CI)."""
    if not Path(SOFFICE).exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.fail("LibreOffice не установлен, а установить его нельзя: apt-get недоступен")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "libreoffice-calc-nogui"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
    assert Path(SOFFICE).exists()
    return SOFFICE


def _libreoffice_sheets(soffice: str, workbook: Path, work: Path) -> dict[str, list[list[str]]]:
    """Each sheet of ``workbook`` as LibreOffice shows it (converted to CSV)."""
    out = work / f"lo-{workbook.stem}"
    command = [
        soffice,
        f"-env:UserInstallation=file://{work / 'lo-profile'}",
        "--headless",
        "--norestore",
        "--convert-to",
        CSV_EXPORT,
        "--outdir",
        str(out),
        str(workbook),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    sheets = {}
    for path in sorted(out.glob(f"{workbook.stem}-*.csv")):
        with path.open(encoding="utf-8", newline="") as source:
            sheets[path.stem.removeprefix(f"{workbook.stem}-")] = list(csv.reader(source))
    assert sheets, (done.stdout, done.stderr)
    return sheets


def test_libreoffice_shows_the_texts_as_written(
    produced: Produced, soffice: str, tmp_path: Path
) -> None:
    quarterly = _libreoffice_sheets(soffice, produced.quarterly_xlsx, tmp_path)
    # Rows 1-3: the title, the date (a date cell, shown with its label), a blank row;
    # row 4 the header.
    for rows in quarterly.values():
        assert rows[0][0] == "Мониторинг показателей центров «Точка роста» — III квартал 2021 г."
        assert rows[1][0] == "Сформирован: 06.10.2021 00:00 МСК"
        assert rows[2] == [""] * len(rows[2])
    assert quarterly["Центры"][3][:3] == ["Код", "Наименование", "Муниципальное образование"]
    by_code = {row[0]: row for row in quarterly["Центры"][4:]}
    assert [(code, by_code[code][1], by_code[code][2]) for code, _, _ in CENTERS] == [
        ("F-01", LINK, TOWN),
        ("F-02", "=1+1", TOWN),
        ("F-03", "+cmd|'/C calc'!A0", EVIL_TOWN),
        ("F-04", "@SUM(1+1)", EVIL_TOWN),
        ("-F-05", "-2+3", TOWN),
        ("F-06", TAB_NAME, TOWN),
        ("F-07", _as_read(CR_NAME), TOWN),
        ("F-08", "МБОУ «Обычная СШ»", TOWN),
    ]
    cells = {cell for sheet in quarterly.values() for row in sheet for cell in row}
    assert "Нажмите" not in cells  # the link's label would show if it were a formula
    assert by_code["F-01"][5] == "120"  # a number, shown in its number format
    summary = {row[0] for row in quarterly["Итоги"][4:]}
    assert EVIL_TOWN in summary
    assert "5" not in summary  # what «=2+3» would compute to
    status = _libreoffice_sheets(soffice, produced.status_xlsx, tmp_path)
    # Rows 1-3: the sheet's title, its date, a blank row; row 4 the header.
    towns = [row[0] for row in status["Муниципалитеты"][4:]]
    assert sorted(towns) == sorted([EVIL_TOWN, TOWN])
    # The schools the status names (here: those owing the indicators) are as written too.
    owing = {row[0]: row[1] for row in status["Показатели не сданы"][4:]}
    assert owing["F-02"] == "=1+1"
    assert owing["F-04"] == "@SUM(1+1)"
    assert "Нажмите" not in {cell for sheet in status.values() for row in sheet for cell in row}
