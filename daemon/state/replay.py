"""Bringing the index of open actions up to the end of the audit trail at start-up.

state.json records the open actions and the trail position they are exact at; only the
lines after it are read: normally none, or the one line of a crash between an audit append
and the state.json write that follows it (docs/state.md, "Open actions").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from daemon.logs import get_logger, log_event
from daemon.model import AuditRecord
from daemon.state.audit import AuditTrail, parse_line
from daemon.state.codec import StateDecodeError, dumps
from daemon.state.jsontext import JsonTextError

_log = get_logger("novu_failover.state")


def replay_open_actions(
    trail: AuditTrail,
    opened: Mapping[str, AuditRecord],
    checkpoint: tuple[int, int] | None,
    *,
    state_path: Path,
) -> dict[str, AuditRecord]:
    """`opened` brought up to the end of the trail from `checkpoint` (generation, offset).

    Without a checkpoint (a first start, or a version-1 state.json) every kept file is read;
    only lines that may open or close an action are parsed, so a long trail costs a scan.
    """
    start = (trail.oldest_generation(), 0)
    if checkpoint is not None:
        generation, offset = checkpoint
        size = trail.file_size(generation)
        if size is None or size < offset:
            log_event(
                _log,
                logging.WARNING,
                "state.audit_replay",
                f"{state_path}: the audit position it records ({generation}:{offset}) "
                "is not in the kept files; reading every kept file for open actions",
            )
        else:
            start = checkpoint
    open_actions = dict(opened)
    needles = {a_id: dumps(a_id).encode() for a_id in open_actions}
    damaged = 0
    for generation, offset, line in trail.lines_from(*start):
        if line is not None and not line.strip():
            continue
        whole = line is not None and line.strip()[:1] == b"{" and line.strip()[-1:] == b"}"
        if line is None or not whole:
            trail.note_damaged(generation, offset)
            damaged += 1
            continue
        if b'"started"' not in line and not any(n in line for n in needles.values()):
            continue  # cannot open or close an action: not parsed
        try:
            record = parse_line(line)
        except (JsonTextError, StateDecodeError):
            trail.note_damaged(generation, offset)
            damaged += 1
            continue
        if record.result == "started":
            open_actions[record.id] = record
            needles[record.id] = dumps(record.id).encode()
        elif record.id in open_actions:
            del open_actions[record.id]
            del needles[record.id]
    if damaged:
        log_event(
            _log,
            logging.WARNING,
            "state.audit_damaged",
            f"{trail.path}: skipped {damaged} damaged line(s) (left in the file "
            "untouched); new records are appended after them",
            path=str(trail.path),
            skipped=damaged,
        )
    return open_actions
