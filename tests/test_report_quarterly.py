"""``tochka report quarterly``: exact XLSX cells and CSV rows, on both backends."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import Result

from tests.test_indicators import seed
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]

IND_HEADERS = [
    "Численность обучающихся, осваивающих учебные предметы «Физика», «Химия», «Биология» на "
    "оборудовании центра, чел. (2021-Q3)",
    "Численность обучающихся, осваивающих учебный предмет «Технология» на оборудовании центра, "
    "чел. (2021-Q3)",
    "Численность обучающихся, осваивающих дополнительные общеобразовательные программы "
    "естественно-научной и технической направленностей, чел. (2021-Q3)",
    "Количество мероприятий, проведённых на площадке центра (конкурсы, олимпиады, фестивали, "
    "конференции), ед. (2021)",
    "Доля педагогических работников центра, прошедших обучение по программам из реестра "
    "программ повышения квалификации федерального оператора, % (2021)",
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


def test_xlsx_cells(submitted: Cli, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "q.xlsx"
    result = submitted(
        "--now",
        "2021-10-06",
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
    sheet = book["Центры"]
    assert sheet.freeze_panes == "C2"
    assert [c.value for c in sheet[1]] == HEADER
    assert all(c.font.b for c in sheet[1])
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == [
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
    assert sheet["F2"].number_format == "#,##0"
    assert sheet["J5"].number_format == "0.0"
    assert sheet["L3"].font.color.rgb == "00B00020"  # a missing submission stands out
    assert sheet.column_dimensions["B"].width == 44
    assert sheet.row_dimensions[1].height == 96

    summary = book["Итоги"]
    assert summary.freeze_panes == "B2"
    assert [c.value for c in summary[1]][:5] == [
        "Муниципальное образование",
        "Центров",
        "Сведения представлены",
        "Нет сведений (полностью или частично)",
        "Цели достигнуты (центров)",
    ]
    assert [c.value for c in summary[1]][5].startswith("всего: Численность обучающихся")
    assert [c.value for c in summary[1]][9].startswith("среднее: Доля педагогических")
    assert [[c.value for c in row] for row in summary.iter_rows(min_row=2)] == [
        ["Лежневский район", 2, 1, 1, 1, 210, 41, 55, None, None],
        ["Палехский район", 1, 0, 1, 0, None, None, None, None, None],
        ["Пестяковский район", 1, 0, 1, 0, None, None, None, 3, 87.5],
        ["Ивановская область: всего", 4, 1, 3, 1, 210, 41, 55, 3, 87.5],
    ]
    assert summary["F5"].number_format == "#,##0"
    assert summary["A5"].font.b

    legend = book["Показатели"]
    assert [c.value for c in legend[2]] == [
        "natsci_students",
        IND_HEADERS[0].split(", чел.")[0],
        "чел.",
        "ежеквартально",
        100,
        "2021-Q3",
    ]
    # The footer: one full stop after «г.», the time on the roadmap's clock (--now
    # 2021-10-06 is midnight in Moscow, 21:00 UTC the day before).
    assert [[c.value for c in row] for row in legend.iter_rows(min_row=7)] == [
        [None] * 6,
        [
            "Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп. "
            "Отчёт за III квартал 2021 г.",
            *[None] * 5,
        ],
        ["Сформирован 06.10.2021 00:00 (Europe/Moscow) программой Tochka.", *[None] * 5],
    ]


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
    assert [row for row in book["Центры"].iter_rows(min_row=2, values_only=True)] == [
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
        ";".join(HEADER).replace("(2021-Q3)", "(2021-Q2)")
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
        (row[0], row[-2], row[-1]) for row in book["Центры"].iter_rows(min_row=2, values_only=True)
    ] == [
        ("IV-01", "нет сведений", "частично"),
        ("IV-03", "да", "представлены"),
        ("IV-04", "нет сведений", "нет сведений"),
        ("IV-02", "нет", "частично"),
    ]
    assert [row[:5] for row in book["Итоги"].iter_rows(min_row=2, values_only=True)] == [
        ("Лежневский район", 2, 1, 1, 1),
        ("Палехский район", 1, 0, 1, 0),
        ("Пестяковский район", 1, 0, 1, 0),
        ("Ивановская область: всего", 4, 1, 3, 1),
    ]
