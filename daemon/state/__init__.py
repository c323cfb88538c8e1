"""Durable state: pauses, channel histories, open actions and the audit trail.

Files under one directory (NOVU_FAILOVER_STATE_DIR), described in docs/state.md:
- `state.json`: pauses, channel histories and the index of open actions, versioned,
  replaced atomically on every change. One that cannot be read is an error at start-up
  naming the file and the JSON path, and is never overwritten.
- `audit.jsonl` (and rotated `audit.<n>.jsonl`): one JSON object per action, appended and
  fsynced before `record` returns, rotated by size, read from the tail.

Both are decoded with the schema in `daemon.state.schema` (bounded, finite, valid Unicode,
bounded depth and size), and everything written passes that schema first.
"""

from daemon.state import files
from daemon.state.audit import AUDIT_FILE, MAX_LINE_BYTES, rotated_name
from daemon.state.codec import (
    StateDecodeError,
    decode_audit,
    decode_history,
    decode_pause,
    encode_audit,
    encode_history,
    encode_pause,
)
from daemon.state.statefile import MAX_STATE_BYTES, STATE_FILE, STATE_VERSION, StateError
from daemon.state.store import DEFAULT_AUDIT_KEEP, DEFAULT_AUDIT_MAX_BYTES, StateStore

__all__ = [
    "AUDIT_FILE",
    "DEFAULT_AUDIT_KEEP",
    "DEFAULT_AUDIT_MAX_BYTES",
    "MAX_LINE_BYTES",
    "MAX_STATE_BYTES",
    "STATE_FILE",
    "STATE_VERSION",
    "StateDecodeError",
    "StateError",
    "StateStore",
    "decode_audit",
    "decode_history",
    "decode_pause",
    "encode_audit",
    "encode_history",
    "encode_pause",
    "files",
    "rotated_name",
]
