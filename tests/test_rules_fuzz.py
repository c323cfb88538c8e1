"""Whatever a rules file holds, `load_rules` answers with RulesError (located problems) or
OSError, never any other exception: bytes, mutated text, and hostile values put where the
schema expects something else (NaN, infinities, huge numbers, nesting, odd text)."""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from daemon.rules.loader import RulesError, load_rules, parse_rules
from daemon.rules.model import Rules

EXAMPLE = Path(__file__).parent.parent / "rules.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
EXAMPLE_DATA: dict[str, Any] = yaml.safe_load(EXAMPLE_TEXT)

pytestmark = pytest.mark.timeout(300)
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def load_only_rules_errors(raw: bytes) -> Rules | RulesError:
    """`load_rules` on a file holding `raw`: the rules, or the RulesError (anything else
    fails the test). Every problem must say something."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_bytes(raw)
        try:
            return load_rules(path)
        except RulesError as exc:
            refused = exc
        assert refused.errors, "a RulesError without a problem"
        for problem in refused.errors:
            assert problem.message
            assert problem.file == str(path)
            assert problem.line is None or problem.line >= 1
            str(problem).encode("utf-8")  # printable as it is, whatever the input
        return refused


def test_the_example_is_valid_so_mutations_start_from_good_rules() -> None:
    assert isinstance(parse_rules(EXAMPLE_TEXT, filename="rules.yaml"), Rules)


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes(raw: bytes) -> None:
    load_only_rules_errors(raw)


_PIECES = st.sampled_from(
    [
        "[", "]", "{", "}", ":", ": ", "- ", "\n", "\t", "&a ", "*a", "<<: ", "!!", "!!str ",
        "!!binary ", "!!python/object:os.system ", "? ", "---\n", "...\n", "'", '"', "\\",
        '"\\ud800"', '"\\x00"', '"\\e"', ".inf", "-.inf", ".nan", "1e400", "1.0e+400",
        "9" * 5000, "99999999999999999999999999d", "0", "-1", "true", "~", "%YAML 1.1\n",
        "\x00", "\x85", "\u2028", "\ufeff", "é", "🙂", "#", "|\n", ">\n", "  ",
    ]
)  # fmt: skip


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(min_value=0), st.one_of(_PIECES, st.text(max_size=8))),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_example_text(edits: list[tuple[int, str]]) -> None:
    text = EXAMPLE_TEXT
    for position, piece in edits:
        at = position % (len(text) + 1)
        text = text[:at] + piece + text[at:]
    result = load_only_rules_errors(text.encode("utf-8", "surrogatepass"))
    event("refused" if isinstance(result, RulesError) else "loaded")


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**60),
    st.floats(),  # NaN and the infinities included
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 0.0, -0.0]),
    st.text(max_size=40),
    st.sampled_from(["30s", "0s", "-5s", "1e9s", "99999999999999999999999999d", "x" * 9000]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


_ALL_PATHS = [path for path in _paths(EXAMPLE_DATA) if path]


@FUZZ
@given(st.sampled_from(_ALL_PATHS), _VALUES, st.booleans())
def test_a_hostile_value_anywhere(path: tuple[Any, ...], value: Any, as_new_key: bool) -> None:
    data = copy.deepcopy(EXAMPLE_DATA)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if as_new_key and isinstance(parent, dict):
        parent[f"extra_{path[-1]}"] = value
    else:
        parent[path[-1]] = value
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except (yaml.YAMLError, UnicodeError):
        assume(False)
    result = load_only_rules_errors(text.encode("utf-8", "surrogatepass"))
    event("refused" if isinstance(result, RulesError) else "loaded")
    if isinstance(result, Rules):  # whatever loads is bounded: no NaN, no infinity
        for channel in result.channels:
            policy = channel.policy
            for seconds in (policy.cooldown, policy.confirm, policy.startup_grace):
                assert math.isfinite(seconds)
            for candidate in channel.candidates:
                for entry in candidate.signals:
                    assert math.isfinite(entry.spec.interval)
                    assert math.isfinite(entry.spec.timeout)
