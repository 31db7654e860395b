"""The sandbox every BPMN/DMN script and expression runs in."""

from __future__ import annotations

import pytest

from engine.sandbox import CodeSite, RestrictedCodeError, SandboxEnvironment, vet

pytestmark = pytest.mark.unit


@pytest.fixture
def sandbox() -> SandboxEnvironment:
    return SandboxEnvironment({"double": lambda x: 2 * x})


@pytest.mark.parametrize("source", [
    "__import__('os').system('id')",
    "().__class__.__base__.__subclasses__()",
    "[c for c in ().__class__.__mro__]",
    "x.__globals__",
])
def test_dunder_and_import_tricks_do_not_even_compile(sandbox, source):
    with pytest.raises(RestrictedCodeError):
        sandbox.evaluate(source, {"x": 1})


@pytest.mark.parametrize("source, error", [
    ("open('/etc/hostname').read()", NameError),
    ("'{0.__class__}'.format(1)", NotImplementedError),
    ("exit()", NameError),
    ("getattr(x, 'real')", NameError),
])
def test_dangerous_builtins_are_missing_at_run_time(sandbox, source, error):
    with pytest.raises(error):
        sandbox.evaluate(source, {"x": 1})


def test_imports_fail_at_run_time_too(sandbox):
    with pytest.raises(ImportError):
        sandbox.execute("import os", {})


def test_ordinary_scripts_and_conditions_still_work(sandbox):
    data = {"items": [{"fee": 10}, {"fee": 32}], "name": "ana", "ok": {"flag": True}}
    sandbox.execute(
        "total = sum(i['fee'] for i in items)\n"
        "total += 1\n"
        "first, second = items\n"
        "label = name.upper()\n"
        "due = (datetime(2026, 1, 1) + timedelta(days=2)).date().isoformat()\n"
        "twice = double(total)\n"
        "del first, second\n", data)
    assert data["total"] == 43 and data["label"] == "ANA" and data["due"] == "2026-01-03"
    assert data["twice"] == 86
    assert "datetime" not in data and "double" not in data
    assert sandbox.evaluate("total > 40 and ok.get('flag') and len(items) == 2", data) is True


def test_scripts_cannot_raise_exceptions_that_escape_the_engine(sandbox):
    with pytest.raises(NameError):
        sandbox.execute("raise SystemExit(1)", {})


@pytest.mark.parametrize("source, mode, reason", [
    ("open('/etc/passwd').read()", "eval", "no se permite usar 'open'"),
    ("import os", "exec", "no se permite importar"),
    ("'{0.__class__}'.format(x)", "eval", "'format'"),
    ("__import__('os')", "eval", "el nombre «__import__» no se permite porque empieza por «_»"),
    ("x._secret", "eval", "el atributo «_secret» no se permite porque empieza por «_»"),
    ("a and and b", "eval", "línea 1: error de sintaxis en «a and and b»"),
    ("a ==", "eval", "error de sintaxis"),
    ("   ", "exec", "vacío"),
])
def test_vetting_refuses_hostile_or_broken_code_with_a_reason(source, mode, reason):
    refused = vet([CodeSite("task_1", "Script", source, mode)])
    assert len(refused) == 1 and reason in refused[0][1]


def test_vetting_accepts_ordinary_code():
    assert vet([CodeSite("t", "Script", "x = add_working_days(d, 15)", "exec"),
                CodeSite("g", "Condición", "not is_social_case", "eval")]) == []
