"""Managers' dashboards benchmark: 100,000 social cases over three years, on SQLite or PostgreSQL.

``generate`` writes the cases straight into the tables in bulk (the engine is not run 100,000
times): requests on working hours of weekdays from January 2024 to the "now" of the bench
(01/12/2026); 15 % referred at activity 2 ("no procede"); the others analysed, interviewed,
diagnosed and validated, one in five after a rejected report; 40 % of the validated ones with
support (activities 7–10); one in ten past its 15-working-day deadline (the timer fires, the
leader attends the escalation); step times drawn from log-normal distributions (hours to
weeks), so the last weeks' cases are still open at every stage. Then it times, for the
manager, the social dashboard (a quarter, a month, a whole year), a drill-down, the heatmap, the
charter dashboard and the home page's alerts — through the engine and as pages (Flask test
client: SQL, charts and HTML). The last line is one JSON object with p50/p95 milliseconds.

    .venv/bin/python bench/dashboard_bench.py                       # temp SQLite, 100,000 cases
    .venv/bin/python bench/dashboard_bench.py --database postgresql://postgres@127.0.0.1/bench
    .venv/bin/python bench/dashboard_bench.py --database sqlite:////tmp/dash_100k.db --keep
                                                  # fill once, then time the kept database again
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.support import arguments, bulk_write, fresh_engine  # noqa: E402
from engine import Engine  # noqa: E402
from engine.calendar import WorkingCalendar  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.store import CaseEventRow, CaseRow, OpenTaskRow  # noqa: E402

START = datetime(2024, 1, 2, 13, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 15, tzinfo=UTC)
UNITS = ["Dirección Provincial de Pichincha", "Dirección Provincial del Guayas",
         "Dirección Provincial del Azuay", "Coordinación de Talento Humano",
         "Dirección Nacional de Servicios de Atención al Ciudadano"]
ROLE_OF = {"recibir_solicitud": "coordinador_th", "reasignar_solicitud": "lider_seguridad",
           "validar_informe": "lider_seguridad", "remitir_informe": "lider_seguridad",
           "atender_vencimiento": "lider_seguridad", "generar_respuesta": "coordinador_th",
           "generar_expediente": "coordinador_th"}
NAMES = {"recibir_solicitud": "Recibir la solicitud de intervención",
         "reasignar_solicitud": "Recibir y reasignar la solicitud de intervención"}
# Median hours each activity waits, and the spread (sigma of the log-normal).
WAIT = {"reasignar_solicitud": 20, "analizar_solicitud": 30, "realizar_entrevista": 70,
        "emitir_diagnostico": 60, "validar_informe": 24, "remitir_informe": 16,
        "solicitar_apoyo": 30, "generar_respuesta": 40, "generar_expediente": 20,
        "archivar_expediente": 48, "atender_vencimiento": 12}


def _path(rng: random.Random) -> tuple[list[str], bool, bool]:
    """Return the activities after activity 1, whether it is referred, whether it is late."""
    if rng.random() < 0.15:
        return ["reasignar_solicitud"], True, False
    steps = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
             "emitir_diagnostico", "validar_informe"]
    if rng.random() < 0.2:
        steps += ["emitir_diagnostico", "validar_informe"]
    if rng.random() < 0.4:
        steps += ["remitir_informe", "solicitar_apoyo", "generar_respuesta",
                  "generar_expediente"]
    steps.append("archivar_expediente")
    return steps, False, rng.random() < 0.1


def generate(engine: Engine, cases: int, seed: int = 20260302) -> dict[str, Any]:
    """Write ``cases`` social cases with their events and open tasks; return who is who."""
    rng = random.Random(seed)
    calendar = WorkingCalendar()
    seed_demo_people(engine, "bench-password-1")
    versions = engine.publish_library()
    version_id = versions["social_case"]
    people = {role: engine.people_with_role(role) for role in
              ("coordinador_th", "lider_seguridad", "trabajador_social", "gestor_cs")}
    span = (NOW - START).total_seconds()
    case_rows, event_rows, task_rows = [], [], []
    event_id = 0
    serial: dict[int, int] = {}
    for n in range(1, cases + 1):
        started = START + timedelta(seconds=span * (n - 1) / cases + rng.randint(0, 3000))
        if started >= NOW:
            started = NOW - timedelta(hours=1)
        serial[started.year] = serial.get(started.year, 0) + 1
        number = f"CS-{started.year}-{serial[started.year]:06d}"
        due = calendar.deadline(started, 15)
        steps, referred, late = _path(rng)
        worker = rng.choice(people["trabajador_social"])
        coordinator = rng.choice(people["coordinador_th"])
        leader = rng.choice(people["lider_seguridad"])
        events: list[dict[str, Any]] = []

        def event(kind: str, at: datetime, activity: str | None = None,
                  data: dict[str, Any] | None = None, person: Any = None,
                  events: list[dict[str, Any]] = events) -> None:
            events.append(dict(event_type=kind, at=at, activity_id=activity, data=data,
                               actor_id=person.id if person else None,
                               actor=person.username if person else None,
                               role=ROLE_OF.get(activity or "", "trabajador_social")
                               if activity else None))

        event("case_started", started, person=coordinator)
        event("task_completed", started, "recibir_solicitud",
              {"form": {"beneficiary_unit": rng.choice(UNITS)}}, coordinator)
        moment, open_at, status, outcome, completed = started, None, "open", None, None
        validations = 0
        if late:
            # The escalation comes in once the deadline passes; the case goes on meanwhile.
            steps = steps[:1] + ["atender_vencimiento"] + steps[1:]
        for activity in steps:
            wait = timedelta(hours=math.exp(math.log(WAIT[activity]) + rng.gauss(0, 0.8)))
            if activity == "atender_vencimiento":
                fired = max(due, moment)
                if fired >= NOW:
                    break
                event("timer_fired", fired, data={"timers": ["timer_plazo_diagnostico"]})
                event("deadline_passed", fired, data={"timers": ["timer_plazo_diagnostico"]})
                moment = fired
            moment = moment + wait
            if moment >= NOW:
                open_at = activity
                break
            person = {"coordinador_th": coordinator, "lider_seguridad": leader}.get(
                ROLE_OF.get(activity, "trabajador_social"), worker)
            form: dict[str, Any] = {}
            if activity == "reasignar_solicitud":
                form = {"is_social_case": not referred}
            elif activity == "validar_informe":
                validations += 1
                rejected = "emitir_diagnostico" in steps[steps.index("validar_informe") + 1:] \
                    and validations == 1
                form = {"report_validated": not rejected,
                        "requires_support": "solicitar_apoyo" in steps}
            event("task_completed", moment, activity, {"form": form} if form else None, person)
        else:
            status, completed = "completed", moment
            outcome = "Caso derivado" if referred else "Expediente archivado"
        for seq, row in enumerate(events, start=1):
            event_id += 1
            event_rows.append(dict(id=event_id, case_id=n, seq=seq, task_id=None,
                                   state_hash=None, hash=bytes(32), **row))
        overdue_at = next((e["at"] for e in events if e["event_type"] == "deadline_passed"), None)
        case_rows.append(dict(
            id=n, number=number, process_id="social_case", version_id=version_id,
            status=status, outcome=outcome, requester=f"Solicitante {n}", subject=None,
            started_at=started, started_by=coordinator.id, updated_at=moment,
            completed_at=completed, due_at=due, overdue_at=overdue_at, next_timer_at=None,
            deadlines={"timer_plazo_diagnostico": due.isoformat()}, state=b"",
            fingerprint=bytes(32), last_seq=len(events), last_hash=bytes(32), version=1))
        if status == "open" and open_at:
            assignee = worker.id if ROLE_OF.get(open_at, "trabajador_social") == \
                "trabajador_social" else None
            task_rows.append(dict(
                task_id=f"t{n:08d}", case_id=n, process_id="social_case",
                process_name="Atención y Seguimiento de Casos Sociales", case_number=number,
                requester=f"Solicitante {n}", activity_id=open_at,
                activity_name=NAMES.get(open_at, open_at), lane=None,
                role=ROLE_OF.get(open_at, "trabajador_social"),
                audience=f"role:{ROLE_OF.get(open_at, 'trabajador_social')}",
                assignee_id=assignee, form_id=None, created_at=moment, due_at=due))
    bulk_write(engine, ((CaseRow, case_rows), (CaseEventRow, event_rows),
                        (OpenTaskRow, task_rows)))
    return {"manager": people["gestor_cs"][0].username,
            "charter_manager": engine.people_with_role("gestor_carta")[0].username,
            "events": len(event_rows),
            "open": len(task_rows)}


def _time(action: Callable[[], Any], repeat: int) -> dict[str, float]:
    action()  # warm-up: caches, prepared plans
    times, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        action()
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    times.sort()
    # CPU time of this process (on SQLite that includes the database's work; on PostgreSQL not
    # the server's): steadier than wall time on a shared, loaded machine.
    return {"p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, math.ceil(len(times) * 0.95) - 1)], 1),
            "cpu_p50_ms": round(statistics.median(cpu), 1)}


def measure(engine: Engine, url: str, setup: dict[str, Any], repeat: int,
            folder: Path) -> dict[str, dict[str, float]]:
    """Time each dashboard through the engine and as a page."""
    from app import create_app

    app = create_app({"DATABASE_URL": url, "ENGINE": engine, "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench",
                      "DOCUMENTS_DIR": str(folder / "documents")})
    manager = setup["manager"]
    clients = {}
    for who in (manager, setup["charter_manager"]):
        clients[who] = app.test_client()
        login = clients[who].post("/entrar", data={"username": who,
                                                   "password": "bench-password-1"})
        assert login.status_code == 302, login.status_code

    def page(path: str, who: str = manager) -> Callable[[], Any]:
        def get() -> None:
            response = clients[who].get(path)
            assert response.status_code == 200, (path, response.status_code)
        return get

    from engine.indicators import forget_remembered_figures

    def cold(period: str, unit: str | None = None) -> Callable[[], Any]:
        # The first view after any change to the period's records: nothing remembered.
        def view() -> None:
            forget_remembered_figures()
            engine.social_dashboard(manager, period=period, unit=unit)
        return view

    return {
        "engine_social_quarter_cold": _time(cold("2026-T3"), repeat),
        "engine_social_month_cold": _time(cold("2026-10"), repeat),
        "engine_social_year_cold": _time(cold("2025"), repeat),
        "engine_social_quarter_unit_cold": _time(cold("2026-T3", UNITS[1]), repeat),
        "engine_social_current_quarter": _time(lambda: engine.social_dashboard(
            manager, period="2026-T4"), repeat),
        "engine_social_quarter": _time(lambda: engine.social_dashboard(
            manager, period="2026-T3"), repeat),
        "engine_social_quarter_unit": _time(lambda: engine.social_dashboard(
            manager, period="2026-T3", unit=UNITS[1]), repeat),
        "engine_social_month": _time(lambda: engine.social_dashboard(
            manager, period="2026-10"), repeat),
        "engine_social_year": _time(lambda: engine.social_dashboard(
            manager, period="2025"), repeat),
        # The year still running: never remembered as a whole, its closed quarters are.
        "engine_social_running_year": _time(lambda: engine.social_dashboard(
            manager, period="2026"), repeat),
        "engine_drilldown": _time(lambda: engine.social_cases_behind(
            manager, period="2026-T3", figure="atendidas"), repeat),
        "engine_heatmap": _time(lambda: engine.process_heatmap(
            manager, "social_case", period="2026-T3"), repeat),
        "engine_alerts": _time(lambda: engine.manager_alerts(manager), repeat),
        "page_social_quarter": _time(page("/gestion/casos-sociales?periodo=2026-T3"), repeat),
        "page_social_year": _time(page("/gestion/casos-sociales?periodo=2025"), repeat),
        "page_drilldown": _time(page(
            "/gestion/casos-sociales/casos?periodo=2026-T3&cifra=atendidas"), repeat),
        "page_heatmap": _time(page("/gestion/mapa/social_case?periodo=2026-T3"), repeat),
        "page_charter": _time(page("/gestion/carta-de-servicios",
                                           setup["charter_manager"]), repeat),
        "page_home_with_alerts": _time(page("/bandeja"), repeat),
        "csv_quarter_table": _time(page(
            "/gestion/casos-sociales/indicador-trimestral.csv?periodo=2026-T3"), repeat),
        "xlsx_quarter_table": _time(page(
            "/gestion/casos-sociales/indicador-trimestral.xlsx?periodo=2026-T3"), repeat),
        "csv_drilldown": _time(page(
            "/gestion/casos-sociales/casos.csv?periodo=2026-T3&cifra=atendidas"), repeat),
        "page_heatmap_element": _time(page(
            "/gestion/mapa/social_case/elemento/emitir_diagnostico?periodo=2026-T3"), repeat),
    }


def _reuse(url: str, documents_dir: Path) -> tuple[Engine, dict[str, Any]] | None:
    """Return an engine on an already generated database (``--keep``), or None if it is empty."""
    from sqlalchemy import func, inspect, select

    from bench.support import FAST_HASHER
    from engine import ProcessLibrary
    from engine.store import CaseEventRow as Events
    from engine.store import CaseRow as Cases
    from engine.store import OpenTaskRow as Tasks

    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    engine = Engine(url, library, clock=lambda: NOW, documents_dir=documents_dir,
                    password_hasher=FAST_HASHER)
    if not inspect(engine.sql).has_table("cases"):
        engine.sql.dispose()
        return None
    with engine.sql.connect() as connection:
        cases = connection.scalar(select(func.count()).select_from(Cases))
        if not cases:
            engine.sql.dispose()
            return None
        events = connection.scalar(select(func.count()).select_from(Events))
        open_tasks = connection.scalar(select(func.count()).select_from(Tasks))
    engine.create_schema()  # new tables of later revisions, if any
    with engine.sql.connect() as connection:  # and their new indexes on the kept tables
        known = {table: {i["name"] for i in inspect(connection).get_indexes(table)}
                 for table in ("case", "case_event")}
    for table in (Cases.__table__, Events.__table__):
        for index in table.indexes:
            if index.name not in known[table.name]:
                index.create(engine.sql)
    return engine, {"manager": engine.people_with_role("gestor_cs")[0].username,
                    "charter_manager": engine.people_with_role("gestor_carta")[0].username,
                    "events": events, "open": open_tasks, "cases": cases}


def main() -> None:
    # --keep: reuse the database if it already holds generated cases (fill once, time often).
    keep = "--keep" in sys.argv
    if keep:
        sys.argv.remove("--keep")
    args = arguments(__doc__, cases=100_000, repeat=5)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        reused = _reuse(url, Path(folder) / "documents") if keep and args.database else None
        began = time.perf_counter()
        if reused:
            engine, setup = reused
            args.cases = setup["cases"]
        else:
            engine = fresh_engine(url, Path(folder) / "documents", lambda: NOW)
            setup = generate(engine, args.cases)
        filled = time.perf_counter() - began
        print(f"{args.cases} cases, {setup['events']} events, {setup['open']} open tasks "
              f"written in {filled:.1f} s ({engine.sql.dialect.name})")
        figures = measure(engine, url, setup, args.repeat, Path(folder))
        for name, figure in figures.items():
            print(f"{name:24} p50 {figure['p50_ms']:8.1f} ms   p95 {figure['p95_ms']:8.1f} ms")
        result = {"bench": "dashboards", "backend": engine.sql.dialect.name,
                  "cases": args.cases, "events": setup["events"], "fill_s": round(filled, 1),
                  "scenarios": figures,
                  "worst_p95_ms": max(f["p95_ms"] for f in figures.values())}
        engine.sql.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
