"""Messages the engine writes in Spanish and the interface translates (for string extraction).

The engine speaks Spanish, the institution's language; the web layer passes each message
through gettext, so the fixed ones listed here also reach English readers.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 — the conventional name extraction tools look for
    """Mark a string for translation without translating it here."""
    return message


ENGINE_MESSAGES = (
    N_("Este campo es obligatorio"), N_("Debe ser texto"), N_("Debe ser un número entero"),
    N_("Debe ser un número"), N_("Debe ser sí o no"), N_("Debe ser una lista"),
    N_("Debe ser un grupo de campos"), N_("Elija una de las opciones permitidas"),
    N_("Fecha no válida (use dd/mm/aaaa)"), N_("El formato no es válido"),
    N_("Este formulario no tiene ese campo"), N_("Valor no válido"),
    N_("Agregue al menos un elemento"), N_("No existe esa persona"),
    N_("Esa persona no tiene el rol requerido"),
    N_("Documento desconocido; vuelva a adjuntarlo"),
    N_("Usuario o contraseña incorrectos"),
    N_("Demasiados intentos fallidos; espere unos minutos y vuelva a intentarlo"),
    N_("La contraseña actual no es correcta"),
    N_("La contraseña nueva debe tener al menos 10 caracteres"),
    N_("La contraseña nueva admite hasta 1024 caracteres"),
    N_("La contraseña nueva no puede ser su nombre de usuario"),
    N_("La contraseña cambió mientras tanto; vuelva a intentarlo"),
    N_("Contiene caracteres nulos, que no se pueden guardar; se quitaron: revise el texto y "
       "vuelva a enviarlo"),
    N_("La tarea ya fue completada"), N_("Otra persona ya tomó esta tarea"),
    N_("Solo quien tomó la tarea puede liberarla"), N_("Otra persona tomó esta tarea"),
    N_("No existe esa tarea o ya no está abierta"), N_("No existe esa tarea"),
    N_("Su rol no permite iniciar casos de este procedimiento"),
    N_("Su rol no permite completar la primera tarea"),
    N_("El caso cambió mientras se guardaba; vuelva a intentarlo"),
    N_("Inició el caso"), N_("Completó la tarea"), N_("Tomó la tarea"), N_("Liberó la tarea"),
    N_("Se cumplió un plazo"), N_("Plazo vencido: caso marcado y escalado"),
    N_("Caso cerrado"), N_("Registro aplicado"),
    N_("Vencida"), N_("Por vencer"), N_("A tiempo"), N_("Sin plazo"),
    N_("No está en el catálogo de la institución"),
    N_("Mensual"), N_("Trimestral"), N_("Cuatrimestral"), N_("Semestral"), N_("Anual"),
    N_("No puede ser una fecha futura"), N_("Debe tener 10 dígitos"),
    N_("Escriba solo dígitos"),
)
