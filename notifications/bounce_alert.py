"""A bounced address as the coordinator's daily letter tells it, once per bounce.

The scheduler (`workflow.schedule.bounces`) hands each permanent bounce not told yet to
the coordinator's letter of the day as a `notifications.values.Reminder` that carries a
`BounceAlert` (``Reminder.bounce``): so it joins that day's digest (or the weekly summary
that folds it), is recorded once by its key and is never a deadline. The letter lists
the alerts apart from its deadlines («Письма не доставлены»), in Russian: the address,
the letter returned, why, whose address it is and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = ["BounceAlert"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BounceAlert:
    """One address that did not take one of our letters.

    Attributes:
        address: the address (lower case).
        letter_id: the outbox number of the letter returned; None when the notification
            did not say which and no letter to the address was found.
        letter_subject: that letter's subject.
        letter_sent: the local day it was sent.
        returned: the local day the delivery status notification was recorded.
        reason: why, in Russian (the status code's meaning).
        server: the receiving server's own words, one line («550 5.1.1 … User unknown»);
            quoted as its answer, never as ours.
        owners: whose address it is, Russian («центр S1 «МБОУ «Школа № 1»»»); empty: no
            center, municipality or party of the roadmap has it.
        fix: what to do, a Russian sentence naming the command.
    """

    address: str
    letter_id: int | None = None
    letter_subject: str = ""
    letter_sent: date | None = None
    returned: date
    reason: str
    server: str = ""
    owners: tuple[str, ...] = ()
    fix: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored with the reminder that carries the alert)."""
        return {
            "address": self.address,
            "letter_id": self.letter_id,
            "letter_subject": self.letter_subject,
            "letter_sent": None if self.letter_sent is None else self.letter_sent.isoformat(),
            "returned": self.returned.isoformat(),
            "reason": self.reason,
            "server": self.server,
            "owners": list(self.owners),
            "fix": self.fix,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> BounceAlert | None:
        """Rebuild an alert stored with `to_json` (None: the reminder carries none)."""
        if not data:
            return None
        sent = data.get("letter_sent")
        return cls(
            address=str(data["address"]),
            letter_id=None if data.get("letter_id") is None else int(data["letter_id"]),
            letter_subject=str(data.get("letter_subject", "")),
            letter_sent=date.fromisoformat(sent) if sent else None,
            returned=date.fromisoformat(data["returned"]),
            reason=str(data["reason"]),
            server=str(data.get("server", "")),
            owners=tuple(str(o) for o in data.get("owners", ())),
            fix=str(data["fix"]),
        )
