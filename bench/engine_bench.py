"""Engine benchmark: Cauce's facade against SpiffWorkflow's own save/restore, task by task.

What a persistent engine must do per task, at the least, is SpiffWorkflow's **state-only**
round trip: restore the case's state (specs parsed once and shared), complete the task, run the
engine steps, save the state again (no specs). That is the baseline; the **full** round trip
(state and specs, SpiffWorkflow's ``serialize_json``/``deserialize_json``) is reported beside it.

Both sides take the same cases (the social case's longest path, same forms) and are **paired**:
each completion of task k of case i is timed on Cauce's engine (SQLite, a temp file), on the
state-only baseline and on the full one, one right after the other, the order rotating. Two
ways of reaching the cases:

* **cold**: N cases side by side, task k of every case before task k+1, and no workflow cache
  (``cache_size=0``): every completion restores its case, as a server with several processes
  mostly would;
* **warm**: one case after the other, the engine's in-process workflow cache on (the default).

Reported per way: medians and p95 of the paired ratios (engine ms / baseline ms), over several
rounds (with each round's median, to show the spread). Then the HTTP benchmark
(``http_bench.py``), the inbox benchmark (``inbox_bench.py``), with ``--postgres`` the loopback
throughput benchmark (``throughput_bench.py``), and ``long_case_bench.py`` if it exists. The last
line is one JSON object with every figure (what ``make bench`` prints).
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from argon2 import PasswordHasher  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.bpmn.serializer.default.workflow import (  # noqa: E402
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from engine import Engine, ProcessLibrary  # noqa: E402
from engine.calendar import WorkingCalendar  # noqa: E402
from engine.clock import bound_now, install_spiff_clock  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.library import ProcessDefinition, spiff_serializer  # noqa: E402
from tests.conftest import form_for  # noqa: E402

NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
PROCESS = "social_case"
# The longest path of the social case: all eleven activities.
PATH = ["recibir_solicitud", "reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
        "emitir_diagnostico", "validar_informe", "remitir_informe", "solicitar_apoyo",
        "generar_respuesta", "generar_expediente", "archivar_expediente"]
SIDES = ("engine", "state", "full")
CPU_SIDES = tuple(f"{name}_cpu" for name in SIDES)


def _data(activity: str) -> dict[str, Any]:
    data = form_for(activity)
    if activity == "reasignar_solicitud":
        data["social_worker"] = "sofia.naranjo"
    if activity == "archivar_expediente":
        data["archive_number"] = 1
    return data


FORMS = {activity: _data(activity) for activity in PATH}


def percentile(samples: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


# -- the baselines: plain SpiffWorkflow ------------------------------------------------------

class _StateOnlyConverter(BpmnWorkflowConverter):
    """SpiffWorkflow's own workflow converter, minus the specs (stored once per version)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


class Baseline:
    """A persistent engine at its barest: restore, complete, run engine steps, save."""

    def __init__(self, definition: ProcessDefinition, *, state_only: bool,
                 forms: dict[str, dict[str, Any]] | None = None):
        self.forms = forms or FORMS
        calendar = WorkingCalendar()
        helpers = {
            "add_working_days": lambda d, n: calendar.deadline(d, n).isoformat(),
            "add_years": lambda d, n: f"{int(d[:4]) + n}{d[4:10]}",
        }
        self.script_engine = PythonScriptEngine(environment=TaskDataEnvironment(helpers))
        self.spec, self.subprocess_specs = definition.spec, definition.subprocess_specs
        self.state_only = state_only
        if state_only:
            config = dict(SPIFF_CONFIG)
            config[BpmnWorkflow] = _StateOnlyConverter
            self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
        else:
            self.serializer = spiff_serializer()

    def start(self) -> str:
        """Open a case and complete its first task; return the saved state."""
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs,
                                script_engine=self.script_engine)
        workflow.do_engine_steps()
        return self._act(workflow, PATH[0])

    def complete(self, state: str, activity: str) -> str:
        """Restore a case, complete one task, save it; return the new state."""
        if self.state_only:
            stored = json.loads(state)
            self.serializer.migrate(stored)
            stored["spec"], stored["subprocess_specs"] = self.spec, self.subprocess_specs
            workflow = self.serializer.from_dict(stored)
        else:
            workflow = self.serializer.deserialize_json(state)
        workflow.script_engine = self.script_engine
        return self._act(workflow, activity)

    def _act(self, workflow: BpmnWorkflow, activity: str) -> str:
        task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                    if t.task_spec.bpmn_id == activity)
        task.set_data(**self.forms[activity])
        task.run()
        workflow.do_engine_steps()
        return str(self.serializer.serialize_json(workflow))


# -- Cauce's side ---------------------------------------------------------------------------

class EngineSide:
    """Cauce's facade on a temp SQLite file, as the people who work each lane."""

    def __init__(self, library: ProcessLibrary, workdir: Path, *, cache_size: int):
        self.db = workdir / f"bench-{cache_size}.db"
        self.engine = Engine(f"sqlite:///{self.db}", library, clock=lambda: NOW,
                             cache_size=cache_size, password_hasher=PasswordHasher(
                                 time_cost=1, memory_cost=8, parallelism=1))
        self.engine.create_schema()
        seed_demo_people(self.engine, "bench")
        self.baseline_bytes = database_bytes(self.engine, self.db)
        self.people = {"coordinador_th": self.engine.person("lucia.andrade"),
                       "lider_seguridad": self.engine.person("ana.guaman"),
                       "trabajador_social": self.engine.person("sofia.naranjo")}
        self.roles = {a.bpmn_id: a.lane for a in library.get(PROCESS).activities.values()}

    def start(self) -> Any:
        """Open a case with its first task completed; return the case view."""
        return self.engine.start_case(PROCESS, by=self.people["coordinador_th"],
                                      data=FORMS[PATH[0]])

    def complete(self, case: Any, activity: str) -> Any:
        """Complete the case's open task for ``activity``; return the case view."""
        task = next(t for t in case.open_tasks if t.activity_id == activity)
        return self.engine.complete_task(task.task_id, by=self.people[self.roles[activity]],
                                         form_data=FORMS[activity])

    def close(self, cases: int) -> float:
        """Return database bytes per case, and let the database go."""
        per_case = (database_bytes(self.engine, self.db) - self.baseline_bytes) / max(1, cases)
        self.engine.sql.dispose()
        return per_case


def database_bytes(engine: Engine, db: Path) -> int:
    """Return the file size once the WAL is folded in and free pages are dropped."""
    engine.sql.dispose()
    connection = sqlite3.connect(db)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
    finally:
        connection.close()
    return db.stat().st_size


def _timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``action``; return its result, wall-clock ms and this process's CPU ms."""
    started, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def run_round(library: ProcessLibrary, cases: int, *, cold: bool,
              workdir: Path) -> tuple[dict[str, list[float]], float]:
    """Take ``cases`` cases through every side, paired; return per-side ms lists (aligned:
    sample j of every side is the same task of the same case; ``<side>_cpu``: CPU ms, which a
    busy shared machine disturbs less) and DB bytes per case."""
    definition = library.get(PROCESS)
    baselines = {"state": Baseline(definition, state_only=True),
                 "full": Baseline(definition, state_only=False)}
    side = EngineSide(library, workdir, cache_size=0 if cold else 256)
    times: dict[str, list[float]] = {name: [] for name in SIDES + CPU_SIDES}
    install_spiff_clock()
    with bound_now(NOW):
        # Cold: every case in flight at once, task k of each before task k+1.
        # Warm: one case at a time, each completion right after its case's previous one.
        steps = ([(k, i) for k in range(1, len(PATH)) for i in range(cases)] if cold
                 else [(k, i) for i in range(cases) for k in range(1, len(PATH))])
        engine_cases = [side.start() for _ in range(cases)]
        states = {name: [b.start() for _ in range(cases)] for name, b in baselines.items()}
        for n, (k, i) in enumerate(steps):
            activity = PATH[k]
            order = SIDES[n % 3:] + SIDES[:n % 3]  # rotate who goes first
            for name in order:
                if name == "engine":
                    engine_cases[i], elapsed, cpu = _timed(
                        lambda i=i, a=activity: side.complete(engine_cases[i], a))
                else:
                    states[name][i], elapsed, cpu = _timed(
                        lambda i=i, n=name, a=activity: baselines[n].complete(states[n][i], a))
                times[name].append(elapsed)
                times[f"{name}_cpu"].append(cpu)
        if any(case.status != "completed" for case in engine_cases):
            raise RuntimeError("an engine case did not complete")
    return times, side.close(cases)


def summarize(rounds: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Return medians and p95 of the paired ratios, pooled over rounds, and per-round medians."""
    result: dict[str, Any] = {}
    pooled: dict[str, list[float]] = {name: [] for name in SIDES}
    for times in rounds:
        for name in SIDES:
            pooled[name] += times[name]
    for name in SIDES:
        result[f"{name}_ms_median"] = round(statistics.median(pooled[name]), 3)
        result[f"{name}_ms_p95"] = round(percentile(pooled[name], .95), 3)
    for name in CPU_SIDES:
        pooled[name] = [v for times in rounds for v in times[name]]
    for baseline in ("state_cpu", "full_cpu"):
        ratios = [e / b for e, b in zip(pooled["engine_cpu"], pooled[baseline], strict=True)]
        result[f"{baseline}_ratio_median"] = round(statistics.median(ratios), 2)
    for baseline in ("state", "full"):
        ratios = [e / b for e, b in zip(pooled["engine"], pooled[baseline], strict=True)]
        result[f"{baseline}_ratio_median"] = round(statistics.median(ratios), 2)
        result[f"{baseline}_ratio_p95"] = round(percentile(ratios, .95), 2)
        result[f"{baseline}_ratio_rounds"] = [round(statistics.median(
            [e / b for e, b in zip(times["engine"], times[baseline], strict=True)]), 2)
            for times in rounds]
    return result


def run_engine_rounds(library: ProcessLibrary, cases: int, rounds: int) -> dict[str, Any]:
    """Run both ways for several rounds; return the JSON figures."""
    result: dict[str, Any] = {"cases": cases, "tasks_per_case": len(PATH) - 1,
                              "rounds": rounds}
    sizes = []
    for cold in (True, False):
        way = "cold" if cold else "warm"
        collected = []
        for number in range(1, rounds + 1):
            with tempfile.TemporaryDirectory() as workdir:
                gc.collect()
                times, per_case = run_round(library, cases, cold=cold, workdir=Path(workdir))
            collected.append(times)
            sizes.append(per_case)
            ratios = [e / s for e, s in zip(times["engine"], times["state"], strict=True)]
            print(f"{way} round {number}/{rounds}: engine "
                  f"{statistics.median(times['engine']):.3f} ms, state-only "
                  f"{statistics.median(times['state']):.3f} ms, full "
                  f"{statistics.median(times['full']):.3f} ms; paired ratio (state-only) "
                  f"median {statistics.median(ratios):.2f}", flush=True)
        figures = summarize(collected)
        result[f"state_only_ratio_{way}"] = figures["state_ratio_median"]
        result[f"state_only_ratio_{way}_p95"] = figures["state_ratio_p95"]
        result[f"state_only_ratio_{way}_rounds"] = figures["state_ratio_rounds"]
        result[f"state_only_ratio_{way}_cpu"] = figures["state_cpu_ratio_median"]
        result[f"full_roundtrip_ratio_{way}"] = figures["full_ratio_median"]
        result[f"full_roundtrip_ratio_{way}_cpu"] = figures["full_cpu_ratio_median"]
        result[f"full_roundtrip_ratio_{way}_p95"] = figures["full_ratio_p95"]
        for name in SIDES:
            result[f"{name}_ms_{way}"] = figures[f"{name}_ms_median"]
            result[f"{name}_ms_{way}_p95"] = figures[f"{name}_ms_p95"]
    result["bytes_per_case"] = round(statistics.median(sizes))
    return result


def report(result: dict[str, Any]) -> None:
    """Print the engine figures for people."""
    for way in ("cold", "warm"):
        print(f"{way}: engine {result[f'engine_ms_{way}']:.3f} ms/task (p95 "
              f"{result[f'engine_ms_{way}_p95']:.3f}), state-only "
              f"{result[f'state_ms_{way}']:.3f}, full {result[f'full_ms_{way}']:.3f}; "
              f"paired ratio vs state-only {result[f'state_only_ratio_{way}']:.2f} "
              f"(p95 {result[f'state_only_ratio_{way}_p95']:.2f}; CPU time "
              f"{result[f'state_only_ratio_{way}_cpu']:.2f}), vs full "
              f"{result[f'full_roundtrip_ratio_{way}']:.2f} (CPU time "
              f"{result[f'full_roundtrip_ratio_{way}_cpu']:.2f})")
    print(f"state_only_ratio_cold: {result['state_only_ratio_cold']} (target <= 2); "
          f"database bytes per completed case: {result['bytes_per_case']:,}", flush=True)


def _long_case() -> dict[str, Any]:
    """Run ``long_case_bench.py`` if it is there; return its JSON line's figures."""
    script = ROOT / "bench" / "long_case_bench.py"
    if not script.exists():
        return {}
    # Its own defaults (SQLite files); it takes PostgreSQL as a URL template of its own.
    command = [sys.executable, str(script)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"long_case_error": f"exit {done.returncode}"}
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=30, help="cases per round and way")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--http-cases", type=int, default=30,
                        help="cases through HTTP (http_bench.py); 0 skips it")
    parser.add_argument("--postgres", help="a PostgreSQL URL of a database of its own (it is "
                        "emptied) for the inbox and throughput benchmarks")
    parser.add_argument("--skip", default="", help="comma-separated: inbox,throughput,long")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    result = run_engine_rounds(library, args.cases, args.rounds)
    report(result)
    if args.http_cases > 0:
        import http_bench

        figures = http_bench.run(library, args.http_cases, args.rounds)
        http_bench.report(figures)
        result.update(figures)
    if "inbox" not in skip:
        import inbox_bench

        result.update({k: v for k, v in inbox_bench.run_all(library, args.postgres).items()
                       if k.startswith("inbox_p95")})
    if args.postgres and "throughput" not in skip:
        import throughput_bench

        result.update(throughput_bench.run(args.postgres))
    if "long" not in skip:
        result.update(_long_case())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
