"""A corpus of broken rules files, each with every problem it must report: line, path, words.

The table is the expectation: a file must report exactly these problems (no more, none
fewer), each at this line and YAML path, with this text in its message. Every file in
tests/rules_corpus/ must have an entry, so a new broken file cannot go untested.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.rules.loader import MAX_RULES_BYTES, RuleProblem, RulesError, load_rules

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
    # Bounds, limits and hostile input (docs/rules.md, "Limits").
    "alias_bomb.yaml": [
        (6, "", "YAML: more than 100000 values (aliases expanded)"),
    ],
    "alias_cycle.yaml": [
        (1, "", "YAML: an alias refers to a value that contains it (a cycle)"),
    ],
    "alias_depth.yaml": [
        (5, "", "YAML: nested deeper than 32 levels (aliases expanded)"),
    ],
    "binary_tag.yaml": [
        (9, "", "YAML: failed to decode base64 data: Invalid base64-encoded string: num"),
    ],
    "brake_bounds.yaml": [
        (10, "channels[0].policy.brake.max", "must be at most 1000; got 1001"),
        (10, "channels[0].policy.brake.per", "must be at most 7d; got '400d'"),
    ],
    "brake_max_float.yaml": [
        (10, "channels[0].policy.brake.max", "must be a whole number; got 2.5"),
    ],
    "brake_per_inf.yaml": [
        (10, "channels[0].policy.brake.per", "a duration must be finite; got inf"),
    ],
    "complex_key.yaml": [
        (1, "", "YAML: found unhashable key (while constructing a mapping)"),
    ],
    "confirm_negative.yaml": [
        (10, "channels[0].policy.confirm", "must be at least 0s; got -1"),
        (10, "channels[0].policy.startup_grace", "must be at most 1d; got '2d'"),
    ],
    "control_escape.yaml": [
        (
            9,
            f"{_SIGNAL}[0].http.body_contains",
            "the value holds a control character (U+001B) at character 3; rules val",
        ),
    ],
    "cooldown_float.yaml": [
        (10, "channels[0].policy.cooldown", "must be at most 7d; got 1e+308"),
    ],
    "cooldown_huge.yaml": [
        (
            10,
            "channels[0].policy.cooldown",
            "must be at most 7d; got '99999999999999999999999999d'",
        ),
    ],
    "cooldown_inf.yaml": [
        (10, "channels[0].policy.cooldown", "a duration must be finite; got inf"),
    ],
    "cooldown_number.yaml": [
        (
            10,
            "channels[0].policy.cooldown",
            "'1e308' is not a duration; write it like 500ms, 30s, 5m, 1h or 1h30m",
        ),
    ],
    "count_bool.yaml": [
        (9, f"{_SIGNAL}[0].http.fall", "must be a whole number; got true"),
    ],
    "count_huge_literal.yaml": [
        (9, "", "YAML: the number 99999999999999999999... has too many digits"),
    ],
    "deep_block.yaml": [
        (33, "", "YAML: nested deeper than 32 levels"),
    ],
    "deep_list.yaml": [
        (1, "", "YAML: nested deeper than 32 levels"),
    ],
    "deep_mapping.yaml": [
        (1, "", "YAML: nested deeper than 32 levels"),
    ],
    "defaults_bounds.yaml": [
        (1, "defaults.interval", "must be at most 1d; got '99999999999999999999999999d'"),
        (1, "defaults.timeout", "a duration must be finite; got nan"),
        (1, "defaults.fall", "must be at least 1; got 0"),
        (1, "defaults.rise", "must be at most 100; got 101"),
    ],
    "duration_exponent.yaml": [
        (
            10,
            "channels[0].policy.confirm",
            "'1e9s' is not a duration; write it like 500ms, 30s, 5m, 1h or 1h30m",
        ),
    ],
    "duration_text_too_long.yaml": [
        (
            10,
            "channels[0].policy.confirm",
            "'9999999999999999999999999999999999999...' is not a duration: longer t",
        ),
    ],
    "expect_codes.yaml": [
        (9, f"{_SIGNAL}[0].http.expect[0]", "must be at most 599; got 999"),
        (9, f"{_SIGNAL}[0].http.expect[1]", "must be at least 100; got -1"),
    ],
    "expect_empty.yaml": [
        (9, f"{_SIGNAL}[0].http.expect", "must not be empty"),
    ],
    "expect_too_many.yaml": [
        (9, f"{_SIGNAL}[0].http.expect", "must have at most 50 items; got a list"),
    ],
    "failback_after_huge.yaml": [
        (10, "channels[0].policy.failback.after", "must be at most 7d; got '30d'"),
    ],
    "failback_after_inf.yaml": [
        (10, "channels[0].policy.failback.after", "a duration must be finite; got inf"),
    ],
    "failure_rates.yaml": [
        (9, f"{_SIGNAL}[0].novu_delivery.max_failure_rate", "must be a finite number; got nan"),
        (10, f"{_SIGNAL}[1].http.failure_rate.window", "a duration must be finite; got inf"),
        (10, f"{_SIGNAL}[1].http.failure_rate.min_samples", "must be at least 1; got 0"),
        (10, f"{_SIGNAL}[1].http.failure_rate.max", "must be at most 1.0; got 1.5"),
    ],
    "fall_float_huge.yaml": [
        (9, f"{_SIGNAL}[0].http.fall", "must be a whole number; got '1e38'"),
    ],
    "header_injection.yaml": [
        (11, f"{_SIGNAL}[0].http.headers", "the value of header 'X-Token' must be one line"),
    ],
    "header_name.yaml": [
        (
            11,
            f"{_SIGNAL}[0].http.headers",
            "header name 'Bad Name' must be letters, digits and -_ (no spaces)",
        ),
    ],
    "interval_inf.yaml": [
        (1, "defaults.interval", "a duration must be finite; got inf"),
    ],
    "interval_nan.yaml": [
        (9, f"{_SIGNAL}[0].http.interval", "a duration must be finite; got nan"),
    ],
    "interval_tiny.yaml": [
        (9, f"{_SIGNAL}[0].http.interval", "must be at least 10ms; got '1ms'"),
        (
            9,
            f"{_SIGNAL}[0].http.timeout",
            "'500us' is not a duration; write it like 500ms, 30s, 5m, 1h or 1h30m",
        ),
    ],
    "interval_too_long.yaml": [
        (9, f"{_SIGNAL}[0].http.interval", "must be at most 1d; got '2d'"),
    ],
    "lone_surrogate.yaml": [
        (
            9,
            f"{_SIGNAL}[0].http.url",
            "the value holds a lone surrogate (U+D800) at character 26; rules value",
        ),
    ],
    "lone_surrogate_key.yaml": [
        (
            9,
            f"{_SIGNAL}[0].http",
            "the key holds a lone surrogate (U+DFFF) at character 2; rules values m",
        ),
    ],
    "long_key.yaml": [
        (9, f"{_SIGNAL}[0].http.headers", "a key of 9000 characters; at most 8192 are allowed"),
    ],
    "long_scalar.yaml": [
        (9, f"{_SIGNAL}[0].http.url", "a value of 9025 characters; at most 8192 are allowed"),
    ],
    "min_messages_huge.yaml": [
        (9, f"{_SIGNAL}[0].novu_delivery.min_messages", "must be at most 10000; got 1000000"),
    ],
    "non_utf8.yaml": [
        (7, "", "the file is not UTF-8 text (byte 0xff at offset 190)"),
    ],
    "nul_byte.yaml": [
        (9, "", "the file contains a NUL byte, which YAML does not allow (write it as a"),
    ],
    "nul_escape.yaml": [
        (
            2,
            "environments.production.api_key_file",
            "the value holds a control character (U+0000) at character 4; rules val",
        ),
    ],
    "null_key.yaml": [
        (9, f"{_SIGNAL}[0].http", "keys here must be text; got nothing (null)"),
    ],
    "quorum_huge.yaml": [
        (10, "channels[0].policy.down_when.quorum", "must be at most 100; got 1000"),
        (
            10,
            "channels[0].policy.down_when.quorum",
            "quorum 1000 needs at least 1000 signals on every candidate; sendgrid-m",
        ),
    ],
    "rise_huge_int.yaml": [
        (9, f"{_SIGNAL}[0].http.rise", "must be at most 100; got 99999999999999999999999"),
    ],
    "threshold_inf.yaml": [
        (9, f"{_SIGNAL}[0].prometheus.threshold", "must be a finite number; got -inf"),
    ],
    "threshold_nan.yaml": [
        (9, f"{_SIGNAL}[0].prometheus.threshold", "must be a finite number; got nan"),
    ],
    "threshold_text.yaml": [
        (9, f"{_SIGNAL}[0].prometheus.threshold", "must be a number; got 'high'"),
    ],
    "timeout_too_long.yaml": [
        (9, f"{_SIGNAL}[0].http.timeout", "must be at most 10m; got '1h'"),
        (9, f"{_SIGNAL}[0].http.max_latency", "must be at most 10m; got '1d'"),
    ],
    "top_level_scalar.yaml": [
        (1, "", "the top level must be a mapping with environments and channels; got th"),
    ],
    "two_documents.yaml": [
        (2, "", "YAML syntax: but found another document (expected a single document in"),
    ],
    "undefined_alias.yaml": [
        (9, "", "YAML syntax: found undefined alias 'probe'"),
    ],
    "url_password.yaml": [
        (
            9,
            f"{_SIGNAL}[0].http.url",
            "must be an http:// or https:// URL; got 'ftp://admin:***@files.example",
        ),
    ],
    "window_zero.yaml": [
        (9, f"{_SIGNAL}[0].novu_delivery.window", "must be more than 0s; got '0s'"),
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
    assert len(files) >= 60


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


def _expected_lines(path: Path, expected: Expected) -> list[tuple[str, str]]:
    """(the `file:line path` head, a piece of the message) of each expected problem."""
    heads = []
    for line, where, words in expected:
        head = str(path) if line is None else f"{path}:{line}"
        heads.append((f"{head} {where}: " if where else f"{head}: ", words))
    return heads


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda name: name.removesuffix(".yaml"))
def test_check_exits_2_with_each_located_problem_and_no_traceback(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [v for v in os.environ if v.startswith("NOVU_FAILOVER_")]:
        monkeypatch.delenv(variable)
    path = CORPUS / name
    assert main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    for head, words in _expected_lines(path, EXPECTED[name]):
        assert any(line.startswith(head) and words in line for line in lines), (head, err)
    assert lines[-1].endswith("; nothing was loaded")
    assert len(lines) == len(EXPECTED[name]) + 1


@pytest.mark.parametrize("name", ["deep_list.yaml", "nul_byte.yaml", "non_utf8.yaml"])
def test_the_installed_command_prints_no_traceback_either(name: str) -> None:
    """The real process, where an escaped RecursionError or ReaderError would show."""
    path = CORPUS / name
    executable = Path(sys.executable).parent / "novu-failover"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NOVU_FAILOVER_")}
    done = subprocess.run(
        [str(executable), "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=environ,
        timeout=30,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    line, where, words = EXPECTED[name][0]
    assert f"{path}:{line} {where}".rstrip() + ":" in done.stderr
    assert words in done.stderr


def test_a_huge_file_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    """100 MB (sparse: nothing is written) is refused from its size, not parsed."""
    path = tmp_path / "rules.yaml"
    with path.open("wb") as file:
        file.truncate(100 * 1024 * 1024)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    (problem,) = caught.value.errors
    assert problem.line is None
    assert problem.message == "the file is larger than 8 MiB"


def test_a_file_of_exactly_the_limit_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"#" * (MAX_RULES_BYTES - 1) + b"\n")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert [p.message for p in caught.value.errors] == [
        "the file is empty; it needs environments and channels"
    ]
