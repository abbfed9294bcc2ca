"""How a completion the roadmap file records (``done:``) is worded in the audit chain and
the reports: pure text, below the views and the scheduler that both read it
(`workflow.schedule.file_done` records it)."""

from __future__ import annotations

from datetime import date

from workflow.roadmap.definition import Roadmap

__all__ = ["FILE_DONE_BY", "FILE_DONE_COMMENT", "done_comment", "is_file_done"]

#: How the audit comment of a completion the file records begins (`done_comment`).
FILE_DONE_COMMENT = "отмечено выполненным в файле дорожной карты"
#: Who the reports say entered such a completion: the file, never the OS account that
#: ran the tick (the audit log keeps that one).
FILE_DONE_BY = "файл дорожной карты"


def done_comment(roadmap: Roadmap, on: date) -> str:
    """The audit comment of a completion the file records: names the file and its day."""
    return (
        f"{FILE_DONE_COMMENT} «{roadmap.code}» "
        f"(sha256 {roadmap.content_hash[:12]}): выполнено {on:%d.%m.%Y}"
    )


def is_file_done(comment: str | None) -> bool:
    """Whether an event's comment is that of a completion the file records."""
    return bool(comment) and str(comment).startswith(f"{FILE_DONE_COMMENT} «")
