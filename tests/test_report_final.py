"""``tochka report final``: the program's final report, XLSX and HTML.

A small program history is built through the real engine (cycles created by the
reconciler's function, transitions fired by the transition engine, and two completions
through the CLI): measures done on time, late, cancelled and never done; five centers, one
on time throughout, one late, one stuck, two withdrawn (before and after their
deadlines), one of cohort 2022 whose reporting
deadline falls on Saturday 01.10.2022 and which reported on Monday 03.10.2022. The report
is written by the CLI, read back with openpyxl, printed by LibreOffice, and the HTML
rendered by headless Chromium at 390 and 1280 px and printed to PDF.
"""

from __future__ import annotations

import html
import re
import subprocess
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from states.center import FORWARD_TRIGGERS, LIFECYCLE, STATE_TITLES, CenterState
from tests.cdp import Chromium
from tests.test_dashboard import (  # noqa: F401 - chromium: the session fixture
    PROBE,
    SCREENSHOTS,
    SOFFICE,
    _run_chromium,
    chromium,
)
from workflow.engine import centers, cycles
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.recurrence import scheduled_cycles
from workflow.roadmap.shipped import IVANOVO_159_RP
from workflow.roadmap.store import StoredRoadmap
from workflow.views.final import Verdict, term_end, verdict_of

Cli = Callable[..., Result]
FINAL = "2024-02-01"
HOSTILE = '=HYPERLINK("http://evil.example/";"Нажмите")'
TITLE = "Итоговый отчёт о выполнении дорожной карты"


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)


def test_a_saturday_deadline_met_on_monday_is_on_time() -> None:
    saturday = date(2022, 10, 1)
    assert term_end(saturday) == date(2022, 10, 3)
    assert verdict_of(saturday, date(2022, 10, 3), date(2024, 1, 1)) == (Verdict.ON_TIME, 0)
    assert verdict_of(saturday, date(2022, 10, 4), date(2024, 1, 1)) == (Verdict.LATE, 1)
    # New Year: due 01.01.2022, the term ends on 10.01.2022, the first working day.
    assert verdict_of(date(2022, 1, 1), date(2022, 1, 10), date(2024, 1, 1))[0] is Verdict.ON_TIME
    assert verdict_of(date(2022, 1, 1), date(2022, 1, 11), date(2024, 1, 1)) == (Verdict.LATE, 1)
    # A working-day deadline: met that day is on time, the next day one day late.
    assert verdict_of(date(2021, 8, 25), date(2021, 8, 25), date(2024, 1, 1))[0] is Verdict.ON_TIME
    assert verdict_of(date(2021, 8, 25), date(2021, 8, 30), date(2024, 1, 1)) == (Verdict.LATE, 5)
    # Not done: open past the term's end; before it, in an interim report, not yet due.
    assert verdict_of(saturday, None, date(2022, 10, 3))[0] is Verdict.PENDING
    assert verdict_of(saturday, None, date(2022, 10, 4))[0] is Verdict.NOT_DONE
    assert verdict_of(saturday, None, date(2024, 1, 1), cancelled=True)[0] is Verdict.CANCELLED


def _history(engine: Engine, stored: StoredRoadmap, cli: Cli) -> int:
    """The program's history (see the module's docstring); the number of cycles (those the
    recurrences imply by the end, and one of measure 3): all but seven are never done."""
    definition = stored.definition
    rows = [
        ("IV-01", "МБОУ «Лежневская СШ № 1»", "Лежневский район", 2021),
        ("IV-02", "МБОУ «Шуйская СШ № 2»", "Шуйский район", 2021),
        ("IV-03", HOSTILE, "Шуйский район", 2021),
        ("IV-04", "МБОУ «Палехская СШ»", "Палехский район", 2021),
        ("IV-05", "МБОУ «Тейковская СШ»", "Тейковский район", 2022),
        ("IV-06", "МБОУ «Южская СШ»", "Южский район", 2021),
    ]
    centers.import_centers(
        engine,
        stored,
        [
            CenterRow(code=c, name=n, municipality=m, cohort=y, email=f"{c}@school.ru", line=i)
            for i, (c, n, m, y) in enumerate(rows, start=2)
        ],
        filename="c.csv",
        actor="importer",
        now=_at("2020-12-01"),
    )
    start = _at("2020-12-01")
    with db.write(engine) as conn:
        cycles.create_cycles(
            conn,
            stored,
            scheduled_cycles(definition, as_of=date(2024, 1, 31)),
            origin="schedule",
            actor="tochka-daemon",
            now=start,
            recorded_at=start,
        )
        ids = {(c.measure, c.period): c.id for c in cycles.list_cycles(conn, stored.id)}
    schedule = cycles.open_cycle(
        engine, stored, 3, due=date(2021, 5, 14), actor="operator", now=_at("2021-02-01")
    )
    operator = Actor(login="operator")
    engine_ = TransitionEngine(engine, definition, stored.id)

    def complete(measure: int, cycle_id: int, day: str) -> None:
        kinds = definition.measure(measure).evidence
        engine_.fire_cycle(cycle_id, "start", actor=operator, now=_at(day))
        engine_.fire_cycle(
            cycle_id,
            "complete",
            actor=operator,
            now=_at(day),
            evidence={k: f"№ {cycle_id}-{k}" for k in kinds},
        )

    complete(1, ids[(1, "2020")], "2020-12-07")  # on its day
    complete(2, ids[(2, "2020")], "2020-12-28")  # due Wed 23.12.2020: five days late
    engine_.fire_cycle(
        ids[(4, "2020")], "cancel", actor=operator, now=_at("2020-12-20"), comment="не требуется"
    )
    complete(5, ids[(5, "2021")], "2021-03-02")  # due Mon 01.03.2021: one day late
    complete(3, schedule.id, "2021-05-14")
    # Through the CLI: the New Year case and the Saturday one.
    for (measure, period), day in (((9, "2021-Q4"), "2022-01-10"), ((9, "2022-Q3"), "2022-10-03")):
        cycle = str(ids[(measure, period)])
        assert cli("--now", day, "cycles", "fire", cycle, "start").exit_code == 0
        result = cli(
            "--now", day, "cycles", "fire", cycle, "complete", "--evidence", "отчёт № 7 от " + day
        )
        assert result.exit_code == 0, result.output

    fire = engine_.fire_center

    def walk(code: str, dates: dict[CenterState, str]) -> None:
        for stage, day in dates.items():
            fire(
                code,
                FORWARD_TRIGGERS[stage].value,
                actor=operator,
                now=_at(day),
                evidence={"document": f"письмо {code} о «{stage.value}»"},
            )

    on_time = dict(
        zip(
            LIFECYCLE[1:],
            ["2021-05-14", "2021-08-20", "2021-08-20", "2021-09-01", "2021-10-01"],
            strict=True,
        )
    )
    walk("IV-01", on_time)
    late = {CenterState.EQUIPPED: "2021-08-30", CenterState.STAFF_TRAINED: "2021-08-30"}
    walk("IV-02", on_time | late)  # due Wed 25.08.2021: five days late
    walk("IV-03", {s: on_time[s] for s in LIFECYCLE[1:3]})  # stuck: never trained
    walk("IV-04", {CenterState.INFRASTRUCTURE_AGREED: "2021-05-14"})
    fire("IV-04", "withdraw", actor=operator, now=_at("2021-07-01"), comment="школа закрыта")
    # Withdrawn on 10.09.2021: the stages due 25.08 and 01.09 had been missed by then.
    walk("IV-06", {CenterState.INFRASTRUCTURE_AGREED: "2021-05-14"})
    fire("IV-06", "withdraw", actor=operator, now=_at("2021-09-10"), comment="нет помещения")
    walk(
        "IV-05",
        dict(
            zip(
                LIFECYCLE[1:],
                ["2022-05-16", "2022-08-22", "2022-08-22", "2022-09-01", "2022-10-03"],
                strict=True,
            )
        ),
    )
    return len(ids) + 1


def _rows(ws: object, first: int = 6) -> list[list[object]]:
    return [[c.value for c in row] for row in ws.iter_rows(min_row=first)]  # type: ignore[attr-defined]


def test_final_report_xlsx(cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    count = _history(engine, stored, cli)
    not_done = count - 7
    out = tmp_path / "final.xlsx"
    result = cli("--now", FINAL, "report", "final", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Итоговый отчёт на 01.02.2024 записан" in result.output
    assert f"с опозданием — 4, не выполнено — {not_done + 6}." in result.output

    # No formula anywhere in the file (the hostile name is a string cell).
    with zipfile.ZipFile(out) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == 3
        assert not any("<f>" in archive.read(n).decode() for n in sheets)
    book = load_workbook(out)
    assert book.sheetnames == ["Итоги", "Мероприятия", "Этапы центров"]
    for ws in book.worksheets:
        assert ws["A1"].value == f"{TITLE}: {ws.title.lower()}"
        assert ws["A2"].value == (
            "Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп, "
            "Ивановская область"
        )
        assert ws["A3"].value == "По состоянию на 01.02.2024"
        assert ws.print_title_rows == "$1:$5"
        assert ws.page_setup.paperSize == 9  # A4
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)

    measures = {(r[0], r[2]): r for r in _rows(book["Мероприятия"])}
    assert len(measures) == count
    verdicts = {key: r[5] for key, r in measures.items()}
    assert verdicts[(1, "2020 г.")] == "в срок"
    assert verdicts[(2, "2020 г.")] == "с опозданием на 5 дн."
    assert verdicts[(4, "2020 г.")] == "отменено"
    assert verdicts[(5, "2021 г.")] == "с опозданием на 1 дн."
    assert verdicts[(3, "от 14.05.2021")] == "в срок"
    assert verdicts[(9, "IV квартал 2021 г.")] == "в срок"  # 01.01.2022 met on 10.01.2022
    assert verdicts[(9, "III квартал 2022 г.")] == "в срок"  # Saturday met on Monday
    assert verdicts[(6, "2021 г.")] == "не выполнено"
    assert sorted(set(verdicts.values())) == [
        "в срок",
        "не выполнено",
        "отменено",
        "с опозданием на 1 дн.",
        "с опозданием на 5 дн.",
    ]
    saturday = measures[(9, "III квартал 2022 г.")]
    assert saturday[3:5] == [datetime(2022, 10, 1), datetime(2022, 10, 3)]
    assert saturday[6] == (
        "отчет о выполнении показателей федеральному оператору: отчёт № 7 от 2022-10-03"
    )
    # Who entered it, and when (the real clock: the act's own date is the done date).
    assert re.fullmatch(r"operator, внесено \d\d\.\d\d\.20\d\d", saturday[7])
    late = measures[(2, "2020 г.")]
    assert late[1].startswith("Утверждение: 1) должностного лица")
    assert late[1].endswith("…")  # the whole title is on «Итоги»
    assert late[3:5] == [datetime(2020, 12, 23), datetime(2020, 12, 28)]
    assert book["Мероприятия"].cell(6, 4).number_format == "DD.MM.YYYY"
    cancelled = measures[(4, "2020 г.")]
    assert cancelled[4] is None
    assert cancelled[6] == "комментарий: не требуется"

    stages = {(r[0], r[4]): r for r in _rows(book["Этапы центров"])}
    assert len(stages) == 30  # six centers, five stages each
    assert {v[7] for k, v in stages.items() if k[0] == "IV-01"} == {"в срок"}
    assert stages[("IV-02", "оснащён")][5:8] == [
        datetime(2021, 8, 25),
        datetime(2021, 8, 30),
        "с опозданием на 5 дн.",
    ]
    assert stages[("IV-02", "оснащён")][8] == "письмо IV-02 о «equipped»"
    assert stages[("IV-02", "оснащён")][9].startswith("operator, внесено ")
    stuck = stages[("IV-03", "персонал обучен")]
    assert stuck[1] == HOSTILE
    assert stuck[6:9] == [None, "не выполнено", None]
    assert stages[("IV-03", "оснащён")][7] == "в срок"
    assert [stages[("IV-04", s)][7] for s in ("инфраструктурный лист согласован", "оснащён")] == [
        "в срок",
        "отменено",
    ]
    assert stages[("IV-04", "открыт")][8] == "комментарий: школа закрыта"
    reporting = stages[("IV-05", "отчитывается")]
    assert reporting[3] == 2022
    assert reporting[5:8] == [datetime(2022, 10, 1), datetime(2022, 10, 3), "в срок"]
    # Cohort 2022 has no measure-3 schedule: its infrastructure stage has no deadline.
    assert stages[("IV-05", "инфраструктурный лист согласован")][7] == "срок не установлен"

    summary = _rows(book["Итоги"])
    assert summary[1][:2] == [2, stored.definition.measure(2).title]
    assert summary[1][2:] == [1, 0, 1, 0, 0, 0]
    totals = {r[1]: r[2:] for r in summary if r[0] is None}
    header = [c.value for c in book["Итоги"][5]]
    assert header == [
        "№",
        "Мероприятие / этапы центров",
        "Всего",
        "в срок",
        "с опозданием",
        "не выполнено",
        "отменено",
        "срок не установлен",
    ]
    assert totals["Все циклы мероприятий"] == [count, 4, 2, not_done, 1, 0]
    assert totals["Все этапы центров"] == [30, 16, 2, 6, 5, 1]
    assert [stages[("IV-06", STATE_TITLES[s])][7] for s in LIFECYCLE[1:]] == [
        "в срок",
        "не выполнено",
        "не выполнено",
        "не выполнено",
        "отменено",
    ]

    # Printed by LibreOffice: A4, the date on every page, a page count that fits the data.
    pdf_pages = _soffice_pages(out, tmp_path)
    assert 3 <= len(pdf_pages) <= 6
    assert all("По состоянию на 01.02.2024" in p for p in pdf_pages)
    assert all(TITLE in p for p in pdf_pages)


def _soffice_pages(out: Path, work: Path) -> list[str]:
    if not SOFFICE.exists():
        pytest.fail("LibreOffice не установлен: apt-get install libreoffice-calc-nogui")
    converted = subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation=file://{work / 'lo-profile'}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert converted.returncode == 0, converted.stderr
    return _pdf_texts(out.with_suffix(".pdf"))


def _pdf_texts(pdf: Path) -> list[str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert "(A4)" in info.stdout
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info.stdout)
    assert size is not None
    assert float(size.group(1)) > float(size.group(2))  # landscape
    count = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
    return [
        " ".join(
            subprocess.run(
                ["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        )
        for n in range(1, count + 1)
    ]


def _dom_rows(dom: str, css_class: str) -> list[list[str]]:
    """The cells' texts of the rendered rows whose class begins with ``css_class``."""
    found = re.findall(rf'<tr class="{css_class}[^"]*"[^>]*>(.*?)</tr>', dom, re.DOTALL)
    return [
        [" ".join(html.unescape(re.sub(r"<[^>]+>", "", c)).split()) for c in cells]
        for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL) for row in found)
    ]


def test_final_report_html(
    cli: Cli,
    engine: Engine,
    stored: StoredRoadmap,
    chromium: Path,  # noqa: F811 - the fixture of tests/test_dashboard.py
    tmp_path: Path,
) -> None:
    not_done = _history(engine, stored, cli) - 7
    page = tmp_path / "final.html"
    result = cli("--now", FINAL, "report", "final", "--format", "html", "-o", str(page))
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "промежуточный" not in text
    assert re.search(r"Сформировано программой Tochka \d\d\.\d\d\.\d{4} \d\d:\d\d МСК ", text)
    assert "Europe/" not in text
    dom, requested = _run_chromium(chromium, page, tmp_path, "--dump-dom")
    assert requested == []
    assert "<script" not in dom
    heading = re.search(r"<h1>(.*?)</h1>", dom)
    assert heading is not None
    assert heading.group(1) == TITLE
    assert "По состоянию на 01.02.2024" in dom
    assert "Распоряжение Правительства Ивановской области от 07.12.2020 № 159-рп" in dom

    # The late and the not-done items are named, each with its deadline and verdict.
    problems = _dom_rows(dom, "problem")
    assert problems[:2] == [
        [
            "Мероприятие № 2 за 2020 г.: " + problems[0][0].split(": ", 1)[1],
            "23.12.2020",
            "28.12.2020",
            "с опозданием на 5 дн.",
        ],
        [
            "Мероприятие № 5 за 2021 г.: " + problems[1][0].split(": ", 1)[1],
            "01.03.2021",
            "02.03.2021",
            "с опозданием на 1 дн.",
        ],
    ]
    stage_problems = [r for r in problems if "этап «" in r[0]]
    assert stage_problems == [
        [
            f"{HOSTILE} (IV-03, Шуйский район): этап «персонал обучен»",
            "25.08.2021",
            "—",
            "не выполнено",
        ],
        [f"{HOSTILE} (IV-03, Шуйский район): этап «открыт»", "01.09.2021", "—", "не выполнено"],
        [
            f"{HOSTILE} (IV-03, Шуйский район): этап «отчитывается»",
            "01.10.2021",
            "—",
            "не выполнено",
        ],
        [
            "МБОУ «Шуйская СШ № 2» (IV-02, Шуйский район): этап «оснащён»",
            "25.08.2021",
            "30.08.2021",
            "с опозданием на 5 дн.",
        ],
        [
            "МБОУ «Шуйская СШ № 2» (IV-02, Шуйский район): этап «персонал обучен»",
            "25.08.2021",
            "30.08.2021",
            "с опозданием на 5 дн.",
        ],
        *(
            ["МБОУ «Южская СШ» (IV-06, Южский район): этап «" + stage + "»", due, "—"]
            + ["не выполнено"]
            for stage, due in (
                ("оснащён", "25.08.2021"),
                ("персонал обучен", "25.08.2021"),
                ("открыт", "01.09.2021"),
            )
        ),
    ]
    assert len(problems) == 4 + not_done + 6  # late: 2 cycles, 2 stages
    saturday = re.search(r'data-center="IV-05" data-stage="reporting" data-verdict="(\w+)"', dom)
    assert saturday is not None
    assert saturday.group(1) == "on_time"
    assert 'data-center="IV-04" data-stage="opened" data-verdict="cancelled"' in dom

    # Totals per verdict, the nouns agreeing with the numbers.
    totals = {
        ul: [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", li)).split()) for li in items]
        for ul, body in re.findall(r'<ul id="(\w+-totals)">(.*?)</ul>', dom, re.DOTALL)
        for items in [re.findall(r"<li[^>]*>(.*?)</li>", body, re.DOTALL)]
    }
    assert totals == {
        "cycle-totals": [
            "4 цикла — в срок",
            "2 цикла — с опозданием",
            f"{not_done} циклов — не выполнено",
            "1 цикл — отменено",
        ],
        "stage-totals": [
            "16 этапов — в срок",
            "2 этапа — с опозданием",
            "6 этапов — не выполнено",
            "5 этапов — отменено",
            "1 этап — срок не установлен",
        ],
    }

    # A phone (390 px) and a desktop: cards with their labels, nothing off the screen,
    # every text at least 4.5:1 (WCAG AA).
    with Chromium(chromium, tmp_path / "cdp-profile") as browser:
        for width, mobile in ((390, True), (1280, False)):
            browser.open(page.as_uri(), width=width, mobile=mobile)
            probe = browser.evaluate(PROBE)
            assert probe["width"] == width
            assert [t for t in probe["texts"] if t["ratio"] < 4.5] == []
            cells = probe["cells"]
            assert {c["table"] for c in cells} == {"problems", "measures", "stages"}
            assert [c for c in cells if c["display"] == "none" or not c["visible"]] == []
            if mobile:
                assert [c for c in cells if c["label"] != f'"{c["head"]}: "'] == []
                assert max(c["right"] for c in cells) <= width
                assert browser.evaluate("document.documentElement.scrollWidth") <= width
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            backend = "sqlite" if str(engine.url).startswith("sqlite") else "postgres"
            shot = SCREENSHOTS / f"final-{'phone' if mobile else 'desktop'}-{backend}.png"
            browser.screenshot(shot, width=width, mobile=mobile)
            assert shot.stat().st_size > 10_000

    # Printed on A4 (landscape): the title and the date on the first page, a sensible count.
    pdf = tmp_path / "final.pdf"
    _run_chromium(chromium, page, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    pages = _pdf_texts(pdf)
    assert TITLE in pages[0]
    assert "По состоянию на 01.02.2024" in pages[0]
    assert f"С опозданием и не выполнено: {4 + not_done + 6}" in pages[0]
    assert 2 <= len(pages) <= 10
    assert all(len(p.split()) > 20 for p in pages)


def test_an_open_program_gets_an_interim_report(
    cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """Before the program's end the title says so, and what is not yet due is not «не
    выполнено»; events after the report's date are not counted."""
    from openpyxl import load_workbook

    _history(engine, stored, cli)
    out = tmp_path / "interim.xlsx"
    result = cli("--now", "2022-10-01", "--json", "report", "final", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert '"interim": true' in result.output
    book = load_workbook(out)
    assert book["Итоги"]["A1"].value == (f"{TITLE} (промежуточный: программа не завершена): итоги")
    stages = {(r[0], r[4]): r[7] for r in _rows(book["Этапы центров"])}
    # Cohort 2022 reports from Saturday 01.10.2022; on that day it has not, and need not yet.
    assert stages[("IV-05", "отчитывается")] == "срок не наступил"
    assert stages[("IV-05", "открыт")] == "в срок"
    measures = {(r[0], r[2]): r[5] for r in _rows(book["Мероприятия"])}
    assert measures[(9, "III квартал 2022 г.")] == "срок не наступил"
    page = tmp_path / "interim.html"
    assert (
        cli("--now", "2022-10-01", "report", "final", "--format", "html", "-o", str(page)).exit_code
        == 0
    )
    assert "(промежуточный: программа не завершена)</h1>" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/x.xlsx", "не существует: отчёт не записан"),
        (".", "— папка, а не файл: отчёт не записан"),
    ],
)
def test_a_bad_output_is_refused_in_russian(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path, where: str, message: str
) -> None:
    result = cli("report", "final", "-o", str(tmp_path / where))
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.glob("**/*.xlsx")) == []


def test_a_database_created_after_the_close_is_not_a_clean_program(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """`make run` today: ``tochka init`` after the program's close, no cycle ever created.
    The report says at the top that the database holds nothing, and lists every cycle the
    roadmap implies as not done for lack of records — never «Опозданий … нет»; measure 1,
    done by the roadmap file, is done on the file's day."""
    from openpyxl import load_workbook

    from workflow.roadmap.loader import load_roadmap
    from workflow.views.final import NO_DATA_NOTE, NOT_RECORDED_TEXT

    now = "2026-12-03T09:00"
    assert cli("--now", now, "init").exit_code == 0
    definition = load_roadmap(IVANOVO_159_RP)
    specs = scheduled_cycles(definition, as_of=date(2026, 12, 3))
    assert len(specs) > 20
    out = tmp_path / "final.xlsx"
    result = cli("--now", now, "report", "final", "-o", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    for name in ("Итоги", "Мероприятия", "Этапы центров"):
        assert book[name]["A4"].value == NO_DATA_NOTE
    rows = _rows(book["Мероприятия"])
    assert len(rows) == len(specs)
    verdicts = {(r[0], r[2]): r[5] for r in rows}
    assert verdicts[(9, "IV квартал 2023 г.")] == NOT_RECORDED_TEXT
    assert verdicts[(1, "2020 г.")] == "в срок"
    assert sum(v == NOT_RECORDED_TEXT for v in verdicts.values()) == len(specs) - 1
    page = tmp_path / "final.html"
    assert cli("--now", now, "report", "final", "--format", "html", "-o", str(page)).exit_code == 0
    text = html.unescape(page.read_text(encoding="utf-8"))
    assert NO_DATA_NOTE in text
    assert "Опозданий и невыполненного нет" not in text
    assert "0 циклов" not in text
    assert text.count(f"! {NOT_RECORDED_TEXT}") == 0  # the «! » is CSS, not text
    assert text.count(NOT_RECORDED_TEXT) == 2 * (len(specs) - 1)  # problems and measures
