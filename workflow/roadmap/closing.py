"""The program's close: what is still reminded after the program's period, and when the
roadmap is *closed*.

Pure: the roadmap and a local date in. The rules (DESIGN.md, the program's lifecycle):

* Up to the program's last day (``period_end``) everything runs as usual.
* After it, only the reports that close the program are reminded: cycles of the
  measures of ``closing.measures`` due after the end (their periods lie inside the
  program, like the 2023-Q4 monitoring due 01.01.2024). Cycles due inside the program
  and still open, and every center stage deadline, are no longer reminded.
* From ``closes_on`` (``period_end + closing.grace_days``) the roadmap is closed: the
  reconciler creates, marks and sends nothing for it; the daemon stays up.
"""

from __future__ import annotations

from datetime import date, timedelta

from workflow.roadmap.definition import Roadmap


def closes_on(roadmap: Roadmap) -> date:
    """The day the roadmap closes: the program's last day plus the grace period."""
    return roadmap.period_end + timedelta(days=roadmap.closing.grace_days)


def is_closed(roadmap: Roadmap, today: date) -> bool:
    """Whether the roadmap is closed on ``today`` (from `closes_on` on)."""
    return today >= closes_on(roadmap)


def cycle_reminded(roadmap: Roadmap, *, measure: int, due: date, today: date) -> bool:
    """Whether a cycle of ``measure`` due on ``due`` is still reminded on ``today``."""
    if today <= roadmap.period_end:
        return True
    if is_closed(roadmap, today):
        return False
    return due > roadmap.period_end and roadmap.closing.closes_program(measure)


def stages_reminded(roadmap: Roadmap, today: date) -> bool:
    """Whether center stage deadlines are still reminded on ``today``."""
    return today <= roadmap.period_end


def state_text(roadmap: Roadmap, today: date) -> str | None:
    """Where the program stands, in Russian, once it has ended; None while it runs."""
    if today <= roadmap.period_end:
        return None
    end = f"{roadmap.period_end:%d.%m.%Y}"
    closed = f"{closes_on(roadmap):%d.%m.%Y}"
    if is_closed(roadmap, today):
        return (
            f"Программа завершена {end}; дорожная карта закрыта {closed}: "
            "напоминания не отправляются."
        )
    return (
        f"Программа завершена {end}; дорожная карта будет закрыта {closed}. До тех пор "
        "напоминания — только об отчётах, закрывающих программу."
    )
