"""Engine benchmark: raw SpiffWorkflow (in memory, full JSON round trip after every task) against
Cauce's engine facade persisting to SQLite, on the same BPMN and the same form data.

Prints per-task milliseconds, their ratio, and database bytes per completed case; then runs the
HTTP benchmark (``http_bench.py``: the JSON API served by waitress, one keep-alive client) against
this run's raw figure. The last line is one JSON object with both, for CI logs and issue notes.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from engine import Engine, ProcessLibrary  # noqa: E402
from engine.calendar import WorkingCalendar  # noqa: E402
from engine.clock import bound_now, install_spiff_clock  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.library import spiff_serializer  # noqa: E402
from tests.conftest import form_for  # noqa: E402

# The longest path of the social case: all eleven activities.
NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
PATH = ["recibir_solicitud", "reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
        "emitir_diagnostico", "validar_informe", "remitir_informe", "solicitar_apoyo",
        "generar_respuesta", "generar_expediente", "archivar_expediente"]


def _data(activity: str) -> dict:
    data = form_for(activity)
    if activity == "reasignar_solicitud":
        data["social_worker"] = "sofia.naranjo"
    if activity == "archivar_expediente":
        data["archive_number"] = 1
    return data


def run_raw(library: ProcessLibrary, cases: int) -> float:
    """Return ms per task for plain SpiffWorkflow with a full JSON save/restore after each task."""
    definition = library.get("social_case")
    calendar = WorkingCalendar()
    helpers = {
        "add_working_days": lambda d, n: calendar.deadline(d, n).isoformat(),
        "add_years": lambda d, n: f"{int(d[:4]) + n}{d[4:10]}",
    }
    serializer = spiff_serializer()
    forms = {a: _data(a) for a in PATH}
    install_spiff_clock()
    with bound_now(NOW):
        return _raw_cases(definition, helpers, serializer, forms, cases)


def _raw_cases(definition, helpers, serializer, forms, cases) -> float:
    started = time.perf_counter()
    for _ in range(cases):
        engine = PythonScriptEngine(environment=TaskDataEnvironment(dict(helpers)))
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs,
                                script_engine=engine)
        workflow.do_engine_steps()
        for activity in PATH:
            task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.bpmn_id == activity)
            task.set_data(**forms[activity])
            task.run()
            workflow.do_engine_steps()
            workflow = serializer.deserialize_json(serializer.serialize_json(workflow))
            workflow.script_engine = engine
        assert workflow.completed
    return (time.perf_counter() - started) * 1000 / (cases * len(PATH))


def run_engine(library: ProcessLibrary, cases: int, workdir: Path) -> tuple[float, float]:
    """Return (ms per task, database bytes per completed case) for Cauce's facade on SQLite."""
    db = workdir / "bench.db"
    engine = Engine(f"sqlite:///{db}", library, clock=lambda: NOW,
                    password_hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    engine.create_schema()
    seed_demo_people(engine, "bench")
    baseline = _database_bytes(engine, db)
    people = {"coordinador_th": engine.person("lucia.andrade"),
              "lider_seguridad": engine.person("ana.guaman"),
              "trabajador_social": engine.person("sofia.naranjo")}
    roles = {a.bpmn_id: a.lane for a in library.get("social_case").activities.values()}
    forms = {a: _data(a) for a in PATH}
    started = time.perf_counter()
    for _ in range(cases):
        case = engine.start_case("social_case", by=people["coordinador_th"],
                                 data=forms[PATH[0]])
        for activity in PATH[1:]:
            task = next(t for t in case.open_tasks if t.activity_id == activity)
            case = engine.complete_task(task.task_id, by=people[roles[activity]],
                                        form_data=forms[activity])
        assert case.status == "completed"
    per_task = (time.perf_counter() - started) * 1000 / (cases * len(PATH))
    per_case = (_database_bytes(engine, db) - baseline) / cases
    engine.sql.dispose()
    return per_task, per_case


def _database_bytes(engine: Engine, db: Path) -> int:
    """Return the file size once the WAL is folded in and free pages are dropped."""
    engine.sql.dispose()
    connection = sqlite3.connect(db)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
    finally:
        connection.close()
    return db.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--http-cases", type=int, default=100,
                        help="social cases through HTTP (http_bench.py); 0 skips it")
    args = parser.parse_args()
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    run_raw(library, 10)  # warm-up: imports, caches
    raw_runs, engine_runs, sizes = [], [], []
    for round_number in range(1, args.rounds + 1):
        gc.collect()
        raw_runs.append(run_raw(library, args.cases))
        with tempfile.TemporaryDirectory() as workdir:
            gc.collect()
            per_task, per_case = run_engine(library, args.cases, Path(workdir))
        engine_runs.append(per_task)
        sizes.append(per_case)
        print(f"round {round_number}/{args.rounds}: raw {raw_runs[-1]:.3f} ms/task, "
              f"engine {per_task:.3f} ms/task, {per_case:,.0f} B/case", flush=True)
    raw, eng = statistics.median(raw_runs), statistics.median(engine_runs)
    result = {
        "cases": args.cases, "tasks_per_case": len(PATH),
        "raw_ms_per_task": round(raw, 3), "engine_ms_per_task": round(eng, 3),
        "ratio": round(eng / raw, 2), "bytes_per_case": round(statistics.median(sizes)),
    }
    print(f"raw SpiffWorkflow + JSON round trip: {raw:.3f} ms/task")
    print(f"Cauce engine on SQLite:              {eng:.3f} ms/task  (ratio {eng / raw:.2f}, "
          "target <= 1.5)")
    print(f"database bytes per completed case:   {result['bytes_per_case']:,} (target <= 8192)",
          flush=True)
    if args.http_cases > 0:
        import http_bench  # this directory is on sys.path when run as a script

        figures = http_bench.run(library, args.http_cases, raw)
        http_bench.report(figures, raw)
        result.update(figures)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
