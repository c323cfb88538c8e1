"""Failure classes: provider error texts to recipient / credentials / quota / outage / unknown,
and only the classes a failover can fix count toward `down`."""

from __future__ import annotations

import pytest

from daemon.health import new_signal_state, observe
from daemon.health.classes import (
    classify_message,
    classify_status,
    classify_text,
    counted,
    pattern,
)
from daemon.model import Health, Message, Observation
from daemon.rules.model import SignalEntry
from daemon.signals.novu_delivery import count_delivery
from daemon.sim.outcomes import PROVIDER_ERRORS

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("provider", "text", "expected"),
    [
        pytest.param("sendgrid", "Unauthorized (401): The provided authorization grant is "
                     "invalid, expired, or revoked", "credentials", id="sendgrid-revoked-key"),
        pytest.param("sendgrid", "Bad Request: Does not contain a valid address.", "recipient",
                     id="sendgrid-bad-address"),
        pytest.param("sendgrid", "Too Many Requests", "quota", id="sendgrid-429"),
        pytest.param("ses", "InvalidClientTokenId: The security token included in the request "
                     "is invalid.", "credentials", id="ses-bad-token"),
        pytest.param("ses", "Throttling: Maximum sending rate exceeded.", "quota",
                     id="ses-throttling"),
        pytest.param("ses", "MessageRejected: Email address is not verified.", "recipient",
                     id="ses-sandbox-recipient"),
        pytest.param("mailgun", "'to' parameter is not a valid address. please check "
                     "documentation", "recipient", id="mailgun-bad-to"),
        pytest.param("mailgun", "Unauthorized: Forbidden", "credentials", id="mailgun-forbidden"),
        pytest.param("postmark", "You tried to send to recipient(s) that have been marked as "
                     "inactive. (ErrorCode 406)", "recipient", id="postmark-inactive"),
        pytest.param("postmark", "Request does not contain a valid Server token.",
                     "credentials", id="postmark-token"),
        pytest.param("twilio", "The 'To' number +15005550001 is not a valid phone number. "
                     "(code 21211)", "recipient", id="twilio-21211"),
        pytest.param("twilio", "Attempt to send to unsubscribed recipient (code 21610)",
                     "recipient", id="twilio-21610"),
        pytest.param("twilio", "Authenticate (code 20003)", "credentials", id="twilio-20003"),
        pytest.param("twilio", "Too Many Requests (code 20429)", "quota", id="twilio-20429"),
        pytest.param("nexmo", "Non White-listed Destination (status 29)", "recipient",
                     id="vonage-29"),
        pytest.param("nexmo", "Bad Credentials (status 4)", "credentials", id="vonage-4"),
        pytest.param("nexmo", "Throttled (status 1)", "quota", id="vonage-1"),
        pytest.param("sinch", "40400 recipient number not valid", "recipient", id="sinch"),
        pytest.param("plivo", "invalid dst number", "recipient", id="plivo"),
        pytest.param("sendgrid", "connect ETIMEDOUT 1.2.3.4:443", "outage", id="timeout"),
        pytest.param("ses", "ServiceUnavailable: Service is unavailable. Please try again "
                     "later.", "outage", id="ses-unavailable"),
        pytest.param("mailgun", "502 Bad Gateway", "outage", id="bad-gateway"),
        pytest.param("sendgrid", "something odd happened", "unknown", id="unknown"),
    ],
)  # fmt: skip
def test_builtin_patterns_classify_provider_texts(provider: str, text: str, expected: str) -> None:
    assert classify_text(provider, text) == expected


@pytest.mark.parametrize(
    ("provider", "failure_class"),
    [(p, c) for p, errors in PROVIDER_ERRORS.items() for c in errors],
)
def test_every_simulated_provider_error_is_classified_as_meant(
    provider: str, failure_class: str
) -> None:
    error_id, error_text = PROVIDER_ERRORS[provider][failure_class]
    assert classify_message(provider, error_id, error_text) == failure_class


def test_twilio_code_is_not_read_as_a_recipient_error_for_another_provider() -> None:
    assert classify_text("sendgrid", "error 21211") == "unknown"


def test_user_patterns_win_over_builtin_ones_and_can_be_limited_to_providers() -> None:
    mine = [pattern("recipient", r"mailbox full", ["ses"]), pattern("quota", r"503")]
    assert classify_text("ses", "550 mailbox full", patterns=mine) == "recipient"
    assert classify_text("sendgrid", "mailbox full", patterns=mine) == "unknown"
    assert classify_text("sendgrid", "503 Service Unavailable", patterns=mine) == "quota"


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "credentials"), (403, "credentials"), (429, "quota"), (503, "outage"),
     (500, "outage"), (408, "outage"), (404, "unknown")],
)  # fmt: skip
def test_http_status_classes(status: int, expected: str) -> None:
    assert classify_status(status) == expected


def test_a_recipient_failure_is_inconclusive_and_says_why() -> None:
    obs = Observation("canary", False, NOW, "canary error", failure_class="recipient")
    seen = counted(obs)
    assert seen.ok is None
    assert "recipient failure, not counted toward down" in seen.detail
    outage = Observation("canary", False, NOW, "canary error", failure_class="outage")
    assert counted(outage) == outage


def _entry(**extra: object) -> SignalEntry:
    spec = {"url": "https://x.test", "interval": 10, "timeout": 1, "fall": 2, "rise": 1}
    return SignalEntry.model_validate({"http": {**spec, **extra}})


def test_recipient_failures_never_take_a_signal_down_by_default() -> None:
    state = new_signal_state("http", _entry())
    for n in range(5):
        obs = Observation("http", False, NOW + n, "bad address", failure_class="recipient")
        state = observe(state, obs)
    assert state.state is Health.UNKNOWN
    assert state.last_failure is not None
    assert state.last_failure.failure_class == "recipient"


def test_down_classes_are_configurable_per_signal() -> None:
    state = new_signal_state("http", _entry(down_classes=["outage"]))
    for n in range(2):
        obs = Observation("http", False, NOW + n, "401", failure_class="credentials")
        state = observe(state, obs)
    assert state.state is Health.UNKNOWN
    for n in range(2):
        obs = Observation("http", False, NOW + 10 + n, "503", failure_class="outage")
        state = observe(state, obs)
    assert state.state is Health.DOWN


def _messages(provider: str, *, sent: int, errors: dict[str, int]) -> list[Message]:
    result = [Message(provider, "sent", NOW - 10) for _ in range(sent)]
    for failure_class, n in errors.items():
        error_id, text = PROVIDER_ERRORS[provider][failure_class]
        result += [Message(provider, "error", NOW - 10, error_id, text) for _ in range(n)]
    return result


def test_ninety_percent_recipient_errors_do_not_count_as_delivery_failures() -> None:
    count = count_delivery(
        _messages("sendgrid", sent=2, errors={"recipient": 18}),
        provider_id="sendgrid",
        since=NOW - 60,
    )
    assert (count.total, count.failed, count.rate) == (20, 0, 0.0)
    assert count.ignored == {"recipient": 18}


def test_thirty_percent_outage_errors_count() -> None:
    count = count_delivery(
        _messages("twilio", sent=14, errors={"outage": 6}), provider_id="twilio", since=NOW - 60
    )
    assert (count.failed, count.rate, count.main_class) == (6, 0.3, "outage")
