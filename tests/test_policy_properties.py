"""Properties of the policy over random rules, health, Novu views and histories (Hypothesis).

What SREs rely on: never a switch to a candidate that is not `up`; at most `brake.max`
automatic switches per brake window since the last ack; no second action after one is
applied; the same input always gives the same decision.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis import target as steer_towards

from daemon.model import (
    CandidateHealth,
    ChannelHistory,
    ChannelView,
    Decision,
    DecisionKind,
    Health,
    Integration,
    Pause,
    Switch,
)
from daemon.policy import (
    acknowledge_brake,
    brake_status,
    decide,
    history_keep,
    observe_primary,
    record_switch,
)
from daemon.rules.model import ChannelRule

T0 = 1_700_000_000.0
NAMES = ("c0", "c1", "c2", "c3")
LEGACY = "legacy"
SWITCHING = (DecisionKind.SWITCH, DecisionKind.WOULD_SWITCH)

# -- strategies ----------------------------------------------------------------------------

policies = st.fixed_dictionaries(
    {
        "confirm": st.sampled_from([0, 30, 120]),
        "cooldown": st.sampled_from([0, 60, 600]),
        "brake": st.fixed_dictionaries(
            {"max": st.integers(1, 3), "per": st.sampled_from([300, 3600])}
        ),
        "failback": st.one_of(
            st.just("off"), st.fixed_dictionaries({"after": st.sampled_from([60, 600])})
        ),
        "startup_grace": st.sampled_from([0, 0, 60]),
        "allow_erase_conditions": st.booleans(),
        "dry_run": st.sampled_from([False, False, False, True]),
    }
)


def make_rule(count: int, policy: dict[str, Any]) -> ChannelRule:
    return _rule(count, json.dumps(policy, sort_keys=True))


@functools.cache
def _rule(count: int, policy_json: str) -> ChannelRule:
    """Validated once per distinct policy: pydantic would otherwise dominate the run time."""
    policy = json.loads(policy_json)
    return ChannelRule.model_validate(
        {
            "environment": "prod",
            "channel": "sms",
            "candidates": [
                {"integration": name, "signals": [{"http": {"url": f"https://{name}.test/"}}]}
                for name in NAMES[:count]
            ],
            "policy": policy,
        }
    )


def integration(identifier: str, *, primary: bool, active: bool, conditions: int) -> Integration:
    return Integration(
        id=identifier.encode().hex().ljust(24, "0"),
        identifier=identifier,
        name=identifier,
        provider_id="twilio",
        channel="sms",
        environment_id="6" * 24,
        active=active,
        primary=primary,
        conditions=tuple({"filter": "AND"} for _ in range(conditions)),
    )


@st.composite
def views(draw: st.DrawFn) -> ChannelView:
    """Most candidates (and maybe an unmanaged one), at most one flagged primary."""
    present = [n for n in NAMES if draw(st.integers(0, 9)) != 5]
    if draw(st.integers(0, 9)) == 5:
        present.append(LEGACY)
    primary = draw(st.sampled_from([None, *present, *present]) if present else st.none())
    return ChannelView(
        environment="prod",
        channel="sms",
        integrations=tuple(
            integration(
                name,
                primary=name == primary,
                active=draw(st.integers(0, 5)) != 3,
                conditions=draw(st.sampled_from([0, 0, 0, 0, 1, 2])),
            )
            for name in present
        ),
        fetched_at=T0,
    )


@st.composite
def health_maps(draw: st.DrawFn) -> dict[str, CandidateHealth]:
    out: dict[str, CandidateHealth] = {}
    for name in NAMES:
        if draw(st.integers(0, 9)) == 5:
            continue  # no health reported for this one
        state = draw(
            st.sampled_from([Health.UP, Health.UP, Health.DOWN, Health.DOWN, Health.UNKNOWN])
        )
        since = draw(st.one_of(st.floats(T0 - 7200, T0), st.floats(T0 - 7200, T0), st.none()))
        out[name] = CandidateHealth(name, state, f"{state.value} says the test", since)
    return out


triggers = st.sampled_from(["failover", "failback", "manual"])


@st.composite
def histories(draw: st.DrawFn) -> ChannelHistory:
    switches = draw(
        st.lists(
            st.builds(
                Switch,
                at=st.floats(T0 - 10_000, T0),
                from_=st.sampled_from([None, *NAMES]),
                to=st.sampled_from((*NAMES, LEGACY)),
                trigger=triggers,
            ),
            max_size=5,
        )
    )
    return ChannelHistory(
        switches=tuple(sorted(switches, key=lambda s: s.at)),
        brake_acked_at=draw(st.one_of(st.none(), st.floats(T0 - 7200, T0))),
        last_known_primary=draw(st.sampled_from([None, *NAMES, LEGACY])),
    )


def one_in(
    n: int, rare: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """`rare` once in `n` draws, else `usual` (one_of would split them half and half)."""
    # Hypothesis favours the ends of a range, so the rare value sits in the middle.
    return st.integers(0, n - 1).flatmap(lambda i: rare if i == n // 2 else usual)


rules = st.builds(make_rule, one_in(8, st.just(1), st.integers(2, 4)), policies)

pauses = one_in(
    4,
    st.builds(
        Pause,
        reason=st.just("maintenance"),
        since=st.just(T0 - 60),
        until=st.one_of(st.none(), st.floats(T0 - 600, T0 + 600)),
    ),
    st.none(),
)


@dataclass(frozen=True)
class Inputs:
    rule: ChannelRule
    health: dict[str, CandidateHealth]
    view: ChannelView | None
    history: ChannelHistory
    pause: Pause | None
    started_at: float
    dry_run: bool

    def decide(self, *, now: float = T0) -> Decision:
        return decide(
            self.rule,
            health=self.health,
            view=self.view,
            history=self.history,
            pause=self.pause,
            started_at=self.started_at,
            now=now,
            dry_run=self.dry_run,
        )


inputs = st.builds(
    Inputs,
    rule=rules,
    health=health_maps(),
    view=one_in(6, st.none(), views()),
    history=histories(),
    pause=pauses,
    started_at=st.sampled_from([T0 - 3600, T0 - 3600, T0 - 3600, T0 - 30]),
    dry_run=st.sampled_from([False, False, True]),
)


def set_primary(view: ChannelView, target: str) -> ChannelView:
    """What Novu's set-primary does: the target becomes the active primary, conditions gone."""
    return replace(
        view,
        integrations=tuple(
            replace(i, primary=True, active=True, conditions=())
            if i.identifier == target
            else replace(i, primary=False)
            for i in view.integrations
        ),
    )


def apply(
    rule: ChannelRule, view: ChannelView, history: ChannelHistory, decision: Decision
) -> tuple[ChannelView, ChannelHistory]:
    """What the service does after a successful switch."""
    assert decision.target is not None
    assert decision.trigger is not None
    switch = Switch(decision.at, decision.current, decision.target, decision.trigger)
    history = record_switch(history, switch, keep=history_keep(rule.policy))
    return set_primary(view, decision.target), history


# -- properties over one decision ----------------------------------------------------------


@settings(max_examples=400)
@given(inputs)
def test_a_switch_goes_only_to_an_up_candidate_and_happens_once(case: Inputs) -> None:
    """Never a switch to a `down`/`unknown`/missing/conditioned candidate; once applied,
    the same health gives no second switch."""
    decision = case.decide()
    if decision.kind not in SWITCHING:
        return
    target = decision.target
    assert target is not None
    assert case.view is not None
    assert case.rule.candidate(target) is not None
    assert case.health[target].state is Health.UP
    found = case.view.find(target)
    assert found is not None, "a switch to an integration Novu does not have"
    assert not found.conditions or case.rule.policy.allow_erase_conditions
    if found.primary:
        assert not found.active, "a switch to the active primary is no switch"
    if decision.kind is DecisionKind.SWITCH:
        view, history = apply(case.rule, case.view, case.history, decision)
        again = replace(case, view=view, history=history).decide()
        assert again.kind is not DecisionKind.SWITCH, again.reason


@settings(max_examples=200)
@given(inputs)
def test_every_decision_keeps_the_contract(case: Inputs) -> None:
    """One-line reason; deterministic whatever the health map's order; a pause in force never
    acts; dry run never switches; BLOCKED only while the brake says so."""
    decision = case.decide()
    assert decision.reason
    assert "\n" not in decision.reason
    assert (decision.at, decision.channel) == (T0, case.rule.key)

    reordered = replace(case, health=dict(reversed(list(case.health.items()))))
    assert decision == case.decide() == reordered.decide()

    paused = case.pause is not None and case.pause.active(T0)
    assert (decision.kind is DecisionKind.PAUSED) is paused
    if paused:
        assert decision.target is None

    if case.dry_run or case.rule.policy.dry_run:
        assert decision.kind is not DecisionKind.SWITCH

    if decision.kind is DecisionKind.BLOCKED:
        assert case.view is not None
        history = observe_primary(case.history, case.view, now=T0)
        _, blocked_until = brake_status(case.rule.policy, history, now=T0)
        assert blocked_until is not None
        assert blocked_until > T0


# -- a simulated daemon over random health sequences ---------------------------------------

DEACTIVATE = "<deactivate>"

ticks = st.lists(
    st.tuples(
        st.sampled_from([1, 10, 30, 60, 120, 300, 900]),  # seconds since the previous tick
        st.lists(st.sampled_from(list(Health)), min_size=4, max_size=4),
        st.integers(0, 14).map(lambda n: n == 7),  # a person acks the brake (rarely)
        one_in(6, st.sampled_from((*NAMES, LEGACY, DEACTIVATE)), st.none()),  # edits Novu
    ),
    min_size=5,
    max_size=50,
)


def person_changes(view: ChannelView, change: str | None) -> ChannelView:
    if change is None:
        return view
    if change == DEACTIVATE:
        return replace(
            view,
            integrations=tuple(
                replace(i, active=False) if i.primary else i for i in view.integrations
            ),
        )
    if view.find(change) is None:
        return view
    return set_primary(view, change)


def latest_ack(acks: list[float], at: float) -> float | None:
    return max((a for a in acks if a <= at), default=None)


@settings(max_examples=300, deadline=None)
@given(rule=rules, view=views(), ticks=ticks)
def test_simulated_daemon_obeys_brake_cooldown_and_health(
    rule: ChannelRule,
    view: ChannelView,
    ticks: list[tuple[int, list[Health], bool, str | None]],
) -> None:
    """Run the decide/act loop over random health; check every switch it makes."""
    policy = rule.policy
    now = T0
    history = observe_primary(ChannelHistory(), view, now=now)
    health: dict[str, CandidateHealth] = {}
    made: list[Switch] = []
    acks: list[float] = []
    last_any_switch: float | None = None
    blocked = 0
    for step, states, ack, change in ticks:
        now += step
        for name, state in zip(NAMES, states, strict=True):
            previous = health.get(name)
            since = previous.since if previous and previous.state is state else now
            health[name] = CandidateHealth(name, state, "simulated", since)
        if ack:
            history = acknowledge_brake(history, now=now)
            acks.append(now)
        view = person_changes(view, change)
        if len(observe_primary(history, view, now=now).switches) > len(history.switches):
            last_any_switch = now  # drift: the policy counts it as a (manual) switch at `now`
        decision = decide(
            rule,
            health=health,
            view=view,
            history=history,
            pause=None,
            started_at=T0,
            now=now,
        )
        history = observe_primary(history, view, now=now)
        blocked += decision.kind is DecisionKind.BLOCKED
        if decision.kind is not DecisionKind.SWITCH:
            continue
        target = decision.target
        assert target is not None
        assert health[target].state is Health.UP
        broken = view.primary is None or not view.primary.active
        if not broken and last_any_switch is not None:
            assert now >= last_any_switch + policy.cooldown, "switched within the cooldown"
        view, history = apply(rule, view, history, decision)
        assert decision.trigger is not None
        made.append(Switch(now, decision.current, target, decision.trigger))
        last_any_switch = now
        again = decide(
            rule, health=health, view=view, history=history, pause=None, started_at=T0, now=now
        )
        assert again.kind is not DecisionKind.SWITCH, again.reason

    automatic: list[Switch] = [s for s in made if s.trigger != "manual"]
    busiest = 0
    for end in automatic:
        ack_at = latest_ack(acks, end.at)
        in_window = [
            s
            for s in automatic
            if end.at - policy.brake.per < s.at <= end.at and (ack_at is None or s.at > ack_at)
        ]
        busiest = max(busiest, len(in_window))
        assert len(in_window) <= policy.brake.max, [(s.at - T0, s.trigger) for s in in_window]
    # Steer the search towards runs that press against the brake, where a bug would show.
    steer_towards(busiest / policy.brake.max, label="brake window fill")
    steer_towards(blocked, label="switches the brake held back")


def test_the_simulation_can_switch_and_can_trip_the_brake() -> None:
    """Guards the simulation above against vacuity: a flapping primary trips the brake."""
    rule = make_rule(2, {"cooldown": 0, "brake": {"max": 2, "per": 3600}})
    view = set_primary(
        ChannelView(
            "prod",
            "sms",
            tuple(integration(n, primary=False, active=True, conditions=0) for n in NAMES[:2]),
            T0,
        ),
        "c0",
    )
    history = observe_primary(ChannelHistory(), view, now=T0)
    kinds: list[DecisionKind] = []
    for minute, down in enumerate(["c0", "c1", "c0", "c1"]):
        now = T0 + 60 * (minute + 1)
        health = {
            n: CandidateHealth(n, Health.DOWN if n == down else Health.UP, "sim", T0)
            for n in NAMES[:2]
        }
        decision = decide(
            rule, health=health, view=view, history=history, pause=None, started_at=T0, now=now
        )
        kinds.append(decision.kind)
        if decision.kind is DecisionKind.SWITCH:
            view, history = apply(rule, view, history, decision)
    assert kinds == [
        DecisionKind.SWITCH,
        DecisionKind.SWITCH,
        DecisionKind.BLOCKED,
        DecisionKind.KEEP,
    ]
