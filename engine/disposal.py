"""Disposal of closed cases past retention: the *acta de eliminación* and the tombstones it keeps.

Disposal is an explicit act by a procedure's owner (``oversight.owner``), never automatic. One
acta erases the personal content of the cases it lists — their data (requester, subject, final
data), the payload of every event of their logs (the forms people filled), their documents'
files — and keeps a tombstone per case inside the acta: the case number, procedure, the log's
head hash, each event's chain hash and the SHA-256 of its erased payload, each document's SHA-256.

Why the chain still verifies: an event's row keeps its hash; only its payload becomes a marker
naming the acta. Verification checks a disposed case's rows against the hashes its acta
recorded, and the actas form their own hash chain (each acta's hash covers its content and the
previous acta's hash), so changing a tombstone — or the rows it vouches for — is detected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit
from .store import (
    Base,
    CaseEventRow,
    CaseRow,
    DocumentRefRow,
    DocumentRow,
    install_append_only_guards,
)

MARKER = "eliminado_por_acta"


class DisposalActRow(Base):
    """An acta de eliminación: who disposed of which cases, when, on what legal basis."""

    __tablename__ = "disposal_act"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime]
    by_username: Mapped[str] = mapped_column(String(100))
    by_name: Mapped[str] = mapped_column(String(300))
    by_role: Mapped[str] = mapped_column(String(300))
    legal_basis: Mapped[str] = mapped_column(Text)
    # One tombstone per case (see module docstring), sealed by ``hash``.
    cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class DisposedCaseRow(Base):
    """Which acta disposed of a case (the tombstone itself is in the acta)."""

    __tablename__ = "disposed_case"
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True)
    act_id: Mapped[int] = mapped_column(ForeignKey("disposal_act.id"), index=True)


@dataclass(frozen=True)
class Tombstone:
    """What remains of a disposed case."""

    case_id: int
    number: str
    process_id: str
    head_hash: str
    events: tuple[tuple[int, str, str], ...]  # (seq, chain hash, sha256 of erased payload)
    documents: tuple[str, ...]


@dataclass(frozen=True)
class DisposalAct:
    """An acta as people read and print it."""

    number: str
    seq: int
    at: datetime
    by_username: str
    by_name: str
    by_role: str
    legal_basis: str
    hash: str
    tombstones: tuple[Tombstone, ...]


class DisposalRefused(Exception):
    """A case cannot be disposed of (named, with why)."""


def act_hash(previous: bytes, *, number: str, seq: int, at: datetime, by_username: str,
             by_role: str, legal_basis: str, cases: Any) -> bytes:
    """Return the hash that seals an acta to its content and to the acta before it."""
    content = audit.canonical_json({
        "number": number, "seq": seq, "at": at.isoformat(timespec="microseconds"),
        "by": by_username, "role": by_role, "basis": legal_basis, "cases": cases})
    return hashlib.sha256(previous + content.encode("utf-8")).digest()


def _payload_digest(data: Any) -> str:
    return hashlib.sha256(audit.canonical_json(data).encode("utf-8")).hexdigest()


def _suspend_guard(session: Session) -> None:
    # The append-only guard refuses every UPDATE of the log; disposal is the one sanctioned
    # rewrite (payloads only, hashes kept), inside this transaction, the guard back before commit.
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        session.execute(text("DROP TRIGGER IF EXISTS case_event_no_update"))
    elif dialect == "postgresql":
        session.execute(text("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only"))


def _restore_guard(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE case_event ENABLE TRIGGER case_event_append_only"))
    else:
        install_append_only_guards(session.connection())


def dispose(session: Session, cases: Sequence[CaseRow], *, at: datetime, by_username: str,
            by_name: str, by_role: str, legal_basis: str, final_state: bytes,
            delete_file: Callable[[str], None]) -> DisposalAct:
    """Erase the cases' personal content, keep their tombstones in a new acta; return it."""
    tombstones: list[dict[str, Any]] = []
    orphans: set[str] = set()
    for case in cases:
        rows = session.scalars(select(CaseEventRow).where(CaseEventRow.case_id == case.id)
                               .order_by(CaseEventRow.seq)).all()
        events = [[row.seq, bytes(row.hash).hex(), _payload_digest(row.data)] for row in rows]
        refs = session.scalars(select(DocumentRefRow)
                               .where(DocumentRefRow.case_id == case.id)).all()
        documents = sorted({ref.sha256 for ref in refs})
        tombstones.append({"case_id": case.id, "number": case.number,
                           "process_id": case.process_id,
                           "head_hash": bytes(case.last_hash).hex(),
                           "events": events, "documents": documents})
        for ref in refs:
            session.delete(ref)
        orphans.update(documents)
    session.flush()
    previous = session.scalars(select(DisposalActRow).order_by(DisposalActRow.seq.desc())
                               .limit(1)).first()
    seq = previous.seq + 1 if previous else 1
    number = f"AE-{at.year}-{seq:04d}"
    _suspend_guard(session)
    try:
        for case in cases:
            session.execute(update(CaseEventRow).where(CaseEventRow.case_id == case.id)
                            .values(data={MARKER: number})
                            .execution_options(synchronize_session=False))
            case.requester = None
            case.subject = None
            case.state = final_state
        session.flush()
    finally:
        _restore_guard(session)
    digest = act_hash(bytes(previous.hash) if previous else audit.GENESIS, number=number,
                      seq=seq, at=at, by_username=by_username, by_role=by_role,
                      legal_basis=legal_basis, cases=tombstones)
    act = DisposalActRow(number=number, seq=seq, at=at, by_username=by_username,
                         by_name=by_name, by_role=by_role, legal_basis=legal_basis,
                         cases=tombstones, hash=digest)
    session.add(act)
    session.flush()
    for case in cases:
        session.add(DisposedCaseRow(case_id=case.id, act_id=act.id))
    session.flush()
    still_used = set(session.scalars(select(DocumentRefRow.sha256)
                                     .where(DocumentRefRow.sha256.in_(sorted(orphans)))))
    for sha256 in sorted(orphans - still_used):
        row = session.get(DocumentRow, sha256)
        if row is not None:
            session.delete(row)
        delete_file(sha256)
    return to_view(act)


def to_view(row: DisposalActRow) -> DisposalAct:
    """Return an acta row as its view."""
    return DisposalAct(
        row.number, row.seq, row.at, row.by_username, row.by_name, row.by_role,
        row.legal_basis, bytes(row.hash).hex(),
        tuple(Tombstone(c["case_id"], c["number"], c["process_id"], c["head_hash"],
                        tuple((int(s), h, p) for s, h, p in c["events"]),
                        tuple(c["documents"])) for c in row.cases))


def disposed_numbers(session: Session, case_ids: Iterable[int]) -> dict[int, str]:
    """Return, for the disposed cases among ``case_ids``, the number of their acta."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    return dict(session.execute(
        select(DisposedCaseRow.case_id, DisposalActRow.number)
        .join(DisposalActRow, DisposalActRow.id == DisposedCaseRow.act_id)
        .where(DisposedCaseRow.case_id.in_(ids))).all())


@dataclass(frozen=True)
class TombstoneCheck:
    """The outcome of checking one disposed case against its acta."""

    ok: bool
    seq: int | None = None
    problem: str | None = None


def check_disposed(session: Session, case_ids: Iterable[int]) -> dict[int, TombstoneCheck]:
    """Check each disposed case among ``case_ids``: its acta's chain and its rows' hashes."""
    wanted = set(case_ids)
    links = dict(session.execute(select(DisposedCaseRow.case_id, DisposedCaseRow.act_id)
                                 .where(DisposedCaseRow.case_id.in_(sorted(wanted)))).all())
    if not links:
        return {}
    broken_acts: dict[int, str] = {}
    previous = audit.GENESIS
    acts: dict[int, DisposalActRow] = {}
    for expected, row in enumerate(session.scalars(select(DisposalActRow)
                                                   .order_by(DisposalActRow.seq)), start=1):
        acts[row.id] = row
        recomputed = act_hash(previous, number=row.number, seq=row.seq, at=row.at,
                              by_username=row.by_username, by_role=row.by_role,
                              legal_basis=row.legal_basis, cases=row.cases)
        if row.seq != expected or recomputed != bytes(row.hash):
            broken_acts[row.id] = (f"el acta {row.number} fue alterada: su hash no "
                                   "corresponde a su contenido")
        previous = bytes(row.hash)
    results: dict[int, TombstoneCheck] = {}
    for case_id, act_id in links.items():
        act = acts.get(act_id)
        if act is None:
            results[case_id] = TombstoneCheck(False, None, "el acta de eliminación no existe")
            continue
        if act_id in broken_acts:
            results[case_id] = TombstoneCheck(False, None, broken_acts[act_id])
            continue
        stone = next((c for c in act.cases if c["case_id"] == case_id), None)
        if stone is None:
            results[case_id] = TombstoneCheck(
                False, None, f"el acta {act.number} no incluye este caso")
            continue
        rows = session.execute(select(CaseEventRow.seq, CaseEventRow.hash, CaseEventRow.data)
                               .where(CaseEventRow.case_id == case_id)
                               .order_by(CaseEventRow.seq)).all()
        recorded = [(int(s), h) for s, h, _p in stone["events"]]
        found = [(int(r.seq), bytes(r.hash).hex()) for r in rows]
        first_bad = next((i for i, (a, b) in enumerate(zip(recorded, found, strict=False))
                          if a != b), None)
        if first_bad is not None or len(recorded) != len(found):
            index = first_bad if first_bad is not None else min(len(recorded), len(found))
            seq = (recorded[index][0] if index < len(recorded) else found[index][0])
            results[case_id] = TombstoneCheck(
                False, seq, f"el evento {seq} no es el que el acta {act.number} registró")
            continue
        leftover = next((int(r.seq) for r in rows if r.data != {MARKER: act.number}), None)
        if leftover is not None:
            results[case_id] = TombstoneCheck(
                False, leftover, f"el evento {leftover} de un caso eliminado tiene contenido")
            continue
        results[case_id] = TombstoneCheck(True)
    return results
