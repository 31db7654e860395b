"""Signed checkpoints of every case's log head, kept outside the database.

A hash chain proves that nothing in the middle of a log changed, but not that its newest events
are still there, nor that someone with database access did not rewrite a whole chain (and the
case row) consistently. A checkpoint fixes, at one moment, each case's (number, last seq, head
hash) and a Merkle root over all of them, signed with an Ed25519 key that lives in a file, not in
the database; checkpoints go to a directory, one JSON file each, each naming the hash of the one
before it, so the checkpoint log is itself a chain. Comparing the database with the checkpoints
finds truncated tails, deleted cases and rewritten chains.

To keep the log small a checkpoint lists only the cases whose head moved since the previous one
(a case's head is the latest claim about it); the Merkle root covers every case, so each file
also proves the whole state it completes. Nothing is written when no case moved.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from .audit import canonical_json
from .store import CaseEventRow, CaseRow

FORMAT = "cauce-checkpoint/1"
_NAME = "checkpoint-{:06d}.json"
_CLAIM_BATCH = 500


@dataclass(frozen=True)
class CaseHead:
    """A case's log head as a checkpoint records it."""

    case_id: int
    number: str
    last_seq: int
    head: str  # hex SHA-256 of the event at last_seq

    def leaf(self) -> bytes:
        """Return this head's Merkle leaf."""
        content = canonical_json([self.case_id, self.number, self.last_seq, self.head])
        return hashlib.sha256(b"\x00" + content.encode("utf-8")).digest()


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint as written to (or read from) the checkpoint log."""

    number: int
    created_at: str
    previous: str | None
    merkle_root: str
    case_count: int
    changed: tuple[CaseHead, ...]
    hash: str
    path: Path


@dataclass(frozen=True)
class Finding:
    """Something the checkpoints prove wrong: with the database, or with the checkpoints."""

    kind: str  # truncated | deleted | rewritten | checkpoint
    detail: str
    case_id: int | None = None
    case_number: str | None = None
    seq: int | None = None


def merkle_root(heads: Iterable[CaseHead]) -> str:
    """Return the hex Merkle root over heads in case-id order (odd nodes move up unpaired)."""
    level = [h.leaf() for h in sorted(heads, key=lambda h: h.case_id)]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        paired = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
                  for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()


def case_heads(session: Session) -> list[CaseHead]:
    """Return every case's head as its row records it (one statement, one snapshot)."""
    rows = session.execute(select(CaseRow.id, CaseRow.number, CaseRow.last_seq, CaseRow.last_hash)
                           .order_by(CaseRow.id))
    return [CaseHead(case_id, number, last_seq, bytes(last_hash).hex())
            for case_id, number, last_seq, last_hash in rows]


class CheckpointLog:
    """The checkpoint directory and the signing key (a file outside the database)."""

    def __init__(self, directory: str | Path, key_path: str | Path):
        self.directory = Path(directory)
        self.key_path = Path(key_path)

    # -- the key ------------------------------------------------------------------------------

    def private_key(self) -> Ed25519PrivateKey:
        """Return the signing key, creating it (mode 0600) on first use."""
        if not self.key_path.exists():
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            try:
                # O_EXCL: two workers starting at once must not each write a different key.
                fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
        loaded = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{self.key_path} no es una clave Ed25519")
        return loaded

    def public_key(self) -> Ed25519PublicKey:
        """Return the key that checkpoints are verified with."""
        return self.private_key().public_key()

    # -- reading ------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """Return the checkpoint files in order."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("checkpoint-*.json"))

    def read(self, path: Path) -> dict[str, Any]:
        """Return a checkpoint file's content."""
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def latest(self) -> Checkpoint | None:
        """Return the newest checkpoint, or None if there is none."""
        files = self.files()
        return _checkpoint(self.read(files[-1]), files[-1]) if files else None

    def known_heads(self) -> dict[int, CaseHead]:
        """Return the latest checkpointed head of every case the checkpoints name."""
        heads: dict[int, CaseHead] = {}
        for path in self.files():
            for head in _heads(self.read(path)):
                heads[head.case_id] = head
        return heads

    # -- writing ------------------------------------------------------------------------------

    def append(self, heads: list[CaseHead], now: datetime) -> Checkpoint | None:
        """Write a checkpoint of ``heads`` unless no case moved since the last one."""
        files = self.files()
        known: dict[int, CaseHead] = {}
        previous: dict[str, Any] | None = None
        for path in files:
            previous = self.read(path)
            for head in _heads(previous):
                known[head.case_id] = head
        current = {h.case_id: h for h in heads}
        changed = [h for h in heads if known.get(h.case_id) != h]
        # A case the checkpoints know but the database lacks stays in the state as it was:
        # verification reports it as deleted; a checkpoint never launders a deletion.
        state = {**known, **current}
        if previous is not None and not changed:
            return None
        key = self.private_key()
        body: dict[str, Any] = {
            "format": FORMAT,
            "number": int(previous["number"]) + 1 if previous else 1,
            "created_at": now.isoformat(timespec="microseconds"),
            "previous": _file_hash(previous) if previous else None,
            "case_count": len(state),
            "merkle_root": merkle_root(state.values()),
            "cases": [[h.case_id, h.number, h.last_seq, h.head] for h in changed],
            "public_key": key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex(),
        }
        body["signature"] = key.sign(canonical_json(body).encode("utf-8")).hex()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / _NAME.format(body["number"])
        # "x": a second writer racing for the same number fails instead of overwriting.
        with path.open("x", encoding="utf-8") as handle:
            handle.write(json.dumps(body, ensure_ascii=False, indent=0))
        return _checkpoint(body, path)

    # -- verifying ----------------------------------------------------------------------------

    def check_log(self) -> tuple[list[Finding], dict[int, CaseHead], Checkpoint | None]:
        """Check every checkpoint's signature, its link to the one before and its root.

        Return the findings, the latest head per case and the newest checkpoint.
        """
        findings: list[Finding] = []
        state: dict[int, CaseHead] = {}
        public = self.public_key()
        previous_hash: str | None = None
        last: Checkpoint | None = None
        for index, path in enumerate(self.files(), start=1):
            try:
                body = self.read(path)
                number = int(body["number"])
                signature = bytes.fromhex(body["signature"])
                heads = _heads(body)
            except (ValueError, KeyError, TypeError, OSError):
                findings.append(Finding("checkpoint", f"el checkpoint {path.name} está dañado "
                                                      "y no se puede leer"))
                previous_hash = None
                continue
            unsigned = {k: v for k, v in body.items() if k != "signature"}
            try:
                public.verify(signature, canonical_json(unsigned).encode("utf-8"))
            except InvalidSignature:
                findings.append(Finding("checkpoint", f"la firma del checkpoint {number} no es "
                                                      "válida: fue alterado o firmado con otra "
                                                      "clave"))
            if number != index:
                findings.append(Finding("checkpoint", f"falta un checkpoint antes del {number} "
                                                      f"(se esperaba el {index})"))
            elif body.get("previous") != previous_hash:
                findings.append(Finding("checkpoint", f"el checkpoint {number} no enlaza con el "
                                                      "anterior: la cadena de checkpoints está "
                                                      "rota"))
            for head in heads:
                state[head.case_id] = head
            if merkle_root(state.values()) != body.get("merkle_root"):
                findings.append(Finding("checkpoint", f"la raíz de Merkle del checkpoint {number} "
                                                      "no corresponde a los casos que registra"))
            previous_hash = _file_hash(body)
            last = _checkpoint(body, path)
        return findings, state, last


def compare(session: Session, heads: Mapping[int, CaseHead]) -> list[Finding]:
    """Compare the database with checkpointed heads: truncated, deleted or rewritten logs."""
    findings: list[Finding] = []
    rows = {case_id: (number, last_seq) for case_id, number, last_seq in session.execute(
        select(CaseRow.id, CaseRow.number, CaseRow.last_seq))}
    claims = sorted(heads.values(), key=lambda h: h.case_id)
    # Same id, other number: SQLite may give a deleted case's id to the next new case.
    present = [h for h in claims if h.case_id in rows and rows[h.case_id][0] == h.number]
    for head in claims:
        if head.case_id not in rows or rows[head.case_id][0] != head.number:
            findings.append(Finding(
                "deleted", f"el caso {head.number} ya no está en la base de datos (el checkpoint "
                           f"registra {head.last_seq} eventos)",
                case_id=head.case_id, case_number=head.number, seq=head.last_seq))
    hashes: dict[tuple[int, int], bytes] = {}
    last_seqs: dict[int, int] = {}
    for start in range(0, len(present), _CLAIM_BATCH):
        batch = present[start:start + _CLAIM_BATCH]
        pairs = [(h.case_id, h.last_seq) for h in batch]
        for case_id, seq, digest in session.execute(
                select(CaseEventRow.case_id, CaseEventRow.seq, CaseEventRow.hash)
                .where(tuple_(CaseEventRow.case_id, CaseEventRow.seq).in_(pairs))):
            hashes[(case_id, seq)] = bytes(digest)
        for case_id, top in session.execute(
                select(CaseEventRow.case_id, func.max(CaseEventRow.seq))
                .where(CaseEventRow.case_id.in_([h.case_id for h in batch]))
                .group_by(CaseEventRow.case_id)):
            last_seqs[case_id] = int(top)
    for head in present:
        number = rows[head.case_id][0]
        logged = last_seqs.get(head.case_id, 0)
        found = hashes.get((head.case_id, head.last_seq))
        if found is None:
            findings.append(Finding(
                "truncated", f"al caso {number} le faltan eventos: el checkpoint registra "
                             f"{head.last_seq} y la base de datos tiene {logged}",
                case_id=head.case_id, case_number=number, seq=logged + 1))
        elif found.hex() != head.head:
            findings.append(Finding(
                "rewritten", f"la cadena del caso {number} fue reescrita: el evento "
                             f"{head.last_seq} no es el que registra el checkpoint",
                case_id=head.case_id, case_number=number, seq=head.last_seq))
    return findings


def _heads(body: Mapping[str, Any]) -> list[CaseHead]:
    return [CaseHead(int(c[0]), str(c[1]), int(c[2]), str(c[3])) for c in body["cases"]]


def _file_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(body)).encode("utf-8")).hexdigest()


def _checkpoint(body: Mapping[str, Any], path: Path) -> Checkpoint:
    return Checkpoint(number=int(body["number"]), created_at=str(body["created_at"]),
                      previous=body.get("previous"), merkle_root=str(body["merkle_root"]),
                      case_count=int(body["case_count"]), changed=tuple(_heads(body)),
                      hash=_file_hash(body), path=path)
