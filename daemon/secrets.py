"""Secrets the rules point at but never contain: Novu API keys and `${NAME}` placeholders.

Every error here names the variable or the file it looked at, never the value it found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from daemon.rules.model import Environment

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# `$${` is an escaped literal `${`; `${NAME}` a placeholder; any other `${` is malformed.
_ESCAPE = "$${"
_TOKEN = re.compile(rf"\$\$\{{|\$\{{({_NAME})\}}|\$\{{")


MAX_KEY_FILE_BYTES = 4096
"""An API key file holds one key (and maybe a newline)."""


class SecretError(Exception):
    """A secret could not be resolved; the message names where it was looked for."""


class PlaceholderError(ValueError):
    """A `${...}` placeholder is malformed (not `${NAME}`)."""


def placeholder_names(text: str) -> tuple[str, ...]:
    """The variable names of every `${NAME}` in `text`, in order; `$${` is not one.

    Raises PlaceholderError for a `${` that does not open a well-formed `${NAME}`.
    """
    names: list[str] = []
    for match in _TOKEN.finditer(text):
        if match.group(0) == _ESCAPE:
            continue
        name = match.group(1)
        if name is None:
            msg = (
                f"malformed placeholder at character {match.start() + 1}: write ${{NAME}} "
                "with NAME made of letters, digits and _ (or $${ for a literal ${)"
            )
            raise PlaceholderError(msg)
        names.append(name)
    return tuple(names)


def expand_placeholders(text: str, environ: Mapping[str, str]) -> str:
    """`text` with every `${NAME}` replaced by `environ[NAME]` and `$${` by a literal `${`.

    Raises SecretError naming the first variable that is not set (never any value), and
    PlaceholderError for a malformed placeholder.
    """
    placeholder_names(text)  # malformed placeholders fail before anything is filled

    def fill(match: re.Match[str]) -> str:
        if match.group(0) == _ESCAPE:
            return "${"
        name = match.group(1)
        value = environ.get(name)
        if value is None:
            msg = f"environment variable {name} is not set (used as ${{{name}}})"
            raise SecretError(msg)
        return value

    return _TOKEN.sub(fill, text)


def resolve_api_key(env: Environment, *, environ: Mapping[str, str], base_dir: Path) -> SecretStr:
    """The Novu API key of `env`: from its `api_key_env` variable or its `api_key_file`.

    Surrounding whitespace (a trailing newline in a mounted secret) is stripped. A relative
    `api_key_file` is read relative to `base_dir` (the rules file's directory).
    """
    if env.api_key_env is not None:
        return _from_variable(env.api_key_env, environ)
    if env.api_key_file is not None:
        path = env.api_key_file.expanduser()
        return _from_file(path if path.is_absolute() else base_dir / path)
    msg = "no API key source: give api_key_env or api_key_file"
    raise SecretError(msg)


def _from_variable(name: str, environ: Mapping[str, str]) -> SecretStr:
    value = environ.get(name)
    if value is None:
        msg = f"environment variable {name} is not set"
        raise SecretError(msg)
    return _checked(value, source=f"environment variable {name}")


def _from_file(path: Path) -> SecretStr:
    try:
        special = path.exists() and not (path.is_file() or path.is_dir())
        if special:  # a FIFO or a device would block or never end
            msg = f"API key file {path} is not a regular file"
            raise SecretError(msg)
        with path.open("rb") as file:
            raw = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        msg = f"cannot read API key file {path}: {reason}"
        raise SecretError(msg) from exc
    if len(raw) > MAX_KEY_FILE_BYTES:
        msg = f"API key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes; it must hold the key"
        raise SecretError(msg)
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        # The codec's own message quotes the offending byte: a piece of the secret.
        msg = f"API key file {path} is not UTF-8 text"
        raise SecretError(msg) from None
    return _checked(value, source=f"API key file {path}")


def _checked(value: str, *, source: str) -> SecretStr:
    key = value.strip()
    if not key:
        msg = f"{source} is empty"
        raise SecretError(msg)
    if any(char.isspace() for char in key):
        msg = f"{source} holds more than one word; it must hold the API key alone"
        raise SecretError(msg)
    return SecretStr(key)
