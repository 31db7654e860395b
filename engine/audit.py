"""The case log's integrity: each event hashes its content and its predecessor's hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

GENESIS = bytes(32)


def canonical_json(value: Any) -> str:
    """Serialize ``value`` the one way that hashing and storage agree on."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def event_hash(prev_hash: bytes, *, case_id: int, seq: int, at: datetime, actor: str | None,
               role: str | None, event_type: str, task_id: str | None,
               activity_id: str | None, data: Any, state_hash: bytes | None) -> bytes:
    """Return the hash that seals one event to everything before it in its case."""
    content = canonical_json({
        "case": case_id, "seq": seq, "at": at.isoformat(timespec="microseconds"),
        "actor": actor, "role": role, "type": event_type, "task": task_id,
        "activity": activity_id, "data": data,
        "state": state_hash.hex() if state_hash is not None else None,
    })
    return hashlib.sha256(prev_hash + content.encode("utf-8")).digest()


def first_broken_link(case_id: int, events: Iterable[Any]) -> int | None:
    """Return the seq of the first event whose hash does not check out, or None if intact."""
    previous, expected_seq = GENESIS, 1
    for row in events:
        if row.seq != expected_seq:
            return int(row.seq)
        recomputed = event_hash(
            previous, case_id=case_id, seq=row.seq, at=row.at, actor=row.actor, role=row.role,
            event_type=row.event_type, task_id=row.task_id, activity_id=row.activity_id,
            data=row.data, state_hash=row.state_hash,
        )
        if recomputed != row.hash:
            return int(row.seq)
        previous, expected_seq = row.hash, expected_seq + 1
    return None
