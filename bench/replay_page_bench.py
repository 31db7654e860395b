"""The replay page's data for a long case: a social case whose report is rejected ``--rounds``
times (about four events a round), then ``Engine.case_replay`` and the page's JSON endpoint are
timed (median of ``--samples``). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402

from app import create_app  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from tests.conftest import DEMO_PASSWORD, CaseWalker, FakeClock  # noqa: E402

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
AUDITOR = "monica.pazmino"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=250)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clock = FakeClock(START)
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SEEDS_DIR": "",
                          "DATABASE_URL": f"sqlite:///{folder}/cauce.db",
                          "DOCUMENTS_DIR": f"{folder}/documents",
                          "ENGINE_OPTIONS": {"password_hasher": HASHER, "clock": clock}})
        engine = app.extensions["cauce"]
        people: dict[str, list[str]] = {}
        for account in seed_demo_people(engine, DEMO_PASSWORD):
            for role in account.roles:
                people.setdefault(role, []).append(account.username)
        walker = CaseWalker(engine, people)
        walker.start()
        for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                         "emitir_diagnostico"):
            walker.do(activity)
        for _ in range(args.rounds):
            clock.advance(minutes=5)
            walker.do("validar_informe", report_validated=False, review_observations="Otra vez.")
            walker.do("emitir_diagnostico")
        number = walker.case.number
        events = len(engine.history(number, by=AUDITOR))
        engine_ms, http_ms = [], []
        client = app.test_client()
        page = client.get("/entrar").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/entrar", data={"username": AUDITOR, "password": DEMO_PASSWORD,
                                     "csrf_token": token})
        size = 0
        for _ in range(args.samples):
            began = time.perf_counter()
            engine.case_replay(number, by=AUDITOR)
            engine_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            response = client.get(f"/auditoria/casos/{number}/pasos.json")
            http_ms.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.status_code
            size = len(response.get_data())
        figures = {"events": events, "case_replay_ms": round(statistics.median(engine_ms)),
                   "steps_json_ms": round(statistics.median(http_ms)),
                   "steps_json_kb": round(size / 1024)}
        print(f"Caso de {events} eventos: case_replay {figures['case_replay_ms']} ms, "
              f"pasos.json {figures['steps_json_ms']} ms ({figures['steps_json_kb']} KB)")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
