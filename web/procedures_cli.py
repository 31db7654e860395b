"""``flask --app app procedures export DIR`` / ``import DIR``: versions to and from files (git)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from engine.procedures import ChecksFailed, export_current, import_directory

from . import engine as current_engine

procedures_group = AppGroup("procedures", help="Versiones de los procedimientos como archivos.")


def init_app(app: Flask) -> None:
    """Register the ``procedures`` command group on ``app``."""
    app.cli.add_command(procedures_group)


@procedures_group.command("export")
@click.argument("target", type=click.Path(file_okay=False))
def export_command(target: str) -> None:
    """Write the current version of every procedure into TARGET (bpmn/ layout)."""
    names = export_current(current_engine(), target)
    click.echo(f"{len(names)} archivos escritos en {target}")


@procedures_group.command("import")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--comment", default="Importado desde archivos", help="Comentario de la versión.")
@click.option("--by", "username", default=None, help="Usuario que publica (opcional).")
def import_command(source: str, comment: str, username: str | None) -> None:
    """Publish every procedure in SOURCE as a new version (each through the check)."""
    try:
        published = import_directory(current_engine(), source, by=username, comment=comment)
    except ChecksFailed as failure:
        click.echo(failure.message, err=True)
        for problem in failure.problems:
            where = problem.file + (f":{problem.line}" if problem.line else "")
            element = f" [{problem.element_id}]" if problem.element_id else ""
            click.echo(f"  {where}{element}: {problem.message}", err=True)
        raise SystemExit(1) from None
    for item in published:
        state = "nueva versión" if item.created else "sin cambios"
        click.echo(f"{item.process_id}: versión {item.number} ({state}) {item.hash[:12]}")
