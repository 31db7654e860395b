"""Cauce as real processes on loopback: app servers and timer workers against one database, a
private PostgreSQL server in a temporary directory, and a small JSON client for the HTTP API.

Every process is started with its own log file; a test that fails can show the tail of it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """Return a loopback TCP port nobody listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cauce_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment every Cauce process of one deployment shares."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAUCE_", "TEST_"))}
    env.update({
        "DATABASE_URL": database_url, "FLASK_APP": "app",
        # One key for every process: a cookie or token made by one is good on the others.
        "SECRET_KEY": "clave-compartida-de-las-pruebas-multiproceso",
        "CAUCE_DOCUMENTS_DIR": str(workdir / "documents"), "CAUCE_SEEDS_DIR": "",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@dataclass
class Service:
    """One long-running process (an app server or a worker) that can be killed and restarted."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Service:
        """Start the process (its output appended to its log)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.starts += 1
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> Service:
        """Wait until the server answers ``/salud`` (a server), or fail with its log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(self.url + "/salud", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer in {timeout} s:\n" + self.log_tail())

    def pids(self) -> list[int]:
        """The process and its children (gunicorn's workers), as the kernel lists them."""
        if self.process is None:
            return []
        found = [self.process.pid]
        for status in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(status).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(status.split("/")[2]))
        return found

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)

    def stop(self) -> None:
        """Ask the process to finish (SIGTERM), then make sure it did."""
        self.kill(signal.SIGTERM)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def app_server(name: str, env: dict[str, str], workdir: Path, *, port: int | None = None,
               workers: int = 0, threads: int = 8) -> Service:
    """An app server on a free port: waitress (``workers=0``) or gunicorn with N workers."""
    port = port or free_port()
    if workers:
        command = [str(BIN / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
                   "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5",
                   "app:create_app()"]
    else:
        command = [str(BIN / "waitress-serve"), f"--listen=127.0.0.1:{port}",
                   f"--threads={threads}", "--call", "app:create_app"]
    return Service(name, command, env, workdir / f"{name}.log", port=port)


def timer_worker(name: str, env: dict[str, str], workdir: Path,
                 interval: float = 0.5) -> Service:
    """A ``flask worker`` process firing due timers every ``interval`` seconds."""
    command = [str(BIN / "flask"), "--app", "app", "worker", "--interval", str(interval)]
    return Service(name, command, env, workdir / f"{name}.log")


def call(base: str, method: str, path: str, *, token: str | None = None,
         body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
    """Call the JSON API; return (status, decoded body or None). Network errors raise OSError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
            content_type = answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as failure:
        status, raw = failure.code, failure.read()
        content_type = failure.headers.get("Content-Type", "")
    if "json" in content_type and raw:
        return status, json.loads(raw)
    return status, raw.decode(errors="replace") if raw else None


def login(base: str, username: str, password: str) -> str:
    """Sign in through the API and return the bearer token."""
    status, body = call(base, "POST", "/api/login",
                        body={"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"sign-in of {username} failed: {status} {body}")
    return str(body["token"])


def postgres_binaries() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of our own: ``initdb`` in a temp dir, on a free loopback port.

    Never the machine's own server: its data directory, socket and port are private, and it is
    stopped (and its files removed with the temp dir) when the run ends.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    bin_dir: Path | None = field(default_factory=postgres_binaries)
    max_connections: int = 200

    @property
    def data_dir(self) -> Path:
        return self.workdir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/cauce"

    def _run(self, *args: str) -> None:
        assert self.bin_dir is not None, "no PostgreSQL binaries"
        # initdb and the server refuse to run as root: run them as the owner of the temp dir.
        subprocess.run([str(self.bin_dir / args[0]), *args[1:]], check=True, cwd=self.workdir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=self._demote)

    def _demote(self) -> None:  # pragma: no cover - runs in the child
        if os.getuid() == 0:
            import pwd

            user = pwd.getpwnam(_unprivileged_user())
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    def init(self) -> PrivatePostgres:
        """Create the cluster (trust on loopback only) and the ``cauce`` database."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            import pwd

            user = pwd.getpwnam(_unprivileged_user())
            for path in (self.workdir,):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-instructions")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "cauce")
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories='{self.workdir}' "
                   f"-c max_connections={self.max_connections} -c fsync=off")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.workdir / "postgres.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, close connections)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()


def _unprivileged_user() -> str:
    return os.environ.get("CAUCE_PG_USER", "postgres")
