"""The inbox query: keyset pages read in index order, and counts that stop at a cap.

A page never counts or sorts everything a role can see. Each list ("mine": claimed by the
person; "available": unclaimed, offered to one of the person's audience keys) is read per
audience key, straight from an ``open_task`` index in the sort order, up to one row past the
page; the database then merges those few (sort value, task id) pairs and reads only the rows
the page keeps, by primary key. Counts stop at ``COUNT_CAP + 1`` rows per audience key, so a
role with a million tasks costs what a role with a thousand does.

Where a page starts is an opaque cursor (the sort value and task id of the row next to it),
validated on the way in: garbage is refused with ``InvalidCursor``, never passed to SQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import reduce
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)

from .errors import CauceError
from .store import OpenTaskRow
from .views import TaskView

COUNT_CAP = 1000
MAX_SEARCH = 200
MAX_CURSOR = 1000
_CURSOR_VERSION = 1

# Every offered sort: the available list has an index in each of these orders (see store.py);
# the claimed list ("mine", what one person holds) has them for due_at and created_at.
SORTS: dict[str, Any] = {
    "due_at": OpenTaskRow.due_at, "created_at": OpenTaskRow.created_at,
    "case_number": OpenTaskRow.case_number, "requester": OpenTaskRow.requester,
    "activity": OpenTaskRow.activity_name, "process": OpenTaskRow.process_name,
}
_NULLABLE = {"due_at", "requester"}
_DUE_STATES = ("vencida", "por_vencer", "a_tiempo", "sin_plazo")
_DATES = {"due_at", "created_at"}
# What a page reads of each row: what its task views show (the audience key is only filtered
# on). Every column read costs on each row of a full page, at each level of the statement.
_COLUMNS = tuple(c for c in OpenTaskRow.__table__.columns if c.key != "audience")


class InvalidCursor(CauceError):
    """A page cursor that this inbox did not hand out (or for another sort order)."""

    code = "bad_request"


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox lists: by procedure, activity, due state, and a search text."""

    process_id: str | None = None
    activity_id: str | None = None
    due_state: str | None = None
    search: str | None = None
    sort: str = "due_at"
    descending: bool = False


@dataclass(frozen=True)
class Cursor:
    """A position between two rows of a list: next to the row with this sort value and id."""

    sort: str
    descending: bool
    key: Any  # None: the row is in the trailing "no value" segment (nulls last either way)
    task_id: str
    backward: bool  # the page wanted is the one before this row ("Anterior")

    def encode(self) -> str:
        """Return the cursor as an opaque URL-safe string."""
        key = self.key.isoformat() if isinstance(self.key, datetime) else self.key
        raw = json.dumps([_CURSOR_VERSION, self.sort, self.descending, key, self.task_id,
                          self.backward], separators=(",", ":"), ensure_ascii=False)
        return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(text: str | None, filters: InboxFilters) -> Cursor | None:
    """Return the cursor a page link carried; raise InvalidCursor on anything else."""
    if not text:
        return None
    refused = InvalidCursor("El cursor de página no es válido; vuelva a la primera página")
    if len(text) > MAX_CURSOR:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    if not (isinstance(value, list) and len(value) == 6 and value[0] == _CURSOR_VERSION):
        raise refused
    _, sort, descending, key, task_id, backward = value
    if sort != filters.sort or descending is not filters.descending:
        raise InvalidCursor("El cursor de página es de otro orden; vuelva a la primera página")
    if not (isinstance(backward, bool) and _clean_text(task_id, 36)):
        raise refused
    if key is None:
        if sort not in _NULLABLE:
            raise refused
    elif sort in _DATES:
        try:
            key = datetime.fromisoformat(key) if isinstance(key, str) and len(key) < 40 else None
        except ValueError:
            key = None
        if key is None or key.tzinfo is None:
            raise refused
    elif not _clean_text(key, 300):
        raise refused
    return Cursor(sort, descending, key, task_id, backward)


def _clean_text(value: Any, limit: int) -> bool:
    """Tell whether a value is text a database column can hold and compare."""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_filters(filters: InboxFilters | None) -> InboxFilters:
    """Return the filters as the query uses them: known sort, no NUL, a bounded search."""
    filters = filters or InboxFilters()
    search = (filters.search or "").replace("\x00", "").strip()[:MAX_SEARCH].strip()
    return InboxFilters(
        process_id=(filters.process_id or "").replace("\x00", "") or None,
        activity_id=(filters.activity_id or "").replace("\x00", "") or None,
        due_state=filters.due_state if filters.due_state in _DUE_STATES else None,
        search=search or None,
        sort=filters.sort if filters.sort in SORTS else "due_at",
        descending=bool(filters.descending))


def statement(*, person_id: int, audience: Sequence[str], filters: InboxFilters,
              cursors: dict[str, Cursor | None], per_page: int, now: datetime,
              soon: datetime) -> tuple[Any, dict[str, Any]]:
    """Return the one statement behind both lists (each page plus one row, each count) and
    its parameters. Statements are built once per shape: building one costs far more than
    running it."""
    keys = sorted(set(audience)) or [""]
    shape = (len(keys), filters.sort, filters.descending, bool(filters.process_id),
             bool(filters.activity_id), bool(filters.search), filters.due_state, per_page,
             *[(c.key is None, c.backward) if c else None
               for c in (cursors.get("mine"), cursors.get("available"))])
    built = _STATEMENTS.get(shape)
    if built is None:
        built = _build(len(keys), filters, cursors, per_page)
        if len(_STATEMENTS) >= _MAX_SHAPES:
            _STATEMENTS.clear()
        _STATEMENTS[shape] = built
    params: dict[str, Any] = {"person": person_id, "now": now, "soon": soon,
                              "process": filters.process_id, "activity": filters.activity_id,
                              "like": f"%{(filters.search or '').lower()}%"}
    params.update({f"audience_{n}": key for n, key in enumerate(keys)})
    for label in ("mine", "available"):
        cursor = cursors.get(label)
        if cursor is not None:
            params[f"{label}_key"], params[f"{label}_task"] = cursor.key, cursor.task_id
    return built, params


_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_MAX_SHAPES = 1000


def _build(audiences: int, filters: InboxFilters, cursors: dict[str, Cursor | None],
           per_page: int) -> Any:
    conditions = _filter_conditions(filters)
    branches = {
        "mine": [OpenTaskRow.assignee_id == bindparam("person", type_=Integer())],
        "available": [and_(OpenTaskRow.audience == bindparam(f"audience_{n}", type_=String()),
                           OpenTaskRow.assignee_id.is_(None)) for n in range(audiences)],
    }
    pages = [_page(label, visible, conditions, filters, cursors.get(label), per_page)
             for label, visible in branches.items()]
    counts = [_count(label, visible, conditions) for label, visible in branches.items()]
    return union_all(*[select(part.subquery()) for part in pages + counts])


def _filter_conditions(filters: InboxFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.process_id:
        conditions.append(OpenTaskRow.process_id == bindparam("process", type_=String()))
    if filters.activity_id:
        conditions.append(OpenTaskRow.activity_id == bindparam("activity", type_=String()))
    if filters.search:
        like = bindparam("like", type_=String())
        conditions.append(or_(func.lower(OpenTaskRow.case_number).like(like),
                              func.lower(OpenTaskRow.requester).like(like)))
    due = OpenTaskRow.due_at
    now, soon = bindparam("now", type_=due.type), bindparam("soon", type_=due.type)
    states: dict[str, ColumnElement[bool]] = {
        "vencida": due < now, "por_vencer": and_(due >= now, due <= soon),
        "a_tiempo": due > soon, "sin_plazo": due.is_(None)}
    if filters.due_state in states:
        conditions.append(states[filters.due_state])
    return conditions


def _page(label: str, visible: list[ColumnElement[bool]],
          conditions: list[ColumnElement[bool]], filters: InboxFilters, cursor: Cursor | None,
          per_page: int) -> Select[Any]:
    """Return up to ``per_page + 1`` rows from ``cursor`` on, in reading order (``seg``, key).

    A list read from one index walk (the claimed list) reads its rows whole. A list merged from
    several (one per audience key) picks its page on (sort value, task id) alone, read from
    the indexes, and then fetches only the rows it keeps, one primary-key lookup each: merging
    whole rows cost a full page's columns at every level of the merge.
    """
    column = SORTS[filters.sort]
    backward = cursor is not None and cursor.backward
    # Reading backward walks the same index the other way round.
    reverse = filters.descending != backward
    merging = len(visible) > 1
    read = (column.label("key"), OpenTaskRow.task_id) if merging else _COLUMNS
    segments = []
    for seg, condition in enumerate(_segments(label, filters.sort, column, cursor, reverse)):
        # Ordered by the sort column even where it is empty: by the task id alone, SQLite
        # would walk the whole primary key for a list no index serves (the claimed list).
        parts = [select(*read).where(branch, *conditions, condition).order_by(
            *[c.desc() if reverse else c.asc() for c in (column, OpenTaskRow.task_id)])
            .limit(per_page + 1) for branch in visible]
        if merging:
            # One index walk per audience key; the database merges their few (key, id) pairs.
            merged = union_all(*[select(p.subquery()) for p in parts]).subquery()
            parts = [select(merged).order_by(
                *[c.desc() if reverse else c.asc() for c in (merged.c.key, merged.c.task_id)])
                .limit(per_page + 1)]
        one = parts[0].subquery()
        segments.append(select(one, literal(seg).label("seg")))
    # No ORDER BY over the segments: UNION ALL yields them in turn, so once the first one
    # fills the page the next is never read.
    page = (segments[0] if len(segments) == 1
            else select(union_all(*segments).subquery()).limit(per_page + 1)).subquery()
    if merging:
        # The page's rows, whole, in the order chosen above.
        page = select(*_COLUMNS, page.c.seg).join_from(
            page, OpenTaskRow, OpenTaskRow.task_id == page.c.task_id).order_by(
            page.c.seg, *[c.desc() if reverse else c.asc() for c in (page.c.key, page.c.task_id)]
        ).subquery()
    return select(*[page.c[c.key] for c in _COLUMNS], page.c.seg,
                  literal(label).label("list"),
                  cast(null(), OpenTaskRow.case_id.type).label("total"))


def _segments(label: str, sort: str, column: Any, cursor: Cursor | None,
              reverse: bool) -> list[ColumnElement[bool]]:
    """Return the row ranges to read, in reading order.

    Rows without a value come after all others whichever the direction, so reading forward is
    "valued rows past the cursor, then no-value rows", and reading backward its mirror image.
    """
    task_id = OpenTaskRow.task_id
    nullable = sort in _NULLABLE
    every_valued: ColumnElement[bool] = column.is_not(None) if nullable else true()
    every_unvalued: ColumnElement[bool] = column.is_(None)
    if cursor is None:
        return [every_valued, every_unvalued][: 2 if nullable else 1]
    after = bindparam(f"{label}_task", type_=task_id.type)
    if cursor.key is None:
        past = task_id < after if reverse else task_id > after
        unvalued = and_(every_unvalued, past)
        return [unvalued, every_valued] if cursor.backward else [unvalued]
    bound = tuple_(column, task_id)
    other = tuple_(bindparam(f"{label}_key", type_=column.type), after)
    valued = bound < other if reverse else bound > other
    if cursor.backward or not nullable:
        return [valued]
    return [valued, every_unvalued]


def _count(label: str, visible: list[ColumnElement[bool]],
           conditions: list[ColumnElement[bool]]) -> Select[Any]:
    """Return one row: how many tasks the list holds, counting no further than the cap."""
    # One index walk per audience key (an OR of them would visit every row's table page),
    # each counted on its own and stopping past the cap: the keys hold disjoint tasks, so the
    # sum is the list's size, or more than the cap as soon as one of them is. Passing the
    # rows through a merge before counting them cost twice as much; so did reading a value
    # of each (a constant is enough to count).
    counts = [select(func.count()).select_from(
        select(literal_column("1")).where(branch, *conditions).limit(COUNT_CAP + 1).subquery())
        .scalar_subquery() for branch in visible]
    empty = [cast(null(), c.type).label(c.key) for c in _COLUMNS]
    return select(*empty, literal(-1).label("seg"), literal(label).label("list"),
                  reduce(operator.add, counts).label("total"))


@dataclass(frozen=True)
class ListPage:
    """One list's page as read: its rows in display order, count, and neighbouring cursors."""

    rows: tuple[Any, ...]
    total: int
    total_capped: bool
    next_cursor: str | None
    previous_cursor: str | None


def split(rows: Sequence[Any], filters: InboxFilters, cursors: dict[str, Cursor | None],
          per_page: int) -> dict[str, ListPage]:
    """Sort the statement's rows into the two lists' pages (rows arrive in reading order)."""
    read: dict[str, list[Any]] = {"mine": [], "available": []}
    totals = {"mine": 0, "available": 0}
    # By position, not by name: a full page is 50 rows, and the names cost a lookup each.
    for row in rows:
        if row[_SEG] < 0:
            totals[row[_LIST]] = int(row[_TOTAL])
        else:
            read[row[_LIST]].append(row)
    result = {}
    for label, found in read.items():
        cursor = cursors.get(label)
        # Stable order within a list: the statement's UNION keeps each page's order.
        found.sort(key=_by_segment)
        more = len(found) > per_page
        shown = found[:per_page]
        if cursor is not None and cursor.backward:
            shown.reverse()
            has_before, has_after = more, True
        else:
            has_before, has_after = cursor is not None, more
        result[label] = ListPage(
            rows=tuple(shown), total=min(totals[label], COUNT_CAP),
            total_capped=totals[label] > COUNT_CAP,
            next_cursor=_cursor_at(shown[-1], filters, False) if shown and has_after else None,
            previous_cursor=_cursor_at(shown[0], filters, True) if shown and has_before
            else None)
    return result


def _cursor_at(row: Any, filters: InboxFilters, backward: bool) -> str:
    key = getattr(row, SORTS[filters.sort].key)
    return Cursor(filters.sort, filters.descending, key, row.task_id, backward).encode()


_FIELDS = ("task_id", "case_id", "case_number", "process_id", "process_name", "activity_id",
           "activity_name", "lane", "role", "requester", "assignee_id", "created_at", "due_at",
           "form_id")
_POSITIONS = tuple(next(n for n, c in enumerate(_COLUMNS) if c.key == f) for f in _FIELDS)
_VIEW_FIELDS = itemgetter(*_POSITIONS)
# Where the statement puts each row's segment, list and count (after the table's columns).
_SEG, _LIST, _TOTAL = len(_COLUMNS), len(_COLUMNS) + 1, len(_COLUMNS) + 2
_by_segment = itemgetter(_SEG)


# The view's fields, in the order the statement reads them (the claimant's id stands where the
# view shows the claimant's user name).
_VIEW_NAMES = tuple(f.name for f in fields(TaskView))
_ASSIGNEE = _VIEW_NAMES.index("assignee")
if _VIEW_NAMES != tuple("assignee" if f == "assignee_id" else f for f in _FIELDS) or hasattr(
        TaskView, "__slots__") or hasattr(TaskView, "__post_init__"):
    raise TypeError("TaskView changed: update inbox._FIELDS and inbox.task_views")
_new_view = object.__new__


def task_views(rows: Sequence[Any], person_id: int, username: str) -> tuple[TaskView, ...]:
    """Return the rows as task views (by position: a page is read on every inbox visit).

    Each view's attributes are filled in directly rather than through the frozen dataclass's
    ``__init__``, which sets its 14 fields one ``object.__setattr__`` call at a time (three
    times the cost, on each of a full page's 50 rows). The views are the same (equal, hashable,
    frozen).
    """
    views = []
    for row in rows:
        values = list(_VIEW_FIELDS(row))
        values[_ASSIGNEE] = username if values[_ASSIGNEE] == person_id else None
        view = _new_view(TaskView)
        view.__dict__.update(zip(_VIEW_NAMES, values, strict=True))
        views.append(view)
    return tuple(views)
