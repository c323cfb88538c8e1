"""Checks across fields that the schema cannot make, each located at the key to fix.

They run on the raw YAML data, next to the schema validation rather than after it, so a
file with a typo in one signal and a duplicate channel elsewhere reports both at once.
Shapes the schema rejects are skipped here: the schema already says what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from daemon.durations import format_duration, parse_duration
from daemon.rules.model import CANARY_DEFAULTS, SIGNAL_KINDS, Defaults
from daemon.rules.source import Finding, Locator, Parts
from daemon.secrets import PlaceholderError, placeholder_names

_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Where `${NAME}` placeholders are filled (by the probes): these fields of these kinds.
_PLACEHOLDER_FIELDS = {"http": ("url", "headers"), "statuspage": ("url",), "prometheus": ("url",)}


def cross_check(data: dict[str, Any], *, defaults: Defaults, locator: Locator) -> list[Finding]:
    """Every cross-field problem of the rules `data` (the parsed YAML mapping)."""
    findings = list(_defaults_timing(data.get("defaults")))
    environments = data.get("environments")
    if isinstance(environments, dict):
        findings.extend(_environment_names(environments))
        findings.extend(_key_sources(environments))
    channels = data.get("channels")
    if isinstance(channels, list):
        findings.extend(_channels(channels, environments, locator=locator))
        for index, channel in _dicts(channels):
            findings.extend(_channel_signals(index, channel, defaults=defaults))
    return findings


def _defaults_timing(raw: Any) -> Iterator[Finding]:
    if not isinstance(raw, dict):
        return
    fallback = Defaults.model_construct()
    yield from _timing(("defaults",), raw, fallback)


def _timing(parts: Parts, spec: dict[str, Any], defaults: Defaults) -> Iterator[Finding]:
    """timeout < interval, located at whichever of the two the mapping itself sets."""
    interval = _seconds(spec.get("interval", defaults.interval))
    timeout = _seconds(spec.get("timeout", defaults.timeout))
    if interval is None or timeout is None or timeout < interval:
        return
    key = "timeout" if "timeout" in spec else "interval" if "interval" in spec else None
    if key is None:
        return
    msg = (
        f"timeout ({format_duration(timeout)}) must be shorter than "
        f"interval ({format_duration(interval)})"
    )
    yield Finding((*parts, key), msg)


def _environment_names(environments: dict[Any, Any]) -> Iterator[Finding]:
    for name in environments:
        if isinstance(name, str) and not _ENVIRONMENT_NAME.match(name):
            msg = (
                "an environment name is 1 to 64 letters, digits, '_', '.' or '-' "
                "(it names channels as environment/channel)"
            )
            yield Finding(("environments", name), msg)


def _key_sources(environments: dict[Any, Any]) -> Iterator[Finding]:
    """Exactly one key source; the schema says so too, unless another error hid it."""
    for name, env in environments.items():
        if isinstance(env, dict) and ("api_key_env" in env) == ("api_key_file" in env):
            yield Finding(("environments", name), "give exactly one of api_key_env or api_key_file")


def _channels(channels: list[Any], environments: Any, *, locator: Locator) -> Iterator[Finding]:
    defined = sorted(str(name) for name in environments) if isinstance(environments, dict) else []
    seen_channels: dict[tuple[str, str], int] = {}
    owner: dict[tuple[str, str], tuple[int, str]] = {}  # (env, integration) -> channel
    for index, channel in _dicts(channels):
        env, name = channel.get("environment"), channel.get("channel")
        if isinstance(env, str) and isinstance(environments, dict) and env not in environments:
            known = ", ".join(defined) or "none"
            msg = f"environment {env!r} is not defined in environments (defined: {known})"
            yield Finding(("channels", index, "environment"), msg)
        if not isinstance(env, str) or not isinstance(name, str):
            continue
        first = seen_channels.setdefault((env, name), index)
        if first != index:
            line = locator.line(("channels", first))
            msg = f"{env}/{name} is already defined at channels[{first}] (line {line})"
            yield Finding(("channels", index, "channel"), msg)
            continue
        yield from _integrations(index, channel, env, name, owner)


def _integrations(
    index: int,
    channel: dict[str, Any],
    env: str,
    name: str,
    owner: dict[tuple[str, str], tuple[int, str]],
) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for position, candidate in _dicts(channel.get("candidates")):
        integration = candidate.get("integration")
        if not isinstance(integration, str):
            continue
        parts = ("channels", index, "candidates", position, "integration")
        if integration in seen:
            msg = (
                f"integration {integration!r} is already candidates[{seen[integration]}] "
                "of this channel"
            )
            yield Finding(parts, msg)
            continue
        seen[integration] = position
        other = owner.setdefault((env, integration), (index, name))
        if other[0] != index:
            msg = (
                f"integration {integration!r} is also a candidate of {env}/{other[1]} "
                f"(channels[{other[0]}]); a Novu integration serves one channel"
            )
            yield Finding(parts, msg)


def _channel_signals(
    index: int, channel: dict[str, Any], *, defaults: Defaults
) -> Iterator[Finding]:
    counts: list[tuple[str, int]] = []
    for position, candidate in _dicts(channel.get("candidates")):
        base: Parts = ("channels", index, "candidates", position)
        signals = candidate.get("signals")
        if isinstance(signals, list):
            counts.append(
                (str(candidate.get("integration", f"candidates[{position}]")), len(signals))
            )
        ids: dict[str, int] = {}
        for number, kind, spec in _signals(signals):
            parts = (*base, "signals", number, kind)
            if kind == "canary":
                canary_defaults = defaults.model_copy(
                    update={"interval": CANARY_DEFAULTS["interval"]}
                )
                yield from _timing(parts, spec, canary_defaults)
                yield from _canary_sink(parts, spec, channel.get("channel"))
            else:
                yield from _timing(parts, spec, defaults)
            yield from _placeholders(parts, kind, spec)
            signal_id = _signal_id(number, kind, spec, signals)
            if signal_id in ids:
                where = (*parts, "name") if isinstance(spec.get("name"), str) else parts
                msg = (
                    f"signal id {signal_id!r} is already used by signals[{ids[signal_id]}]; "
                    "give each signal of a candidate a distinct name"
                )
                yield Finding(where, msg)
            else:
                ids[signal_id] = number
    yield from _quorum(index, channel, counts)


_SINK_FIELD = {"email": "email", "sms": "phone"}


def _canary_sink(parts: Parts, spec: dict[str, Any], channel: Any) -> Iterator[Finding]:
    """A canary on an email channel needs the sink's `email`; on an sms channel, `phone`."""
    field = _SINK_FIELD.get(channel) if isinstance(channel, str) else None
    if field is None or field in spec:
        return
    if ("email" in spec) or ("phone" in spec):  # the schema is satisfied; only we can tell
        msg = f"a canary on an {channel} channel sends to a {field}; give the sink's {field}"
        yield Finding(parts, msg)


def _quorum(
    index: int, channel: dict[str, Any], counts: list[tuple[str, int]]
) -> Iterator[Finding]:
    policy = channel.get("policy")
    down_when = policy.get("down_when") if isinstance(policy, dict) else None
    quorum = down_when.get("quorum") if isinstance(down_when, dict) else None
    if not isinstance(quorum, int) or isinstance(quorum, bool):
        return
    short = [f"{name} has {count}" for name, count in counts if count < quorum]
    if short:
        msg = (
            f"quorum {quorum} needs at least {quorum} signals on every candidate; "
            f"{', '.join(short)}"
        )
        yield Finding(("channels", index, "policy", "down_when", "quorum"), msg)


def _placeholders(parts: Parts, kind: str, spec: dict[str, Any]) -> Iterator[Finding]:
    for field in _PLACEHOLDER_FIELDS.get(kind, ()):
        value = spec.get(field)
        texts = value.items() if isinstance(value, dict) else [(None, value)]
        for key, text in texts:
            if not isinstance(text, str):
                continue
            try:
                placeholder_names(text)
            except PlaceholderError as exc:
                where = (*parts, field) if key is None else (*parts, field, str(key))
                yield Finding(where, str(exc))


def _signal_id(number: int, kind: str, spec: dict[str, Any], signals: Any) -> str:
    """The id `Candidate.signal_ids()` gives: the name, else `kind`, else `kind#index`."""
    name = spec.get("name")
    if isinstance(name, str) and name:
        return name
    unnamed = [n for n, k, s in _signals(signals) if k == kind and not s.get("name")]
    return kind if len(unnamed) == 1 else f"{kind}#{number}"


def _signals(signals: Any) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(index, kind, spec) of each well-shaped signal entry: one known kind, a mapping."""
    for number, entry in _dicts(signals):
        if len(entry) == 1:
            kind, spec = next(iter(entry.items()))
            if kind in SIGNAL_KINDS and isinstance(spec, dict):
                yield number, kind, spec


def _dicts(items: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item


def _seconds(value: Any) -> float | None:
    """A duration as the schema reads it, or None when the schema will reject it anyway."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            return None
    return None
