"""The restricted Python every BPMN/DMN script and expression runs in, and its load-time vetting.

SpiffWorkflow's default environment is plain eval/exec with full builtins: an uploaded diagram
could read files or run commands. Here every expression site goes through RestrictedPython: no
imports, no names or attributes starting with ``_``, no ``str.format``, no attribute writes on
foreign objects, and a deliberately small set of builtins.
"""

from __future__ import annotations

import ast
import copy
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from types import CodeType
from typing import Any, cast

from RestrictedPython import compile_restricted, limited_builtins, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from .clock import ClockedDate, ClockedDatetime
from .limits import (
    DEFAULT_LIMITS,
    LimitingTransformer,
    ScriptLimitExceeded,
    ScriptLimits,
    check_data,
    guarded_builtins,
    identities,
    inplace,
    limit_globals,
    limited,
)

# Exceptions a script may raise without taking the worker down with it (BaseException escapes
# SpiffWorkflow's error handling), and builtins that mutate or introspect foreign objects.
_WITHHELD = {
    "setattr", "delattr", "__build_class__", "id", "BaseException", "SystemExit",
    "KeyboardInterrupt", "GeneratorExit",
}

_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor,
    "<<=": operator.ilshift, ">>=": operator.irshift,
}


def _plain_inplace(op: str, target: Any, value: Any) -> Any:
    try:
        return _INPLACE_OPERATORS[op](target, value)
    except KeyError:
        raise RestrictedCodeError(f"Operator {op} is not allowed") from None


def _inplace(op: str, target: Any, value: Any) -> Any:
    # The operators that can build a huge value get the same size guards as their binary form.
    return inplace(op, target, value, _plain_inplace)


def _builtins() -> dict[str, Any]:
    allowed = {k: v for k, v in safe_builtins.items() if k not in _WITHHELD}
    allowed.update(limited_builtins)
    allowed.update(
        sum=sum, min=min, max=max, any=any, all=all, enumerate=enumerate, sorted=sorted,
        reversed=reversed, zip=zip, dict=dict, list=list, set=set, frozenset=frozenset,
        map=map, filter=filter, tuple=tuple,
    )
    allowed.update(guarded_builtins())
    return allowed


def _base_globals() -> dict[str, Any]:
    # Classes and functions only, never modules: a module object hands out its own imports.
    return {
        "__builtins__": _builtins(),
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplace,
        "_print_": PrintCollector,
        "datetime": ClockedDatetime,
        "date": ClockedDate,
        "timedelta": timedelta,
        "timezone": timezone,
        "Decimal": Decimal,
        **limit_globals(),
    }


class RestrictedCodeError(ValueError):
    """Source that the sandbox refuses to compile (forbidden construct or syntax error)."""


@lru_cache(maxsize=4096)
def compile_restricted_source(source: str, mode: str) -> CodeType:
    """Compile ``source`` under RestrictedPython (cached), or raise RestrictedCodeError."""
    try:
        return compile_restricted(source, filename="<bpmn>", mode=cast(Any, mode),
                                  policy=LimitingTransformer)
    except SyntaxError as error:
        # SpiffWorkflow's error formatter chokes on SyntaxError.lineno=None: hand it a plain error.
        message = error.msg if isinstance(error.msg, str) else "; ".join(error.msg)
        raise RestrictedCodeError(f"Código no permitido: {in_spanish(message)}") from None


# RestrictedPython's refusals, as process owners read them (anything else keeps its words).
_REFUSALS = (
    (re.compile(r"\bLine (\d+): "), r"línea \1: "),
    (re.compile(r"SyntaxError: invalid syntax at statement: '(.*)'", re.S),
     r"error de sintaxis en «\1»"),
    (re.compile(r"SyntaxError: .*", re.S), "error de sintaxis"),
    (re.compile(r'"([^"]+)" is an invalid variable name because it starts with "_"\.?'),
     r"el nombre «\1» no se permite porque empieza por «_»"),
    (re.compile(r'"([^"]+)" is an invalid attribute name because it starts with "_"\.?'),
     r"el atributo «\1» no se permite porque empieza por «_»"),
    (re.compile(r"(Exec|Eval) calls are not allowed\.?"),
     lambda m: f"no se permite llamar a {m.group(1).lower()}"),
)


def in_spanish(message: str) -> str:
    """Say a RestrictedPython refusal in Spanish."""
    for pattern, replacement in _REFUSALS:
        message = pattern.sub(replacement, message)
    return message


class SandboxEnvironment(TaskDataEnvironment):
    """A SpiffWorkflow script environment that evaluates everything through RestrictedPython,
    each script and expression under the limits of engine/limits.py."""

    def __init__(self, helpers: Mapping[str, Callable[..., Any]] | None = None,
                 limits: ScriptLimits = DEFAULT_LIMITS):
        super().__init__({**_base_globals(), **(helpers or {})})
        self.limits = limits

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        code = compile_restricted_source(expression.strip(), "eval")
        scope = copy.copy(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        with limited(self.limits):
            return eval(code, scope)

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        code = compile_restricted_source(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        before = identities(context)
        context.update(copy.copy(self.globals))
        context.update(external_context or {})
        try:
            with limited(self.limits):
                exec(code, context)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        # What the script leaves is stored with the case: refuse it now, naming this script,
        # rather than when the state is saved.
        check_data(context, self.limits, before)
        return True


class SandboxScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine, telling which task a limit was exceeded in."""

    def evaluate(self, task: Any, expression: str,
                 external_context: dict[str, Any] | None = None) -> Any:
        try:
            return super().evaluate(task, expression, external_context)
        except ScriptLimitExceeded as exceeded:
            exceeded.task, exceeded.site = exceeded.task or task, "expression"
            raise

    def execute(self, task: Any, script: str,
                external_context: dict[str, Any] | None = None) -> Any:
        try:
            return super().execute(task, script, external_context)
        except ScriptLimitExceeded as exceeded:
            exceeded.task = exceeded.task or task
            raise

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        # SpiffWorkflow 3.2's own call_service fails with a NameError; Cauce has no connectors.
        raise WorkflowTaskException(
            "Cauce no tiene conectores para tareas de servicio: esta tarea no se puede ejecutar",
            task=task)


def sandboxed_script_engine(helpers: Mapping[str, Callable[..., Any]] | None = None,
                            limits: ScriptLimits = DEFAULT_LIMITS) -> PythonScriptEngine:
    """Build the script engine set on every workflow the engine creates or restores."""
    return SandboxScriptEngine(environment=SandboxEnvironment(helpers, limits))


@dataclass(frozen=True)
class CodeSite:
    """One piece of code inside a definition: which element, what kind, the source, the mode."""

    element: str
    kind: str
    source: str
    mode: str


# Refused at load even though the sandbox would also stop them at run time: a diagram that tries
# is hostile or broken, and its author should hear so before anyone runs it.
FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "globals", "locals", "getattr", "setattr", "delattr",
    "hasattr", "breakpoint", "memoryview", "super", "exit", "quit", "classmethod",
    "staticmethod", "bytearray",
})
# Builtins the sandbox does not have whose names are also ordinary data variables (a DMN column
# ``type``, a form field ``input``): reading them reads the case's data, so only calling one is
# refused.
FORBIDDEN_CALLS = frozenset({"type", "input", "object", "property", "help", "vars", "dir"})
FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map", "mro", "gi_frame", "f_globals"})


def _static_problem(source: str, mode: str) -> str | None:
    tree = ast.parse(source, mode=mode)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return f"no se permite importar módulos (línea {node.lineno})"
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            return f"no se permite usar {node.id!r} (línea {node.lineno})"
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_CALLS):
            return f"no se permite llamar a {node.func.id!r} (línea {node.lineno})"
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            return f"no se permite el atributo {node.attr!r} (línea {node.lineno})"
    return None


def vet(sites: Iterator[CodeSite] | list[CodeSite]) -> list[tuple[CodeSite, str]]:
    """Compile every site under the sandbox; return the ones refused, with the reason."""
    refused = []
    for site in sites:
        source = site.source.strip() if site.mode == "eval" else site.source
        if not source.strip():
            refused.append((site, f"{site.kind} vacío"))
            continue
        try:
            compile_restricted_source(source, site.mode)
            problem = _static_problem(source, site.mode)
        except RestrictedCodeError as error:
            refused.append((site, str(error)))
            continue
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            # Null bytes, or nesting too deep for Python's own parser.
            refused.append((site, "Código no permitido: Python no puede compilarlo"))
            continue
        if problem:
            refused.append((site, f"Código no permitido: {problem}"))
    return refused
