"""The demo's scripted timeline and its live view.

Each step changes the simulated world (a provider outage, a recovery, a flapping provider)
and then waits until the real daemon has done what it should, printing what it sees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from daemon.control import JSON


def short(text: str, limit: int = 110) -> str:
    """A reason cut for a one-line view; `novu-failover explain` has the whole of it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class World:
    """What the timeline can touch: the providers' outages, what canaries through an
    integration meet, a burst of messages to bad recipients, and the daemon's status."""

    set_outage: Callable[[str, bool], None]
    status: Callable[[], JSON]
    set_canary: Callable[[str, str], None]
    """(integration, outcome): `sent`, `credentials`, `recipient`, ... (the simulator's)."""
    recipient_burst: Callable[[str, str, int], None]
    """(channel, providerId, count): messages, 90% rejected for their recipient."""
    events: Callable[[], JSON] = lambda: {"events": []}
    """The newest audit events (`/v1/events`): durable, so no action is missed between polls."""


class LiveView:
    """Prints a line whenever a channel's decision or a candidate's health changes."""

    def __init__(self, world: World, out: TextIO, *, started: float) -> None:
        self._world = world
        self._out = out
        self._started = started
        self._seen: dict[str, Any] = {}

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self._started:6.1f}s] {text}", file=self._out, flush=True)

    def refresh(self) -> None:
        for channel in self._world.status()["channels"]:
            key = channel["channel"]
            health = " ".join(f"{c['integration']}={c['state']}" for c in channel["candidates"])
            if self._seen.get(f"{key}/health") != health:
                self._seen[f"{key}/health"] = health
                self.say(f"  health   {key:<18} {health}")
            not_ready = {
                c["integration"]: "; ".join(c["readiness"]["reasons"])
                for c in channel["candidates"]
                if (c.get("readiness") or {}).get("ready") is False
            }
            if self._seen.get(f"{key}/not-ready") != set(not_ready):
                self._seen[f"{key}/not-ready"] = set(not_ready)
                text = ", ".join(f"{n} ({r})" for n, r in not_ready.items()) or "every candidate"
                self.say(f"  ready    {key:<18} {'not ready: ' if not_ready else ''}{text}")
            decision = channel["decision"]
            if decision is None:
                continue
            summary = (decision["kind"], decision["current"], decision["target"])
            if self._seen.get(f"{key}/decision") != summary:
                self._seen[f"{key}/decision"] = summary
                self.say(f"  decision {key:<18} [{decision['kind']}] {short(decision['reason'])}")
                for item in decision.get("evidence") or []:
                    if item.startswith("skipped "):
                        self.say(f"           {short(item, 120)}")

        self._actions()

    def _actions(self) -> None:
        """Each finished switch, once, with the candidates it passed over and why: read from
        the audit trail, so a decision shorter than the polling period is not lost."""
        for event in reversed(self._world.events()["events"]):
            if event["action"] != "switch" or event["result"] == "started":
                continue
            if event["id"] in self._seen.setdefault("actions", set()):
                continue
            self._seen["actions"].add(event["id"])
            key = f"{event['environment']}/{event['channel']}"
            route = f"{event['from'] or '(none)'} -> {event['to']}"
            self.say(f"  action   {key:<18} {event['trigger']} {route}: {event['result']}")
            for item in event.get("evidence") or []:
                if item.startswith("skipped "):
                    self.say(f"           {short(item, 120)}")

    async def run(self, period: float) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(period)


def channel(status: JSON, key: str) -> JSON:
    return next(c for c in status["channels"] if c["channel"] == key)


def primary_of(status: JSON, key: str) -> str | None:
    found = channel(status, key)["primary"]
    return found["integration"] if found else None


async def wait_for(
    view: LiveView,
    what: str,
    predicate: Callable[[JSON], bool],
    *,
    within: float,
) -> float:
    """Wait until `predicate(status)` holds; returns the seconds it took."""
    start = time.monotonic()
    while not predicate(view._world.status()):
        if time.monotonic() - start > within:
            msg = f"timed out after {within:.0f}s waiting for: {what}"
            raise TimeoutError(msg)
        await asyncio.sleep(0.05)
    took = time.monotonic() - start
    view.refresh()
    view.say(f"✔ {what} ({took:.1f}s)")
    return took


async def play(view: LiveView, world: World, *, scale: float) -> None:
    """The scripted story. `scale` shrinks every wait (1.0 = real demo speed)."""
    patience = max(10.0, 60.0 * scale)
    view.say("step 1/6: all providers healthy; the daemon learns their health")
    view.say("          (the backups' canaries send a real message through SES and Mailgun)")
    await wait_for(
        view,
        "every candidate's health is known, the backups are ready, both primaries are up",
        lambda s: all(
            channel(s, key)["decision"] is not None
            and channel(s, key)["decision"]["kind"] == "keep"
            and all(
                c["state"] == "up" and (c.get("readiness") or {}).get("ready")
                for c in channel(s, key)["candidates"]
            )
            for key in ("production/email", "production/sms")
        ),
        within=patience,
    )

    view.say("step 2/6: SendGrid goes down (status page: major outage, API: 503)")
    world.set_outage("sendgrid", True)
    await wait_for(
        view,
        "email failed over: primary is ses-backup",
        lambda s: primary_of(s, "production/email") == "ses-backup",
        within=patience,
    )

    view.say("step 3/6: SendGrid recovers; failback waits for it to stay up")
    world.set_outage("sendgrid", False)
    await wait_for(
        view,
        "email failed back: primary is sendgrid-main again",
        lambda s: primary_of(s, "production/email") == "sendgrid-main",
        within=patience * 2,
    )

    await _expired_backup(view, world, patience=patience)
    await _invalid_recipients(view, world, patience=patience)

    view.say("step 6/6: Twilio starts flapping; the brake must stop the ping-pong")
    flapping = asyncio.create_task(_flap(world, "twilio", period=6.0 * scale))
    try:
        await wait_for(
            view,
            "sms brake tripped: the channel is blocked until someone acks",
            lambda s: (channel(s, "production/sms")["decision"] or {}).get("kind") == "blocked",
            within=patience * 3,
        )
    finally:
        flapping.cancel()
        world.set_outage("twilio", False)


def _candidate(status: JSON, key: str, integration: str) -> JSON:
    return next(c for c in channel(status, key)["candidates"] if c["integration"] == integration)


async def _expired_backup(view: LiveView, world: World, *, patience: float) -> None:
    """SES's credentials expire: its canary fails, and the next failover skips it."""
    view.say("step 4/6: SES's credentials expire; only its canary can tell")
    world.set_canary("ses-backup", "credentials")
    await wait_for(
        view,
        "ses-backup is not ready: its canary failed (credentials)",
        lambda s: any(
            "(credentials)" in reason
            for reason in _candidate(s, "production/email", "ses-backup")["readiness"]["reasons"]
        ),
        within=patience,
    )
    view.say("          SendGrid goes down again")
    world.set_outage("sendgrid", True)
    try:
        await wait_for(
            view,
            "email failed over to mailgun-backup, refusing ses-backup",
            lambda s: primary_of(s, "production/email") == "mailgun-backup",
            within=patience,
        )
    finally:
        world.set_outage("sendgrid", False)
        world.set_canary("ses-backup", "sent")


async def _invalid_recipients(view: LiveView, world: World, *, patience: float) -> None:
    """A burst of invalid phone numbers through Twilio: errors, but not Twilio's fault."""
    view.say("step 5/6: 30 SMS to invalid numbers, 90% rejected (Twilio error 21211)")
    world.recipient_burst("sms", "twilio", 30)

    def judged(s: JSON) -> bool:
        twilio = _candidate(s, "production/sms", "twilio-main")
        delivery = next(x for x in twilio["signals"] if x["kind"] == "novu_delivery")
        return "not counted" in delivery["reason"]

    await wait_for(
        view,
        "sms stays on twilio-main: recipient errors do not count toward down",
        lambda s: judged(s)
        and primary_of(s, "production/sms") == "twilio-main"
        and (channel(s, "production/sms")["decision"] or {}).get("kind") == "keep",
        within=patience,
    )


async def _flap(world: World, provider: str, *, period: float) -> None:
    down = True
    while True:
        world.set_outage(provider, down)
        down = not down
        await asyncio.sleep(period)
