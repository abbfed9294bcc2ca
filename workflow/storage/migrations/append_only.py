"""Database-side protection of the audit trail: events can be inserted, never changed.

Installed by the initial migration (see ``script.py.mako``). A trigger refuses UPDATE and
DELETE (and TRUNCATE on PostgreSQL) on ``event`` for every database role that does not
own the schema's triggers; `tochka audit verify` still catches anyone who drops them.
"""

from __future__ import annotations

from typing import Any

MESSAGE = "tochka: audit events are append-only"


def install(op: Any) -> None:
    """Create the append-only triggers on the ``event`` table."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION tochka_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event "
            "FOR EACH ROW EXECUTE FUNCTION tochka_event_append_only()"
        )
        op.execute(
            "CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON event "
            "FOR EACH STATEMENT EXECUTE FUNCTION tochka_event_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER event_no_{verb.lower()} BEFORE {verb} ON event "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
