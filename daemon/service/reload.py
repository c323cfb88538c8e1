"""Reading the rules file for a reload: off the event loop, and never raising.

A reload that fails for any reason — a located rules error, an unreadable file, a key that
cannot be resolved, a bug — keeps the last good rules; the caller shows the error in the
log, the status API (`rules.error`), `novu_failover_config_valid` and `/readyz`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from daemon.model import ChannelKey
from daemon.rules.loader import MAX_RULES_BYTES, RulesError, load_rules
from daemon.rules.model import Rules
from daemon.service.context import OwnerContext
from daemon.service.owner import ChannelOwner
from daemon.service.runtime import ChannelRuntime

log = logging.getLogger("novu_failover.reload")
MAX_LISTED_PROBLEMS = 5


@dataclass(frozen=True)
class Loaded:
    """The outcome of reading the rules file: rules, or the one-line error why not."""

    rules: Rules | None
    error: str | None
    fingerprint: str | None


def fingerprint(path: Path) -> str | None:
    """Content hash of the rules file; follows symlinks, so a ConfigMap swap is seen."""
    try:
        with path.open("rb") as file:  # load_rules refuses a bigger file: hash only its head
            return hashlib.sha256(file.read(MAX_RULES_BYTES + 1)).hexdigest()
    except OSError:
        return None


async def read_rules(path: Path) -> Loaded:
    """Load `path` in a worker thread (a large file must not stall the API)."""
    return await asyncio.to_thread(_read, path)


def _read(path: Path) -> Loaded:
    seen = fingerprint(path)
    try:
        rules = load_rules(path)
    except RulesError as exc:
        problems = [str(p) for p in exc.errors]
        shown = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        error = f"{len(problems)} error(s): {shown}" + (f"; and {more} more" if more > 0 else "")
        return Loaded(None, error, seen)
    except OSError as exc:
        return Loaded(None, f"cannot read {path}: {exc.strerror or type(exc).__name__}", seen)
    except Exception as exc:  # the loader's contract is RulesError; keep running regardless
        log.exception("unexpected failure loading %s", path)
        return Loaded(None, f"cannot load {path}: unexpected {type(exc).__name__}", seen)
    return Loaded(rules, None, seen)


def hand_over(
    owners: dict[ChannelKey, ChannelOwner],
    runtimes: Mapping[ChannelKey, ChannelRuntime],
    *,
    context: OwnerContext,
) -> bool:
    """A reload: each channel still in the rules keeps its owner, which adopts its new rule;
    removed channels lose theirs, new ones get one. True when the set of channels or
    candidates changed (Novu must be read again for them)."""
    reshaped = False
    for key, owner in list(owners.items()):
        new = runtimes.get(key)
        if new is None or new.rule.candidates != owner.runtime.rule.candidates:
            reshaped = True
        if new is None:
            del owners[key]
    for key, runtime in runtimes.items():
        if key in owners:
            owners[key].adopt(runtime)
        else:
            owners[key] = ChannelOwner(runtime, context=context)
            reshaped = True
    return reshaped
