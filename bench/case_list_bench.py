"""Case-list benchmark: the /casos query over 100,000 cases, on SQLite or PostgreSQL.

Fills a fresh database with cases written straight into the tables (60 % social cases, 40 %
service-charter plans, a third of them open, each open one with a task, two or three events
each), then times ``Engine.list_cases`` for the people and filters a staff member uses: the first
page, a later page by cursor, a search, each tab, a procedure and state, a date range, another
order, and a person who sees only the few cases offered to their position. The last line is one
JSON object with p50/p95 milliseconds per scenario.

    .venv/bin/python bench/case_list_bench.py                        # temp SQLite, 100,000 cases
    .venv/bin/python bench/case_list_bench.py --database postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.support import arguments, bulk_write, fresh_engine  # noqa: E402
from engine import CaseFilters, Engine  # noqa: E402
from engine.assignment import role_key  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.store import CaseEventRow, CaseRow, OpenTaskRow  # noqa: E402

START = datetime(2024, 1, 1, 15, tzinfo=UTC)
NAMES = ["Rosa Chicaiza", "Marco Tipán", "Lucía Pérez", "Jorge Quishpe", "Ana Caiza",
         "Luis Toapanta", "María Guamán", "Pedro Andrango", "Carmen Yánez", "Diego Tituaña"]
HEAD_POSITION = "Director/a de Pruebas de Carga"


def populate(engine: Engine, cases: int, seed: int = 20260302) -> dict[str, Any]:
    """Write ``cases`` cases with their open tasks and events; return who is who."""
    rng = random.Random(seed)
    seed_demo_people(engine, "bench-password-1")
    head = engine.add_person("jefe.carga", "Jefe de Carga", positions=(HEAD_POSITION,))
    head_audience = next(a for a in head.audience if a.startswith("position:"))
    people = {p: engine.person(p) for p in ("lucia.andrade", "jorge.cevallos", "ana.guaman",
                                            "sofia.naranjo", "diego.paredes", "carmen.yepez",
                                            "valeria.mora")}
    versions = engine.publish_library()
    plans = [("social_case", "CS", versions["social_case"], "lucia.andrade",
              "analizar_solicitud", "Analizar la solicitud de intervención",
              role_key("trabajador_social")),
             ("sla_planning", "SLA", versions["sla_planning"], "carmen.yepez",
              "elaborar_plan", "Elaborar el plan", role_key("unidad"))]
    case_rows, task_rows, event_rows = [], [], []
    serial: dict[str, int] = {}
    event_id = 0
    for n in range(1, cases + 1):
        process_id, prefix, version_id, starter, activity, activity_name, audience = (
            plans[0] if rng.random() < 0.6 else plans[1])
        started = START + timedelta(minutes=int(n * 1000_000 / cases) + rng.randint(0, 50))
        serial[prefix] = serial.get(prefix, 0) + 1
        number = f"{prefix}-{started.year}-{serial[prefix]:06d}"
        is_open = rng.random() < 1 / 3
        requester = rng.choice(NAMES) + f" {n}"
        starter_id = people[starter].id if rng.random() < 0.5 else people[
            "jorge.cevallos" if process_id == "social_case" else "carmen.yepez"].id
        case_rows.append(dict(
            id=n, number=number, process_id=process_id, version_id=version_id,
            status="open" if is_open else "completed", outcome=None if is_open else "Archivado",
            requester=requester, subject=None, started_at=started, started_by=starter_id,
            updated_at=started, completed_at=None if is_open else started + timedelta(days=9),
            due_at=None, overdue_at=None, next_timer_at=None, deadlines={}, state=b"",
            fingerprint=bytes(32), last_seq=3, last_hash=bytes(32), version=1))
        actors = [starter_id, people["ana.guaman"].id if n % 3 else people["sofia.naranjo"].id,
                  people["diego.paredes"].id if n % 97 == 0 else None]
        for seq, actor in enumerate(actors, start=1):
            event_id += 1
            event_rows.append(dict(
                id=event_id, case_id=n, seq=seq, at=started + timedelta(hours=seq),
                actor_id=actor, actor=None, role=None,
                event_type="task_completed" if actor else "timer_fired", task_id=None,
                activity_id=None, data=None, state_hash=None, hash=bytes(32)))
        if is_open:
            # One open case in 500 is offered to the head's position (a unit head's view).
            offered = head_audience if n % 500 == 0 else audience
            task_rows.append(dict(
                task_id=f"t{n:08d}", case_id=n, process_id=process_id, process_name=process_id,
                case_number=number, requester=requester, activity_id=activity,
                activity_name=activity_name, lane=None, role="trabajador_social",
                audience=offered, assignee_id=people["sofia.naranjo"].id if n % 4 == 0 else None,
                form_id=None, created_at=started, due_at=started + timedelta(days=21)))
    bulk_write(engine, ((CaseRow, case_rows), (CaseEventRow, event_rows),
                        (OpenTaskRow, task_rows)))
    return {"people": people, "head": head, "last_day": started.date()}


def scenarios(setup: dict[str, Any]) -> dict[str, tuple[Any, CaseFilters, bool]]:
    """Return name -> (person, filters, follow one cursor) of what is timed."""
    people, head = setup["people"], setup["head"]
    leader, worker = people["ana.guaman"], people["sofia.naranjo"]
    last = setup["last_day"]
    return {
        "first_page": (leader, CaseFilters(), False),
        "next_page_by_cursor": (leader, CaseFilters(), True),
        "search_requester": (leader, CaseFilters(search="tipán 4"), False),
        "search_number_exact": (leader, CaseFilters(search="cs-2025-050000"), False),
        "my_requests": (people["lucia.andrade"], CaseFilters(scope="requested"), False),
        "participated_rare": (people["diego.paredes"], CaseFilters(scope="participated"), False),
        "participated_common": (leader, CaseFilters(scope="participated"), False),
        "process_open": (worker, CaseFilters(process_id="social_case", status="open"), False),
        "date_range": (leader, CaseFilters(started_from=last - timedelta(days=30),
                                           started_to=last - timedelta(days=20)), False),
        "sort_requester": (leader, CaseFilters(sort="requester", descending=False), True),
        "sort_number_desc": (leader, CaseFilters(sort="number", descending=True), False),
        "unit_head_few_cases": (head, CaseFilters(), False),
        "charter_person": (people["valeria.mora"], CaseFilters(process_id="sla_planning"),
                           False),
    }


def measure(engine: Engine, setup: dict[str, Any], repeat: int) -> dict[str, dict[str, float]]:
    """Time each scenario ``repeat`` times (after one warm-up); return p50/p95 ms and rows."""
    figures = {}
    for name, (person, filters, paged) in scenarios(setup).items():
        cursor = engine.list_cases(person, filters=filters).next_cursor if paged else None
        times, rows = [], 0
        for _ in range(repeat + 1):
            began = time.perf_counter()
            page = engine.list_cases(person, filters=filters, cursor=cursor)
            times.append((time.perf_counter() - began) * 1000)
            rows = len(page.items)
        times = sorted(times[1:])
        figures[name] = {"p50_ms": round(statistics.median(times), 2),
                         "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2),
                         "rows": rows}
    return figures


def main() -> None:
    args = arguments(__doc__, cases=100_000, repeat=30)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = fresh_engine(url, Path(folder) / "documents",
                              lambda: datetime.combine(date(2027, 1, 4), datetime.min.time(),
                                                       tzinfo=UTC))
        began = time.perf_counter()
        setup = populate(engine, args.cases)
        filled = time.perf_counter() - began
        figures = measure(engine, setup, args.repeat)
        for name, figure in figures.items():
            print(f"{name:22} p50 {figure['p50_ms']:8.2f} ms   p95 {figure['p95_ms']:8.2f} ms"
                  f"   ({figure['rows']} rows)")
        result = {"bench": "case_list", "backend": engine.sql.dialect.name,
                  "cases": args.cases, "fill_s": round(filled, 1), "scenarios": figures,
                  "worst_p95_ms": max(f["p95_ms"] for f in figures.values())}
        engine.sql.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
