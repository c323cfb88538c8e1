"""`novu-failover check`: exit 0 with a summary, or 2 with every located problem on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rules.yaml"
CORPUS = ROOT / "tests" / "rules_corpus"
EXECUTABLE = Path(sys.executable).parent / "novu-failover"
SECRET = "SG.check-cli-DISTINCTIVE-secret"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("NOVU_FAILOVER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_valid_rules_print_a_summary_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--rules", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("settings: listen 127.0.0.1:9555, state_dir state")
    assert lines[1] == f"{EXAMPLE}: valid: 1 environment, 2 channels, 5 candidates, 15 signals"
    assert "  production/email" in lines
    assert "  production/sms" in lines


def test_positional_rules_file_works_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    assert f"{EXAMPLE}: valid" in capsys.readouterr().out


def test_two_different_rules_files_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE), "--rules", "other.yaml"]) == 2
    assert "two rules files given" in capsys.readouterr().err


def test_secrets_in_the_environment_are_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVU_API_KEY", SECRET + "-novu")
    monkeypatch.setenv("SENDGRID_API_KEY", SECRET)
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", SECRET + "-token")
    assert main(["check", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "NOVU_API_KEY is not set" not in out
    assert "${SENDGRID_API_KEY} is not set" not in out
    assert "api token set" in out


def test_broken_rules_print_every_located_error_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = CORPUS / "timeout_vs_interval.yaml"
    assert main(["check", "--rules", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == (
        f"{path}:3 defaults.timeout: timeout (10s) must be shorter than interval (10s)"
    )
    assert len(lines) == 6
    assert all(line.startswith(f"{path}:") for line in lines[:5])
    assert lines[-1] == "5 errors; nothing was loaded"


def test_rules_path_comes_from_the_environment_then_the_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_RULES", str(EXAMPLE))
    assert main(["check"]) == 0
    assert f"{EXAMPLE}: valid" in capsys.readouterr().out
    monkeypatch.delenv("NOVU_FAILOVER_RULES")
    (tmp_path / "rules.yaml").write_text(EXAMPLE.read_text())
    assert main(["check"]) == 0
    assert "rules.yaml: valid" in capsys.readouterr().out


def test_missing_rules_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--rules", "absent.yaml"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "absent.yaml: cannot read the rules file: No such file or directory",
        "1 error; nothing was loaded",
    ]


def test_bad_settings_are_errors_named_by_variable_even_with_good_rules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_LISTEN", "everywhere")
    monkeypatch.setenv("NOVU_FAILOVER_LOG_FORMAT", "xml")
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", SECRET)
    assert main(["check", str(EXAMPLE)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("settings: NOVU_FAILOVER_LISTEN: must be host:port")
    assert lines[1].startswith("settings: NOVU_FAILOVER_LOG_FORMAT: must be 'json' or 'text'")
    assert lines[2] == "2 errors; nothing was loaded"
    assert SECRET not in err


def test_bad_settings_and_bad_rules_are_reported_together(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_DRY_RUN", "perhaps")
    monkeypatch.setenv("NOVU_FAILOVER_RULES", str(CORPUS / "quorum.yaml"))
    assert main(["check"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("settings: NOVU_FAILOVER_DRY_RUN: must be a valid boolean")
    assert lines[1].startswith(f"{CORPUS / 'quorum.yaml'}:16 channels[0].policy.down_when")
    assert lines[-1] == "3 errors; nothing was loaded"


def test_forced_dry_run_and_typoed_variables_show_in_the_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_DRY_RUN", "1")
    monkeypatch.setenv("NOVU_FAILOVER_STATEDIR", "/tmp/x")
    assert main(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out.count("dry_run on (forced by NOVU_FAILOVER_DRY_RUN)") == 2
    assert (
        "  - NOVU_FAILOVER_STATEDIR is not a setting (did you mean NOVU_FAILOVER_STATE_DIR?)" in out
    )


# --- the installed command, as a user runs it -------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOVU_FAILOVER_")}
    return subprocess.run(
        [str(EXECUTABLE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_installed_command_accepts_the_example_rules() -> None:
    result = _run("check", "rules.yaml")
    assert result.returncode == 0, result.stderr
    assert "rules.yaml: valid: 1 environment, 2 channels" in result.stdout


def test_installed_command_rejects_a_broken_file_with_located_errors() -> None:
    result = _run("check", "tests/rules_corpus/unions.yaml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "tests/rules_corpus/unions.yaml:10 channels[0].policy.down_when: "
        "must be 'any', 'all' or {quorum: ...}; got 'most'",
        "tests/rules_corpus/unions.yaml:11 channels[0].policy.failback: "
        "must be 'off' or {after: ...}; got 'on'",
        "tests/rules_corpus/unions.yaml:18 channels[1].policy.down_when.of: "
        "unknown key 'of' (allowed: quorum)",
        "tests/rules_corpus/unions.yaml:19 channels[1].policy.failback.after: "
        "'15 minutes' is not a duration; write it like 500ms, 30s, 5m, 1h or 1h30m",
        "4 errors; nothing was loaded",
    ]


def test_alert_signals_without_a_token_are_warned_about(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example has alert signals: without a token their webhooks answer 403."""
    assert main(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "alert signal(s) but no API token" in out
    assert "the alert webhooks (Alertmanager, Grafana) are disabled" in out
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", "a-token-for-check")
    assert main(["check", str(EXAMPLE)]) == 0
    assert "alert signal(s) but no API token" not in capsys.readouterr().out


def test_the_client_url_variable_is_not_called_a_typo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_URL", "http://127.0.0.1:9555")
    monkeypatch.setenv("NOVU_FAILOVER_LISTN", "127.0.0.1:1")
    assert main(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "NOVU_FAILOVER_URL" not in out
    assert "NOVU_FAILOVER_LISTN is not a setting (did you mean NOVU_FAILOVER_LISTEN?)" in out
