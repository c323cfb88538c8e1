"""Standby readiness: a candidate that is not ready (missing, wrong channel, conditions,
failed or stale canary) is never chosen as a target, and the decision says why."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_policy import (
    ALL_UP,
    MAILGUN,
    MAIN,
    MAIN_DOWN,
    SES,
    T0,
    integration,
    novu,
    states,
)

from daemon.health import new_signal_state, observe
from daemon.model import ChannelHistory, DecisionKind, Health, Observation
from daemon.policy import decide
from daemon.policy.readiness import (
    CanaryEvidence,
    Readiness,
    canary_evidence,
    channel_readiness,
    readiness,
)
from daemon.rules.model import ChannelRule

CANARY = {
    "workflow": "canary",
    "subscriber_id": "sink",
    "email": "sink@example.test",
    "interval": "15m",
    "deadline": "1m",
}


def canary_rule(**policy: Any) -> ChannelRule:
    return ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": "email",
            "candidates": [
                {
                    "integration": name,
                    "signals": [
                        {"http": {"url": f"https://{name}.test/"}},
                        {"canary": CANARY},
                    ],
                }
                for name in (MAIN, SES, MAILGUN)
            ],
            "policy": policy,
        }
    )


RULE = canary_rule()


def evidence(
    state: Health = Health.UP,
    *,
    ok_ago: float | None = 60.0,
    failed_ago: float | None = None,
    failure_class: str | None = None,
) -> CanaryEvidence:
    failure = (
        None
        if failed_ago is None
        else Observation("canary", False, T0 - failed_ago, "x", failure_class=failure_class)  # type: ignore[arg-type]
    )
    return CanaryEvidence(
        signal="canary",
        state=state,
        last_ok_at=None if ok_ago is None else T0 - ok_ago,
        last_failure=failure,
        max_age=1860.0,
    )


def wrong_channel_view() -> Any:
    """ses-backup exists in Novu, but as an sms integration."""
    view = novu(missing=(SES,))
    return replace(view, elsewhere=(replace(integration(SES), channel="sms"),))


@pytest.mark.parametrize(
    ("view", "canaries", "reason"),
    [
        pytest.param(
            novu(missing=(SES,)),
            (),
            "ses-backup is not an integration of production/email in Novu",
            id="missing",
        ),
        pytest.param(
            wrong_channel_view(),
            (),
            "ses-backup is not an integration of production/email in Novu "
            "(it is an sms integration: wrong channel)",
            id="wrong-channel",
        ),
        pytest.param(
            novu(conditions={SES: 2}),
            (),
            "ses-backup has 2 conditions that set-primary would erase "
            "(allow_erase_conditions is off)",
            id="conditions",
        ),
        pytest.param(
            novu(),
            (evidence(Health.DOWN, ok_ago=3600, failed_ago=180, failure_class="credentials"),),
            "canary failed 3m ago (credentials)",
            id="canary-failed",
        ),
        pytest.param(
            novu(),
            (evidence(Health.UNKNOWN, ok_ago=None),),
            "no canary delivered yet",
            id="canary-never-ran",
        ),
        pytest.param(
            novu(),
            (evidence(Health.UNKNOWN, ok_ago=None, failed_ago=60, failure_class="recipient"),),
            "no canary delivered yet (last failed 1m ago (recipient))",
            id="canary-recipient",
        ),
        pytest.param(
            novu(),
            (evidence(Health.UP, ok_ago=7200),),
            "last canary delivered 2h ago (older than 31m)",
            id="canary-stale",
        ),
    ],
)
def test_each_reason_makes_a_candidate_not_ready_and_it_is_never_chosen(
    view: Any, canaries: tuple[CanaryEvidence, ...], reason: str
) -> None:
    ready = readiness(SES, rule=RULE, view=view, canaries=canaries, now=T0)
    assert (ready.ready, ready.reasons) == (False, (reason,))
    only_ses = states(main=Health.DOWN, ses=Health.UP, mailgun=Health.DOWN)
    decision = decide(
        RULE,
        health=only_ses,
        view=view,
        history=ChannelHistory(last_known_primary=MAIN),
        pause=None,
        started_at=T0 - 3600,
        now=T0,
        readiness={SES: ready},
    )
    assert decision.kind is DecisionKind.HOLD
    assert decision.target is None
    assert "no healthy candidate: " in decision.reason
    # Novu-side reasons are refused by the target check in the same words; canary ones as
    # "up but not ready"
    said = reason if canaries == () else f"ses-backup up but not ready: {reason}"
    assert said in decision.reason


def test_the_decision_says_why_a_backup_was_refused() -> None:
    ready = readiness(
        SES,
        rule=RULE,
        view=novu(),
        canaries=(evidence(Health.DOWN, failed_ago=180, failure_class="credentials"),),
        now=T0,
    )
    decision = decide(
        RULE,
        health=states(main=Health.DOWN, ses=Health.UP, mailgun=Health.DOWN),
        view=novu(),
        history=ChannelHistory(last_known_primary=MAIN),
        pause=None,
        started_at=T0 - 3600,
        now=T0,
        readiness={SES: ready},
    )
    assert decision.reason == (
        "primary sendgrid-main down for 1m (statuspage: major_outage); no healthy candidate: "
        "ses-backup up but not ready: canary failed 3m ago (credentials), "
        "mailgun-backup down for 1m (statuspage: major_outage)"
    )


def test_a_not_ready_backup_is_skipped_for_the_next_ready_one() -> None:
    not_ready = Readiness(SES, ("canary failed 3m ago (credentials)",))
    decision = decide(
        RULE,
        health=MAIN_DOWN,
        view=novu(),
        history=ChannelHistory(last_known_primary=MAIN),
        pause=None,
        started_at=T0 - 3600,
        now=T0,
        readiness={SES: not_ready, MAILGUN: Readiness(MAILGUN)},
    )
    assert (decision.kind, decision.target) == (DecisionKind.SWITCH, MAILGUN)
    assert "skipped ses-backup up but not ready: canary failed 3m ago (credentials)" in (
        decision.evidence
    )


def test_failback_waits_for_the_preferred_candidate_to_be_ready() -> None:
    rule = canary_rule(failback={"after": "5m"})
    health = states(main=(Health.UP, 3600), ses=Health.UP, mailgun=Health.UP)
    kwargs: dict[str, Any] = {
        "health": health,
        "view": novu(SES),
        "history": ChannelHistory(last_known_primary=SES),
        "pause": None,
        "started_at": T0 - 7200,
        "now": T0,
    }
    stale = Readiness(MAIN, ("last canary delivered 2h ago (older than 31m)",))
    held = decide(rule, readiness={MAIN: stale}, **kwargs)
    assert held.kind is DecisionKind.KEEP
    back = decide(rule, readiness={MAIN: Readiness(MAIN)}, **kwargs)
    assert (back.kind, back.target) == (DecisionKind.SWITCH, MAIN)


def test_inactive_is_ready_with_a_note_and_allowed_conditions_are_ready() -> None:
    inactive = readiness(MAILGUN, rule=RULE, view=novu(inactive=(MAILGUN,)), now=T0)
    assert inactive.ready
    assert inactive.notes == ("mailgun-backup is inactive; set-primary activates it",)
    allowed = canary_rule(allow_erase_conditions=True)
    assert readiness(SES, rule=allowed, view=novu(conditions={SES: 1}), now=T0).ready


def test_readiness_comes_from_the_canary_signal_states() -> None:
    (entry,) = [e for e in RULE.candidates[1].signals if e.kind == "canary"]
    state = new_signal_state("canary", entry)
    signals = {(SES, "canary"): state}
    assert canary_evidence(RULE, SES, signals)[0].last_ok_at is None
    ok = observe(state, Observation("canary", True, T0 - 60, "sent in 2s"))
    failed = observe(ok, Observation("canary", False, T0 - 30, "401", failure_class="credentials"))
    for signal_state, expected in [
        (ok, "ready"),
        (failed, "canary failed 30s ago (credentials)"),
    ]:
        table = channel_readiness(
            RULE, view=novu(), signals={(SES, "canary"): signal_state}, now=T0
        )
        assert table[SES].summary == expected


def test_without_a_canary_readiness_only_asks_novu() -> None:
    assert readiness(SES, rule=RULE, view=novu(), now=T0).ready
    assert readiness(SES, rule=RULE, view=None, now=T0).reasons == ("Novu's view not read yet",)


@given(
    ready=st.dictionaries(
        st.sampled_from([MAIN, SES, MAILGUN]), st.booleans(), min_size=3, max_size=3
    ),
    primary_down=st.booleans(),
)
def test_property_a_target_is_always_ready_and_the_first_ready_one(
    ready: dict[str, bool], primary_down: bool
) -> None:
    table = {
        name: Readiness(name, () if ok else ("canary failed 1m ago (outage)",))
        for name, ok in ready.items()
    }
    decision = decide(
        RULE,
        health=MAIN_DOWN if primary_down else ALL_UP,
        view=novu(),
        history=ChannelHistory(last_known_primary=MAIN),
        pause=None,
        started_at=T0 - 3600,
        now=T0,
        readiness=table,
    )
    if decision.target is not None:
        assert table[decision.target].ready
    # and not vacuously: with the primary down, the first ready backup in order is chosen
    ready_backups = [name for name in (SES, MAILGUN) if table[name].ready]
    if primary_down:
        assert decision.target == (ready_backups[0] if ready_backups else None)
    else:
        assert decision.target is None
