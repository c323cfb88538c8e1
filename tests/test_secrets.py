"""API keys and `${NAME}` placeholders: resolved exactly, and never echoed in an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.rules.model import Environment
from daemon.secrets import (
    PlaceholderError,
    SecretError,
    expand_placeholders,
    placeholder_names,
    resolve_api_key,
)

DISTINCTIVE = "nv-7f3a9c-DISTINCTIVE-secret"


def _env_var(name: str = "NOVU_API_KEY") -> Environment:
    return Environment(api_url="https://api.novu.co", api_key_env=name)


def _env_file(path: Path | str) -> Environment:
    return Environment(api_url="https://api.novu.co", api_key_file=Path(path))


# --- resolve_api_key --------------------------------------------------------------------


def test_key_from_variable_is_stripped() -> None:
    key = resolve_api_key(
        _env_var(), environ={"NOVU_API_KEY": f"  {DISTINCTIVE}\n"}, base_dir=Path()
    )
    assert key.get_secret_value() == DISTINCTIVE
    assert DISTINCTIVE not in repr(key)


def test_unset_variable_is_named() -> None:
    with pytest.raises(SecretError, match=r"^environment variable NOVU_API_KEY is not set$"):
        resolve_api_key(_env_var(), environ={}, base_dir=Path())


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param(" \n", "environment variable NOVU_API_KEY is empty", id="blank"),
        pytest.param(
            f"{DISTINCTIVE} extra",
            "environment variable NOVU_API_KEY holds more than one word",
            id="two-words",
        ),
    ],
)
def test_bad_variable_value_is_refused_without_echoing_it(value: str, words: str) -> None:
    with pytest.raises(SecretError) as caught:
        resolve_api_key(_env_var(), environ={"NOVU_API_KEY": value}, base_dir=Path())
    assert str(caught.value).startswith(words)
    assert DISTINCTIVE not in str(caught.value)


def test_relative_key_file_is_read_from_base_dir_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "novu.key").write_text(f"{DISTINCTIVE}\n")
    key = resolve_api_key(_env_file("keys/novu.key"), environ={}, base_dir=tmp_path)
    assert key.get_secret_value() == DISTINCTIVE


def test_absolute_key_file_ignores_base_dir(tmp_path: Path) -> None:
    path = tmp_path / "novu.key"
    path.write_text(DISTINCTIVE)
    key = resolve_api_key(_env_file(path), environ={}, base_dir=Path("/nonexistent"))
    assert key.get_secret_value() == DISTINCTIVE


def test_missing_key_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as caught:
        resolve_api_key(_env_file("absent.key"), environ={}, base_dir=tmp_path)
    assert str(caught.value) == (
        f"cannot read API key file {tmp_path / 'absent.key'}: No such file or directory"
    )


def test_key_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="cannot read API key file"):
        resolve_api_key(_env_file(tmp_path), environ={}, base_dir=tmp_path)


def test_key_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """Reading a FIFO nobody writes to would hang check and the daemon's start forever."""
    os.mkfifo(tmp_path / "novu.key")
    with pytest.raises(SecretError, match="is not a regular file"):
        resolve_api_key(_env_file(tmp_path / "novu.key"), environ={}, base_dir=tmp_path)


def test_a_huge_key_file_is_refused_from_its_size(tmp_path: Path) -> None:
    with (tmp_path / "novu.key").open("wb") as file:
        file.truncate(100 * 1024 * 1024)
    with pytest.raises(SecretError, match="larger than 4096 bytes"):
        resolve_api_key(_env_file(tmp_path / "novu.key"), environ={}, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(b"\n\n", "is empty", id="empty"),
        pytest.param(DISTINCTIVE.encode() + b"\nsecond-line", "more than one word", id="two-lines"),
        pytest.param(b"\xffDISTINCTIVE\xfe", "is not UTF-8 text", id="not-utf8"),
    ],
)
def test_bad_key_file_is_refused_without_echoing_its_content(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "novu.key"
    path.write_bytes(content)
    with pytest.raises(SecretError) as caught:
        resolve_api_key(_env_file(path), environ={}, base_dir=tmp_path)
    message = str(caught.value)
    assert words in message
    assert str(path) in message
    assert "DISTINCTIVE" not in message
    assert "0xff" not in message
    assert caught.value.__cause__ is None or "DISTINCTIVE" not in str(caught.value.__cause__)


# --- placeholders -----------------------------------------------------------------------


def test_placeholders_are_filled_in_order() -> None:
    environ = {"HOST": "api.example", "TOKEN": DISTINCTIVE}
    text = "https://${HOST}/v1?t=${TOKEN}&again=${HOST}"
    assert expand_placeholders(text, environ) == (
        f"https://api.example/v1?t={DISTINCTIVE}&again=api.example"
    )
    assert placeholder_names(text) == ("HOST", "TOKEN", "HOST")


def test_double_dollar_escapes_a_literal_placeholder() -> None:
    text = "cost $5 and $${NOT_A_VAR} and ${A}"
    assert placeholder_names(text) == ("A",)
    assert expand_placeholders(text, {"A": "x"}) == "cost $5 and ${NOT_A_VAR} and x"


def test_missing_variable_is_named_without_any_value() -> None:
    with pytest.raises(SecretError) as caught:
        expand_placeholders("Bearer ${SET} ${UNSET}", {"SET": DISTINCTIVE})
    assert str(caught.value) == "environment variable UNSET is not set (used as ${UNSET})"
    assert DISTINCTIVE not in str(caught.value)


def test_empty_variable_fills_empty_text() -> None:
    assert expand_placeholders("a${EMPTY}b", {"EMPTY": ""}) == "ab"


@pytest.mark.parametrize(
    "text",
    ["${", "${UNCLOSED", "${}", "${1BAD}", "${has space}", "ok ${A} then ${-}"],
)
def test_malformed_placeholders_are_refused_before_filling(text: str) -> None:
    with pytest.raises(PlaceholderError, match="malformed placeholder at character"):
        placeholder_names(text)
    with pytest.raises(PlaceholderError):
        expand_placeholders(text, {"A": DISTINCTIVE})


@given(st.text())
def test_escaping_any_text_and_expanding_it_gives_it_back(text: str) -> None:
    """`$${` is a complete escape: any text survives escape-then-expand without lookups."""
    escaped = text.replace("${", "$${")
    assert placeholder_names(escaped) == ()
    assert expand_placeholders(escaped, {}) == text


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_dollar_is_untouched(text: str) -> None:
    assert expand_placeholders(text, {}) == text
