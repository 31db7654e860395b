"""Throughput benchmark: completions per second on PostgreSQL, several app processes, loopback.

Starts its own app processes (waitress, as ``make run`` serves, ``--threads`` each) on free
127.0.0.1 ports against a PostgreSQL database of its own (emptied first), then drives
``--clients`` concurrent keep-alive clients for ``--seconds``: each takes the next case in
flight from a shared queue, completes its open task over HTTP (POST /api/tasks/<id>/complete,
the next task's id comes back in the answer) and puts the case back; a finished case is
replaced by a new one (POST /api/cases, which completes the first task: it counts too). Cases
move between processes at random, as behind a load balancer, so workflow caches mostly miss.

Counts completions per second, expected conflicts (409) and anything else (errors: must be 0),
stops every process, then replays cases (``--replay`` of them, all if 0) from their event logs
and checks each one proves its stored state. The last line is one JSON object with
``completions_per_s_pg``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from argon2 import PasswordHasher  # noqa: E402
from http_bench import ACTORS, PATH  # noqa: E402  (the same walk through the social case)

from engine import Engine, ProcessLibrary  # noqa: E402
from engine.clock import local_date, utc_now  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from tests.conftest import form_for  # noqa: E402

PASSWORD = "bench-throughput"
PROCESS = "social_case"
TARGET = 300


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app process on port {port} exited ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app process on port {port} did not start")


class _Connection:
    """One keep-alive connection to one app process."""

    def __init__(self, port: int):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            self.http.request(method, path, body=payload, headers=headers)
            response = self.http.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.http.close()
            raise
        if response.will_close:
            self.http.close()
        return response.status, json.loads(data) if data else None


class Load:
    """The shared state of the clients: cases in flight and what happened."""

    def __init__(self, tokens: dict[str, str], roles: dict[str, str],
                 forms: dict[str, dict[str, Any]]):
        self.tokens, self.roles, self.forms = tokens, roles, forms
        self.queue: deque[dict[str, Any]] = deque()
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.errors: list[str] = []
        self.numbers: list[str] = []
        self.stop_at = 0.0
        self.counting = False

    def client(self, ports: list[int], seed: int) -> None:
        """Complete tasks until time is up, on a process chosen at random each time."""
        chooser = random.Random(seed)
        connections = {port: _Connection(port) for port in ports}
        while time.monotonic() < self.stop_at:
            with self.lock:
                case = self.queue.popleft() if self.queue else None
            connection = connections[chooser.choice(ports)]
            try:
                if case is None:
                    status, body = connection.call(
                        "POST", "/api/cases", self.tokens["coordinador_th"],
                        {"process": PROCESS, "data": self.forms[PATH[0]]})
                    expected = 201
                else:
                    activity = case["activity_id"]
                    status, body = connection.call(
                        "POST", f"/api/tasks/{case['task_id']}/complete",
                        self.tokens[self.roles[activity]], {"data": self.forms[activity]})
                    expected = 200
            except (OSError, http.client.HTTPException, ValueError) as failure:
                self._record("error", f"{type(failure).__name__}: {failure}")
                if case is not None:
                    with self.lock:
                        self.queue.append(case)
                continue
            if status == expected:
                self._record("completed")
                if case is None:
                    with self.lock:
                        self.numbers.append(body["number"])
                nxt = [t for t in body["open_tasks"]
                       if t["activity_id"] in self.roles]
                if nxt:
                    with self.lock:
                        self.queue.append(nxt[0])
            elif status == 409:
                self._record("conflict")
            else:
                self._record("error", f"HTTP {status}: {str(body)[:200]}")
                if case is not None:
                    with self.lock:
                        self.queue.append(case)
        for connection in connections.values():
            connection.http.close()

    def _record(self, outcome: str, detail: str | None = None) -> None:
        with self.lock:
            if self.counting:
                self.outcomes[outcome] += 1
                if detail and len(self.errors) < 20:
                    self.errors.append(detail)


def _serve(url: str, processes: int, threads: int, workdir: Path) -> tuple[list[Any], list[int]]:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "throughput-bench",
           "CAUCE_DOCUMENTS_DIR": str(workdir / "documents")}
    started: list[Any] = []
    ports: list[int] = []
    try:
        _start_each(processes, threads, workdir, env, started, ports)
    except BaseException:
        _stop(started)
        raise
    return started, ports


def _start_each(processes: int, threads: int, workdir: Path, env: dict[str, str],
                started: list[Any], ports: list[int]) -> None:
    for number in range(processes):
        port = _free_port()
        # Logs to a file: an unread pipe fills up and stops the process at its next log line.
        log = (workdir / f"app-{number}.log").open("wb")
        started.append(subprocess.Popen(
            [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}",
             f"--threads={threads}", "--call", "app:create_app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        ports.append(port)
        # One at a time: processes starting together race to publish the library's versions
        # (seen here as a process exiting at start-up).
        _wait_listening(port, started[-1])


def _stop(started: list[Any]) -> None:
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(url: str, *, processes: int = 2, threads: int = 4, clients: int = 8,
        seconds: float = 20, warmup: float = 3, replay: int = 40) -> dict[str, Any]:
    """Run the load; return the JSON figures."""
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    setup = Engine(url, library, password_hasher=PasswordHasher(
        time_cost=1, memory_cost=8, parallelism=1))
    setup.drop_schema()
    setup.create_schema()
    seed_demo_people(setup, PASSWORD)
    definition = library.get(PROCESS)
    roles = {a: definition.lane_role(definition.activity(a).lane).role for a in PATH}
    forms = {activity: form_for(activity) for activity in PATH}
    forms["recibir_solicitud"]["request_date"] = local_date(utc_now()).isoformat()
    forms["reasignar_solicitud"]["social_worker"] = ACTORS["trabajador_social"]
    with tempfile.TemporaryDirectory() as workdir:
        started, ports = _serve(url, processes, threads, Path(workdir))
        try:
            first = _Connection(ports[0])
            tokens = {role: first.call("POST", "/api/login", None, {
                "username": username, "password": PASSWORD})[1]["token"]
                for role, username in ACTORS.items()}
            load = Load(tokens, roles, forms)
            load.stop_at = time.monotonic() + warmup + seconds
            workers = [threading.Thread(target=load.client, args=(ports, n), daemon=True)
                       for n in range(clients)]
            for worker in workers:
                worker.start()
            time.sleep(warmup)
            with load.lock:
                load.counting = True
            cpu_before = _cpu_seconds(started)
            began = time.monotonic()
            for worker in workers:
                worker.join()
            elapsed = time.monotonic() - began
            cpu_used = _cpu_seconds(started) - cpu_before
        finally:
            _stop(started)
    completed = load.outcomes["completed"]
    per_second = completed / elapsed
    proven, checked = _replay(setup, load.numbers, replay)
    setup.sql.dispose()
    return {"completions_per_s_pg": round(per_second, 1),
            "throughput_completions": completed, "throughput_seconds": round(elapsed, 1),
            "throughput_conflicts_409": load.outcomes["conflict"],
            "throughput_errors": load.outcomes["error"], "throughput_error_samples": load.errors,
            "throughput_app_cpu_ms_per_completion": round(cpu_used * 1000 / max(1, completed),
                                                          2),
            "throughput_processes": processes, "throughput_threads": threads,
            "throughput_clients": clients, "throughput_cases_replayed": checked,
            "throughput_cases_proven": proven}


def _cpu_seconds(started: list[Any]) -> float:
    """Return the CPU seconds the app processes have used (from /proc; 0 where unreadable)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for process in started:
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            pass
    return total


def _replay(engine: Engine, numbers: list[str], limit: int) -> tuple[int, int]:
    """Replay the cases (a sample of ``limit``, all if 0); return (proven, checked)."""
    chosen = numbers if limit <= 0 or len(numbers) <= limit else random.Random(7).sample(
        numbers, limit)
    auditor = engine.person(ACTORS["coordinador_th"])
    proven = sum(1 for number in chosen if engine.replay(number, by=auditor).proven)
    return proven, len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True,
                        help="a PostgreSQL URL of a database of its own (it is emptied)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--replay", type=int, default=40, help="cases to replay (0: all)")
    args = parser.parse_args()
    result = run(args.postgres, processes=args.processes, threads=args.threads,
                 clients=args.clients, seconds=args.seconds, replay=args.replay)
    print(f"{result['completions_per_s_pg']:.1f} completions/s (target >= {TARGET}) over "
          f"{result['throughput_seconds']} s: {result['throughput_completions']} completed, "
          f"{result['throughput_conflicts_409']} conflicts (409), "
          f"{result['throughput_errors']} errors; app CPU "
          f"{result['throughput_app_cpu_ms_per_completion']} ms per completion; "
          f"{result['throughput_cases_proven']}/{result['throughput_cases_replayed']} "
          "cases replayed and proven", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
