"""Reading centers from CSV and XLSX files: encodings, headers and every refusal.

Over 500 lines: one file per subject, so that every refusal of that subject and its
exact Russian message are found in one place.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import openpyxl
import pytest

from workflow.errors import ImportFileError, Problem
from workflow.imports.centers_file import CenterRow, is_valid_email, read_centers_file

YEARS = range(2021, 2024)
HEADER = "code,name,municipality,cohort,email\n"
RUSSIAN_HEADER = "Код;Наименование;Муниципальное образование;Год создания;Электронная почта"


def write(tmp_path: Path, content: str | bytes, name: str = "centers.csv") -> Path:
    path = tmp_path / name
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(data)
    return path


def write_xlsx(tmp_path: Path, rows: list[list[object]], name: str = "centers.xlsx") -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    workbook.save(path)
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ImportFileError) as caught:
        read_centers_file(path, program_years=YEARS)
    return list(caught.value.problems)


def problem(
    path: Path,
    message: str,
    *,
    line: int | None = None,
    column: int | None = None,
    field: str | None = None,
) -> Problem:
    return Problem(file=str(path), message=message, line=line, column=column, field=field)


# ----------------------------------------------------------------------- CSV read


def test_csv_with_canonical_header(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "IV-001,МБОУ «СОШ № 1»,Шуйский муниципальный район,2021,school1@example.org\n"
        + ' IV-002 ,"МКОУ Лежневская СОШ, филиал",Лежневский район,2023, s2@example.org \n',
    )

    rows = read_centers_file(path, program_years=YEARS)

    assert rows == [
        CenterRow(
            code="IV-001",
            name="МБОУ «СОШ № 1»",
            municipality="Шуйский муниципальный район",
            cohort=2021,
            email="school1@example.org",
            line=2,
        ),
        CenterRow(
            code="IV-002",
            name="МКОУ Лежневская СОШ, филиал",
            municipality="Лежневский район",
            cohort=2023,
            email="s2@example.org",
            line=3,
        ),
    ]


def test_center_row_is_frozen() -> None:
    row = CenterRow(code="a", name="b", municipality="c", cohort=2021, email="d@e.ru", line=2)

    with pytest.raises(dataclasses.FrozenInstanceError):
        row.code = "x"  # type: ignore[misc]


def test_csv_with_bom_semicolons_and_russian_header(tmp_path: Path) -> None:
    data = (
        "\ufeff"
        + RUSSIAN_HEADER
        + "\r\nИВ-7;МБОУ СОШ № 7;г. Кинешма;2022;kineshma7@example.org\r\n"
    ).encode()
    path = write(tmp_path, data)

    assert read_centers_file(path, program_years=YEARS) == [
        CenterRow(
            code="ИВ-7",
            name="МБОУ СОШ № 7",
            municipality="г. Кинешма",
            cohort=2022,
            email="kineshma7@example.org",
            line=2,
        )
    ]


def test_csv_in_cp1251_as_excel_saves_it(tmp_path: Path) -> None:
    text = (
        RUSSIAN_HEADER + "\r\nИВ-9;МКОУ Пучежская СОШ;Пучежский район;2021;puchezh@example.org\r\n"
    )
    path = write(tmp_path, text.encode("cp1251"))

    assert read_centers_file(path, program_years=YEARS) == [
        CenterRow(
            code="ИВ-9",
            name="МКОУ Пучежская СОШ",
            municipality="Пучежский район",
            cohort=2021,
            email="puchezh@example.org",
            line=2,
        )
    ]


def test_header_is_case_insensitive_trimmed_and_in_any_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        " E-mail ,COHORT,Муниципальное  образование,Наименование,Код\n"
        "a@example.org,2021,Район,Школа,K1\n",
    )

    assert read_centers_file(path, program_years=YEARS) == [
        CenterRow(
            code="K1",
            name="Школа",
            municipality="Район",
            cohort=2021,
            email="a@example.org",
            line=2,
        )
    ]


def test_tab_separated(tmp_path: Path) -> None:
    path = write(
        tmp_path, "code\tname\tmunicipality\tcohort\temail\nK1\tШкола\tРайон\t2022\ta@b.ru\n"
    )

    assert [row.code for row in read_centers_file(path, program_years=YEARS)] == ["K1"]


def test_blank_rows_and_trailing_empty_columns_are_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "code,name,municipality,cohort,email,,\n"
        "K1,Школа 1,Район,2021,a@example.org,,\n"
        ",,,,,,\n"
        "\n"
        "K2,Школа 2,Район,2022,b@example.org,,\n",
    )

    rows = read_centers_file(path, program_years=YEARS)

    assert [(row.code, row.line) for row in rows] == [("K1", 2), ("K2", 5)]


def test_progress_is_reported_every_thousand_rows_and_at_the_end(tmp_path: Path) -> None:
    lines = [f"C{i},Школа {i},Район,2022,s{i}@example.org\n" for i in range(2500)]
    path = write(tmp_path, HEADER + "".join(lines))
    calls: list[tuple[int, int]] = []

    rows = read_centers_file(
        path, program_years=YEARS, progress=lambda done, total: calls.append((done, total))
    )

    assert len(rows) == 2500
    assert calls == [(1000, 2500), (2000, 2500), (2500, 2500)]


def test_twenty_thousand_rows_are_read(tmp_path: Path) -> None:
    # Speed is measured in benchmarks/, not asserted here.
    lines = [
        f'IV-{i:05d},"МБОУ ""Средняя школа № {i}""",Район {i % 30},'
        f"{2021 + i % 3},s{i}@example.org\n"
        for i in range(20_000)
    ]
    path = write(tmp_path, HEADER + "".join(lines))
    rows = read_centers_file(path, program_years=YEARS)

    assert len(rows) == 20_000
    assert rows[-1].name == 'МБОУ "Средняя школа № 19999"'


# --------------------------------------------------------------------- CSV refusals


def test_row_problems_are_all_reported_with_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "T-01,МБОУ СОШ № 1,Шуйский район,2021,s1@example.org\n"
        + "T-02,,Шуйский район,2022,s2@example.org\n"
        + "T-01,МБОУ СОШ № 3,Шуйский район,2024,s3@example\n"
        + "T 04,МБОУ СОШ № 4,,2021г,s4@example.org\n",
    )

    assert problems_of(path) == [
        problem(path, "значение не заполнено", line=3, column=2, field="name"),
        problem(path, "код «T-01» повторяется: строки 2 и 4", line=4, column=1, field="code"),
        problem(
            path,
            "год создания 2024 вне периода программы 2021–2023",
            line=4,
            column=4,
            field="cohort",
        ),
        problem(path, "«s3@example» — не адрес электронной почты", line=4, column=5, field="email"),
        problem(
            path,
            "код «T 04» содержит пробелы или управляющие символы",
            line=5,
            column=1,
            field="code",
        ),
        problem(path, "значение не заполнено", line=5, column=3, field="municipality"),
        problem(path, "год создания «2021г» — не целое число", line=5, column=4, field="cohort"),
    ]


def test_fields_are_named_as_written_in_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, RUSSIAN_HEADER + "\nK1;Школа;Район;2020.0;a@example.org\n")

    assert problems_of(path) == [
        problem(
            path, "год создания «2020.0» — не целое число", line=2, column=4, field="Год создания"
        )
    ]


def test_a_name_spanning_lines_is_refused_and_later_lines_stay_right(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + 'T-01,"МБОУ СОШ\nЛежнево",Лежневский район,2021,a@example.org\n'
        + "T-02,МБОУ СОШ,Лежневский район,2025,b@example.org\n",
    )

    assert problems_of(path) == [
        problem(
            path,
            "значение содержит управляющие символы (перевод строки, NUL и т. п.)",
            line=2,
            column=2,
            field="name",
        ),
        problem(
            path,
            "год создания 2025 вне периода программы 2021–2023",
            line=4,
            column=4,
            field="cohort",
        ),
    ]


def test_nul_and_long_codes(tmp_path: Path) -> None:
    long_code = "X" * 65
    path = write(
        tmp_path,
        HEADER
        + "T-01,Школа,Рай\x00он,2021,a@example.org\n"
        + f"{long_code},Школа,Район,2021,b@example.org\n"
        + "T\x07,Школа,Район,2021,c@example.org\n",
    )

    assert problems_of(path) == [
        problem(
            path,
            "значение содержит управляющие символы (перевод строки, NUL и т. п.)",
            line=2,
            column=3,
            field="municipality",
        ),
        problem(path, "код длиннее 64 символов (65)", line=3, column=1, field="code"),
        problem(
            path,
            "код «T\\x07» содержит пробелы или управляющие символы",
            line=4,
            column=1,
            field="code",
        ),
    ]


def test_values_outside_the_header(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "code,name,,municipality,cohort,email\n"
        "T-01,Школа,лишнее,Район,2021,a@example.org\n"
        "T-02,Школа,,Район,2021,b@example.org,ещё\n",
    )

    assert problems_of(path) == [
        problem(path, "значение «лишнее» в столбце без заголовка", line=2, column=3),
        problem(path, "значение «ещё» в столбце за последним столбцом", line=3, column=7),
    ]


def test_header_problems_name_missing_unknown_and_repeated_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path, "Код,Название школы,cohort,Email,E-mail,Район\nK1,Ш,2021,a@b.ru,a@b.ru,Р\n"
    )

    assert problems_of(path) == [
        problem(
            path,
            "неизвестный столбец «Название школы»; ожидаются: code (Код), name (Наименование), "
            "municipality (Муниципальное образование), cohort (Год создания), email (Email)",
            line=1,
            column=2,
            field="Название школы",
        ),
        problem(
            path, "столбец «E-mail» повторяет столбец 4 «Email»", line=1, column=5, field="E-mail"
        ),
        problem(
            path,
            "неизвестный столбец «Район»; ожидаются: code (Код), name (Наименование), "
            "municipality (Муниципальное образование), cohort (Год создания), email (Email)",
            line=1,
            column=6,
            field="Район",
        ),
        problem(
            path,
            "в заголовке нет столбцов: name (Наименование), "
            "municipality (Муниципальное образование)",
            line=1,
        ),
    ]


@pytest.mark.parametrize("content", ["", "\n\n", " \r\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, content)

    assert problems_of(path) == [problem(path, "файл пуст: нет ни одной строки с центрами")]


@pytest.mark.parametrize("content", [HEADER, HEADER + "\n,,,,\n"])
def test_header_only(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, content)

    assert problems_of(path) == [
        problem(path, "нет ни одной строки с центрами: в файле только заголовок")
    ]


def test_neither_utf8_nor_cp1251(tmp_path: Path) -> None:
    # 0x98 is invalid on its own in UTF-8 and unassigned in cp1251.
    path = write(tmp_path, HEADER.encode() + b"A1,School \x98,Town,2021,a@b.ru\n")

    assert problems_of(path) == [
        problem(
            path,
            "файл не в кодировке UTF-8 и не в Windows-1251: сохраните его как «CSV UTF-8»",
            line=2,
            column=11,
        )
    ]


def test_utf8_with_one_damaged_byte_is_not_read_as_cp1251(tmp_path: Path) -> None:
    good = "K1,МБОУ СОШ № 1,Шуйский район,2021,a@example.org\n".encode()
    damaged = b"K2,\xd0\xcc," + "Район,2021,b@example.org\n".encode()
    path = write(tmp_path, HEADER.encode() + good + damaged)

    assert problems_of(path) == [
        problem(
            path,
            "файл не в кодировке UTF-8 и не в Windows-1251: сохраните его как «CSV UTF-8»",
            line=3,
            column=4,
        )
    ]


def test_cp1251_without_a_recognised_header_is_not_guessed(tmp_path: Path) -> None:
    path = write(tmp_path, "Номер;Школа\n1;Первая\n".encode("cp1251"))

    assert problems_of(path) == [
        problem(
            path,
            "файл не в кодировке UTF-8 и не в Windows-1251: сохраните его как «CSV UTF-8»",
            line=1,
            column=1,
        )
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "centers.xls",
            "неподдерживаемый формат файла «.xls»: нужен .csv или .xlsx "
            "(сохраните файл Excel как .xlsx)",
        ),
        ("centers.txt", "неподдерживаемый формат файла «.txt»: нужен .csv или .xlsx"),
        ("centers", "неподдерживаемый формат файла «без расширения»: нужен .csv или .xlsx"),
    ],
)
def test_unsupported_extension(tmp_path: Path, name: str, message: str) -> None:
    path = write(tmp_path, HEADER, name=name)

    assert problems_of(path) == [problem(path, message)]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"

    assert problems_of(path) == [problem(path, "файл не найден")]


def test_upper_case_extension_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "K1,Школа,Район,2021,a@b.ru\n", name="CENTERS.CSV")

    assert [row.code for row in read_centers_file(path, program_years=YEARS)] == ["K1"]


# ---------------------------------------------------------------------------- XLSX


def test_xlsx_with_numbers_and_russian_header(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [
            [],  # a cleared title row above the header
            ["Код", "Наименование", "Муниципальное образование", "Год создания", "E-mail"],
            ["ИВ-1", "МБОУ СОШ № 1", "г. Иваново", 2021, "ivanovo1@example.org"],
            [None, None, None, None, None],
            [101, "МКОУ СОШ № 2", "Вичугский район", 2023.0, "vichuga@example.org"],
        ],
    )

    assert read_centers_file(path, program_years=YEARS) == [
        CenterRow(
            code="ИВ-1",
            name="МБОУ СОШ № 1",
            municipality="г. Иваново",
            cohort=2021,
            email="ivanovo1@example.org",
            line=3,
        ),
        CenterRow(
            code="101",
            name="МКОУ СОШ № 2",
            municipality="Вичугский район",
            cohort=2023,
            email="vichuga@example.org",
            line=5,
        ),
    ]


def test_xlsx_problems_have_row_and_column(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [
            ["code", "name", "municipality", "cohort", "email"],
            ["K1", "Школа", "Район", 2021, "a@example.org"],
            ["K1", "Школа", "Район", 2021.5, "a@@example.org"],
            ["K3", "", "Район", "2030", "c@example.org"],
        ],
    )

    assert problems_of(path) == [
        problem(path, "код «K1» повторяется: строки 2 и 3", line=3, column=1, field="code"),
        problem(path, "год создания «2021.5» — не целое число", line=3, column=4, field="cohort"),
        problem(
            path, "«a@@example.org» — не адрес электронной почты", line=3, column=5, field="email"
        ),
        problem(path, "значение не заполнено", line=4, column=2, field="name"),
        problem(
            path,
            "год создания 2030 вне периода программы 2021–2023",
            line=4,
            column=4,
            field="cohort",
        ),
    ]


def test_xlsx_header_only(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [["code", "name", "municipality", "cohort", "email"]])

    assert problems_of(path) == [
        problem(path, "нет ни одной строки с центрами: в файле только заголовок")
    ]


def test_empty_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [])

    assert problems_of(path) == [problem(path, "файл пуст: нет ни одной строки с центрами")]


def test_a_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, name="centers.xlsx")

    problems = problems_of(path)

    assert len(problems) == 1
    assert problems[0].file == str(path)
    assert problems[0].line is None
    assert problems[0].message == (
        "файл не открывается как книга Excel (.xlsx): это не архив .xlsx (возможно, CSV, "
        "старый .xls или повреждённый файл)"
    )


# ---------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    "value",
    [
        "a@b.ru",
        "first.last+tag@sub.example.org",
        "school-7@mail.example-domain.org",
        "school@школа.рф",
        "a@xn--80a1acny.xn--p1ai",
    ],
)
def test_plausible_emails(value: str) -> None:
    assert is_valid_email(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a",
        "a@b",
        "@b.ru",
        "a@",
        "a@@b.ru",
        "a@b@c.ru",
        "a b@c.ru",
        "a,b@c.ru",
        "a@b.ru, c@d.ru",
        "a@b.ru\r\nBcc: x@y.ru",
        "a@b..ru",
        ".a@b.ru",
        "a.@b.ru",
        "a..b@c.ru",
        "a@-b.ru",
        "a@b-.ru",
        "a@b_c.ru",
        "a@1.2",
        "<a@b.ru>",
        "a@b.ru\x00",
        # Not sendable (issue 10): a Cyrillic name before @, a reserved domain.
        "школа@школа.рф",
        "school@tochka.local",
    ],
)
def test_implausible_emails(value: str) -> None:
    assert not is_valid_email(value)
