"""Profile one task completion end to end (HTTP request -> Flask -> engine -> SQL), cache cold.

Runs the app in this process through Flask's test client (no sockets: what is left is the
app's own cost) against a database of its own (``--database``; SQLite in a temp directory
when left out), with the workflow cache off, as several app processes mostly see it. N social
cases go side by side, task k of each before task k+1, along the same path as
``http_bench.py``. Prints the CPU milliseconds per completion (``time.process_time``) and,
with ``--profile``, the cProfile of the completions only, sorted by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from argon2 import PasswordHasher  # noqa: E402
from http_bench import ACTORS, PATH, PROCESS, _forms  # noqa: E402

from engine import Engine, ProcessLibrary  # noqa: E402
from engine.clock import local_date, utc_now  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402

PASSWORD = "bench-profile"


def run(url: str, cases: int, rounds: int, profiler: cProfile.Profile | None,
        workdir: Path) -> list[float]:
    """Return the CPU milliseconds of each measured completion."""
    from app import create_app

    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    engine = Engine(url, library, cache_size=0, documents_dir=workdir / "documents",
                    password_hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    engine.drop_schema()
    engine.create_schema()
    seed_demo_people(engine, PASSWORD)
    app = create_app({"DATABASE_URL": url, "ENGINE": engine, "SECRET_KEY": "profile",
                      "DOCUMENTS_DIR": str(workdir / "documents")})
    client = app.test_client()
    definition = library.get(PROCESS)
    roles = {a: definition.lane_role(definition.activity(a).lane).role for a in PATH}
    forms = _forms(local_date(utc_now()).isoformat())
    tokens = {}
    for role, username in ACTORS.items():
        answer = client.post("/api/login", json={"username": username, "password": PASSWORD})
        tokens[role] = answer.get_json()["token"]
    samples: list[float] = []
    for round_number in range(rounds + 1):
        measured = round_number > 0  # the first round warms up
        open_tasks = []
        for _ in range(cases):
            answer = client.post("/api/cases", json={"process": PROCESS, "data": forms[PATH[0]]},
                                 headers={"Authorization": f"Bearer {tokens['coordinador_th']}"})
            assert answer.status_code == 201, answer.get_data(as_text=True)
            open_tasks.append(answer.get_json()["open_tasks"][0])
        for activity in PATH[1:]:
            headers = {"Authorization": f"Bearer {tokens[roles[activity]]}"}
            for i, task in enumerate(open_tasks):
                assert task["activity_id"] == activity, (task, activity)
                cpu = time.process_time()
                if measured and profiler is not None:
                    profiler.enable()
                answer = client.post(f"/api/tasks/{task['task_id']}/complete",
                                     json={"data": forms[activity]}, headers=headers)
                if measured and profiler is not None:
                    profiler.disable()
                if measured:
                    samples.append((time.process_time() - cpu) * 1000)
                assert answer.status_code == 200, answer.get_data(as_text=True)
                body = answer.get_json()
                if body["open_tasks"]:
                    open_tasks[i] = body["open_tasks"][0]
    engine.sql.dispose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a database URL of its own (it is emptied)")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--lines", type=int, default=60)
    parser.add_argument("--callees", nargs="*", help="functions whose callees to print")
    parser.add_argument("--dump", help="write the raw profile to this file (pstats)")
    args = parser.parse_args()
    # CPU time, not wall time: waiting for the database costs the app nothing.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    with tempfile.TemporaryDirectory() as workdir:
        url = args.database or f"sqlite:///{workdir}/profile.db"
        samples = run(url, args.cases, args.rounds, profiler, Path(workdir))
    print(f"{len(samples)} completions: CPU ms per completion median "
          f"{statistics.median(samples):.3f}, mean {statistics.fmean(samples):.3f}")
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.lines)
        stats.sort_stats("tottime").print_stats(args.lines)
        if args.dump:
            stats.dump_stats(args.dump)
        for name in args.callees or ():
            stats.print_callees(name)
        print(out.getvalue())


if __name__ == "__main__":
    main()
