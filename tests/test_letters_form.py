"""Who writes and who acted, as letters say it: the roadmap's signature, the sender's
name, the users' full names (issue 12, items 3 and 6; bad input: no signature block)."""

from __future__ import annotations

from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import Result

from notifications.outbox import OUTBOX, OUTBOX_LETTER, OUTBOX_WITH_LETTER
from notifications.signature import Signature
from tests.notifications.strict2047 import raw_headers, strict_decode
from workflow.config import load_settings
from workflow.errors import InputError
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.loader import parse_roadmap
from workflow.roadmap.shipped import IVANOVO_159_RP

SHIPPED_TEXT = IVANOVO_159_RP.read_text(encoding="utf-8")
DEPARTMENT = "Департамент образования Ивановской области"


def _without_signature(text: str) -> str:
    head, _sep, _tail = text.partition("\nsignature:")
    return head + "\n"


def test_a_roadmap_without_a_signature_signs_with_the_coordinators_name() -> None:
    roadmap = parse_roadmap(_without_signature(SHIPPED_TEXT), filename="r.yaml")
    assert roadmap.signature_block is None
    assert roadmap.signature == Signature(department=DEPARTMENT)


def test_the_signature_block_is_read_and_checked() -> None:
    text = _without_signature(SHIPPED_TEXT) + (
        "signature:\n"
        '  contact: "Иванова Анна Петровна, главный специалист"\n'
        '  phone: "+7 (4932) 00-00-00"\n'
        '  address: "153000, г. Иваново"\n'
    )
    roadmap = parse_roadmap(text, filename="r.yaml")
    assert roadmap.signature.lines == (
        DEPARTMENT,  # the department defaults to the coordinator party's name
        "Контактное лицо: Иванова Анна Петровна, главный специалист",
        "Телефон: +7 (4932) 00-00-00",
        "Адрес: 153000, г. Иваново",
    )
    with pytest.raises(Exception) as caught:
        parse_roadmap(_without_signature(SHIPPED_TEXT) + "signature:\n  fax: 1\n", filename="r")
    assert "fax" in str(getattr(caught.value, "problems", caught.value))


def test_the_shipped_roadmap_invents_no_contact() -> None:
    roadmap = parse_roadmap(SHIPPED_TEXT, filename="r.yaml")
    assert roadmap.signature == Signature(department=DEPARTMENT)


@pytest.mark.parametrize(
    "value",
    ["tochka@tochka.local", "Департамент образования <tochka@edu.example.ru>", '"Д, О" <t@x.ru>'],
)
def test_mail_from_takes_a_display_name(value: str) -> None:
    assert load_settings({"TOCHKA_MAIL_FROM": value}).mail_from == value


@pytest.mark.parametrize("value", ["Имя tochka@x.ru", "Имя <a@b", "a@b", "Имя\n <t@x.ru>"])
def test_mail_from_refused_in_russian(value: str) -> None:
    with pytest.raises(InputError) as caught:
        load_settings({"TOCHKA_MAIL_FROM": value})
    assert "TOCHKA_MAIL_FROM" in caught.value.message
    assert "адрес отправителя" in caught.value.message


def _notice(engine: Engine) -> tuple[EmailMessage, bytes]:
    with engine.connect() as conn:
        raw = (
            conn.execute(
                sa.select(OUTBOX_LETTER.c.message)
                .select_from(OUTBOX_WITH_LETTER)
                .where(OUTBOX.c.kind == "notice")
                .order_by(OUTBOX.c.id)
            )
            .scalars()
            .all()[-1]
        )
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed, raw


def test_notice_names_the_user_by_full_name_and_role_never_the_login(
    cli: Callable[..., Result], engine: Engine, centers3: list[CenterRow]
) -> None:
    code = centers3[0].code
    added = cli(
        "users", "add", "ivanova", "--role", "coordinator", "--name", "Иванова  Анна Петровна"
    )
    assert added.exit_code == 0, added.output
    assert "Иванова Анна Петровна" in added.output
    fired = cli(
        "centers",
        "fire",
        code,
        "agree_infrastructure",
        "--evidence",
        "письмо № 12 от 10.02",
        actor="ivanova",
    )
    assert fired.exit_code == 0, fired.output
    letter, raw = _notice(engine)
    body = letter.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Кто отметил: Иванова Анна Петровна, координатор" in text
    assert "ivanova" not in text
    assert "письмо № 12 от 10.02" in text
    assert f"центр «Точка роста» на базе {centers3[0].name}" in text
    headers = raw_headers(raw)
    assert strict_decode(headers["reply-to"]) == f"{DEPARTMENT} <coordinator@example.org>"
    listed = cli("users", "list")
    assert "Иванова Анна" in listed.output

    # A user without a name is named by the role alone (the same day's second mark: it
    # joins the school's letter of the day, not sent yet).
    fired = cli("centers", "fire", code, "equip", actor="operator")
    assert fired.exit_code == 0, fired.output
    text = _notice(engine)[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "   Кто отметил: Иванова Анна Петровна, координатор" in text.splitlines()
    assert "   Кто отметил: координатор" in text.splitlines()
    assert "operator" not in text


@pytest.mark.parametrize(("name", "says"), [("Иванова\nАнна", "управляющие"), ("И" * 201, "200")])
def test_a_wrong_full_name_is_refused_and_nothing_changes(
    cli: Callable[..., Result], stored: object, name: str, says: str
) -> None:
    result = cli("users", "add", "petrova", "--role", "viewer", "--name", name)
    assert result.exit_code != 0
    assert "--name" in result.output
    assert says in result.output
    assert "petrova" not in cli("users", "list").output
