"""The roadmap file's schema: the JSON Schema the CLI prints, and the pydantic models."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from states.center import LIFECYCLE, CenterTrigger
from states.cycle import CycleTrigger
from workflow.cli.app import app
from workflow.errors import RoadmapFileError
from workflow.roadmap.definition import PERMISSION_ROLES
from workflow.roadmap.loader import load_roadmap, parse_roadmap
from workflow.roadmap.schema import CenterPermissions, CyclePermissions, validate_roadmap_data
from workflow.roadmap.schema_fields import Role, StageName
from workflow.roadmap.shipped import IVANOVO_159_RP

SHIPPED_TEXT = IVANOVO_159_RP.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def printed_schema() -> dict[str, Any]:
    """What ``tochka roadmap schema`` prints, run in-process like an operator would."""
    result = CliRunner().invoke(app, ["roadmap", "schema"])
    assert result.exit_code == 0, result.output
    schema: dict[str, Any] = json.loads(result.output)
    return schema


@pytest.fixture
def shipped_data() -> dict[str, Any]:
    """The shipped roadmap as an editor's YAML parser sees it."""
    data: dict[str, Any] = yaml.safe_load(SHIPPED_TEXT)
    return data


def errors_of(schema: dict[str, Any], data: object) -> list[tuple[list[str | int], str]]:
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(
        ((list(e.absolute_path), e.validator) for e in validator.iter_errors(data)),
        key=str,
    )


# ----------------------------------------------------------------- the JSON Schema


def test_the_printed_schema_is_a_draft_2020_12_schema(printed_schema: dict[str, Any]) -> None:
    assert printed_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed_schema)
    assert printed_schema["title"] == "Дорожная карта Tochka"
    assert printed_schema["additionalProperties"] is False


def test_the_shipped_roadmap_validates_against_the_printed_schema(
    printed_schema: dict[str, Any], shipped_data: dict[str, Any]
) -> None:
    assert errors_of(printed_schema, shipped_data) == []


def test_an_unknown_key_fails_the_printed_schema(
    printed_schema: dict[str, Any], shipped_data: dict[str, Any]
) -> None:
    top = {**shipped_data, "zone": "x"}
    nested = copy.deepcopy(shipped_data)
    nested["measures"][0]["note"] = "x"
    in_permissions = copy.deepcopy(shipped_data)
    in_permissions["permissions"]["center"]["fly"] = ["school"]

    assert errors_of(printed_schema, top) == [([], "additionalProperties")]
    assert errors_of(printed_schema, nested) == [(["measures", 0], "additionalProperties")]
    assert errors_of(printed_schema, in_permissions) == [
        (["permissions", "center"], "additionalProperties")
    ]


@pytest.mark.parametrize(
    ("path", "value", "keyword"),
    [
        (("title",), 5, "type"),
        (("measures", 0, "number"), "один", "type"),
        (("measures", 0, "number"), 0, "minimum"),
        (("measures", 0, "responsible"), "department", "type"),
        (("measures", 0, "recurrence", "kind"), "weekly", "enum"),
        (("stages", 1, "due"), 25.08, "type"),
        (("stages", 4, "starts"), "yes", "type"),
        (("period", "start"), "2021/01/01", "pattern"),
        (("format",), 2, "const"),
        (("code",), "Test_Roadmap", "pattern"),
        (("permissions", "cycle", "start"), ["admin"], "enum"),
    ],
)
def test_a_wrong_type_or_value_fails_the_printed_schema(
    printed_schema: dict[str, Any],
    shipped_data: dict[str, Any],
    path: tuple[str | int, ...],
    value: object,
    keyword: str,
) -> None:
    target: Any = shipped_data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value

    problems = errors_of(printed_schema, shipped_data)

    assert [k for _, k in problems] == [keyword]
    # The path may go one step deeper (a list item), never elsewhere.
    assert problems[0][0][: len(path)] == list(path)


def test_a_missing_required_key_fails_the_printed_schema(
    printed_schema: dict[str, Any], shipped_data: dict[str, Any]
) -> None:
    del shipped_data["measures"][2]["result"]

    assert errors_of(printed_schema, shipped_data) == [(["measures", 2], "required")]


def test_the_schema_speaks_russian(printed_schema: dict[str, Any]) -> None:
    """Every title and description an editor shows is Russian."""
    shown: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            # A property may be called "title" too: only the texts count.
            shown.extend(
                v for k, v in node.items() if k in ("title", "description") and isinstance(v, str)
            )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(printed_schema)
    assert len(shown) > 50
    assert [text for text in shown if not any("а" <= c <= "я" for c in text.lower())] == []


# ---------------------------------------------------------------- the pydantic layer


def test_the_models_refuse_an_unknown_key(shipped_data: dict[str, Any]) -> None:
    """``extra="forbid"``: the models themselves, not only the loader, refuse the key."""
    shipped_data["zone"] = "x"
    shipped_data["measures"][0]["note"] = "x"

    with pytest.raises(ValidationError) as caught:
        validate_roadmap_data(shipped_data)

    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [
        ("extra_forbidden", ("measures", 0, "note")),
        ("extra_forbidden", ("zone",)),
    ]


def test_the_models_refuse_coercion(shipped_data: dict[str, Any]) -> None:
    """A number where text belongs is not quietly turned into text, nor text into a number."""
    shipped_data["title"] = 5
    shipped_data["measures"][0]["number"] = "1"

    with pytest.raises(ValidationError) as caught:
        validate_roadmap_data(shipped_data)

    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [
        ("string_type", ("title",)),
        ("int_type", ("measures", 0, "number")),
    ]


def test_the_models_build_what_the_loader_builds(shipped_data: dict[str, Any]) -> None:
    from_models = validate_roadmap_data(shipped_data).to_definition()
    loaded = load_roadmap(IVANOVO_159_RP)

    assert replace(loaded, content_hash="", source="") == from_models


def test_the_literals_and_field_lists_follow_the_state_machines() -> None:
    """The schema spells out stages, roles and triggers: these keep it in step."""
    assert get_args(StageName) == tuple(s.value for s in LIFECYCLE[1:])
    assert get_args(Role) == PERMISSION_ROLES
    assert tuple(CenterPermissions.model_fields) == tuple(t.value for t in CenterTrigger)
    assert tuple(CyclePermissions.model_fields) == tuple(t.value for t in CycleTrigger)


# ------------------------------------------------------- scalars and the YAML tree


def test_an_unquoted_day_and_month_keeps_its_written_text() -> None:
    """``01.10`` is a float to YAML (1.1); the loader reads the text, not 1.1."""
    text = SHIPPED_TEXT.replace('measure: 9, due: "01.10"', "measure: 9, due: 01.10")

    roadmap = parse_roadmap(text, filename="r.yaml")

    assert (roadmap.stages[-1].due_month, roadmap.stages[-1].due_day) == (10, 1)


def test_an_unquoted_date_is_not_text() -> None:
    text = SHIPPED_TEXT.replace('region: "Ивановская область"', "region: 2021-03-01")

    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml")

    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("region", "ожидается строка, а не дата; заключите значение в кавычки")
    ]


def test_an_explicit_null_is_not_an_absent_key() -> None:
    text = SHIPPED_TEXT.replace('measure: 7, due: "25.08"', "measure: 7, due: null")

    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(text, filename="r.yaml")

    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("stages[1].due", "значение не задано")
    ]


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(SHIPPED_TEXT + "loop: &loop [*loop]\n", encoding="utf-8")

    with pytest.raises(RoadmapFileError) as caught:
        load_roadmap(path)

    assert [p.message for p in caught.value.problems] == [
        "значение ссылается само на себя через псевдоним YAML"
    ]


def test_aliases_cannot_blow_the_file_up() -> None:
    """A few lines of nested aliases would expand into 10^9 values ("billion laughs")."""
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]

    with pytest.raises(RoadmapFileError) as caught:
        parse_roadmap(SHIPPED_TEXT + "\n".join(bomb) + "\n", filename="r.yaml")

    assert [p.message for p in caught.value.problems] == ["слишком много значений: больше 100000"]
