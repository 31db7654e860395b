"""Cauce's BPM engine: procedures as BPMN, cases, human tasks and their audited history.

The engine is a library with no web imports; the Flask app and the CLI are thin callers of the
facade re-exported here.
"""

from . import case_migration as _case_migration  # noqa: F401  (its tables are part of the schema)
from . import catalogue as _catalogue  # noqa: F401  (its tables are part of the schema)
from . import charter  # noqa: F401  (its tables are part of the schema)
from . import disposal as _disposal  # noqa: F401  (its tables are part of the schema)
from . import ldap_directory as _ldap_directory  # noqa: F401  (its table too)
from . import outbox as _outbox  # noqa: F401  (its tables are part of the schema)
from . import procedures as _procedures  # noqa: F401  (its tables are part of the schema)
from . import signing as _signing  # noqa: F401  (its tables are part of the schema)
from . import trial as _trial  # noqa: F401  (its tables are part of the schema)
from .api import Engine, InboxFilters
from .calendar import WorkingCalendar
from .case_search import CaseFilters, InvalidCaseCursor
from .clock import bound_now, utc_now
from .errors import (
    CauceError,
    Conflict,
    DefinitionProblem,
    FieldError,
    FormInvalid,
    InvalidCredentials,
    NotFound,
    PermissionDenied,
    ProcessDefinitionError,
    ScriptError,
    ScriptLimitError,
    SignInThrottled,
    StaleCase,
    TaskAlreadyCompleted,
    TaskClaimedByOther,
)
from .inbox import InvalidCursor
from .ldap_directory import DirectoryUnavailable, LdapSettings
from .library import ProcessDefinition, ProcessLibrary
from .limits import ScriptLimits
from .mailer import MailRound, SmtpSettings
from .notifications import KINDS as NOTIFICATION_KINDS
from .notifications import Recipient
from .outbox import MailView, RetryPolicy
from .sign_in import SignIn, ThrottlePolicy
from .views import (
    AuditEntry,
    CasePage,
    CaseSummary,
    CaseView,
    FollowedCase,
    Inbox,
    Page,
    PersonView,
    ReplayStep,
    ReplayView,
    TaskDetail,
    TaskView,
)

__all__ = [
    "CaseFilters", "CasePage", "CaseSummary", "FollowedCase", "InvalidCaseCursor",
    "AuditEntry", "CaseView", "CauceError", "Conflict", "DefinitionProblem", "Engine",
    "FieldError", "FormInvalid", "Inbox", "InboxFilters", "InvalidCredentials", "InvalidCursor",
    "NotFound",
    "Page", "PermissionDenied", "PersonView", "ProcessDefinition", "ProcessDefinitionError",
    "ProcessLibrary", "ReplayStep", "ReplayView", "ScriptError", "ScriptLimitError",
    "ScriptLimits", "SignIn", "SignInThrottled",
    "StaleCase", "ThrottlePolicy",
    "TaskAlreadyCompleted", "TaskClaimedByOther", "TaskDetail", "TaskView", "WorkingCalendar",
    "bound_now", "utc_now",
    "MailRound", "MailView", "NOTIFICATION_KINDS", "Recipient", "RetryPolicy", "SmtpSettings",
    "DirectoryUnavailable", "LdapSettings",
]
