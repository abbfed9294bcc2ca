"""`workflow.storage.tables` finds each name in the module `_WHERE` names (PEP 562): the
map, the type checker's imports and ``__all__`` are kept by hand, so a name listed in one
and not the others would pass mypy and fail only when a command first asks for it."""

from __future__ import annotations

import subprocess
import sys

from workflow.storage import tables


def test_every_exported_name_is_mapped_and_resolves() -> None:
    assert set(tables._WHERE) | {"GENESIS_HASH", "all_tables"} == set(tables.__all__)
    # In a fresh interpreter: here other tests may have built every table already.
    code = (
        "import importlib\n"
        "from workflow.storage import tables\n"
        "for name, where in tables._WHERE.items():\n"
        "    module = importlib.import_module(f'workflow.storage.tables.{where}')\n"
        "    assert getattr(tables, name) is getattr(module, name), name\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
