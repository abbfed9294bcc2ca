"""Municipal education authorities: their addresses, and the stage reminders they get."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER, REMINDER
from tests.subjects import line_of
from workflow.engine import audit
from workflow.engine.municipalities import ContactRow, read_contacts_file
from workflow.errors import ImportFileError
from workflow.roadmap.store import StoredRoadmap
from workflow.storage import schema
from workflow.storage.tables import CONTACT, EVENT

Cli = Callable[..., Result]
CENTERS_CSV = (
    "code,name,municipality,cohort,email\n"
    "S1,МБОУ «Школа № 1»,Шуйский район,2021,s1@example.org\n"
    "S2,МБОУ «Школа № 2»,Шуйский район,2021,s2@example.org\n"
    "S3,МБОУ «Школа № 3»,Кинешемский район,2021,s3@example.org\n"
)
SHUYA = "Управление образования Шуйского района"


@pytest.fixture
def three_centers(cli: Cli, stored: StoredRoadmap, tmp_path: Path) -> None:
    csv = tmp_path / "centers.csv"
    csv.write_text(CENTERS_CSV, encoding="utf-8")
    assert cli("centers", "import", str(csv)).exit_code == 0


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _contacts(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (r.name, r.email, r.recipient)
            for r in conn.execute(
                sa.select(CONTACT.c.name, CONTACT.c.email, CONTACT.c.recipient).order_by(
                    CONTACT.c.name
                )
            )
        ]


def test_reading_russian_headers_semicolons_and_windows_1251(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "m.csv",
        f"Муниципальное образование;Электронная почта;Получатель\n"
        f"Шуйский район;uo@shuya.example.org;{SHUYA}\n"
        ";;\n"
        "Кинешемский район;uo@kineshma.example.org;\n",
        encoding="cp1251",
    )
    assert read_contacts_file(path) == [
        ContactRow(
            municipality="Шуйский район", email="uo@shuya.example.org", recipient=SHUYA, line=2
        ),
        ContactRow(
            municipality="Кинешемский район",
            email="uo@kineshma.example.org",
            recipient="Кинешемский район",
            line=4,
        ),
    ]


def test_reading_a_workbook(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email", "Муниципалитет"])
    sheet.append(["uo@shuya.example.org", "Шуйский район"])
    book.save(tmp_path / "m.xlsx")
    assert read_contacts_file(tmp_path / "m.xlsx") == [
        ContactRow(
            municipality="Шуйский район",
            email="uo@shuya.example.org",
            recipient="Шуйский район",
            line=2,
            column=2,
        )
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "municipality,mail\nШуйский район,a@b.org\n",
            [
                "m.csv, строка 1, столбец 2, поле «mail»: неизвестный столбец «mail»: ожидаются "
                "Муниципальное образование, Email и (необязательно) Получатель",
                "m.csv, строка 1: в заголовке нет столбцов: Email",
            ],
        ),
        (
            "municipality,email\n"
            "Шуйский район,uo@shuya.example.org\n"
            "шуйский район,other@example.org\n"
            ",x@example.org\n"
            "Кинешемский район,uo@kineshma\n",
            [
                "m.csv, строка 3, столбец 1, поле «Муниципальное образование»: «шуйский район» "
                "уже есть в строке 2",
                "m.csv, строка 4, столбец 1, поле «Муниципальное образование»: не указано "
                "муниципальное образование",
                "m.csv, строка 5, столбец 2, поле «Email»: «uo@kineshma» — не адрес "
                "электронной почты",
            ],
        ),
        (
            'municipality,email,recipient\nШуйский район,a@example.org,"Отдел\nобразования"\n',
            [
                "m.csv, строка 2, столбец 3, поле «Получатель»: получатель длиннее 200 знаков "
                "или содержит перевод строки",
            ],
        ),
        ("municipality,email\n", ["m.csv: в файле нет ни одной строки данных"]),
    ],
)
def test_bad_files_name_every_problem(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = _write(tmp_path, "m.csv", text)
    with pytest.raises(ImportFileError) as caught:
        read_contacts_file(path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == expected


def test_import_list_and_the_audit_trail(
    cli: Cli, engine: Engine, stored: StoredRoadmap, three_centers: None, tmp_path: Path
) -> None:
    listed = json.loads(cli("--json", "municipalities", "list").output)
    assert listed == [
        {"municipality": "Кинешемский район", "centers": 1, "email": None, "recipient": None},
        {"municipality": "Шуйский район", "centers": 2, "email": None, "recipient": None},
    ]
    first = _write(
        tmp_path,
        "m.csv",
        f"municipality,email,recipient\nШуйский район,uo@shuya.example.org,{SHUYA}\n",
    )
    result = cli("--now", "2021-02-01", "municipalities", "import", str(first))
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()) == (
        f"Адреса муниципалитетов из {first}: добавлено 1, изменено 0, без изменений 0."
    )
    second = _write(
        tmp_path,
        "m2.csv",
        f"municipality,email,recipient\n"
        f"Шуйский район,uo@shuya.example.org,{SHUYA}\n"
        f"Кинешемский район,uo@kineshma.example.org,\n",
    )
    again = cli("--json", "--now", "2021-02-02", "municipalities", "import", str(second))
    assert json.loads(again.output) == {"file": str(second), "added": 1, "changed": 0}
    third = _write(tmp_path, "m3.csv", "municipality,email\nШуйский район,obr@shuya.example.org\n")
    changed = cli("--json", "--now", "2021-02-03", "municipalities", "import", str(third))
    assert json.loads(changed.output) == {"file": str(third), "added": 0, "changed": 1}
    assert _contacts(engine) == [
        ("Кинешемский район", "uo@kineshma.example.org", "Кинешемский район"),
        ("Шуйский район", "obr@shuya.example.org", "Шуйский район"),
    ]
    text = cli("municipalities", "list")
    assert text.exit_code == 0
    assert text.output.splitlines()[0] == "Муниципалитеты: 2"
    with engine.connect() as conn:
        events = [
            (r.entity_kind, r.entity_key, r.trigger, r.from_state, r.to_state, r.actor, r.comment)
            for r in conn.execute(
                sa.select(EVENT).where(EVENT.c.entity_kind == "municipality").order_by(EVENT.c.seq)
            )
        ]
    assert events == [
        (
            "municipality",
            "Шуйский район",
            "set_contact",
            None,
            "set",
            "operator",
            f"uo@shuya.example.org; получатель: {SHUYA}; {first}, строка 2",
        ),
        (
            "municipality",
            "Кинешемский район",
            "set_contact",
            None,
            "set",
            "operator",
            f"uo@kineshma.example.org; получатель: Кинешемский район; {second}, строка 3",
        ),
        (
            "municipality",
            "Шуйский район",
            "set_contact",
            "set",
            "set",
            "operator",
            "uo@shuya.example.org → obr@shuya.example.org; получатель: Шуйский район; "
            f"{third}, строка 2",
        ),
    ]
    with db.read(engine) as conn:
        assert audit.verify(conn, stored.id, stored.definition.code).events == 6  # 3 centers
    assert cli("audit", "verify").exit_code == 0


def test_an_unknown_municipality_changes_nothing(
    cli: Cli, engine: Engine, three_centers: None, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "m.csv",
        "municipality,email\n"
        "Шуйский район,uo@shuya.example.org\n"
        "кинешемский район,uo@kineshma.example.org\n"
        "Вичугский район,uo@vichuga.example.org\n",
    )
    with engine.connect() as conn:
        events_before = conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar()
    result = cli("municipalities", "import", str(path))
    assert result.exit_code == 1
    assert " ".join(result.output.split()) == (
        "Ошибка: Импорт не выполнен, ничего не изменено: найдено ошибок — 2. "
        f"{path}, строка 3, столбец 1, поле «Муниципальное образование»: муниципальное "
        "образование «кинешемский район» не встречается среди центров дорожной карты (в списке "
        "центров: «Кинешемский район») "
        f"{path}, строка 4, столбец 1, поле «Муниципальное образование»: муниципальное "
        "образование «Вичугский район» не встречается среди центров дорожной карты"
    )
    assert _contacts(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar() == events_before


def _recipients(engine: Engine) -> dict[str, list[str]]:
    """Reminder recipient → the deadline ids of the reminders queued for them."""
    with engine.connect() as conn:
        out: dict[str, list[str]] = {}
        for key, recipient in conn.execute(
            sa.select(REMINDER.c.key, REMINDER.c.recipient).order_by(REMINDER.c.key)
        ):
            if ":center:" in key:
                out.setdefault(recipient, []).append(key.split(":", 1)[1])
        return out


def test_stage_reminders_go_to_the_school_and_its_municipality(
    cli: Cli, engine: Engine, three_centers: None, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "m.csv",
        f"municipality,email,recipient\nШуйский район,uo@shuya.example.org,{SHUYA}\n",
    )
    assert cli("municipalities", "import", str(path)).exit_code == 0
    # 11.08.2021: 14 days before the 25.08 stage deadlines of the 2021 cohort.
    preview = json.loads(
        cli("--json", "--now", "2021-08-11", "reminders", "preview", "--until", "2021-08-11").output
    )
    assert sorted(
        (i["recipient"], i["deadline_id"]) for i in preview if i["deadline_id"].startswith("center")
    ) == [
        ("s1@example.org", "center:S1:equipped"),
        ("s1@example.org", "center:S1:staff_trained"),
        ("s2@example.org", "center:S2:equipped"),
        ("s2@example.org", "center:S2:staff_trained"),
        ("s3@example.org", "center:S3:equipped"),
        ("s3@example.org", "center:S3:staff_trained"),
        ("uo@shuya.example.org", "center:S1:equipped"),
        ("uo@shuya.example.org", "center:S1:staff_trained"),
        ("uo@shuya.example.org", "center:S2:equipped"),
        ("uo@shuya.example.org", "center:S2:staff_trained"),
    ]
    assert cli("--now", "2021-08-11", "tick").exit_code == 0
    rung = "before-14"
    assert _recipients(engine) == {
        "s1@example.org": [
            f"center:S1:equipped:{rung}:s1@example.org",
            f"center:S1:staff_trained:{rung}:s1@example.org",
        ],
        "s2@example.org": [
            f"center:S2:equipped:{rung}:s2@example.org",
            f"center:S2:staff_trained:{rung}:s2@example.org",
        ],
        "s3@example.org": [
            f"center:S3:equipped:{rung}:s3@example.org",
            f"center:S3:staff_trained:{rung}:s3@example.org",
        ],
        "uo@shuya.example.org": [
            f"center:S1:equipped:{rung}:uo@shuya.example.org",
            f"center:S1:staff_trained:{rung}:uo@shuya.example.org",
            f"center:S2:equipped:{rung}:uo@shuya.example.org",
            f"center:S2:staff_trained:{rung}:uo@shuya.example.org",
        ],
    }
    # One letter (a digest) for the municipality, naming both of its schools.
    with engine.connect() as conn:
        (letter,) = conn.execute(
            sa.select(OUTBOX.c.subject, OUTBOX_LETTER.c.message)
            .select_from(OUTBOX_WITH_LETTER)
            .where(OUTBOX.c.recipient == "uo@shuya.example.org")
        ).all()
    assert line_of(letter.subject) == "Сроки на 11.08.2021: 4 напоминания"
    body = bytes(letter.message)
    parsed = email.message_from_bytes(body, policy=email.policy.default)
    # The long name is folded into two encoded words; RFC 2047 drops the whitespace
    # between them, Python's address parser keeps it (one extra space).
    assert " ".join(parsed["To"].addresses[0].display_name.split()) == SHUYA
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "МБОУ «Школа № 1»" in text
    assert "МБОУ «Школа № 2»" in text
    assert "МБОУ «Школа № 3»" not in text
    # A second tick queues nothing more.
    assert cli("--now", "2021-08-11", "tick").exit_code == 0
    assert sum(len(v) for v in _recipients(engine).values()) == 10


def test_a_database_of_the_first_version_is_upgraded(tmp_path: Path) -> None:
    from alembic import command

    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}", create_dir=True)
    with db.write(engine) as conn:
        cfg = schema.alembic_config()
        cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
        command.upgrade(cfg, "0001")  # type: ignore[arg-type]
    assert "municipality_contact" not in sa.inspect(engine).get_table_names()
    assert schema.upgrade(engine) == ("0001", schema.HEAD)
    assert "municipality_contact" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_status_names_the_municipalities_without_an_address(
    cli: Cli, three_centers: None, tmp_path: Path
) -> None:
    before = json.loads(cli("--json", "status").output)
    assert before["municipalities_without_address"] == ["Кинешемский район", "Шуйский район"]
    path = _write(tmp_path, "m.csv", "municipality,email\nШуйский район,uo@shuya.example.org\n")
    assert cli("municipalities", "import", str(path)).exit_code == 0
    after = cli("status")
    assert after.exit_code == 0
    assert (
        "Муниципалитеты без адреса для напоминаний (1): Кинешемский район. Напоминания об "
        "этапах их центров получают только школы; адреса загружает tochka municipalities import."
    ) in " ".join(after.output.split())
