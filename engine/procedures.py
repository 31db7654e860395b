"""Procedures and their versions: listing, drafts with optimistic revisions, publish, export.

Versions live in ``process_version`` (content-addressed, immutable). A version's *number* is its
rank among its procedure's versions by row id, so numbers never collide however many owners
publish at once. ``procedure_version_note`` adds who published it and why; the files version
seeded from ``bpmn/`` has none. One draft per procedure (``procedure_draft``) carries a revision
counter: a save names the revision it saw, and a stale one is refused, never overwritten.

Other app processes learn of a new version through ``process.current_version_id``: the engine
reads it when starting a case and when listing procedures (``sync_current``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .errors import CauceError, Conflict, NotFound, PermissionDenied
from .library import RESPONSIBILITY_SUFFIX, ProcessDefinition, read_directory
from .procedure_check import CheckResult, Problem, check_files
from .store import Base, CaseRow, ProcessRow, ProcessVersionRow
from .views import PersonView
from .xmlsafe import UnsafeXml, parse_untrusted_xml

if TYPE_CHECKING:
    from .api import Engine

OWNER = "owner"


class VersionNoteRow(Base):
    """Who published a version through the workshop, and their comment."""

    __tablename__ = "procedure_version_note"
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), primary_key=True)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")


class ProcedureDraftRow(Base):
    """The one draft of a procedure an owner is editing; ``revision`` counts its saves."""

    __tablename__ = "procedure_draft"
    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    base_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    files: Mapped[dict[str, Any]]
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]


# -- errors -----------------------------------------------------------------------------------


class DraftConflict(Conflict):
    """Someone saved the draft since this person read it."""

    def __init__(self, message: str, *, updated_by: str, revision: int):
        super().__init__(message)
        self.updated_by = updated_by
        self.revision = revision


class ChecksFailed(CauceError):
    """The files do not pass the check; nothing was published or saved."""

    code = "check_failed"

    def __init__(self, message: str, problems: list[Problem]):
        super().__init__(message)
        self.problems = problems


# -- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionInfo:
    """One version of a procedure as the versions page shows it."""

    version_id: int
    number: int
    hash: str
    created_by: str | None
    created_at: datetime
    comment: str
    source: str
    open_cases: int = 0
    closed_cases: int = 0


@dataclass(frozen=True)
class ProcedureInfo:
    """A procedure: its current version, owners, and every version."""

    process_id: str
    name: str
    code: str
    current: VersionInfo
    versions: tuple[VersionInfo, ...]
    owner_role: str | None
    owner_role_name: str | None
    owners: tuple[PersonView, ...]
    can_edit: bool


@dataclass(frozen=True)
class Draft:
    """A procedure's draft: its files (API shape), revision and who saved it last."""

    process_id: str
    revision: int
    base_version: int
    updated_by: str
    updated_at: datetime
    files: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """The version a publish created (or found, when the same files were already a version)."""

    process_id: str
    number: int
    hash: str
    created: bool


# -- files: bundle (name -> text) <-> API shape ---------------------------------------------


def files_from_bundle(bundle: Mapping[str, str]) -> dict[str, Any]:
    """Return a bundle as the API shows it: bpmn, dmn, forms (schema + ui), responsibility."""
    shaped: dict[str, Any] = {"bpmn": {}, "dmn": {}, "forms": {}, "responsibility": {}}
    for name, text in sorted(bundle.items()):
        if name.startswith("forms/"):
            base = name.removeprefix("forms/")
            if base.endswith(".ui.json"):
                entry = shaped["forms"].setdefault(base.removesuffix(".ui.json") + ".json", {})
                entry["ui"] = json.loads(text)
            else:
                entry = shaped["forms"].setdefault(base, {})
                entry["schema"] = json.loads(text)
        elif name.endswith(".bpmn"):
            shaped["bpmn"][name] = text
        elif name.endswith(".dmn"):
            shaped["dmn"][name] = text
        elif name.endswith(RESPONSIBILITY_SUFFIX):
            shaped["responsibility"][name] = json.loads(text)
    for entry in shaped["forms"].values():
        entry.setdefault("schema", None)
        entry.setdefault("ui", None)
    return shaped


def bundle_from_files(shaped: Mapping[str, Any],
                      base: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """Return the API shape as file bytes; raise ChecksFailed when its shape is wrong.

    A JSON file (form, table) equal in value to the same file of ``base`` keeps ``base``'s
    text, so an untouched form does not change the version's hash.
    """
    files: dict[str, bytes] = {}
    problems: list[Problem] = []

    def dumped(name: str, value: Any) -> bytes:
        if base is not None and name in base:
            try:
                if json.loads(base[name]) == value:
                    return base[name].encode("utf-8")
            except ValueError:
                pass
        return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def wrong(where: str, message: str) -> None:
        problems.append(Problem(where, None, None, "error", message))

    for key, suffix in (("bpmn", ".bpmn"), ("dmn", ".dmn")):
        group = shaped.get(key) or {}
        if not isinstance(group, Mapping):
            wrong(key, f"'{key}' debe ser un objeto {{nombre de archivo: XML}}")
            continue
        for name, text in group.items():
            if not isinstance(text, str) or not str(name).endswith(suffix):
                wrong(str(name), f"Cada archivo de '{key}' debe terminar en {suffix} y ser texto")
                continue
            files[str(name)] = text.encode("utf-8")
    forms = shaped.get("forms") or {}
    if not isinstance(forms, Mapping):
        wrong("forms", "'forms' debe ser un objeto {nombre.json: {schema, ui}}")
        forms = {}
    for name, form in forms.items():
        name = str(name)
        if not name.endswith(".json") or not isinstance(form, Mapping):
            wrong(name, "Cada formulario debe llamarse <nombre>.json y tener {schema, ui}")
            continue
        files[f"forms/{name}"] = dumped(f"forms/{name}", form.get("schema"))
        if form.get("ui") is not None:
            ui_name = f"forms/{name.removesuffix('.json')}.ui.json"
            files[ui_name] = dumped(ui_name, form["ui"])
    tables = shaped.get("responsibility") or {}
    if not isinstance(tables, Mapping):
        wrong("responsibility", "'responsibility' debe ser un objeto {archivo: tabla}")
        tables = {}
    for name, table in tables.items():
        if not str(name).endswith(RESPONSIBILITY_SUFFIX):
            wrong(str(name), f"Una tabla de responsabilidades termina en {RESPONSIBILITY_SUFFIX}")
            continue
        files[str(name)] = dumped(str(name), table)
    if problems:
        raise ChecksFailed("Los archivos del borrador no tienen la forma esperada", problems)
    return files


def _xml_problems(files: Mapping[str, bytes]) -> list[Problem]:
    """Parse every XML file with the hardened parser; return why any is refused."""
    problems = []
    for name, data in files.items():
        if name.endswith((".bpmn", ".dmn")):
            try:
                parse_untrusted_xml(data)
            except UnsafeXml as error:
                problems.append(Problem(name, None, error.line, "error", error.reason))
    return problems


# -- owners -----------------------------------------------------------------------------------


def owner_roles(definition: ProcessDefinition) -> frozenset[str]:
    """Return the roles that own a procedure (its responsibility table's ``oversight.owner``)."""
    return definition.responsibility.oversight_roles(OWNER)


def is_owner(person: PersonView, definition: ProcessDefinition) -> bool:
    """Tell whether this person owns the procedure (may edit, publish and migrate it)."""
    return bool(person.roles & owner_roles(definition))


def require_owner(engine: Engine, process_id: str, by: PersonView | str) -> PersonView:
    """Return the person if they own the procedure; raise PermissionDenied otherwise."""
    person = engine._actor(by)
    definition = current_definition(engine, process_id)
    if not is_owner(person, definition):
        raise PermissionDenied("Solo los propietarios del procedimiento pueden hacer esto")
    return person


# -- current versions shared between app processes --------------------------------------------


def sync_current(engine: Engine, process_id: str | None = None) -> dict[str, int]:
    """Read each procedure's current version from the database and adopt it in this process."""
    with engine._reader() as session:
        query = select(ProcessRow.process_id, ProcessRow.current_version_id)
        if process_id is not None:
            query = query.where(ProcessRow.process_id == process_id)
        rows = session.execute(query).all()
    for pid, version_id in rows:
        if engine._current.get(pid) != version_id:
            definition = engine._definition(version_id)
            engine._current[pid] = version_id
            engine.library = engine.library.with_definition(definition)
    return {pid: vid for pid, vid in rows}


def current_definition(engine: Engine, process_id: str) -> ProcessDefinition:
    """Return the procedure's current version; NotFound when there is no such procedure."""
    current = sync_current(engine, process_id)
    if process_id not in current:
        raise NotFound(f"No existe el procedimiento {process_id!r}")
    return engine._definition(current[process_id])


# -- listing ----------------------------------------------------------------------------------


def _versions(session: Session, process_id: str) -> list[VersionInfo]:
    rows = session.execute(
        select(ProcessVersionRow.id, ProcessVersionRow.content_hash,
               ProcessVersionRow.created_at, ProcessVersionRow.source,
               VersionNoteRow.created_by, VersionNoteRow.comment)
        .outerjoin(VersionNoteRow, VersionNoteRow.version_id == ProcessVersionRow.id)
        .where(ProcessVersionRow.process_id == process_id)
        .order_by(ProcessVersionRow.id)).all()
    counts: dict[tuple[int, bool], int] = {}
    for version_id, status, count in session.execute(
            select(CaseRow.version_id, CaseRow.status, func.count())
            .where(CaseRow.process_id == process_id)
            .group_by(CaseRow.version_id, CaseRow.status)).all():
        key = (version_id, status == "open")
        counts[key] = counts.get(key, 0) + count
    return [VersionInfo(row.id, number, row.content_hash, row.created_by, row.created_at,
                        row.comment or ("Versión inicial desde bpmn/" if row.source == "files"
                                        and number == 1 else ""),
                        row.source, counts.get((row.id, True), 0),
                        counts.get((row.id, False), 0))
            for number, row in enumerate(rows, start=1)]


def list_procedures(engine: Engine, by: PersonView | str) -> list[ProcedureInfo]:
    """Return every procedure with its versions, owners and case counts."""
    person = engine._actor(by)
    current = sync_current(engine)
    found = []
    with engine._reader() as session:
        for process_id in sorted(current):
            definition = engine._definition(current[process_id])
            versions = _versions(session, process_id)
            now = next(v for v in versions if v.version_id == current[process_id])
            owner = definition.responsibility.oversight.get(OWNER)
            owners = tuple(p for role in sorted(owner_roles(definition))
                           for p in engine.people_with_role(role))
            found.append(ProcedureInfo(
                process_id, definition.name, definition.responsibility.code, now,
                tuple(versions), owner.role if owner else None,
                owner.role_name if owner else None, owners, is_owner(person, definition)))
    return found


def procedure(engine: Engine, process_id: str, by: PersonView | str) -> ProcedureInfo:
    """Return one procedure (NotFound when there is none with this id)."""
    for info in list_procedures(engine, by):
        if info.process_id == process_id:
            return info
    raise NotFound(f"No existe el procedimiento {process_id!r}")


def version_row(session: Session, process_id: str, number: int) -> ProcessVersionRow:
    """Return the row of version ``number`` of a procedure; NotFound when there is none."""
    if number < 1:
        raise NotFound("No existe esa versión")
    row = session.scalars(select(ProcessVersionRow)
                          .where(ProcessVersionRow.process_id == process_id)
                          .order_by(ProcessVersionRow.id).offset(number - 1).limit(1)).first()
    if row is None:
        raise NotFound(f"No existe la versión {number} de {process_id!r}")
    return row


def version_definition(engine: Engine, process_id: str, number: int) -> ProcessDefinition:
    """Return version ``number`` of a procedure, ready to run."""
    with engine._reader() as session:
        version_id = version_row(session, process_id, number).id
    return engine._definition(version_id)


def version_number(session: Session, version_id: int) -> int:
    """Return the number of a version (its rank among its procedure's versions)."""
    process_id = session.scalars(select(ProcessVersionRow.process_id)
                                 .where(ProcessVersionRow.id == version_id)).one()
    return int(session.scalar(select(func.count()).select_from(ProcessVersionRow).where(
        ProcessVersionRow.process_id == process_id, ProcessVersionRow.id <= version_id)) or 0)


def version_files(engine: Engine, process_id: str, number: int) -> dict[str, Any]:
    """Return version ``number``'s files in the API shape."""
    return files_from_bundle(version_definition(engine, process_id, number).bundle)


def start_form(engine: Engine, process_id: str) -> dict[str, Any] | None:
    """Return the form a new case of the procedure starts with (schema and ui), or None."""
    definition = current_definition(engine, process_id)
    first = _first_activity(engine, definition)
    form = definition.form(first.form_id) if first else None
    if form is None:
        return None
    return {"activity_id": first.bpmn_id if first else None, "form_id": form.form_id,
            "schema": form.schema, "ui": form.ui}


_FIRST_ACTIVITY: dict[str, Any] = {}


def _first_activity(engine: Engine, definition: ProcessDefinition) -> Any:
    # Start a throwaway workflow: the exact task ``start_case(data=…)`` would complete.
    if definition.version_hash not in _FIRST_ACTIVITY:
        from .clock import bound_now

        with bound_now(engine.clock()):
            workflow, _path = engine.runtime.start(definition)
        snap = engine.runtime.snapshot(workflow, definition.side_branches)
        first = None
        if snap.ready_human:
            first = definition.activities.get(snap.ready_human[0].task_spec.bpmn_id)
        _FIRST_ACTIVITY[definition.version_hash] = first
    return _FIRST_ACTIVITY[definition.version_hash]


# -- drafts -----------------------------------------------------------------------------------


def _draft_view(session: Session, row: ProcedureDraftRow) -> Draft:
    return Draft(row.process_id, row.revision, version_number(session, row.base_version_id),
                 row.updated_by, row.updated_at, dict(row.files))


def get_draft(engine: Engine, process_id: str, by: PersonView | str) -> Draft:
    """Return the procedure's draft, creating it from the current version if there is none."""
    person = require_owner(engine, process_id, by)
    definition = current_definition(engine, process_id)
    with engine._writer.begin() as session:
        row = session.get(ProcedureDraftRow, process_id)
        if row is None:
            row = ProcedureDraftRow(
                process_id=process_id, revision=1, base_version_id=engine._current[process_id],
                files=files_from_bundle(definition.bundle), updated_by=person.username,
                updated_at=engine.clock())
            session.add(row)
            session.flush()
        return _draft_view(session, row)


def find_draft(engine: Engine, process_id: str) -> Draft | None:
    """Return the procedure's draft if one exists (for pages), without creating it."""
    with engine._reader() as session:
        row = session.get(ProcedureDraftRow, process_id)
        return _draft_view(session, row) if row is not None else None


def save_draft(engine: Engine, process_id: str, *, by: PersonView | str, revision: int,
               files: Mapping[str, Any]) -> Draft:
    """Save the draft if nobody saved it since ``revision``; raise DraftConflict otherwise."""
    person = require_owner(engine, process_id, by)
    as_bytes = bundle_from_files({**files, "responsibility": files.get("responsibility")},
                                 current_definition(engine, process_id).bundle)
    refused = _xml_problems(as_bytes)
    if refused:
        raise ChecksFailed("El borrador contiene XML que Cauce no acepta", refused)
    now = engine.clock()
    with engine._writer.begin() as session:
        row = session.get(ProcedureDraftRow, process_id)
        shaped = files_from_bundle({k: v.decode("utf-8") for k, v in as_bytes.items()})
        if not shaped["responsibility"] and row is not None:
            shaped["responsibility"] = row.files.get("responsibility", {})
        if row is None:
            if revision != 0:
                raise DraftConflict("El borrador ya no existe: otra persona lo publicó o lo "
                                    "descartó", updated_by="", revision=0)
            if not shaped["responsibility"]:
                shaped["responsibility"] = files_from_bundle(
                    current_definition(engine, process_id).bundle)["responsibility"]
            session.add(ProcedureDraftRow(
                process_id=process_id, revision=1, base_version_id=engine._current[process_id],
                files=shaped, updated_by=person.username, updated_at=now))
            session.flush()
            return _draft_view(session, session.get(ProcedureDraftRow, process_id))
        # One conditional UPDATE: of two saves that read the same revision, one wins.
        result = session.execute(
            update(ProcedureDraftRow)
            .where(ProcedureDraftRow.process_id == process_id,
                   ProcedureDraftRow.revision == revision)
            .values(revision=revision + 1, files=shaped, updated_by=person.username,
                    updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise _conflict(row)
    return Draft(process_id, revision + 1, 0, person.username, now, shaped)


def _conflict(row: ProcedureDraftRow) -> DraftConflict:
    from zoneinfo import ZoneInfo

    at = row.updated_at.astimezone(ZoneInfo("America/Guayaquil")).strftime("%H:%M:%S")
    return DraftConflict(f"{row.updated_by} guardó otra versión del borrador a las {at} "
                         f"(revisión {row.revision}); recargue el borrador antes de guardar",
                         updated_by=row.updated_by, revision=row.revision)


def discard_draft(engine: Engine, process_id: str, *, by: PersonView | str) -> bool:
    """Discard the procedure's draft; return whether there was one."""
    require_owner(engine, process_id, by)
    with engine._writer.begin() as session:
        row = session.get(ProcedureDraftRow, process_id)
        if row is None:
            return False
        session.delete(row)
    return True


def check_draft(engine: Engine, process_id: str, *, by: PersonView | str,
                files: Mapping[str, Any] | None = None) -> CheckResult:
    """Check the saved draft (or ``files`` in the API shape) with the start-up pipeline."""
    draft = get_draft(engine, process_id, by)
    shaped = dict(files) if files is not None else draft.files
    if not shaped.get("responsibility"):
        shaped["responsibility"] = draft.files.get("responsibility", {})
    try:
        as_bytes = bundle_from_files(shaped, current_definition(engine, process_id).bundle)
    except ChecksFailed as failure:
        return CheckResult(tuple(failure.problems), None, 0.0)
    return check_files(process_id, as_bytes)


# -- publishing -------------------------------------------------------------------------------


def publish_draft(engine: Engine, process_id: str, *, by: PersonView | str, revision: int,
                  comment: str) -> Published:
    """Publish the draft as a new version (refused if stale or if the check fails)."""
    person = require_owner(engine, process_id, by)
    with engine._reader() as session:
        row = session.get(ProcedureDraftRow, process_id)
        if row is None:
            raise NotFound("No hay un borrador que publicar")
        if row.revision != revision:
            raise _conflict(row)
        files = dict(row.files)
    result = check_files(process_id, bundle_from_files(
        files, current_definition(engine, process_id).bundle))
    if not result.ok or result.definition is None:
        raise ChecksFailed("El borrador tiene problemas: corríjalos antes de publicar",
                           list(result.problems))
    published = publish_definition(engine, result.definition, by=person.username,
                                   comment=comment, source="workshop")
    with engine._writer.begin() as session:
        # Only the revision that was published goes: a save made meanwhile stays a draft.
        found = session.get(ProcedureDraftRow, process_id)
        if found is not None and found.revision == revision:
            session.delete(found)
    return published


def publish_files(engine: Engine, process_id: str, files: Mapping[str, bytes], *,
                  by: PersonView | str | None, comment: str, source: str = "import",
                  ) -> Published:
    """Check files and publish them as a version of ``process_id`` (import, tests, bench)."""
    result = check_files(process_id, files)
    if not result.ok or result.definition is None:
        raise ChecksFailed(f"{process_id}: los archivos tienen problemas",
                           [p for p in result.problems if p.severity == "error"])
    who = None if by is None else engine._actor(by).username
    return publish_definition(engine, result.definition, by=who, comment=comment,
                              source=source)


def publish_definition(engine: Engine, definition: ProcessDefinition, *, by: str | None,
                       comment: str, source: str) -> Published:
    """Store a checked definition as a version and make it the one new cases start on."""
    from .api import _insert_or_ignore

    with engine._writer.begin() as session:
        upsert = _insert_or_ignore(session)
        created = session.execute(upsert(ProcessVersionRow).values(
            process_id=definition.process_id, content_hash=definition.version_hash,
            name=definition.name, bundle=definition.bundle, manifest=dict(definition.manifest),
            spec_json=definition.spec_json(), created_at=engine.clock(), source=source,
        ).on_conflict_do_nothing(index_elements=["content_hash"])
            # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT.
            .returning(ProcessVersionRow.id)).scalar() is not None
        version_id = session.scalars(select(ProcessVersionRow.id).where(
            ProcessVersionRow.content_hash == definition.version_hash)).one()
        if created:
            session.add(VersionNoteRow(version_id=version_id, created_by=by,
                                       comment=comment[:2000]))
        session.execute(update(ProcessRow).where(ProcessRow.process_id == definition.process_id)
                        .values(current_version_id=version_id))
        session.flush()
        number = version_number(session, version_id)
    engine._definitions[version_id] = definition
    engine._current[definition.process_id] = version_id
    engine.library = engine.library.with_definition(definition)
    return Published(definition.process_id, number, definition.version_hash, created)


# -- export / import --------------------------------------------------------------------------


def export_current(engine: Engine, target: str | Path) -> list[str]:
    """Write every procedure's current version as files (``bpmn`` layout); return the names."""
    out = Path(target)
    written: set[str] = set()
    for process_id, version_id in sorted(sync_current(engine).items()):
        for name, text in engine._definition(version_id).bundle.items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.add(name)
        del process_id
    return sorted(written)


def import_directory(engine: Engine, source: str | Path, *, by: PersonView | str | None,
                     comment: str = "Importado desde archivos") -> list[Published]:
    """Publish every procedure found in ``source`` (each through the check)."""
    base = Path(source)
    files = read_directory(base, base / "forms")
    process_ids = sorted(name.removesuffix(RESPONSIBILITY_SUFFIX) for name in files
                         if name.endswith(RESPONSIBILITY_SUFFIX))
    return [publish_files(engine, pid, files, by=by, comment=comment) for pid in process_ids]
