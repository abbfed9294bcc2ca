"""The monitoring form is the same bytes whenever it is built (issue 15, item 5).

`build_form` writes the workbook straight into an archive of fixed entry times and
fixed property timestamps (no second pass over the saved file): an amended digest
attaches the very file the first rendering did, and a golden letter can record it.
"""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date

import openpyxl

from notifications.monitoring_form import SHEET, FormRow, MonitoringForm, build_form

FORM = MonitoringForm(
    roadmap_code="ivanovo-2021-2023",
    roadmap_title="Дорожная карта «Точка роста»",
    center_code="IV-001",
    center_name="МБОУ «Школа № 1» <b>&</b>",
    period="2021-Q3",
    period_title="III квартал 2021 г.",
    last_title="II квартал 2021 г.",
    due=date(2021, 10, 1),
    reply_to="coordinator@example.org",
    rows=(
        FormRow(
            code="natsci_students",
            name="Численность обучающихся «Физика», «Химия», «Биология»",
            unit="чел.",
            whole=True,
            maximum=100000.0,
            last="120",
        ),
    ),
)


def test_the_form_is_the_same_bytes_a_second_later() -> None:
    first = build_form(FORM)
    time.sleep(1.1)  # the workbook's own clock has moved on
    assert build_form(FORM) == first
    with zipfile.ZipFile(io.BytesIO(first)) as book:
        assert {i.date_time for i in book.infolist()} == {(2020, 1, 1, 0, 0, 0)}
        core = book.read("docProps/core.xml").decode("utf-8")
    assert ">2021-10-01T00:00:00Z</dcterms:created>" in core
    assert ">2021-10-01T00:00:00Z</dcterms:modified>" in core
    sheet = openpyxl.load_workbook(io.BytesIO(first))[SHEET]
    assert sheet["A3"].value == "Центр: IV-001 — МБОУ «Школа № 1» <b>&</b>"
