"""The pure alert core: payload parsing over real captures, matcher semantics, the book."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from alert_fixtures import alertmanager, grafana
from hypothesis import given
from hypothesis import strategies as st

from daemon.alerts import (
    Alert,
    AlertBook,
    AlertPayloadError,
    build_book,
    compile_matchers,
    expire,
    first_contact,
    matches,
    parse_alertmanager,
    parse_grafana,
    receive,
    reconcile,
    unmatched,
)
from daemon.alerts.book import RESOLVE_MEMORY
from daemon.rules.model import Rules

FIRING_AT = 1795873168.762  # 2026-11-28T13:39:28.762Z, the fixture's startsAt
NOW = FIRING_AT + 30
EMAIL = "production/email"
SENDGRID_ALERT = (EMAIL, "sendgrid-main", "alert")


def rules(*matchers: str, name: str | None = None) -> Rules:
    alert: dict[str, Any] = {"matchers": list(matchers)}
    if name:
        alert["name"] = name
    return Rules.model_validate(
        {
            "environments": {"production": {"api_url": "http://n", "api_key_env": "K"}},
            "channels": [
                {
                    "environment": "production",
                    "channel": "email",
                    "candidates": [
                        {
                            "integration": "sendgrid-main",
                            "signals": [
                                {"http": {"url": "http://p/sendgrid"}},
                                {"alert": alert},
                            ],
                        },
                        {
                            "integration": "ses-backup",
                            "signals": [{"alert": {"matchers": ['novu_integration="ses-backup"']}}],
                        },
                    ],
                }
            ],
        }
    )


SENDGRID_RULES = rules('novu_integration="sendgrid-main"', 'severity=~"critical|page"')


# ------------------------------------------------------------------ payloads
def test_alertmanager_firing_fixture_parses_to_one_firing_alert_without_end() -> None:
    (alert,) = parse_alertmanager(alertmanager("v4-firing"))
    assert alert.source == "alertmanager"
    assert alert.status == "firing"
    assert alert.fingerprint == "cc2f88f7320a1355"
    assert alert.labels["novu_integration"] == "sendgrid-main"
    assert alert.starts_at == pytest.approx(FIRING_AT, abs=1e-6)
    assert alert.ends_at is None  # the zero time 0001-01-01T00:00:00Z
    assert alert.name == "NovuProviderDeliveryFailing"


def test_alertmanager_resolved_fixture_carries_its_end() -> None:
    (alert,) = parse_alertmanager(alertmanager("v4-resolved"))
    assert alert.status == "resolved"
    assert alert.ends_at == pytest.approx(FIRING_AT + 12, abs=1e-6)
    assert not alert.firing_at(FIRING_AT)


def test_grafana_fixtures_parse_with_offsets_and_micros() -> None:
    (firing,) = parse_grafana(grafana("v1-firing"))
    (resolved,) = parse_grafana(grafana("v1-resolved"))
    assert firing.source == "grafana"
    assert firing.status == "firing"
    assert firing.ends_at is None
    assert firing.starts_at == pytest.approx(1795869610.157076, abs=1e-6)  # 12:40:10.157076Z
    assert resolved.status == "resolved"
    assert resolved.ends_at == pytest.approx(firing.starts_at + 240, abs=1e-6)
    assert firing.key == resolved.key == ("grafana", "8c4d1bd2e3a6f7b0")


def test_a_missing_fingerprint_is_derived_from_the_labels_consistently() -> None:
    firing, resolved = alertmanager("v4-firing"), alertmanager("v4-resolved")
    for payload in (firing, resolved):
        del payload["alerts"][0]["fingerprint"]
        payload["alerts"][0]["labels"] = dict(reversed(payload["alerts"][0]["labels"].items()))
    (a,), (b,) = parse_alertmanager(firing), parse_alertmanager(resolved)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint.startswith("labels:")


def _broken(change: Any) -> Any:
    payload = copy.deepcopy(alertmanager("v4-firing"))
    change(payload)
    return payload


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param([], "body must be a JSON object, not a list", id="not-object"),
        pytest.param(_broken(lambda p: p.pop("alerts")), "alerts is required", id="missing-alerts"),
        pytest.param(
            _broken(lambda p: p.update(alerts={})),
            "alerts must be a list, not an object",
            id="alerts-object",
        ),
        pytest.param(
            _broken(lambda p: p.update(version="3")),
            "unknown version '3'; alertmanager webhooks send '4'",
            id="unknown-version",
        ),
        pytest.param(
            _broken(lambda p: p.pop("version")), "version is required", id="missing-version"
        ),
        pytest.param(
            _broken(lambda p: p.update(version="1")),
            "version '1' is the grafana webhook format: send it to /v1/alerts/grafana",
            id="grafana-payload",
        ),
        pytest.param(
            _broken(lambda p: p["alerts"][0].update(status="pending")),
            "alerts[0].status must be firing or resolved (got 'pending')",
            id="bad-status",
        ),
        pytest.param(
            _broken(lambda p: p["alerts"][0]["labels"].update(severity=2)),
            "alerts[0].labels.severity must be a string, not a number",
            id="label-not-string",
        ),
        pytest.param(
            _broken(lambda p: p["alerts"][0].pop("labels")),
            "alerts[0].labels is required",
            id="missing-labels",
        ),
        pytest.param(
            _broken(lambda p: p["alerts"][0].update(startsAt="yesterday")),
            "alerts[0].startsAt is not an RFC 3339 time with a zone: 'yesterday'",
            id="bad-time",
        ),
        pytest.param(
            _broken(lambda p: p["alerts"][0].update(endsAt="2026-11-28T13:39:28")),
            "alerts[0].endsAt is not an RFC 3339 time with a zone",
            id="time-without-zone",
        ),
        pytest.param(
            _broken(lambda p: p["alerts"][0].update(fingerprint=7)),
            "alerts[0].fingerprint must be a string, not a number",
            id="fingerprint-number",
        ),
        pytest.param(
            _broken(lambda p: p["alerts"].append("x")),
            "alerts[1] must be an object, not a string",
            id="alert-not-object",
        ),
    ],
)
def test_malformed_alertmanager_payloads_say_what_is_wrong(payload: Any, message: str) -> None:
    with pytest.raises(AlertPayloadError) as raised:
        parse_alertmanager(payload)
    assert message in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    payload = _broken(lambda p: p["alerts"][0].update(status=None, startsAt=1, labels=[]))
    with pytest.raises(AlertPayloadError) as raised:
        parse_alertmanager(payload)
    assert [field for field, _ in raised.value.problems] == [
        "alerts[0].status",
        "alerts[0].labels",
        "alerts[0].startsAt",
    ]


def test_grafana_route_refuses_alertmanager_and_legacy_payloads_by_name() -> None:
    with pytest.raises(AlertPayloadError, match="send it to /v1/alerts/alertmanager"):
        parse_grafana(alertmanager("v4-firing"))
    legacy = {"title": "[Alerting] x", "state": "alerting", "evalMatches": [], "ruleId": 1}
    with pytest.raises(AlertPayloadError, match="legacy Grafana alerting"):
        parse_grafana(legacy)


# ------------------------------------------------------------------ matchers
LABELS = {"novu_integration": "sendgrid-main", "severity": "critical", "env": ""}


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ('novu_integration="sendgrid-main"', True),
        ('novu_integration="sendgrid"', False),
        ('novu_integration!="sendgrid"', True),
        ('novu_integration!="sendgrid-main"', False),
        ('severity=~"crit.*"', True),
        ('severity=~"crit"', False),  # anchored: no partial match
        ('severity=~"warning|critical"', True),  # alternation anchored as a whole
        ('severity=~"a|critica"', False),
        ('severity!~"warn.*"', True),
        ('severity!~"critical|page"', False),
        ('team=""', True),  # a missing label is the empty string
        ('team!=""', False),
        ('team!="blue"', True),
        ('team=~".*"', True),
        ('team=~".+"', False),
        ('env=""', True),  # an empty label is the same as a missing one
        ('severity=~"CRITICAL"', False),  # case-sensitive, as in Alertmanager
    ],
)
def test_matcher_semantics_are_alertmanagers(matcher: str, expected: bool) -> None:
    assert matches(compile_matchers([matcher]), LABELS) is expected


def test_all_matchers_must_match() -> None:
    both = compile_matchers(['novu_integration="sendgrid-main"', 'severity="page"'])
    assert not matches(both, LABELS)
    assert matches(both, {**LABELS, "severity": "page"})


@given(st.text(alphabet="abc-_", max_size=6), st.text(alphabet="abc-_", max_size=6))
def test_equality_and_anchored_regex_agree_on_literal_values(value: str, actual: str) -> None:
    labels = {"x": actual}
    literal = compile_matchers([f'x="{value}"'])
    regex = compile_matchers([f'x=~"{value}"'])  # [a-c_-] has no regex metacharacter
    assert matches(literal, labels) == matches(regex, labels) == (value == actual)


# ------------------------------------------------------------------ the book
def _alert(
    status: str = "firing", *, fp: str = "f1", ends: float | None = None, **labels: str
) -> Alert:
    return Alert(
        source="alertmanager",
        status=status,  # type: ignore[arg-type]
        labels={
            "alertname": "SendGridDown",
            "novu_integration": "sendgrid-main",
            "severity": "critical",
            **labels,
        },
        starts_at=FIRING_AT,
        ends_at=ends,
        fingerprint=fp,
    )


def test_the_real_firing_then_resolved_notifications_move_the_signal_down_then_up() -> None:
    book = build_book(SENDGRID_RULES)
    book, updates = receive(book, parse_alertmanager(alertmanager("v4-firing")), now=NOW)
    (update,) = updates
    assert update.key == SENDGRID_ALERT
    assert update.observation.ok is False
    assert update.observation.signal == "alert"
    assert update.observation.at == NOW
    assert update.observation.detail == (
        "alert NovuProviderDeliveryFailing firing since 2026-11-28T13:39:28Z "
        "(alertmanager, fingerprint cc2f88f7320a1355)"
    )
    assert [a.fingerprint for a in book.firing_for(SENDGRID_ALERT)] == ["cc2f88f7320a1355"]

    book, updates = receive(book, parse_alertmanager(alertmanager("v4-resolved")), now=NOW + 1)
    (update,) = updates
    assert update.observation.ok is True
    assert update.firing == ()
    assert "resolved" in update.observation.detail
    assert book.firing == {}


def test_an_alert_matching_no_signal_changes_nothing() -> None:
    book = build_book(SENDGRID_RULES)
    after, updates = receive(book, [_alert(severity="info")], now=NOW)
    assert updates == ()
    assert after.firing == {}


def test_the_signal_stays_down_until_every_matching_alert_resolved() -> None:
    book = build_book(SENDGRID_RULES)
    book, _ = receive(book, [_alert(fp="a"), _alert(fp="b", instance="2")], now=NOW)
    assert len(book.firing_for(SENDGRID_ALERT)) == 2
    book, (update,) = receive(book, [_alert("resolved", fp="a", ends=NOW)], now=NOW + 1)
    assert update.observation.ok is False
    assert update.observation.detail.startswith("alert SendGridDown firing since")
    book, (update,) = receive(book, [_alert("resolved", fp="b", ends=NOW)], now=NOW + 2)
    assert update.observation.ok is True


def test_same_fingerprint_from_another_source_is_another_alert() -> None:
    book = build_book(SENDGRID_RULES)
    book, _ = receive(book, [_alert(fp="same")], now=NOW)
    grafana_resolve = Alert("grafana", "resolved", _alert().labels, FIRING_AT, NOW, "same")
    book, (update,) = receive(book, [grafana_resolve], now=NOW + 1)
    assert update.observation.ok is False


def test_a_firing_alert_past_its_ends_at_expires_and_only_then() -> None:
    book = build_book(SENDGRID_RULES)
    book, (update,) = receive(book, [_alert(ends=NOW + 60)], now=NOW)
    assert update.observation.ok is False
    same, updates = expire(book, now=NOW + 59.9)
    assert updates == ()
    assert same.firing_for(SENDGRID_ALERT)
    book, (update,) = expire(book, now=NOW + 60)
    assert update.observation.ok is True
    assert "endsAt 2026-11-28T13:40:58Z passed" in update.observation.detail
    assert book.firing == {}
    assert expire(book, now=NOW + 120)[1] == ()


def test_a_firing_notification_already_past_its_end_counts_as_resolved() -> None:
    book = build_book(SENDGRID_RULES)
    book, (update,) = receive(book, [_alert(ends=NOW - 1)], now=NOW)
    assert update.observation.ok is True
    assert book.firing == {}


def test_one_alert_can_move_several_signals() -> None:
    book = build_book(rules('severity="critical"'))
    anywhere = _alert(novu_integration="ses-backup")
    _, updates = receive(book, [anywhere], now=NOW)
    assert {u.key for u in updates} == {SENDGRID_ALERT, (EMAIL, "ses-backup", "alert")}


def test_a_reload_keeps_firing_alerts_of_unchanged_signals_only() -> None:
    book = build_book(SENDGRID_RULES)
    book, _ = receive(book, [_alert(), _alert(fp="s", novu_integration="ses-backup")], now=NOW)
    assert len(book.firing) == 2
    kept = build_book(SENDGRID_RULES, book)
    assert kept.firing == book.firing
    changed = build_book(rules('novu_integration="sendgrid-main"'), book)
    assert set(changed.firing) == {(EMAIL, "ses-backup", "alert")}
    renamed = build_book(rules('severity="x"', name="am"), book)
    assert (EMAIL, "sendgrid-main", "am") in renamed.watches
    assert set(renamed.firing) == {(EMAIL, "ses-backup", "alert")}


def test_an_empty_book_ignores_everything() -> None:
    book, updates = receive(AlertBook(), [_alert()], now=NOW)
    assert updates == ()
    assert book.firing == {}


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans(), st.booleans()),
        max_size=12,
    )
)
def test_the_signal_is_down_exactly_while_some_matching_alert_last_said_firing(
    steps: list[tuple[str, bool, bool]],
) -> None:
    """Any sequence of notifications (all of one alert instance per fingerprint): down iff a
    matching fingerprint's latest word is firing, and a firing word after that fingerprint's
    resolve is stale: it changes nothing."""
    book = build_book(SENDGRID_RULES)
    latest: dict[str, bool] = {}
    resolved: set[str] = set()
    state_ok = True
    for at, (fp, firing, matching) in enumerate(steps):
        severity = "critical" if matching else "info"
        status = "firing" if firing else "resolved"
        alert = _alert(status, fp=fp, ends=None if firing else NOW, severity=severity)
        book, updates = receive(book, [alert], now=NOW + at)
        if matching and firing and fp in resolved:
            assert updates == ()
        elif matching:
            latest[fp] = firing
            if not firing:
                resolved.add(fp)
            (update,) = updates
            state_ok = bool(update.observation.ok)
        else:
            assert updates == ()
        assert state_ok == (not any(latest.values()))
        assert len(book.firing_for(SENDGRID_ALERT)) == sum(latest.values())


# ------------------------------------------------------------- reconcile (API as truth)
def _active(fp: str = "f1", *, starts: float = FIRING_AT, **labels: str) -> Alert:
    """An alert as `GET /api/v2/alerts` lists it: active, with a future endsAt."""
    alert = _alert(fp=fp, ends=NOW + 300, **labels)
    return Alert(alert.source, "firing", alert.labels, starts, alert.ends_at, fp)


def test_a_restart_learns_the_firing_alert_from_the_api_before_any_webhook() -> None:
    book = build_book(SENDGRID_RULES)
    assert not book.reached
    book, updates = reconcile(book, [_active()], as_of=NOW - 1, now=NOW)
    assert book.reached
    by_key = {u.key: u.observation.ok for u in updates}
    # First contact: every alert signal leaves unknown, firing or not.
    assert by_key == {SENDGRID_ALERT: False, (EMAIL, "ses-backup", "alert"): True}
    quiet = next(u for u in updates if u.key != SENDGRID_ALERT)
    assert quiet.observation.detail == "the Alertmanager API: none firing"


def test_an_alert_no_longer_active_in_the_api_ends_as_if_resolved() -> None:
    """send_resolved: false: the resolve never comes; the next sync ends the alert."""
    book, _ = reconcile(build_book(SENDGRID_RULES), [_active()], as_of=NOW - 1, now=NOW)
    book, (update,) = reconcile(book, [], as_of=NOW + 29, now=NOW + 30)
    assert update.key == SENDGRID_ALERT
    assert update.observation.ok is True
    assert "no longer active in Alertmanager" in update.observation.detail
    assert book.firing == {}
    assert reconcile(book, [], as_of=NOW + 59, now=NOW + 60)[1] == ()  # nothing changed


def test_a_webhook_newer_than_the_api_read_stands() -> None:
    """The read was sent before the webhook arrived: its answer cannot undo the webhook."""
    book, _ = reconcile(build_book(SENDGRID_RULES), [], as_of=NOW - 10, now=NOW - 9)
    book, _ = receive(book, [_alert(fp="new")], now=NOW)
    kept, updates = reconcile(book, [], as_of=NOW - 1, now=NOW + 1)
    assert updates == ()
    assert [a.fingerprint for a in kept.firing_for(SENDGRID_ALERT)] == ["new"]
    ended, (update,) = reconcile(kept, [], as_of=NOW + 5, now=NOW + 6)
    assert update.observation.ok is True
    assert ended.firing == {}


def test_a_late_firing_after_its_resolve_does_not_reopen_it() -> None:
    """HA pair: one Alertmanager delivers the resolve, the other a stale firing after it."""
    book = build_book(SENDGRID_RULES)
    book, _ = receive(book, [_alert(fp="x")], now=NOW)
    book, _ = receive(book, [_alert("resolved", fp="x", ends=NOW + 1)], now=NOW + 1)
    book, updates = receive(book, [_alert(fp="x")], now=NOW + 2)
    assert updates == ()
    assert book.firing == {}
    # Nor does a lagging Alertmanager's API answer of the same instance.
    book, updates = reconcile(book, [_active("x")], as_of=NOW + 3, now=NOW + 4)
    assert book.firing == {}
    # A new instance (a later startsAt) of the same alert fires again.
    book, (update,) = receive(book, [_active("x", starts=NOW + 5)], now=NOW + 6)
    assert update.observation.ok is False


def test_a_resolve_is_forgotten_after_resolve_memory() -> None:
    book = build_book(SENDGRID_RULES)
    book, _ = receive(book, [_alert("resolved", fp="x", ends=NOW)], now=NOW)
    assert book.resolved
    book, _ = receive(book, [], now=NOW + RESOLVE_MEMORY + 1)
    assert book.resolved == {}


def test_grafana_alerts_are_left_alone_by_the_alertmanager_api() -> None:
    book = build_book(SENDGRID_RULES)
    graf = Alert("grafana", "firing", _alert().labels, FIRING_AT, None, "g")
    book, _ = receive(book, [graf], now=NOW)
    book, updates = reconcile(book, [], as_of=NOW + 10, now=NOW + 11)
    assert [a.source for a in book.firing_for(SENDGRID_ALERT)] == ["grafana"]
    assert all(u.observation.ok is not True for u in updates if u.key == SENDGRID_ALERT)


def test_first_contact_by_webhook_moves_every_signal_out_of_unknown_once() -> None:
    book = build_book(SENDGRID_RULES)
    book, updates = first_contact(book, now=NOW, via="webhook")
    assert {u.key for u in updates} == {SENDGRID_ALERT, (EMAIL, "ses-backup", "alert")}
    assert all(u.observation.ok is True for u in updates)
    assert first_contact(book, now=NOW + 1, via="webhook")[1] == ()


@pytest.mark.parametrize(
    ("mode", "ok", "firing"),
    [
        pytest.param("unknown", None, 1, id="unknown-by-default"),
        pytest.param("down", False, 1, id="down-when-asked"),
        pytest.param("ignore", None, 0, id="ignored"),
    ],
)
def test_grafana_datasource_alerts_mean_what_the_signal_says(
    mode: str, ok: bool | None, firing: int
) -> None:
    spec: dict[str, Any] = {"matchers": ['novu_integration="sendgrid-main"']}
    if mode != "unknown":
        spec["datasource_alerts"] = mode
    data = rules('novu_integration="sendgrid-main"').model_dump(exclude_none=True)
    data["channels"][0]["candidates"][0]["signals"][1] = {"alert": spec}
    book = build_book(Rules.model_validate(data))
    nodata = _alert(alertname="DatasourceNoData")
    book, updates = receive(book, [nodata], now=NOW)
    assert len(book.firing_for(SENDGRID_ALERT)) == firing
    if firing:
        (update,) = updates
        assert update.observation.ok is ok
    else:
        assert updates == ()
        assert unmatched(book, [nodata]) == (nodata,)
