"""The workshop's engine messages for English readers: check problems and migration reasons.

The engine writes them in Spanish with element names, files and numbers inside, so gettext
cannot match them whole. Each known phrase is a pattern with its English wording, applied in
turn, so a composed message ("Condición hacia X: Código no permitido: línea 1: …") is translated
part by part; names, ids and quoted code are kept as they are, and a phrase not listed here
stays as the engine said it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PHRASES: tuple[tuple[str, str], ...] = (
    # Migration: what happens to each case, or why it cannot move (engine/case_migration.py).
    (r"» sigue activa, sin cambios", "» stays active, unchanged"),
    (r"» sigue activa con los cambios de la versión (\d+)",
     r"» stays active with the changes of version \1"),
    (r"» pasa a ser «", "» becomes «"),
    (r"» sigue activa y pasa a llamarse «", "» stays active, renamed «"),
    (r"\(misma posición en el diagrama\)", "(same place in the diagram)"),
    (r"^Está en (.*), que no existe en la versión (\d+)$",
     r"It is at \1, which does not exist in version \2"),
    (r"^El subproceso (.*) en curso no existe en la versión (\d+)$",
     r"The running subprocess \1 does not exist in version \2"),
    (r"^El caso no se puede rehacer en la versión (\d+): ",
     r"The case cannot be rebuilt on version \1: "),
    (r"^No hay un caso (\S+) en la versión (\d+)$", r"There is no case \1 in version \2"),
    (r"^No se pudo leer el caso: ", "The case could not be read: "),
    (r"^Error al migrar: ", "Migration failed: "),
    # The check (engine/procedure_check.py, engine/library.py, engine/forms.py).
    (r"^Demasiados archivos \((\d+); máximo (\d+)\)$", r"Too many files (\1; at most \2)"),
    (r"^Nombre de archivo no permitido .*$",
     "File name not allowed (only letters, digits, _ . -; extensions .bpmn, .dmn or .json)"),
    (r"^El archivo supera el tamaño máximo \((.*)\)$", r"The file is over the size limit (\1)"),
    (r"^El procedimiento supera el tamaño máximo \((.*)\)$",
     r"The procedure is over the size limit (\1)"),
    (r"^Falta la tabla de responsabilidades del procedimiento$",
     "The procedure's responsibility table is missing"),
    (r"^Los archivos no definen el procedimiento (.*)$",
     r"The files do not define the procedure \1"),
    (r"^El archivo no lo usa el procedimiento: no formará parte de la versión$",
     "The procedure does not use this file: it will not be part of the version"),
    (r"^No existe el formulario (\S+)$", r"The form \1 does not exist"),
    (r"^La tarea no está en ningún carril \(lane\)$", "The task is in no lane"),
    (r"^El carril (.*) no está en la tabla de responsabilidades (\S+)$",
     r"The lane \1 is not in the responsibility table \2"),
    (r"^El carril (.*) no existe en el proceso (.*)$",
     r"The lane \1 does not exist in the process \2"),
    (r"^La tarea no nombra su formulario \(propiedad (\S+)\)$",
     r"The task does not name its form (property \1)"),
    (r"^El evento de inicio no está en ningún carril \(lane\): Cauce no sabe qué rol inicia "
     r"los casos$",
     "The start event is in no lane: Cauce cannot tell which role starts the cases"),
    (r"^No hay un proceso ejecutable con id (.*) en bpmn/$",
     r"There is no executable process with id \1"),
    (r"^El proceso ejecutable (.*) no tiene tabla de responsabilidades (\S+) y ningún "
     r"procedimiento lo llama$",
     r"The executable process \1 has no responsibility table \2 and no procedure calls it"),
    (r"^El archivo no tiene ningún proceso ejecutable .*$",
     'The file has no executable process (isExecutable="true"): it defines no procedure'),
    (r"^JSON Schema no válido: ", "Invalid JSON Schema: "),
    (r"^JSON mal formado \(línea (\d+)\): ", r"Malformed JSON (line \1): "),
    (r"^El formulario debe ser un JSON Schema de tipo 'object'$",
     "The form must be a JSON Schema of type 'object'"),
    (r"^Nombre de campo no permitido: ", "Field name not allowed: "),
    # The sandbox's verdict on scripts and expressions (engine/sandbox.py, engine/library.py).
    (r"^Condición hacia ", "Condition towards "),
    (r"^Condición de finalización: ", "Completion condition: "),
    (r"^Expresión del evento ", "Event expression "),
    (r"^Expresión de correlación: ", "Correlation expression: "),
    (r"^Parámetro ", "Parameter "),
    (r"^Regla (\d+), entrada: ", r"Rule \1, input: "),
    (r"^Entrada ", "Input "),
    (r"Código no permitido: Python no puede compilarlo", "Code not allowed: Python cannot "
                                                         "compile it"),
    (r"Código no permitido: ", "Code not allowed: "),
    (r"\blínea (\d+): ", r"line \1: "),
    (r"error de sintaxis en «", "syntax error in «"),
    (r"\berror de sintaxis\b", "syntax error"),
    (r"no se permite importar módulos \(línea (\d+)\)", r"importing modules is not allowed "
                                                       r"(line \1)"),
    (r"no se permite usar (.*?) \(línea (\d+)\)", r"\1 may not be used (line \2)"),
    (r"no se permite llamar a (.*?) \(línea (\d+)\)", r"\1 may not be called (line \2)"),
    (r"no se permite el atributo (.*?) \(línea (\d+)\)",
     r"the attribute \1 is not allowed (line \2)"),
    (r"el nombre «(.*?)» no se permite porque empieza por «_»",
     r"the name «\1» is not allowed because it starts with «_»"),
    (r"el atributo «(.*?)» no se permite porque empieza por «_»",
     r"the attribute «\1» is not allowed because it starts with «_»"),
    (r"^Script vacío$", "Empty script"),
    (r" vacío$", " is empty"),
)
_COMPILED = tuple((re.compile(pattern), english) for pattern, english in _PHRASES)


def in_language(message: str | None, language: str) -> str | None:
    """Return an engine message of the workshop in ``language`` (English, or as it is)."""
    if not message or not language.startswith("en"):
        return message
    for pattern, english in _COMPILED:
        message = pattern.sub(english, message)
    return message


def all_in_language(messages: Iterable[str], language: str) -> list[str]:
    """Return several messages in ``language``."""
    return [in_language(m, language) or m for m in messages]
