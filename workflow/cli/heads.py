"""``--show-head``: after a command that wrote, print each roadmap's audit chain head.

The full ``SEQ:HASH`` is what an operator keeps outside the database (a log, a ticket, a
letter) and later gives to ``tochka audit verify --expect``. Text mode prints one line
per roadmap on stdout after the command's summary; under ``--json`` stdout holds only the
command's data, so the heads go to stderr as one object ``{"audit_head": [...]}``.
"""

from __future__ import annotations

import json
import sys

from workflow.cli.context import CliState, done


def after_command(st: CliState, commits_before: int) -> None:
    """Print the heads if the command committed a write (a refusal recorded counts)."""
    from base import db
    from workflow.engine import anchors

    if db.commits() == commits_before:
        return
    try:
        with db.read(st.engine()) as conn:
            found = anchors.heads(conn)
    except Exception:  # the command's work is done; say so, no traceback
        sys.stderr.write("Заголовок журнала не прочитан: база недоступна после команды.\n")
        return
    if st.json:
        listed = [{"roadmap": h.roadmap, "seq": h.seq, "hash": h.hash} for h in found]
        sys.stderr.write(json.dumps({"audit_head": listed}, ensure_ascii=False) + "\n")
        return
    for h in found:
        done(f"Заголовок журнала «{h.roadmap}»: {h.text}")
