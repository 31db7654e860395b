"""Mail benchmark: mails per second from the outbox to a real SMTP server.

Queues N task-arrival events (one recipient each), expands them into mails with the Spanish
templates, then drains the outbox into aiosmtpd on a loopback port (STARTTLS and AUTH, as the
tests run it) with one worker and then with two at once. The last line is one JSON object.

    .venv/bin/python bench/mail_bench.py                      # temp SQLite, 2,000 mails
    .venv/bin/python bench/mail_bench.py --mails 5000 --database postgresql://postgres@127.0.0.1/b
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from app import create_app  # noqa: E402
from engine import Engine, ProcessLibrary, SmtpSettings  # noqa: E402
from engine.demo import seed_demo_people  # noqa: E402
from engine.outbox import record_events  # noqa: E402
from engine.store import PersonRow, drop_schema  # noqa: E402
from tests.smtp_server import SmtpServer, give_everyone_an_address  # noqa: E402
from web.notifications import renderer  # noqa: E402

warnings.filterwarnings("ignore", message="Session.login_data is deprecated")


def queue(engine: Engine, mails: int) -> None:
    with engine.read_session() as session:
        people = list(session.scalars(select(PersonRow.id)))
    now = datetime.now(UTC)
    events = [("task_offered", {
        "task_id": f"00000000-0000-4000-8000-{i:012d}", "case_number": f"CS-2026-{i:04d}",
        "process_name": "Atención y Seguimiento de Casos Sociales",
        "activity_name": "Emitir informe técnico de diagnóstico social", "role": "x",
        "audience": "role:x", "assignee_id": people[i % len(people)], "due_at": None,
    }, None) for i in range(mails)]
    with engine._writer.begin() as session:
        for start in range(0, mails, 500):
            record_events(session.connection(), events[start:start + 500], now)


def drain(engines: list[Engine], settings: SmtpSettings, batch: int) -> float:
    def work(engine: Engine) -> None:
        while engine.send_mail(settings, limit=batch).sent:
            pass

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="")
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    url = args.database or f"sqlite:///{work}/mail.db"
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    engine = Engine(url, library, password_hasher=hasher)
    if args.database:
        drop_schema(engine.sql)
    engine.create_schema()
    seed_demo_people(engine, "clave-de-banco-1")
    give_everyone_an_address(engine)
    app = create_app({"DATABASE_URL": url, "ENGINE": engine, "SECRET_KEY": "bench"})
    server = SmtpServer(work / "smtp")
    server.start()
    settings = SmtpSettings.from_mapping(server.settings())
    figures: dict[str, object] = {"mails": args.mails, "batch": args.batch,
                                  "database": engine.sql.dialect.name}
    try:
        for workers in (1, 2):
            with engine._writer.begin() as session:
                session.execute(text("DELETE FROM mail_outbox"))
                session.execute(text("DELETE FROM notification_event"))
            before = len(server.received)
            queue(engine, args.mails)
            started = time.perf_counter()
            with app.app_context():
                queued = engine.expand_notifications(renderer(app), limit=args.mails)
            expanded = time.perf_counter() - started
            others = [Engine(url, library, password_hasher=hasher) for _ in range(workers)]
            seconds = drain(others, settings, args.batch)
            received = len(server.received) - before
            assert received == queued == args.mails, (received, queued)
            figures[f"expand_per_s_{workers}w"] = round(queued / expanded, 1)
            figures[f"send_per_s_{workers}w"] = round(received / seconds, 1)
            print(f"{workers} worker(s): {queued} mails expanded in {expanded:.2f} s, "
                  f"sent in {seconds:.2f} s ({received / seconds:.1f} mails/s)")
            for other in others:
                other.sql.dispose()
    finally:
        server.stop()
        engine.sql.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
