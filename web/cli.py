"""Command-line verbs (``flask --app app …``): database, demo data, worker, cases from the shell."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from engine import CauceError, Engine, FormInvalid, InboxFilters
from engine.demo import seed_demo_people
from engine.operations import DATABASE_UNAVAILABLE

from . import engine as current_engine


def init_app(app: Flask) -> None:
    """Register every command on ``app``."""
    app.cli.add_command(init_db)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)
    app.cli.add_command(incidents_command)
    app.cli.add_command(case_group)


def _fail(error: CauceError) -> None:
    click.echo(f"Error ({error.code}): {error.message}", err=True)
    if isinstance(error, FormInvalid):
        for item in error.errors:
            click.echo(f"  - {item.field or '(formulario)'}: {item.message}", err=True)
    sys.exit(1)


def _json_arg(value: str | None) -> Any:
    if value is None:
        return None
    if value.startswith("@"):
        value = Path(value[1:]).read_text(encoding="utf-8")
    return json.loads(value)


def _dump(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@click.command("init-db")
@with_appcontext
@click.option("--drop", is_flag=True, help="Borra todas las tablas antes de crearlas.")
def init_db(drop: bool) -> None:
    """Create or upgrade the schema (its migrations) and publish the procedures in bpmn/."""
    eng: Engine = current_engine()
    if drop:
        eng.drop_schema()
    eng.create_schema()
    versions = eng.publish_library()
    click.echo(f"Base de datos lista: {eng.sql.url.render_as_string(hide_password=True)}")
    for definition in sorted(eng.library.list(), key=lambda d: d.process_id):
        click.echo(f"  {definition.process_id}: versión {definition.version_hash[:12]} "
                   f"(registro {versions[definition.process_id]})")


@click.command("seed-demo")
@with_appcontext
@click.option("--password", default=None, help="Una contraseña para todas las personas demo.")
@click.option("--json", "as_json", is_flag=True, help="Imprime [{username, roles}] en JSON.")
def seed_demo(password: str | None, as_json: bool) -> None:
    """Import the org seeds, then create demo people for every role of every procedure.

    Passwords are printed once (or all set to ``--password``).
    """
    from flask import current_app

    from engine.catalogue import import_seeds

    seeds = current_app.config.get("SEEDS_DIR")
    if seeds:
        summary = import_seeds(current_engine(), seeds)
        if not as_json:
            click.echo(f"Datos de la organización importados de {seeds} "
                       f"({summary.changes} cambios).")
    accounts = seed_demo_people(current_engine(), password)
    if as_json:
        _dump([{"username": a.username, "full_name": a.full_name, "roles": list(a.roles),
                **({"password": a.password} if a.password and not password else {})}
               for a in accounts])
        return
    for account in accounts:
        secret = account.password if account.password else "(ya existía; contraseña sin cambios)"
        click.echo(f"{account.username:22} {', '.join(account.roles):22} {secret}")


@click.command("worker")
@with_appcontext
@click.option("--interval", type=float, default=None, help="Segundos entre rondas.")
@click.option("--once", is_flag=True, help="Una sola ronda y salir.")
def worker(interval: float | None, once: bool) -> None:
    """Fire due timers and flag stalled cases, in a loop (safe to run several at once)."""
    from flask import current_app

    eng = current_engine()
    pause = interval if interval is not None else current_app.config["WORKER_INTERVAL_SECONDS"]
    while True:
        try:
            run_worker_round(eng, report=once)
        except DATABASE_UNAVAILABLE as failure:
            if once:
                raise
            # A database restart or failover must not end the worker: the next round retries
            # (the pool replaces dead connections) and the due timers are still due.
            click.echo(f"La base de datos no responde ({type(failure).__name__}); "
                       f"nuevo intento en {pause:g} s", err=True)
        if once:
            return
        time.sleep(pause)


def run_worker_round(eng: Engine, *, report: bool = False) -> int:
    """Run one round of ``flask worker``; return how many cases its timers moved."""
    moved = eng.fire_due_timers()
    if moved or report:
        click.echo(f"Temporizadores: {moved} caso(s) avanzaron")
    for incident in eng.check_stalled_cases():
        click.echo(_incident_line(incident), err=True)
    from .ops_cli import worker_round

    worker_round(eng)  # heartbeat for /salud/lista (and the worker's metrics port)
    from .audit_cli import worker_checkpoint

    worker_checkpoint(eng)  # signed checkpoint of every case's head, once per interval
    from .notifications import worker_mail_round

    worker_mail_round(eng)  # e-mail: deadline scans, outbox expansion and sending
    for job in eng.resume_migration_jobs():  # bulk migrations whose web process died
        click.echo(f"Migración {job.job_id} reanudada: {job.moved} caso(s) migrados, "
                   f"{job.refused} rechazados de {job.total}")
    return moved


@click.command("incidents")
@with_appcontext
@click.option("--all", "show_all", is_flag=True, help="Incluye los incidentes ya resueltos.")
def incidents_command(show_all: bool) -> None:
    """List the cases that stalled: open, with no open task and no pending timer."""
    found = current_engine().list_incidents(open_only=not show_all)
    for incident in found:
        click.echo(_incident_line(incident))
    if not found:
        click.echo("Sin incidentes abiertos." if not show_all else "Sin incidentes.")


def _incident_line(incident: Any) -> str:
    from .formats import fecha_hora

    line = (f"Incidente en {incident.case_number}: el caso no tiene tareas abiertas ni "
            f"temporizadores pendientes desde {fecha_hora(incident.since)} "
            f"(detectado el {fecha_hora(incident.detected_at)})")
    if incident.waiting_for:
        line += f"; espera eventos que Cauce no envía: {', '.join(incident.waiting_for)}"
    if incident.resolved_at is not None:
        line += f"; resuelto el {fecha_hora(incident.resolved_at)}"
    return line


case_group = AppGroup("case", help="Run cases from the shell (smoke tests, support).")


@case_group.command("start")
@click.argument("process_id")
@click.option("--as", "username", required=True)
@click.option("--data", default=None, help="JSON del formulario de la primera tarea, o @archivo.")
def case_start(process_id: str, username: str, data: str | None) -> None:
    """Start a case (and complete its first task when --data is given)."""
    try:
        view = current_engine().start_case(process_id, by=username, data=_json_arg(data))
    except CauceError as error:
        _fail(error)
    _dump(_case_json(view))


@case_group.command("complete")
@click.argument("task_id")
@click.option("--as", "username", required=True)
@click.option("--data", required=True, help="JSON del formulario, o @archivo.")
def case_complete(task_id: str, username: str, data: str) -> None:
    """Complete an open task."""
    try:
        view = current_engine().complete_task(task_id, by=username, form_data=_json_arg(data))
    except CauceError as error:
        _fail(error)
    _dump(_case_json(view))


@case_group.command("claim")
@click.argument("task_id")
@click.option("--as", "username", required=True)
def case_claim(task_id: str, username: str) -> None:
    """Claim an open task."""
    try:
        task = current_engine().claim(task_id, by=username)
    except CauceError as error:
        _fail(error)
    _dump(task.__dict__)


@case_group.command("show")
@click.argument("case_ref")
@click.option("--as", "username", required=True)
def case_show(case_ref: str, username: str) -> None:
    """Show a case: state, open tasks and data."""
    try:
        view = current_engine().case(case_ref, by=username)
    except CauceError as error:
        _fail(error)
    _dump(_case_json(view, with_data=True))


@case_group.command("history")
@click.argument("case_ref")
@click.option("--as", "username", required=True)
def case_history(case_ref: str, username: str) -> None:
    """Print a case's event log."""
    try:
        entries = current_engine().history(case_ref, by=username)
    except CauceError as error:
        _fail(error)
    _dump([entry.__dict__ for entry in entries])


@case_group.command("replay")
@click.argument("case_ref")
@click.option("--as", "username", required=True)
def case_replay(case_ref: str, username: str) -> None:
    """Re-execute a case from its log and check it against the stored state."""
    try:
        result = current_engine().replay(case_ref, by=username)
    except CauceError as error:
        _fail(error)
    click.echo(f"{result.case_number}: cadena {'íntegra' if result.chain_intact else 'ROTA'}, "
               f"{sum(s.matches for s in result.steps)}/{len(result.steps)} pasos reproducidos, "
               f"estado guardado {'coincide' if result.stored_state_matches else 'NO coincide'}")
    sys.exit(0 if result.proven else 2)


@case_group.command("inbox")
@click.option("--as", "username", required=True)
@click.option("--process", "process_id", default=None)
def case_inbox(username: str, process_id: str | None) -> None:
    """List a person's inbox."""
    try:
        inbox = current_engine().inbox(username, filters=InboxFilters(process_id=process_id))
    except CauceError as error:
        _fail(error)
    _dump({"mine": [t.__dict__ for t in inbox.mine.items],
           "available": [t.__dict__ for t in inbox.available.items]})


@case_group.command("run")
@click.argument("process_id")
@click.option("--steps", "steps_file", required=True, type=click.Path(exists=True),
              help='JSON: [{"as": usuario, "activity": id, "data": {...}}, …]; el primero inicia.')
def case_run(process_id: str, steps_file: str) -> None:
    """Run a whole case from a file of steps and print where it ended."""
    eng = current_engine()
    steps = json.loads(Path(steps_file).read_text(encoding="utf-8"))
    try:
        first, *rest = steps
        view = eng.start_case(process_id, by=first["as"], data=first.get("data"))
        click.echo(f"{view.number}: iniciado por {first['as']}")
        for step in rest:
            task = next((t for t in view.open_tasks if t.activity_id == step["activity"]), None)
            if task is None:
                click.echo(f"No hay una tarea abierta {step['activity']!r}; abiertas: "
                           f"{[t.activity_id for t in view.open_tasks]}", err=True)
                sys.exit(1)
            view = eng.complete_task(task.task_id, by=step["as"], form_data=step.get("data", {}))
            click.echo(f"{view.number}: {step['activity']} completada por {step['as']}")
    except CauceError as error:
        _fail(error)
    click.echo(f"{view.number}: estado {view.status}"
               + (f", resultado «{view.outcome}»" if view.outcome else "")
               + (f", abiertas {[t.activity_id for t in view.open_tasks]}" if view.open_tasks
                  else ""))


def _case_json(view: Any, with_data: bool = False) -> dict[str, Any]:
    result = {
        "id": view.id, "number": view.number, "process": view.process_id, "status": view.status,
        "outcome": view.outcome, "requester": view.requester, "due_at": view.due_at,
        "overdue_at": view.overdue_at,
        "open_tasks": [{"task_id": t.task_id, "activity": t.activity_id, "role": t.role,
                        "assignee": t.assignee, "due_at": t.due_at} for t in view.open_tasks],
    }
    if with_data:
        result["data"] = view.data
    return result
