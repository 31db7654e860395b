"""Form definitions and their Spanish error messages."""

from __future__ import annotations

import json

import pytest

from engine.errors import FormInvalid
from engine.forms import load_form

pytestmark = pytest.mark.unit

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["name", "when", "count"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5, "title": "Nombre"},
        "when": {"type": "string", "format": "date"},
        "count": {"type": "integer", "minimum": 1},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "who": {"type": "string", "x-role": "clerk"},
        "number": {"type": "integer", "readOnly": True, "x-sequence": "files:{year}"},
    },
}


@pytest.fixture
def form():
    return load_form("f", json.dumps(SCHEMA), None)


def test_valid_data_comes_back_clean(form):
    assert form.validate({"name": "Ana", "when": "2026-03-02", "count": 2, "number": 5}) == {
        "name": "Ana", "when": "2026-03-02", "count": 2}


def test_every_error_is_reported_next_to_its_field(form):
    with pytest.raises(FormInvalid) as raised:
        form.validate({"name": "", "when": "02/03/2026", "count": 0, "kind": "z", "ghost": 1})
    assert raised.value.by_field() == {
        "count": ["Debe ser mayor o igual a 1"],
        "ghost": ["Este formulario no tiene ese campo"],
        "kind": ["Elija una de las opciones permitidas"],
        "name": ["Este campo es obligatorio"],
        "when": ["Fecha no válida (use dd/mm/aaaa)"],
    }


def test_missing_required_fields_are_named(form):
    with pytest.raises(FormInvalid) as raised:
        form.validate({})
    assert set(raised.value.by_field()) == {"name", "when", "count"}


def test_person_pickers_are_checked_against_the_role(form):
    with pytest.raises(FormInvalid) as raised:
        form.validate({"name": "A", "when": "2026-01-01", "count": 1, "who": "pepe"},
                      check_person=lambda user, role: f"{user} no es {role}")
    assert raised.value.by_field() == {"who": ["pepe no es clerk"]}


def test_declared_extensions_are_exposed(form):
    assert form.person_fields() == {"who": "clerk"}
    assert form.sequence_fields() == {"number": "files:{year}"}


@pytest.mark.parametrize("schema, reason", [
    ("{", "JSON mal formado"),
    ('{"type": "array"}', "tipo 'object'"),
    ('{"type": "object", "properties": {"date": {"type": "string"}}}', "no permitido"),
    ('{"type": "object", "properties": {"x": {"type": 5}}}', "JSON Schema no válido"),
])
def test_broken_form_definitions_are_refused(schema, reason):
    with pytest.raises(ValueError, match=reason):
        load_form("f", schema, None)
