"""The case list and followed cases: who may see which case, as one SQL condition.

Plain functions over a session; the facade (``Engine.list_cases`` and friends) opens the
transaction and delegates here. Visibility is a list of rules, each turning a person (and the
``Grants`` the facade worked out for them) into a SQL condition on ``case`` rows; a case is
visible when any rule says so. The case page, the case list, following and the API all use
``visible_to``. An auditor of some procedures is one more rule: a ``Grants`` field with the
versions they audit, and ``by_audited_procedure`` added to ``VISIBILITY_RULES``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    delete,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from .clock import LOCAL_TZ
from .errors import CauceError
from .library import ProcessDefinition
from .store import (
    CASE_REQUESTER_KEY,
    CaseEventRow,
    CaseFollowRow,
    CaseRow,
    OpenTaskRow,
    PersonRow,
)
from .views import CasePage, CaseSummary, FollowedCase, PersonView

CASE_SORTS = ("started_at", "number", "requester", "process")
CASE_SCOPES = ("all", "requested", "participated", "following")
CASE_STATUSES = ("open", "completed")
MAX_PER_PAGE = 100
# Longer searches match nothing a case number or a name could hold; cut them, never fail.
MAX_SEARCH = 100
MAX_CURSOR = 600
MAX_FOLLOWED = 50


class InvalidCaseCursor(CauceError):
    """A page cursor this list did not hand out (forged, truncated, or for another sort)."""

    code = "bad_request"


@dataclass(frozen=True)
class CaseFilters:
    """What the case list shows: scope, procedure, state, start dates, search and order."""

    scope: str = "all"
    process_id: str | None = None
    status: str | None = None
    started_from: date | None = None
    started_to: date | None = None
    search: str | None = None
    sort: str = "started_at"
    descending: bool = True


# -- who may see which case ------------------------------------------------------------------


@dataclass(frozen=True)
class Grants:
    """What a person's standing gives them beyond their own tasks and actions."""

    # Process versions whose responsibility table gives one of the person's roles a lane.
    role_versions: frozenset[int] = frozenset()
    # Process versions whose responsibility table makes one of the person's roles its auditor.
    audited_versions: frozenset[int] = frozenset()


VisibilityRule = Callable[[PersonView, Grants], ColumnElement[bool] | None]


def by_procedure_role(person: PersonView, grants: Grants) -> ColumnElement[bool] | None:
    """See every case of a procedure one has a role in (a social case: only those)."""
    if not grants.role_versions:
        return None
    return CaseRow.version_id.in_(sorted(grants.role_versions))


def by_audited_procedure(person: PersonView, grants: Grants) -> ColumnElement[bool] | None:
    """See every case of a procedure one audits, confidential ones and closed ones included."""
    if not grants.audited_versions:
        return None
    return CaseRow.version_id.in_(sorted(grants.audited_versions))


def by_offered_task(person: PersonView, grants: Grants) -> ColumnElement[bool] | None:
    """See a case whose open task is offered to one, or held by one.

    That is how the head of the unit chosen for a case sees it: by position, not role.
    """
    audience = sorted(person.audience) or [""]
    if not grants.role_versions:
        return or_(*(CaseRow.id.in_(select(OpenTaskRow.case_id).where(condition))
                     for condition in (OpenTaskRow.assignee_id == person.id,
                                       OpenTaskRow.audience.in_(audience))))
    return _any(select(OpenTaskRow.task_id).where(
        OpenTaskRow.case_id == CaseRow.id,
        or_(OpenTaskRow.assignee_id == person.id, OpenTaskRow.audience.in_(audience))))


def by_own_action(person: PersonView, grants: Grants) -> ColumnElement[bool] | None:
    """See a case one acted in (started it, claimed or completed one of its tasks)."""
    if not grants.role_versions:
        return CaseRow.id.in_(select(CaseEventRow.case_id).where(
            CaseEventRow.actor_id == person.id))
    return _acted_in(person)


# The two rules above take one of two shapes, for the query planner's sake. Without a role,
# the few cases one's tasks and actions name are listed first (along the open-task and event
# indexes) and looked up by id. With a role most cases are visible anyway: a probe per case, in
# the order of the list's index, stops after a page instead of listing all one ever did.


def _acted_in(person: PersonView) -> ColumnElement[bool]:
    return _any(select(CaseEventRow.id).where(CaseEventRow.actor_id == person.id,
                                              CaseEventRow.case_id == CaseRow.id))


def _any(query: Select[Any]) -> ColumnElement[bool]:
    """Tell whether a query about the current case finds a row, probing one case at a time.

    Not EXISTS: PostgreSQL may answer an EXISTS under OR by hashing every row of the subquery
    (all the events a person ever caused) before the first case; a scalar subquery with LIMIT 1
    stays a probe along the index, and the page stops after its rows.
    """
    return query.limit(1).correlate(CaseRow).scalar_subquery().is_not(None)


VISIBILITY_RULES: tuple[VisibilityRule, ...] = (by_procedure_role, by_audited_procedure,
                                                by_offered_task, by_own_action)


def visible_to(person: PersonView, grants: Grants,
               rules: Sequence[VisibilityRule] = VISIBILITY_RULES) -> ColumnElement[bool]:
    """Return the SQL condition on ``case`` rows this person may see."""
    parts = [part for rule in rules if (part := rule(person, grants)) is not None]
    return or_(*parts) if parts else false()


# -- the case list ---------------------------------------------------------------------------


# Each sort walks its key columns in order, the case id last (it makes every key unique).
_SORT_KEYS: dict[str, tuple[Any, ...]] = {
    "started_at": (CaseRow.started_at,),
    "number": (CaseRow.number,),
    "requester": (CASE_REQUESTER_KEY,),
    "process": (CaseRow.process_id, CaseRow.started_at),
}


def _clean(text: str | None, limit: int) -> str:
    # NUL cannot be stored, so it cannot match: drop it rather than fail.
    return (text or "").replace("\x00", "")[:limit].strip()


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=LOCAL_TZ)


def _filtered(query: Select[Any], person: PersonView, filters: CaseFilters) -> Select[Any]:
    if filters.scope == "requested":
        query = query.where(CaseRow.started_by == person.id)
    elif filters.scope == "participated":
        query = query.where(_acted_in(person))
    elif filters.scope == "following":
        query = query.where(CaseRow.id.in_(
            select(CaseFollowRow.case_id).where(CaseFollowRow.person_id == person.id)))
    process_id = _clean(filters.process_id, 100)
    if process_id:
        query = query.where(CaseRow.process_id == process_id)
    if filters.status in CASE_STATUSES:
        query = query.where(CaseRow.status == filters.status)
    if filters.started_from is not None:
        query = query.where(CaseRow.started_at >= _local_midnight(filters.started_from))
    if filters.started_to is not None and filters.started_to < date.max:
        query = query.where(
            CaseRow.started_at < _local_midnight(filters.started_to + timedelta(days=1)))
    search = _clean(filters.search, MAX_SEARCH).lower()
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        query = query.where(or_(_FoldedLike(CaseRow.number, like),
                                _FoldedLike(CaseRow.requester, like)))
    return query


class _FoldedLike(FunctionElement[bool]):
    """``column LIKE pattern`` ignoring case, with ``\\`` escaping the pattern's wildcards."""

    inherit_cache = True
    type = Boolean()
    name = "folded_like"


@compiles(_FoldedLike)
def _folded_like(element: _FoldedLike, compiler: Any, **kw: Any) -> str:
    # SQLite's LIKE already ignores ASCII case (its lower() knows no more than that), and a
    # lower() per row would double the cost of a search over every case.
    column, pattern = element.clauses
    return (f"{compiler.process(column, **kw)} LIKE {compiler.process(pattern, **kw)} "
            "ESCAPE '\\'")


@compiles(_FoldedLike, "postgresql")
def _folded_ilike(element: _FoldedLike, compiler: Any, **kw: Any) -> str:
    column, pattern = element.clauses
    return (f"{compiler.process(column, **kw)} ILIKE {compiler.process(pattern, **kw)} "
            "ESCAPE '\\'")


def encode_cursor(filters: CaseFilters, keys: Sequence[Any]) -> str:
    """Return the opaque cursor of the page after a row with these sort keys (and id)."""
    values = [k.isoformat() if isinstance(k, datetime) else k for k in keys]
    raw = json.dumps({"s": filters.sort, "d": filters.descending, "k": values},
                     separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, filters: CaseFilters) -> list[Any]:
    """Return the sort keys a cursor continues after, or raise InvalidCaseCursor."""
    problem = InvalidCaseCursor("El cursor de página no es válido; vuelva a la primera página")
    if len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise problem
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise problem from None
    columns = (*_SORT_KEYS[filters.sort], CaseRow.id)
    if not (isinstance(raw, dict) and raw.get("s") == filters.sort
            and raw.get("d") is filters.descending and isinstance(raw.get("k"), list)
            and len(raw["k"]) == len(columns)):
        raise problem
    keys: list[Any] = []
    for column, value in zip(columns, raw["k"], strict=True):
        if column is CaseRow.started_at:
            try:
                moment = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                raise problem
            keys.append(moment)
        elif column is CaseRow.id:
            if not (isinstance(value, int) and not isinstance(value, bool)
                    and 0 <= value < 2**31):
                raise problem
            keys.append(value)
        elif isinstance(value, str) and "\x00" not in value and len(value) <= 300:
            keys.append(value)
        else:
            raise problem
    return keys


def _after(columns: Sequence[Any], keys: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    """Return the keyset condition "comes after these keys" in the list's order."""
    column, key = columns[0], keys[0]
    beyond = column < key if descending else column > key
    if len(columns) == 1:
        return beyond
    return or_(beyond, and_(column == key, _after(columns[1:], keys[1:], descending)))


def list_statement(person: PersonView, grants: Grants, filters: CaseFilters,
                   cursor: str | None = None, per_page: int = 50) -> Select[Any]:
    """Return the one statement of a case-list page (one row more than a page: is there more?).

    An inner query finds the page's case ids along an index; only those rows get their current
    task, holder and due date (subqueries on ``open_task``), so the cost does not grow with the
    number of cases that match.
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    columns = (*_SORT_KEYS[filters.sort], CaseRow.id)
    inner = select(*(c.label(f"k{i}") for i, c in enumerate(columns))).where(
        visible_to(person, grants))
    inner = _filtered(inner, person, filters)
    if cursor:
        inner = inner.where(_after(columns, decode_cursor(cursor, filters), filters.descending))
    inner = inner.order_by(*(c.desc() if filters.descending else c.asc() for c in columns))
    page = inner.limit(per_page + 1).subquery("page")
    keys = [page.c[f"k{i}"] for i in range(len(columns))]

    # The case's current activity is its oldest open task (parallel branches: the first one).
    first_task = (OpenTaskRow.created_at, OpenTaskRow.task_id)
    activity = (select(OpenTaskRow.activity_name).where(OpenTaskRow.case_id == CaseRow.id)
                .order_by(*first_task).limit(1).correlate(CaseRow).scalar_subquery())
    holder = (select(PersonRow.full_name).select_from(OpenTaskRow)
              .outerjoin(PersonRow, PersonRow.id == OpenTaskRow.assignee_id)
              .where(OpenTaskRow.case_id == CaseRow.id).order_by(*first_task).limit(1)
              .correlate(CaseRow).scalar_subquery())
    starter = aliased(PersonRow, name="starter")
    open_tasks = (select(func.count()).where(OpenTaskRow.case_id == CaseRow.id)
                  .correlate(CaseRow).scalar_subquery())
    due_at = (select(func.min(OpenTaskRow.due_at)).where(OpenTaskRow.case_id == CaseRow.id)
              .correlate(CaseRow).scalar_subquery())
    following = (select(CaseFollowRow.case_id).where(
        CaseFollowRow.case_id == CaseRow.id, CaseFollowRow.person_id == person.id)
        .correlate(CaseRow).exists())
    return (
        select(CaseRow.id, CaseRow.number, CaseRow.process_id, CaseRow.version_id,
               CaseRow.status, CaseRow.outcome, CaseRow.requester,
               func.substr(CaseRow.subject, 1, 300).label("subject"), CaseRow.started_at,
               CaseRow.completed_at, starter.username.label("started_by"),
               activity.label("current_activity"), holder.label("current_holder"),
               open_tasks.label("open_tasks"), due_at.label("due_at"),
               following.label("following"), *keys)
        .select_from(page)
        .join(CaseRow, CaseRow.id == page.c[f"k{len(columns) - 1}"])
        .outerjoin(starter, starter.id == CaseRow.started_by)
        .order_by(*(k.desc() if filters.descending else k.asc() for k in keys))
    )


def list_cases(session: Session, person: PersonView, grants: Grants, filters: CaseFilters,
               cursor: str | None, per_page: int, *,
               definition: Callable[[int], ProcessDefinition],
               due_state: Callable[[datetime | None], str]) -> CasePage:
    """Return one page of the cases this person may see."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    if session.get_bind().dialect.name == "postgresql":
        # A search is costed as a full scan, and PostgreSQL's JIT then spends about a second
        # compiling a plan whose run takes a tenth of that (bench/case_list_bench.py).
        session.execute(text("SET LOCAL jit = off"))
    rows = session.execute(list_statement(person, grants, filters, cursor, per_page)).all()
    more = len(rows) > per_page
    rows = rows[:per_page]
    items = tuple(CaseSummary(
        id=row.id, number=row.number, process_id=row.process_id,
        process_name=definition(row.version_id).name, status=row.status, outcome=row.outcome,
        requester=row.requester, subject=row.subject, started_at=row.started_at,
        completed_at=row.completed_at, started_by=row.started_by,
        current_activity=row.current_activity, current_holder=row.current_holder,
        open_tasks=int(row.open_tasks or 0), due_at=row.due_at,
        due_state=due_state(row.due_at) if row.status == "open" else "sin_plazo",
        following=bool(row.following)) for row in rows)
    next_cursor = None
    if more and rows:
        last = rows[-1]
        width = len(_SORT_KEYS[filters.sort]) + 1
        next_cursor = encode_cursor(filters, [last._mapping[f"k{i}"] for i in range(width)])
    return CasePage(items=items, next_cursor=next_cursor, per_page=per_page)


# -- following cases -------------------------------------------------------------------------


def follow(session: Session, person: PersonView, case: CaseRow, now: datetime) -> None:
    """Follow a case from now on: what happened before counts as seen."""
    if session.get(CaseFollowRow, (person.id, case.id)) is None:
        session.add(CaseFollowRow(person_id=person.id, case_id=case.id,
                                  last_seen_seq=case.last_seq, followed_at=now))


def unfollow(session: Session, person: PersonView, case: CaseRow) -> None:
    """Stop following a case (nothing happens if one did not follow it)."""
    session.execute(delete(CaseFollowRow).where(CaseFollowRow.person_id == person.id,
                                                CaseFollowRow.case_id == case.id))


def unseen(session: Session, person: PersonView, case: CaseRow) -> bool | None:
    """Tell whether a followed case has events the person has not seen (None: not followed)."""
    seen = session.scalars(select(CaseFollowRow.last_seen_seq).where(
        CaseFollowRow.person_id == person.id, CaseFollowRow.case_id == case.id)).first()
    return None if seen is None else seen < case.last_seq


def mark_seen(session: Session, person: PersonView, case_id: int) -> None:
    """Record that the person has seen everything that happened in the case so far."""
    last_seq = select(CaseRow.last_seq).where(CaseRow.id == case_id).scalar_subquery()
    session.execute(update(CaseFollowRow).where(
        CaseFollowRow.person_id == person.id, CaseFollowRow.case_id == case_id)
        .values(last_seen_seq=last_seq).execution_options(synchronize_session=False))


def followed_statement(person: PersonView, grants: Grants) -> Select[Any]:
    """Return the statement of a person's followed cases with their news (one query)."""
    # News: events after the last one seen, not caused by the person (they know those).
    news_of = and_(CaseEventRow.case_id == CaseFollowRow.case_id,
                   CaseEventRow.seq > CaseFollowRow.last_seen_seq,
                   or_(CaseEventRow.actor_id.is_(None), CaseEventRow.actor_id != person.id))
    news = select(func.count()).where(news_of).correlate(CaseFollowRow).scalar_subquery()
    latest = select(func.max(CaseEventRow.seq)).where(news_of).correlate(
        CaseFollowRow).scalar_subquery()
    last = aliased(CaseEventRow, name="last_event")
    actor = aliased(PersonRow, name="actor")
    return (
        select(CaseRow.id, CaseRow.number, CaseRow.version_id, CaseRow.status,
               CaseRow.requester, CaseFollowRow.followed_at, news.label("news"),
               last.event_type, last.activity_id, last.at, actor.full_name.label("actor"))
        .select_from(CaseFollowRow)
        .join(CaseRow, CaseRow.id == CaseFollowRow.case_id)
        .outerjoin(last, and_(last.case_id == CaseFollowRow.case_id, last.seq == latest))
        .outerjoin(actor, actor.id == last.actor_id)
        .where(CaseFollowRow.person_id == person.id, visible_to(person, grants))
        .order_by(last.at.is_(None), last.at.desc(), CaseFollowRow.followed_at.desc(),
                  CaseRow.id.desc())
        .limit(MAX_FOLLOWED)
    )


def followed_cases(session: Session, person: PersonView, grants: Grants, *,
                   definition: Callable[[int], ProcessDefinition]) -> list[FollowedCase]:
    """Return the cases a person follows, the ones with news first."""
    found = []
    for row in session.execute(followed_statement(person, grants)):
        process = definition(row.version_id)
        activity = process.activities.get(row.activity_id) if row.activity_id else None
        found.append(FollowedCase(
            case_id=row.id, number=row.number, process_name=process.name, status=row.status,
            requester=row.requester, followed_at=row.followed_at, news=int(row.news or 0),
            last_event_type=row.event_type, last_activity_name=activity.name if activity
            else None, last_event_at=row.at, last_actor=row.actor))
    return found
