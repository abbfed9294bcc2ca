"""Usage errors reach people in Russian, with exit code 2."""

from __future__ import annotations

import re

import pytest

from workflow.cli.app import main
from workflow.cli.usage import russian


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["centers", "fire"], "Ошибка: не указан аргумент «КОД»."),
        (["centers", "fire", "A", "equip", "--bogus"], "Ошибка: нет параметра --bogus."),
        # Click names the options that look alike: in Russian too.
        (["--jsn", "status"], "Ошибка: нет параметра --jsn; есть: --json, --now."),
        (["centers", "lisst"], "Ошибка: нет команды «lisst»; может быть, «list»?"),
        (
            ["centers", "list", "--cohort", "abc"],
            "Ошибка: недопустимое значение --cohort: ожидается целое число.",
        ),
        # An argument is named by its Russian metavar, in a bad value and a missing list.
        (
            ["replies", "show", "abc"],
            "Ошибка: недопустимое значение НОМЕР: ожидается целое число.",
        ),
        (
            ["indicators", "submit", "A1", "2022-Q3"],
            "Ошибка: не указан аргумент «ПОКАЗАТЕЛЬ=ЗНАЧЕНИЕ».",
        ),
        # An option with two spellings is named by both, inside one pair of quotes.
        (["report", "status"], "Ошибка: не указан обязательный параметр «-o / --output»."),
        # Typer's bundled Click: «Got unexpected extra argument(s) (IV-001)».
        (["roadmap", "show", "IV-001"], "Ошибка: лишние аргументы: IV-001."),
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


def _help(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr("sys.argv", ["tochka", *args, "-h"])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 0
    return capsys.readouterr().out


def test_help_is_russian_word_for_word(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _help(["report", "quarterly"], monkeypatch, capsys) == (
        "Использование: tochka report quarterly [ПАРАМЕТРЫ] КВАРТАЛ\n"
        "\n"
        "  Отчёт о выполнении показателей центров за квартал, по дорожной карте: XLSX\n"
        "  или CSV.\n"
        "\n"
        "Аргументы:\n"
        "  КВАРТАЛ <текст>  Квартал, например 2022-Q3.  [обязательный]\n"
        "\n"
        "Параметры:\n"
        "  -o, --output <путь>  Файл отчёта.  [обязательный]\n"
        "  --format <xlsx|csv>  Формат файла.  [по умолчанию: xlsx]\n"
        "  --roadmap <текст>    Код дорожной карты (если в базе их несколько).\n"
        "  -h, --help           Показать эту справку и выйти.\n"
    )


def _command_paths() -> list[list[str]]:
    import typer.main

    from workflow.cli.app import app

    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


#: An argument's name (its metavar) in the «Аргументы:» block: Russian capitals.
_NAME = r"[А-ЯЁ][А-ЯЁ=_-]*"
#: A word of the usage line after the command: such a name, bare when required, in
#: brackets when optional, "..." when repeated (ПОКАЗАТЕЛЬ=ЗНАЧЕНИЕ..., [ПАРАМЕТРЫ]).
_USAGE_WORD = re.compile(rf"\[?{_NAME}\]?(\.\.\.)?")


def test_every_help_page_speaks_russian(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _command_paths()
    assert ["centers", "fire"] in paths
    assert ["daemon", "run"] in paths
    assert len(paths) > 30
    english = ("Usage", "Options", "Commands", "Arguments", "Show this message", "[required]")
    english += ("[default", "<str>", "<int>", "<float>", "<path>", "[OPTIONS]", "[ARGS]")
    for path in paths:
        text = _help(path, monkeypatch, capsys)
        prefix = f"Использование: {' '.join(['tochka', *path])} "
        assert text.startswith(f"{prefix}["), path
        # The usage line (wrapped or not) after the command names options, commands and
        # arguments in Russian capitals: no «code», «HASH» or Typer's «{period}».
        usage = text.split("\n\n", 1)[0].removeprefix(prefix).split()
        assert all(_USAGE_WORD.fullmatch(word) for word in usage), (path, usage)
        assert "Показать эту справку и выйти." in text, path
        assert not [word for word in english if word in text], (path, text)
        # Help is the same for every roadmap: no measure of one file by its number.
        assert not re.search(r"мероприяти\w* (№ )?\d", text), (path, text)
        # Every argument says what it is: a description before the "[обязательный]" note.
        if "Аргументы:" in text:
            block = text.split("Аргументы:\n", 1)[1].split("\n\n", 1)[0]
            rows = [line for line in block.splitlines() if re.match(r"^  \S", line)]
            assert rows, (path, block)
            for row in rows:
                found = re.match(r"^  ((\S+) <[^>]+>)\s{2,}(.*)$", row)
                assert found, (path, row)
                # Named by its Russian metavar, as on the usage line: not «period».
                name = found.group(2)
                assert re.fullmatch(_NAME, name), (path, row)
                assert {name, f"[{name}]", f"{name}..."} & set(usage), (path, row, usage)
                assert not found.group(3).startswith("["), (path, row)
