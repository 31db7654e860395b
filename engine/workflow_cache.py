"""Recently saved workflows, kept in memory so the next verb on a case can skip restoring it.

An entry is only ever used for the exact case version it was saved as, and a verb *takes* it
(nobody else can touch it meanwhile) and puts it back only after its transaction committed; a
failed verb simply loses the entry and the next one restores from the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow


class WorkflowCache:
    """A bounded, thread-safe map of case id -> (version, workflow)."""

    def __init__(self, size: int = 256):
        self.size = size
        self._entries: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, case_id: int, version: int) -> BpmnWorkflow | None:
        """Remove and return the workflow saved as ``version`` of the case, if cached."""
        with self._lock:
            entry = self._entries.pop(case_id, None)
        if entry is None or entry[0] != version:
            return None
        return entry[1]

    def put(self, case_id: int, version: int, workflow: BpmnWorkflow) -> None:
        """Remember the workflow just committed as ``version`` of the case."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries[case_id] = (version, workflow)
            self._entries.move_to_end(case_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
