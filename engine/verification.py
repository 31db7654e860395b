"""Proving case histories: every case's hash chain, its tail, its re-execution, the checkpoints.

One run checks, for each case chosen, that its log's hash chain holds (and where it breaks), that
the case row's head is the log's last event (a deleted tail shows here unless the row was
rewritten too), that re-executing the log reproduces every recorded state and the stored one;
then that the append-only guard is in place and that the database agrees with the signed
checkpoints (engine/anchoring.py). Every outcome is stored (``verification_run`` and
``verification_result``) so that a page can show when a case was last proven and by whom.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.orm import Session

from . import anchoring, audit, disposal
from .store import Base, CaseEventRow, CaseRow, VerificationResultRow, VerificationRunRow
from .views import ReplayView

SYSTEM = "sistema"
Progress = Callable[[str, int, int], None]
_BATCH = 500


@dataclass(frozen=True)
class CaseCheck:
    """The outcome for one case, or one finding about the log as a whole (no case id)."""

    case_id: int | None
    case_number: str | None
    ok: bool
    # ok | chain | tail | replay | state | error | truncated | deleted | rewritten
    # | checkpoint | guard
    kind: str
    seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class VerificationReport:
    """What one verification run found, as stored."""

    run_id: int
    started_at: datetime
    finished_at: datetime
    by: str
    process_id: str | None
    since: datetime | None
    results: tuple[CaseCheck, ...]
    findings: tuple[CaseCheck, ...]
    checkpoint: str | None

    @property
    def cases(self) -> int:
        """Return how many cases were re-executed."""
        return len(self.results)

    @property
    def correct(self) -> int:
        """Return how many of them checked out (checkpoint findings aside)."""
        return sum(1 for r in self.results if r.ok and not self._flagged(r))

    @property
    def problems(self) -> tuple[CaseCheck, ...]:
        """Return every problem: cases that failed, then checkpoint and guard findings."""
        return tuple(r for r in self.results if not r.ok) + self.findings

    @property
    def ok(self) -> bool:
        """Tell whether everything checked out."""
        return not self.problems

    def _flagged(self, result: CaseCheck) -> bool:
        return any(f.case_id == result.case_id for f in self.findings if f.case_id is not None)

    @property
    def cases_with_problems(self) -> int:
        """Return how many verified cases have a problem of their own or a checkpoint finding."""
        return self.cases - self.correct


@dataclass(frozen=True)
class _Case:
    case_id: int
    number: str
    last_seq: int
    last_hash: bytes


def select_cases(session: Session, process_id: str | None,
                 since: datetime | None, case_id: int | None = None) -> list[_Case]:
    """Return the cases to verify: all, or one procedure's, or those that moved since a date."""
    query = select(CaseRow.id, CaseRow.number, CaseRow.last_seq, CaseRow.last_hash)
    if case_id is not None:  # the replay page's Verificar: one case
        query = query.where(CaseRow.id == case_id)
    if process_id:
        query = query.where(CaseRow.process_id == process_id)
    if since is not None:
        query = query.where(CaseRow.updated_at >= since)
    return [_Case(i, n, s, bytes(h)) for i, n, s, h in session.execute(query.order_by(CaseRow.id))]


def log_tails(session: Session, case_ids: Sequence[int]) -> dict[int, tuple[int, bytes]]:
    """Return each case's last logged event: (seq, hash)."""
    tails: dict[int, tuple[int, bytes]] = {}
    for start in range(0, len(case_ids), _BATCH):
        batch = list(case_ids[start:start + _BATCH])
        tops = list(session.execute(
            select(CaseEventRow.case_id, func.max(CaseEventRow.seq))
            .where(CaseEventRow.case_id.in_(batch)).group_by(CaseEventRow.case_id)))
        if not tops:
            continue
        for case_id, seq, digest in session.execute(
                select(CaseEventRow.case_id, CaseEventRow.seq, CaseEventRow.hash)
                .where(tuple_(CaseEventRow.case_id, CaseEventRow.seq).in_(
                    [(c, s) for c, s in tops]))):
            tails[case_id] = (int(seq), bytes(digest))
    return tails


def check_case(case: _Case, tail: tuple[int, bytes] | None,
               replay: Callable[[int], ReplayView],
               chain: Callable[[int], tuple[int | None, int | None]]) -> CaseCheck:
    """Check one case's chain, tail and re-execution; name the first problem and its event."""
    problems: list[tuple[str, int | None, str]] = []
    try:
        result: ReplayView | None = replay(case.case_id)
    except Exception:  # noqa: BLE001 — a log altered enough can make any step fail
        result = None
    if result is None or result.broken_at is not None:
        broken, missing = chain(case.case_id)
        if missing is not None and broken is not None and missing <= broken:
            problems.append(("chain", missing, f"falta el evento {missing}: la cadena de hashes "
                                               f"se rompe en el evento {broken}"))
        elif broken is not None:
            problems.append(("chain", broken,
                             f"la cadena de hashes se rompe en el evento {broken}"))
    logged_seq, logged_hash = tail if tail else (0, b"")
    if logged_seq != case.last_seq:
        first_missing = min(logged_seq, case.last_seq) + 1
        problems.append(("tail", first_missing,
                         f"el caso registra {case.last_seq} eventos y su historial tiene "
                         f"{logged_seq}: faltan o sobran eventos desde el {first_missing}"))
    elif logged_hash != case.last_hash:
        problems.append(("tail", logged_seq, f"el último evento ({logged_seq}) no es el que "
                                             "registra el caso"))
    if result is None:
        problems.append(("error", None, "la re-ejecución no pudo completarse: el historial no "
                                        "describe pasos posibles del procedimiento"))
    else:
        divergent = next((s.seq for s in result.steps if not s.matches), None)
        if divergent is not None:
            problems.append(("replay", divergent, f"la re-ejecución diverge en el evento "
                                                  f"{divergent}"))
        if not result.stored_state_matches:
            problems.append(("state", None, "el estado guardado no coincide con el que "
                                            "reproduce su historial"))
    if not problems:
        return CaseCheck(case.case_id, case.number, True, "ok")
    kind, seq, _ = problems[0]
    return CaseCheck(case.case_id, case.number, False, kind, seq,
                     "; ".join(message for _, _, message in problems))


def check_disposed_case(case: _Case, tail: tuple[int, bytes] | None,
                        tombstone: disposal.TombstoneCheck) -> CaseCheck:
    """Check a disposed case: its rows against its acta's tombstone, and its tail."""
    if not tombstone.ok:
        return CaseCheck(case.case_id, case.number, False, "tombstone", tombstone.seq,
                         tombstone.problem)
    logged_seq, logged_hash = tail if tail else (0, b"")
    if logged_seq != case.last_seq or logged_hash != case.last_hash:
        return CaseCheck(case.case_id, case.number, False, "tail", logged_seq,
                         "el último evento no es el que registra el caso")
    return CaseCheck(case.case_id, case.number, True, "ok")


def guard_findings(session: Session) -> list[CaseCheck]:
    """Report a missing or disabled append-only guard on the event log."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        names = set(session.scalars(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'case_event'")))
        intact = {"case_event_no_update", "case_event_no_delete"} <= names
    elif dialect == "postgresql":
        states = list(session.scalars(text(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'case_event_append_only' "
            "AND tgrelid = 'case_event'::regclass")))
        # 'D' is a disabled trigger; O/A/R fire.
        intact = bool(states) and all(s != "D" for s in states)
    else:
        return []
    if intact:
        return []
    return [CaseCheck(None, None, False, "guard",
                      problem="la protección del registro de eventos (solo añadir) fue quitada "
                              "o desactivada en la base de datos")]


def anchor_findings(session: Session, log: anchoring.CheckpointLog
                    ) -> tuple[list[CaseCheck], str | None]:
    """Check the checkpoint log and compare the database with it."""
    if not log.files():
        return [], None
    problems, heads, last = log.check_log()
    problems += anchoring.compare(session, heads)
    label = f"{last.number} ({last.hash[:12]})" if last else None
    return [CaseCheck(f.case_id, f.case_number, False, f.kind, f.seq, f.detail)
            for f in problems], label


def verify(reader: Callable[[], Any], write: Callable[[Callable[[Session], Any]], Any],
           replay: Callable[[int], ReplayView], now: Callable[[], datetime], *, by: str,
           process_id: str | None = None, since: datetime | None = None,
           checkpoints: anchoring.CheckpointLog | None = None,
           progress: Progress | None = None, case_id: int | None = None) -> VerificationReport:
    """Verify the chosen cases and the checkpoints, store the outcome and return it."""
    started = now()
    results = check_cases(reader, replay, process_id=process_id, since=since,
                          case_id=case_id, progress=progress)
    with reader() as session:
        findings = guard_findings(session)
        label = None
        if checkpoints is not None:
            found, label = anchor_findings(session, checkpoints)
            findings += found
    finished = now()

    def store(session: Session) -> int:
        run = VerificationRunRow(started_at=started, finished_at=finished, by=by,
                                 process_id=process_id, since=since, cases=len(results),
                                 problems=sum(not r.ok for r in results) + len(findings),
                                 checkpoint=label)
        session.add(run)
        session.flush()
        rows = [dict(run_id=run.id, case_id=r.case_id, case_number=r.case_number, ok=r.ok,
                     kind=r.kind, seq=r.seq, detail=r.problem) for r in (*results, *findings)]
        if rows:
            session.execute(Base.metadata.tables["verification_result"].insert(), rows)
        return run.id

    run_id = write(store)
    return VerificationReport(run_id=run_id, started_at=started, finished_at=finished, by=by,
                              process_id=process_id, since=since, results=tuple(results),
                              findings=tuple(findings), checkpoint=label)


def check_cases(reader: Callable[[], Any], replay: Callable[[int], ReplayView], *,
                process_id: str | None = None, since: datetime | None = None,
                case_id: int | None = None, progress: Progress | None = None
                ) -> list[CaseCheck]:
    """Prove each chosen case: a living one by re-execution, a disposed one by its tombstone.

    The one way a case is proven, shared by ``verify`` and by the check after a restore
    (engine/backup.py), so that both agree on what a sound case is.
    """
    with reader() as session:
        cases = select_cases(session, process_id, since, case_id)
        tails = log_tails(session, [c.case_id for c in cases])
        # Disposed cases (engine/disposal.py) are proven by their acta's tombstone instead.
        tombstones = disposal.check_disposed(session, [c.case_id for c in cases])

    def chain(case_id: int) -> tuple[int | None, int | None]:
        # Only for a broken chain, or when replay failed before checking it: where it breaks,
        # and the first event missing from the sequence (a deleted one), if any.
        with reader() as session:
            rows = session.scalars(select(CaseEventRow).where(CaseEventRow.case_id == case_id)
                                   .order_by(CaseEventRow.seq)).all()
        missing = next((expected for expected, row in enumerate(rows, start=1)
                        if row.seq != expected), None)
        return audit.first_broken_link(case_id, rows), missing

    results = []
    for index, case in enumerate(cases, start=1):
        if case.case_id in tombstones:
            results.append(check_disposed_case(case, tails.get(case.case_id),
                                               tombstones[case.case_id]))
        else:
            results.append(check_case(case, tails.get(case.case_id), replay, chain))
        if progress:
            progress("Casos", index, len(cases))
    return results


@dataclass(frozen=True)
class CaseVerification:
    """One stored outcome of a case: when it was verified, by whom, and what was found."""

    at: datetime
    by: str
    check: CaseCheck


def last_results(session: Session, case_id: int, limit: int = 10) -> list[CaseVerification]:
    """Return a case's latest verification outcomes, newest first."""
    rows = session.execute(
        select(VerificationRunRow.finished_at, VerificationRunRow.by, VerificationResultRow)
        .join(VerificationRunRow, VerificationRunRow.id == VerificationResultRow.run_id)
        .where(VerificationResultRow.case_id == case_id)
        .order_by(VerificationResultRow.id.desc()).limit(limit))
    return [CaseVerification(at, by, CaseCheck(r.case_id, r.case_number, r.ok, r.kind, r.seq,
                                               r.detail))
            for at, by, r in rows]
