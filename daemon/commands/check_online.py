"""`novu-failover check --online`: the rules against the live Novu, before a deploy.

For every channel and candidate: the integration exists in the rule's environment (one found
in another configured environment is named), in the rule's channel (one of another
channel is named), and is ready (no conditions set-primary would erase, unless allowed).
With `--canaries` each candidate's canary is sent once (a real message each) and must be
delivered. Reads only, otherwise: nothing is switched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from daemon.clock import SystemClock
from daemon.model import ChannelView, Integration
from daemon.novu.client import NovuClient, RetryPolicy
from daemon.novu.errors import NovuError
from daemon.policy.readiness import channel_readiness
from daemon.rules.model import CanarySignal, ChannelRule, Rules
from daemon.secrets import SecretError, resolve_api_key
from daemon.signals import failure_patterns
from daemon.signals.canary import CanaryProbe, Sleep

ONLINE_RETRY = RetryPolicy(attempts=3, base_delay=0.5, max_delay=2.0, total=15.0)


@dataclass
class OnlineReport:
    """What the live check found: problems (exit 2) and lines worth printing."""

    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


async def check_online(
    rules: Rules,
    *,
    environ: Mapping[str, str],
    base_dir: Path,
    http: httpx.AsyncClient,
    canaries: bool = False,
    sleep: Sleep = asyncio.sleep,
) -> OnlineReport:
    """Read each environment's integrations once and judge every candidate of the rules."""
    report = OnlineReport()
    clients: dict[str, NovuClient] = {}
    listed: dict[str, list[Integration]] = {}
    for name, env in rules.environments.items():
        try:
            key = resolve_api_key(env, environ=environ, base_dir=base_dir)
        except SecretError as exc:
            report.problems.append(f"environment {name}: {exc}")
            continue
        client = NovuClient(
            http,
            environment=name,
            base_url=env.api_url,
            api_key=key,
            environment_id=env.environment_id,
            retry=ONLINE_RETRY,
        )
        try:
            listed[name] = await client.list_integrations()
        except NovuError as exc:
            report.problems.append(f"environment {name}: cannot read Novu's integrations: {exc}")
            continue
        clients[name] = client
        report.lines.append(f"environment {name}: {len(listed[name])} integrations in Novu")
    now = SystemClock().now()
    for rule in rules.channels:
        everything = listed.get(rule.environment)
        if everything is None:
            continue  # already reported
        view = ChannelView(
            environment=rule.environment,
            channel=rule.channel,
            integrations=tuple(i for i in everything if i.channel == rule.channel),
            fetched_at=now,
            elsewhere=tuple(i for i in everything if i.channel != rule.channel),
        )
        # no signal states: readiness judges Novu's view only; canaries are sent below
        table = channel_readiness(rule, view=view, signals={}, now=now)
        for candidate in rule.candidates:
            ready = table[candidate.integration]
            reasons = list(ready.reasons)
            where = _other_environment(candidate.integration, rule, listed)
            if where and view.find(candidate.integration) is None:
                reasons = [f"{r} (found in environment {where})" for r in reasons]
            canary = await _canary(
                rule,
                candidate.integration,
                clients=clients,
                send=canaries,
                rules=rules,
                sleep=sleep,
            )
            reasons += canary.problems
            label = f"{rule.key}: {candidate.integration}"
            if reasons:
                report.problems += [f"{label}: {reason}" for reason in reasons]
            else:
                notes = [*ready.notes, *canary.lines]
                report.lines.append(f"{label}: ready" + (f" ({'; '.join(notes)})" if notes else ""))
    return report


def _other_environment(
    identifier: str, rule: ChannelRule, listed: Mapping[str, list[Integration]]
) -> str | None:
    for name, integrations in listed.items():
        if name != rule.environment and any(i.identifier == identifier for i in integrations):
            return name
    return None


async def _canary(
    rule: ChannelRule,
    identifier: str,
    *,
    clients: Mapping[str, NovuClient],
    send: bool,
    rules: Rules,
    sleep: Sleep,
) -> OnlineReport:
    """Send the candidate's canaries once (with `send`), or say they were not sent."""
    result = OnlineReport()
    candidate = rule.candidate(identifier)
    client = clients.get(rule.environment)
    if candidate is None or client is None:
        return result
    for signal_id, entry in zip(candidate.signal_ids(), candidate.signals, strict=True):
        spec = entry.spec
        if not isinstance(spec, CanarySignal):
            continue
        if not send:
            result.lines.append(f"canary {signal_id} not sent; --canaries sends it")
            continue
        probe = CanaryProbe(
            signal_id,
            spec,
            channel=rule.channel,
            integration=identifier,
            novu=client,
            clock=SystemClock(),
            sleep=sleep,
            patterns=failure_patterns(rules),
        )
        observation = await probe(now=SystemClock().now())
        if observation.ok:
            result.lines.append(observation.detail)
        elif observation.ok is None:
            result.problems.append(f"canary proved nothing: {observation.detail}")
        else:  # the detail carries the failure class
            result.problems.append(f"canary failed: {observation.detail}")
    return result
