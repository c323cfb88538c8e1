"""Process settings from `NOVU_FAILOVER_*` environment variables (pydantic-settings).

Rules (what to watch and when to switch) live in rules.yaml; settings say how this process
runs: where the rules are, where it listens, where it keeps state, how it logs.
The API token may come from `NOVU_FAILOVER_API_TOKEN`, from a file named by
`NOVU_FAILOVER_API_TOKEN_FILE`, or from a file `NOVU_FAILOVER_API_TOKEN` inside the
directory named by `NOVU_FAILOVER_SECRETS_DIR` (a mounted Kubernetes Secret).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from daemon.durations import parse_duration

ENV_PREFIX = "NOVU_FAILOVER_"
SECRETS_DIR_VARIABLE = f"{ENV_PREFIX}SECRETS_DIR"
TOKEN_FILE_VARIABLE = f"{ENV_PREFIX}API_TOKEN_FILE"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _seconds(value: Any) -> Any:
    """`30`, `30.5` or a duration like `30s`/`2m` -> seconds; anything else as given."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            return parse_duration(text)
    return value


def _log_level(value: Any) -> Any:
    if isinstance(value, str):
        upper = value.strip().upper()
        return "WARNING" if upper == "WARN" else upper
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]


class SettingsError(Exception):
    """Settings are invalid; `problems` holds one `VARIABLE: message` line per bad setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} settings {noun}:\n" + "\n".join(problems))


class Settings(BaseSettings):
    """How the daemon runs. Every field is set by `NOVU_FAILOVER_<FIELD>` (any case)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,  # the token must never reach a printed ValidationError
    )

    rules: Path = Path("rules.yaml")
    listen: str = "127.0.0.1:9555"
    state_dir: Path = Path("state")
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    secrets_dir: Path | None = None
    log_format: Literal["json", "text"] = "text"
    log_level: Annotated[LogLevel, BeforeValidator(_log_level)] = "INFO"
    dry_run: bool = False
    """Forces dry-run on every channel, whatever rules.yaml says."""
    action_timeout: Seconds = 30.0
    shutdown_timeout: Seconds = 10.0
    reload_poll: Seconds = 2.0
    """Seconds between checks of the rules file for changes."""
    audit_max_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024, le=2**40)
    """audit.jsonl is rotated when a record would take it past this size (docs/state.md)."""
    audit_keep: int = Field(default=4, ge=0, le=1000)
    """How many rotated audit files are kept besides audit.jsonl; older ones are deleted."""
    grafana_hmac_secret: SecretStr | None = None
    """Grafana's webhook HMAC secret: a signed Grafana webhook needs no bearer token."""
    grafana_hmac_header: str = "X-Grafana-Alerting-Signature"
    """The *Header* set on Grafana's contact point (with this default, Grafana's own
    fallback `X-Grafana-Alert-Signature` for an empty field is accepted too)."""
    grafana_hmac_timestamp_header: str = "X-Grafana-Alerting-Signature-Timestamp"
    """The timestamp header set on Grafana's contact point; empty: Grafana sends none."""
    grafana_hmac_max_age: Seconds = 300.0
    """How old (or ahead) a signed webhook's timestamp may be: the replay window."""

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("api_token")
    @classmethod
    def _non_empty_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if not token:
            msg = "the API token is empty"
            raise ValueError(msg)
        return SecretStr(token)

    @property
    def listen_address(self) -> tuple[str, int]:
        """(host, port) of `listen`; an IPv6 host comes without its brackets."""
        return split_listen(self.listen)


def split_listen(value: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` -> (host, port); ValueError with a readable message."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not host or not port_text:
        msg = "must be host:port, like 127.0.0.1:9555 or [::1]:9555"
        raise ValueError(msg)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            msg = f"{host!r} in brackets is not an IPv6 address"
            raise ValueError(msg) from None
    elif ":" in host:
        msg = "an IPv6 host goes in brackets, like [::1]:9555"
        raise ValueError(msg)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        msg = f"port {port_text!r} is not a number from 0 to 65535"
        raise ValueError(msg)
    return host, int(port_text)


_SECRET_FIELDS = frozenset({"api_token", "grafana_hmac_secret"})
CLIENT_VARIABLES = frozenset({"URL"})
"""`NOVU_FAILOVER_*` variables the CLI's client commands read (`status`, `pause`, ...),
not settings of the daemon, yet no typo."""


def load_settings(**overrides: Any) -> Settings:
    """Settings from the process environment, `overrides` (by field name) taking precedence.

    Raises SettingsError naming every bad variable, never echoing the token.
    """
    env = os.environ
    problems: list[str] = []
    values = dict(overrides)

    secrets_dir = values.get("secrets_dir") or _lookup(env, SECRETS_DIR_VARIABLE)
    init: dict[str, Any] = {}
    if secrets_dir:
        if Path(secrets_dir).is_dir():
            init["_secrets_dir"] = Path(secrets_dir)
        else:
            problems.append(f"{SECRETS_DIR_VARIABLE}: {secrets_dir} is not a directory")

    token_file = values.get("api_token_file") or _lookup(env, TOKEN_FILE_VARIABLE)
    if token_file:
        token_given = values.get("api_token") is not None or _lookup(env, f"{ENV_PREFIX}API_TOKEN")
        if token_given:
            problems.append(
                f"{TOKEN_FILE_VARIABLE}: set either it or {ENV_PREFIX}API_TOKEN, not both"
            )
        else:
            try:
                values["api_token"] = Path(token_file).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                problems.append(f"{TOKEN_FILE_VARIABLE}: cannot read {token_file}: {reason}")

    try:
        settings = Settings(**init, **values)
    except ValidationError as exc:
        problems.extend(_describe(error, from_file=bool(token_file)) for error in exc.errors())
        raise SettingsError(problems) from exc
    if problems:
        raise SettingsError(problems)
    return settings


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`NOVU_FAILOVER_*` variables that name no setting (likely typos), each with a hint."""
    known = sorted(name.upper() for name in Settings.model_fields)
    notes: list[str] = []
    for name in sorted(environ):
        upper = name.upper()
        suffix = upper.removeprefix(ENV_PREFIX)
        if not upper.startswith(ENV_PREFIX) or suffix in known or suffix in CLIENT_VARIABLES:
            continue
        # Compare without the shared prefix, or every name looks close to every other.
        close = difflib.get_close_matches(suffix, known, n=1)
        hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
        notes.append(f"{name} is not a setting{hint}")
    return notes


def _lookup(environ: Mapping[str, str], variable: str) -> str | None:
    """`environ[variable]`, matched without regard to case as pydantic-settings does."""
    for name, value in environ.items():
        if name.upper() == variable:
            return value
    return None


def _describe(error: Mapping[str, Any], *, from_file: bool) -> str:
    field = str(error["loc"][0]) if error["loc"] else "settings"
    variable = f"{ENV_PREFIX}{field.upper()}"
    if field == "api_token" and from_file:
        variable = TOKEN_FILE_VARIABLE
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message.replace("Input should be", "must be")
    if error["type"] == "extra_forbidden":
        return f"{field}: not a setting"
    shown = repr(str(error.get("input", ""))[:80])
    if field in _SECRET_FIELDS or "input" not in error or shown in message:
        return f"{variable}: {message}"
    return f"{variable}: {message}; got {shown}"
