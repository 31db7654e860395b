"""What the benchmarks share: fast password hashing and an engine on an emptied database."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import insert, text

from engine import Engine, ProcessLibrary

ROOT = Path(__file__).resolve().parent.parent
# Hashing is not what the benchmarks measure: the cheapest argon2 settings.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def arguments(doc: str, *, cases: int, repeat: int | None = None) -> argparse.Namespace:
    """Parse a benchmark's command line: the database, how many cases and, if timed, how often."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a database URL (emptied first); default temp SQLite")
    parser.add_argument("--cases", type=int, default=cases)
    if repeat is not None:
        parser.add_argument("--repeat", type=int, default=repeat)
    return parser.parse_args()


def fresh_engine(url: str, documents_dir: Path, clock: Callable[[], datetime]) -> Engine:
    """Return an engine on the repository's procedures whose database was emptied and rebuilt."""
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    engine = Engine(url, library, clock=clock, documents_dir=documents_dir,
                    password_hasher=FAST_HASHER)
    engine.drop_schema()
    engine.create_schema()
    return engine


def bulk_write(engine: Engine, tables: Sequence[tuple[Any, list[dict[str, Any]]]]) -> None:
    """Insert generated rows table by table in batches, then refresh the planner's statistics."""
    with engine.sql.begin() as connection:
        for table, rows in tables:
            for start in range(0, len(rows), 5000):
                connection.execute(insert(table), rows[start:start + 5000])
    # As autovacuum would have: statistics, and PostgreSQL's visibility map for index-only scans.
    with engine.sql.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if engine.sql.dialect.name == "postgresql"
                                else "ANALYZE"))
