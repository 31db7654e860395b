"""What the signing tests share: an app whose people hold demo certificates, signed-in clients
and the signature rows a test reads back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from engine.signing import DocumentSignatureRow, seed_demo_certificates
from tests.conftest import DEMO_PASSWORD, WebClient


def app_with_certificates(engine: Any, usernames: Iterable[str], tmp_path: Path) -> Any:
    """Return the app with a demo CA in ``tmp_path`` and a demo certificate for each person."""
    from app import create_app

    folder = tmp_path / "firma-demo"
    app = create_app({"DATABASE_URL": str(engine.sql.url), "ENGINE": engine, "TESTING": True,
                      "SECRET_KEY": "test-secret", "DOCUMENTS_DIR": str(tmp_path / "documents"),
                      "SIGNING_DEMO_DIR": str(folder)})
    accounts = [SimpleNamespace(username=u, full_name=engine.person(u).full_name,
                                password=DEMO_PASSWORD) for u in sorted(set(usernames))]
    with engine._writer.begin() as session:
        seed_demo_certificates(session, folder, accounts, now=engine.clock())
    return app


def client(app: Any, username: str) -> WebClient:
    """Return a web client signed in as ``username``."""
    web = WebClient(app.test_client())
    assert web.login(username).status_code == 302
    return web


def signatures(engine: Any) -> list[DocumentSignatureRow]:
    """Every signature line signed so far, oldest first."""
    with engine._reader() as session:
        return list(session.query(DocumentSignatureRow).order_by(DocumentSignatureRow.id))
