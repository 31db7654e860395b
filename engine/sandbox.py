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
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from .clock import ClockedDate, ClockedDatetime

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


def _inplace(op: str, target: Any, value: Any) -> Any:
    try:
        return _INPLACE_OPERATORS[op](target, value)
    except KeyError:
        raise RestrictedCodeError(f"Operator {op} is not allowed") from None


def _builtins() -> dict[str, Any]:
    allowed = {k: v for k, v in safe_builtins.items() if k not in _WITHHELD}
    allowed.update(limited_builtins)
    allowed.update(
        sum=sum, min=min, max=max, any=any, all=all, enumerate=enumerate, sorted=sorted,
        reversed=reversed, zip=zip, dict=dict, list=list, set=set, frozenset=frozenset,
        map=map, filter=filter, tuple=tuple,
    )
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
    }


class RestrictedCodeError(ValueError):
    """Source that the sandbox refuses to compile (forbidden construct or syntax error)."""


@lru_cache(maxsize=4096)
def compile_restricted_source(source: str, mode: str) -> CodeType:
    """Compile ``source`` under RestrictedPython (cached), or raise RestrictedCodeError."""
    try:
        return compile_restricted(source, filename="<bpmn>", mode=cast(Any, mode))
    except SyntaxError as error:
        # SpiffWorkflow's error formatter chokes on SyntaxError.lineno=None: hand it a plain error.
        message = error.msg if isinstance(error.msg, str) else "; ".join(error.msg)
        raise RestrictedCodeError(f"Código no permitido: {message}") from None


class SandboxEnvironment(TaskDataEnvironment):
    """A SpiffWorkflow script environment that evaluates everything through RestrictedPython."""

    def __init__(self, helpers: Mapping[str, Callable[..., Any]] | None = None):
        super().__init__({**_base_globals(), **(helpers or {})})

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        scope = copy.copy(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        return eval(compile_restricted_source(expression.strip(), "eval"), scope)

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        context.update(copy.copy(self.globals))
        context.update(external_context or {})
        try:
            exec(compile_restricted_source(script, "exec"), context)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True


def sandboxed_script_engine(helpers: Mapping[str, Callable[..., Any]] | None = None
                            ) -> PythonScriptEngine:
    """Build the script engine set on every workflow the engine creates or restores."""
    return PythonScriptEngine(environment=SandboxEnvironment(helpers))


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
    "open", "exec", "eval", "compile", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "hasattr", "input", "breakpoint", "help", "memoryview", "type", "object", "super",
    "dir", "exit", "quit", "classmethod", "staticmethod", "property", "bytearray",
})
FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map", "mro", "gi_frame", "f_globals"})


def _static_problem(source: str, mode: str) -> str | None:
    tree = ast.parse(source, mode=mode)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return f"no se permite importar módulos (línea {node.lineno})"
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            return f"no se permite usar {node.id!r} (línea {node.lineno})"
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
        except RestrictedCodeError as error:
            refused.append((site, str(error)))
            continue
        problem = _static_problem(source, site.mode)
        if problem:
            refused.append((site, f"Código no permitido: {problem}"))
    return refused
