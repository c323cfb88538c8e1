"""Settings from NOVU_FAILOVER_* variables and files; every bad one named, no token echoed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.settings import Settings, SettingsError, load_settings, split_listen, unknown_variables

TOKEN = "tok-5e1f-DISTINCTIVE-token"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NOVU_FAILOVER_* from the surrounding shell, and no stray .env in the cwd."""
    for name in list(os.environ):
        if name.upper().startswith("NOVU_FAILOVER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.rules == Path("rules.yaml")
    assert settings.listen_address == ("127.0.0.1", 9555)
    assert settings.state_dir == Path("state")
    assert settings.api_token is None
    assert (settings.log_format, settings.log_level) == ("text", "INFO")
    assert settings.dry_run is False
    assert (settings.action_timeout, settings.shutdown_timeout, settings.reload_poll) == (
        30.0,
        10.0,
        2.0,
    )


def test_every_setting_comes_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "RULES": "/etc/novu-failover/rules.yaml",
        "LISTEN": "0.0.0.0:8080",
        "STATE_DIR": "/var/lib/novu-failover",
        "API_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug",
        "DRY_RUN": "true",
        "ACTION_TIMEOUT": "45",
        "SHUTDOWN_TIMEOUT": "1m",
        "RELOAD_POLL": "500ms",
    }.items():
        monkeypatch.setenv(f"NOVU_FAILOVER_{name}", value)
    settings = load_settings()
    assert settings.rules == Path("/etc/novu-failover/rules.yaml")
    assert settings.listen_address == ("0.0.0.0", 8080)
    assert settings.state_dir == Path("/var/lib/novu-failover")
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == TOKEN
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert settings.dry_run is True
    assert (settings.action_timeout, settings.shutdown_timeout, settings.reload_poll) == (
        45.0,
        60.0,
        0.5,
    )
    assert TOKEN not in repr(settings)


def test_variable_names_are_case_insensitive_and_warn_is_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("novu_failover_log_level", "Warn")
    assert load_settings().log_level == "WARNING"


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_RULES", "from-env.yaml")
    monkeypatch.setenv("NOVU_FAILOVER_LISTEN", "127.0.0.1:1")
    settings = load_settings(rules=Path("given.yaml"))
    assert settings.rules == Path("given.yaml")
    assert settings.listen == "127.0.0.1:1"


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("127.0.0.1:9555", ("127.0.0.1", 9555)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:9555", ("::1", 9555)),
        ("[::]:80", ("::", 80)),
        (" 0.0.0.0:65535 ", ("0.0.0.0", 65535)),
    ],
)
def test_listen_forms(listen: str, address: tuple[str, int]) -> None:
    assert split_listen(listen) == address


@pytest.mark.parametrize(
    ("listen", "words"),
    [
        ("9555", "must be host:port"),
        (":9555", "must be host:port"),
        ("host:", "must be host:port"),
        ("::1:9555", "an IPv6 host goes in brackets"),
        ("[nope]:80", "is not an IPv6 address"),
        ("host:70000", "is not a number from 0 to 65535"),
        ("host:http", "is not a number from 0 to 65535"),
    ],
)
def test_bad_listen_is_refused_with_a_reason(listen: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        split_listen(listen)


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_LISTEN", "nowhere")
    monkeypatch.setenv("NOVU_FAILOVER_LOG_FORMAT", "xml")
    monkeypatch.setenv("NOVU_FAILOVER_LOG_LEVEL", "loud")
    monkeypatch.setenv("NOVU_FAILOVER_DRY_RUN", "perhaps")
    monkeypatch.setenv("NOVU_FAILOVER_ACTION_TIMEOUT", "0")
    monkeypatch.setenv("NOVU_FAILOVER_RELOAD_POLL", "soon")
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", TOKEN)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    problems = caught.value.problems
    assert [p.split(":", 1)[0] for p in problems] == [
        "NOVU_FAILOVER_LISTEN",
        "NOVU_FAILOVER_LOG_FORMAT",
        "NOVU_FAILOVER_LOG_LEVEL",
        "NOVU_FAILOVER_DRY_RUN",
        "NOVU_FAILOVER_ACTION_TIMEOUT",
        "NOVU_FAILOVER_RELOAD_POLL",
    ]
    assert problems[0] == (
        "NOVU_FAILOVER_LISTEN: must be host:port, like 127.0.0.1:9555 or [::1]:9555; got 'nowhere'"
    )
    assert problems[4] == "NOVU_FAILOVER_ACTION_TIMEOUT: must be greater than 0; got '0'"
    assert str(caught.value).startswith("6 settings problems:\n")
    assert TOKEN not in str(caught.value)
    assert TOKEN not in str(caught.value.__cause__)


def test_unknown_override_is_named() -> None:
    with pytest.raises(SettingsError, match="bogus: not a setting"):
        load_settings(bogus=1)


# --- the API token ----------------------------------------------------------------------


def test_token_from_a_file_is_stripped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN_FILE", str(path))
    token = load_settings().api_token
    assert token is not None
    assert token.get_secret_value() == TOKEN


def test_token_from_a_secrets_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "NOVU_FAILOVER_API_TOKEN").write_text(f"{TOKEN}\n")
    monkeypatch.setenv("NOVU_FAILOVER_SECRETS_DIR", str(tmp_path))
    token = load_settings().api_token
    assert token is not None
    assert token.get_secret_value() == TOKEN


def test_token_variable_beats_the_secrets_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "NOVU_FAILOVER_API_TOKEN").write_text("from-dir")
    monkeypatch.setenv("NOVU_FAILOVER_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", TOKEN)
    token = load_settings().api_token
    assert token is not None
    assert token.get_secret_value() == TOKEN


def test_missing_secrets_dir_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_SECRETS_DIR", str(tmp_path / "absent"))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems == [
        f"NOVU_FAILOVER_SECRETS_DIR: {tmp_path / 'absent'} is not a directory"
    ]


def test_unreadable_token_file_is_named_not_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems == [
        f"NOVU_FAILOVER_API_TOKEN_FILE: cannot read {tmp_path / 'absent'}: "
        "No such file or directory"
    ]


def test_token_and_token_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text("other")
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN_FILE", str(path))
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN", TOKEN)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems == [
        "NOVU_FAILOVER_API_TOKEN_FILE: set either it or NOVU_FAILOVER_API_TOKEN, not both"
    ]
    assert TOKEN not in str(caught.value)


def test_empty_token_file_is_named_by_the_file_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text("\n")
    monkeypatch.setenv("NOVU_FAILOVER_API_TOKEN_FILE", str(path))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems == ["NOVU_FAILOVER_API_TOKEN_FILE: the API token is empty"]


# --- typos ------------------------------------------------------------------------------


def test_unknown_prefixed_variables_are_reported_with_a_hint() -> None:
    environ = {
        "NOVU_FAILOVER_LISTN": "x",
        "NOVU_FAILOVER_LISTEN": "x",
        "NOVU_FAILOVER_SECRETS_DIR": "x",
        "NOVU_FAILOVER_API_TOKEN_FILE": "x",
        "NOVU_FAILOVER_FROBNICATE": "x",
        "NOVU_API_KEY": "x",
    }
    assert unknown_variables(environ) == [
        "NOVU_FAILOVER_FROBNICATE is not a setting",
        "NOVU_FAILOVER_LISTN is not a setting (did you mean NOVU_FAILOVER_LISTEN?)",
    ]


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.dry_run = True  # type: ignore[misc]
    assert isinstance(settings, Settings)
