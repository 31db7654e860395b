"""Errors the engine raises; each carries a stable ``code`` the web layer maps to HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field


class CauceError(Exception):
    """Base class of every error the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(CauceError):
    """The thing does not exist, or the caller may not know that it exists."""

    code = "not_found"


class PermissionDenied(CauceError):
    """The caller is known but their roles do not allow the action."""

    code = "forbidden"


class Conflict(CauceError):
    """The action lost a race or no longer applies to the current state."""

    code = "conflict"


class TaskAlreadyCompleted(Conflict):
    """Someone completed the task first."""

    code = "already_completed"


class TaskClaimedByOther(Conflict):
    """Another person holds the task."""

    code = "claimed_by_other"


class StaleCase(Conflict):
    """The case changed while the action ran, and retrying did not help."""

    code = "stale"


@dataclass
class FieldError:
    """One invalid field of a form: where (a JSON pointer-ish path) and why, in Spanish."""

    field: str
    message: str


class FormInvalid(CauceError):
    """Submitted form data does not satisfy the task's form; nothing was written."""

    code = "invalid_form"

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        summary = "; ".join(f"{e.field or '(formulario)'}: {e.message}" for e in errors)
        super().__init__(f"Formulario inválido: {summary}")

    def by_field(self) -> dict[str, list[str]]:
        """Group the messages by field path."""
        grouped: dict[str, list[str]] = {}
        for error in self.errors:
            grouped.setdefault(error.field, []).append(error.message)
        return grouped


@dataclass
class DefinitionProblem:
    """Where a process definition is broken: file, element id, line and reason."""

    file: str
    reason: str
    element: str | None = None
    line: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.element:
            where += f" [{self.element}]"
        return f"{where}: {self.reason}"


class ProcessDefinitionError(CauceError):
    """A BPMN, DMN, form or responsibility file is refused; lists every problem found."""

    code = "invalid_definition"

    def __init__(self, problems: list[DefinitionProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ScriptError(CauceError):
    """A script or expression of the running procedure failed; the action was rolled back."""

    code = "script_error"


class InvalidCredentials(CauceError):
    """Unknown user or wrong password (the same answer for both)."""

    code = "unauthorized"


class SignInThrottled(InvalidCredentials):
    """Too many failed sign-ins from this client (or on this account from it); wait and retry."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ScriptLimitError(ScriptError):
    """A script, an expression or the procedure itself went past a limit of the engine (time,
    memory, size of values or data, engine steps, nesting); the step was rolled back."""

    def __init__(self, message: str, *, kind: str, element: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.element = element


class TaskHeldByOther(TaskClaimedByOther):
    """Another person holds the task; says who, so the page can tell the person what happened."""

    def __init__(self, message: str, *, holder: str, holder_name: str):
        super().__init__(message)
        self.holder = holder
        self.holder_name = holder_name


class TaskCompletedByOther(TaskAlreadyCompleted):
    """Someone completed the task first; says who (``completed_by`` is empty if nobody did)."""

    def __init__(self, message: str, *, completed_by: str, completed_by_name: str):
        super().__init__(message)
        self.completed_by = completed_by
        self.completed_by_name = completed_by_name
