"""The rules loader: the example rules.yaml loads as written; problems are located exactly."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.rules.loader import RuleProblem, RulesError, load_rules, parse_rules
from daemon.rules.model import Failback, HttpSignal, Quorum, Rules, StatuspageSignal
from daemon.rules.source import format_path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rules.yaml"

MINIMAL = """\
environments:
  production: {api_url: https://api.novu.co, api_key_env: NOVU_API_KEY}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals:
"""


def _rules(signals: str, *, head: str = "", tail: str = "") -> str:
    """MINIMAL with `signals` (indented under `signals:`), `head` before it, `tail` after."""
    body = textwrap.indent(textwrap.dedent(signals), " " * 10)
    return head + MINIMAL + body + tail


def _problems(text: str) -> list[RuleProblem]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, filename="rules.yaml")
    return caught.value.errors


# --- the example file -------------------------------------------------------------------


def test_example_rules_load_with_every_channel_in_order() -> None:
    rules = load_rules(EXAMPLE)
    assert list(rules.environments) == ["production"]
    production = rules.environments["production"]
    assert production.api_url == "https://api.novu.co"
    assert production.api_key_env == "NOVU_API_KEY"
    assert [rule.key for rule in rules.channels] == ["production/email", "production/sms"]
    email = rules.channels[0]
    assert [c.integration for c in email.candidates] == [
        "sendgrid-main",
        "ses-backup",
        "mailgun-backup",
    ]
    kinds = [entry.kind for entry in email.candidates[0].signals]
    assert kinds == ["statuspage", "http", "alert", "novu_delivery"]
    assert [c.integration for c in rules.channels[1].candidates] == [
        "twilio-main",
        "vonage-backup",
    ]


def test_example_policy_knobs_are_read_as_written() -> None:
    email, sms = load_rules(EXAMPLE).channels
    assert email.policy.down_when == "any"
    assert email.policy.confirm == 30
    assert email.policy.cooldown == 600
    assert (email.policy.brake.max, email.policy.brake.per) == (3, 3600)
    assert email.policy.failback == Failback(after=900)
    assert email.policy.startup_grace == 120
    assert email.policy.dry_run is False
    assert email.policy.allow_erase_conditions is False
    assert sms.policy.down_when == Quorum(quorum=2)
    # YAML 1.1 would read `off` as False; the loader keeps the word the schema expects.
    assert sms.policy.failback == "off"


def test_example_signals_inherit_defaults_unless_they_set_their_own() -> None:
    sendgrid = load_rules(EXAMPLE).channels[0].candidates[0]
    statuspage = sendgrid.signals[0].spec
    http = sendgrid.signals[1].spec
    assert isinstance(statuspage, StatuspageSignal)
    assert isinstance(http, HttpSignal)
    assert (statuspage.interval, statuspage.timeout, statuspage.fall) == (60, 5, 3)
    assert (http.interval, http.timeout, http.fall, http.rise) == (30, 5, 3, 2)
    assert http.headers == {"Authorization": "Bearer ${SENDGRID_API_KEY}"}
    assert http.max_latency == 2


def test_loading_equals_validating_the_same_data_with_defaults_in_context() -> None:
    text = EXAMPLE.read_text()
    data = yaml.safe_load(text.replace("failback: off", "failback: 'off'"))
    expected = Rules.model_validate(data, context={"defaults": Rules.model_validate(data).defaults})
    assert parse_rules(text, filename="rules.yaml") == expected


# --- defaults ---------------------------------------------------------------------------


def test_signal_timing_falls_back_to_the_files_defaults() -> None:
    text = _rules(
        "- alert: {matchers: ['a=\"b\"']}\n",
        head="defaults: {interval: 2m, timeout: 10s, fall: 5, rise: 4}\n",
    )
    spec = parse_rules(text, filename="r.yaml").channels[0].candidates[0].signals[0].spec
    assert (spec.interval, spec.timeout, spec.fall, spec.rise) == (120, 10, 5, 4)


# --- the error format -------------------------------------------------------------------


def test_problem_reads_file_line_path_message() -> None:
    problem = RuleProblem(
        "rules.yaml",
        14,
        "channels[0].candidates[1].signals[0].http.timeout",
        "timeout (40s) must be shorter than interval (30s)",
    )
    assert str(problem) == (
        "rules.yaml:14 channels[0].candidates[1].signals[0].http.timeout: "
        "timeout (40s) must be shorter than interval (30s)"
    )
    assert str(RuleProblem("rules.yaml", 3, "", "YAML syntax: x")) == "rules.yaml:3: YAML syntax: x"
    assert str(RuleProblem("rules.yaml", None, "", "empty")) == "rules.yaml: empty"


def test_timeout_error_matches_the_documented_example_exactly() -> None:
    text = MINIMAL + textwrap.indent(
        textwrap.dedent(
            """\
                - alert: {matchers: ['a="b"']}
            - integration: ses-backup
              signals:
                - http:
                    url: https://email.us-east-1.amazonaws.com
                    timeout: 40s
            """
        ),
        " " * 6,
    )
    (problem,) = _problems(text)
    assert str(problem) == (
        "rules.yaml:14 channels[0].candidates[1].signals[0].http.timeout: "
        "timeout (40s) must be shorter than interval (30s)"
    )


def test_rules_error_message_counts_and_lists_every_problem() -> None:
    text = _rules("- http: {url: ftp://x, tmeout: 1}\n")
    with pytest.raises(RulesError) as caught:
        parse_rules(text, filename="r.yaml")
    message = str(caught.value)
    assert message.startswith("2 errors in rules:\n")
    assert "r.yaml:9 channels[0].candidates[0].signals[0].http.url: " in message
    assert "r.yaml:9 channels[0].candidates[0].signals[0].http.tmeout: unknown key" in message


def test_several_documents_in_one_file_are_a_located_error() -> None:
    (problem,) = _problems(MINIMAL + "          - alert: {matchers: ['a=\"b\"']}\n---\nx: 1\n")
    assert problem.line == 10
    assert "expected a single document" in problem.message


def test_unreadable_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path / "absent.yaml")
    (problem,) = caught.value.errors
    assert problem.line is None
    assert problem.message == "cannot read the rules file: No such file or directory"
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RulesError, match="not UTF-8 text"):
        load_rules(tmp_path / "binary.yaml")


def test_header_values_are_never_echoed_in_errors() -> None:
    text = _rules("- http: {url: https://x, headers: {Authorization: [sk-live-0123456789]}}\n")
    (problem,) = _problems(text)
    assert problem.path.endswith("http.headers.Authorization")
    assert "sk-live-0123456789" not in str(problem)


# --- YAML details -----------------------------------------------------------------------


def test_yaml_1_1_words_and_dates_stay_strings() -> None:
    text = _rules("- statuspage: {url: https://s, components: [no, on, 2024-05-14]}\n")
    spec = parse_rules(text, filename="r.yaml").channels[0].candidates[0].signals[0].spec
    assert isinstance(spec, StatuspageSignal)
    assert spec.components == ["no", "on", "2024-05-14"]


def test_merge_keys_load_and_are_not_duplicates_and_errors_point_into_them() -> None:
    signals = """\
        - http: &probe {url: https://a.example, interval: 1m}
        - http: {<<: *probe, url: https://b.example, name: second}
        - http: {<<: *probe, name: third, tmeout: 1s}
        """
    problems = _problems(_rules(signals))
    assert [(p.line, p.path) for p in problems] == [
        (11, "channels[0].candidates[0].signals[2].http.tmeout")
    ]
    fixed = parse_rules(_rules(signals.replace(", tmeout: 1s", "")), filename="r.yaml")
    second = fixed.channels[0].candidates[0].signals[1].spec
    assert isinstance(second, HttpSignal)
    assert (second.url, second.interval) == ("https://b.example", 60)


def test_all_problems_are_reported_together_across_layers() -> None:
    """A duplicate key, a schema error and a cross-field error come out of one call."""
    text = _rules(
        "- http: {url: https://x, url: https://y, method: PUT}\n",
        tail="  - environment: staging\n    channel: sms\n"
        "    candidates: [{integration: t, signals: [{alert: {matchers: ['a=\"b\"']}}]}]\n",
    )
    problems = _problems(text)
    assert [(p.line, p.path) for p in problems] == [
        (9, "channels[0].candidates[0].signals[0].http.url"),
        (9, "channels[0].candidates[0].signals[0].http.method"),
        (10, "channels[1].environment"),
    ]


# --- api_key_file -----------------------------------------------------------------------


def _with_key_file(key_file: str) -> str:
    return MINIMAL.replace("api_key_env: NOVU_API_KEY", f"api_key_file: {key_file}") + (
        "          - alert: {matchers: ['a=\"b\"']}\n"
    )


def test_relative_key_file_resolves_against_the_rules_folder(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "rules.yaml"
    path.parent.mkdir()
    path.write_text(_with_key_file("keys/novu.key"))
    env = load_rules(path).environments["production"]
    assert env.api_key_file == tmp_path / "conf" / "keys" / "novu.key"


def test_absolute_key_file_is_kept_and_parse_without_base_dir_keeps_relative(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(_with_key_file("/run/secrets/novu"))
    assert load_rules(path).environments["production"].api_key_file == Path("/run/secrets/novu")
    parsed = parse_rules(_with_key_file("keys/novu.key"), filename="r.yaml")
    assert parsed.environments["production"].api_key_file == Path("keys/novu.key")


# --- every mapping rejects an unknown key, located at that key --------------------------


def _model_mappings(data: Any, parts: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of every mapping in the example that the schema closes (not headers/env names)."""
    found: list[tuple[str | int, ...]] = []
    if isinstance(data, dict):
        if parts and parts[-1] == "headers":
            return found
        if parts != ("environments",):
            found.append(parts)
        for key, value in data.items():
            found.extend(_model_mappings(value, (*parts, key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(_model_mappings(item, (*parts, index)))
    return found


def _example_data() -> Any:
    return yaml.safe_load(EXAMPLE.read_text().replace("failback: off", "failback: 'off'"))


@pytest.mark.parametrize("parts", _model_mappings(_example_data()), ids=format_path)
def test_an_unknown_key_anywhere_is_one_problem_at_its_own_line(
    parts: tuple[str | int, ...],
) -> None:
    data = _example_data()
    target = data
    for part in parts:
        target = target[part]
    target["zz_unknown"] = 1
    text = yaml.safe_dump(data, sort_keys=False, width=1000)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "zz_unknown" in row)
    (problem,) = _problems(text)
    assert (problem.line, problem.path) == (line, format_path((*parts, "zz_unknown")))
    assert problem.message.startswith("unknown key 'zz_unknown' (allowed: ")


# --- robustness: any replaced value gives Rules or located problems, never a crash -------


def _all_paths(data: Any, parts: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [parts] if parts else []
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_all_paths(value, (*parts, key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(_all_paths(item, (*parts, index)))
    return found


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["30s", "off", "any", "email", "push", "${X}", "${", "http://x"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_replaced_value_gives_rules_or_located_problems(data: st.DataObject) -> None:
    document = _example_data()
    parts = data.draw(st.sampled_from(_all_paths(document)), label="path")
    target = document
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = data.draw(_VALUES, label="value")
    text = yaml.safe_dump(document, sort_keys=False, width=1000)
    problems: list[RuleProblem] = []
    try:
        parse_rules(text, filename="rules.yaml")
    except RulesError as exc:
        problems = exc.errors
        assert problems
    for problem in problems:
        assert problem.line is not None
        assert 1 <= problem.line <= len(text.splitlines())
        assert problem.message


# --- alertmanagers: the alert signals' source of truth ---------------------------------

AM_SIGNAL = "- alert: {matchers: ['novu_integration=\"sendgrid-main\"']}\n"


def test_alertmanagers_load_with_their_defaults() -> None:
    tail = "alertmanagers:\n  servers:\n    - url: http://am-0:9093\n    - url: http://am-1:9093\n"
    rules = parse_rules(_rules(AM_SIGNAL, tail=tail), filename="rules.yaml")
    assert rules.alertmanagers is not None
    assert [s.url for s in rules.alertmanagers.servers] == ["http://am-0:9093", "http://am-1:9093"]
    assert (rules.alertmanagers.interval, rules.alertmanagers.timeout) == (30.0, 5.0)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        pytest.param(
            "alertmanagers:\n  servers:\n    - url: ftp://am\n",
            "rules.yaml:12 alertmanagers.servers[0].url: must be an http:// or https:// URL",
            id="bad-url",
        ),
        pytest.param(
            "alertmanagers:\n  servers:\n    - {url: http://am, header: {}}\n",
            "rules.yaml:12 alertmanagers.servers[0].header: unknown key 'header'",
            id="unknown-key",
        ),
        pytest.param(
            "alertmanagers:\n  servers:\n    - url: http://am\n    - url: http://am/\n",
            "rules.yaml:11 alertmanagers.servers: each Alertmanager is listed once",
            id="twice",
        ),
        pytest.param(
            "alertmanagers:\n  interval: 5s\n  timeout: 5s\n  servers: [{url: http://am}]\n",
            "rules.yaml:10 alertmanagers: timeout (5s) must be less than the interval (5s)",
            id="timeout",
        ),
        pytest.param(
            "alertmanagers:\n  servers: []\n",
            "rules.yaml:11 alertmanagers.servers:",
            id="empty",
        ),
    ],
)
def test_alertmanagers_problems_are_located(tail: str, expected: str) -> None:
    (problem,) = _problems(_rules(AM_SIGNAL, tail=tail))
    assert str(problem).startswith(expected), str(problem)
