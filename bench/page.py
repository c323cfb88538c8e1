"""Benchmark of the status page: rendering `/` for 100 channels with a busy timeline.

Prints figures, asserts nothing. The baseline, measured in the same run, is what
`/v1/status` costs for the same status: encoding it as JSON. The issue's target is a page
within 100 ms for 100 channels; the stormy case (14,400 health bands, each with its
tooltip, 3,000 marks) is the one that tests it.

On the 2-core development machine (CPU time, best of five; the machine is shared, so
figures move by 10-20 % between runs), measured side by side: steady 59-61 -> 46-47 ms,
stormy 140-146 -> 90-96 ms with the leaner band markup and page model
(docs/status-page.md, "Keeping it cheap").

    make bench          # or: .venv/bin/python bench/page.py
"""

from __future__ import annotations

import json
import time
import timeit
from typing import Any

from daemon.api.page import render_page
from daemon.model import AuditRecord, Decision, DecisionKind
from daemon.service.timeline import Timeline

T0 = 1_700_000_000.0
NOW = T0 + 3 * 3600
CHANNELS = 100
CANDIDATES = ("sendgrid-main", "ses-backup", "mailgun-backup")
SIGNALS = ("statuspage", "http", "alert")
KINDS = (DecisionKind.KEEP, DecisionKind.SWITCH, DecisionKind.KEEP, DecisionKind.HOLD)


def _signal(name: str, i: int) -> dict[str, Any]:
    return {
        "signal": name,
        "kind": name,
        "state": "up" if i % 5 else "down",
        "reason": f"{i} consecutive successes (last: GET 127.0.0.1/providers/{name} -> 200)",
        "since": NOW - 600,
        "passive": name == "alert",
        "last": {"at": NOW - 2, "result": "ok", "detail": "GET -> 200 in 12ms", "latency": 0.012},
    }


def _channel(n: int) -> dict[str, Any]:
    key = f"env{n // 2}/{'email' if n % 2 == 0 else 'sms'}"
    return {
        "channel": key,
        "environment": key.split("/", maxsplit=1)[0],
        "name": key.split("/")[1],
        "primary": {"integration": CANDIDATES[n % 2], "active": True},
        "managed": True,
        "novu_error": None,
        "view_at": NOW - 5,
        "decision": {
            "kind": "keep",
            "reason": f"no action: primary {CANDIDATES[n % 2]} is up (3/3 signals)",
            "at": NOW - 1,
            "current": CANDIDATES[n % 2],
            "target": None,
            "trigger": None,
            "evidence": [],
            "drift": False,
        },
        "pause": None,
        "brake": {"count": 1, "max": 3, "per": 3600.0, "blocked_until": None, "acked_at": None},
        "cooldown_until": None,
        "dry_run": False,
        "in_flight": False,
        "action_retry": None,
        "last_switch": {
            "at": NOW - 900,
            "from": "sendgrid-main",
            "to": "ses-backup",
            "trigger": "failover",
        },
        "candidates": [
            {
                "integration": name,
                "state": "up",
                "reason": "up since 2026-11-30T10:52:04Z: 3/3 signals up (statuspage, http)",
                "since": NOW - 600,
                "present": True,
                "active": True,
                "primary": i == n % 2,
                "conditions": 0,
                "signals": [_signal(s, i + j) for j, s in enumerate(SIGNALS)],
            }
            for i, name in enumerate(CANDIDATES)
        ],
    }


def _status() -> dict[str, Any]:
    return {
        "channels": [_channel(n) for n in range(CHANNELS)],
        "global_pause": None,
        "rules": {"path": "/etc/novu-failover/rules.yaml", "loaded_at": T0, "error": None},
        "dry_run": False,
        "started_at": T0,
        "now": NOW,
        "version": "0.1.0",
    }


def _timeline(status: dict[str, Any], *, steps: int) -> Timeline:
    """Over the 3 hours, `steps` decisions a channel; every other step every series of the
    channel changes state, every fourth a switch (steps=24: a stormy fleet, every series
    flipping 12 times)."""
    timeline = Timeline()
    for channel in status["channels"]:
        key = channel["channel"]
        for step in range(steps):
            at = T0 + step * (3 * 3600 / steps)
            timeline.decision(
                Decision(channel=key, kind=KINDS[step % 4], reason=f"step {step}", at=at)
            )
            if step % 2 == 0:
                for name in CANDIDATES:
                    state = "up" if step % 4 else "down"
                    timeline.health(key, name, None, state=state, reason="r", at=at)
                    for signal in SIGNALS:
                        timeline.health(key, name, signal, state=state, reason="r", at=at + 1)
            if step % 4 == 1:
                timeline.action(
                    key,
                    AuditRecord(
                        id=str(step),
                        at=at,
                        environment=channel["environment"],
                        channel=channel["name"],
                        from_="sendgrid-main",
                        to="ses-backup",
                        trigger="failover",
                        reason="r",
                        result="ok",
                    ),
                )
    return timeline


def _per_call(stmt: Any, number: int) -> float:
    """CPU seconds per call (the process's, not the wall clock's: steadier on a shared
    machine), best of five."""
    runs = timeit.repeat(stmt, number=number, repeat=5, timer=time.process_time)
    return min(runs) / number


def main() -> None:
    status = _status()
    window = 3 * 3600.0

    def status_json() -> bytes:
        return json.dumps(status, separators=(",", ":")).encode()

    target = 0.100
    baseline = _per_call(status_json, 20)
    print(
        f"status page, {CHANNELS} channels x {len(CANDIDATES)} candidates x "
        f"{len(SIGNALS)} signals, 3h window"
    )
    print(f"  {'/v1/status JSON encoding (baseline)':<48} {baseline * 1000:8.2f} ms")
    for label, steps in (("steady: 2 changes per series", 4), ("stormy: 12 per series", 24)):
        timeline = _timeline(status, steps=steps)

        def page(timeline: Timeline = timeline) -> str:
            """What `/` does: the timeline's snapshot, then the render."""
            snapshot = timeline.snapshot(since=NOW - window)
            return render_page(status, snapshot, window=window, window_label="3h", refresh=10)

        page()  # compile the templates once, as the first request does
        seconds = _per_call(page, 5)
        size = len(page().encode())
        print(
            f"  {label + ' (snapshot + render)':<48} {seconds * 1000:8.2f} ms "
            f"({seconds / baseline:5.1f}x baseline), {size / 1024:.0f} KiB, "
            f"target {'met' if seconds < target else 'NOT met'}"
        )
    print(f"  target: within {target * 1000:.0f} ms for {CHANNELS} channels")


if __name__ == "__main__":
    main()
