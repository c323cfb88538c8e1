"""Shared pieces of the state tests: a record factory and a store that does not redact."""

from __future__ import annotations

from typing import Any

from daemon.model import AuditRecord

T0 = 1_700_000_000.0


def same(value: str) -> str:
    return value


def record(n: int, **overrides: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "id": f"act-{n}",
        "at": T0 + n,
        "environment": "production",
        "channel": "email",
        "from_": "sendgrid-main",
        "to": "ses-backup",
        "trigger": "failover",
        "reason": "primary sendgrid-main is down (3/3 checks failed)",
        "result": "ok",
        "attempts": 1,
        "evidence": ("statuspage: Mail Sending major_outage",),
    }
    fields.update(overrides)
    return AuditRecord(**fields)
