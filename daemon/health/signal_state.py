"""Per-signal health: rise/fall hysteresis plus an optional windowed failure rate.

`observe` is a pure step function: (state, observation) -> state. The state holds everything
the hysteresis needs, so the shell only keeps the latest SignalState per signal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from daemon.durations import format_duration
from daemon.health.classes import counted
from daemon.health.text import count, headline, last_seen, percent
from daemon.model import DEFAULT_DOWN_CLASSES, FailureClass, Health, Observation, SignalHealth
from daemon.rules.model import FailureRate, SignalEntry

PASSIVE_KINDS = frozenset({"alert"})
NO_ALERT = "no matching alert firing"
NO_SOURCE = "no alert source heard since start"
UNDECIDED = "only alerts that cannot tell (datasource NoData/Error) firing"


@dataclass(frozen=True, slots=True)
class SignalState:
    """Everything the hysteresis needs for one signal, and the state it has reached."""

    signal: str
    kind: str
    fall: int
    rise: int
    failure_rate: FailureRate | None
    passive: bool
    state: Health = Health.UNKNOWN
    since: float | None = None
    """Time of the observation that caused the current state; None before any evidence."""
    reason: str = "no evidence yet"
    """Why the signal is in its state, without the `state since ...:` prefix."""
    consecutive_ok: int = 0
    consecutive_fail: int = 0
    recent: tuple[tuple[float, bool], ...] = ()
    """(at, ok) of the conclusive observations within the failure-rate window."""
    last: Observation | None = None
    down_classes: frozenset[FailureClass] = DEFAULT_DOWN_CLASSES
    """Failure classes that count toward down; other failures are inconclusive."""
    last_ok_at: float | None = None
    """Time of the last successful observation (readiness asks for a recent canary)."""
    last_failure: Observation | None = None
    """The last failed observation as seen (class included), counted or not."""
    _health: SignalHealth | None = field(default=None, init=False, repr=False, compare=False)
    """`signal_health(self)`, built on first use: a state is read by many evaluations and
    its reason is worded once (a new state comes only with a new observation)."""


def new_signal_state(signal_id: str, entry: SignalEntry) -> SignalState:
    """The starting state of a signal: `unknown`.

    Passive signals (alerts) are pushed by the alerting system, which already applied its own
    `for:` delay; each firing/resolved notification therefore moves them at once (fall = rise
    = 1, whatever the defaults say) and they keep no failure rate. They stay `unknown` until
    a source (a webhook, a read of the Alertmanager API) was heard: a restart must not read
    "no alert heard yet" as "no alert fires".
    """
    spec = entry.spec
    if entry.kind in PASSIVE_KINDS:
        return SignalState(
            signal=signal_id,
            kind=entry.kind,
            fall=1,
            rise=1,
            failure_rate=None,
            passive=True,
            reason=NO_SOURCE,
        )
    return SignalState(
        signal=signal_id,
        kind=entry.kind,
        fall=spec.fall,
        rise=spec.rise,
        failure_rate=spec.failure_rate,
        passive=False,
        down_classes=frozenset(spec.down_classes),
    )


def observe(state: SignalState, obs: Observation) -> SignalState:
    """Apply one observation. Late ones (older than `state.last`) change nothing."""
    if obs.signal != state.signal:
        msg = f"observation for signal {obs.signal!r} applied to signal {state.signal!r}"
        raise ValueError(msg)
    if not math.isfinite(obs.at) or (state.last is not None and obs.at < state.last.at):
        return state
    if obs.ok is False:
        state = replace(state, last_failure=obs)
    elif obs.ok:
        state = replace(state, last_ok_at=obs.at)
    obs = counted(obs, state.down_classes)
    recent = _in_window(state.failure_rate, state.recent, obs)
    if obs.ok is None and state.passive:
        # An alert that cannot tell (datasource NoData/Error): the signal does not know.
        stepped = replace(state, last=obs, consecutive_ok=0, consecutive_fail=0)
        if state.state is not Health.UNKNOWN:
            stepped = replace(stepped, state=Health.UNKNOWN, since=obs.at)
    elif obs.ok is None:
        stepped = replace(state, recent=recent, last=obs)
    else:
        stepped = replace(
            state,
            recent=recent,
            last=obs,
            consecutive_ok=state.consecutive_ok + 1 if obs.ok else 0,
            consecutive_fail=0 if obs.ok else state.consecutive_fail + 1,
        )
        health = _next_health(stepped)
        if health is not state.state:
            stepped = replace(stepped, state=health, since=obs.at)
    return replace(stepped, reason=_explain(stepped))


def observe_all(
    states: Mapping[str, SignalState], observations: Iterable[Observation]
) -> dict[str, SignalState]:
    """Apply observations to `states[obs.signal]` in a canonical order, whatever order given.

    Canonical order: by time, then signal, then inconclusive < failure < success, then
    detail and latency, so one tick's results give the same states however they arrived.
    Observations for unknown signal ids are ignored; states they don't touch are returned as is.
    """
    result = dict(states)
    for obs in sorted((o for o in observations if o.signal in result), key=_canonical):
        result[obs.signal] = observe(result[obs.signal], obs)
    return result


def signal_health(state: SignalState) -> SignalHealth:
    """The state as the rest of the daemon sees it, with a one-line reason.

    The same state gives the same (identical) object every time: it is built once.
    """
    health = state._health  # the state's own cache, filled only here
    if health is None:
        health = SignalHealth(
            signal=state.signal,
            state=state.state,
            reason=headline(state.state, state.since, state.reason),
            since=state.since,
            passive=state.passive,
        )
        object.__setattr__(state, "_health", health)  # a cache; the state stays what it was
    return health


_OK_RANK = {None: 0, False: 1, True: 2}


def _canonical(obs: Observation) -> tuple[float, str, int, str, str]:
    return (obs.at, obs.signal, _OK_RANK[obs.ok], obs.detail, repr(obs.latency))


def _in_window(
    rule: FailureRate | None, recent: tuple[tuple[float, bool], ...], obs: Observation
) -> tuple[tuple[float, bool], ...]:
    """Samples within (obs.at - window, obs.at], with `obs` added when it is conclusive."""
    if rule is None:
        return ()
    added = recent if obs.ok is None else (*recent, (obs.at, obs.ok))
    oldest = obs.at - rule.window
    return tuple(sample for sample in added if sample[0] > oldest)


def _failures(recent: tuple[tuple[float, bool], ...]) -> int:
    return sum(1 for _, ok in recent if not ok)


def _rate_over(state: SignalState) -> bool:
    """The window holds at least min_samples and more than `max` of them failed."""
    rule = state.failure_rate
    total = len(state.recent)
    if rule is None or total == 0 or total < rule.min_samples:
        return False
    return _failures(state.recent) / total > rule.max


def _next_health(state: SignalState) -> Health:
    """Down on `fall` consecutive failures or a rate over the threshold; up on `rise`
    consecutive successes while the rate is not over; otherwise the state holds."""
    if state.consecutive_fail >= state.fall or _rate_over(state):
        return Health.DOWN
    if state.consecutive_ok >= state.rise:
        return Health.UP
    return state.state


def _rate_text(state: SignalState) -> str:
    rule = state.failure_rate
    assert rule is not None
    failed, total = _failures(state.recent), len(state.recent)
    return (
        f"failure rate {percent(failed / total)} over {format_duration(rule.window)} "
        f"({failed}/{total}, max {percent(rule.max)})"
    )


def _explain(state: SignalState) -> str:
    """The reason body for the state's current evidence (the prefix comes from headline)."""
    last = last_seen(state.last)
    ok, fail = state.consecutive_ok, state.consecutive_fail
    if state.passive:
        if state.state is Health.UNKNOWN:
            return NO_SOURCE if state.last is None else f"{UNDECIDED}{last}"
        body = "matching alert firing" if state.state is Health.DOWN else NO_ALERT
        return f"{body}{last}"
    if state.state is Health.DOWN:
        if fail >= state.fall:
            return f"{count(fail, 'consecutive failure')}{last}"
        if _rate_over(state):
            blocks = (
                f", which keeps it down despite {count(ok, 'consecutive success')}"
                if ok >= state.rise
                else ""
            )
            return f"{_rate_text(state)}{blocks}{last}"
        return f"{ok} of {count(state.rise, 'consecutive success')} needed to go up{last}"
    if state.state is Health.UP:
        if fail:
            return f"{fail} of {count(state.fall, 'consecutive failure')} needed to go down{last}"
        return f"{count(ok, 'consecutive success')}{last}"
    if ok:
        return f"{ok} of {count(state.rise, 'consecutive success')} needed to go up{last}"
    if fail:
        return f"{fail} of {count(state.fall, 'consecutive failure')} needed to go down{last}"
    if state.last is None:
        return "no evidence yet"
    return f"no conclusive evidence yet{last}"
