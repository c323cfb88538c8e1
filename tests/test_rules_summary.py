"""The summary `check` prints: what the rules set up, and warnings that never show a secret."""

from __future__ import annotations

from pathlib import Path

from daemon.rules.loader import load_rules, parse_rules
from daemon.rules.summary import OFFLINE_NOTE, summarize

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rules.yaml"
ALL_SET = {
    "NOVU_API_KEY": "nv-key-distinctive-7d1c",
    "SENDGRID_API_KEY": "SG.distinctive-secret-91ab",
    "MAILGUN_BASIC_AUTH": "bWc6ZGlzdGluY3RpdmU=",
    "TWILIO_ACCOUNT_SID": "AC-distinctive-sid",
    "TWILIO_BASIC_AUTH": "dHc6ZGlzdGluY3RpdmU=",
}


def _summary(environ: dict[str, str], *, force_dry_run: bool = False) -> str:
    rules = load_rules(EXAMPLE)
    summary = summarize(
        rules, file="rules.yaml", environ=environ, base_dir=ROOT, force_dry_run=force_dry_run
    )
    return summary.render()


def test_summary_lists_environments_channels_candidates_in_order_and_policy() -> None:
    text = _summary(ALL_SET)
    lines = text.splitlines()
    assert lines[0] == "rules.yaml: valid: 1 environment, 2 channels, 5 candidates, 15 signals"
    assert "  production: https://api.novu.co, API key from $NOVU_API_KEY" in lines
    email = lines.index("  production/email")
    assert lines[email + 1].split() == [
        "1.",
        "sendgrid-main",
        "statuspage,",
        "http",
        "(sendgrid-api),",
        "alert,",
        "novu_delivery",
    ]
    assert lines[email + 2].split()[:2] == ["2.", "ses-backup"]
    assert lines[email + 3].split()[:2] == ["3.", "mailgun-backup"]
    assert lines[email + 4] == (
        "    policy: down_when any, confirm 30s, cooldown 10m, brake 3 per 1h, "
        "failback after 15m, startup_grace 2m, dry_run off, allow_erase_conditions off"
    )
    assert "down_when quorum 2" in text
    assert "failback off" in text


def test_with_every_secret_present_only_the_notes_remain_and_no_value_shows() -> None:
    """What stays: each canary is a real message (said plainly), and the offline note."""
    text = _summary(ALL_SET)
    canary = (
        "production/email ses-backup signal canary: sends a real message to "
        "canary@sink.example.com every 15m (up to 96 a day; budget 100)"
    )
    assert text.endswith(f"warnings (2):\n  - {canary}\n  - {OFFLINE_NOTE}")
    for value in ALL_SET.values():
        assert value not in text


def test_missing_secrets_are_warnings_naming_the_variable() -> None:
    environ = {k: v for k, v in ALL_SET.items() if k not in ("NOVU_API_KEY", "SENDGRID_API_KEY")}
    environ["TWILIO_BASIC_AUTH"] = ""
    text = _summary(environ)
    assert "environment production: environment variable NOVU_API_KEY is not set" in text
    assert (
        "production/email sendgrid-main signal sendgrid-api: ${SENDGRID_API_KEY} is not set" in text
    )
    assert (
        "production/sms twilio-main signal twilio-api: ${TWILIO_BASIC_AUTH} is set but empty"
        in (text)
    )
    for value in environ.values():
        if value:
            assert value not in text


def test_forced_dry_run_shows_on_every_channel() -> None:
    text = _summary(ALL_SET, force_dry_run=True)
    assert text.count("dry_run on (forced by NOVU_FAILOVER_DRY_RUN)") == 2


def test_unreadable_key_file_is_a_warning_naming_the_file(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("api_key_env: NOVU_API_KEY", "api_key_file: novu.key")
    rules = parse_rules(text, filename="r.yaml", base_dir=tmp_path)
    summary = summarize(rules, file="r.yaml", environ=ALL_SET, base_dir=tmp_path)
    expected = f"environment production: cannot read API key file {tmp_path / 'novu.key'}"
    assert any(w.startswith(expected) for w in summary.warnings)


POLICY_RULES = """\
environments:
  production: {api_url: https://api.novu.co, api_key_env: NOVU_API_KEY}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{alert: {matchers: ['a="b"']}}]
    policy: {cooldown: 10m, failback: {after: 5m}, brake: {max: 3, per: 30m}}
"""


def test_knobs_that_cannot_work_are_warned_about() -> None:
    rules = parse_rules(POLICY_RULES, filename="r.yaml")
    warnings = summarize(
        rules, file="r.yaml", environ={"NOVU_API_KEY": "k"}, base_dir=Path()
    ).warnings
    assert warnings[:3] == (
        "production/email: only one candidate, so there is nothing to fail over to",
        "production/email: failback after 5m is shorter than the cooldown (10m); "
        "failback waits for it",
        "production/email: the brake (3 per 30m) trips only on urgent switches: the 10m "
        "cooldown spaces 4 other switches over at least 30m",
    )


def test_a_brake_that_can_trip_is_not_warned_about() -> None:
    text = POLICY_RULES.replace("per: 30m", "per: 31m")
    rules = parse_rules(text, filename="r.yaml")
    warnings = summarize(rules, file="r.yaml", environ={"NOVU_API_KEY": "k"}, base_dir=Path())
    assert not any("brake" in w for w in warnings.warnings)
