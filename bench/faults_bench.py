"""Faults under load: app processes and timer workers killed at random moments, PostgreSQL
restarted once, while loopback clients start cases and complete tasks through the HTTP API.

Everything runs on this machine and is started here: a private PostgreSQL (``initdb`` and
``pg_ctl`` in a temp dir, on a free loopback port — never the machine's own server), gunicorn with
``--apps`` worker processes, and a host of ``--workers`` timer workers. Afterwards it checks:

- no lost completions: every completion answered 2xx is a ``task_completed`` event;
- no inconsistent case: every case replays from its log and its hash chain holds;
- timers fired exactly once: no timer fired twice, and no due timer is left unfired;
- clean failures: while the database is down the answers are 503 (JSON ``unavailable``), never
  500; and the same processes serve again once it is back (recovery time printed).

    .venv/bin/python bench/faults_bench.py               # 100 kill moments (~3-5 min)
    .venv/bin/python bench/faults_bench.py --kills 10 --json

The app processes are gunicorn workers forked from a preloaded app (a killed one is replaced in
milliseconds; a cold start costs ~7 CPU-seconds, too many for 100 kills on a small machine); the
timer workers are forked the same way from one loaded app. Each forked child drops the
connections it inherited before its first query.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import (  # noqa: E402
    PrivatePostgres,
    Service,
    call,
    cauce_env,
    free_port,
    login,
    postgres_binaries,
)

PASSWORD = "clave-de-carga-1"
ROLES = ("coordinador_th", "lider_seguridad", "trabajador_social")

GUNICORN_HOOKS = '''
preload_app = True


def post_fork(server, worker):
    # The preloaded app opened connections in the master: never share them with a child.
    server.app.wsgi().extensions["cauce"].sql.dispose(close=False)
'''


@dataclass
class Options:
    """What to run: sizes, how many kill moments, and the load."""

    kills: int = 100
    apps: int = 4
    workers: int = 2
    clients: int = 6
    # Seconds between kill moments: uniform in this range.
    gap: tuple[float, float] = (0.3, 0.9)
    db_down_seconds: float = 3.0
    late_share: float = 0.1
    # The timer workers' clock runs this far ahead, so that each new case's 15-working-day
    # deadline comes due while clients are still completing its tasks (real deadlines are
    # weeks away): workers and clients then race for the same cases.
    workers_days_ahead: float = 40.0
    seed: int = 12


@dataclass
class Figures:
    """What happened and what was checked; ``ok`` sums it up."""

    seconds: float = 0.0
    cases_started: int = 0
    completions_acknowledged: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    network_errors: int = 0
    app_kills: int = 0
    worker_kills: int = 0
    db_restarts: int = 0
    db_down_seconds: float = 0.0
    answers_503_while_down: int = 0
    answers_5xx_not_503: int = 0
    unclean_503: int = 0
    recovery_seconds: float | None = None
    lost_completions: int = 0
    cases_verified: int = 0
    inconsistent_cases: int = 0
    timers_fired: int = 0
    timers_fired_twice: int = 0
    due_timers_left: int = 0
    problems: list[str] = field(default_factory=list)
    refused_samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.lost_completions == 0
                and self.inconsistent_cases == 0 and self.timers_fired_twice == 0
                and self.due_timers_left == 0 and self.answers_5xx_not_503 == 0
                and self.unclean_503 == 0 and self.recovery_seconds is not None)


# -- the load -----------------------------------------------------------------------------------


def _dated_form(activity: str, day: str) -> dict[str, Any]:
    from tests.conftest import form_for

    def dated(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: day if k.endswith("_date") else dated(v) for k, v in value.items()}
        if isinstance(value, list):
            return [dated(v) for v in value]
        return value

    return dated(form_for(activity))


class Load:
    """Client threads that start cases and complete their tasks, recording every answer."""

    def __init__(self, url: str, tokens: dict[str, str], social_worker: str, options: Options):
        self.url, self.tokens, self.social_worker = url, tokens, social_worker
        self.options = options
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.network_errors = 0
        self.acknowledged: list[str] = []
        self.started: list[str] = []
        self.answers: list[tuple[float, int, str]] = []  # (monotonic, status, error code)
        self.samples: list[str] = []  # a few refused answers, to show what they were

    def _record(self, status: int, body: Any) -> None:
        code = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code", ""))
        elif status >= 500:
            code = "not-json"
        with self.lock:
            self.statuses[status] += 1
            self.answers.append((time.monotonic(), status, code))
            if status in (400, 500) and len(self.samples) < 5:
                self.samples.append(json.dumps(body, ensure_ascii=False)[:300])

    def _call(self, method: str, path: str, role: str, body: Any = None) -> tuple[int, Any]:
        try:
            status, answer = call(self.url, method, path, token=self.tokens[role], body=body,
                                  timeout=60)
        except (OSError, http.client.HTTPException):  # its process was killed: outcome unknown
            with self.lock:
                self.network_errors += 1
            return 0, None
        self._record(status, answer)
        return status, answer

    def client(self, index: int) -> None:
        rng = random.Random(self.options.seed * 1000 + index)
        from engine.clock import LOCAL_TZ

        today = datetime.now(LOCAL_TZ).date()  # the forms refuse a request dated tomorrow
        queue: list[dict[str, Any]] = []  # open tasks this client will complete
        refresh: list[str] = []           # cases whose state is unknown after a failure
        while not self.stop.is_set():
            if refresh:
                number = refresh.pop()
                status, case = self._call("GET", f"/api/cases/{number}", "lider_seguridad")
                if status == 200:
                    queue.extend(t for t in case["open_tasks"] if t["role"] in self.tokens)
                elif status != 404:
                    refresh.append(number)
                    time.sleep(0.2)
                continue
            if len(queue) < 2 or rng.random() < 0.15:
                late = rng.random() < self.options.late_share
                # A request recorded 40 days late is past its diagnosis deadline at once: the
                # timer workers must fire it (once).
                day = (today - timedelta(days=40 if late else 0)).isoformat()
                status, case = self._call("POST", "/api/cases", "coordinador_th", {
                    "process": "social_case", "data": _dated_form("recibir_solicitud", day)})
                if status == 201:
                    with self.lock:
                        self.started.append(case["number"])
                    queue.extend(t for t in case["open_tasks"] if t["role"] in self.tokens)
                elif status == 503:
                    time.sleep(0.2)
                continue
            task = queue.pop(rng.randrange(len(queue)))
            data = _dated_form(task["activity_id"], today.isoformat())
            if task["activity_id"] == "reasignar_solicitud":
                data["social_worker"] = self.social_worker
            status, case = self._call("POST", f"/api/tasks/{task['task_id']}/complete",
                                      task["role"], {"data": data})
            if status == 200:
                with self.lock:
                    self.acknowledged.append(task["task_id"])
                queue.extend(t for t in case["open_tasks"] if t["role"] in self.tokens
                             and t["task_id"] not in {q["task_id"] for q in queue})
            elif status in (0, 409, 503):
                refresh.append(task["case_number"])
                if status == 503:
                    time.sleep(0.2)


# -- the processes ------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def worker_host(count: int, interval: float, days_ahead: float) -> None:
    """Load the app once, then keep ``count`` forked timer workers alive (respawn the dead)."""
    from app import create_app
    from engine.clock import utc_now

    def ahead() -> datetime:
        return utc_now() + timedelta(days=days_ahead)

    app = create_app({"ENGINE_OPTIONS": {"clock": ahead}} if days_ahead else None)
    engine = app.extensions["cauce"]
    children: set[int] = set()
    stopping = False

    def finish(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, finish)
    while not stopping:
        while len(children) < count and not stopping:
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                engine.sql.dispose(close=False)
                _worker_child(app, interval)
                os._exit(0)
            children.add(pid)
        try:
            pid, _status = os.waitpid(-1, 0)
            children.discard(pid)
        except ChildProcessError:
            children.clear()
        except InterruptedError:
            pass
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _worker_child(app: Any, interval: float) -> None:
    from engine.operations import DATABASE_UNAVAILABLE
    from web.cli import run_worker_round

    with app.app_context():
        engine = app.extensions["cauce"]
        while True:
            try:
                run_worker_round(engine)
            except DATABASE_UNAVAILABLE:
                pass  # as `flask worker` does: the next round retries
            time.sleep(interval)


# Open cases with a timer due by the workers' clock (a second of slack for a round in flight).
_DUE_SQL = ("SELECT count(*) FROM \"case\" WHERE status = 'open' AND next_timer_at < "
            "now() + make_interval(secs => CAST(:ahead AS float) * 86400) - interval '1 second'")


# -- the run ------------------------------------------------------------------------------------


def run(options: Options, *, say: Any = print) -> Figures:
    """Run the whole scenario and return its figures (the caller judges ``ok``)."""
    if postgres_binaries() is None:
        raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
    workdir = Path(tempfile.mkdtemp(prefix="cauce-faults-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    postgres = PrivatePostgres(workdir / "pg")
    figures = Figures()
    services: list[Service] = []
    try:
        postgres.init()
        say(f"PostgreSQL privado en 127.0.0.1:{postgres.port} ({workdir})")
        people = _prepare(postgres.url)
        env = cauce_env(postgres.url, workdir, CAUCE_DB_POOL_TIMEOUT="5",
                        CAUCE_DB_STATEMENT_TIMEOUT_MS="30000", CAUCE_WORKER_INTERVAL="1")
        (workdir / "gunicorn_hooks.py").write_text(GUNICORN_HOOKS)
        port = free_port()
        bin_dir = Path(sys.executable).parent
        apps = Service("apps", [str(bin_dir / "gunicorn"), "--workers", str(options.apps),
                                "--threads", "4", "--bind", f"127.0.0.1:{port}",
                                "--graceful-timeout", "5", "--timeout", "60",
                                "--config", str(workdir / "gunicorn_hooks.py"),
                                "app:create_app()"],
                       env, workdir / "apps.log", port=port)
        workers = Service("workers", [sys.executable, str(Path(__file__).resolve()),
                                      "--worker-host", str(options.workers),
                                      "--days-ahead", str(options.workers_days_ahead)],
                          env, workdir / "workers.log")
        services = [apps, workers]
        apps.start()
        workers.start()
        apps.wait_ready(timeout=240)
        _wait_children(apps, options.apps)
        _wait_children(workers, options.workers)
        tokens = {role: login(apps.url, people[role][0], PASSWORD) for role in ROLES}
        load = Load(apps.url, tokens, people["trabajador_social"][0], options)
        clients = [threading.Thread(target=load.client, args=(i,), daemon=True)
                   for i in range(options.clients)]
        began = time.monotonic()
        for client in clients:
            client.start()
        _inject_faults(options, figures, apps, workers, postgres, load, say)
        load.stop.set()
        for client in clients:
            client.join(timeout=90)
        figures.seconds = round(time.monotonic() - began, 1)
        _settle_timers(postgres.url, options.workers_days_ahead, timeout=60)
        for service in services:
            service.stop()
        _judge(figures, load, postgres.url, options)
    finally:
        for service in services:
            service.kill()
        if postgres.running():
            try:
                postgres.stop("immediate")
            except Exception as failure:  # noqa: BLE001 — report, keep cleaning up
                say(f"no se pudo detener PostgreSQL: {failure}")
    if figures.ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"Registros de los procesos en {workdir}")
    return figures


def _prepare(url: str) -> dict[str, list[str]]:
    from argon2 import PasswordHasher

    from engine import Engine, ProcessLibrary
    from engine.demo import seed_demo_people

    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    # Cheap hashes: the servers verify with the parameters stored in each hash.
    engine = Engine(url, library, password_hasher=PasswordHasher(time_cost=1, memory_cost=8,
                                                                  parallelism=1))
    engine.create_schema()
    people: dict[str, list[str]] = {}
    for account in seed_demo_people(engine, PASSWORD):
        for role in account.roles:
            people.setdefault(role, []).append(account.username)
    engine.sql.dispose()
    return people


def _wait_children(service: Service, count: int, timeout: float = 240) -> None:
    assert service.process is not None
    deadline = time.monotonic() + timeout
    while len(_children(service.process.pid)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{service.name}: fewer than {count} children\n"
                               + service.log_tail())
        time.sleep(0.2)


def _inject_faults(options: Options, figures: Figures, apps: Service, workers: Service,
                   postgres: PrivatePostgres, load: Load, say: Any) -> None:
    rng = random.Random(options.seed)
    restart_at = options.kills // 2
    for moment in range(options.kills):
        time.sleep(rng.uniform(*options.gap))
        for service, counter in ((apps, "app_kills"), (workers, "worker_kills")):
            assert service.process is not None
            children = _children(service.process.pid)
            if children:
                try:
                    os.kill(rng.choice(children), signal.SIGKILL)
                    setattr(figures, counter, getattr(figures, counter) + 1)
                except ProcessLookupError:
                    pass
        if moment == restart_at:
            _restart_database(options, figures, postgres, load, say)


def _restart_database(options: Options, figures: Figures, postgres: PrivatePostgres,
                      load: Load, say: Any) -> None:
    down_at = time.monotonic()
    postgres.stop("immediate")  # as a crash would: no goodbye to any connection
    time.sleep(options.db_down_seconds)
    postgres.start()
    up_at = time.monotonic()
    figures.db_restarts += 1
    figures.db_down_seconds = round(up_at - down_at, 2)
    # Recovery: from the database being back to the first request it served again.
    deadline = up_at + 120
    while time.monotonic() < deadline:
        with load.lock:
            served = [at for at, status, _ in load.answers if at >= up_at and status < 400]
        if served:
            figures.recovery_seconds = round(min(served) - up_at, 2)
            break
        time.sleep(0.05)
    with load.lock:
        figures.answers_503_while_down = sum(
            1 for at, status, _ in load.answers if down_at <= at <= up_at and status == 503)
    say(f"PostgreSQL reiniciado: {figures.db_down_seconds} s caído, "
        f"{figures.answers_503_while_down} respuestas 503, recuperado en "
        f"{figures.recovery_seconds} s")


def _settle_timers(url: str, days_ahead: float, timeout: float) -> None:
    """Wait until the timer workers have fired every timer that is due."""
    from sqlalchemy import text

    from engine.store import PoolSettings, connect

    sql = connect(url, pool=PoolSettings(size=1, max_overflow=0))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with sql.connect() as connection:
                due = connection.execute(text(_DUE_SQL), {"ahead": days_ahead}).scalar_one()
            if not due:
                return
            time.sleep(0.5)
    finally:
        sql.dispose()


def _judge(figures: Figures, load: Load, url: str, options: Options) -> None:
    from sqlalchemy import text

    from engine import Engine, ProcessLibrary

    figures.cases_started = len(load.started)
    figures.completions_acknowledged = len(load.acknowledged)
    figures.statuses = {str(k): v for k, v in sorted(load.statuses.items())}
    figures.network_errors = load.network_errors
    figures.refused_samples = list(load.samples)
    figures.answers_5xx_not_503 = sum(v for k, v in load.statuses.items()
                                      if k >= 500 and k != 503)
    figures.unclean_503 = sum(1 for _, status, code in load.answers
                              if status == 503 and code != "unavailable")
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    engine = Engine(url, library)
    try:
        with engine.sql.connect() as connection:
            completed = set(connection.execute(text(
                "SELECT task_id FROM case_event WHERE event_type = 'task_completed'"))
                .scalars())
            fired = connection.execute(text(
                "SELECT case_id, data FROM case_event WHERE event_type = 'timer_fired'")).all()
            figures.due_timers_left = connection.execute(
                text(_DUE_SQL), {"ahead": options.workers_days_ahead}).scalar_one()
        figures.lost_completions = sum(1 for t in load.acknowledged if t not in completed)
        per_timer = Counter((case_id, timer) for case_id, data in fired
                            for timer in (data or {}).get("timers", []))
        figures.timers_fired = len(per_timer)
        figures.timers_fired_twice = sum(1 for n in per_timer.values() if n > 1)
        verification = engine.verify_cases()
        figures.cases_verified = verification.cases
        figures.inconsistent_cases = len(verification.problems)
        figures.problems += [str(p) for p in verification.problems][:10]
    finally:
        engine.sql.dispose()
    if figures.recovery_seconds is None:
        figures.problems.append("no request succeeded after the database came back")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=Options.kills)
    parser.add_argument("--apps", type=int, default=Options.apps)
    parser.add_argument("--workers", type=int, default=Options.workers)
    parser.add_argument("--clients", type=int, default=Options.clients)
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--json", action="store_true", help="Print only the JSON figures.")
    parser.add_argument("--worker-host", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--days-ahead", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_host:
        worker_host(args.worker_host, float(os.environ.get("CAUCE_WORKER_INTERVAL", "1")),
                    args.days_ahead)
        return 0
    options = Options(kills=args.kills, apps=args.apps, workers=args.workers,
                      clients=args.clients, seed=args.seed)
    figures = run(options, say=(lambda _m: None) if args.json else print)
    if not args.json:
        for name, value in asdict(figures).items():
            print(f"  {name:28} {value}")
        print("OK" if figures.ok else "FALLÓ")
    print(json.dumps({**asdict(figures), "ok": figures.ok}, ensure_ascii=False))
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
