"""The signature every letter ends with: who writes, whom to call, where.

It comes from the roadmap file's ``signature:`` block (`workflow.roadmap.schema`); a
roadmap without one signs with the coordinator party's name alone. The department's
name is also the display name of the letter's From and Reply-To.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Signature:
    """The sender's block at the end of a letter; every part but the department optional.

    Attributes:
        department: who writes, e.g. «Департамент образования Ивановской области».
        contact: the contact person, e.g. «Иванова Анна Петровна, главный специалист».
        phone: the contact phone number, as it should be printed.
        address: the postal address.
    """

    department: str
    contact: str = ""
    phone: str = ""
    address: str = ""

    @property
    def lines(self) -> tuple[str, ...]:
        """The block's lines, the empty parts left out."""
        parts = [
            self.department,
            f"Контактное лицо: {self.contact}" if self.contact else "",
            f"Телефон: {self.phone}" if self.phone else "",
            f"Адрес: {self.address}" if self.address else "",
        ]
        return tuple(part for part in parts if part)

    def to_json(self) -> dict[str, str]:
        """A JSON-ready dict (stored with each reminder)."""
        return {
            "department": self.department,
            "contact": self.contact,
            "phone": self.phone,
            "address": self.address,
        }

    @classmethod
    def from_json(cls, data: dict[str, str] | None) -> Signature | None:
        """Rebuild a signature stored with `to_json` (None for a reminder stored before)."""
        if not data:
            return None
        return cls(
            department=data.get("department", ""),
            contact=data.get("contact", ""),
            phone=data.get("phone", ""),
            address=data.get("address", ""),
        )
