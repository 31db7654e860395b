"""Effects: what a procedure does to the world outside its case, named in its BPMN.

A flow node carries a SpiffWorkflow property (``<spiffworkflow:property name="serviceState"
value="Publicado"/>``); when the node completes, the engine calls the handler registered under
that property name, inside the verb's transaction. A handler that raises a CauceError stops the
whole verb: nothing of it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .views import PersonView


@dataclass(frozen=True)
class EffectContext:
    """Where an effect happens: the transaction, the case, its data, who acted and when."""

    session: Session
    case_id: int
    case_number: str
    process_id: str
    element_id: str
    data: Mapping[str, Any]
    actor: PersonView | None
    now: datetime


# Returns a JSON-able description of what it did (recorded in the case's log), or None.
EffectHandler = Callable[[EffectContext, str], Mapping[str, Any] | None]
Effects = Mapping[str, EffectHandler]
