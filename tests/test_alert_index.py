"""The watch index finds exactly the alert signals a full scan of every matcher finds, in
the rules' order, whatever the matchers (`=`, `!=`, `=~`, `!~`, empty values) and labels."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.alerts.index import MatcherIndex
from daemon.alerts.matchers import Matcher, compile_matchers, matches

NAMES = ("alertname", "novu_integration", "team", "severity")
VALUES = ("", "a", "b", "sendgrid-main")
OPS = ("=", "!=", "=~", "!~")


@st.composite
def matcher_lists(draw: st.DrawFn) -> tuple[Matcher, ...]:
    texts = []
    for _ in range(draw(st.integers(0, 3))):
        name, op = draw(st.sampled_from(NAMES)), draw(st.sampled_from(OPS))
        value = draw(st.sampled_from((*VALUES, "a|b", ".*", "s.*")))
        if op in ("=", "!=") and value in ("a|b", ".*", "s.*"):
            value = "a"
        texts.append(f'{name}{op}"{value}"')
    return compile_matchers(texts)


labels_strategy = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(matcher_lists(), max_size=12), st.lists(labels_strategy, min_size=1, max_size=5))
def test_the_index_finds_what_a_full_scan_finds_in_order(
    signals: list[tuple[Matcher, ...]], alerts: list[dict[str, str]]
) -> None:
    index = MatcherIndex.build(enumerate(signals))
    for labels in alerts:
        scanned = [key for key, found in enumerate(signals) if matches(found, labels)]
        indexed = [key for key in index.candidates(labels) if matches(signals[key], labels)]
        assert indexed == scanned


def test_a_signal_is_looked_up_by_one_equality_and_the_rest_are_always_checked() -> None:
    signals = {
        "by-integration": compile_matchers(['novu_integration="sendgrid-main"', 'team!="x"']),
        "empty-value": compile_matchers(['team=""']),
        "regex-only": compile_matchers(['alertname=~"Novu.*"']),
    }
    index = MatcherIndex.build(signals.items())
    assert index.by_label == {("novu_integration", "sendgrid-main"): ("by-integration",)}
    assert index.always == ("empty-value", "regex-only")
    assert index.candidates({"novu_integration": "ses"}) == ["empty-value", "regex-only"]
    assert index.candidates({"novu_integration": "sendgrid-main"}) == [
        "by-integration",
        "empty-value",
        "regex-only",
    ]
