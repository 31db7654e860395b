"""``flask --app app import-seeds [PATH]``: the organisation seeds into the database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from engine.catalogue import ImportSummary, SeedsMissing, import_seeds

from . import engine as current_engine


def init_app(app: Flask) -> None:
    """Register the ``import-seeds`` command on ``app``."""
    app.cli.add_command(import_seeds_command)


class _ProgressBars:
    """One ``click.progressbar`` per stage, replaced when the importer moves to the next one."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.bar: Any = None
        self.shown = 0

    def __call__(self, label: str, done: int, total: int) -> None:
        if label != self.label:
            self.close()
            self.label, self.shown = label, 0
            self.bar = click.progressbar(length=max(total, 1), label=label, show_eta=False,
                                         show_pos=True, width=30)
            self.bar.__enter__()
        if done > self.shown:
            self.bar.update(done - self.shown)
            self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command(
    "import-seeds",
    help="Importa el directorio orgánico (001), el portafolio de servicios (002) y el catálogo "
         "de indicadores (004) desde los textos semilla de PATH (por defecto, SEEDS_DIR). "
         "Se puede repetir: solo cambia lo que cambió en las semillas.",
)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@with_appcontext
def import_seeds_command(path: Path | None) -> None:
    """Import the three organisation seeds, showing progress, then print what changed."""
    folder = str(path) if path is not None else str(current_app.config.get("SEEDS_DIR") or "")
    if not folder.strip():
        click.echo("Error: no se indicó la carpeta de semillas. Pase PATH o configure "
                   "SEEDS_DIR (variable CAUCE_SEEDS_DIR).", err=True)
        sys.exit(1)
    bars = _ProgressBars()
    try:
        summary = import_seeds(current_engine(), folder, progress=bars)
    except SeedsMissing as error:
        bars.close()
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(1)
    bars.close()
    _print_summary(summary)


def _print_summary(summary: ImportSummary) -> None:
    click.echo(f"Importación terminada en {summary.seconds:.1f} s "
               f"({', '.join(summary.files)}).")
    width = max(len(kind.label) for kind in summary.kinds)
    click.echo(f"  {'':{width}}  {'creados':>8} {'actualizados':>12} {'sin cambios':>11} "
               f"{'eliminados':>10}")
    for kind in summary.kinds:
        click.echo(f"  {kind.label:{width}}  {kind.created:>8} {kind.updated:>12} "
                   f"{kind.unchanged:>11} {kind.deleted:>10}")
    if summary.changes == 0:
        click.echo("Sin cambios: la base de datos ya coincidía con las semillas.")
    for note in summary.notes:
        click.echo(f"Nota: {note}")
    if summary.unplaced:
        click.echo(f"Líneas que no se pudieron ubicar ({len(summary.unplaced)}):")
        for line in summary.unplaced:
            click.echo(f"  - {line}")
    else:
        click.echo("Líneas que no se pudieron ubicar: ninguna.")
