"""What the facade hands out: frozen views, never SpiffWorkflow objects or ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class PersonView:
    """A person as the rest of the application sees them."""

    id: int
    username: str
    full_name: str
    roles: frozenset[str]
    positions: tuple[str, ...]
    audience: frozenset[str]


@dataclass(frozen=True)
class TaskView:
    """An open human task."""

    task_id: str
    case_id: int
    case_number: str
    process_id: str
    process_name: str
    activity_id: str
    activity_name: str
    lane: str | None
    role: str
    requester: str | None
    assignee: str | None
    created_at: datetime
    due_at: datetime | None
    form_id: str | None


@dataclass(frozen=True)
class TaskDetail:
    """An open task with what a person needs to work on it."""

    task: TaskView
    form_schema: dict[str, Any] | None
    form_ui: dict[str, Any]
    case_data: dict[str, Any]
    draft: dict[str, Any] | None
    # The BPMN documentation of the activity: what a task with no form asks the person to do.
    instructions: str | None = None


@dataclass(frozen=True)
class CaseView:
    """A case: its identity, state, dates, open tasks and current data."""

    id: int
    number: str
    process_id: str
    process_name: str
    version_hash: str
    status: str
    outcome: str | None
    requester: str | None
    subject: str | None
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    due_at: datetime | None
    overdue_at: datetime | None
    open_tasks: tuple[TaskView, ...]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    """One event of a case's log."""

    seq: int
    at: datetime
    actor: str | None
    role: str | None
    event_type: str
    task_id: str | None
    activity_id: str | None
    activity_name: str | None
    data: dict[str, Any] | None
    state_hash: str | None
    hash: str


@dataclass(frozen=True)
class ReplayStep:
    """One re-executed event and whether the state it produced matches the recorded one."""

    seq: int
    event_type: str
    activity_id: str | None
    recorded_state: str | None
    replayed_state: str | None

    @property
    def matches(self) -> bool:
        """Tell whether replay reproduced the recorded state (events without state match)."""
        return self.recorded_state is None or self.recorded_state == self.replayed_state


@dataclass(frozen=True)
class ReplayView:
    """The outcome of re-executing a case from its log."""

    case_number: str
    chain_intact: bool
    broken_at: int | None
    steps: tuple[ReplayStep, ...]
    stored_state_matches: bool

    @property
    def proven(self) -> bool:
        """Tell whether the log is intact and reproduces the stored state."""
        return (self.chain_intact and self.stored_state_matches
                and all(s.matches for s in self.steps))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list, with cursors to the pages beside it (None: there is none)."""

    items: tuple[T, ...]
    # Counted no further than a cap (see ``total_capped``): counting a million rows would
    # cost more than showing a page of them.
    total: int
    per_page: int
    total_capped: bool = False
    next_cursor: str | None = None
    previous_cursor: str | None = None


@dataclass(frozen=True)
class Inbox:
    """A person's two task lists: claimed by them, and available to their roles."""

    mine: Page[TaskView]
    available: Page[TaskView]


@dataclass(frozen=True)
class CaseSummary:
    """A case as the case list shows it: who asked, where it stands, who holds it."""

    id: int
    number: str
    process_id: str
    process_name: str
    status: str
    outcome: str | None
    requester: str | None
    subject: str | None
    started_at: datetime
    completed_at: datetime | None
    started_by: str | None
    current_activity: str | None
    current_holder: str | None
    open_tasks: int
    due_at: datetime | None
    due_state: str
    following: bool


@dataclass(frozen=True)
class CasePage:
    """One page of the case list; ``next_cursor`` continues it (None on the last page)."""

    items: tuple[CaseSummary, ...]
    next_cursor: str | None
    per_page: int


@dataclass(frozen=True)
class FollowedCase:
    """A case a person follows, with what happened in it since they last looked."""

    case_id: int
    number: str
    process_name: str
    status: str
    requester: str | None
    followed_at: datetime
    news: int
    last_event_type: str | None
    last_activity_name: str | None
    last_event_at: datetime | None
    last_actor: str | None
