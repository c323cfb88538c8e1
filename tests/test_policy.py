"""The policy, table-driven: rules + health + Novu's view + history + time in, Decision out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from daemon.model import (
    CandidateHealth,
    ChannelHistory,
    ChannelView,
    Decision,
    DecisionKind,
    Health,
    Integration,
    Pause,
    SignalHealth,
    Switch,
)
from daemon.policy import (
    acknowledge_brake,
    brake_status,
    check_manual_target,
    cooldown_until,
    decide,
    history_keep,
    observe_primary,
    record_switch,
)
from daemon.policy.text import iso
from daemon.rules.model import ChannelRule

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
MAIN, SES, MAILGUN, LEGACY = "sendgrid-main", "ses-backup", "mailgun-backup", "x-legacy"
CANDIDATES = (MAIN, SES, MAILGUN)


def make_rule(**policy: Any) -> ChannelRule:
    return ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": "email",
            "candidates": [
                {"integration": name, "signals": [{"http": {"url": f"https://{name}.test/"}}]}
                for name in CANDIDATES
            ],
            "policy": policy,
        }
    )


def integration(
    identifier: str, *, primary: bool = False, active: bool = True, conditions: int = 0
) -> Integration:
    return Integration(
        id=identifier.encode().hex()[:24].ljust(24, "0"),
        identifier=identifier,
        name=identifier,
        provider_id=identifier.split("-", maxsplit=1)[0],
        channel="email",
        environment_id="6" * 24,
        active=active,
        primary=primary,
        conditions=tuple({"filter": "AND", "children": []} for _ in range(conditions)),
    )


def novu(
    primary: str | None = MAIN,
    *,
    inactive: tuple[str, ...] = (),
    missing: tuple[str, ...] = (),
    conditions: Mapping[str, int] | None = None,
    extra: tuple[str, ...] = (),
) -> ChannelView:
    """Novu's view of production/email: every candidate (minus `missing`) plus `extra`."""
    names = [n for n in CANDIDATES if n not in missing] + list(extra)
    return ChannelView(
        environment="production",
        channel="email",
        integrations=tuple(
            integration(
                n,
                primary=n == primary,
                active=n not in inactive,
                conditions=(conditions or {}).get(n, 0),
            )
            for n in names
        ),
        fetched_at=T0,
    )


def health(
    identifier: str, state: Health, *, for_: float | None = 60.0, reason: str = ""
) -> CandidateHealth:
    """A candidate `state` for `for_` seconds before T0 (None: since unknown), 3 signals."""
    reason = reason or {Health.UP: "3/3 ok", Health.DOWN: "statuspage: major_outage"}.get(
        state, "no evidence yet"
    )
    since = None if for_ is None else T0 - for_
    signal_state = Health.UP if state is Health.UP else state
    signals = tuple(
        SignalHealth(signal=f"s{i}", state=signal_state, reason=reason, since=since)
        for i in range(3)
    )
    return CandidateHealth(
        integration=identifier, state=state, reason=reason, since=since, signals=signals
    )


def states(**by_name: Health | tuple[Health, float | None]) -> dict[str, CandidateHealth]:
    """`states(main=UP, ses=(UP, 1200))`: keys are short names for the three candidates."""
    names = {"main": MAIN, "ses": SES, "mailgun": MAILGUN}
    out: dict[str, CandidateHealth] = {}
    for short, spec in by_name.items():
        state, for_ = spec if isinstance(spec, tuple) else (spec, 60.0)
        out[names[short]] = health(names[short], state, for_=for_)
    return out


UP, DOWN, UNKNOWN = Health.UP, Health.DOWN, Health.UNKNOWN
ALL_UP = states(main=UP, ses=UP, mailgun=UP)
MAIN_DOWN = states(main=DOWN, ses=UP, mailgun=UP)


def switched(at: float, frm: str | None, to: str, trigger: str = "failover") -> Switch:
    return Switch(at=at, from_=frm, to=to, trigger=trigger)  # type: ignore[arg-type]


def known(primary: str = MAIN, *switches: Switch, acked: float | None = None) -> ChannelHistory:
    return ChannelHistory(switches=switches, brake_acked_at=acked, last_known_primary=primary)


@dataclass(frozen=True)
class Case:
    health: dict[str, CandidateHealth]
    expect: DecisionKind
    reason: str
    """A fragment the one-line reason must contain."""
    target: str | None = None
    trigger: str | None = None
    current: str | None = MAIN
    evidence: str | None = None
    """A fragment one evidence line must contain."""
    drift: bool = False
    view: ChannelView | None = field(default_factory=novu)
    policy: dict[str, Any] = field(default_factory=dict)
    history: ChannelHistory = field(default_factory=known)
    pause: Pause | None = None
    started_at: float = T0 - 3600
    dry_run: bool = False


FAILBACK = {"failback": {"after": "15m"}}
ON_SES_SINCE_1H = known(SES, switched(T0 - 3600, MAIN, SES))
BRAKE_3 = (switched(T0 - 3000, MAIN, SES), switched(T0 - 2000, SES, MAIN))

CASES = [
    # -- the primary is fine --------------------------------------------------------------
    pytest.param(
        Case(ALL_UP, DecisionKind.KEEP, "no action: primary sendgrid-main is up (3/3 signals)"),
        id="primary-up-keeps",
    ),
    pytest.param(
        Case(
            states(main=UNKNOWN, ses=UP),
            DecisionKind.KEEP,
            "primary sendgrid-main health unknown; never switching without evidence",
        ),
        id="primary-unknown-keeps",
    ),
    pytest.param(
        Case(states(ses=UP), DecisionKind.KEEP, "health unknown; never switching"),
        id="primary-without-health-keeps",
    ),
    # -- failover -------------------------------------------------------------------------
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup: primary sendgrid-main down for 1m "
            "(statuspage: major_outage)",
            target=SES,
            trigger="failover",
            evidence="ses-backup up for 1m (3/3 ok)",
        ),
        id="primary-down-backup-up",
    ),
    pytest.param(
        Case(
            states(main=DOWN, ses=DOWN, mailgun=UP),
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> mailgun-backup",
            target=MAILGUN,
            trigger="failover",
            evidence="skipped ses-backup down for 1m",
        ),
        id="primary-down-first-backup-down-takes-second",
    ),
    pytest.param(
        Case(
            states(main=DOWN, ses=UNKNOWN, mailgun=DOWN),
            DecisionKind.HOLD,
            "no healthy candidate: ses-backup unknown for 1m (no evidence yet), "
            "mailgun-backup down for 1m (statuspage: major_outage)",
        ),
        id="primary-down-backup-unknown-holds",
    ),
    pytest.param(
        Case(
            states(main=DOWN),
            DecisionKind.HOLD,
            "no healthy candidate: ses-backup unknown (no health reported)",
        ),
        id="primary-down-backups-without-health-hold",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> mailgun-backup",
            target=MAILGUN,
            trigger="failover",
            evidence="skipped ses-backup is not an integration of production/email in Novu",
            view=novu(missing=(SES,)),
        ),
        id="backup-missing-in-novu-skipped",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.WAIT,
            "confirming sendgrid-main is down for 2m until 2023-11-14T22:14:20Z (1m left); "
            "then fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            policy={"confirm": "2m"},
        ),
        id="confirm-not-elapsed-waits",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            policy={"confirm": "1m"},
        ),
        id="confirm-elapsed-exactly-switches",
    ),
    pytest.param(
        Case(
            states(main=(DOWN, None), ses=UP),
            DecisionKind.WAIT,
            "confirming sendgrid-main is down for 30s",
            target=SES,
            trigger="failover",
            policy={"confirm": "30s"},
        ),
        id="confirm-with-unknown-since-waits",
    ),
    pytest.param(
        Case(
            states(main=DOWN, ses=DOWN, mailgun=UNKNOWN),
            DecisionKind.WAIT,
            "confirming sendgrid-main is down for 2m until 2023-11-14T22:14:20Z (1m left); "
            "primary sendgrid-main down for 1m (statuspage: major_outage); no healthy candidate",
            policy={"confirm": "2m"},
        ),
        id="confirm-without-target-waits-and-says-none-is-healthy",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.WAIT,
            "cooldown after the last switch until 2023-11-14T22:21:20Z (8m left); "
            "then fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            history=known(MAIN, switched(T0 - 120, SES, MAIN)),
        ),
        id="cooldown-waits",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            history=known(MAIN, switched(T0 - 600, SES, MAIN)),
        ),
        id="cooldown-over-exactly-switches",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.WAIT,
            "cooldown after the last switch",
            target=SES,
            trigger="failover",
            history=known(MAIN, switched(T0 - 60, SES, MAIN, "manual")),
        ),
        id="cooldown-counts-manual-switches",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.BLOCKED,
            "brake: 3 automatic switches in 1h; blocked until 2023-11-14T22:23:20Z or ack; "
            "then fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            history=known(MAIN, *BRAKE_3, switched(T0 - 1000, SES, MAIN, "failback")),
        ),
        id="brake-blocks-after-3",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            history=known(MAIN, *BRAKE_3, switched(T0 - 1000, SES, MAIN, "manual")),
        ),
        id="brake-ignores-manual-switches",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            history=known(MAIN, *BRAKE_3, switched(T0 - 1000, SES, MAIN), acked=T0 - 1000),
        ),
        id="ack-clears-brake",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.BLOCKED,
            "brake: 1 automatic switch in 1h",
            target=SES,
            trigger="failover",
            policy={"brake": {"max": 1, "per": "1h"}},
            history=known(MAIN, *BRAKE_3, switched(T0 - 1000, SES, MAIN), acked=T0 - 1500),
        ),
        id="ack-counts-switches-after-it",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            history=known(
                MAIN,
                switched(T0 - 3600, MAIN, SES),
                *BRAKE_3[1:],
                switched(T0 - 1000, SES, MAIN),
            ),
        ),
        id="brake-window-expires",
    ),
    # -- failback -------------------------------------------------------------------------
    pytest.param(
        Case(
            states(main=(UP, 20 * 60), ses=UP),
            DecisionKind.SWITCH,
            "fail back ses-backup -> sendgrid-main: preferred sendgrid-main up for 20m",
            target=MAIN,
            trigger="failback",
            current=SES,
            view=novu(SES),
            policy=FAILBACK,
            history=ON_SES_SINCE_1H,
        ),
        id="failback-after-delay",
    ),
    pytest.param(
        Case(
            states(main=(UP, 11 * 60), ses=UP),
            DecisionKind.KEEP,
            "no action: primary ses-backup is up; failback to sendgrid-main in 4m "
            "(up since 2023-11-14T22:02:20Z)",
            current=SES,
            view=novu(SES),
            policy=FAILBACK,
            history=ON_SES_SINCE_1H,
        ),
        id="failback-not-yet-keeps",
    ),
    pytest.param(
        Case(
            states(main=(UP, 20 * 60), ses=UP),
            DecisionKind.KEEP,
            "no action: primary ses-backup is up (3/3 signals)",
            current=SES,
            view=novu(SES),
            history=ON_SES_SINCE_1H,
        ),
        id="failback-off-keeps",
    ),
    pytest.param(
        Case(
            states(main=DOWN, ses=(UP, 20 * 60), mailgun=UP),
            DecisionKind.SWITCH,
            "fail back mailgun-backup -> ses-backup",
            target=SES,
            trigger="failback",
            current=MAILGUN,
            view=novu(MAILGUN),
            policy=FAILBACK,
            history=known(MAILGUN, switched(T0 - 3600, SES, MAILGUN)),
        ),
        id="failback-passes-over-down-preferred",
    ),
    pytest.param(
        Case(
            states(main=(UP, 5 * 60), ses=(UP, 20 * 60), mailgun=UP),
            DecisionKind.SWITCH,
            "fail back mailgun-backup -> ses-backup",
            target=SES,
            trigger="failback",
            current=MAILGUN,
            evidence="sendgrid-main not up for 15m yet",
            view=novu(MAILGUN),
            policy=FAILBACK,
            history=known(MAILGUN, switched(T0 - 3600, SES, MAILGUN)),
        ),
        id="failback-to-earliest-ready",
    ),
    pytest.param(
        Case(
            states(main=(UP, 20 * 60), ses=UP),
            DecisionKind.KEEP,
            "no action: primary ses-backup is up; a person chose it at 2023-11-14T21:13:20Z, "
            "so no failback to sendgrid-main",
            current=SES,
            view=novu(SES),
            policy=FAILBACK,
            history=known(SES, switched(T0 - 3600, MAIN, SES, "manual")),
        ),
        id="no-failback-to-manual-choice",
    ),
    pytest.param(
        Case(
            states(main=(UP, 20 * 60), ses=UP),
            DecisionKind.WAIT,
            "cooldown after the last switch until 2023-11-14T22:22:20Z (9m left); "
            "then fail back ses-backup -> sendgrid-main",
            target=MAIN,
            trigger="failback",
            current=SES,
            view=novu(SES),
            policy=FAILBACK,
            history=known(SES, switched(T0 - 60, MAIN, SES)),
        ),
        id="failback-waits-for-cooldown",
    ),
    pytest.param(
        Case(
            states(main=(UP, 20 * 60), ses=UP),
            DecisionKind.BLOCKED,
            "brake: 3 automatic switches in 1h",
            target=MAIN,
            trigger="failback",
            current=SES,
            view=novu(SES),
            policy=FAILBACK,
            history=known(SES, *BRAKE_3, switched(T0 - 1000, MAIN, SES)),
        ),
        id="failback-obeys-brake",
    ),
    pytest.param(
        Case(
            states(main=(UP, 20 * 60), ses=UP),
            DecisionKind.KEEP,
            "no action: primary ses-backup is up (3/3 signals)",
            current=SES,
            view=novu(SES, conditions={MAIN: 2}),
            policy=FAILBACK,
            history=ON_SES_SINCE_1H,
        ),
        id="no-failback-to-candidate-with-conditions",
    ),
    # -- pause, dry run, grace ------------------------------------------------------------
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.PAUSED,
            "paused by api until 2023-11-14T22:23:20Z: maintenance window",
            evidence="without the pause (switch): fail over sendgrid-main -> ses-backup",
            pause=Pause(reason="maintenance window", since=T0 - 60, until=T0 + 600),
        ),
        id="paused",
    ),
    pytest.param(
        Case(
            ALL_UP,
            DecisionKind.PAUSED,
            "paused by alice: provider migration",
            evidence="without the pause (keep): no action",
            pause=Pause(reason="provider migration", since=T0 - 60, by="alice"),
        ),
        id="paused-without-expiry",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            pause=Pause(reason="maintenance window", since=T0 - 600, until=T0),
        ),
        id="pause-expired",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.WOULD_SWITCH,
            "dry run: would fail over sendgrid-main -> ses-backup: primary sendgrid-main down",
            target=SES,
            trigger="failover",
            dry_run=True,
        ),
        id="dry-run",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.WOULD_SWITCH,
            "dry run: would fail over",
            target=SES,
            trigger="failover",
            policy={"dry_run": True},
        ),
        id="dry-run-from-rule",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.WAIT,
            "startup grace until 2023-11-14T22:13:50Z (30s left); "
            "then fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            policy={"startup_grace": "1m"},
            started_at=T0 - 30,
        ),
        id="startup-grace",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            policy={"startup_grace": "1m"},
            started_at=T0 - 60,
        ),
        id="startup-grace-over",
    ),
    pytest.param(
        Case(
            ALL_UP,
            DecisionKind.KEEP,
            "no action",
            policy={"startup_grace": "1m"},
            started_at=T0 - 30,
        ),
        id="startup-grace-keeps-quietly",
    ),
    # -- what Novu says -------------------------------------------------------------------
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.HOLD,
            "Novu not reached yet; not acting without its view",
            current=None,
            view=None,
        ),
        id="novu-not-reached",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.NOT_MANAGED,
            "primary x-legacy is not a candidate of production/email; not touching it",
            current=LEGACY,
            view=novu(LEGACY, extra=(LEGACY,)),
            history=known(LEGACY),
        ),
        id="not-managed",
    ),
    pytest.param(
        Case(
            states(main=(UP, 3600), ses=UP),
            DecisionKind.KEEP,
            "primary changed outside novu-failover: sendgrid-main -> ses-backup; respected; "
            "no action: primary ses-backup is up; a person chose it at 2023-11-14T22:13:20Z, "
            "so no failback to sendgrid-main",
            current=SES,
            drift=True,
            view=novu(SES),
            policy=FAILBACK,
            history=known(MAIN),
        ),
        id="drift-respected",
    ),
    pytest.param(
        Case(
            states(main=UP, ses=DOWN, mailgun=UP),
            DecisionKind.WAIT,
            "primary changed outside novu-failover: sendgrid-main -> ses-backup; respected; "
            "cooldown after the last switch",
            target=MAIN,
            trigger="failover",
            current=SES,
            drift=True,
            view=novu(SES),
            history=known(MAIN),
        ),
        id="drift-to-down-primary-starts-cooldown",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.NOT_MANAGED,
            "primary changed outside novu-failover: sendgrid-main -> x-legacy; respected; "
            "primary x-legacy is not a candidate",
            current=LEGACY,
            drift=True,
            view=novu(LEGACY, extra=(LEGACY,)),
        ),
        id="drift-to-unmanaged-primary",
    ),
    pytest.param(
        Case(
            states(main=UP, ses=UP),
            DecisionKind.SWITCH,
            "fail over to sendgrid-main: no primary integration in Novu (sends fail)",
            target=MAIN,
            trigger="failover",
            current=None,
            view=novu(None),
            policy={"confirm": "5m"},
            history=known(MAIN, switched(T0 - 10, SES, MAIN)),
        ),
        id="no-primary",
    ),
    pytest.param(
        Case(
            states(main=DOWN, ses=UNKNOWN),
            DecisionKind.HOLD,
            "no primary integration in Novu (sends fail); no healthy candidate: "
            "sendgrid-main down for 1m",
            current=None,
            view=novu(None),
        ),
        id="no-primary-no-healthy-holds",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup: primary sendgrid-main is inactive (sends fail)",
            target=SES,
            trigger="failover",
            view=novu(inactive=(MAIN,)),
            history=known(MAIN, switched(T0 - 10, SES, MAIN)),
        ),
        id="inactive-primary",
    ),
    pytest.param(
        Case(
            ALL_UP,
            DecisionKind.SWITCH,
            "reactivate sendgrid-main: primary sendgrid-main is inactive (sends fail)",
            target=MAIN,
            trigger="failover",
            view=novu(inactive=(MAIN,)),
        ),
        id="inactive-primary-up-is-reactivated",
    ),
    pytest.param(
        Case(
            states(main=UP, ses=UP),
            DecisionKind.WAIT,
            "startup grace",
            target=MAIN,
            trigger="failover",
            current=None,
            view=novu(None),
            policy={"startup_grace": "1m"},
            started_at=T0,
        ),
        id="no-primary-still-waits-for-startup-grace",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            evidence="ses-backup is inactive; set-primary activates it",
            view=novu(inactive=(SES,)),
        ),
        id="inactive-target-is-fine",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> mailgun-backup",
            target=MAILGUN,
            trigger="failover",
            evidence="skipped ses-backup has 2 conditions that set-primary would erase "
            "(allow_erase_conditions is off)",
            view=novu(conditions={SES: 2}),
        ),
        id="target-with-conditions-skipped",
    ),
    pytest.param(
        Case(
            MAIN_DOWN,
            DecisionKind.SWITCH,
            "fail over sendgrid-main -> ses-backup",
            target=SES,
            trigger="failover",
            evidence="set-primary will erase ses-backup's 1 condition (allowed)",
            view=novu(conditions={SES: 1}),
            policy={"allow_erase_conditions": True},
        ),
        id="target-with-conditions-allowed",
    ),
    pytest.param(
        Case(
            states(main=DOWN, ses=UP),
            DecisionKind.HOLD,
            "no healthy candidate: ses-backup has 1 condition that set-primary would erase",
            view=novu(conditions={SES: 1}),
        ),
        id="only-target-has-conditions-holds",
    ),
]


def run(case: Case) -> Decision:
    return decide(
        make_rule(**case.policy),
        health=case.health,
        view=case.view,
        history=case.history,
        pause=case.pause,
        started_at=case.started_at,
        now=T0,
        dry_run=case.dry_run,
    )


@pytest.mark.parametrize("case", CASES)
def test_decide(case: Case) -> None:
    decision = run(case)
    assert case.reason in decision.reason, decision.reason
    assert (decision.kind, decision.target, decision.trigger, decision.current) == (
        case.expect,
        case.target,
        case.trigger,
        case.current,
    ), decision.reason
    assert decision.drift is case.drift
    assert decision.at == T0
    assert decision.channel == "production/email"
    assert "\n" not in decision.reason
    if case.evidence is not None:
        assert any(case.evidence in line for line in decision.evidence), decision.evidence


def test_switch_evidence_names_primary_target_and_skipped() -> None:
    """A switch says why: the primary's health, the target's, and every candidate passed over."""
    decision = run(Case(states(main=DOWN, ses=UNKNOWN, mailgun=UP), DecisionKind.SWITCH, ""))
    assert decision.evidence == (
        "sendgrid-main down for 1m (statuspage: major_outage)",
        "mailgun-backup up for 1m (3/3 ok)",
        "skipped ses-backup unknown for 1m (no evidence yet)",
    )


def test_lone_candidate_down_holds_and_says_there_is_no_other() -> None:
    rule = ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": "sms",
            "candidates": [
                {"integration": MAIN, "signals": [{"http": {"url": "https://t.test/"}}]}
            ],
        }
    )
    decision = decide(
        rule,
        health=states(main=DOWN),
        view=novu(),
        history=known(),
        pause=None,
        started_at=T0 - 3600,
        now=T0,
    )
    assert decision.kind is DecisionKind.HOLD
    assert decision.reason.endswith("; no other candidate to switch to")


def test_pause_keeps_drift_and_what_it_would_do() -> None:
    pause = Pause(reason="maintenance window", since=T0 - 60)
    decision = run(
        Case(MAIN_DOWN, DecisionKind.PAUSED, "", view=novu(SES), history=known(MAIN), pause=pause)
    )
    assert decision.kind is DecisionKind.PAUSED
    assert decision.drift
    assert decision.target is None
    assert decision.evidence[0].startswith("without the pause (keep): primary changed outside")


def test_drift_decides_the_same_whether_observed_before_or_after() -> None:
    """The service may call observe_primary before decide: the action is the same."""
    case = Case(states(main=UP, ses=DOWN, mailgun=UP), DecisionKind.WAIT, "", view=novu(SES))
    unobserved = run(case)
    assert case.view is not None
    observed = run(
        Case(
            case.health,
            case.expect,
            "",
            view=case.view,
            history=observe_primary(case.history, case.view, now=T0),
        )
    )
    assert (observed.kind, observed.target) == (unobserved.kind, unobserved.target)
    assert unobserved.drift
    assert not observed.drift


# -- history -------------------------------------------------------------------------------


def test_observe_primary_first_sight_only_records() -> None:
    history = observe_primary(ChannelHistory(), novu(SES), now=T0)
    assert history == ChannelHistory(last_known_primary=SES)


def test_observe_primary_records_drift_as_manual_switch() -> None:
    history = observe_primary(known(MAIN), novu(SES), now=T0)
    assert history.switches == (Switch(at=T0, from_=MAIN, to=SES, trigger="manual"),)
    assert history.last_known_primary == SES


@pytest.mark.parametrize(
    "view", [pytest.param(novu(MAIN), id="same"), pytest.param(novu(None), id="no-primary")]
)
def test_observe_primary_without_change_keeps_history(view: ChannelView) -> None:
    history = known(MAIN, switched(T0 - 10, SES, MAIN))
    assert observe_primary(history, view, now=T0) is history


def test_record_switch_appends_and_forgets_old() -> None:
    old, recent = switched(T0 - 7200, MAIN, SES), switched(T0 - 100, SES, MAIN)
    new = switched(T0, MAIN, MAILGUN)
    history = record_switch(known(MAIN, old, recent, acked=T0 - 50), new, keep=3600)
    assert history == ChannelHistory(
        switches=(recent, new), brake_acked_at=T0 - 50, last_known_primary=MAILGUN
    )


def test_history_keep_covers_brake_window_and_cooldown() -> None:
    assert history_keep(make_rule(cooldown="10m", brake={"per": "1h"}).policy) == 3600
    assert history_keep(make_rule(cooldown="2h", brake={"per": "1h"}).policy) == 7200


def test_acknowledge_brake_sets_ack_time() -> None:
    assert acknowledge_brake(known(MAIN), now=T0).brake_acked_at == T0


@pytest.mark.parametrize(
    ("switches", "acked", "expected"),
    [
        pytest.param((), None, (0, None), id="empty"),
        pytest.param((T0 - 3000, T0 - 2000), None, (2, None), id="under-max"),
        pytest.param((T0 - 3000, T0 - 2000, T0 - 1000), None, (3, T0 + 600), id="at-max"),
        pytest.param(
            (T0 - 3500, T0 - 2500, T0 - 2000, T0 - 1000), None, (4, T0 + 1100), id="over-max"
        ),
        pytest.param((T0 - 3600, T0 - 2000, T0 - 1000), None, (2, None), id="left-edge-out"),
        pytest.param((T0 - 3000, T0 - 2000, T0 - 1000), T0 - 2000, (1, None), id="acked"),
        pytest.param((T0 - 3000, T0 - 2000, T0 + 5), None, (2, None), id="future-ignored"),
    ],
)
def test_brake_status(
    switches: tuple[float, ...], acked: float | None, expected: tuple[int, float | None]
) -> None:
    history = known(MAIN, *(switched(at, MAIN, SES) for at in switches), acked=acked)
    assert brake_status(make_rule().policy, history, now=T0) == expected


def test_cooldown_until_follows_the_last_switch_of_any_trigger() -> None:
    policy = make_rule(cooldown="10m").policy
    assert cooldown_until(policy, known(MAIN)) is None
    history = known(MAIN, switched(T0 - 50, MAIN, SES), switched(T0 - 500, SES, MAIN, "manual"))
    assert cooldown_until(policy, history) == T0 - 50 + 600


def test_iso_is_utc() -> None:
    assert iso(T0) == "2023-11-14T22:13:20Z"


# -- manual failover -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "view", "health_map", "force", "policy", "refusal"),
    [
        pytest.param(SES, novu(), ALL_UP, False, {}, None, id="up-allowed"),
        pytest.param(
            LEGACY,
            novu(extra=(LEGACY,)),
            ALL_UP,
            True,
            {},
            "x-legacy is not a candidate of production/email (candidates: sendgrid-main, "
            "ses-backup, mailgun-backup)",
            id="not-a-candidate",
        ),
        pytest.param(
            SES,
            None,
            ALL_UP,
            True,
            {},
            "Novu not reached yet; cannot check ses-backup",
            id="novu-not-reached",
        ),
        pytest.param(
            SES,
            novu(missing=(SES,)),
            ALL_UP,
            True,
            {},
            "ses-backup is not an integration of production/email in Novu",
            id="not-in-novu",
        ),
        pytest.param(
            MAIN, novu(), ALL_UP, True, {}, "sendgrid-main is already primary", id="already-primary"
        ),
        pytest.param(
            MAIN,
            novu(inactive=(MAIN,)),
            ALL_UP,
            False,
            {},
            None,
            id="inactive-primary-may-be-reactivated",
        ),
        pytest.param(
            SES,
            novu(),
            MAIN_DOWN | states(ses=DOWN),
            False,
            {},
            "ses-backup down (statuspage: major_outage); force to switch anyway",
            id="down-refused",
        ),
        pytest.param(SES, novu(), states(ses=DOWN), True, {}, None, id="down-forced"),
        pytest.param(
            SES,
            novu(),
            states(ses=UNKNOWN),
            False,
            {},
            "ses-backup unknown (no evidence yet); force to switch anyway",
            id="unknown-refused",
        ),
        pytest.param(
            SES,
            novu(),
            {},
            False,
            {},
            "ses-backup unknown (no health reported)",
            id="no-health-refused",
        ),
        pytest.param(
            SES,
            novu(conditions={SES: 2}),
            ALL_UP,
            False,
            {},
            "ses-backup has 2 conditions that set-primary would erase "
            "(allow_erase_conditions is off); force to switch anyway",
            id="conditions-refused",
        ),
        pytest.param(
            SES, novu(conditions={SES: 2}), ALL_UP, True, {}, None, id="conditions-forced"
        ),
        pytest.param(
            SES,
            novu(conditions={SES: 2}),
            ALL_UP,
            False,
            {"allow_erase_conditions": True},
            None,
            id="conditions-allowed",
        ),
    ],
)
def test_check_manual_target(
    target: str,
    view: ChannelView | None,
    health_map: dict[str, CandidateHealth],
    force: bool,
    policy: dict[str, Any],
    refusal: str | None,
) -> None:
    got = check_manual_target(
        make_rule(**policy), target=target, health=health_map, view=view, force=force
    )
    if refusal is None:
        assert got is None
    else:
        assert got is not None
        assert refusal in got
