"""``tochka municipalities``: the education authorities' addresses (import, list)."""

from __future__ import annotations

import typer

from workflow.cli.context import done, handle_errors, print_json, state
from workflow.cli.options import RoadmapCode, TableFileArg

app = typer.Typer(
    help="Органы управления образованием муниципалитетов: адреса для напоминаний.",
    no_args_is_help=True,
)


@app.command("import")
@handle_errors
def import_(ctx: typer.Context, file: TableFileArg, roadmap: RoadmapCode = None) -> None:
    """Загрузить адреса муниципалитетов из CSV или XLSX (только координатор; всё или ничего)."""
    from workflow.engine.municipalities import import_contacts, read_contacts_file

    st = state(ctx)
    stored = st.roadmap(roadmap)
    rows = read_contacts_file(file)
    added, changed = import_contacts(
        st.engine(), stored, rows, filename=str(file), actor=st.actor_ref, now=st.now()
    )
    from workflow.views.cells import contact_warnings

    for warning in contact_warnings(str(file), rows):
        typer.echo(warning, err=True)
    if st.json:
        print_json({"file": str(file), "added": added, "changed": changed})
        return
    done(
        f"Адреса муниципалитетов из {file}: добавлено {added}, изменено {changed}, "
        f"без изменений {len(rows) - added - changed}."
    )


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, roadmap: RoadmapCode = None) -> None:
    """Муниципалитеты центров: число центров и адрес для напоминаний."""
    from base import db
    from workflow.engine.municipalities import listing

    st = state(ctx)
    roadmap_id = st.roadmap_id(roadmap)
    with db.read(st.engine()) as conn:
        found = listing(conn, roadmap_id)
    if st.json:
        print_json(found)
        return
    from workflow.cli.listing import Column, Fit, print_table

    missing = sum(1 for m in found if m["email"] is None)
    print_table(
        f"Муниципалитеты: {len(found)}" + (f", без адреса: {missing}" if missing else ""),
        (
            Column("муниципалитет", Fit.WRAP),
            Column("центров", right=True),
            Column("адрес", Fit.WRAP),
        ),
        [(m["municipality"], str(m["centers"]), m["email"] or "— нет адреса") for m in found],
        width=st.width,
        # The addressee, when it is not the municipality itself: long names of offices.
        notes=[
            f"получатель: {m['recipient']}"
            if m["recipient"] and m["recipient"] != m["municipality"]
            else ""
            for m in found
        ],
    )
