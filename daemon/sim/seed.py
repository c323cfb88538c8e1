"""The simulator's starting world, read from YAML or JSON: environments and integrations.

```yaml
organization_id: 6650a1b2c3d4e5f601234567       # optional; one organization for all
environments:
  - name: production
    id: 6650a1b2c3d4e5f6000000a1                # 24 hex digits
    api_key: sim-production-0f6c1d2e3b4a5968    # a fake key, only the simulator knows it
    integrations:
      - id: 6650a1b2c3d4e5f600000101
        identifier: sendgrid-main
        providerId: sendgrid
        channel: email
        active: true
        primary: true
        conditions: []                          # optional
        credentials: {apiKey: SIM-SECRET-...}   # optional; generated when absent
```
All errors of a file are reported at once, each with its path in the document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MONGO_ID_PATTERN = r"^[0-9a-fA-F]{24}$"
SECRET_MARKER = "SIM-SECRET-"  # noqa: S105 - a marker for fake values, not a secret
"""Every generated credential value starts with this: grep for it to prove none leaked."""

Channel = Literal["in_app", "email", "sms", "chat", "push"]


class SeedError(ValueError):
    """A seed file that cannot be loaded; the message lists every problem found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class IntegrationSeed(_Strict):
    id: str = Field(pattern=MONGO_ID_PATTERN)
    identifier: str = Field(min_length=1)
    name: str | None = None
    provider_id: str = Field(alias="providerId", min_length=1)
    channel: Channel
    active: bool = True
    primary: bool = False
    priority: int | None = None
    conditions: tuple[dict[str, Any], ...] = ()
    credentials: dict[str, Any] | None = None


class EnvironmentSeed(_Strict):
    name: str = Field(min_length=1)
    id: str = Field(pattern=MONGO_ID_PATTERN)
    api_key: str = Field(min_length=8)
    organization_id: str | None = Field(default=None, pattern=MONGO_ID_PATTERN)
    integrations: tuple[IntegrationSeed, ...] = ()

    @model_validator(mode="after")
    def _one_primary_per_channel(self) -> EnvironmentSeed:
        problems: list[str] = []
        identifiers = [i.identifier for i in self.integrations]
        for identifier in sorted({i for i in identifiers if identifiers.count(i) > 1}):
            problems.append(f"identifier {identifier!r} is used twice")
        for channel in ("email", "sms"):
            primaries = [
                i.identifier for i in self.integrations if i.primary and i.channel == channel
            ]
            if len(primaries) > 1:
                problems.append(f"{channel} has more than one primary: {', '.join(primaries)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Seed(_Strict):
    organization_id: str = Field(default="6650a1b2c3d4e5f601234567", pattern=MONGO_ID_PATTERN)
    environments: tuple[EnvironmentSeed, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_across_environments(self) -> Seed:
        problems: list[str] = []
        for what, values in (
            ("environment name", [e.name for e in self.environments]),
            ("environment id", [e.id for e in self.environments]),
            ("api_key", [e.api_key for e in self.environments]),
            ("integration id", [i.id for e in self.environments for i in e.integrations]),
        ):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                shown = "(hidden)" if what == "api_key" else ", ".join(repeated)
                problems.append(f"{what} repeated: {shown}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def parse_seed(data: Mapping[str, Any], *, source: str = "<seed>") -> Seed:
    try:
        return Seed.model_validate(dict(data))
    except ValidationError as exc:
        lines = [f"{source}: {exc.error_count()} problem(s) in the simulator seed:"]
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "<top>"
            lines.append(f"  {where}: {error['msg']}")
        msg = "\n".join(lines)
        raise SeedError(msg) from exc


def load_seed(path: str | Path) -> Seed:
    """A seed from a YAML (or JSON, which is YAML) file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"{path}: cannot read the simulator seed: {exc.strerror}"
        raise SeedError(msg) from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        msg = f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        raise SeedError(msg) from exc
    if not isinstance(data, Mapping):
        msg = f"{path}: the simulator seed must be a mapping at the top level"
        raise SeedError(msg)
    return parse_seed(data, source=str(path))


def default_seed() -> Seed:
    """The bundled fixture (`daemon/sim/seed.yaml`)."""
    text = resources.files("daemon.sim").joinpath("seed.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return parse_seed(data, source="daemon/sim/seed.yaml")


def generated_credentials(integration: IntegrationSeed) -> dict[str, Any]:
    """Distinctive fake credentials for an integration seeded without any."""
    secret = f"{SECRET_MARKER}{integration.identifier}"
    if integration.channel == "sms":
        return {"accountSid": f"{secret}-sid", "token": f"{secret}-token", "from": "+15550100"}
    return {"apiKey": f"{secret}-apikey", "from": "noreply@example.test"}
