"""An event's hash covers fixed bytes: the canonical JSON of its fields (sorted keys, no
spaces, UTF-8 as is, moments to the microsecond with their offset). `audit verify`
recomputes it over events written by every earlier release, so the text must never
change; the values below were computed before `_canonical` kept the last moment's text."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

from workflow.engine import audit

_FIELDS: dict[str, Any] = {
    "seq": 7,
    "entity_kind": "center",
    "entity_id": 42,
    "entity_key": "ИВ-001",
    "trigger": "create",
    "from_state": None,
    "to_state": "planned",
    "actor": "coordinator",
    "on_behalf_of": None,
    "recorded_at": datetime(2021, 1, 11, 9, 0, tzinfo=UTC),
    "effective_date": date(2021, 1, 11),
    "evidence": None,
    "comment": "импорт из c.csv, строка 2",
}
_PREV = "0" * 64
_TEXT = (
    '{"actor":"coordinator","comment":"импорт из c.csv, строка 2",'
    '"effective_date":"2021-01-11","entity_id":42,"entity_key":"ИВ-001",'
    '"entity_kind":"center","evidence":null,"from_state":null,"on_behalf_of":null,'
    f'"prev_hash":"{_PREV}","recorded_at":"2021-01-11T09:00:00.000000+00:00","seq":7,'
    '"to_state":"planned","trigger":"create"}'
)
_HASH = "ecd9546a81e86243e9e9aeb73f0b9779d5a7fb03767dd53b104776180d6b25ce"
# The same instant written at +03:00, with evidence whose keys come unsorted.
_MOSCOW: dict[str, Any] = _FIELDS | {
    "recorded_at": datetime(2021, 1, 11, 12, 0, tzinfo=timezone(timedelta(hours=3))),
    "evidence": {"sha256": "ab", "file": "акт.pdf"},
}
_MOSCOW_HASH = "3896894a9f8942f2b0325773658a134dd8af9dda1847724580886c5309fedb15"


def test_the_canonical_text_and_hash_of_an_event_are_fixed() -> None:
    assert audit._canonical(_FIELDS, _PREV) == _TEXT.encode("utf-8")
    assert audit.event_hash(_FIELDS, _PREV) == _HASH
    assert audit.event_hash(_MOSCOW, _PREV) == _MOSCOW_HASH


def test_an_equal_moment_at_another_offset_is_written_with_its_own_offset() -> None:
    """09:00Z and 12:00+03:00 are equal datetimes with different text: one after the
    other (as an import's events share one moment), each keeps its own."""
    for _ in range(2):
        assert audit.event_hash(_FIELDS, _PREV) == _HASH
        assert audit.event_hash(_MOSCOW, _PREV) == _MOSCOW_HASH
        assert audit.event_hash(dict(_FIELDS), _PREV) == _HASH


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"evidence": {}},
        {"evidence": {"я": "№ 1", "a": 'кавычки " и \\ и\nстрока\u2028'}},
        {"evidence": {"files": [{"name": "акт.pdf", "sha256": "ab", "size": 12}], "act": "1"}},
        {"comment": "\t\x00", "on_behalf_of": "petrov", "from_state": "planned"},
        {"recorded_at": "2021-01-11T09:00:00+00:00", "effective_date": "2021-01-11"},
        {"seq": 10**20, "entity_id": True},
        # Nested keys unsorted, a float; any mapping (a read-only view) as the dict it holds.
        {"evidence": {"files": [{"size": 1, "name": "а", "sha256": "cd"}], "x": 1.5}},
        {"evidence": MappingProxyType({"я": "1", "a": "2"})},
    ],
)
def test_the_canonical_text_is_the_json_of_the_whole_object(changes: dict[str, Any]) -> None:
    """Each value encoded alone makes the bytes the encoder makes of the whole object:
    sorted keys, no spaces, UTF-8 as is, empty evidence as null, any value type."""
    fields = _MOSCOW | changes
    evidence = fields["evidence"]
    payload = {
        **{k: v for k, v in fields.items() if k not in ("recorded_at", "effective_date")},
        "recorded_at": audit._iso(fields["recorded_at"]),
        "effective_date": audit._iso(fields["effective_date"]),
        "evidence": dict(evidence) if evidence else None,
        "prev_hash": _PREV,
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert audit._canonical(fields, _PREV) == text.encode("utf-8")
