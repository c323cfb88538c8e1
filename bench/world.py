"""Generated worlds for the benchmarks: a simulator seed and a rules file that match.

A Novu environment has at most two channels with a primary (email and sms), so N channels
need N/2 environments. Every identifier and key here is made up for loopback use.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from harness import ROOT

CHANNELS = ("email", "sms")
PROVIDERS = {"email": ("sendgrid", "ses", "mailgun", "postmark"), "sms": ("twilio", "nexmo")}

SignalsOf = Callable[["Slot", int], list[dict[str, Any]]]
"""(channel slot, candidate index) -> the candidate's `signals:` list."""


@dataclass(frozen=True)
class Slot:
    """One channel of the world: its environment, channel and a stable short name."""

    index: int
    environment: str
    channel: str

    @property
    def name(self) -> str:
        return f"{self.environment}-{self.channel}"

    def integration(self, candidate: int) -> str:
        return f"{self.channel[:2]}-{candidate}"

    def provider(self, candidate: int) -> str:
        providers = PROVIDERS[self.channel]
        return providers[candidate % len(providers)]


@dataclass(frozen=True)
class World:
    channels: int
    candidates: int

    @property
    def environments(self) -> int:
        return (self.channels + 1) // 2

    def slots(self) -> list[Slot]:
        return [Slot(i, environment_name(i // 2), CHANNELS[i % 2]) for i in range(self.channels)]

    def api_keys(self) -> dict[str, str]:
        """Environment variables the rules name, with the simulator's keys."""
        return {key_variable(e): api_key(e) for e in range(self.environments)}

    def seed(self) -> dict[str, Any]:
        environments = []
        serial = 0
        for e in range(self.environments):
            integrations = []
            for slot in self.slots()[2 * e : 2 * e + 2]:
                for c in range(self.candidates):
                    serial += 1
                    integrations.append(
                        {
                            "id": f"{0xBE0C4:06x}{serial:018x}",
                            "identifier": slot.integration(c),
                            "providerId": slot.provider(c),
                            "channel": slot.channel,
                            "active": True,
                            "primary": c == 0,
                            "credentials": {"apiKey": f"SIM-SECRET-bench-{serial}"},
                        }
                    )
            environments.append(
                {
                    "name": environment_name(e),
                    "id": f"{0xE7E:06x}{e:018x}",
                    "api_key": api_key(e),
                    "integrations": integrations,
                }
            )
        return {"environments": environments}

    def rules(
        self,
        *,
        novu_url: str,
        signals: SignalsOf,
        defaults: dict[str, Any],
        policy: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "defaults": defaults,
            "environments": {
                environment_name(e): {"api_url": novu_url, "api_key_env": key_variable(e)}
                for e in range(self.environments)
            },
            "channels": [
                {
                    "environment": slot.environment,
                    "channel": slot.channel,
                    "candidates": [
                        {"integration": slot.integration(c), "signals": signals(slot, c)}
                        for c in range(self.candidates)
                    ],
                    "policy": policy or {},
                }
                for slot in self.slots()
            ],
        }


def environment_name(e: int) -> str:
    return f"env{e:03d}"


def key_variable(e: int) -> str:
    return f"BENCH_NOVU_KEY_{e:03d}"


def api_key(e: int) -> str:
    return f"sim-bench-{e:03d}-5c1e"


def write_yaml(path: Path, data: Any) -> Path:
    """Innermost collections in flow style: the 1,000-channel rules are ~1.05 MB in block
    style, over the rules reader's 1 MiB bound (daemon/rules/loader.py); ~0.99 MB so."""
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return path


def example_rules(*, novu_url: str, target_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The repository's rules.yaml with every URL moved to loopback, and the variables its
    `${...}` headers and API key need. Prometheus and Statuspage answers come from the target.
    """
    rules = copy.deepcopy(yaml.safe_load((ROOT / "rules.yaml").read_text()))
    for environment in rules["environments"].values():
        environment["api_url"] = novu_url
    for channel in rules["channels"]:
        if channel.get("policy", {}).get("failback") is False:  # YAML 1.1 reads `off` so
            channel["policy"]["failback"] = "off"
        for candidate in channel["candidates"]:
            for entry in candidate["signals"]:
                ((kind, spec),) = entry.items()
                name = candidate["integration"]
                if kind == "http":
                    spec["url"] = f"{target_url}/ok/{name}"
                elif kind == "statuspage":
                    spec["url"] = f"{target_url}/sp/{name}"
                elif kind == "prometheus":
                    spec["url"] = target_url
    environ = {
        "NOVU_API_KEY": "sim-production-0f6c1d2e3b4a5968",  # the bundled seed's key
        "SENDGRID_API_KEY": "bench-sendgrid-key",
        "MAILGUN_BASIC_AUTH": "bench-mailgun-auth",
        "TWILIO_ACCOUNT_SID": "AC0bench",
        "TWILIO_BASIC_AUTH": "bench-twilio-auth",
    }
    return rules, environ
