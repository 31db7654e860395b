"""Numbers in the Ecuadorian way for text the engine writes itself (alerts): 1.234,5 %."""

from __future__ import annotations


def percent_text(value: float, digits: int = 1) -> str:
    """Return ``value`` as a percentage with a decimal comma and dot thousands (80,0 %)."""
    text = f"{value:,.{digits}f}".replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return f"{text} %"
