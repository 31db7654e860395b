"""Fixtures shared by the integration tests that talk to a real server the tests start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from tests.ldap_server import LdapServer
from tests.smtp_server import SmtpServer


class _Startable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


Server = TypeVar("Server", bound=_Startable)


def _running(server: Server) -> Iterator[Server]:
    """Start the server for one test and stop it afterwards, whatever the test's outcome."""
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd, STARTTLS + AUTH) on a loopback port."""
    yield from _running(SmtpServer(tmp_path / "smtp"))


@pytest.fixture
def ldap(tmp_path: Path) -> Iterator[LdapServer]:
    """A real OpenLDAP slapd on a loopback port (StartTLS required for binds)."""
    yield from _running(LdapServer(tmp_path / "slapd"))
