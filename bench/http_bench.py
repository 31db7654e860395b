"""HTTP benchmark: the JSON API through the real HTTP stack, paired with SpiffWorkflow's own
state-only round trip.

The app is served by waitress (as ``make run`` serves it) on 127.0.0.1 on a free port, in a
thread of this process, over a temp SQLite database with the demo people and **no workflow
cache** (``cache_size=0``: several processes behind one address mostly miss it); one keep-alive
client (``http.client.HTTPConnection``, reused) takes N social cases side by side along their
longest path as the right people would: each case is started (POST /api/cases), then for each of
the other ten activities, task k of every case before task k+1: read the inbox (GET /api/inbox)
and complete the task (POST /api/tasks/<id>/complete). Each completion is paired with the same
task of the same case on the state-only baseline (``engine_bench.Baseline``), one right after
the other, the order alternating. The engine runs on the real clock; each case is requested
today (Quito), so no deadline passes during the run.

Prints median and p95 milliseconds per operation and ``http_ratio_cold``: the median of the
paired ratios (HTTP completion ms / state-only ms), target <= 4, with their p95, over several
rounds. The last line is one JSON object; ``engine_bench.py`` calls ``run()`` and merges it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from argon2 import PasswordHasher  # noqa: E402

from engine import Engine, ProcessLibrary  # noqa: E402
from engine.clock import local_date, utc_now  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from tests.conftest import form_for  # noqa: E402

PASSWORD = "bench-http"
PROCESS = "social_case"
# The longest path of the social case: all eleven activities.
PATH = ["recibir_solicitud", "reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
        "emitir_diagnostico", "validar_informe", "remitir_informe", "solicitar_apoyo",
        "generar_respuesta", "generar_expediente", "archivar_expediente"]
# Who works each lane's tasks (the social worker is also the one activity 2 assigns).
ACTORS = {"coordinador_th": "lucia.andrade", "lider_seguridad": "ana.guaman",
          "trabajador_social": "sofia.naranjo"}
TARGET_RATIO = 4.0
SERVER_THREADS = 8  # as `make run` serves (waitress-serve --threads=8)


class _ServerThread(threading.Thread):
    """Run a waitress server's event loop until asked to stop, then close every socket."""

    def __init__(self, server: Any):
        super().__init__(name="waitress-bench", daemon=True)
        self.server = server
        self._stop_asked = threading.Event()

    def run(self) -> None:
        from waitress import wasyncore

        try:
            while not self._stop_asked.is_set():
                wasyncore.loop(timeout=0.05, map=self.server._map, count=1)
        finally:
            # Closed in the loop's own thread, so nothing is closed under a running poll.
            wasyncore.close_all(self.server._map)
            self.server.task_dispatcher.shutdown()

    def stop(self) -> None:
        self._stop_asked.set()
        self.join(timeout=10)


@contextmanager
def serving(app: Any) -> Iterator[int]:
    """Serve ``app`` with waitress on 127.0.0.1 (a free port); yield the port."""
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=SERVER_THREADS)
    thread = _ServerThread(server)
    thread.start()
    try:
        yield int(server.effective_port)
    finally:
        thread.stop()


class Client:
    """One keep-alive HTTP/1.1 connection speaking JSON; every call is timed."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connects = 0

    def call(self, method: str, path: str, token: str | None = None,
             body: Any = None) -> tuple[int, Any, float]:
        """Return (status, decoded JSON, milliseconds from sending to the last byte read)."""
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if self.connection.sock is None:
            self.connects += 1
        started = time.perf_counter()
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.will_close:  # pragma: no cover - the server should keep it alive
            self.connection.close()
        return response.status, json.loads(data), elapsed

    def expect(self, status: int, method: str, path: str, token: str | None = None,
               body: Any = None) -> tuple[Any, float]:
        got, data, elapsed = self.call(method, path, token, body)
        if got != status:
            raise RuntimeError(f"{method} {path}: HTTP {got} (expected {status}): {data}")
        return data, elapsed

    def close(self) -> None:
        self.connection.close()


def percentile(samples: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[rank - 1]


def _forms(request_date: str) -> dict[str, dict[str, Any]]:
    forms = {activity: form_for(activity) for activity in PATH}
    forms["recibir_solicitud"]["request_date"] = request_date
    forms["reasignar_solicitud"]["social_worker"] = ACTORS["trabajador_social"]
    return forms


def _timed_state(baseline: Any, state: str, activity: str) -> tuple[str, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    state = baseline.complete(state, activity)
    return state, (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000


def _cases_side_by_side(client: Client, tokens: dict[str, str],
                        forms: dict[str, dict[str, Any]], roles: dict[str, str], cases: int,
                        baseline: Any, timings: dict[str, list[float]] | None) -> None:
    """Take ``cases`` cases through the API, task k of each before task k+1, each completion
    paired with the baseline's; record timings unless ``timings`` is None (warm-up)."""
    def record(name: str, elapsed: float) -> None:
        if timings is not None:
            timings[name].append(elapsed)

    numbers, states = [], []
    for _ in range(cases):
        case, elapsed = client.expect(201, "POST", "/api/cases", tokens["coordinador_th"],
                                      {"process": PROCESS, "data": forms[PATH[0]]})
        record("start", elapsed)
        numbers.append(case["number"])
        states.append(baseline.start())
    finals: dict[str, str] = {}
    for k, activity in enumerate(PATH[1:], start=1):
        token = tokens[roles[activity]]
        for i, number in enumerate(numbers):
            inbox, elapsed = client.expect(
                200, "GET", f"/api/inbox?process={PROCESS}&q={number}", token)
            record("inbox", elapsed)
            task = next((t for t in inbox["mine"] + inbox["available"]
                         if t["case_number"] == number and t["activity_id"] == activity), None)
            if task is None:
                raise RuntimeError(f"{number}: {activity} is not in the inbox")
            if task["due_state"] == "vencida":
                raise RuntimeError(f"{number}: {activity} is already overdue")
            path = f"/api/tasks/{task['task_id']}/complete"
            if (i + k) % 2:
                states[i], state_ms, state_cpu = _timed_state(baseline, states[i], activity)
            # CPU time of this process: the server's thread and the client both run here.
            cpu = time.process_time()
            case, elapsed = client.expect(200, "POST", path, token, {"data": forms[activity]})
            cpu = (time.process_time() - cpu) * 1000
            if not (i + k) % 2:
                states[i], state_ms, state_cpu = _timed_state(baseline, states[i], activity)
            record("complete", elapsed)
            record("state_only", state_ms)
            record("complete_cpu", cpu)
            record("state_only_cpu", state_cpu)
            finals[number] = case["status"]
    unfinished = [n for n, status in finals.items() if status != "completed"]
    if unfinished:
        raise RuntimeError(f"cases not completed: {unfinished}")


def _progress(done: int, total: int, out: Any = sys.stderr) -> None:
    out.write(f"http: round {done}/{total} done\n")
    out.flush()


def run_http(library: ProcessLibrary, cases: int, workdir: Path, *, rounds: int = 3,
             progress: Callable[[int, int], None] = _progress) -> dict[str, list[float]]:
    """Serve Cauce and run ``rounds`` x ``cases`` social cases through HTTP; return timings."""
    from engine_bench import Baseline

    from app import create_app

    db = workdir / "http-bench.db"
    engine = Engine(f"sqlite:///{db}", library, cache_size=0,
                    password_hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
                    documents_dir=workdir / "documents")
    engine.create_schema()
    seed_demo_people(engine, PASSWORD)
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "ENGINE": engine,
                      "SECRET_KEY": "http-bench", "DOCUMENTS_DIR": str(workdir / "documents")})
    definition = library.get(PROCESS)
    roles = {a: definition.lane_role(definition.activity(a).lane).role for a in PATH}
    forms = _forms(local_date(utc_now()).isoformat())
    baseline = Baseline(definition, state_only=True, forms=forms)
    timings: dict[str, list[float]] = {"start": [], "complete": [], "inbox": [],
                                       "state_only": [], "complete_cpu": [],
                                       "state_only_cpu": []}
    log = (workdir / "app.log").open("w")
    try:
        # The app's access log (a line per request, written to whatever sys.stderr is) goes to
        # a file: still written, as in production, but not over the figures.
        with contextlib.redirect_stderr(log), serving(app) as port:
            client = Client(port)
            try:
                tokens = {role: client.expect(200, "POST", "/api/login", body={
                    "username": username, "password": PASSWORD})[0]["token"]
                    for role, username in ACTORS.items()}
                _cases_side_by_side(client, tokens, forms, roles, 2, baseline, None)
                for done in range(1, rounds + 1):
                    gc.collect()
                    _cases_side_by_side(client, tokens, forms, roles, cases, baseline,
                                        timings)
                    progress(done, rounds)
            finally:
                client.close()
            if client.connects != 1:
                raise RuntimeError(f"the connection was not kept alive ({client.connects} "
                                   "connections)")
    finally:
        log.close()
        engine.sql.dispose()
    return timings


def summarize(timings: dict[str, list[float]], cases: int) -> dict[str, Any]:
    """Return the JSON figures: median and p95 per operation, and the paired ratios."""
    result: dict[str, Any] = {"http_cases": cases}
    for name in ("start", "complete", "inbox", "state_only"):
        samples = timings[name]
        result[f"http_{name}_median_ms"] = round(statistics.median(samples), 3)
        result[f"http_{name}_p95_ms"] = round(percentile(samples, 0.95), 3)
    ratios = [h / s for h, s in zip(timings["complete"], timings["state_only"], strict=True)]
    result["http_ratio_cold"] = round(statistics.median(ratios), 2)
    result["http_ratio_cold_p95"] = round(percentile(ratios, 0.95), 2)
    cpu = [h / s for h, s in zip(timings["complete_cpu"], timings["state_only_cpu"], strict=True)]
    result["http_ratio_cold_cpu"] = round(statistics.median(cpu), 2)
    return result


def report(result: dict[str, Any], out: Any = sys.stdout) -> None:
    """Print the figures for people (the JSON line is printed by the caller)."""
    rows = (("start a case", "POST /api/cases", "start"),
            ("complete a task", "POST /api/tasks/<id>/complete", "complete"),
            ("inbox page", "GET /api/inbox", "inbox"),
            ("state-only baseline", "(same task, same case)", "state_only"))
    print(f"HTTP (waitress on 127.0.0.1, one keep-alive client, SQLite, no workflow cache), "
          f"{result['http_cases']} cases side by side per round:", file=out)
    for label, route, key in rows:
        print(f"  {label:<20}{route:<32}median {result[f'http_{key}_median_ms']:8.3f} ms   "
              f"p95 {result[f'http_{key}_p95_ms']:8.3f} ms", file=out)
    print(f"http_ratio_cold (median of paired HTTP / state-only): {result['http_ratio_cold']:.2f}"
          f" (p95 {result['http_ratio_cold_p95']:.2f}; CPU time "
          f"{result['http_ratio_cold_cpu']:.2f}; target <= {TARGET_RATIO:g})", file=out,
          flush=True)


def run(library: ProcessLibrary, cases: int, rounds: int = 3) -> dict[str, Any]:
    """Run the HTTP benchmark in a temp directory; return its JSON figures."""
    with tempfile.TemporaryDirectory() as workdir:
        gc.collect()
        timings = run_http(library, cases, Path(workdir), rounds=rounds)
    return summarize(timings, cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=30, help="cases side by side per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    result = run(library, args.cases, args.rounds)
    report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
