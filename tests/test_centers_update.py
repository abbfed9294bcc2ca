"""``tochka centers update`` (audited corrections, refused as the import refuses) and the
stage deadlines of ``tochka centers show``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from tests.conftest import T0, grant, make_rows
from workflow.engine import centers, cycles
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.roadmap.store import StoredRoadmap
from workflow.storage.tables import CENTER, EVENT

Cli = Callable[..., Result]
IN, OUT = "Шуйский район", "Кинешемский район"


def _center(engine: Engine, code: str) -> tuple[object, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.select(
                    CENTER.c.name,
                    CENTER.c.email,
                    CENTER.c.municipality,
                    CENTER.c.state,
                    CENTER.c.version,
                    CENTER.c.updated_at,
                ).where(CENTER.c.code == code)
            ).one()
        )


def _events(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    EVENT.c.entity_kind,
                    EVENT.c.entity_key,
                    EVENT.c.trigger,
                    EVENT.c.from_state,
                    EVENT.c.to_state,
                    EVENT.c.actor,
                    EVENT.c.effective_date,
                    EVENT.c.comment,
                ).order_by(EVENT.c.seq)
            )
        ]


def _text(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def two(engine: Engine, stored: StoredRoadmap) -> list[str]:
    """Two centers of cohort 2021: A in «Шуйский район», B in «Кинешемский район»."""
    base = make_rows(2)
    rows = [
        replace(base[0], code="A", municipality=IN, email="a@example.org", name="Школа А"),
        replace(base[1], code="B", municipality=OUT, email="b@example.org", name="Школа Б"),
    ]
    centers.import_centers(engine, stored, rows, filename="c.csv", actor="operator", now=T0)
    return ["A", "B"]


def test_update_changes_the_center_in_one_audited_event_and_verify_passes(
    cli: Cli, engine: Engine, stored: StoredRoadmap, two: list[str]
) -> None:
    before = _events(engine)
    result = cli(
        "--now",
        "2021-03-02",
        "centers",
        "update",
        "A",
        "--name",
        "  МБОУ «Школа А» ",
        "--email",
        "director@example.org",
        "--comment",
        "письмо школы № 5",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Центр A изменён (версия 2, событие № 3):",
        "  наименование: «Школа А» → «МБОУ «Школа А»»",
        "  email: «a@example.org» → «director@example.org»",
    ]
    name, email, municipality, state, version, _ = _center(engine, "A")
    assert (name, email, municipality, state, version) == (
        "МБОУ «Школа А»",
        "director@example.org",
        IN,
        "planned",
        2,
    )
    assert _events(engine) == [
        *before,
        (
            "center",
            "A",
            "update",
            "planned",
            "planned",
            "operator",
            date(2021, 3, 2),
            "изменено: наименование «Школа А» → «МБОУ «Школа А»»; "
            "email «a@example.org» → «director@example.org»; причина: письмо школы № 5",
        ),
    ]
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "в порядке: событий 3, объектов 2" in _text(verified)
    # The history shows it, and the center goes on through its transitions.
    history = json.loads(cli("--json", "history", "center", "A").output)
    assert [(h["trigger"], h["from_state"], h["to_state"]) for h in history] == [
        ("create", None, "planned"),
        ("update", "planned", "planned"),
    ]
    stale = cli(
        "--now",
        "2021-03-03",
        "centers",
        "fire",
        "A",
        "agree_infrastructure",
        "--expect-version",
        "1",
    )
    assert stale.exit_code == 1
    assert "ожидалась версия 1, сейчас 2" in _text(stale)
    fired = cli("--now", "2021-03-03", "centers", "fire", "A", "agree_infrastructure")
    assert fired.exit_code == 0, fired.output
    assert cli("audit", "verify").exit_code == 0


def test_update_json_moves_municipality_and_warns_about_a_new_one(
    cli: Cli, engine: Engine, stored: StoredRoadmap, two: list[str]
) -> None:
    moved = cli("--json", "--now", "2021-03-02", "centers", "update", "A", "--municipality", OUT)
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output) == {
        "code": "A",
        "changes": {"municipality": {"old": IN, "new": OUT}},
        "version": 2,
        "event": 3,
        "new_municipality": False,
        "unflagged": [],
    }
    typo = cli(
        "--now", "2021-03-02", "centers", "update", "B", "--municipality", "Кинешемскйи район"
    )
    assert typo.exit_code == 0, typo.output
    assert "Внимание: муниципалитета «Кинешемскйи район» нет ни у одного другого центра" in _text(
        typo
    )
    assert cli("audit", "verify").exit_code == 0


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example/","Нажмите")', "+1", "@SUM(1)"])
def test_update_warns_about_a_name_that_reads_as_a_formula(
    cli: Cli, stored: StoredRoadmap, two: list[str], name: str
) -> None:
    """As the import does: the name is recorded as given, and the person is told that the
    reports write it as text."""
    updated = cli("centers", "update", "A", "--name", name)
    assert updated.exit_code == 0, updated.output
    assert (
        f"Предупреждение: --name: значение начинается с «{name[0]}» — в отчётах оно будет "
        "записано как текст, не как формула"
    ) in _text(updated)
    plain = cli("centers", "update", "A", "--name", "Школа А-2")
    assert "Предупреждение" not in plain.output


def test_update_with_the_same_values_changes_nothing(
    cli: Cli, engine: Engine, stored: StoredRoadmap, two: list[str]
) -> None:
    before, events = _center(engine, "A"), _events(engine)
    same = cli("centers", "update", "A", "--name", "Школа А", "--email", "a@example.org")
    assert same.exit_code == 0, same.output
    assert same.output == "Центр A: значения совпадают с текущими, ничего не изменено.\n"
    assert (_center(engine, "A"), _events(engine)) == (before, events)
    nothing = cli("centers", "update", "A")
    assert nothing.exit_code == 1
    assert "Не указано, что изменить" in _text(nothing)
    assert (_center(engine, "A"), _events(engine)) == (before, events)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email"], "email: «not-an-email» — не адрес электронной почты"),
        (["--email", "a@example.org, evil@example.org"], "— не адрес электронной почты"),
        (["--email", "a@localhost"], "«a@localhost» — не адрес электронной почты"),
        (["--email", "   "], "email: значение не заполнено"),
        (["--name", "Школа\nBcc: evil@example.org"], "наименование: значение содержит управляющие"),
        (["--municipality", ""], "муниципалитет: значение не заполнено"),
        (["--municipality", "Район\x00"], "муниципалитет: значение содержит управляющие"),
    ],
)
def test_update_refuses_what_the_import_refuses_and_changes_nothing(
    cli: Cli, engine: Engine, stored: StoredRoadmap, two: list[str], args: list[str], message: str
) -> None:
    before, events = _center(engine, "A"), _events(engine)
    result = cli("centers", "update", "A", "--name", "Новое имя", *args)
    assert result.exit_code == 1, result.output
    assert "Ошибка: Центр не изменён:" in _text(result)
    assert message in _text(result)
    assert "Traceback" not in result.output
    assert (_center(engine, "A"), _events(engine)) == (before, events)


@pytest.mark.parametrize(
    ("login", "code", "args", "missing"),
    [
        # A municipality user: its own centers only, and it cannot move one out of scope.
        ("mun", "B", ["--name", "Чужая"], f"центр B относится к «{OUT}»"),
        ("mun", "A", ["--municipality", OUT], f"центр A относится к «{OUT}»"),
        ("school", "A", ["--name", "Своя"], "нужна роль координатор или муниципалитет"),
        ("viewer", "A", ["--name", "Любая"], "у пользователя — наблюдатель"),
        # A stranger learns nothing, not even whether the center exists.
        ("mallory", "NOPE", ["--name", "Х"], "не зарегистрирован"),
    ],
)
def test_update_out_of_role_or_scope_is_refused_recorded_and_changes_nothing(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    two: list[str],
    login: str,
    code: str,
    args: list[str],
    missing: str,
) -> None:
    grant(engine, stored.id, ["mun"], "municipality", [IN])
    grant(engine, stored.id, ["school"], "school", ["A"])
    grant(engine, stored.id, ["viewer"], "viewer")
    centers_before = (_center(engine, "A"), _center(engine, "B"))
    events = _events(engine)
    result = cli("--now", "2021-03-02", "centers", "update", code, *args, actor=login)
    assert result.exit_code == 1, result.output
    text = _text(result)
    assert f"Отказано: {login} — изменение центра «{code}»" in text
    assert missing in text
    assert "не найден" not in text
    assert (_center(engine, "A"), _center(engine, "B")) == centers_before
    after = _events(engine)
    assert after[: len(events)] == events
    (refusal,) = after[len(events) :]
    assert refusal[:3] == ("refusal", code, "update_center")
    assert refusal[5] == login
    assert cli("audit", "verify").exit_code == 0


def test_a_municipality_user_updates_its_own_center(
    cli: Cli, engine: Engine, stored: StoredRoadmap, two: list[str]
) -> None:
    grant(engine, stored.id, ["mun"], "municipality", [IN])
    result = cli(
        "--now", "2021-03-02", "centers", "update", "A", "--email", "new@example.org", actor="mun"
    )
    assert result.exit_code == 0, result.output
    assert _center(engine, "A")[1] == "new@example.org"
    assert _events(engine)[-1][2:6] == ("update", "planned", "planned", "mun")


# --- centers show: the stage deadlines ---------------------------------------------------


def _deadlines(cli: Cli, code: str, now: str) -> list[tuple[object, ...]]:
    shown = cli("--json", "--now", now, "centers", "show", code)
    assert shown.exit_code == 0, shown.output
    return [
        (d["stage"], d["title"], d["measure"], d["due"], d["starts"], d["reached"], d["late"])
        for d in json.loads(shown.output)["stage_deadlines"]
    ]


def test_show_lists_stage_deadlines_reached_and_late(
    cli: Cli, engine: Engine, stored: StoredRoadmap, two: list[str]
) -> None:
    # Before measure 3's cycle is opened, the infrastructure stage has no date yet.
    assert _deadlines(cli, "A", "2021-02-01")[0] == (
        "infrastructure_agreed",
        "инфраструктурный лист согласован",
        3,
        None,
        False,
        False,
        False,
    )
    cycles.open_cycle(engine, stored, 3, due=date(2021, 4, 15), actor="operator", now=T0)
    TransitionEngine(engine, stored.definition, stored.id).fire_center(
        "A", "agree_infrastructure", actor=Actor(login="operator"), now=T0
    )
    assert _deadlines(cli, "A", "2021-08-26") == [
        (
            "infrastructure_agreed",
            "инфраструктурный лист согласован",
            3,
            "2021-04-15",
            False,
            True,
            False,
        ),
        ("equipped", "оснащён", 7, "2021-08-25", False, False, True),
        ("staff_trained", "персонал обучен", 6, "2021-08-25", False, False, True),
        ("opened", "открыт", 8, "2021-09-01", False, False, False),
        ("reporting", "отчитывается", 9, "2021-10-01", True, False, False),
    ]
    # B (not agreed) is late for the stage A reached; on the day itself nobody is late.
    assert [d[5:] for d in _deadlines(cli, "B", "2021-04-15")] == [(False, False)] * 5
    assert _deadlines(cli, "B", "2021-04-16")[0][5:] == (False, True)
    shown = cli("--now", "2021-08-26", "centers", "show", "A")
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[-6:] == [
        "Сроки этапов (год создания 2021):",
        "  инфраструктурный лист согласован — до 15.04.2021 (мероприятие 3): достигнут",
        "  оснащён — до 25.08.2021 (мероприятие 7): просрочен",
        "  персонал обучен — до 25.08.2021 (мероприятие 6): просрочен",
        "  открыт — до 01.09.2021 (мероприятие 8): не достигнут",
        "  отчитывается — с 01.10.2021 (мероприятие 9): не достигнут",
    ]


def test_show_a_term_ending_on_a_day_off_ends_on_the_next_working_day(
    cli: Cli, engine: Engine, stored: StoredRoadmap
) -> None:
    # Cohort 2022: «reporting from 01.10.2022», a Saturday: late from Tuesday 04.10 only.
    row = replace(make_rows(1, cohort=2022)[0], code="C")
    centers.import_centers(engine, stored, [row], filename="c.csv", actor="operator", now=T0)
    assert _deadlines(cli, "C", "2022-10-03")[-1][3:] == ("2022-10-01", True, False, False)
    assert _deadlines(cli, "C", "2022-10-04")[-1][3:] == ("2022-10-01", True, False, True)


def test_show_a_withdrawn_center_owes_no_stage(
    cli: Cli, engine: Engine, stored: StoredRoadmap, two: list[str]
) -> None:
    TransitionEngine(engine, stored.definition, stored.id).fire_center(
        "B", "withdraw", actor=Actor(login="operator"), now=T0, comment="школа закрыта"
    )
    shown = json.loads(cli("--json", "--now", "2021-12-01", "centers", "show", "B").output)
    assert {(d["status"], d["reached"], d["late"]) for d in shown["stage_deadlines"]} == {
        ("withdrawn", False, False)
    }
