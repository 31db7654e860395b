"""A real SMTP server for the tests (aiosmtpd on a loopback port) that insists on STARTTLS and
AUTH, and keeps every accepted message with how its session was secured."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.tls_cert import ServerCertificate, make_server_certificate

SMTP_USER = "cauce"
SMTP_PASSWORD = "clave-smtp-de-prueba"


@dataclass
class Received:
    """One accepted message and the session it came in."""

    sender: str
    recipients: list[str]
    message: Message
    tls: bool
    login: str | None

    def text(self) -> str:
        """Return every text part, decoded."""
        parts = []
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_payload(decode=True).decode(
                    part.get_content_charset() or "utf-8"))
        return "\n".join(parts)


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.authenticated else None
        item = Received(envelope.mail_from, list(envelope.rcpt_tos),
                        email.message_from_bytes(envelope.original_content,
                                                 policy=email.policy.default),
                        session.ssl is not None, login)
        with self.lock:
            self.received.append(item)
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """aiosmtpd requiring STARTTLS then AUTH; ``stop()``/``start()`` simulate an outage."""

    def __init__(self, directory: Path, port: int | None = None):
        self.certificate: ServerCertificate = make_server_certificate(directory)
        self.port = port or free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        """Return the messages accepted so far."""
        with self.handler.lock:
            return list(self.handler.received)

    def start(self) -> None:
        """Listen on the port."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate.cert_file, self.certificate.key_file)
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10,
            tls_context=context, require_starttls=True, auth_required=True,
            auth_require_tls=True, authenticator=_authenticate)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening (the next connection is refused)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Return Cauce's ``CAUCE_SMTP_*`` configuration for this server."""
        return {"CAUCE_SMTP_HOST": "127.0.0.1", "CAUCE_SMTP_PORT": self.port,
                "CAUCE_SMTP_USER": SMTP_USER, "CAUCE_SMTP_PASSWORD": SMTP_PASSWORD,
                "CAUCE_SMTP_STARTTLS": "1", "CAUCE_SMTP_CA_FILE": str(self.certificate.ca_file),
                "CAUCE_SMTP_FROM": "cauce@iess.test", **overrides}


def give_everyone_an_address(engine: Any) -> None:
    """Register ``<username>@iess.test`` for every person (demo people have no address)."""
    from sqlalchemy import text

    with engine.sql.begin() as connection:
        connection.execute(text("UPDATE person SET email = username || '@iess.test'"))


def addressees(server: SmtpServer) -> list[str]:
    """Return the recipients of every accepted message, sorted."""
    return sorted(r for item in server.received for r in item.recipients)
