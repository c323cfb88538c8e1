"""Per-candidate health: the signals' states combined under the policy's `down_when`.

Passive signals (alerts) count as `down` evidence when firing. When quiet they abstain:
they are no positive evidence for `up` and they do not block `down_when: all`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal

from daemon.health.text import headline
from daemon.model import CandidateHealth, Health, SignalHealth
from daemon.rules.model import Quorum

DownWhen = Literal["any", "all"] | Quorum


def candidate_health(
    integration: str,
    signals: Sequence[SignalHealth],
    *,
    down_when: DownWhen,
    previous: CandidateHealth | None,
    now: float,
) -> CandidateHealth:
    """Down when `down_when` says so; else up if a non-passive signal is up; else unknown.

    `since` is `previous.since` while the state is unchanged from `previous`, else `now`.
    `previous` must have been judged under the same `down_when`: when its signals are the
    same, it is returned as it is (nothing to re-judge, no reason to re-word).
    The state is judged here from counts; the reason is worded on first use (`_reason`).
    """
    if previous is not None and previous.integration != integration:
        msg = f"previous health of {previous.integration!r} given for {integration!r}"
        raise ValueError(msg)
    given = tuple(signals)
    if previous is not None and previous.signals == given and given:
        return previous
    return judge_candidate(integration, given, down_when=down_when, previous=previous, now=now)


def judge_candidate(
    integration: str,
    given: tuple[SignalHealth, ...],
    *,
    down_when: DownWhen,
    previous: CandidateHealth | None,
    now: float,
) -> CandidateHealth:
    """`candidate_health` for signals known to differ from `previous.signals`."""
    down = up = abstain = 0
    for s in given:
        if s.state is Health.DOWN:
            down += 1
        elif s.passive:
            abstain += 1  # a passive signal that does not fire abstains, quiet or unheard
        elif s.state is Health.UP:
            up += 1
    if _says_down(down_when, down=down, counted=len(given) - abstain):
        state = Health.DOWN
    elif up:
        state = Health.UP
    else:
        state = Health.UNKNOWN
    since = previous.since if previous is not None and previous.state is state else now
    return CandidateHealth(
        integration=integration,
        state=state,
        reason=partial(_reason, given, down_when, state, since),
        since=since,
        signals=given,
    )


def _reason(
    given: tuple[SignalHealth, ...], down_when: DownWhen, state: Health, since: float | None
) -> str:
    """'up since ...: 2/3 probes up (http, statuspage), ...' for a state judged from `given`."""
    down = [s for s in given if s.state is Health.DOWN]
    up = [s for s in given if s.state is Health.UP and not s.passive]
    quiet = [s for s in given if s.state is Health.UP and s.passive]
    # A passive signal that does not fire abstains, quiet or not heard yet (unknown).
    abstain = [s for s in given if s.passive and s.state is not Health.DOWN]
    counted = len(given) - len(abstain)
    rule = _rule_tag(down_when, down=len(down), counted=counted, abstain=abstain)
    if state is Health.DOWN:
        body = "; ".join(f"{s.signal} {s.reason}" for s in down) + f" [{rule}]"
    elif state is Health.UP:
        body = _up_body(given, up=up, quiet=quiet, down=down, rule=rule)
    else:
        body = _unknown_body(given, down=down, rule=rule)
    return headline(state, since, body)


def _says_down(down_when: DownWhen, *, down: int, counted: int) -> bool:
    """`counted` excludes quiet passive signals, which abstain."""
    if down_when == "any":
        return down >= 1
    if down_when == "all":
        return down >= 1 and down == counted
    assert isinstance(down_when, Quorum)
    return down >= down_when.quorum


def _rule_tag(
    down_when: DownWhen, *, down: int, counted: int, abstain: Sequence[SignalHealth]
) -> str:
    """'any: 1/3 down', 'all: 2/2 down, 1 quiet passive ignored', 'quorum 2: 1/3 down'."""
    total = counted + len(abstain)
    if isinstance(down_when, Quorum):
        return f"quorum {down_when.quorum}: {down}/{total} down"
    if down_when == "all":
        quiet = sum(1 for s in abstain if s.state is Health.UP)
        unheard = len(abstain) - quiet
        ignored = f", {quiet} quiet passive ignored" if quiet else ""
        ignored += f", {unheard} unknown passive ignored" if unheard else ""
        return f"all: {down}/{counted} down{ignored}"
    return f"any: {down}/{total} down"


def _label(signal: SignalHealth) -> str:
    if signal.passive and signal.state is Health.UP:
        return "quiet"
    return signal.state.value


def _names(signals: Sequence[SignalHealth]) -> str:
    return ", ".join(s.signal for s in signals)


def _up_body(
    given: Sequence[SignalHealth],
    *,
    up: Sequence[SignalHealth],
    quiet: Sequence[SignalHealth],
    down: Sequence[SignalHealth],
    rule: str,
) -> str:
    """'2/3 probes up (http, statuspage), 1 unknown (novu_delivery), alert quiet'.

    Only probes (active signals) count as up; a quiet alert signal is named apart, never
    as one more signal up."""
    probes = [s for s in given if not s.passive]
    unknown = [s for s in probes if s.state is Health.UNKNOWN]
    unheard = [s for s in given if s.passive and s.state is Health.UNKNOWN]
    noun = "probe" if len(probes) == 1 else "probes"
    parts = [f"{len(up)}/{len(probes)} {noun} up ({_names(up)})"]
    for group, label in ((down, "down"), (unknown, "unknown")):
        if group:
            parts.append(f"{len(group)} {label} ({_names(group)})")
    if quiet:
        parts.append(f"{_names(quiet)} quiet")
    if unheard:
        parts.append(f"{_names(unheard)} not heard yet")
    tail = f" [{rule}]" if down else ""
    return ", ".join(parts) + tail


def _unknown_body(given: Sequence[SignalHealth], *, down: Sequence[SignalHealth], rule: str) -> str:
    """Why neither down nor up: no evidence yet, or no non-passive signal says up."""
    if not given:
        return "no signals configured"
    states = ", ".join(f"{s.signal} {_label(s)}" for s in given)
    if all(s.passive for s in given):
        return f"only passive signals, which never show a candidate up ({states})"
    if not down and all(s.state is Health.UNKNOWN for s in given if not s.passive):
        return f"no signal has evidence yet ({states})"
    tail = f" [{rule}]" if down else ""
    return f"no non-passive signal is up ({states}){tail}"
