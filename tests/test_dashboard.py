"""``tochka report status``: the HTML dashboard rendered by headless Chromium, and its XLSX.

Chromium is Debian's ``chromium``; the session fixture installs it when missing (the
Makefile's ``chromium`` target does the same for CI). The page is opened from a file://
URL with every host name unresolvable and a net log; a request to the network made by
the page (not by the browser's own services) fails the test, and so does any
http(s):// or protocol-relative URL in a src or href of the rendered DOM.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from states.center import LIFECYCLE
from states.center import STATE_TITLES as CENTER_STATE_TITLES
from states.cycle import CycleState
from tests.cdp import Chromium
from tests.test_indicators import T0, seed
from workflow.engine import centers, cycles
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.recurrence import scheduled_cycles
from workflow.roadmap.store import StoredRoadmap
from workflow.views import dashboard

Cli = Callable[..., Result]
CHROMIUM = Path(os.environ.get("TOCHKA_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
NOW = "2021-09-10"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing (this runs as root in CI)."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.fail("chromium не установлен, а установить его нельзя: выполните make chromium")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
    assert CHROMIUM.exists()
    return CHROMIUM


def _run_chromium(chromium: Path, page: Path, work: Path, *extra: str) -> tuple[str, list[str]]:
    """Open ``page``; return stdout and the URLs the page itself requested (net log)."""
    net_log = work / f"net-{len(list(work.glob('net-*')))}.json"
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={work / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={net_log}",
        "--virtual-time-budget=3000",
        *extra,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)
    return done.stdout, page_requests(net_log)


def page_requests(net_log: Path) -> list[str]:
    """URLs the page asked the network for: requests whose initiator is an origin (the
    browser's own update and account checks have none), other than file: and data:."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        url = params.get("url", "")
        if (
            event["type"] == start_job
            and url
            and params.get("initiator") != "not an origin"
            and not url.startswith(("file:", "data:"))
        ):
            urls.append(url)
    return urls


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action")]


def external_urls(html: str) -> list[str]:
    """src/href values that leave the file, plus url(...) and @import in inline CSS."""
    parser = _Links()
    parser.feed(html)
    found = [u for u in parser.urls if re.match(r"\s*(https?:)?//", u, re.IGNORECASE)]
    found += re.findall(r"url\(\s*['\"]?\s*((?:https?:)?//[^)'\"]+)", html, re.IGNORECASE)
    found += re.findall(r"@import\s+['\"]?([^'\";]+)", html)
    return found


def _dashboard_data(engine: Engine, stored: StoredRoadmap) -> None:
    """`seed`, two late centers, and the cycles due by 10.09.2021 in assorted states."""
    seed(engine, stored)
    late = [
        CenterRow(
            code="IV-07",
            name="МБОУ «Родниковская СШ»",
            municipality="Родниковский район",
            cohort=2021,
            email="iv-07@example.org",
            line=2,
        ),
        CenterRow(
            code="IV-08",
            name="<b>Школа</b> & «Ко»",
            municipality="Родниковский район",
            cohort=2021,
            email="iv-08@example.org",
            line=3,
        ),
    ]
    centers.import_centers(engine, stored, late, filename="late.csv", actor="importer", now=T0)
    # As of 20.09 the reconciler has also opened measure 9's first cycle (due 01.10).
    specs = scheduled_cycles(stored.definition, as_of=date(2021, 9, 20))
    recorded = datetime(2021, 9, 10, 8, tzinfo=UTC)
    with db.write(engine) as conn:
        cycles.create_cycles(
            conn,
            stored,
            specs,
            origin="schedule",
            actor="tochka-daemon",
            now=recorded,
            recorded_at=recorded,
        )
        listed = cycles.list_cycles(conn, stored.id)
    fire = TransitionEngine(engine, stored.definition, stored.id).fire_cycle
    actor = Actor(login="operator")
    for cycle in listed:
        kinds = stored.definition.measure(cycle.measure).evidence
        evidence = {k: "№ 1" for k in kinds}
        if cycle.measure in (1, 2, 4, 5):
            fire(cycle.id, "start", actor=actor, now=recorded)
            fire(cycle.id, "complete", actor=actor, now=recorded, evidence=evidence)
        elif cycle.measure == 6:
            fire(cycle.id, "mark_overdue", actor=Actor(login="operator"), now=recorded)
        elif cycle.measure == 8:
            fire(cycle.id, "start", actor=actor, now=recorded)


#: Evaluated in the page over the DevTools protocol (the page itself has no script): for
#: every rendered text (elements with their own text, SVG text, the cards' ::before
#: labels) its colour, the background painted under it (computed styles) and the WCAG
#: contrast ratio; for every card cell its display, size and label.
PROBE = (Path(__file__).resolve().parent / "data" / "dashboard_probe.js").read_text(
    encoding="utf-8"
)
#: Every shape painted in a state's colour, with the words that tell its state without the
#: colour (its tooltip, the label beside it), and the timeline's legend.
COLOUR_PROBE = (Path(__file__).resolve().parent / "data" / "dashboard_colour_probe.js").read_text(
    encoding="utf-8"
)


def _check_not_by_colour_alone(probe: dict[str, Any]) -> None:
    """No state is told by colour alone (WCAG 1.4.1): each shape in a state's colour has
    that state's Russian name in its tooltip or beside it; the timeline's states differ
    in shape too, and the legend names each with its shape."""
    from states.cycle import STATE_TITLES as CYCLE_STATE_TITLES

    stage_titles = set(CENTER_STATE_TITLES.values())
    cycle_titles = set(CYCLE_STATE_TITLES.values())
    shapes = probe["shapes"]
    coloured = [s for s in shapes if s["fill"] in set(dashboard.STAGE_COLOURS.values())]
    assert len(coloured) > 10
    for shape in shapes:
        titles = cycle_titles if shape["where"].startswith("Циклы") else stage_titles
        if shape["fill"] not in {
            *dashboard.STAGE_COLOURS.values(),
            *dashboard.CYCLE_COLOURS.values(),
        }:
            continue
        assert any(t in shape["said"] for t in titles), shape
    assert len(set(dashboard.CYCLE_SHAPES.values())) == len(dashboard.CYCLE_SHAPES)
    assert [entry["word"] for entry in probe["legend"]][:-1] == [
        CYCLE_STATE_TITLES[CycleState(state)] for state in dashboard.CYCLE_SHAPES
    ]
    assert all(entry["shapes"] for entry in probe["legend"][:-1])


#: (name, viewport width, a phone's?) of the screenshots and probes.
VIEWPORTS = (("phone", 390, True), ("desktop", 1280, False))


def _pdf_pages(chromium: Path, page: Path, work: Path) -> tuple[str, list[str]]:
    """Print ``page`` to PDF as Chromium does for a person; (pdfinfo, text of each page)."""
    pdf = work / "status.pdf"
    _run_chromium(chromium, page, work, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    pages = [
        subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for n in range(1, count + 1)
    ]
    return info, pages


def test_dashboard_in_headless_chromium(
    cli: Cli, engine: Engine, stored: StoredRoadmap, chromium: Path, tmp_path: Path
) -> None:
    _dashboard_data(engine, stored)
    page = tmp_path / "status.html"
    result = cli("--now", NOW, "--json", "report", "status", "--format", "html", "-o", str(page))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "file": str(page),
        "format": "html",
        "today": "2021-09-10",
        "centers": 8,
        "overdue_cycles": 3,
        "upcoming": 2,
    }
    text = page.read_text(encoding="utf-8")
    assert "<b>Школа</b>" not in text
    assert "<script>alert(1)</script>" not in text

    dom, requested = _run_chromium(chromium, page, tmp_path, "--dump-dom")
    assert requested == []
    assert external_urls(dom) == []
    assert external_urls(text) == []
    links = _Links()
    links.feed(dom)
    assert links.scripts == 0

    def cell(cohort: int, stage: str) -> str:
        match = re.search(rf'data-cohort="{cohort}" data-stage="{stage}">(\d+)<', dom)
        assert match, (cohort, stage)
        return match.group(1)

    assert [
        cell(2021, s)
        for s in (
            "planned",
            "infrastructure_agreed",
            "equipped",
            "staff_trained",
            "opened",
            "reporting",
            "withdrawn",
        )
    ] == ["2", "0", "0", "0", "1", "3", "0"]
    assert [cell(2022, s) for s in ("planned", "equipped")] == ["1", "1"]
    # The funnel's labels are the stages in the table's words (one wording per stage),
    # «инфраструктурный лист согласован» on two lines rather than a shorter name.
    cohort_2021 = dom.split('data-cohort="2021">', 1)[1].split("</svg>", 1)[0]
    labels = [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", t)).split())
        for t in re.findall(r'<text class="stage"[^>]*>(.*?)</text>', cohort_2021, re.DOTALL)
    ]
    assert labels == [CENTER_STATE_TITLES[s] for s in LIFECYCLE]
    assert "инфраструктурный лист согласован" in labels

    def rows(css_class: str) -> list[list[str]]:
        """The cells' texts of the rendered rows of ``css_class``, tags stripped."""
        found = re.findall(rf'<tr class="{css_class}"[^>]*>(.*?)</tr>', dom, re.DOTALL)
        return [
            [" ".join(html.unescape(re.sub(r"<[^>]+>", "", c)).split()) for c in cells]
            for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL) for row in found)
        ]

    # The late centers are named: school, municipality, the stage missed, days late.
    assert rows("late-center") == [
        [
            "<b>Школа</b> & «Ко» (IV-08)",
            "Родниковский район",
            "«оснащён»",
            "25.08.2021",
            "16",
            "запланирован",
        ],
        [
            "МБОУ «Родниковская СШ» (IV-07)",
            "Родниковский район",
            "«оснащён»",
            "25.08.2021",
            "16",
            "запланирован",
        ],
    ]
    # The III quarter's cycle is open (due 01.10), but the quarter is still running: no
    # school owes its values yet (`test_owing_schools_counted_once_for_ended_periods_only`).
    assert rows("owing") == []
    assert "Школ, не сдавших показатели за истёкшие периоды, нет." in dom
    # The header names the roadmap by its region, decree and title, never its id.
    header = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom.split("</header>")[0])).split())
    assert "Ивановская область · Распоряжение Правительства Ивановской области" in header
    assert "Комплекс мер («дорожная карта») по созданию" in header
    assert stored.definition.code not in header
    assert rows("overdue") == [
        ["6", "2021 г.", "25.08.2021", "16", rows("overdue")[0][4]],
        ["7", "2021 г.", "25.08.2021", "16", rows("overdue")[1][4]],
        ["8", "2021 г.", "01.09.2021", "9", rows("overdue")[2][4]],
    ]
    assert rows("overdue")[2][4] == "Начало работы центров «Точка роста»"
    assert [r[:3] for r in rows("upcoming cycle") + rows("upcoming stage")] == [
        ["01.10.2021", "21", "Мероприятие № 9 за III квартал 2021 г."],
        ["01.10.2021", "21", "Центры 2021 года начинают этап «отчитывается»"],
    ]
    # Plural agreement: 8 центров, 1 центр открыт, 2 центра отстают, 3 мероприятия.
    kpis = {
        k: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", v)).split())
        for k, v in re.findall(r'<div class="kpi[^"]*" id="kpi-(\w+)">(.*?)</div>', dom)
    }
    assert kpis == {
        "centers": "8 центров в дорожной карте",
        "opened": "4 центра открыты или отчитываются",
        "late": "2 центра отстают от сроков",
        "overdue": "3 мероприятия просрочены",
        "upcoming": "2 срока в ближайшие 30 дней",
    }
    late = re.search(
        r'data-municipality="Родниковский район">.*?<span class="badge bad">(\d+)<', dom, re.DOTALL
    )
    assert late is not None
    assert late.group(1) == "2"

    # At a phone's 390 px (emulated: headless windows are 500 px at least) and at 1280 px:
    # screenshots, and the contrast (WCAG AA, 4.5:1) of every rendered text from computed
    # styles.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    backend = "sqlite" if str(engine.url).startswith("sqlite") else "postgres"  # xdist
    with Chromium(chromium, tmp_path / "cdp-profile") as browser:
        for name, width, mobile in VIEWPORTS:
            browser.open(page.as_uri(), width=width, mobile=mobile)
            probe = browser.evaluate(PROBE)
            assert probe["width"] == width
            assert len(probe["texts"]) > 100
            low = [t for t in probe["texts"] if t["ratio"] < 4.5]
            assert low == [], width
            # Every column keeps its meaning: no cell hidden; on a phone each cell carries
            # its column's name (the header row is gone), and nothing runs off the screen.
            cells = probe["cells"]
            assert {c["table"] for c in cells} >= {
                "late-centers",
                "municipalities",
                "timeline",
                "upcoming",
            }
            assert [c for c in cells if c["display"] == "none" or not c["visible"]] == []
            if mobile:
                assert [c for c in cells if c["label"] != f'"{c["head"]}: "'] == []
                assert max(c["right"] for c in cells) <= width
            if not mobile:
                _check_not_by_colour_alone(browser.evaluate(COLOUR_PROBE))
            shot = SCREENSHOTS / f"dashboard-{name}-{backend}.png"
            browser.screenshot(shot, width=width, mobile=mobile)
            assert shot.stat().st_size > 10_000

    # Printed on A4: the first page holds the figures and the late schools, not just the title.
    info, pages = _pdf_pages(chromium, page, tmp_path)
    assert "(A4)" in info
    first = " ".join(pages[0].split())
    assert "Центры «Точка роста»: сводка на 10.09.2021" in first
    assert "центра отстают от сроков" in first  # «2» stands above, in the figure
    assert "Отстающие центры" in first
    assert "МБОУ «Родниковская СШ»" in first
    assert len(first) > 600
    assert all(len(p.split()) > 20 for p in pages)  # no nearly empty page either
    assert len(pages) <= 4


def test_the_fetch_check_catches_a_fetch(chromium: Path, tmp_path: Path) -> None:
    """The checks above are not vacuous: an image and a font from the network are caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><head><style>@font-face { font-family: x; "
        'src: url("https://fonts.example/x.woff2") }'
        "body { font-family: x }</style></head><body>текст"
        '<img src="https://example.org/logo.png"></body></html>',
        encoding="utf-8",
    )
    dom, requested = _run_chromium(chromium, page, tmp_path, "--dump-dom")
    assert "https://example.org/logo.png" in requested
    assert external_urls(dom) == ["https://example.org/logo.png", "https://fonts.example/x.woff2"]


def _monitoring_cycles(engine: Engine, stored: StoredRoadmap, as_of: date) -> None:
    """The cycles the reconciler would have opened by ``as_of``, none of them done."""
    recorded = datetime(as_of.year, as_of.month, as_of.day, 8, tzinfo=UTC)
    with db.write(engine) as conn:
        cycles.create_cycles(
            conn,
            stored,
            scheduled_cycles(stored.definition, as_of=as_of),
            origin="schedule",
            actor="tochka-daemon",
            now=recorded,
            recorded_at=recorded,
        )


OWING_CODES = ["IV-01", "IV-03", "IV-04", "IV-02"]


def test_owing_schools_counted_once_for_ended_periods_only(
    engine: Engine, stored: StoredRoadmap, tmp_path: Path
) -> None:
    """Each school once, with every ended period it owes; a running quarter never.

    On 26.12.2021 the IV quarter's cycle (due 01.01.2022) is open, but the quarter has not
    ended: the schools owe the III quarter only. On 10.01.2022 they owe both, and the page
    counts schools (4), not (school, period) pairs (8).
    """
    seed(engine, stored)
    _monitoring_cycles(engine, stored, date(2022, 1, 10))
    with db.read(engine) as conn:
        december = dashboard.build(conn, stored, now=datetime(2021, 12, 26, 9, tzinfo=UTC))
        january = dashboard.build(conn, stored, now=datetime(2022, 1, 10, 9, tzinfo=UTC))
    assert [o.code for o in december.owing] == OWING_CODES
    assert {tuple(p.title for p in o.periods) for o in december.owing} == {("III квартал 2021 г.",)}
    assert [o.code for o in january.owing] == OWING_CODES
    assert {tuple((p.title, p.due, p.status) for p in o.periods) for o in january.owing} == {
        (
            ("III квартал 2021 г.", date(2021, 10, 1), "нет сведений"),
            ("IV квартал 2021 г.", date(2022, 1, 1), "нет сведений"),
        )
    }
    page = dashboard.render_html(january)
    owing = page[page.index('<section id="owing">') : page.index('<section id="funnel">')]
    assert "<h2>Не сдали показатели: 4 школы</h2>" in owing
    assert owing.count('<tr class="owing"') == 4
    assert "III квартал 2021 г.<br>IV квартал 2021 г." in owing
    # The status workbook lists them the same way: one row per school.
    from openpyxl import load_workbook

    out = tmp_path / "status.xlsx"
    dashboard.write_xlsx(january, out)
    sheet = load_workbook(out)["Показатели не сданы"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=5)]
    assert [r[0] for r in rows] == OWING_CODES
    assert {tuple(r[3:]) for r in rows} == {
        (
            "III квартал 2021 г.\nIV квартал 2021 г.",
            datetime(2021, 10, 1),
            "нет сведений\nнет сведений",
        )
    }
    assert sheet["E5"].number_format == "DD.MM.YYYY"
    # The time is on «МСК», as Russia names its zones: never an IANA name.
    assert "Сформировано программой Tochka 10.01.2022 12:00 МСК " in page
    assert "Europe/" not in page
    december_page = dashboard.render_html(december)
    assert (
        "IV квартал 2021 г."
        not in december_page.split('<section id="owing">')[1].split("</section>")[0]
    )


SOFFICE = Path("/usr/bin/soffice")
STATUS_SHEETS = [
    "Этапы",
    "Муниципалитеты",
    "Отстающие центры",
    "Показатели не сданы",
    "Мероприятия",
    "Сроки",
]


def test_status_xlsx(cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    _dashboard_data(engine, stored)
    out = tmp_path / "status.xlsx"
    result = cli("--now", NOW, "report", "status", "--format", "xlsx", "-o", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert book.sheetnames == STATUS_SHEETS
    for ws in book.worksheets:
        # What and when, above every table, and on every printed page (print titles).
        assert ws["A1"].value == f"{ws.title}: центры «Точка роста», Ивановская область"
        # The date is a date cell beside its label, not text.
        assert ws["A2"].value == "По состоянию на"
        stamp = next(c for c in ws[2][1:] if c.value is not None)
        assert stamp.is_date
        assert stamp.value == datetime(2021, 9, 10)
        assert stamp.number_format == "DD.MM.YYYY"
        assert ws.print_title_rows == "$1:$4"
        assert ws.page_setup.paperSize == 9  # A4 (ECMA-376 paper size codes)
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert ws.freeze_panes in ("B5", "A5")
    stages = book["Этапы"]
    assert [c.value for c in stages[4]] == [
        "Год создания",
        "Всего",
        "запланирован",
        "инфраструктурный лист согласован",
        "оснащён",
        "персонал обучен",
        "открыт",
        "отчитывается",
        "исключён",
    ]
    assert [[c.value for c in row] for row in stages.iter_rows(min_row=5)] == [
        [2021, 6, 2, 0, 0, 0, 1, 3, 0],
        [2022, 2, 1, 0, 1, 0, 0, 0, 0],
    ]
    towns = [[c.value for c in row][:4] for row in book["Муниципалитеты"].iter_rows(min_row=5)]
    assert towns[0] == ["Родниковский район", 2, 0, 2]
    late = [[c.value for c in row] for row in book["Отстающие центры"].iter_rows(min_row=5)]
    assert late == [
        [
            "IV-08",
            "<b>Школа</b> & «Ко»",
            "Родниковский район",
            "оснащён",
            datetime(2021, 8, 25),
            16,
            "запланирован",
        ],
        [
            "IV-07",
            "МБОУ «Родниковская СШ»",
            "Родниковский район",
            "оснащён",
            datetime(2021, 8, 25),
            16,
            "запланирован",
        ],
    ]
    # On 10.09 the III quarter is still running: nobody owes its values yet.
    owing = [[c.value for c in row] for row in book["Показатели не сданы"].iter_rows(min_row=5)]
    assert [r[0] for r in owing] == ["Школ, не сдавших показатели за истёкшие периоды, нет."]
    overdue = [
        [c.value for c in row][:5]
        for row in book["Мероприятия"].iter_rows(min_row=5)
        if row[0].font.color is not None and row[0].font.color.rgb == "00B00020"
    ]
    assert overdue == [
        [6, "2021 г.", datetime(2021, 8, 25), "просрочен", 16],
        [7, "2021 г.", datetime(2021, 8, 25), "запланирован", 16],
        [8, "2021 г.", datetime(2021, 9, 1), "выполняется", 9],
    ]
    # Every period as a person reads it (as the HTML page), never the label of the data.
    periods = [row[1] for row in book["Мероприятия"].iter_rows(min_row=5, values_only=True)]
    assert "III квартал 2021 г." in periods
    assert [p for p in periods if re.fullmatch(r"\d{4}(-\S+)?", str(p))] == []
    assert book["Мероприятия"]["C5"].number_format == "DD.MM.YYYY"
    soon = [[c.value for c in row] for row in book["Сроки"].iter_rows(min_row=5)]
    assert [r[:3] for r in soon] == [
        [datetime(2021, 10, 1), 21, "Мероприятие № 9 за III квартал 2021 г."],
        [datetime(2021, 10, 1), 21, "Центры 2021 года начинают этап «отчитывается»"],
    ]

    # Printed by LibreOffice: one A4 page per table here, each with its date.
    if not SOFFICE.exists():
        pytest.fail("LibreOffice не установлен: apt-get install libreoffice-calc-nogui")
    converted = subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert converted.returncode == 0, converted.stderr
    pdf = tmp_path / "status.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert "(A4)" in info.stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
    assert pages == len(STATUS_SHEETS)
    for number, title in enumerate(STATUS_SHEETS, start=1):
        text = subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"{title}: центры «Точка роста»" in text
        assert "По состоянию на 10.09.2021" in " ".join(text.split())


def test_status_with_no_centers_and_no_cycles(
    cli: Cli, stored: StoredRoadmap, tmp_path: Path
) -> None:
    page = tmp_path / "empty.html"
    result = cli("--now", NOW, "report", "status", "-o", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "Центров пока нет" in html
    assert "Просроченных мероприятий нет." in html
    assert CycleState.OVERDUE.value  # the enum the dashboard colours by
