"""``flask --app app backup FILE`` / ``restore FILE``: a consistent copy of the database and the
documents, and its restoration into an empty database with every case checked afterwards."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from engine import CauceError, Engine

from . import engine as current_engine
from .catalogue_cli import _ProgressBars


def init_app(app: Flask) -> None:
    """Register ``backup`` and ``restore`` on ``app``."""
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


_metrics_server_started = False


def worker_round(eng: Engine) -> None:
    """Run after each round of ``flask worker``: its heartbeat, and its metrics port once."""
    global _metrics_server_started
    eng.worker_heartbeat()
    port = os.environ.get("CAUCE_WORKER_METRICS_PORT")
    if port and not _metrics_server_started:
        from prometheus_client import start_http_server

        # Loopback only: the worker's counters are for a Prometheus on this machine.
        start_http_server(int(port), addr="127.0.0.1")
        _metrics_server_started = True


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Reemplaza FILE si ya existe.")
@with_appcontext
def backup_command(file: Path, force: bool) -> None:
    """Write a consistent backup of the database and the documents to FILE (a .zip)."""
    if file.exists() and not force:
        click.echo(f"Error: {file} ya existe (use --force para reemplazarlo).", err=True)
        sys.exit(1)
    bars = _ProgressBars()
    try:
        summary = current_engine().backup(file, progress=bars)
    except (CauceError, OSError, SQLAlchemyError) as error:
        bars.close()
        click.echo(f"Error: no se pudo escribir la copia: {_reason(error)}", err=True)
        sys.exit(1)
    bars.close()
    click.echo(f"Copia escrita en {file} ({_size(file.stat().st_size)}): "
               f"{summary.rows.get('case', 0)} casos, {summary.rows.get('case_event', 0)} "
               f"eventos, {sum(summary.rows.values())} filas en {len(summary.rows)} tablas, "
               f"{summary.documents} documentos ({_size(summary.document_bytes)}).")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def restore_command(file: Path) -> None:
    """Restore FILE into this empty database, then replay every case and check its chain."""
    eng = current_engine()
    bars = _ProgressBars()
    try:
        summary = eng.restore(file, progress=bars)
    except (CauceError, OSError, SQLAlchemyError) as error:
        bars.close()
        click.echo(f"Error: no se restauró nada: {_reason(error)}", err=True)
        sys.exit(1)
    bars.close()
    click.echo(f"Restaurado desde {file} (copia de {summary.source}): "
               f"{sum(summary.rows.values())} filas en {len(summary.rows)} tablas, "
               f"{summary.documents} documentos.")
    for problem in summary.problems:
        click.echo(f"  Problema: {problem}", err=True)
    verification = eng.verify_cases(progress=bars)
    bars.close()
    click.echo(f"{verification.cases} casos verificados, {len(verification.problems)} con "
               "problemas")
    for problem in verification.problems:
        click.echo(f"  {problem.case_number}: {problem.reason}")
    sys.exit(0 if verification.ok and not summary.problems else 2)


def _reason(error: Any) -> str:
    if isinstance(error, CauceError):
        return str(error.message)
    if isinstance(error, SQLAlchemyError):
        # The driver's first line names the constraint or the connection problem, not data.
        detail = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
        return f"la base de datos la rechazó ({detail})"
    return f"{error.strerror or 'error de archivo'} ({getattr(error, 'filename', '') or ''})"
