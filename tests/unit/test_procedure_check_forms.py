"""The check of a procedure's forms stays whole while it is fast: a form's metaschema verdict is
remembered only for content that passed, so a broken form is named on every check, and a form
changed after it passed is checked again."""

from __future__ import annotations

import json

from engine.library import ProcessLibrary
from engine.procedure_check import check_files

PROCESS = "social_case"
FORM = "forms/analizar_solicitud.json"


def _files(library: ProcessLibrary) -> dict[str, bytes]:
    return {name: text.encode() for name, text in library.get(PROCESS).bundle.items()}


def _break(schema: bytes) -> bytes:
    broken = json.loads(schema)
    first = next(iter(broken["properties"]))
    broken["properties"][first]["type"] = "texto"  # not a JSON Schema type
    return json.dumps(broken).encode()


def test_a_broken_form_is_named_on_every_check_and_a_fixed_one_passes(
        library: ProcessLibrary) -> None:
    files = _files(library)
    assert check_files(PROCESS, files).ok  # the good form is now remembered as checked
    broken = {**files, FORM: _break(files[FORM])}
    for _ in range(2):
        result = check_files(PROCESS, broken)
        assert not result.ok
        assert [p.file for p in result.problems if p.severity == "error"] == [FORM]
        assert "JSON Schema no válido" in result.problems[0].message
    assert check_files(PROCESS, files).ok


def test_each_check_hands_out_its_own_copy_of_a_form(library: ProcessLibrary) -> None:
    files = _files(library)
    first = check_files(PROCESS, files).definition
    assert first is not None
    form_id = FORM.removeprefix("forms/").removesuffix(".json")
    first.form(form_id).schema["title"] = "cambiado por otro"  # type: ignore[index]
    second = check_files(PROCESS, files).definition
    assert second is not None
    assert second.form(form_id).schema["title"] != "cambiado por otro"
