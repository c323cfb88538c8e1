"""The short account of valid rules that `check` prints, with what deserves a second look.

Warnings never stop the rules from loading: a missing secret may be provided later (the
probe reports *unknown* until then), and integrations can only be checked against Novu.
No secret value is ever read into a message: only whether it is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from daemon.durations import format_duration
from daemon.redaction import hide_url_credentials
from daemon.rules.model import (
    CanarySignal,
    ChannelRule,
    Failback,
    HttpSignal,
    Policy,
    PrometheusSignal,
    Quorum,
    Rules,
    StatuspageSignal,
)
from daemon.secrets import SecretError, placeholder_names, resolve_api_key

_PROBED_URL = (HttpSignal, StatuspageSignal, PrometheusSignal)  # `${NAME}` is filled in these
OFFLINE_NOTE = (
    "integration identifiers are not verified offline: Novu alone knows which exist "
    "in each environment and channel (`check --online` asks it)"
)


@dataclass(frozen=True, slots=True)
class EnvironmentSummary:
    name: str
    api_url: str
    key_source: str


@dataclass(frozen=True, slots=True)
class CandidateSummary:
    integration: str
    signals: tuple[str, ...]
    """Each signal's kind, with its name in parentheses when it has one."""


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    key: str
    candidates: tuple[CandidateSummary, ...]
    policy: tuple[str, ...]
    """`knob value` pairs in rules.yaml's own words, durations formatted."""


@dataclass(frozen=True, slots=True)
class RulesSummary:
    file: str
    environments: tuple[EnvironmentSummary, ...]
    channels: tuple[ChannelSummary, ...]
    warnings: tuple[str, ...]

    def render(self) -> str:
        candidates = sum(len(channel.candidates) for channel in self.channels)
        signals = sum(len(c.signals) for ch in self.channels for c in ch.candidates)
        lines = [
            f"{self.file}: valid: {_count(len(self.environments), 'environment')}, "
            f"{_count(len(self.channels), 'channel')}, {_count(candidates, 'candidate')}, "
            f"{_count(signals, 'signal')}",
            "environments:",
        ]
        lines.extend(
            f"  {env.name}: {env.api_url}, API key {env.key_source}" for env in self.environments
        )
        lines.append("channels:")
        for channel in self.channels:
            lines.append(f"  {channel.key}")
            width = max(len(c.integration) for c in channel.candidates)
            for rank, candidate in enumerate(channel.candidates, start=1):
                signals_text = ", ".join(candidate.signals)
                lines.append(f"    {rank}. {candidate.integration:<{width}}  {signals_text}")
            lines.append(f"    policy: {', '.join(channel.policy)}")
        if self.warnings:
            lines.append(f"warnings ({len(self.warnings)}):")
            lines.extend(f"  - {warning}" for warning in self.warnings)
        return "\n".join(lines)


def summarize(
    rules: Rules,
    *,
    file: str,
    environ: Mapping[str, str],
    base_dir: Path,
    force_dry_run: bool = False,
) -> RulesSummary:
    """What `rules` configure, and warnings about secrets and knobs that cannot work."""
    warnings: list[str] = []
    environments = []
    for name, env in rules.environments.items():
        source = f"from ${env.api_key_env}" if env.api_key_env else f"from file {env.api_key_file}"
        api_url = hide_url_credentials(env.api_url)
        environments.append(EnvironmentSummary(name, api_url, source))
        try:
            resolve_api_key(env, environ=environ, base_dir=base_dir)
        except SecretError as exc:
            warnings.append(f"environment {name}: {exc}")
    channels = []
    for rule in rules.channels:
        channels.append(_channel(rule, force_dry_run=force_dry_run))
        warnings.extend(_placeholder_warnings(rule, environ))
        warnings.extend(_policy_warnings(rule))
        warnings.extend(_canary_notes(rule))
    warnings.append(OFFLINE_NOTE)
    return RulesSummary(file, tuple(environments), tuple(channels), tuple(warnings))


def _channel(rule: ChannelRule, *, force_dry_run: bool) -> ChannelSummary:
    candidates = tuple(
        CandidateSummary(
            candidate.integration,
            tuple(
                f"{entry.kind} ({entry.spec.name})" if entry.spec.name else entry.kind
                for entry in candidate.signals
            ),
        )
        for candidate in rule.candidates
    )
    return ChannelSummary(rule.key, candidates, _policy(rule.policy, force_dry_run=force_dry_run))


def _policy(policy: Policy, *, force_dry_run: bool) -> tuple[str, ...]:
    down_when = (
        f"quorum {policy.down_when.quorum}"
        if isinstance(policy.down_when, Quorum)
        else policy.down_when
    )
    failback = (
        f"after {format_duration(policy.failback.after)}"
        if isinstance(policy.failback, Failback)
        else "off"
    )
    if force_dry_run:
        dry_run = "on (forced by NOVU_FAILOVER_DRY_RUN)"
    else:
        dry_run = "on" if policy.dry_run else "off"
    return (
        f"down_when {down_when}",
        f"confirm {format_duration(policy.confirm)}",
        f"cooldown {format_duration(policy.cooldown)}",
        f"brake {policy.brake.max} per {format_duration(policy.brake.per)}",
        f"failback {failback}",
        f"startup_grace {format_duration(policy.startup_grace)}",
        f"dry_run {dry_run}",
        f"allow_erase_conditions {'on' if policy.allow_erase_conditions else 'off'}",
    )


def _placeholder_warnings(rule: ChannelRule, environ: Mapping[str, str]) -> list[str]:
    warnings: list[str] = []
    for candidate in rule.candidates:
        for signal_id, entry in zip(candidate.signal_ids(), candidate.signals, strict=True):
            spec = entry.spec
            texts: list[str] = [spec.url] if isinstance(spec, _PROBED_URL) else []
            if isinstance(spec, HttpSignal):
                texts.extend(spec.headers.values())
            for name in dict.fromkeys(n for text in texts for n in placeholder_names(text)):
                value = environ.get(name)
                if value is None or not value:
                    state = "not set" if value is None else "set but empty"
                    warnings.append(
                        f"{rule.key} {candidate.integration} signal {signal_id}: ${{{name}}} is "
                        f"{state}; the probe reports unknown until it is"
                    )
    return warnings


def _canary_notes(rule: ChannelRule) -> list[str]:
    """Each canary is a real message: say how many a day it may send."""
    notes: list[str] = []
    for candidate in rule.candidates:
        for signal_id, entry in zip(candidate.signal_ids(), candidate.signals, strict=True):
            spec = entry.spec
            if isinstance(spec, CanarySignal):
                per_day = min(int(86400 // spec.interval), spec.daily_budget)
                sink = spec.email if rule.channel == "email" else spec.phone
                notes.append(
                    f"{rule.key} {candidate.integration} signal {signal_id}: sends a real "
                    f"message to {sink} every {format_duration(spec.interval)} "
                    f"(up to {per_day} a day; budget {spec.daily_budget})"
                )
    return notes


def _policy_warnings(rule: ChannelRule) -> list[str]:
    policy, warnings = rule.policy, []
    if len(rule.candidates) == 1:
        warnings.append(f"{rule.key}: only one candidate, so there is nothing to fail over to")
    if isinstance(policy.failback, Failback) and policy.failback.after < policy.cooldown:
        warnings.append(
            f"{rule.key}: failback after {format_duration(policy.failback.after)} is shorter "
            f"than the cooldown ({format_duration(policy.cooldown)}); failback waits for it"
        )
    brake = policy.brake
    if policy.cooldown * brake.max >= brake.per:
        # Urgent switches (the channel has no working primary) skip the cooldown, so the
        # brake still guards those; for every other switch the cooldown is the tighter bound.
        warnings.append(
            f"{rule.key}: the brake ({brake.max} per {format_duration(brake.per)}) trips only "
            f"on urgent switches: the {format_duration(policy.cooldown)} cooldown spaces "
            f"{brake.max + 1} other switches over at least "
            f"{format_duration(policy.cooldown * brake.max)}"
        )
    return warnings


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
