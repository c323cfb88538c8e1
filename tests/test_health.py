"""Health rules, one table row per behaviour: hysteresis, failure rate, passive, candidates."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.health import (
    SignalState,
    candidate_health,
    new_signal_state,
    observe,
    observe_all,
    signal_health,
)
from daemon.model import CandidateHealth, Health, Observation, SignalHealth
from daemon.rules.model import Quorum, SignalEntry

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z
UP, DOWN, UNKNOWN = Health.UP, Health.DOWN, Health.UNKNOWN
RATE = {"window": "5m", "min_samples": 4, "max": 0.25}


def entry(kind: str = "http", **fields: Any) -> SignalEntry:
    specs: dict[str, dict[str, Any]] = {
        "http": {"url": "https://api.sendgrid.com/v3/scopes"},
        "statuspage": {"url": "https://status.sendgrid.com", "components": ["Mail Sending"]},
        "alert": {"matchers": ['novu_integration="sendgrid-main"']},
    }
    return SignalEntry.model_validate({kind: {**specs[kind], **fields}})


def detail(ok: bool | None) -> str:
    return {
        True: "HTTP 200 from api.sendgrid.com in 0.12s",
        False: "HTTP 503 from api.sendgrid.com in 0.21s",
        None: "timeout after 5s",
    }[ok]


def feed(state: SignalState, sequence: str, *, spacing: float = 30.0) -> SignalState:
    """Apply `+` (ok), `-` (failure), `?` (inconclusive) observations `spacing` seconds apart."""
    for index, char in enumerate(sequence):
        ok = {"+": True, "-": False, "?": None}[char]
        obs = Observation(state.signal, ok, T0 + index * spacing, detail(ok))
        state = observe(state, obs)
    return state


def http_state(**fields: Any) -> SignalState:
    return new_signal_state("http", entry("http", **fields))


@pytest.mark.parametrize(
    ("fields", "sequence", "spacing", "state", "since_index", "reason"),
    [
        pytest.param({}, "", 30, UNKNOWN, None, "unknown: no evidence yet", id="no-evidence"),
        pytest.param(
            {},
            "+",
            30,
            UNKNOWN,
            None,
            "unknown: 1 of 2 consecutive successes needed to go up",
            id="unknown-one-success-short-of-rise",
        ),
        pytest.param(
            {},
            "--",
            30,
            UNKNOWN,
            None,
            "unknown: 2 of 3 consecutive failures needed to go down",
            id="unknown-two-failures-short-of-fall",
        ),
        pytest.param({}, "++", 30, UP, 1, "2 consecutive successes", id="unknown-to-up-after-rise"),
        pytest.param(
            {}, "---", 30, DOWN, 2, "3 consecutive failures", id="unknown-to-down-after-fall"
        ),
        pytest.param(
            {},
            "+-+-+-",
            30,
            UNKNOWN,
            None,
            "1 of 3 consecutive failures",
            id="alternating-stays-unknown",
        ),
        pytest.param(
            {},
            "++--",
            30,
            UP,
            1,
            "2 of 3 consecutive failures needed to go down",
            id="up-holds-below-fall",
        ),
        pytest.param({}, "++---", 30, DOWN, 4, "3 consecutive failures", id="up-to-down-at-fall"),
        pytest.param(
            {},
            "---+",
            30,
            DOWN,
            2,
            "1 of 2 consecutive successes needed to go up",
            id="down-holds-below-rise",
        ),
        pytest.param({}, "---++", 30, UP, 4, "2 consecutive successes", id="down-to-up-at-rise"),
        pytest.param(
            {},
            "---+-+",
            30,
            DOWN,
            2,
            "1 of 2 consecutive successes",
            id="failure-resets-rise-count",
        ),
        pytest.param(
            {},
            "---+-",
            30,
            DOWN,
            2,
            "0 of 2 consecutive successes needed to go up",
            id="down-after-broken-recovery",
        ),
        pytest.param(
            {},
            "+++++",
            30,
            UP,
            1,
            "5 consecutive successes",
            id="since-unchanged-while-state-holds",
        ),
        pytest.param(
            {"fall": 1, "rise": 1}, "+-", 30, DOWN, 1, "1 consecutive failure", id="fall-1-rise-1"
        ),
        pytest.param(
            {},
            "--?-",
            30,
            DOWN,
            3,
            "3 consecutive failures",
            id="inconclusive-does-not-reset-failures",
        ),
        pytest.param(
            {}, "+?+", 30, UP, 2, "2 consecutive successes", id="inconclusive-does-not-reset-ok"
        ),
        pytest.param(
            {},
            "???",
            30,
            UNKNOWN,
            None,
            "unknown: no conclusive evidence yet (last check inconclusive: timeout after 5s)",
            id="inconclusive-is-no-evidence",
        ),
        pytest.param(
            {},
            "++???",
            30,
            UP,
            1,
            "(last check inconclusive: timeout after 5s)",
            id="inconclusive-keeps-state-and-shows-in-reason",
        ),
        pytest.param(
            {"failure_rate": RATE},
            "-+-",
            30,
            UNKNOWN,
            None,
            "1 of 3 consecutive failures",
            id="rate-below-min-samples-never-down",
        ),
        pytest.param(
            {"failure_rate": RATE},
            "+-+-",
            30,
            DOWN,
            3,
            "failure rate 50% over 5m (2/4, max 25%)",
            id="rate-over-downs-without-fall",
        ),
        pytest.param(
            {"failure_rate": RATE},
            "+++-",
            30,
            UP,
            1,
            "1 of 3 consecutive failures",
            id="rate-equal-to-max-is-not-over",
        ),
        pytest.param(
            {"failure_rate": RATE},
            "+-+-++",
            30,
            DOWN,
            3,
            "failure rate 33.3% over 5m (2/6, max 25%), "
            "which keeps it down despite 2 consecutive successes",
            id="rate-over-blocks-rise",
        ),
        pytest.param(
            {"failure_rate": {"window": "5m", "min_samples": 3, "max": 0.25}},
            "-+-+++",
            100,
            UP,
            5,
            "3 consecutive successes",
            id="rate-window-forgets-old-failures",
        ),
    ],
)
def test_signal_hysteresis(
    fields: dict[str, Any],
    sequence: str,
    spacing: float,
    state: Health,
    since_index: int | None,
    reason: str,
) -> None:
    """Signal state, since and reason after a sequence of observations."""
    result = signal_health(feed(http_state(**fields), sequence, spacing=spacing))
    assert result.state is state
    assert result.since == (None if since_index is None else T0 + since_index * spacing)
    assert reason in result.reason
    assert not result.passive


def test_reason_is_one_exact_line_with_iso_since_and_last_detail() -> None:
    """The reason names the state, since (ISO UTC), the rule that fired and what was seen."""
    state = feed(http_state(), "---")
    assert signal_health(state).reason == (
        "down since 2024-05-01T12:01:00Z: 3 consecutive failures "
        "(last: HTTP 503 from api.sendgrid.com in 0.21s)"
    )


def test_reason_flattens_and_cuts_long_details() -> None:
    """A multi-line or huge detail becomes one bounded line in the reason."""
    state = observe(
        http_state(), Observation("http", False, T0, "line one\nline two  " + "x" * 500)
    )
    reason = signal_health(state).reason
    assert "\n" not in reason
    assert "line one line two x" in reason
    assert len(reason) < 300
    assert reason.endswith("…)")


def test_window_keeps_only_recent_samples() -> None:
    """`recent` holds conclusive samples newer than `window` before the newest observation;
    one exactly `window` old has left it."""
    state = feed(http_state(failure_rate=RATE), "-+?-+", spacing=100)
    assert state.recent == ((T0 + 300, False), (T0 + 400, True))


def test_no_window_kept_without_failure_rate() -> None:
    assert feed(http_state(), "-+-+").recent == ()


def test_new_state_takes_timing_from_entry() -> None:
    state = http_state(fall=5, rise=4, failure_rate=RATE)
    assert (state.fall, state.rise, state.kind, state.passive) == (5, 4, "http", False)
    assert state.failure_rate is not None
    assert state.failure_rate.window == 300
    assert (state.state, state.since, state.last) == (UNKNOWN, None, None)


def test_late_observation_is_ignored() -> None:
    """An observation older than the last one applied changes nothing."""
    state = feed(http_state(), "---")
    late = Observation("http", True, T0 + 10, "HTTP 200 (delayed)")
    assert observe(state, late) is state


def test_observation_at_same_time_as_last_is_applied() -> None:
    state = feed(http_state(), "--")
    same_time = Observation("http", False, T0 + 30, "HTTP 500")
    assert observe(state, same_time).state is DOWN


def test_observation_with_non_finite_time_is_ignored() -> None:
    state = feed(http_state(), "-")
    assert observe(state, Observation("http", False, float("nan"), "x")) is state


def test_observation_for_another_signal_is_refused() -> None:
    with pytest.raises(ValueError, match="'statuspage' applied to signal 'http'"):
        observe(http_state(), Observation("statuspage", False, T0, "major_outage"))


def test_observe_all_orders_canonically_and_ignores_unknown_signals() -> None:
    """Observations given out of order are applied by time; unknown ids are dropped."""
    states = {
        "http": http_state(),
        "statuspage": new_signal_state("statuspage", entry("statuspage")),
    }
    observations = [
        Observation("http", True, T0 + 60, "HTTP 200"),
        Observation("nobody", False, T0, "ignored"),
        Observation("http", False, T0, "HTTP 503"),
        Observation("http", True, T0 + 30, "HTTP 200"),
    ]
    result = observe_all(states, observations)
    assert set(result) == {"http", "statuspage"}
    assert result["http"].state is UP
    assert result["http"].since == T0 + 60
    assert result["statuspage"] is states["statuspage"]
    assert observe_all(states, reversed(observations)) == result


def test_observe_all_breaks_ties_on_every_field() -> None:
    """Observations alike but for latency still land in one order, so `last` is stable."""
    states = {"http": http_state()}
    fast = Observation("http", True, T0, "HTTP 200", latency=0.1)
    slow = Observation("http", True, T0, "HTTP 200", latency=0.9)
    assert observe_all(states, [fast, slow]) == observe_all(states, [slow, fast])


def test_observe_all_drops_observations_older_than_state() -> None:
    states = {"http": feed(http_state(), "++")}
    result = observe_all(states, [Observation("http", False, T0, "HTTP 503 (delayed)")])
    assert result["http"] is states["http"]


def alert_state(**fields: Any) -> SignalState:
    return new_signal_state("alert", entry("alert", **fields))


def test_passive_signal_starts_unknown_until_a_source_is_heard() -> None:
    """After a start nothing says no alert fires: the alert signal is unknown, not up."""
    health = signal_health(alert_state())
    assert (health.state, health.since, health.passive) == (UNKNOWN, None, True)
    assert health.reason == "unknown: no alert source heard since start"
    heard = observe(alert_state(), Observation("alert", True, T0, "webhook: none firing"))
    assert signal_health(heard).state is UP


def test_an_undecided_alert_makes_a_passive_signal_unknown_whatever_it_was() -> None:
    """A datasource NoData/Error alert (observation ok=None) means: cannot tell."""
    firing = observe(alert_state(), Observation("alert", False, T0, "SendgridErrors firing"))
    undecided = observe(firing, Observation("alert", None, T0 + 5, "DatasourceNoData firing"))
    health = signal_health(undecided)
    assert (health.state, health.since) == (UNKNOWN, T0 + 5)
    assert "datasource NoData/Error" in health.reason
    assert observe(undecided, Observation("alert", True, T0 + 9, "resolved")).state is UP


def test_passive_signal_moves_on_each_notification_whatever_fall_and_rise_say() -> None:
    """Alerts already waited their `for:`; one firing is down, one resolved is up."""
    state = alert_state(fall=3, rise=2, failure_rate=RATE)
    assert (state.fall, state.rise, state.failure_rate) == (1, 1, None)
    firing = observe(state, Observation("alert", False, T0, "SendgridErrors firing"))
    assert signal_health(firing).reason == (
        "down since 2024-05-01T12:00:00Z: matching alert firing (last: SendgridErrors firing)"
    )
    resolved = observe(firing, Observation("alert", True, T0 + 90, "SendgridErrors resolved"))
    health = signal_health(resolved)
    assert (health.state, health.since, health.passive) == (UP, T0 + 90, True)
    assert health.reason == (
        "up since 2024-05-01T12:01:30Z: no matching alert firing (last: SendgridErrors resolved)"
    )


def sig(name: str, state: Health, *, passive: bool = False) -> SignalHealth:
    return SignalHealth(name, state, f"{state.value}: evidence of {name}", T0, passive=passive)


ALERT_QUIET = sig("alert", UP, passive=True)
ALERT_FIRING = sig("alert", DOWN, passive=True)


@pytest.mark.parametrize(
    ("signals", "down_when", "state", "reason"),
    [
        pytest.param(
            [sig("http", DOWN), sig("statuspage", UP)],
            "any",
            DOWN,
            "down since 2024-05-01T12:10:00Z: http down: evidence of http [any: 1/2 down]",
            id="any-one-down-is-down",
        ),
        pytest.param(
            [sig("http", UNKNOWN), sig("statuspage", UP)],
            "any",
            UP,
            "up since 2024-05-01T12:10:00Z: 1/2 probes up (statuspage), 1 unknown (http)",
            id="any-none-down-one-up-is-up",
        ),
        pytest.param(
            [sig("http", UP), sig("statuspage", UP), sig("novu_delivery", UNKNOWN)],
            "any",
            UP,
            "2/3 probes up (http, statuspage), 1 unknown (novu_delivery)",
            id="up-reason-counts-signals",
        ),
        pytest.param(
            [sig("http", UNKNOWN), sig("statuspage", UNKNOWN)],
            "any",
            UNKNOWN,
            "unknown since 2024-05-01T12:10:00Z: no signal has evidence yet "
            "(http unknown, statuspage unknown)",
            id="all-unknown-is-unknown",
        ),
        pytest.param(
            [sig("http", DOWN), sig("statuspage", UP)],
            "all",
            UP,
            "1/2 probes up (statuspage), 1 down (http) [all: 1/2 down]",
            id="all-one-of-two-down-is-not-down",
        ),
        pytest.param(
            [sig("http", DOWN), sig("statuspage", UNKNOWN)],
            "all",
            UNKNOWN,
            "no non-passive signal is up (http down, statuspage unknown) [all: 1/2 down]",
            id="all-unknown-signal-blocks-down",
        ),
        pytest.param(
            [sig("http", DOWN), sig("statuspage", DOWN)],
            "all",
            DOWN,
            "http down: evidence of http; statuspage down: evidence of statuspage [all: 2/2 down]",
            id="all-every-signal-down-is-down",
        ),
        pytest.param(
            [sig("http", DOWN), sig("statuspage", DOWN), ALERT_QUIET],
            "all",
            DOWN,
            "[all: 2/2 down, 1 quiet passive ignored]",
            id="all-quiet-alert-does-not-block",
        ),
        pytest.param(
            [sig("http", DOWN), ALERT_FIRING],
            "all",
            DOWN,
            "[all: 2/2 down]",
            id="all-firing-alert-counts-as-down",
        ),
        pytest.param(
            [sig("http", UP), ALERT_FIRING],
            "all",
            UP,
            "1/1 probe up (http), 1 down (alert) [all: 1/2 down]",
            id="all-firing-alert-alone-is-not-enough",
        ),
        pytest.param(
            [ALERT_QUIET],
            "all",
            UNKNOWN,
            "only passive signals, which never show a candidate up (alert quiet)",
            id="quiet-alerts-alone-never-down-for-all",
        ),
        pytest.param(
            [sig("http", UP), ALERT_FIRING],
            "any",
            DOWN,
            "alert down: evidence of alert [any: 1/2 down]",
            id="any-firing-alert-is-down",
        ),
        pytest.param(
            [sig("http", UNKNOWN), ALERT_QUIET],
            "any",
            UNKNOWN,
            "no signal has evidence yet (http unknown, alert quiet)",
            id="quiet-alert-is-no-positive-evidence",
        ),
        pytest.param(
            [ALERT_QUIET],
            "any",
            UNKNOWN,
            "only passive signals",
            id="alert-only-candidate-is-never-up",
        ),
        pytest.param(
            [sig("http", UP), ALERT_QUIET],
            "any",
            UP,
            "1/1 probe up (http), alert quiet",
            id="quiet-alert-listed-in-up-reason",
        ),
        pytest.param(
            [sig("http", DOWN), sig("statuspage", UP), sig("novu_delivery", UP)],
            Quorum(quorum=2),
            UP,
            "2/3 probes up (statuspage, novu_delivery), 1 down (http) [quorum 2: 1/3 down]",
            id="quorum-2-one-down-is-not-down",
        ),
        pytest.param(
            [sig("http", DOWN), sig("statuspage", UP), ALERT_FIRING],
            Quorum(quorum=2),
            DOWN,
            "http down: evidence of http; alert down: evidence of alert [quorum 2: 2/3 down]",
            id="quorum-2-two-down-is-down",
        ),
        pytest.param(
            [sig("http", DOWN)],
            Quorum(quorum=2),
            UNKNOWN,
            "no non-passive signal is up (http down) [quorum 2: 1/1 down]",
            id="quorum-above-signal-count-never-down",
        ),
        pytest.param([], "any", UNKNOWN, "no signals configured", id="no-signals-is-unknown"),
    ],
)
def test_candidate_health(
    signals: list[SignalHealth], down_when: Any, state: Health, reason: str
) -> None:
    """Candidate state and the signals its reason names, per down_when rule."""
    result = candidate_health(
        "sendgrid-main", signals, down_when=down_when, previous=None, now=T0 + 600
    )
    assert result.state is state
    assert reason in result.reason
    assert result.reason.startswith(f"{state.value} since 2024-05-01T12:10:00Z: ")
    assert result.signals == tuple(signals)
    assert result.integration == "sendgrid-main"


def previous_health(state: Health, since: float) -> CandidateHealth:
    return CandidateHealth("sendgrid-main", state, f"{state.value}: before", since)


@pytest.mark.parametrize(
    ("previous", "since"),
    [
        pytest.param(None, T0 + 600, id="first-evaluation-since-now"),
        pytest.param(previous_health(DOWN, T0 + 100), T0 + 100, id="unchanged-keeps-since"),
        pytest.param(previous_health(UP, T0 + 100), T0 + 600, id="changed-since-now"),
    ],
)
def test_candidate_since(previous: CandidateHealth | None, since: float) -> None:
    result = candidate_health(
        "sendgrid-main", [sig("http", DOWN)], down_when="any", previous=previous, now=T0 + 600
    )
    assert result.state is DOWN
    assert result.since == since


def test_candidate_previous_of_another_integration_is_refused() -> None:
    previous = CandidateHealth("ses-backup", UP, "up: x", T0)
    with pytest.raises(ValueError, match="'ses-backup' given for 'sendgrid-main'"):
        candidate_health("sendgrid-main", [], down_when="any", previous=previous, now=T0)


def test_candidate_reason_quotes_signal_evidence_end_to_end() -> None:
    """From observations to the candidate line an operator reads."""
    http = feed(http_state(), "---")
    alert = alert_state()
    result = candidate_health(
        "sendgrid-main",
        [signal_health(http), signal_health(alert)],
        down_when="all",
        previous=None,
        now=T0 + 61,
    )
    assert result.reason == (
        "down since 2024-05-01T12:01:01Z: http down since 2024-05-01T12:01:00Z: "
        "3 consecutive failures (last: HTTP 503 from api.sendgrid.com in 0.21s) "
        "[all: 1/1 down, 1 unknown passive ignored]"
    )
