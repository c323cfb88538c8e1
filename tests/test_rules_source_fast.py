"""The libyaml-backed reader gives exactly what the pure-Python one gives, YAML 1.2
booleans included; a file it refuses is worded by the pure-Python parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from daemon.rules import source

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")
@pytest.mark.parametrize(
    "text",
    [
        pytest.param((ROOT / "rules.yaml").read_text(), id="example-rules"),
        pytest.param("a: off\nb: yes\nc: true\nd: 2024-01-01\ne: [1, 2]\n", id="yaml-1.2-scalars"),
        pytest.param("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n", id="merge-keys"),
    ],
)
def test_fast_and_pure_readers_agree(text: str) -> None:
    fast = source.read_yaml(text)
    pure = source._read(source._RulesLoader(text))
    assert fast.data == pure.data
    assert fast.duplicates == pure.duplicates


def test_off_stays_a_string_with_the_fast_reader() -> None:
    assert source.read_yaml("failback: off\nflag: yes\n").data == {
        "failback": "off",
        "flag": "yes",
    }


def test_a_syntax_error_is_worded_by_the_pure_parser() -> None:
    with pytest.raises(source.YamlSyntaxError) as caught:
        source.read_yaml("a: {b: 1\nc: 2\n")
    with pytest.raises(source.YamlSyntaxError) as pure:
        source._read(source._RulesLoader("a: {b: 1\nc: 2\n"))
    assert caught.value.message == pure.value.message
    assert caught.value.line == pure.value.line
