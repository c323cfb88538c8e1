"""A corpus of broken rules files, each with every problem it must report: line, path, words.

The table is the expectation: a file must report exactly these problems (no more, none
fewer), each at this line and YAML path, with this text in its message. Every file in
tests/rules_corpus/ must have an entry, so a new broken file cannot go untested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.rules.loader import RuleProblem, RulesError, load_rules

CORPUS = Path(__file__).parent / "rules_corpus"

Expected = list[tuple[int | None, str, str]]  # (line, path, substring of the message)

_SIGNAL = "channels[0].candidates[0].signals"

EXPECTED: dict[str, Expected] = {
    "syntax_error.yaml": [
        (9, "", "YAML syntax: expected ',' or '}'"),
    ],
    "tab_indent.yaml": [
        (3, "", "YAML indents with spaces, not tabs"),
    ],
    "empty.yaml": [
        (None, "", "the file is empty"),
    ],
    "top_level_list.yaml": [
        (2, "", "the top level must be a mapping with environments and channels; got a list"),
    ],
    "custom_tag.yaml": [
        (4, "", "could not determine a constructor for the tag"),
    ],
    "duplicate_keys.yaml": [
        (5, "environments.production.api_url", "duplicate key 'api_url' (first at line 3)"),
        (15, "channels[0].policy.cooldown", "duplicate key 'cooldown' (first at line 14)"),
        (16, "channels", "duplicate key 'channels' (first at line 6)"),
        # YAML kept the last `channels: []`, and says so through the schema too.
        (16, "channels", "define at least one channel"),
    ],
    "unknown_keys.yaml": [
        (1, "defaults.timout", "unknown key 'timout' (did you mean 'timeout'? allowed: "),
        (3, "environments.production", "give exactly one of api_key_env or api_key_file"),
        (5, "environments.production.api_key", "did you mean 'api_key_env'?"),
        (14, f"{_SIGNAL}[0].http.tmeout", "unknown key 'tmeout' (did you mean 'timeout'?"),
        (
            15,
            f"{_SIGNAL}[1].smtp",
            "allowed: http, statuspage, novu_delivery, prometheus, alert, canary",
        ),
        (17, "channels[0].policy.cooldwn", "unknown key 'cooldwn' (did you mean 'cooldown'?"),
        (
            18,
            "verbose",
            "unknown key 'verbose' (allowed: defaults, environments, channels, "
            "failure_classes, alertmanagers)",
        ),
    ],
    "missing_keys.yaml": [
        (2, "environments.production", "missing required key 'api_url'"),
        (8, "channels[0].candidates[0]", "missing required key 'signals'"),
        (
            11,
            "channels[0].candidates[1].signals[0].statuspage",
            "missing required key 'components'",
        ),
        (13, "channels[0].policy.failback", "missing required key 'after'"),
        (14, "channels[1]", "missing required key 'environment'"),
        (16, "channels[1].candidates[0]", "missing required key 'integration'"),
        (
            17,
            "channels[1].candidates[0].signals[0].prometheus",
            "missing required key 'threshold'",
        ),
    ],
    "channel_not_primary.yaml": [
        (5, "channels[0].channel", "only email and sms have a primary in Novu; got 'push'"),
        (10, "channels[1].channel", "only email and sms have a primary in Novu; got 'in_app'"),
    ],
    "timeout_vs_interval.yaml": [
        (3, "defaults.timeout", "timeout (10s) must be shorter than interval (10s)"),
        # Signals are judged against the file's own defaults, even invalid as a pair.
        (14, f"{_SIGNAL}[0].http.timeout", "timeout (40s) must be shorter than interval (10s)"),
        # Reported even though the same signal has another error (pydantic skips it then).
        (17, f"{_SIGNAL}[1].http.timeout", "timeout (45s) must be shorter than interval (10s)"),
        (18, f"{_SIGNAL}[1].http.retries", "unknown key 'retries'"),
        # Only the interval is the signal's own: that is where the problem is shown.
        (
            22,
            f"{_SIGNAL}[2].statuspage.interval",
            "timeout (10s) must be shorter than interval (3s)",
        ),
    ],
    "undefined_environment.yaml": [
        (
            5,
            "channels[0].environment",
            "environment 'prod' is not defined in environments (defined: production, staging)",
        ),
    ],
    "duplicates.yaml": [
        (
            9,
            "channels[0].candidates[1].integration",
            "integration 'sendgrid-main' is already candidates[0] of this channel",
        ),
        (
            14,
            "channels[1].candidates[0].integration",
            "is also a candidate of production/email (channels[0])",
        ),
        (17, "channels[2].channel", "production/email is already defined at channels[0] (line 4)"),
    ],
    "signal_entries.yaml": [
        (10, f"{_SIGNAL}[1].statuspage.name", "signal id 'probe' is already used by signals[0]"),
        (11, f"{_SIGNAL}[2]", "'http' has no settings"),
        (12, f"{_SIGNAL}[3]", "a signal has exactly one of: http, statuspage"),
        (14, f"{_SIGNAL}[4].smtp", "unknown key 'smtp'"),
        (15, f"{_SIGNAL}[5]", "each signal is a mapping with one kind key"),
        (
            19,
            "channels[0].candidates[1].signals[1].novu_delivery.name",
            "signal id 'alert' is already used by signals[0]",
        ),
    ],
    "quorum.yaml": [
        (
            16,
            "channels[0].policy.down_when.quorum",
            "quorum 3 needs at least 3 signals on every candidate; ses-backup has 1",
        ),
        (23, "channels[1].policy.down_when.quorum", "must be at least 1; got 0"),
    ],
    "bad_values.yaml": [
        (11, f"{_SIGNAL}[0].http.method", "must be 'GET', 'HEAD' or 'POST'; got 'PUT'"),
        (12, f"{_SIGNAL}[0].http.expect[1]", "must be a whole number; got 'ok'"),
        (13, f"{_SIGNAL}[0].http.max_latency", "'soon' is not a duration"),
        (14, f"{_SIGNAL}[0].http.fall", "must be at least 1; got 0"),
        (15, f"{_SIGNAL}[0].http.rise", "must be a whole number; got 1.5"),
        (19, f"{_SIGNAL}[1].statuspage.unhealthy[0]", "'major_outage' or 'under_maintenance'"),
        (20, f"{_SIGNAL}[2].novu_delivery.timeout", "not a boolean"),
        (20, f"{_SIGNAL}[2].novu_delivery.min_messages", "must be a whole number; got 'many'"),
        (20, f"{_SIGNAL}[2].novu_delivery.max_failure_rate", "must be at most 1"),
        (22, "channels[0].policy.cooldown", "must be at least 0s; got -5"),
        (23, "channels[0].policy.confirm", "'5x' is not a duration"),
        (24, "channels[0].policy.dry_run", "must be true or false; got 'maybe'"),
        (25, "channels[0].policy.brake.max", "must be at least 1; got 0"),
        (25, "channels[0].policy.brake.per", "must be more than 0s; got '0s'"),
    ],
    "unions.yaml": [
        (10, "channels[0].policy.down_when", "must be 'any', 'all' or {quorum: ...}; got 'most'"),
        (11, "channels[0].policy.failback", "must be 'off' or {after: ...}; got 'on'"),
        (18, "channels[1].policy.down_when.of", "unknown key 'of' (allowed: quorum)"),
        (19, "channels[1].policy.failback.after", "'15 minutes' is not a duration"),
    ],
    "environments.yaml": [
        (2, "environments['prod/eu']", "an environment name is 1 to 64 letters"),
        (5, "environments.production", "give exactly one of api_key_env or api_key_file"),
        (6, "environments.production.api_url", "must be an http:// or https:// URL"),
        (9, "environments.production.environment_id", "24-hex-digit environment id"),
        (12, "environments.staging.api_key_env", "must be an environment variable name"),
        (13, "environments.development", "give exactly one of api_key_env or api_key_file"),
    ],
    "placeholders.yaml": [
        (10, f"{_SIGNAL}[0].http.url", "malformed placeholder at character 29"),
        (12, f"{_SIGNAL}[0].http.headers.Authorization", "malformed placeholder at character 8"),
        (15, f"{_SIGNAL}[1].prometheus.url", "malformed placeholder at character 26"),
    ],
    "wrong_shapes.yaml": [
        (1, "defaults", "must be a mapping (key: value); got '30s'"),
        (2, "environments", "must be a mapping (key: value); got a list"),
        (4, "channels", "must be a list; got a mapping"),
    ],
    "matchers.yaml": [
        (9, f"{_SIGNAL}[0].alert.matchers", "is not a matcher; write it like"),
        (10, f"{_SIGNAL}[1].alert.matchers", "bad regular expression"),
        (11, f"{_SIGNAL}[2].alert.matchers", "must not be empty"),
    ],
    "empty_lists.yaml": [
        (1, "environments", "define at least one environment"),
        (3, "channels[0].environment", "environment 'production' is not defined"),
        (5, "channels[0].candidates", "list at least one candidate integration"),
        (6, "channels[1].environment", "environment 'production' is not defined"),
        (10, "channels[1].candidates[0].signals", "give the candidate at least one signal"),
    ],
}


def _unmatched(problems: list[RuleProblem], expected: Expected) -> tuple[list[str], list[str]]:
    """(expected entries nobody reported, reported problems nobody expected)."""
    left = list(problems)
    missing: list[str] = []
    for line, path, words in expected:
        match = next(
            (p for p in left if p.line == line and p.path == path and words in p.message), None
        )
        if match is None:
            missing.append(f"{line} {path}: ...{words}...")
        else:
            left.remove(match)
    return missing, [f"{p.line} {p.path}: {p.message}" for p in left]


def test_every_corpus_file_has_expectations() -> None:
    files = {path.name for path in CORPUS.glob("*.yaml")}
    assert files == set(EXPECTED)
    assert len(files) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda name: name.removesuffix(".yaml"))
def test_broken_file_reports_every_problem_where_it_is(name: str) -> None:
    path = CORPUS / name
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    problems = caught.value.errors
    missing, unexpected = _unmatched(problems, EXPECTED[name])
    assert missing == [], f"not reported: {missing}; reported instead: {unexpected}"
    assert unexpected == []
    assert all(problem.file == str(path) for problem in problems)
    lines = [problem.line or 0 for problem in problems]
    assert lines == sorted(lines), "problems come in file order"
