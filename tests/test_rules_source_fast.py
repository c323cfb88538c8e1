"""The rules reader takes its YAML events from libyaml; the document, its lines and its
rules (1.2 booleans, no dates, depth bound) are those of the pure-Python loader."""

from __future__ import annotations

import pytest
from yaml._yaml import CParser

from daemon.rules import source
from daemon.rules.source import MAX_DEPTH, YamlSyntaxError, read_yaml

TEXT = """\
defaults: {interval: 10s}
environments:
  prod:
    api_url: http://127.0.0.1:3000
    flags: [yes, no, true, 2026-01-01, 0x1f]
base: &base {a: 1}
merged:
  <<: *base
  b: 2
"""


def test_libyaml_events_build_the_same_document_as_the_python_loader() -> None:
    fast = read_yaml(TEXT)
    slow_loader = source._RulesLoader(TEXT)
    try:
        slow = source._document(slow_loader)
    finally:
        slow_loader.dispose()
    assert fast.data == slow.data
    assert fast.data["environments"]["prod"]["flags"] == ["yes", "no", True, "2026-01-01", 31]
    assert fast.data["merged"] == {"a": 1, "b": 2}
    assert fast.root is not None
    assert slow.root is not None
    assert fast.root.value[1][1].start_mark.line == slow.root.value[1][1].start_mark.line == 2


def test_depth_bound_and_syntax_errors_still_hold() -> None:
    deep = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    with pytest.raises(YamlSyntaxError, match=f"nested deeper than {MAX_DEPTH} levels"):
        read_yaml(deep)
    fast = source._FastRulesLoader(deep)
    try:
        with pytest.raises(source._DepthError):  # bounded while composing C events too
            source._document(fast)
    finally:
        fast.dispose()  # type: ignore[no-untyped-call]
    with pytest.raises(YamlSyntaxError) as caught:
        read_yaml("a: [1, 2\nb: 3\n")
    assert caught.value.line is not None
    assert issubclass(source._FastRulesLoader, CParser)
