"""``flask --app app audit …``: prove case histories, sign checkpoints, export XES.

Configuration (app config key, or the environment variable of the same name with ``CAUCE_``):
``CHECKPOINT_DIR`` (default ``instance/checkpoints/``), ``CHECKPOINT_KEY`` (the Ed25519 signing
key, default ``instance/checkpoint_key.pem``; keep it away from the database and its backups),
``CHECKPOINT_INTERVAL`` (seconds between the worker's checkpoints, default 3600; 0 turns them off).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from engine import CauceError, Engine
from engine.anchoring import CheckpointLog
from engine.clock import LOCAL_TZ

from . import engine as current_engine
from .catalogue_cli import _ProgressBars

audit_group = AppGroup("audit", help="Prueba historiales, firma checkpoints y exporta XES.")


def init_app(app: Flask) -> None:
    """Register the ``audit`` commands on ``app``."""
    app.cli.add_command(audit_group)


def _setting(name: str, default: Any) -> Any:
    value = current_app.config.get(name)
    if value is None or value == "":
        value = os.environ.get(f"CAUCE_{name}") or default
    return value


def checkpoint_log() -> CheckpointLog:
    """Return the checkpoint log configured for the current app."""
    instance = Path(current_app.instance_path)
    return CheckpointLog(_setting("CHECKPOINT_DIR", instance / "checkpoints"),
                         _setting("CHECKPOINT_KEY", instance / "checkpoint_key.pem"))


_last_attempt: float | None = None


def worker_checkpoint(eng: Engine) -> None:
    """Write a checkpoint from ``flask worker`` once per configured interval (if cases moved)."""
    global _last_attempt
    interval = float(_setting("CHECKPOINT_INTERVAL", 3600))
    if interval <= 0:
        return
    if current_app.testing and not _setting("CHECKPOINT_DIR", None):
        # A test's worker round must not sign its throwaway database into instance/checkpoints,
        # where the real database would later be compared with it.
        return
    log = checkpoint_log()
    now = time.monotonic()
    if _last_attempt is not None and now - _last_attempt < interval:
        return
    _last_attempt = now
    latest = log.latest()
    if latest is not None:
        # Several workers share the log: the newest file, not this process, sets the pace.
        age = eng.clock() - datetime.fromisoformat(latest.created_at)
        if age.total_seconds() < interval:
            return
    try:
        written = eng.write_checkpoint(log)
    except FileExistsError:
        return  # another worker wrote this number first
    except OSError as error:
        click.echo(f"No se pudo escribir el checkpoint: {error.strerror or error}", err=True)
        return
    if written is not None:
        click.echo(f"Checkpoint {written.number}: {written.case_count} casos, "
                   f"{len(written.changed)} cambiaron, raíz {written.merkle_root[:16]}")


def _local_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = datetime.strptime(value, pattern).date()
            break
        except ValueError:
            continue
    else:
        raise click.BadParameter(f"«{value}» no es una fecha (dd/mm/aaaa o aaaa-mm-dd)",
                                 param_hint=option)
    return _midnight(day)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


@audit_group.command("verify")
@click.option("--process", "process_id", default=None, help="Solo los casos de un procedimiento.")
@click.option("--since", default=None, help="Solo los casos con actividad desde esta fecha.")
@click.option("--as", "username", default=None,
              help="Quién verifica (se registra); por omisión «sistema».")
def verify_command(process_id: str | None, since: str | None, username: str | None) -> None:
    """Re-execute every case, check its hash chain and the checkpoints; store the outcome."""
    eng = current_engine()
    since_at = _local_day(since, "--since")
    by = "sistema"
    if username:
        try:
            by = eng.person(username).username
        except CauceError as error:
            click.echo(f"Error: {error.message}", err=True)
            sys.exit(1)
    bars = _ProgressBars()
    try:
        report = eng.verify_history(by=by, process_id=process_id, since=since_at,
                                    checkpoints=checkpoint_log(), progress=bars)
    finally:
        bars.close()
    for problem in report.problems:
        where = ("Base de datos" if problem.kind == "guard"
                 else problem.case_number or "Checkpoints")
        at = f", evento {problem.seq}" if problem.seq is not None else ""
        click.echo(f"  {where}{at}: {problem.problem}")
    if report.checkpoint:
        click.echo(f"Comparado con el checkpoint {report.checkpoint}.")
    else:
        click.echo("Sin checkpoints: no se puede comprobar que no falten eventos recientes "
                   "ni casos enteros (flask --app app audit checkpoint).")
    click.echo(f"{report.cases} casos verificados: {report.correct} correctos, "
               f"{report.cases_with_problems} con problemas"
               + (f"; {len(report.findings)} hallazgos en checkpoints y en la base de datos"
                  if report.findings else ""))
    sys.exit(0 if report.ok else 2)


@audit_group.command("checkpoint")
def checkpoint_command() -> None:
    """Sign every case's log head into the checkpoint log now."""
    log = checkpoint_log()
    try:
        written = current_engine().write_checkpoint(log)
    except FileExistsError:
        click.echo("Error: otro proceso escribió un checkpoint a la vez; vuelva a intentarlo.",
                   err=True)
        sys.exit(1)
    except (OSError, ValueError) as error:
        click.echo(f"Error: no se pudo escribir el checkpoint: "
                   f"{getattr(error, 'strerror', None) or error}", err=True)
        sys.exit(1)
    if written is None:
        click.echo(f"Ningún caso cambió desde el último checkpoint ({log.directory}).")
        return
    click.echo(f"Checkpoint {written.number} escrito en {written.path}: {written.case_count} "
               f"casos ({len(written.changed)} cambiaron), raíz de Merkle "
               f"{written.merkle_root[:16]}…")


@audit_group.command("xes")
@click.option("--process", "process_id", required=True, help="El procedimiento a exportar.")
@click.option("--from", "from_day", default=None, help="Casos iniciados desde esta fecha.")
@click.option("--to", "to_day", default=None, help="…hasta esta fecha (incluida).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="El archivo .xes a escribir.")
def xes_command(process_id: str, from_day: str | None, to_day: str | None, output: Path) -> None:
    """Export a procedure's cases as an XES event log (IEEE 1849) for process mining."""
    start = _local_day(from_day, "--from")
    end = _local_day(to_day, "--to")
    before = _midnight((end + timedelta(days=1)).date()) if end is not None else None
    try:
        with output.open("wb") as target:
            summary = current_engine().export_xes(target, process_id=process_id,
                                                  started_from=start, started_before=before)
    except CauceError as error:
        output.unlink(missing_ok=True)
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(1)
    except OSError as error:
        click.echo(f"Error: no se pudo escribir {output}: {error.strerror or error}", err=True)
        sys.exit(1)
    click.echo(f"{output}: {summary.traces} casos, {summary.events} eventos "
               f"({summary.bytes / 1_048_576:.1f} MB).")


@audit_group.command("conformance")
@click.option("--process", "process_id", required=True, help="El procedimiento a medir.")
@click.option("--since", default=None, help="Solo los casos iniciados desde esta fecha.")
def conformance_command(process_id: str, since: str | None) -> None:
    """Replay a procedure's cases on its BPMN (token replay) and print their fitness."""
    try:
        report = current_engine().conformance_report(
            process_id, by=None, started_from=_local_day(since, "--since"))
    except CauceError as error:
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(1)
    if not report.cases:
        click.echo(f"{process_id}: ningún caso que medir.")
        return
    average = f"{report.average:.3f}".replace(".", ",")
    click.echo(f"{process_id}: {len(report.cases)} casos, aptitud media {average}, "
               f"{len(report.non_conforming)} no conformes.")
    for band, count in report.distribution():
        click.echo(f"  aptitud {band}: {count}")
    for case in report.non_conforming:
        result = case.result
        where = report.name(result.first_deviation) if result.first_deviation else (
            "terminó con trabajo pendiente en " + ", ".join(map(report.name, result.pending)))
        fitness = f"{result.fitness:.3f}".replace(".", ",")
        skipped = (f"; faltó antes: {', '.join(map(report.name, result.skipped))}"
                   if result.skipped else "")
        click.echo(f"  {case.number}  {fitness}  {where}{skipped}")


@audit_group.command("retention")
@click.option("--days", default=90, show_default=True,
              help="Además, los que vencen dentro de estos días.")
def retention_command(days: int) -> None:
    """List the closed cases whose retention period has passed (and those about to)."""
    report = current_engine().retention_report(by=None, soon_days=days)
    click.echo(f"Hoy {report.today:%d/%m/%Y}: {len(report.passed)} con el plazo de "
               f"conservación cumplido, {len(report.soon)} por cumplirse en {days} días.")
    for label, items in (("cumplido", report.passed), ("por cumplirse", report.soon)):
        for process_id, rows in report.by_process(items).items():
            for item in rows:
                click.echo(f"  {label:14} {process_id:14} {item.number:16} "
                           f"conservar hasta {item.keep_until:%d/%m/%Y}")
