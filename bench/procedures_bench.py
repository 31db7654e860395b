"""Workshop benchmark: check time per procedure, publish time, migration of N cases (cases/s).

Check: the start-up pipeline over each procedure's current files (median of a few runs).
Publish: a draft with a renamed activity, checked and stored as a new version (median).
Migration: N open social cases (started through the engine) moved from version 1 to a version
with a renamed activity by one bulk job, then the dry run over the same cases. Prints the
figures and, last, one JSON line. ``--cases 1000`` is the issue's size (the default).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402

from engine import Engine, ProcessLibrary  # noqa: E402
from engine.case_migration import Selection  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.library import _load_form_checked  # noqa: E402
from engine.procedure_check import check_files  # noqa: E402
from engine.procedures import bundle_from_files, files_from_bundle  # noqa: E402
from tests.conftest import form_for  # noqa: E402
from tests.integration.procedure_edits import rename  # noqa: E402

PROCESS = "social_case"
REASIGNAR = "Recibir y reasignar la solicitud de intervención"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--database", default="", help="SQLAlchemy URL (default: temp SQLite)")
    parser.add_argument("--check-only", action="store_true",
                        help="measure only the check of each procedure")
    args = parser.parse_args()
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = Engine(url, library, password_hasher=PasswordHasher(
        time_cost=1, memory_cost=8, parallelism=1))
    engine.drop_schema()
    engine.create_schema()
    people: dict[str, list[str]] = {}
    for account in seed_demo_people(engine, "bench-password"):
        for role in account.roles:
            people.setdefault(role, []).append(account.username)
    owner, coordinator = people["propietario_cs"][0], people["coordinador_th"][0]

    checks, first_checks = {}, {}
    for definition in library.list():
        files = {name: text.encode() for name, text in definition.bundle.items()}
        # First: no form seen before (each one goes through the metaschema check), as after an
        # edit of every form; then again, as the editor's check of a mostly unchanged bundle.
        _load_form_checked.cache_clear()
        first = check_files(definition.process_id, files)
        assert first.ok, first.problems
        first_checks[definition.process_id] = first.seconds
        times = []
        for _ in range(3):
            result = check_files(definition.process_id, files)
            assert result.ok, result.problems
            times.append(result.seconds)
        checks[definition.process_id] = statistics.median(times)
        print(f"check {definition.process_id}: first {first.seconds * 1000:.0f} ms, then "
              f"{checks[definition.process_id] * 1000:.0f} ms median of 3 ({len(files)} files)")
    if args.check_only:
        print(json.dumps({
            "check_first_ms": {k: round(v * 1000) for k, v in first_checks.items()},
            "check_ms": {k: round(v * 1000) for k, v in checks.items()}}))
        return

    started = time.perf_counter()
    for _ in range(args.cases):
        engine.start_case(PROCESS, by=coordinator, data=form_for("recibir_solicitud"))
    start_seconds = time.perf_counter() - started
    print(f"started {args.cases} cases in {start_seconds:.1f} s")

    base = files_from_bundle(library.get(PROCESS).bundle)
    publish_times = []
    for index in range(3):
        files = bundle_from_files(rename(base, "reasignar_solicitud", REASIGNAR,
                                         f"Reasignar la solicitud ({index})"))
        began = time.perf_counter()
        published = engine.publish_procedure_files(PROCESS, files, by=owner,
                                                   comment=f"bench {index}")
        publish_times.append(time.perf_counter() - began)
    publish = statistics.median(publish_times)
    print(f"publish (check + store): {publish * 1000:.0f} ms median of 3; "
          f"now version {published.number}")

    began = time.perf_counter()
    plans = engine.migration_dry_run(PROCESS, by=owner,
                                     selection=Selection(1, published.number))
    dry_seconds = time.perf_counter() - began
    movable = sum(1 for p in plans if p.can_move)
    print(f"dry run: {len(plans)} cases in {dry_seconds:.1f} s "
          f"({len(plans) / dry_seconds:.0f} cases/s), {movable} can move")

    began = time.perf_counter()
    job_id = engine.migrate_cases(PROCESS, by=owner, selection=Selection(1, published.number))
    migrate_seconds = time.perf_counter() - began
    job = engine.migration_job(job_id, by=owner)
    rate = job.moved / migrate_seconds if migrate_seconds else 0.0
    print(f"migration: {job.moved} moved, {job.refused} refused of {job.total} in "
          f"{migrate_seconds:.1f} s ({rate:.0f} cases/s)")
    print(json.dumps({
        "database": url.split(":", 1)[0], "cases": args.cases,
        "check_first_ms": {k: round(v * 1000) for k, v in first_checks.items()},
        "check_ms": {k: round(v * 1000) for k, v in checks.items()},
        "publish_ms": round(publish * 1000),
        "dry_run_cases_per_s": round(len(plans) / dry_seconds, 1),
        "migration_cases_per_s": round(rate, 1), "moved": job.moved, "refused": job.refused,
    }))
    engine.sql.dispose()


if __name__ == "__main__":
    main()
