"""A case replayed step by step, for the auditor's replay page: what each event did to the case.

Plain functions over what the facade gathered: the case's log, and for every event the workflow
re-executed up to it (its open tasks and data). Each step says who did what in which role and
when, the data submitted and the difference it made, the documents attached, which elements are
done and active with how often each ran (a loop shows as a count), and the deadline at that
moment in working days.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .audit import canonical_json
from .calendar import WorkingCalendar
from .clock import LOCAL_TZ
from .documents import DocumentView
from .library import ProcessDefinition

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DataChange:
    """One key of the case data that a step added, changed or removed."""

    key: str
    kind: str  # added | changed | removed
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class Deadline:
    """The deadline at one moment: working days elapsed and left against the limit."""

    limit: int
    elapsed: int
    left: int
    due_at: datetime

    @property
    def overdue(self) -> bool:
        """Tell whether the limit had passed at that moment."""
        return self.left < 0


@dataclass(frozen=True)
class ReplayedStep:
    """One event of the case as the replay page shows it."""

    seq: int
    at: datetime
    event_type: str
    actor: str | None
    actor_name: str | None
    role: str | None
    role_name: str | None
    activity_id: str | None
    activity_name: str | None
    submitted: dict[str, Any] | None
    changes: tuple[DataChange, ...]
    documents: tuple[DocumentView, ...]
    done: tuple[str, ...]
    active: tuple[str, ...]
    taken: tuple[str, ...]
    counts: Mapping[str, int]
    deadline: Deadline | None


@dataclass(frozen=True)
class CaseReplay:
    """Every step of a case, and what the page needs around them."""

    case_number: str
    process_id: str
    process_name: str
    version_hash: str
    status: str
    steps: tuple[ReplayedStep, ...]
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepState:
    """What re-executing the log up to one event left: its open tasks and its data."""

    active: tuple[str, ...]
    data: dict[str, Any]


def plain(value: Any) -> Any:
    """Return ``value`` as JSON would give it back (dates as text, tuples as lists)."""
    return json.loads(canonical_json(value))


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[DataChange, ...]:
    """Return the top-level keys added, changed or removed from ``before`` to ``after``."""
    changes = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            changes.append(DataChange(key, "added", after=after[key]))
        elif key not in after:
            changes.append(DataChange(key, "removed", before=before[key]))
        elif before[key] != after[key]:
            changes.append(DataChange(key, "changed", before[key], after[key]))
    return tuple(changes)


def _shas(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value} if _SHA256.match(value) else set()
    if isinstance(value, Mapping):
        return set().union(*(_shas(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_shas(v) for v in value)) if value else set()
    return set()


def deadline_at(calendar: WorkingCalendar, started_at: datetime, due_at: datetime | None,
                moment: datetime) -> Deadline | None:
    """Return the deadline's state at ``moment``, counted in working days from the start."""
    if due_at is None:
        return None
    start = started_at.astimezone(LOCAL_TZ).date()
    limit = calendar.working_days_between(start, due_at.astimezone(LOCAL_TZ).date())
    elapsed = calendar.working_days_between(start, moment.astimezone(LOCAL_TZ).date())
    return Deadline(limit=limit, elapsed=elapsed, left=limit - elapsed, due_at=due_at)


def build(events: Sequence[Any], states: Mapping[int, StepState],
          definition: ProcessDefinition, documents: Sequence[DocumentView],
          names: Mapping[str, str], calendar: WorkingCalendar, *, started_at: datetime,
          due_at: datetime | None) -> tuple[ReplayedStep, ...]:
    """Turn a case's log (and the re-executed state after each event) into replay steps."""
    roles = {role: row.role_name for role, row in definition.roles().items()}
    by_sha: dict[str, list[DocumentView]] = {}
    for document in documents:
        by_sha.setdefault(document.sha256, []).append(document)
    counts: dict[str, int] = {}
    data: dict[str, Any] = {}
    active: tuple[str, ...] = ()
    steps = []
    for event in events:
        payload = event.data or {}
        taken: list[str] = []
        submitted = None
        if event.event_type == "task_completed" and event.activity_id:
            taken.append(event.activity_id)
            submitted = plain(payload.get("form") or {})
        taken += [e for e in (payload.get("path") or []) if isinstance(e, str)]
        taken += [e for e in (payload.get("timers") or []) if isinstance(e, str)]
        for element in taken:
            counts[element] = counts.get(element, 0) + 1
        state = states.get(event.seq)
        before = data
        if state is not None:
            data, active = plain(state.data), state.active
        attached = [d for sha in sorted(_shas(submitted)) for d in by_sha.get(sha, [])
                    if d.activity_id in (None, event.activity_id)] if submitted else []
        activity = definition.activities.get(event.activity_id) if event.activity_id else None
        steps.append(ReplayedStep(
            seq=event.seq, at=event.at, event_type=event.event_type, actor=event.actor,
            actor_name=names.get(event.actor) if event.actor else None, role=event.role,
            role_name=roles.get(event.role) if event.role else None,
            activity_id=event.activity_id, activity_name=activity.name if activity else None,
            submitted=submitted, changes=diff(before, data), documents=tuple(attached),
            done=tuple(sorted(counts)), active=active, taken=tuple(taken), counts=dict(counts),
            deadline=deadline_at(calendar, started_at, due_at, event.at)))
    return tuple(steps)


@dataclass(frozen=True)
class CaseProof:
    """The replay page's Verificar: the stored outcome and where the case fails, if it does."""

    ok: bool
    kind: str
    seq: int | None
    problem: str | None
    verified_at: datetime
    by: str
    # Events whose re-executed state differs from the recorded one, first first.
    divergent: tuple[int, ...]
    chain_broken_at: int | None
    stored_state_matches: bool | None


def proof(report: Any, replayed: Any) -> CaseProof:
    """Combine a one-case verification report with its replay (None: replay failed)."""
    check = report.results[0] if report.results else None
    guard = [f for f in report.findings if f.case_id is None]
    ok = bool(check and check.ok) and not guard
    first = check if check and not check.ok else (guard[0] if guard else check)
    divergent: tuple[int, ...] = ()
    if replayed is not None:
        divergent = tuple(s.seq for s in replayed.steps if not s.matches)
    return CaseProof(
        ok=ok, kind=first.kind if first else "error", seq=first.seq if first else None,
        problem=first.problem if first else "No se encontró el caso",
        verified_at=report.finished_at, by=report.by, divergent=divergent,
        chain_broken_at=replayed.broken_at if replayed is not None else None,
        stored_state_matches=replayed.stored_state_matches if replayed is not None else None)
