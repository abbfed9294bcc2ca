"""Usage errors reach people in Russian, with exit code 2."""

from __future__ import annotations

import pytest

from workflow.cli.app import main
from workflow.cli.usage import russian


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["centers", "fire"], "Ошибка: не указан аргумент «code»."),
        (["centers", "fire", "A", "equip", "--bogus"], "Ошибка: нет параметра --bogus."),
        (["centers", "lisst"], "Ошибка: нет команды «lisst»; может быть, «list»?"),
        (
            ["centers", "list", "--cohort", "abc"],
            "Ошибка: недопустимое значение --cohort: ожидается целое число.",
        ),
    ],
)
def test_usage_errors_are_russian_and_exit_2(
    args: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.argv", ["tochka", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Error" not in err
    assert "Usage" not in err
    assert "Справка: tochka" in err


def test_help_still_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["tochka", "--help"])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 0
    assert "Tochka: дорожная карта «Точка роста»" in capsys.readouterr().out


def test_unknown_messages_pass_through_unchanged() -> None:
    assert russian("Something new from Click.") == "Something new from Click."
    assert russian("Option '--due' requires an argument.") == "параметру --due нужно значение."
