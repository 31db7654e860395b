"""``flask --app app db …``: the schema's migrations and the stored workflow states' format."""

from __future__ import annotations

import logging
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from engine import schema

from . import engine as current_engine

log = logging.getLogger(__name__)

db_group = AppGroup("db", help="Migraciones del esquema de la base de datos.")


def init_app(app: Flask) -> None:
    """Register the ``db`` group on ``app``."""
    app.cli.add_command(db_group)


def _where() -> str:
    return current_engine().sql.url.render_as_string(hide_password=True)


@db_group.command("upgrade")
@with_appcontext
def upgrade_command() -> None:
    """Bring the database's schema to the newest revision (safe to repeat)."""
    try:
        before, after = schema.upgrade(current_engine().sql)
    except SQLAlchemyError:
        log.exception("Schema upgrade failed")
        click.echo(f"Error: no se pudo actualizar el esquema de {_where()}; no se cambió nada "
                   "(el detalle está en el registro)", err=True)
        sys.exit(1)
    # The application upgrades at start-up too (create_app): say what that start did.
    started = schema.last_upgrade(current_engine().sql)
    if before == after and started is not None and started[0] != started[1]:
        before = started[0]
    if before == after:
        click.echo(f"Esquema al día ({after}) en {_where()}")
    else:
        click.echo(f"Esquema actualizado de {before or 'vacío'} a {after} en {_where()}")


@db_group.command("current")
@with_appcontext
def current_command() -> None:
    """Print the database's revision and whether it is the newest."""
    revision = schema.current(current_engine().sql)
    newest = schema.head()
    state = "la más reciente" if revision == newest else f"la más reciente es {newest}"
    click.echo(f"{revision or 'sin revisión'} ({state})")


@db_group.command("history")
def history_command() -> None:
    """List the schema's revisions, newest first."""
    for revision in schema.history():
        mark = " (la más reciente)" if revision.is_head else ""
        click.echo(f"{revision.down_revision or 'inicio'} -> {revision.revision}{mark}: "
                   f"{revision.summary}")


@db_group.command("check")
@with_appcontext
def check_command() -> None:
    """Compare the database's schema with the models; exit 1 on any difference."""
    found = schema.differences(current_engine().sql)
    for difference in found:
        click.echo(f"  {schema.describe(difference)}")
    if found:
        click.echo(f"{len(found)} diferencias entre la base de datos y los modelos", err=True)
        sys.exit(1)
    click.echo(f"El esquema coincide con los modelos ({schema.current(current_engine().sql)})")


@db_group.command("migrate-states")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="Casos por lectura y por transacción.")
@click.option("--force", is_flag=True,
              help="Vuelve a guardar también los casos que ya están en el formato actual.")
@with_appcontext
def migrate_states_command(batch_size: int, force: bool) -> None:
    """Re-save every running case's workflow state in this SpiffWorkflow's format."""
    eng = current_engine()
    with click.progressbar(length=1, label="Casos", show_pos=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        summary = eng.migrate_states(batch_size=batch_size, force=force, progress=progress)
    before = ", ".join(f"{version}: {count}" for version, count
                       in sorted(summary.versions_before.items())) or "ninguno"
    click.echo(f"{summary.running} casos en curso (por versión del formato: {before}); "
               f"{summary.migrated} guardados en el formato {summary.target_version}, "
               f"{summary.already_current} ya estaban al día, {summary.changed_meanwhile} "
               f"cambiaron mientras tanto, {len(summary.failures)} con problemas.")
    for failure in summary.failures:
        click.echo(f"  {failure.case_number}: {failure.reason}", err=True)
    sys.exit(1 if summary.failures else 0)
