"""The workshop's engine messages in English: each known phrase translated, names and quoted code
kept, Spanish readers and unknown phrases left as the engine said them."""

from __future__ import annotations

import pytest

from web.workshop_messages import all_in_language, in_language


@pytest.mark.parametrize(("spanish", "english"), [
    ("Condición hacia remitir_informe: Código no permitido: línea 1: error de sintaxis en "
     "«requires_support and and»",
     "Condition towards remitir_informe: Code not allowed: line 1: syntax error in "
     "«requires_support and and»"),
    ("No existe el formulario forms/revisar_registro.json",
     "The form forms/revisar_registro.json does not exist"),
    ("El carril 'lider_seguridad' no está en la tabla de responsabilidades "
     "social_case.responsibility.json",
     "The lane 'lider_seguridad' is not in the responsibility table "
     "social_case.responsibility.json"),
    ("La tarea no está en ningún carril (lane)", "The task is in no lane"),
    ("«Analizar la solicitud (analizar_solicitud)» sigue activa con los cambios de la versión 2",
     "«Analizar la solicitud (analizar_solicitud)» stays active with the changes of version 2"),
    ("«Analizar (analizar)» sigue activa y pasa a llamarse «Analizar lo recibido»",
     "«Analizar (analizar)» stays active, renamed «Analizar lo recibido»"),
    ("«Registrar (registrar)» sigue activa, sin cambios", "«Registrar (registrar)» stays active, "
                                                          "unchanged"),
    ("Está en «Realizar la entrevista (realizar_entrevista)», que no existe en la versión 3",
     "It is at «Realizar la entrevista (realizar_entrevista)», which does not exist in "
     "version 3"),
    ("Script: Código no permitido: no se permite importar módulos (línea 2)",
     "Script: Code not allowed: importing modules is not allowed (line 2)"),
])
def test_known_phrases_read_in_english(spanish: str, english: str) -> None:
    assert in_language(spanish, "en") == english


def test_spanish_readers_and_unknown_phrases_get_the_engine_words() -> None:
    message = "No existe el formulario forms/x.json"
    assert in_language(message, "es") == message
    assert in_language("Algo que el taller aún no traduce", "en") == (
        "Algo que el taller aún no traduce")
    assert in_language(None, "en") is None
    assert all_in_language(["«A (a)» sigue activa, sin cambios"], "en") == [
        "«A (a)» stays active, unchanged"]
