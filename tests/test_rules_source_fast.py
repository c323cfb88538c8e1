"""The rules reader takes its YAML events from libyaml; the document, its lines and its
rules (1.2 booleans, no dates, depth bound) are those of the pure-Python loader."""

from __future__ import annotations

import pytest
from yaml._yaml import CParser

from daemon.rules import source
from daemon.rules.source import MAX_DEPTH, MAX_NODES, MAX_SCALAR, YamlSyntaxError, read_yaml

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


def test_a_tree_over_the_value_bound_is_refused_without_any_alias() -> None:
    """Without anchors the walk that measures aliases expanded is skipped (composing
    counted the values), but the bound on values still holds."""
    wide = "a: [" + ", ".join(["1"] * MAX_NODES) + "]\n"
    with pytest.raises(YamlSyntaxError, match=f"more than {MAX_NODES} values"):
        read_yaml(wide)
    assert read_yaml("a: [" + ", ".join(["1"] * (MAX_NODES - 10)) + "]\n").data["a"][0] == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param('a: "x\\u0001y"\n', "control character", id="control-escape"),
        pytest.param("a: " + "x" * (MAX_SCALAR + 1) + "\n", "characters; at most", id="long"),
    ],
)
def test_scalar_problems_noticed_while_composing_are_still_located(
    text: str, problem: str
) -> None:
    """Composing notes a suspect scalar; the walk then locates it."""
    with pytest.raises(source.YamlLimitError) as caught:
        read_yaml(text)
    assert [(f.parts, f.line) for f in caught.value.findings if problem in f.message] == [
        (("a",), 1)
    ]


def test_duplicate_keys_noticed_while_composing_are_still_located() -> None:
    document = read_yaml("a: {b: 1}\nc: [1, {d: 2, d: 3}]\ne: 1\ne: 2\n")
    assert sorted((f.parts, f.line) for f in document.duplicates) == [
        (("c", 1, "d"), 2),
        (("e",), 4),
    ]
