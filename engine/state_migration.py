"""Re-save running cases' workflow states with the installed SpiffWorkflow's serializer version.

A state saved by an older SpiffWorkflow is migrated whenever it is restored, and saved in the
new format at the case's next step. ``flask db migrate-states`` does it for every running case
at once, right after an upgrade of the library, so that a state the new version cannot read
shows up then, listed, and not when someone opens the case. Each case is checked: its
fingerprint (what the audit log's hash chain records) must be the same before and after.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from .library import ProcessDefinition
from .runtime import Runtime
from .store import CaseRow

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class StateMigrationFailure:
    """A case whose state was left as it was, and why."""

    case_number: str
    reason: str


@dataclass(frozen=True)
class StateMigrationSummary:
    """What ``migrate_states`` found and did."""

    target_version: str
    running: int
    migrated: int
    already_current: int
    changed_meanwhile: int
    versions_before: dict[str, int]
    failures: tuple[StateMigrationFailure, ...]


@dataclass(frozen=True)
class _Stored:
    id: int
    number: str
    version_id: int
    state: bytes
    fingerprint: bytes
    version: int


def migrate_states(writer: sessionmaker[Session], reader: sessionmaker[Session],
                   runtime: Runtime, definition_for: Callable[[int], ProcessDefinition], *,
                   batch_size: int = 200, force: bool = False,
                   progress: Progress | None = None) -> StateMigrationSummary:
    """Restore every running case saved in another format and save it in the current one.

    ``force`` re-saves current states too (a check that every running case restores). A case
    a step saved while this ran is left alone: that step already wrote the current format.
    """
    with reader() as session:
        total = session.scalar(select(CaseRow.id).order_by(CaseRow.id.desc()).limit(1)) or 0
    versions: Counter[str] = Counter()
    failures: list[StateMigrationFailure] = []
    running = migrated = current = meanwhile = 0
    for batch in _batches(reader, batch_size):
        rewritten: list[tuple[_Stored, bytes]] = []
        for case in batch:
            version = runtime.state_version(case.state)
            if version is None:
                continue
            running += 1
            versions[version] += 1
            if version == runtime.state_format and not force:
                current += 1
                continue
            outcome = _migrate_one(runtime, definition_for, case)
            if isinstance(outcome, StateMigrationFailure):
                failures.append(outcome)
            else:
                rewritten.append((case, outcome))
        if rewritten:
            # The case's version is not bumped: the state means exactly what it meant, so a
            # step that read the old bytes may still save over it (in the current format too).
            with writer.begin() as session:
                for case, state in rewritten:
                    result = cast(CursorResult[Any], session.execute(
                        update(CaseRow).where(CaseRow.id == case.id,
                                              CaseRow.version == case.version)
                        .values(state=state)))
                    done = result.rowcount
                    migrated += done
                    meanwhile += 1 - done
        if progress and batch:
            progress(batch[-1].id, total)
    return StateMigrationSummary(
        target_version=runtime.state_format, running=running, migrated=migrated,
        already_current=current, changed_meanwhile=meanwhile, versions_before=dict(versions),
        failures=tuple(failures))


def _migrate_one(runtime: Runtime, definition_for: Callable[[int], ProcessDefinition],
                 case: _Stored) -> bytes | StateMigrationFailure:
    try:
        definition = definition_for(case.version_id)
        workflow = runtime.restore(definition, case.state)
        if runtime.fingerprint(workflow) != case.fingerprint:
            return StateMigrationFailure(
                case.number, "restaurado con esta versión, su estado no coincide con el "
                "registrado; se dejó como estaba")
        state = runtime.dump(workflow)
        if runtime.fingerprint(runtime.restore(definition, state)) != case.fingerprint:
            return StateMigrationFailure(
                case.number, "el estado guardado de nuevo no coincide con el registrado; se "
                "dejó como estaba")
        return state
    except Exception:  # one unreadable case must not stop the others
        log.warning("State of case %s could not be migrated", case.number, exc_info=True)
        return StateMigrationFailure(
            case.number, "no se pudo restaurar con esta versión de SpiffWorkflow (el detalle "
            "está en el registro); se dejó como estaba")


def _batches(reader: sessionmaker[Session], size: int) -> Iterator[list[_Stored]]:
    """Yield the cases in id order, a batch per short read (keyset pages)."""
    after = 0
    while True:
        with reader() as session:
            rows = session.execute(
                select(CaseRow.id, CaseRow.number, CaseRow.version_id, CaseRow.state,
                       CaseRow.fingerprint, CaseRow.version)
                .where(CaseRow.id > after).order_by(CaseRow.id).limit(size)).all()
        if not rows:
            return
        yield [_Stored(*row) for row in rows]
        after = rows[-1].id
