"""The declarative header spec the table-file readers share: names, problems, refusals."""

from __future__ import annotations

import pytest

from workflow.errors import ImportFileError, Problem
from workflow.imports.header import Column, ColumnUse, Header, HeaderSpec

SPEC = HeaderSpec(
    columns=(
        Column(key="code", aliases=("code", "Код", "код центра"), russian_name="Код"),
        Column(key="cohort", aliases=("cohort", "Год создания"), russian_name="Год создания"),
        Column(
            key="recipient",
            aliases=("recipient", "получатель"),
            russian_name="Получатель",
            use=ColumnUse.OPTIONAL,
        ),
        Column(
            key="state",
            aliases=("state", "состояние"),
            russian_name="Состояние",
            use=ColumnUse.IGNORED,
        ),
    ),
)


def problems_of(spec: HeaderSpec, cells: list[str]) -> list[Problem]:
    with pytest.raises(ImportFileError) as caught:
        spec.read(cells, filename="f.csv", line=3)
    return list(caught.value.problems)


def test_russian_and_english_names_map_to_the_same_columns() -> None:
    english = SPEC.read(["code", "cohort"], filename="f.csv", line=1)
    russian = SPEC.read(["Год создания", "Код"], filename="f.csv", line=1)

    assert english == Header(
        line=1, columns={"code": 0, "cohort": 1}, names={"code": "code", "cohort": "cohort"}
    )
    assert russian == Header(
        line=1,
        columns={"cohort": 0, "code": 1},
        names={"cohort": "Год создания", "code": "Код"},
    )


def test_names_compare_without_case_spaces_bom_or_yo() -> None:
    header = SPEC.read(
        ["\ufeff  КОД   Центра ", "", "гОД  СОЗДАНИЯ", "ПОЛУЧАТЕЛЬ"], filename="f.csv", line=2
    )

    assert header.columns == {"code": 0, "cohort": 2, "recipient": 3}
    # The names as written, for the problems of the rows below.
    assert header.names == {
        "code": "\ufeff  КОД   Центра",
        "cohort": "гОД  СОЗДАНИЯ",
        "recipient": "ПОЛУЧАТЕЛЬ",
    }

    with_yo = HeaderSpec(
        columns=(Column(key="period", aliases=("отчётный период",), russian_name="Период"),)
    )
    assert with_yo.read(["Отчетный ПЕРИОД"], filename="f.csv", line=1).columns == {"period": 0}
    assert with_yo.read(["ОТЧЁТНЫЙ период"], filename="f.csv", line=1).columns == {"period": 0}
    assert with_yo.known == frozenset({"отчетный период"})


def test_a_column_written_twice_is_refused_where_it_repeats() -> None:
    assert problems_of(SPEC, ["Код", "cohort", "CODE"]) == [
        Problem(
            file="f.csv",
            line=3,
            column=3,
            field="CODE",
            message="столбец «CODE» повторяет столбец 1",
        )
    ]


def test_the_repeated_message_may_name_the_first_column() -> None:
    spec = HeaderSpec(
        columns=SPEC.columns, repeated="столбец «{written}» повторяет столбец {column} «{first}»"
    )

    assert problems_of(spec, ["cohort", "Код", "код центра"])[0].message == (
        "столбец «код центра» повторяет столбец 2 «Код»"
    )


def test_missing_required_columns_are_listed_once_after_the_cells() -> None:
    assert problems_of(SPEC, ["recipient", "Район"]) == [
        Problem(
            file="f.csv",
            line=3,
            column=2,
            field="Район",
            message="неизвестный столбец «Район»: ожидаются Код, Год создания, Получатель",
        ),
        Problem(file="f.csv", line=3, message="в заголовке нет столбцов: Код, Год создания"),
    ]


def test_labels_and_expected_text_are_the_readers_own() -> None:
    spec = HeaderSpec(
        columns=SPEC.columns,
        label="{key} ({russian})",
        unknown="неизвестный столбец «{written}»; ожидаются: {expected}",
    )
    fixed = HeaderSpec(columns=SPEC.columns, expected="Код и Год создания")

    assert [p.message for p in problems_of(spec, ["Район"])] == [
        "неизвестный столбец «Район»; ожидаются: code (Код), cohort (Год создания), "
        "recipient (Получатель)",
        "в заголовке нет столбцов: code (Код), cohort (Год создания)",
    ]
    assert problems_of(fixed, ["code", "cohort", "Район"])[0].message == (
        "неизвестный столбец «Район»: ожидаются Код и Год создания"
    )


def test_ignored_columns_are_skipped_however_often_they_appear() -> None:
    header = SPEC.read(["Состояние", "code", "state", "cohort"], filename="f.csv", line=1)

    assert header.columns == {"code": 1, "cohort": 3}


def test_a_name_two_columns_share_heads_the_first_declared() -> None:
    spec = HeaderSpec(
        columns=(
            Column(key="code", aliases=("код",), russian_name="Код"),
            Column(key="other", aliases=("код", "other"), russian_name="Другое"),
        )
    )

    assert spec.read(["Код", "other"], filename="f.csv", line=1).columns == {
        "code": 0,
        "other": 1,
    }


def test_a_spec_is_checked_when_it_is_built() -> None:
    code = Column(key="code", aliases=("code",), russian_name="Код")

    with pytest.raises(ValueError, match="column keys repeated in a header spec: code"):
        HeaderSpec(columns=(code, code))
    with pytest.raises(ValueError, match=r"template repeated=.*'columns'"):
        HeaderSpec(columns=(code,), repeated="столбец {written} повторяет {columns}")
    with pytest.raises(ValueError, match="column 'code' has no aliases"):
        Column(key="code", aliases=(), russian_name="Код")
    assert SPEC.column("cohort").russian_name == "Год создания"
