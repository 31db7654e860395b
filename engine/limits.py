"""Limits on every script and expression a procedure runs: time, memory, value sizes, data.

RestrictedPython stops a script from reaching anything it should not; it does not stop one from
running for ever or filling the memory. Scripts run in the server's own threads (a process pool
would cost more per task than the whole engine step), so the limits are enforced from inside:

- the compiler (``LimitingTransformer``) adds a deadline check at the top of every loop body,
  function, lambda and comprehension, and routes ``+ * ** << %`` and f-string widths through
  guards that refuse a result larger than the limits *before* it is built;
- ``range``, ``pow`` and the string methods that take a size (``ljust``, ``replace``, ``join``…)
  are wrapped the same way;
- a watchdog thread interrupts a script still running at its deadline (or growing the process's
  memory past its budget) by raising an exception in its thread, for whatever the checks miss;
- once a limit is hit the step is over: a script that catches the exception is failed anyway.

The exception (``ScriptLimitExceeded``) derives from BaseException so that neither scripts'
``except Exception`` nor SpiffWorkflow's error handling swallows it; the runtime turns it into
the engine's ScriptError, naming the element.
"""

from __future__ import annotations

import ast
import ctypes
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from RestrictedPython import RestrictingNodeTransformer
from RestrictedPython.Guards import safer_getattr


@dataclass(frozen=True)
class ScriptLimits:
    """What one script or expression may use, and what one step may do."""

    # Wall-clock seconds per script or expression.
    timeout: float = 2.0
    # Growth of the process's resident memory while one script runs.
    memory_bytes: int = 256 * 1024 * 1024
    # Elements of a list/tuple/range, characters of a string, bits of an integer built at once.
    max_items: int = 1_000_000
    max_chars: int = 10_000_000
    # About 4,200 digits: Python refuses to turn longer integers into text (sys.int_info).
    max_int_bits: int = 14_000
    # The case data a script leaves behind: approximate serialized size and nesting depth.
    max_data_bytes: int = 1024 * 1024
    max_data_depth: int = 64
    # The whole stored state of a case (all its tasks' data), serialized.
    max_state_bytes: int = 16 * 1024 * 1024
    # Engine steps in one verb, and call-activity/subprocess nesting: a process that calls
    # itself must end in an error, not a hang.
    max_steps: int = 5_000
    max_nesting: int = 16
    # Wall-clock seconds of one action's engine steps (checked between steps): many scripts,
    # each within its own limit, must not hold the case (and SQLite's write lock) for long.
    step_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("The script timeout must be positive")


DEFAULT_LIMITS = ScriptLimits()


class ScriptLimitExceeded(BaseException):  # noqa: N818 - it is a signal more than an error
    """A script went past one of its limits; the step it belongs to must fail."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        # Set by the script engine: the SpiffWorkflow task whose script it was.
        self.task: Any = None
        self.site = "script"


class _Interrupted(ScriptLimitExceeded):
    """Raised asynchronously in a script's thread by the watchdog (it takes no arguments)."""

    def __init__(self) -> None:
        super().__init__("interrupted")


# -- the budget of the running script -------------------------------------------------------

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    """Return the process's resident memory in bytes (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0



class _Budget:
    """The limits and state of the script running in one thread."""

    __slots__ = ("limits", "deadline", "thread_id", "rss_base", "failed", "ticks", "sent_at")

    def __init__(self, limits: ScriptLimits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout
        self.thread_id = threading.get_ident()
        self.rss_base = 0
        self.failed: ScriptLimitExceeded | None = None
        self.ticks = 0
        self.sent_at = 0.0


_UNLIMITED = _Budget(ScriptLimits(timeout=10.0**9))
_UNLIMITED.deadline = float("inf")
_local = threading.local()


def _current() -> _Budget:
    return getattr(_local, "budget", None) or _UNLIMITED


def _fail(budget: _Budget, kind: str, detail: str = "") -> ScriptLimitExceeded:
    if budget is _UNLIMITED:
        # Sandboxed code run outside a script budget (a check at load): nothing to remember.
        return ScriptLimitExceeded(kind, detail)
    if budget.failed is None:
        budget.failed = ScriptLimitExceeded(kind, detail)
    return ScriptLimitExceeded(budget.failed.kind, budget.failed.detail)


class limited:  # noqa: N801 - used as a context manager, like contextlib's
    """Run the block as one script under ``limits``."""

    def __init__(self, limits: ScriptLimits):
        self.limits = limits
        self.budget: _Budget | None = None

    def __enter__(self) -> limited:
        # Scripts never run inside scripts: whatever is armed here is left over from a script
        # interrupted on its way out.
        release_thread()
        self.budget = _Budget(self.limits)
        _local.budget = self.budget
        _WATCHDOG.arm(self.budget)
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        budget = self.budget
        if budget is None:
            return
        # An interruption delivered right here escapes to the runtime, which calls
        # release_thread(); the watchdog resends only after _RESEND_SECONDS, so one try is enough.
        release_thread()
        if budget.failed is not None:
            # Also when the script caught the exception itself: the step is over.
            raise ScriptLimitExceeded(budget.failed.kind, budget.failed.detail) from None
        if isinstance(error, RecursionError):
            raise ScriptLimitExceeded("recursion") from None


def release_thread() -> str | None:
    """Disarm this thread's script budget, if any, and drop an interruption not yet delivered.

    Return the kind of limit that budget hit, if it hit one.
    """
    budget = getattr(_local, "budget", None)
    _local.budget = None
    if budget is None:
        return None
    _WATCHDOG.disarm(budget)
    return budget.failed.kind if budget.failed is not None else None


def _tick() -> None:
    """Check the deadline (inserted by the compiler into every loop and function body)."""
    budget = _current()
    if budget.failed is not None or time.monotonic() > budget.deadline:
        raise _fail(budget, "time")
    budget.ticks += 1
    if not budget.ticks & 255 and budget.rss_base and (
            _rss() - budget.rss_base > budget.limits.memory_bytes):
        raise _fail(budget, "memory")


# -- the watchdog ---------------------------------------------------------------------------

_POLL_SECONDS = 0.02
_RESEND_SECONDS = 0.05
# The compiled-in checks stop most runaways at the deadline itself; the watchdog is for what
# they cannot see (long C-level work between two checks), so it gives them a moment first.
_GRACE_SECONDS = 0.1
# How long the watchdog keeps polling after the last script (and its deadline) is over.
_LINGER_SECONDS = 5.0
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]


class _Watchdog:
    """One daemon thread that interrupts scripts past their deadline or memory budget.

    Arming and disarming must stay cheap (every gateway condition is a script): the thread polls
    while scripts run and for a while after, keeping a fresh reading of the process's memory
    that new budgets take as their baseline; reading /proc per script would cost more than the
    script.
    """

    def __init__(self) -> None:
        # Guards _armed and every interruption sent, so none is sent after a disarm.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._armed: dict[int, _Budget] = {}
        self._thread: threading.Thread | None = None
        self._rss = 0
        self._active_until = 0.0

    def arm(self, budget: _Budget) -> None:
        with self._lock:
            self._armed[budget.thread_id] = budget
        self._active_until = budget.deadline
        if self._wake.is_set() and self._rss:
            budget.rss_base = self._rss
            return
        # Idle: this reading is the baseline, and the thread starts polling again.
        budget.rss_base = self._rss = _rss()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="cauce-script-watchdog",
                                            daemon=True)
            self._thread.start()
        self._wake.set()

    def disarm(self, budget: _Budget) -> None:
        with self._lock:
            if self._armed.get(budget.thread_id) is budget:
                del self._armed[budget.thread_id]
            if budget.sent_at:
                # Drop an interruption sent but not yet delivered: it must not hit the engine.
                _set_async_exc(budget.thread_id, ctypes.py_object())
                budget.sent_at = 0.0

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(_POLL_SECONDS)
            now = time.monotonic()
            self._rss = rss = _rss()
            with self._lock:
                if not self._armed and now > self._active_until + _LINGER_SECONDS:
                    self._wake.clear()
                for budget in list(self._armed.values()):
                    kind = None
                    if now > budget.deadline + _GRACE_SECONDS:
                        kind = "time"
                    elif rss and budget.rss_base and (
                            rss - budget.rss_base > budget.limits.memory_bytes):
                        kind = "memory"
                    if kind is None or now - budget.sent_at < _RESEND_SECONDS:
                        continue
                    if budget.failed is None:
                        budget.failed = ScriptLimitExceeded(kind)
                    # Resent until the script is gone: it may catch the first one.
                    _set_async_exc(budget.thread_id, ctypes.py_object(_Interrupted))
                    budget.sent_at = now


_WATCHDOG = _Watchdog()


# -- guards the compiler routes operations through ------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)


def _too_big(what: str) -> ScriptLimitExceeded:
    return _fail(_current(), "size", what)


def _check_length(value: Any, length: int, limits: ScriptLimits) -> None:
    if isinstance(value, (str, bytes)):
        if length > limits.max_chars:
            raise _too_big(f"un texto de {length:,} caracteres")
    elif length > limits.max_items:
        raise _too_big(f"una lista de {length:,} elementos")


def _check_int(bits: int, limits: ScriptLimits) -> None:
    if bits > limits.max_int_bits:
        raise _too_big(f"un número de unos {int(bits * 0.30103):,} dígitos")


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_length(left, len(left) + len(right), _current().limits)
    return left + right


def _repeat_count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _mul(left: Any, right: Any) -> Any:
    limits = _current().limits
    if isinstance(left, _SEQUENCES):
        _check_length(left, len(left) * _repeat_count(right), limits)
    elif isinstance(right, _SEQUENCES):
        _check_length(right, len(right) * _repeat_count(left), limits)
    elif isinstance(left, int) and isinstance(right, int):
        _check_int(left.bit_length() + right.bit_length(), limits)
    return left * right


def _pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
    if modulus is not None:
        return pow(base, exponent, modulus)
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_int(base.bit_length() * exponent, _current().limits)
    return base**exponent


def _lshift(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and left and right > 0:
        _check_int(left.bit_length() + right, _current().limits)
    return left << right


_WIDTH = re.compile(r"(\*|\d+)")
_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_widths(spec: str, limits: ScriptLimits) -> None:
    for width in _WIDTH.findall(spec):
        if width == "*" or int(width) > limits.max_chars:
            raise _too_big(f"un ancho de formato {width}")


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, (str, bytes)):
        text = left if isinstance(left, str) else left.decode("latin-1")
        limits = _current().limits
        for match in _PERCENT_SPEC.finditer(text):
            _check_widths(match.group(0)[1:], limits)
    return left % right


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add, "*": _mul, "**": _pow, "<<": _lshift, "%": _mod,
}


def binop(op: str, left: Any, right: Any) -> Any:
    """Apply a guarded binary operator (the compiler's ``_binop_``)."""
    return _BINARY[op](left, right)


def inplace(op: str, target: Any, value: Any, fallback: Callable[[str, Any, Any], Any]) -> Any:
    """Apply an augmented assignment with the same guards as the binary operator."""
    guard = _BINARY.get(op[:-1])
    if guard is not None:
        return guard(target, value)
    return fallback(op, target, value)


def format_value(value: Any, conversion: int, spec: str) -> str:
    """Format an f-string field whose format spec could ask for a huge width."""
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    _check_widths(spec, _current().limits)
    return format(value, spec)


def limited_range(*args: int) -> range:
    """``range`` that refuses more elements than one script may build."""
    span = range(*args)
    if len(span) > _current().limits.max_items:
        raise _too_big(f"un rango de {len(span):,} elementos")
    return span


def _sized_method(text: str | bytes, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        limits = _current().limits
        length = len(text)
        if name in ("ljust", "rjust", "center", "zfill") and args:
            length = max(length, _repeat_count(args[0]))
        elif name == "expandtabs":
            size = _repeat_count(args[0] if args else kwargs.get("tabsize", 8))
            tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
            length += tabs * max(size, 0)
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            hits = text.count(old) if old else len(text) + 1
            length += hits * max(len(new) - len(old), 0)
        elif name == "join" and args:
            items = args[0] if isinstance(args[0], (list, tuple)) else list(args[0])
            _check_length(items, len(items), limits)
            length = sum(len(i) for i in items if isinstance(i, (str, bytes)))
            length += len(text) * max(len(items) - 1, 0)
            args = (items,)
        elif name == "translate" and args and isinstance(args[0], Mapping):
            longest = max((len(v) for v in args[0].values() if isinstance(v, (str, bytes))),
                          default=1)
            length *= max(longest, 1)
        _check_length(text, length, limits)
        return method(*args, **kwargs)

    return guarded


_SIZED_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "replace",
                            "join", "translate"})


def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """RestrictedPython's ``_getattr_``, with size checks on the string methods that need one."""
    value = safer_getattr(obj, name, *default)
    if name in _SIZED_METHODS and isinstance(obj, (str, bytes)):
        return _sized_method(obj, name, value)
    return value


def guarded_builtins() -> dict[str, Any]:
    """Builtins replaced by guarded versions."""
    return {"range": limited_range, "pow": _pow}


def limit_globals() -> dict[str, Any]:
    """Names the limiting compiler's output calls."""
    return {"_tick_": _tick, "_binop_": binop, "_format_": format_value,
            "_getattr_": guarded_getattr}


# -- data a script leaves behind ------------------------------------------------------------


def identities(data: Mapping[str, Any]) -> dict[str, int]:
    """Return the identity of each value (to tell afterwards which ones a script replaced)."""
    return {key: id(value) for key, value in data.items()}


def check_data(data: Mapping[str, Any], limits: ScriptLimits,
               before: Mapping[str, int] | None = None) -> None:
    """Refuse case data deeper or (roughly, as JSON) larger than the limits allow.

    With ``before`` (from identities()), only the values a script set are walked: what it only
    mutated in place is bounded by its time and memory, and the saved state by max_state_bytes.
    """
    if before is not None:
        data = {k: v for k, v in data.items() if before.get(k) != id(v)}
    budget = limits.max_data_bytes
    size = 0
    for key, top in data.items():
        pending: list[tuple[Iterable[Any], int]] = [((top,), 1)]
        size += len(key) + 4
        while pending:
            items, depth = pending.pop()
            if depth > limits.max_data_depth:
                raise ScriptLimitExceeded("depth")
            for value in items:
                if isinstance(value, str):
                    size += len(value) + 2
                elif isinstance(value, Mapping):
                    if not all(isinstance(k, str) for k in value):
                        raise ScriptLimitExceeded("type", f"«{key}» (claves que no son texto)")
                    size += 2 + sum(len(k) + 4 for k in value)
                    pending.append((value.values(), depth + 1))
                elif isinstance(value, (list, tuple)):
                    size += 2 + len(value)
                    pending.append((value, depth + 1))
                elif isinstance(value, int) and value.bit_length() > limits.max_int_bits:
                    raise ScriptLimitExceeded("size", f"«{key}», un número demasiado largo")
                elif value is None or isinstance(value, _STORABLE):
                    size += 8
                else:
                    raise ScriptLimitExceeded("type", f"«{key}» ({type(value).__name__})")
                if size > budget:
                    raise ScriptLimitExceeded("data")


# Besides str, lists, tuples and str-keyed mappings: what the state serializer can store.
_STORABLE = (bool, int, float, datetime, date, timedelta, UUID, Decimal)


# -- the compiler ---------------------------------------------------------------------------

_GUARDED_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%",
}


def _tick_call() -> ast.expr:
    return ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[])


def _tick_statement(at: ast.AST) -> ast.stmt:
    statement = ast.Expr(value=_tick_call())
    ast.copy_location(statement, at)
    ast.fix_missing_locations(statement)
    return statement


class LimitingTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus deadline checks and size guards (see module docstring)."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = cast(ast.BinOp, super().visit_BinOp(node))
        symbol = _GUARDED_OPERATORS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(func=ast.Name("_binop_", ast.Load()),
                        args=[ast.Constant(symbol), node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_While(self, node: ast.While) -> Any:
        node = cast(ast.While, super().visit_While(node))
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = cast(ast.For, super().visit_For(node))
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = cast(ast.FunctionDef, super().visit_FunctionDef(node))
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = cast(ast.Lambda, super().visit_Lambda(node))
        body = ast.BoolOp(op=ast.Or(), values=[_tick_call(), node.body])
        node.body = ast.fix_missing_locations(ast.copy_location(body, node.body))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = cast(ast.comprehension, super().visit_comprehension(node))
        check = ast.UnaryOp(op=ast.Not(), operand=_tick_call())
        node.ifs.insert(0, ast.fix_missing_locations(ast.copy_location(check, node.iter)))
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = cast(ast.FormattedValue, super().visit_FormattedValue(node))
        if node.format_spec is None:
            return node
        call = ast.Call(func=ast.Name("_format_", ast.Load()),
                        args=[node.value, ast.Constant(node.conversion), node.format_spec],
                        keywords=[])
        node.value = ast.fix_missing_locations(ast.copy_location(call, node.value))
        node.conversion, node.format_spec = -1, None
        return node
