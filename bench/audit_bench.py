"""Audit benchmark: verify N cases (chain + replay + checkpoints), sign a checkpoint, export XES.

The cases are built quickly: a handful of real ones go through the engine (a finished social
case of eleven activities, and open ones stopped after two or three), then each is copied at the
SQL level under new ids and numbers with its hash chain recomputed for the new id, so that every
copy proves exactly like the original (replay does not depend on the case id). Verification
then re-executes every copy for real: the copies save only building time, not checking time.

Prints the figures and, last, one JSON line. ``--cases 10000`` runs the issue's size; the
default (2,000) fits a 2-core machine in a few minutes, and the 10,000 figure is extrapolated
linearly (verification is one independent replay per case) and labelled so.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.support import arguments, fresh_engine  # noqa: E402
from engine import Engine, audit  # noqa: E402
from engine.anchoring import CheckpointLog  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.store import Base  # noqa: E402
from tests.conftest import form_for  # noqa: E402

PROCESS = "social_case"
PATH = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista", "emitir_diagnostico",
        "validar_informe", "remitir_informe", "solicitar_apoyo", "generar_respuesta",
        "generar_expediente", "archivar_expediente"]
CASE, EVENT = Base.metadata.tables["case"], Base.metadata.tables["case_event"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _templates(engine: Engine, clock: Clock) -> list[int]:
    people: dict[str, list[str]] = {}
    for account in seed_demo_people(engine, "clave-de-bench-1"):
        for role in account.roles:
            people.setdefault(role, []).append(account.username)
    by_role = {role: names[0] for role, names in people.items()}
    ids = []
    for stop in (len(PATH), 1, 2, len(PATH), 3):
        case = engine.start_case(PROCESS, by=by_role["coordinador_th"],
                                 data=form_for("recibir_solicitud"))
        for activity in PATH[:stop]:
            clock.now = clock.now.replace(minute=(clock.now.minute + 7) % 60)
            task = next(t for t in case.open_tasks if t.activity_id == activity)
            data = form_for(activity)
            if activity == "reasignar_solicitud":
                data["social_worker"] = by_role["trabajador_social"]
            case = engine.complete_task(task.task_id, by=by_role[task.role], form_data=data)
        ids.append(case.id)
    return ids


def _copy(engine: Engine, templates: list[int], total: int) -> int:
    """Copy the template cases until there are ``total`` cases; return the events written."""
    written = 0
    with engine.sql.begin() as connection:
        rows = {r.id: r._asdict() for r in connection.execute(
            CASE.select().where(CASE.c.id.in_(templates)))}
        events = {t: [e._asdict() for e in connection.execute(
            EVENT.select().where(EVENT.c.case_id == t).order_by(EVENT.c.seq))]
            for t in templates}
        next_id = max(connection.execute(select(CASE.c.id)).scalars()) + 1
        for n in range(total - len(templates)):
            source = templates[n % len(templates)]
            case_id = next_id + n
            previous, batch = audit.GENESIS, []
            for event in events[source]:
                digest = audit.event_hash(
                    previous, case_id=case_id, seq=event["seq"], at=event["at"],
                    actor=event["actor"], role=event["role"], event_type=event["event_type"],
                    task_id=event["task_id"], activity_id=event["activity_id"],
                    data=event["data"], state_hash=event["state_hash"])
                batch.append({**{k: v for k, v in event.items() if k != "id"},
                              "case_id": case_id, "hash": digest})
                previous = digest
            connection.execute(CASE.insert(), {**rows[source], "id": case_id,
                                               "number": f"CS-BENCH-{case_id:06d}",
                                               "last_hash": previous})
            connection.execute(EVENT.insert(), batch)
            written += len(batch)
    return written


def main() -> None:
    args = arguments(__doc__, cases=2000)
    work = Path(tempfile.mkdtemp(prefix="cauce-audit-bench-"))
    url = args.database or f"sqlite:///{work / 'bench.db'}"
    clock = Clock()
    engine = fresh_engine(url, work / "documents", clock)

    started = time.perf_counter()
    templates = _templates(engine, clock)
    events = _copy(engine, templates, args.cases)
    build_s = time.perf_counter() - started
    print(f"{args.cases} casos construidos en {build_s:.1f} s", file=sys.stderr)

    log = CheckpointLog(work / "checkpoints", work / "checkpoint.pem")
    started = time.perf_counter()
    checkpoint = engine.write_checkpoint(log)
    checkpoint_s = time.perf_counter() - started
    assert checkpoint is not None
    checkpoint_kb = checkpoint.path.stat().st_size / 1024

    started = time.perf_counter()
    report = engine.verify_history(checkpoints=log)
    verify_s = time.perf_counter() - started
    assert report.ok, report.problems[:3]
    print(f"verificados {report.cases} casos en {verify_s:.1f} s", file=sys.stderr)

    xes_path = work / "cases.xes"
    started = time.perf_counter()
    with xes_path.open("wb") as target:
        summary = engine.export_xes(target, process_id=PROCESS)
    xes_s = time.perf_counter() - started
    rate = report.cases / verify_s
    figures = {
        "bench": "audit", "database": engine.sql.dialect.name, "cases": report.cases,
        "events": events, "build_s": round(build_s, 1),
        "verify_s": round(verify_s, 1), "verify_cases_per_s": round(rate, 1),
        "verify_10000_s_extrapolated" if args.cases != 10000 else "verify_10000_s":
            round(10000 / rate, 1),
        "checkpoint_s": round(checkpoint_s, 2), "checkpoint_kb": round(checkpoint_kb, 1),
        "xes_s": round(xes_s, 2), "xes_mb": round(summary.bytes / 1_048_576, 2),
        "xes_traces": summary.traces, "xes_events": summary.events,
        "xes_10000_s_extrapolated" if args.cases != 10000 else "xes_10000_s":
            round(xes_s * 10000 / report.cases, 1),
    }
    engine.sql.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
