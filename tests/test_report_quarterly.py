"""``tochka report quarterly``: exact XLSX cells and CSV rows, on both backends."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from tests.test_indicators import seed
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER
from workflow.views.quarterly import HEADER_ROW, header_height

Cli = Callable[..., Result]

IND_HEADERS = [
    "Численность обучающихся, осваивающих учебные предметы «Физика», «Химия», «Биология» на "
    "оборудовании центра, чел. (III квартал 2021 г.)",
    "Численность обучающихся, осваивающих учебный предмет «Технология» на оборудовании центра, "
    "чел. (III квартал 2021 г.)",
    "Численность обучающихся, осваивающих дополнительные общеобразовательные программы "
    "естественно-научной и технической направленностей, чел. (III квартал 2021 г.)",
    "Количество мероприятий, проведённых на площадке центра (конкурсы, олимпиады, фестивали, "
    "конференции), ед. (2021 г.)",
    "Доля педагогических работников центра, прошедших обучение по программам из реестра "
    "программ повышения квалификации федерального оператора, % (2021 г.)",
]
HEADER = [
    "Код",
    "Наименование",
    "Муниципальное образование",
    "Год создания",
    "Состояние",
    *IND_HEADERS,
    "Цели достигнуты",
    "Сведения",
]
SCRIPT_NAME = 'МКОУ "Пестяковская <script>alert(1)</script> СШ"'
TITLE = "Мониторинг показателей центров «Точка роста» — III квартал 2021 г."
#: --now of the XLSX tests: 14:35 UTC is 17:35 in Moscow, the roadmap's clock.
NOW = "2021-10-06T14:35:00+00:00"
STAMP = datetime(2021, 10, 6, 17, 35)


def _submit(cli: Cli) -> None:
    for args in (
        (
            "IV-01",
            "2021-Q3",
            "natsci_students=120",
            "tech_students=40",
            "extra_programs_students=55",
        ),
        ("IV-03", "2021-Q3", "natsci_students=90"),
        ("IV-02", "2021", "events=3", "trained_teachers_share=87,5"),
        # A correction: the later row counts.
        ("IV-01", "2021-Q3", "tech_students=41"),
    ):
        result = cli("--now", "2021-10-05", "indicators", "submit", *args)
        assert result.exit_code == 0, result.output


@pytest.fixture
def submitted(cli: Cli, engine: Engine, stored: StoredRoadmap) -> Cli:
    seed(engine, stored)
    _submit(cli)
    return cli


def _title_block(ws: Any) -> None:
    """Rows 1-3 above the header (row 4), as the status XLSX has them: what, when, blank."""
    assert HEADER_ROW == 4
    assert ws["A1"].value == TITLE
    assert ws["A1"].font.b
    # The date is a date cell, not text: the --now of the run on the roadmap's clock
    # (report.generated_at, never the machine's time); its format adds the label and
    # «МСК», so that it reads «Сформирован: 06.10.2021 17:35 МСК» (LibreOffice shows it
    # so: test_xlsx_prints_on_a4_with_nothing_cut).
    stamp = ws["A2"]
    assert stamp.is_date
    assert stamp.value == STAMP
    assert stamp.number_format == '"Сформирован: "DD.MM.YYYY HH:MM" МСК"'
    assert stamp.font.b
    assert [c.value for c in ws[2][1:]] == [None] * (len(ws[2]) - 1)
    assert [c.value for c in ws[3]] == [None] * len(ws[3])
    assert ws.oddFooter.left.text == "Сформирован: 06.10.2021 17:35 МСК"


def test_xlsx_cells(submitted: Cli, stored: StoredRoadmap, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "q.xlsx"
    result = submitted(
        "--now",
        NOW,
        "--json",
        "report",
        "quarterly",
        "2021-Q3",
        "--format",
        "xlsx",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "file": str(out),
        "period": "2021-Q3",
        "format": "xlsx",
        "centers": 4,
        "missing": 3,
        "empty": False,
    }
    book = load_workbook(out)
    assert book.sheetnames == ["Центры", "Итоги", "Показатели"]
    for ws in book.worksheets:
        _title_block(ws)
    sheet = book["Центры"]
    assert sheet.freeze_panes == "C5"  # below the header, the code and name kept in view
    assert [c.value for c in sheet[4]] == HEADER
    assert all(c.font.b for c in sheet[4])
    # The date is merged over the code and name columns: the code column alone is too
    # narrow for it.
    assert {str(r) for r in sheet.merged_cells.ranges} == {"A2:B2"}
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=5)] == [
        [
            "IV-01",
            "МБОУ «Лежневская СШ № 1»",
            "Лежневский район",
            2021,
            "отчитывается",
            120,
            41,
            55,
            None,
            None,
            "да",
            "представлены",
        ],
        [
            "IV-03",
            "МБОУ «Шуйская СШ № 2»",
            "Лежневский район",
            2021,
            "отчитывается",
            90,
            None,
            None,
            None,
            None,
            "нет",
            "частично",
        ],
        [
            "IV-04",
            "МБОУ «Палехская СШ»",
            "Палехский район",
            2021,
            "открыт",
            None,
            None,
            None,
            None,
            None,
            "нет сведений",  # nothing in: whether the targets are met is unknown
            "нет сведений",
        ],
        [
            "IV-02",
            SCRIPT_NAME,
            "Пестяковский район",
            2021,
            "отчитывается",
            None,
            None,
            None,
            3,
            87.5,
            "нет",
            "нет сведений",
        ],
    ]
    assert sheet["F5"].number_format == "#,##0"
    assert sheet["J8"].number_format == "0.0"
    assert sheet["L6"].font.color.rgb == "00B00020"  # a missing submission stands out
    # Widths fit the longest name and municipality (within bounds), the header row is as
    # tall as its longest wrapped title: nothing is cut (see the LibreOffice print below).
    assert sheet.column_dimensions["B"].width == len(SCRIPT_NAME) + 3
    assert sheet.column_dimensions["C"].width == 21  # «Пестяковский район» + margin
    assert sheet.row_dimensions[4].height == header_height(HEADER, _widths(sheet, len(HEADER)))
    assert sheet.row_dimensions[4].height >= 7 * 15  # the indicator titles take 7 lines
    assert all(c.alignment.wrap_text for c in sheet[4])

    summary = book["Итоги"]
    assert summary.freeze_panes == "B5"
    assert [c.value for c in summary[4]][:5] == [
        "Муниципальное образование",
        "Центров",
        "Сведения представлены",
        "Нет сведений (полностью или частично)",
        "Цели достигнуты (центров)",
    ]
    assert [c.value for c in summary[4]][5:] == [
        ("среднее: " if title.endswith("% (2021 г.)") else "всего: ") + title
        for title in IND_HEADERS
    ]
    assert [[c.value for c in row] for row in summary.iter_rows(min_row=5)] == [
        ["Лежневский район", 2, 1, 1, 1, 210, 41, 55, None, None],
        ["Палехский район", 1, 0, 1, 0, None, None, None, None, None],
        ["Пестяковский район", 1, 0, 1, 0, None, None, None, 3, 87.5],
        ["Ивановская область: всего", 4, 1, 3, 1, 210, 41, 55, 3, 87.5],
    ]
    assert summary["F8"].number_format == "#,##0"
    assert summary["A8"].font.b

    legend = book["Показатели"]
    assert legend.freeze_panes == "A5"
    assert [c.value for c in legend[4]] == [
        "№",
        "Показатель",
        "Единица",
        "Периодичность",
        "Цель",
        "Период",
    ]
    assert [c.value for c in legend[5]] == [
        1,
        IND_HEADERS[0].split(", чел.")[0],
        "чел.",
        "ежеквартально",
        100,
        "III квартал 2021 г.",
    ]
    assert [row[5] for row in legend.iter_rows(min_row=5, max_row=9, values_only=True)] == [
        *["III квартал 2021 г."] * 3,
        *["2021 г."] * 2,
    ]
    assert [row[0] for row in legend.iter_rows(min_row=5, max_row=9, values_only=True)] == [
        1,
        2,
        3,
        4,
        5,
    ]
    # The federal operator reads indicators by their names: no id of the roadmap file
    # (``natsci_students``) in any cell of any sheet.
    codes = {i.code for i in stored.definition.indicators}
    texts = {
        str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value
    }
    assert [t for t in texts if any(code in t for code in codes)] == []
    # The foot: one full stop after «г.» (the time is row 2).
    assert [[c.value for c in row] for row in legend.iter_rows(min_row=10)] == [
        [None] * 6,
        [
            "Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп. "
            "Отчёт за III квартал 2021 г.",
            *[None] * 5,
        ],
        ["Сформирован программой Tochka по данным базы дорожной карты.", *[None] * 5],
    ]


def _widths(sheet: Any, count: int) -> list[float]:
    from openpyxl.utils import get_column_letter

    return [sheet.column_dimensions[get_column_letter(i)].width for i in range(1, count + 1)]


LONG_TOWN = "Гаврилово-Посадский муниципальный район Ивановской области"
SOFFICE = Path("/usr/bin/soffice")


def test_xlsx_prints_on_a4_with_nothing_cut(
    submitted: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """Read back with openpyxl (A4, print titles, fit to width) and printed by LibreOffice:
    each sheet on an A4 page headed by the title and the date (shown whole, not «###»),
    the longest municipality and every word of every header on the first page."""
    from openpyxl import load_workbook

    with db.write(engine) as conn:
        conn.execute(
            sa.update(CENTER).where(CENTER.c.code == "IV-04").values(municipality=LONG_TOWN)
        )
    out = tmp_path / "q.xlsx"
    result = submitted("--now", NOW, "report", "quarterly", "2021-Q3", "-o", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    for ws in book.worksheets:
        assert ws.page_setup.paperSize == 9  # A4 (ECMA-376 paper size codes)
        assert ws.page_setup.orientation == "landscape"
        # The title, the date and the header on every page (rows 1-4, as the status
        # and final reports print theirs).
        assert ws.print_title_rows == "$1:$4"
        assert ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        _title_block(ws)
    centers, summary = book["Центры"], book["Итоги"]
    assert centers.column_dimensions["C"].width >= len(LONG_TOWN)
    assert summary.column_dimensions["A"].width >= len(LONG_TOWN)
    assert summary.row_dimensions[4].height == header_height(
        [c.value for c in summary[4]], _widths(summary, summary.max_column)
    )

    if not SOFFICE.exists():
        pytest.fail("LibreOffice не установлен: apt-get install libreoffice-calc-nogui")
    converted = subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert converted.returncode == 0, converted.stderr
    pdf = tmp_path / "q.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert "(A4)" in info.stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
    assert pages == 3  # one per sheet: fitted to the width, four centers fit one page
    for number in range(1, pages + 1):
        # Every page opens with what and when, the date cell shown whole (a number too
        # wide for its cell prints as «###»); the footer says it again.
        layout = subprocess.run(
            ["pdftotext", "-layout", "-f", str(number), "-l", str(number), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lines = [" ".join(line.split()) for line in layout.splitlines() if line.strip()]
        assert lines[:2] == [TITLE, "Сформирован: 06.10.2021 17:35 МСК"], lines[:3]
        assert "###" not in layout
        assert "Сформирован: 06.10.2021 17:35 МСК" in lines[-1]  # the footer
    first = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Every word of every header is printed whole (a column narrower than a word has it
    # broken: «общеобразовательн|ые»); hyphens and line ends aside, as the PDF's text has
    # them. (The header's height is checked against `header_height` in test_xlsx_cells:
    # LibreOffice's PDF text keeps a clipped cell's words.)
    printed = re.sub(r"[\s\-]", "", first)
    clipped = [w for t in HEADER for w in t.split() if re.sub(r"-", "", w) not in printed]
    assert clipped == []
    assert LONG_TOWN in " ".join(first.split())


def test_csv_rows(submitted: Cli, tmp_path: Path) -> None:
    out = tmp_path / "q.csv"
    result = submitted(
        "--now", "2021-10-06", "report", "quarterly", "2021-Q3", "--format", "csv", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "центров — 4, без полных сведений — 3" in " ".join(result.output.split())
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows == [
        HEADER,
        [
            "IV-01",
            "МБОУ «Лежневская СШ № 1»",
            "Лежневский район",
            "2021",
            "отчитывается",
            "120",
            "41",
            "55",
            "",
            "",
            "да",
            "представлены",
        ],
        [
            "IV-03",
            "МБОУ «Шуйская СШ № 2»",
            "Лежневский район",
            "2021",
            "отчитывается",
            "90",
            "",
            "",
            "",
            "",
            "нет",
            "частично",
        ],
        [
            "IV-04",
            "МБОУ «Палехская СШ»",
            "Палехский район",
            "2021",
            "открыт",
            "",
            "",
            "",
            "",
            "",
            "нет сведений",
            "нет сведений",
        ],
        [
            "IV-02",
            SCRIPT_NAME,
            "Пестяковский район",
            "2021",
            "отчитывается",
            "",
            "",
            "",
            "3",
            "87,5",
            "нет",
            "нет сведений",
        ],
    ]


def test_a_period_with_no_data_is_an_empty_report(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    seed(engine, stored)
    out = tmp_path / "q.xlsx"
    result = cli("--now", "2021-07-06", "report", "quarterly", "2021-Q2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Нет данных за II квартал 2021 г." in result.output
    book = load_workbook(out)
    assert book["Центры"]["A1"].value == (
        "Мониторинг показателей центров «Точка роста» — II квартал 2021 г."
    )
    assert [row for row in book["Центры"].iter_rows(min_row=5, values_only=True)] == [
        (
            "Нет данных за II квартал 2021 г.: ни один центр не должен был отчитываться и "
            "сведений за этот период нет.",
            *([None] * 11),
        )
    ]
    csv_out = tmp_path / "q.csv"
    assert (
        cli("report", "quarterly", "2021-Q2", "--format", "csv", "-o", str(csv_out)).exit_code == 0
    )
    assert csv_out.read_text(encoding="utf-8-sig").splitlines() == [
        ";".join(HEADER).replace("(III квартал 2021 г.)", "(II квартал 2021 г.)")
    ]


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2021", "«2021» — не отчётный период"),
        ("2020-Q4", "Период 2020-Q4 вне программы"),
        ("весна", "«весна» — не отчётный период"),
    ],
)
def test_bad_report_period(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path, period: str, message: str
) -> None:
    result = cli("report", "quarterly", period, "-o", str(tmp_path / "q.xlsx"))
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "q.xlsx").exists()


def test_output_folder_must_exist_and_failures_leave_no_file(
    submitted: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "нет" / "q.xlsx"
    result = submitted("report", "quarterly", "2021-Q3", "-o", str(missing))
    assert result.exit_code == 1
    assert f"Папка «{missing.parent}» не существует: отчёт не записан." in result.output
    assert not missing.parent.exists()

    from workflow.views import quarterly

    def broken(report: object, path: Path) -> None:
        path.write_text("половина отчёта")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(quarterly, "write_csv", broken)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "q.csv"
    target.write_text("старый отчёт")
    full = submitted("report", "quarterly", "2021-Q3", "--format", "csv", "-o", str(target))
    assert full.exit_code == 1  # in Russian, not a traceback (issue 10)
    assert "на диске нет места; отчёт не записан." in " ".join(full.output.split())
    # The old report is intact and no temporary file is left behind.
    assert target.read_text() == "старый отчёт"
    assert sorted(p.name for p in folder.iterdir()) == ["q.csv"]


def _targets_and_status(cli: Cli, tmp_path: Path, period: str) -> dict[str, list[str]]:
    """Code → [«Цели достигнуты», «Сведения»] from the CSV report for ``period``."""
    out = tmp_path / f"{period}.csv"
    result = cli(
        "--now", "2022-01-10", "report", "quarterly", period, "--format", "csv", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    return {row[0]: row[-2:] for row in rows[1:]}


def test_targets_are_not_met_while_a_targeted_value_is_missing(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    seed(engine, stored)
    for args in (
        # Above both quarterly targets (natsci 100, extra 50) but extra is missing.
        ("IV-01", "2021-Q3", "natsci_students=120", "tech_students=40"),
        # Every quarterly target met; the year's (events 4, share 100) are due in Q4 only.
        (
            "IV-03",
            "2021-Q3",
            "natsci_students=100",
            "tech_students=0",
            "extra_programs_students=50",
        ),
        # Below a target: «нет» whatever is missing.
        ("IV-02", "2021-Q3", "natsci_students=99"),
        # Q4: every quarterly target met, the year's values not in yet.
        (
            "IV-01",
            "2021-Q4",
            "natsci_students=120",
            "tech_students=1",
            "extra_programs_students=60",
        ),
    ):
        result = cli("--now", "2021-12-20", "indicators", "submit", *args)
        assert result.exit_code == 0, result.output

    assert _targets_and_status(cli, tmp_path, "2021-Q3") == {
        "IV-01": ["нет сведений", "частично"],
        "IV-03": ["да", "представлены"],
        "IV-04": ["нет сведений", "нет сведений"],
        "IV-02": ["нет", "частично"],
    }
    assert _targets_and_status(cli, tmp_path, "2021-Q4")["IV-01"] == ["нет сведений", "частично"]

    result = cli(
        "--now", "2022-01-10", "indicators", "submit", "IV-01", "2021", "events=4",
        "trained_teachers_share=100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _targets_and_status(cli, tmp_path, "2021-Q4")["IV-01"] == ["да", "представлены"]

    # The XLSX says the same, and the summary counts only «да».
    from openpyxl import load_workbook

    out = tmp_path / "q3.xlsx"
    result = cli("--now", "2022-01-10", "report", "quarterly", "2021-Q3", "-o", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert [
        (row[0], row[-2], row[-1]) for row in book["Центры"].iter_rows(min_row=5, values_only=True)
    ] == [
        ("IV-01", "нет сведений", "частично"),
        ("IV-03", "да", "представлены"),
        ("IV-04", "нет сведений", "нет сведений"),
        ("IV-02", "нет", "частично"),
    ]
    assert [row[:5] for row in book["Итоги"].iter_rows(min_row=5, values_only=True)] == [
        ("Лежневский район", 2, 1, 1, 1),
        ("Палехский район", 1, 0, 1, 0),
        ("Пестяковский район", 1, 0, 1, 0),
        ("Ивановская область: всего", 4, 1, 3, 1),
    ]


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        ("Europe/Moscow", "Сформирован: 06.10.2021 17:35 МСК"),
        ("Europe/Volgograd", "Сформирован: 06.10.2021 17:35 МСК"),  # Moscow's time
        ("Asia/Yekaterinburg", "Сформирован: 06.10.2021 19:35 МСК+2"),
        ("Europe/Kaliningrad", "Сформирован: 06.10.2021 16:35 МСК−1"),
        ("Asia/Kolkata", "Сформирован: 06.10.2021 20:05 МСК+2:30"),
    ],
)
def test_the_date_names_its_clock_as_russia_names_zones(zone: str, text: str) -> None:
    """The roadmap's clock, named by its offset from Moscow time (never an IANA name)."""
    from types import SimpleNamespace

    from workflow.views.quarterly import clock_name, generated_format, generated_text

    report: Any = SimpleNamespace(
        roadmap=SimpleNamespace(timezone=zone),
        generated_at=datetime(2021, 10, 6, 14, 35, tzinfo=UTC),
    )
    assert generated_text(report) == text
    assert generated_format(report) == f'"Сформирован: "DD.MM.YYYY HH:MM" {clock_name(report)}"'
    assert text.endswith(clock_name(report))


def test_zone_names_beside_a_time_are_russian() -> None:
    """`base.clock.zone_name`, used by every report's «Сформировано …» line."""
    from base.clock import zone_name

    winter = datetime(2022, 1, 10, 9, tzinfo=UTC)
    assert zone_name(winter, "Europe/Moscow") == "МСК"
    assert zone_name(winter, "Asia/Yekaterinburg") == "МСК+2"
    assert zone_name(winter, "Europe/Kaliningrad") == "МСК−1"
    assert zone_name(winter, "Asia/Kolkata") == "МСК+2:30"
