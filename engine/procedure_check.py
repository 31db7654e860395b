"""Check a procedure's files: the one pipeline start-up runs, returning problems as data.

Start-up (``ProcessLibrary.load_directory``) and the owner's *Comprobar*/*Publicar* both call
``library.compile_bundle``: hardened XML, DMN table rules, XSD and SpiffWorkflow parse, sandbox
vetting of every script and expression, lanes ↔ roles, forms. This module adds only what an
upload needs before that (names, sizes) and turns refusals into plain records.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .errors import DefinitionProblem, ProcessDefinitionError
from .library import RESPONSIBILITY_SUFFIX, ProcessDefinition, compile_bundle
from .sandbox import CodeSite, vet
from .xmlsafe import MAX_XML_BYTES

# A whole procedure (diagram, tables, forms) stays far below this; more is an upload mistake.
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_FILES = 200
# File names of a bundle: a flat name, or forms/<name>.json. No directories, no dot-dot.
_NAME = re.compile(r"(?:forms/)?[A-Za-z0-9_][A-Za-z0-9_.\-]{0,120}")
_KNOWN = (".bpmn", ".dmn", ".json")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a procedure: where (file, element, line), how bad, and why."""

    file: str
    element_id: str | None
    line: int | None
    severity: str
    message: str

    def to_json(self) -> dict[str, object]:
        """Return the problem as the API shows it."""
        return asdict(self)


@dataclass(frozen=True)
class CheckResult:
    """What the check found; ``definition`` is the runnable version when nothing is wrong."""

    problems: tuple[Problem, ...]
    definition: ProcessDefinition | None
    seconds: float

    @property
    def ok(self) -> bool:
        """Tell whether the files can be published (no errors; warnings allowed)."""
        return self.definition is not None and not any(
            p.severity == "error" for p in self.problems)


def _problem(found: DefinitionProblem, severity: str = "error") -> Problem:
    element = (found.element or "").split(" ")[0] or None
    return Problem(found.file, element, found.line, severity, found.reason)


def upload_problems(files: Mapping[str, bytes]) -> list[Problem]:
    """Return why a set of uploaded files is refused before any of it is parsed."""
    problems: list[Problem] = []
    if len(files) > MAX_FILES:
        problems.append(Problem("", None, None, "error",
                                f"Demasiados archivos ({len(files)}; máximo {MAX_FILES})"))
    total = 0
    for name, data in files.items():
        total += len(data)
        if not _NAME.fullmatch(name) or ".." in name or not name.endswith(_KNOWN):
            problems.append(Problem(name, None, None, "error",
                                    "Nombre de archivo no permitido (solo letras, números, "
                                    "_ . -; extensiones .bpmn, .dmn o .json)"))
        elif name.endswith((".bpmn", ".dmn")) and len(data) > MAX_XML_BYTES:
            problems.append(Problem(name, None, None, "error",
                                    f"El archivo supera el tamaño máximo "
                                    f"({MAX_XML_BYTES // 1024} KB)"))
    if total > MAX_BUNDLE_BYTES:
        problems.append(Problem("", None, None, "error",
                                f"El procedimiento supera el tamaño máximo "
                                f"({MAX_BUNDLE_BYTES // 1024 // 1024} MB)"))
    return problems


def check_files(process_id: str, files: Mapping[str, bytes]) -> CheckResult:
    """Run the start-up pipeline over one procedure's files; never raise for a bad file."""
    started = time.perf_counter()
    problems = upload_problems(files)
    if f"{process_id}{RESPONSIBILITY_SUFFIX}" not in files:
        problems.append(Problem(f"{process_id}{RESPONSIBILITY_SUFFIX}", None, None, "error",
                                "Falta la tabla de responsabilidades del procedimiento"))
    if problems:
        return CheckResult(tuple(problems), None, time.perf_counter() - started)
    try:
        definitions = compile_bundle(files)
    except ProcessDefinitionError as error:
        return CheckResult(tuple(_problem(p) for p in error.problems), None,
                           time.perf_counter() - started)
    definition = definitions.get(process_id)
    if definition is None:
        return CheckResult((Problem(f"{process_id}{RESPONSIBILITY_SUFFIX}", process_id, None,
                                    "error", f"Los archivos no definen el procedimiento "
                                             f"{process_id!r}"),), None,
                           time.perf_counter() - started)
    warnings = [Problem(name, None, None, "warning",
                        "El archivo no lo usa el procedimiento: no formará parte de la versión")
                for name in sorted(files) if name not in definition.bundle]
    return CheckResult(tuple(warnings), definition, time.perf_counter() - started)


def vet_code(kind: str, text: str) -> str | None:
    """Return the sandbox's verdict on one script or condition (None when it is allowed)."""
    mode = "exec" if kind == "script" else "eval"
    label = "Script" if kind == "script" else "Condición"
    refused = vet([CodeSite("editor", label, text, mode)])
    return refused[0][1] if refused else None
