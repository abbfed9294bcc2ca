"""One address rule (issue 10): what import accepts is what the sender can send.

An address the mail servers would refuse (a Cyrillic name before @, an invisible
character) is refused at import with the reason; an internationalised domain is accepted
and goes out as punycode in the SMTP envelope and the To header, the name unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from base.addresses import AddressUse, address_problem, is_valid_email, parse_address
from notifications.errors import InvalidAddress
from notifications.headers import check_address
from tests.notifications.conftest import SmtpServer
from workflow.roadmap.store import StoredRoadmap

Cli = Callable[..., Result]

HEADER = "code,name,municipality,cohort,email\n"
#: школа.рф in IDNA (checked against Python's own codec in the test).
SCHOOL_RF = "xn--80atdl2c.xn--p1ai"

REFUSED = [
    (
        "директор@школа.рф",
        "адрес «директор@школа.рф»: имя до @ должно быть латиницей — почтовые серверы не "
        "принимают другие буквы",
    ),
    (
        "школа@example.org",
        "адрес «школа@example.org»: имя до @ должно быть латиницей — почтовые серверы не "
        "принимают другие буквы",
    ),
    (
        "dir\u200bector@example.org",
        "адрес «dir\\u200bector@example.org»: невидимый или управляющий знак U+200B — "
        "наберите адрес заново: с этим знаком письмо не дойдёт",
    ),
    (
        "director@school.local",
        "адрес «director@school.local»: домен «local» зарезервирован (RFC 6761) — на него "
        "нельзя отправить письмо",
    ),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED, ids=range(len(REFUSED)))
def test_import_refuses_what_cannot_be_sent_with_the_reason(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path, address: str, reason: str
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(HEADER + f"S1,МБОУ «Школа № 1»,Шуйский район,2021,{address}\n", encoding="utf-8")
    result = cli("centers", "import", str(csv))
    assert result.exit_code == 1
    assert reason in " ".join(result.output.split())
    assert json.loads(cli("--json", "centers", "list").output) == []
    # The same rule, the same words, in the sender.
    assert address_problem(address) == reason
    with pytest.raises(InvalidAddress) as refused:
        check_address(address)
    assert refused.value.address == address
    assert reason.split("»: ", 1)[1] in refused.value.message


def test_the_sender_may_use_the_relays_private_domain() -> None:
    """Tochka's own From (the default is tochka@tochka.local) is not a recipient."""
    assert check_address("tochka@tochka.local", field="From") == "tochka@tochka.local"
    assert parse_address("tochka@tochka.local", use=AddressUse.SENDER).domain == "tochka.local"
    with pytest.raises(InvalidAddress):
        check_address("tochka@tochka.local", field="To")
    with pytest.raises(InvalidAddress):
        check_address("то́чка@tochka.local", field="From")


def test_idn_domain_is_accepted_and_sent_as_punycode(
    cli: Cli,
    stored: StoredRoadmap,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: SmtpServer,
) -> None:
    assert "школа.рф".encode("idna").decode("ascii") == SCHOOL_RF
    assert is_valid_email("director@школа.рф")
    assert parse_address("director@ШКОЛА.РФ").ascii == f"director@{SCHOOL_RF}"
    monkeypatch.setenv("TOCHKA_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("TOCHKA_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("TOCHKA_SMTP_TLS", "none")
    monkeypatch.setenv("TOCHKA_MAIL_FROM", "tochka@edu.example.org")
    csv = tmp_path / "c.csv"
    csv.write_text(
        HEADER + "S1,МБОУ «Школа № 1»,Шуйский район,2021,director@школа.рф\n", encoding="utf-8"
    )
    imported = cli("--now", "2021-03-01", "centers", "import", str(csv))
    assert imported.exit_code == 0, imported.output
    # The address is kept as written, for people.
    listed = json.loads(cli("--json", "centers", "list").output)
    assert [c["email"] for c in listed] == ["director@школа.рф"]
    fired = cli("--now", "2021-03-02", "centers", "fire", "S1", "agree_infrastructure")
    assert fired.exit_code == 0, fired.output
    sent = cli("--now", "2021-03-02T10:00:00+03:00", "outbox", "send")
    assert sent.exit_code == 0, sent.output
    assert "Отправлено: 1" in sent.output
    (letter,) = smtp_server.handler.snapshot()
    assert letter.rcpt_tos[0] == f"director@{SCHOOL_RF}"
    headers = letter.data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").decode("ascii")
    (raw_to,) = [line for line in headers.split("\r\n") if line.lower().startswith("to:")]
    assert raw_to.endswith(f"<director@{SCHOOL_RF}>")
    to = letter.message["To"].addresses[0]
    assert to.addr_spec == f"director@{SCHOOL_RF}"
    assert to.display_name == "МБОУ «Школа № 1»"


def test_a_center_update_gives_the_same_reason(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(
        HEADER + "S1,МБОУ «Школа № 1»,Шуйский район,2021,s1@example.org\n", encoding="utf-8"
    )
    assert cli("--now", "2021-03-01", "centers", "import", str(csv)).exit_code == 0
    address, reason = REFUSED[0]
    result = cli("--now", "2021-03-02", "centers", "update", "S1", "--email", address)
    assert result.exit_code == 1
    assert f"email: {reason}" in " ".join(result.output.split())
