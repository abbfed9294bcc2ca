"""``tochka report status``: the HTML dashboard rendered by headless Chromium, and its XLSX.

Chromium is Debian's ``chromium``; the session fixture installs it when missing (the
Makefile's ``chromium`` target does the same for CI). The page is opened from a file://
URL with every host name unresolvable and a net log; a request to the network made by
the page (not by the browser's own services) fails the test, and so does any
http(s):// or protocol-relative URL in a src or href of the rendered DOM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import Result

from base import db
from states.cycle import CycleState
from tests.test_indicators import T0, seed
from workflow.engine import centers, cycles
from workflow.engine.access import Actor
from workflow.engine.transitions import TransitionEngine
from workflow.imports.centers_file import CenterRow
from workflow.roadmap.recurrence import scheduled_cycles
from workflow.roadmap.store import StoredRoadmap

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
    html = page.read_text(encoding="utf-8")
    assert "<b>Школа</b>" not in html
    assert "<script>alert(1)</script>" not in html

    dom, requested = _run_chromium(chromium, page, tmp_path, "--dump-dom")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # One file per backend: xdist may run both at once.
    backend = "sqlite" if str(engine.url).startswith("sqlite") else "postgres"
    for name, size in (
        (f"dashboard-desktop-{backend}.png", "1280,2200"),
        (f"dashboard-phone-{backend}.png", "390,3200"),
    ):
        _, more = _run_chromium(
            chromium, page, tmp_path, f"--screenshot={SCREENSHOTS / name}", f"--window-size={size}"
        )
        requested += more
        assert (SCREENSHOTS / name).stat().st_size > 10_000
    assert requested == []
    assert external_urls(dom) == []
    assert external_urls(html) == []
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
    overdue = re.findall(
        r'<tr class="overdue" data-cycle="\d+"><td>(\d)</td><td>([^<]+)</td>'
        r"<td>([^<]+)</td><td class=\"n\">(\d+)</td>",
        dom,
    )
    assert overdue == [
        ("6", "2021", "25.08.2021", "16"),
        ("7", "2021", "25.08.2021", "16"),
        ("8", "2021", "01.09.2021", "9"),
    ]
    upcoming = re.findall(
        r'<tr class="upcoming (\w+)"><td>([^<]+)</td><td class="n">(\d+)</td>'
        r"<td>([^<]+)</td>",
        dom,
    )
    assert upcoming == [
        ("cycle", "01.10.2021", "21", "Мероприятие № 9 (2021-Q3)"),
        ("stage", "01.10.2021", "21", "Центры 2021 года: начинают этап «отчитывается»"),
    ]
    assert 'data-municipality="Родниковский район"' in dom
    late = re.search(
        r'data-municipality="Родниковский район">.*?<span class="badge bad">(\d+)<', dom, re.DOTALL
    )
    assert late is not None
    assert late.group(1) == "2"
    assert "&lt;b&gt;Школа&lt;/b&gt;" not in dom  # names are not shown on the dashboard at all


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


def test_status_xlsx(cli: Cli, engine: Engine, stored: StoredRoadmap, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    _dashboard_data(engine, stored)
    out = tmp_path / "status.xlsx"
    result = cli("--now", NOW, "report", "status", "--format", "xlsx", "-o", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    assert book.sheetnames == ["Этапы", "Муниципалитеты", "Мероприятия", "Сроки"]
    stages = book["Этапы"]
    assert stages.freeze_panes == "B2"
    assert [c.value for c in stages[1]] == [
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
    assert [[c.value for c in row] for row in stages.iter_rows(min_row=2)] == [
        [2021, 6, 2, 0, 0, 0, 1, 3, 0],
        [2022, 2, 1, 0, 1, 0, 0, 0, 0],
    ]
    towns = [[c.value for c in row][:4] for row in book["Муниципалитеты"].iter_rows(min_row=2)]
    assert towns[0] == ["Родниковский район", 2, 0, 2]
    overdue = [
        [c.value for c in row][:5]
        for row in book["Мероприятия"].iter_rows(min_row=2)
        if row[0].font.color is not None and row[0].font.color.rgb == "00B00020"
    ]
    assert overdue == [
        [6, "2021", datetime(2021, 8, 25), "просрочен", 16],
        [7, "2021", datetime(2021, 8, 25), "запланирован", 16],
        [8, "2021", datetime(2021, 9, 1), "выполняется", 9],
    ]
    assert book["Мероприятия"]["C2"].number_format == "DD.MM.YYYY"
    soon = [[c.value for c in row] for row in book["Сроки"].iter_rows(min_row=2)]
    assert [r[:3] for r in soon] == [
        [datetime(2021, 10, 1), 21, "Мероприятие № 9 (2021-Q3)"],
        [datetime(2021, 10, 1), 21, "Центры 2021 года: начинают этап «отчитывается»"],
    ]


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
