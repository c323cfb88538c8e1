"""Assembling what the rules describe: a Novu client per environment and a probe per signal.

Done at start and again by every successful reload; nothing here holds channel state, which
lives in the channel owners (daemon/service/owner.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from daemon.logs import register_secret
from daemon.metrics import Metrics
from daemon.model import ChannelKey, ChannelView
from daemon.novu.client import NovuClient
from daemon.rules.model import Rules
from daemon.secrets import resolve_api_key
from daemon.service.runtime import ChannelRuntime, SignalRef
from daemon.signals import Probe, SharedMessages, build_probe

ProbeKey = tuple[ChannelKey, SignalRef]
ViewOf = Callable[[ChannelKey], ChannelView | None]
"""The channel's current view of Novu (looked up at probe time, so it follows the owner)."""


@dataclass(frozen=True)
class Assembly:
    """The clients and probes for one version of the rules."""

    rules: Rules
    clients: dict[str, NovuClient]
    probes: dict[ProbeKey, Probe]


def assemble(
    rules: Rules,
    runtimes: Mapping[ChannelKey, ChannelRuntime],
    *,
    http: httpx.AsyncClient,
    environ: Mapping[str, str],
    rules_dir: Path,
    metrics: Metrics,
    view_of: ViewOf,
) -> Assembly:
    """Clients and probes for `rules`; raises SecretError when an API key cannot be read."""
    clients = {
        name: NovuClient(
            http,
            environment=name,
            base_url=env.api_url,
            api_key=_api_key(rules, name, environ=environ, rules_dir=rules_dir),
            environment_id=env.environment_id,
            on_request=metrics.novu_request(name),
        )
        for name, env in rules.environments.items()
    }
    probes: dict[ProbeKey, Probe] = {}
    for key, runtime in runtimes.items():
        messages = SharedMessages(clients[runtime.rule.environment])
        for ref, entry in runtime.entries.items():
            probe = build_probe(
                ref[1],
                entry,
                channel=runtime.rule.channel,
                http=http,
                environ=environ,
                messages=messages,
                provider_id=_provider_of(key, ref[0], view_of),
            )
            if probe is not None:
                probes[(key, ref)] = probe
    return Assembly(rules=rules, clients=clients, probes=probes)


def _api_key(
    rules: Rules, environment: str, *, environ: Mapping[str, str], rules_dir: Path
) -> SecretStr:
    key = resolve_api_key(rules.environments[environment], environ=environ, base_dir=rules_dir)
    register_secret(key.get_secret_value())
    return key


def _provider_of(key: ChannelKey, integration: str, view_of: ViewOf) -> Callable[[], str | None]:
    def lookup() -> str | None:
        view = view_of(key)
        found = view.find(integration) if view else None
        return found.provider_id if found else None

    return lookup
