"""rules.yaml as YAML: the data, the node tree that knows every line, and duplicate keys.

PyYAML keeps only the last of two equal keys without a word, and YAML 1.1 reads `off`,
`no` and `on` as booleans (`failback: off` would arrive as False). The rules loader reads
YAML 1.2 style instead: only true/false are booleans, dates stay strings, and a duplicate
key is reported where it stands.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Part = str | int
Parts = tuple[Part, ...]

_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class _RulesLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (true/false only) and no implicit dates."""


# libyaml's parser when PyYAML has it: a 1,000-channel rules file took ~5 s with the
# pure-Python one, at start-up and on every reload. A file it refuses is read again by the
# pure-Python parser, whose messages the rest of the daemon (and its tests) word errors by.
_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastRulesLoader(_FastLoader):  # type: ignore[valid-type,misc]
    """`_RulesLoader`'s rules on libyaml's parser."""


for _loader in (_RulesLoader, _FastRulesLoader):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _TIMESTAMP)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_implicit_resolver(
        _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem before it is tied to a file: where (path parts, maybe a line) and what."""

    parts: Parts
    message: str
    line: int | None = None


class YamlSyntaxError(Exception):
    """The text is not YAML (or uses a tag the safe loader refuses)."""

    def __init__(self, message: str, *, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    root: Node | None
    duplicates: tuple[Finding, ...]


def read_yaml(text: str) -> Document:
    """Compose and construct one YAML document; raises YamlSyntaxError with its line."""
    if _FastLoader is not yaml.SafeLoader:
        try:
            return _read(_FastRulesLoader(text))
        except YamlSyntaxError:
            pass  # worded by the pure-Python parser below
    return _read(_RulesLoader(text))


def _read(loader: yaml.SafeLoader) -> Document:
    try:
        root = loader.get_single_node()
        duplicates = tuple(_duplicate_keys(root)) if root is not None else ()
        # Construction flattens `<<` merges into the nodes, after the duplicate scan.
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_syntax_message(exc), line=_mark_line(exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), line=None) from exc
    finally:
        loader.dispose()
    return Document(data=data, root=root, duplicates=duplicates)


def format_path(parts: Parts) -> str:
    """('channels', 0, 'policy') -> 'channels[0].policy'; odd keys are quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


class Locator:
    """Lines of paths in the composed document: a key's line, or a list item's line."""

    def __init__(self, root: Node | None) -> None:
        self._root = root

    def line(self, parts: Parts) -> int | None:
        """The line of the deepest node `parts` reaches (a missing tail stays at its parent)."""
        node = self._root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in parts:
            step = _child(node, part)
            if step is None:
                break
            mark_node, node = step
            line = mark_node.start_mark.line + 1
        return line


def _child(node: Node, part: Part) -> tuple[Node, Node] | None:
    """(the node whose line to show, the child node) for one step, or None."""
    if isinstance(node, MappingNode):
        # The constructor keeps the last of equal keys; merged keys come first after flattening.
        for key, value in reversed(node.value):
            if isinstance(key, ScalarNode) and key.value == str(part):
                return key, value
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: Node = node.value[part]
        return item, item
    return None


def _duplicate_keys(root: Node) -> Iterator[Finding]:
    seen_nodes: set[int] = set()
    stack: list[tuple[Node, Parts]] = [(root, ())]
    while stack:
        node, parts = stack.pop()
        if id(node) in seen_nodes:  # an alias points at a node already walked
            continue
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((item, (*parts, index)) for index, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, ScalarNode) or key.tag == _MERGE:
                    continue
                line = key.start_mark.line + 1
                if key.value in first_line:
                    msg = (
                        f"duplicate key {key.value!r} (first at line {first_line[key.value]}); "
                        "YAML would silently keep only the last one"
                    )
                    yield Finding((*parts, key.value), msg, line)
                else:
                    first_line[key.value] = line
                stack.append((value, (*parts, key.value)))


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    # A constructor error is well-formed YAML the safe loader refuses (e.g. a python/ tag).
    kind = "YAML" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax"
    message = f"{kind}: {problem}"
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        if exc.context_mark.line != exc.problem_mark.line:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        else:
            message += f" ({exc.context})"
    if "\\t" in problem or "\t" in problem:
        message += "; YAML indents with spaces, not tabs"
    return message
