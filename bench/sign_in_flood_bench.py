"""Sign-in flood benchmark: how long a draft save takes while anonymous clients flood sign-in.

Twelve threads sign in with wrong passwords (real argon2 parameters; unknown usernames and
existing ones, each attempt from its own client address so the throttle does not cut the flood
short) while the main thread saves a draft every 100 ms. Then forty threads send wrong passwords
for one account from one client at once, counting how many were really checked. The last line
is one JSON object: draft-save p50/p95/max in milliseconds, attempts made, checks of the forty.

    .venv/bin/python bench/sign_in_flood_bench.py                 # temp SQLite
    .venv/bin/python bench/sign_in_flood_bench.py --database postgresql://postgres@127.0.0.1/b
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402

from engine import Engine, InvalidCredentials, ProcessLibrary  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.store import drop_schema  # noqa: E402

PASSWORD = "clave-de-banco-1"


class CountingHasher(PasswordHasher):
    """argon2 with its default parameters, counting checks."""

    checks = 0
    _lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        with self._lock:
            CountingHasher.checks += 1
        return super().verify(hash, password)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flooders", type=int, default=12)
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/flood.db"
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    hasher = CountingHasher()
    engine = Engine(url, library, password_hasher=hasher)
    drop_schema(engine.sql)
    engine.create_schema()
    seed_demo_people(engine, PASSWORD)
    from tests.conftest import form_for

    case = engine.start_case("social_case", by="lucia.andrade",
                             data=form_for("recibir_solicitud"))
    task_id = case.open_tasks[0].task_id
    takes_client = "client" in inspect.signature(engine.authenticate).parameters

    def attempt(username: str, client: str) -> None:
        try:
            if takes_client:
                engine.authenticate(username, "mala", client=client)
            else:
                engine.authenticate(username, "mala")
        except InvalidCredentials:
            pass

    stop = threading.Event()
    attempts = [0]

    def flood(index: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            username = ("ana.guaman", "pablo.reyes", f"nadie{index}")[n % 3]
            attempt(username, f"10.{index}.{n // 250}.{n % 250}")
            attempts[0] += 1

    saves: list[float] = []
    with ThreadPoolExecutor(max_workers=args.flooders) as pool:
        for index in range(args.flooders):
            pool.submit(flood, index)
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            engine.save_draft(task_id, by="ana.guaman", data={"is_social_case": True})
            saves.append((time.perf_counter() - started) * 1000)
            time.sleep(0.1)
        stop.set()

    CountingHasher.checks = 0
    with ThreadPoolExecutor(max_workers=40) as pool:
        list(pool.map(lambda _n: attempt("sofia.naranjo", "203.0.113.7"), range(40)))
    result: dict[str, Any] = {
        "database": engine.sql.dialect.name, "flooders": args.flooders,
        "sign_in_attempts": attempts[0], "draft_saves": len(saves),
        "draft_save_ms": {"p50": round(statistics.median(saves), 1),
                          "p95": round(statistics.quantiles(saves, n=20)[18] if len(saves) > 1
                                       else saves[0], 1),
                          "max": round(max(saves), 1)},
        "concurrent_wrong_passwords": 40, "of_them_checked": CountingHasher.checks,
    }
    print(json.dumps(result))
    engine.sql.dispose()


if __name__ == "__main__":
    main()
