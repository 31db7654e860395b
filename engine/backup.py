"""Backups: one portable ZIP file with every table and every document, restorable into an empty
SQLite or PostgreSQL database (either way round), then checked case by case.

Layout of the file::

    cauce-backup.json          manifest: format, version, source, rows and SHA-256 per table
    tables/<table>.jsonl       one JSON object per row (bytes as base64, instants as ISO 8601)
    documents/ab/cd/<sha256>   the attachments, named by the hash of their content

The database is read as one consistent snapshot (SQLite: a copy made with its online backup
API; PostgreSQL: one REPEATABLE READ transaction) and the documents are copied *after* it: a
document is written before the row that refers to it, so every document the snapshot names is
already on disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine as SqlEngine

from . import schema, verification
from .documents import DocumentStore
from .errors import CauceError
from .store import Base

FORMAT = "cauce-backup"
FORMAT_VERSION = 1
MANIFEST = "cauce-backup.json"
BATCH = 500
# Written by the library publication every start-up does; a database holding only these is empty.
PUBLICATION_TABLES = ("process", "process_version")
# The state of running processes, not of the institution: a restored heartbeat would vouch for a
# worker that is not there.
EPHEMERAL_TABLES = ("worker_heartbeat",)

Progress = Callable[[str, int, int], None]


class BackupError(CauceError):
    """The backup cannot be written or restored (the message says why, in Spanish)."""

    code = "backup_error"


@dataclass(frozen=True)
class BackupSummary:
    """What a backup or a restore moved."""

    rows: dict[str, int]
    documents: int
    document_bytes: int
    source: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseProblem:
    """A case whose log does not check out after a restore."""

    case_number: str
    reason: str


@dataclass(frozen=True)
class Verification:
    """The outcome of replaying every case and checking its hash chain."""

    cases: int
    problems: tuple[CaseProblem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Tell whether every case checked out."""
        return not self.problems


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in EPHEMERAL_TABLES]


# -- writing ---------------------------------------------------------------------------------


def write_backup(sql: SqlEngine, documents_root: Path, target: Path,
                 progress: Progress | None = None) -> BackupSummary:
    """Write a consistent backup of the database and the documents to ``target``."""
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    rows: dict[str, int] = {}
    checksums: dict[str, str] = {}
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with _snapshot(sql) as connection:
                tables = _tables()
                for number, table in enumerate(tables, start=1):
                    rows[table.name], checksums[table.name] = _write_table(
                        archive, connection, table)
                    if progress:
                        progress("Tablas", number, len(tables))
            documents, size = _write_documents(archive, documents_root, progress)
            manifest = {
                "format": FORMAT, "version": FORMAT_VERSION, "source": sql.dialect.name,
                "created_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                "tables": {name: {"rows": rows[name], "sha256": checksums[name],
                                  "columns": [c.name for c in Base.metadata.tables[name].columns]}
                           for name in rows},
                "documents": {"files": documents, "bytes": size},
            }
            archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupSummary(rows=rows, documents=documents, document_bytes=size,
                         source=sql.dialect.name)


class _snapshot:
    """A connection that sees one instant of the database for as long as it is open."""

    def __init__(self, sql: SqlEngine):
        self.sql = sql
        self._copy: SqlEngine | None = None
        self._folder: str | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> Connection:
        if self.sql.dialect.name == "sqlite":
            # SQLite's online backup API copies a consistent image while others keep writing;
            # reading the copy then holds no lock on the live database.
            self._folder = tempfile.mkdtemp(prefix="cauce-backup-")
            copy_path = Path(self._folder) / "snapshot.db"
            source = self.sql.raw_connection()
            try:
                destination = sqlite3.connect(copy_path)
                try:
                    source.driver_connection.backup(destination)  # type: ignore[union-attr]
                finally:
                    destination.close()
            finally:
                source.close()
            from .store import connect

            self._copy = connect(f"sqlite:///{copy_path}")
            self._connection = self._copy.connect()
        else:
            # Every table read in one transaction sees the same committed instant.
            self._connection = self.sql.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True)
        return self._connection

    def __exit__(self, *_exc: Any) -> None:
        if self._connection is not None:
            self._connection.rollback()
            self._connection.close()
        if self._copy is not None:
            self._copy.dispose()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def _write_table(archive: zipfile.ZipFile, connection: Connection,
                 table: Table) -> tuple[int, str]:
    digest, count = hashlib.sha256(), 0
    order = list(table.primary_key.columns) or list(table.columns)
    result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
        select(table).order_by(*order))
    with archive.open(f"tables/{table.name}.jsonl", "w") as out:
        for row in result.mappings():
            line = (json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False,
                               separators=(",", ":")) + "\n").encode("utf-8")
            digest.update(line)
            out.write(line)
            count += 1
    return count, digest.hexdigest()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _document_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        # Only finished files: a write in progress is a temporary name beside its target.
        if path.is_file() and len(path.name) == 64 and path.parent.parent.parent == root:
            yield path


def _write_documents(archive: zipfile.ZipFile, root: Path,
                     progress: Progress | None) -> tuple[int, int]:
    files = list(_document_files(Path(root)))
    size = 0
    for number, path in enumerate(files, start=1):
        # Stored, not deflated: PDFs, images and office files are compressed already.
        archive.write(path, f"documents/{path.relative_to(root).as_posix()}",
                      compress_type=zipfile.ZIP_STORED)
        size += path.stat().st_size
        if progress:
            progress("Documentos", number, len(files))
    return len(files), size


# -- restoring -------------------------------------------------------------------------------


def restore_backup(sql: SqlEngine, documents: DocumentStore, source: Path,
                   progress: Progress | None = None) -> BackupSummary:
    """Load a backup into an empty database (one transaction) and its documents to disk."""
    try:
        archive = zipfile.ZipFile(Path(source))
    except (OSError, zipfile.BadZipFile) as error:
        raise BackupError(f"No se pudo abrir la copia {Path(source).name}: no es un archivo de "
                          "copia de Cauce o está dañada") from error
    with archive:
        manifest = _manifest(archive)
        known = {t.name: t for t in _tables()}
        unknown = sorted(set(manifest["tables"]) - set(known))
        if unknown:
            raise BackupError("La copia tiene tablas que esta versión de Cauce no conoce: "
                              + ", ".join(unknown))
        rows: dict[str, int] = {}
        with sql.begin() as connection:
            _require_empty(connection)
            tables = [t for t in _tables() if t.name in manifest["tables"]]
            for number, table in enumerate(tables, start=1):
                rows[table.name] = _restore_table(archive, connection, table,
                                                  manifest["tables"][table.name])
                if progress:
                    progress("Tablas", number, len(tables))
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection, tables)
            # The restored rows have this code's schema: say so (alembic_version is no model).
            schema.stamp_head(connection)
        count, size, problems = _restore_documents(archive, documents, progress)
    return BackupSummary(rows=rows, documents=count, document_bytes=size,
                         source=str(manifest.get("source")), problems=tuple(problems))


def _manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except (KeyError, ValueError) as error:
        raise BackupError("El archivo no es una copia de Cauce (le falta su índice "
                          f"{MANIFEST})") from error
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("tables"), dict):
        raise BackupError("El archivo no es una copia de Cauce")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"La copia tiene el formato {manifest.get('version')}; esta versión "
                          f"de Cauce restaura el formato {FORMAT_VERSION}")
    return dict(manifest)


def _require_empty(connection: Connection) -> None:
    filled = []
    for table in _tables():
        if table.name in PUBLICATION_TABLES:
            continue
        if connection.execute(select(func.count()).select_from(table)).scalar_one():
            filled.append(table.name)
    if filled:
        raise BackupError("La base de datos de destino no está vacía (tiene datos en "
                          f"{', '.join(filled[:5])}{'…' if len(filled) > 5 else ''}): "
                          "restaure en una base de datos nueva")
    # What start-up published comes back from the backup, with the ids the cases refer to.
    for name in PUBLICATION_TABLES:  # the process first: it points at its versions
        connection.execute(Base.metadata.tables[name].delete())


def _restore_table(archive: zipfile.ZipFile, connection: Connection, table: Table,
                   expected: dict[str, Any]) -> int:
    member = f"tables/{table.name}.jsonl"
    decoders = {c.name: _decoder(c.type) for c in table.columns}
    digest, count, batch = hashlib.sha256(), 0, []
    try:
        stream = archive.open(member)
    except KeyError as error:
        raise BackupError(f"La copia está incompleta: falta {member}") from error
    with stream:
        for line in stream:
            digest.update(line)
            record = json.loads(line)
            extra = set(record) - set(decoders)
            if extra:
                raise BackupError(f"La copia tiene columnas desconocidas en {table.name}: "
                                  + ", ".join(sorted(extra)))
            batch.append({k: decoders[k](v) for k, v in record.items()})
            count += 1
            if len(batch) >= BATCH:
                connection.execute(table.insert(), batch)
                batch = []
    if batch:
        connection.execute(table.insert(), batch)
    # Checked after reading, before the transaction commits: a damaged file restores nothing.
    if digest.hexdigest() != expected.get("sha256") or count != expected.get("rows"):
        raise BackupError(f"La copia está dañada: {member} no coincide con su suma de control")
    return count


def _decoder(column_type: Any) -> Callable[[Any], Any]:
    try:
        # A TypeDecorator (UtcDateTime, ExactDecimal) says "object": its stored type knows.
        kind = getattr(column_type, "impl_instance", column_type).python_type
    except NotImplementedError:
        kind = object
    if kind is bytes:
        return lambda v: None if v is None else base64.b64decode(v)
    if kind is datetime:
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if kind is date:
        return lambda v: None if v is None else date.fromisoformat(v)
    if kind is Decimal:
        return lambda v: None if v is None else Decimal(v)
    return lambda v: v


def _reset_sequences(connection: Connection, tables: Sequence[Table]) -> None:
    # Rows came with their ids: the next id each table hands out must follow the largest one.
    for table in tables:
        for column in table.primary_key.columns:
            if len(table.primary_key.columns) != 1 or column.type.python_type is not int:
                continue
            sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {
                "t": f'"{table.name}"', "c": column.name}).scalar_one()
            if sequence:
                connection.execute(text(
                    f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") '
                    f'FROM "{table.name}"), 0) + 1, false)'), {"s": sequence})


def _restore_documents(archive: zipfile.ZipFile, documents: DocumentStore,
                       progress: Progress | None) -> tuple[int, int, list[str]]:
    members = [m for m in archive.infolist()
               if m.filename.startswith("documents/") and not m.is_dir()]
    problems, size = [], 0
    for number, member in enumerate(members, start=1):
        name = member.filename.rsplit("/", 1)[-1]
        data = archive.read(member)
        # The name is the content's hash: a changed file is found, never stored under it.
        if hashlib.sha256(data).hexdigest() != name:
            problems.append(f"el documento {name[:12]}… no coincide con su hash; no se restauró")
        else:
            documents.put(data)
            size += len(data)
        if progress:
            progress("Documentos", number, len(members))
    return len(members) - len(problems), size, problems


# -- verifying -------------------------------------------------------------------------------


def verify_cases(reader: Callable[[], Any], replay: Callable[[int], Any],
                 progress: Progress | None = None) -> Verification:
    """Prove every case the way ``flask verify`` does; collect the ones that do not check out.

    A disposed case has no content left to re-execute: engine/verification.py proves it by its
    acta's tombstone, and so does this check after a restore.
    """
    checks = verification.check_cases(reader, replay, progress=progress)
    # The restore summary names each case's first problem (where its log first goes wrong);
    # ``flask verify`` stores them all.
    problems = tuple(CaseProblem(c.case_number or "", (c.problem or c.kind).split("; ")[0])
                     for c in checks if not c.ok)
    return Verification(cases=len(checks), problems=problems)
