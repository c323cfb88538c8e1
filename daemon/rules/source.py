"""rules.yaml as YAML: the data, the node tree that knows every line, and duplicate keys.

PyYAML keeps only the last of two equal keys without a word, and YAML 1.1 reads `off`,
`no` and `on` as booleans (`failback: off` would arrive as False). The rules loader reads
YAML 1.2 style instead: only true/false are booleans, dates stay strings, and a duplicate
key is reported where it stands.

Every document is bounded before a value is built from it (docs/rules.md, "Limits"): at
most MAX_DEPTH levels of nesting (aliases expanded), MAX_NODES values, scalars of at most
MAX_SCALAR characters, and no control characters or lone surrogates in any of them. So
nothing later (the constructor, pydantic, the checks) can recurse too deep or grow without
bound, and a bad file is a located error, never a RecursionError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml._yaml import CParser
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

Part = str | int
Parts = tuple[Part, ...]

_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# C0 controls but tab, newline and carriage return; DEL; lone UTF-16 surrogates.
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

MAX_DEPTH = 32
"""Levels of nesting, aliases expanded; a rules file needs about ten."""
MAX_NODES = 100_000
"""Values in the document, aliases expanded (stops alias bombs)."""
MAX_SCALAR = 8192
"""Characters in one scalar (a key or a value)."""


class _DepthError(ComposerError):
    """Raised while composing, before the nesting can exhaust Python's stack."""


class _RulesLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (true/false only), no implicit dates, and a bound
    on nesting depth enforced while composing."""

    _depth = 0
    nodes = 0
    """Nodes composed (aliases not expanded)."""
    anchored = False
    """The document defines an anchor: aliases may make it a graph, not a tree."""
    suspect = False
    """A scalar too long or holding a bad character, or a mapping with equal scalar keys
    (a merge key counts): the walks that locate such problems are needed."""

    def compose_document(self) -> Node | None:
        self.get_event()  # type: ignore[no-untyped-call]  # DocumentStartEvent
        node: Node | None = self.compose_node(None, None)
        self.get_event()  # type: ignore[no-untyped-call]  # DocumentEndEvent
        self.anchored = bool(self.anchors)
        self.anchors = {}
        return node

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        node: ScalarNode = super().compose_scalar_node(anchor)
        text: str = node.value
        if len(text) > MAX_SCALAR or _BAD_CHAR.search(text) is not None:
            self.suspect = True
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        keys = [key.value for key, _ in node.value if isinstance(key, ScalarNode)]
        if len(set(keys)) != len(keys):
            self.suspect = True
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        self.nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                msg = f"nested deeper than {MAX_DEPTH} levels"
                raise _DepthError(None, None, msg, mark)
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: ScalarNode) -> int:
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError as exc:  # more digits than Python converts (sys.int_info)
            msg = f"the number {node.value[:20]}... has too many digits"
            raise yaml.constructor.ConstructorError(None, None, msg, node.start_mark) from exc
        return value


_RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RulesLoader.add_constructor("tag:yaml.org,2002:int", _RulesLoader.construct_yaml_int)
_RulesLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _FastRulesLoader(CParser, _RulesLoader):
    """The same loader with libyaml's scanner and parser (4-5x faster on a 1,000-channel
    file): only the events come from C; composing (with its depth bound), resolving and
    constructing stay `_RulesLoader`'s. Used for documents only: on any error, the
    document is read again by `_RulesLoader`, whose messages the rules' errors quote."""

    def __init__(self, text: str) -> None:
        CParser.__init__(self, text)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    check_node = yaml.composer.Composer.check_node
    get_node = yaml.composer.Composer.get_node
    get_single_node = yaml.composer.Composer.get_single_node


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


class YamlLimitError(Exception):
    """Well-formed YAML with values no rules file holds: each one located."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("; ".join(finding.message for finding in findings))
        self.findings = findings


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    root: Node | None
    duplicates: tuple[Finding, ...]


def read_yaml(text: str) -> Document:
    """Compose, bound and construct one YAML document.

    Raises YamlSyntaxError (with its line) for text that is not YAML, and YamlLimitError
    for YAML whose values are out of bounds (see the module's doc).
    """
    try:
        loader = _RulesLoader(text)  # checks every character is allowed in YAML
    except ReaderError as exc:
        raise YamlSyntaxError(_reader_message(exc), line=_line_at(text, exc.position)) from exc
    fast = _FastRulesLoader(text)
    try:
        document = _document(fast)
    except (yaml.YAMLError, YamlLimitError):
        pass  # read it again below, for the messages the errors quote
    else:
        loader.dispose()
        return document
    finally:
        fast.dispose()
    try:
        return _document(loader)
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_syntax_message(exc), line=_mark_line(exc)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), line=None) from exc
    finally:
        loader.dispose()


def _document(loader: _RulesLoader) -> Document:
    """Compose, bound and construct the document `loader` reads (yaml.YAMLError, or
    YamlLimitError for values out of bounds)."""
    root = loader.get_single_node()
    # Composing bounded the depth and counted the nodes; without anchors the document is a
    # tree, so those are its depth and size, and only a graph needs measuring again.
    if root is not None and (loader.anchored or loader.nodes > MAX_NODES):
        _check_size(root)
    if root is not None and loader.suspect:
        limits = list(_scalar_limits(root))
        if limits:
            raise YamlLimitError(limits)
    duplicates = tuple(_duplicate_keys(root)) if root is not None and loader.suspect else ()
    # Construction flattens `<<` merges into the nodes, after the duplicate scan.
    data = loader.construct_document(root) if root is not None else None
    return Document(data=data, root=root, duplicates=duplicates)


def _reader_message(exc: ReaderError) -> str:
    character = exc.character
    code = character if isinstance(character, int) else ord(str(character)[:1] or "\0")
    name = "a NUL byte" if code == 0 else f"the character U+{code:04X}"
    return f"the file contains {name}, which YAML does not allow (write it as an escape)"


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, max(position, 0)) + 1


def _check_size(root: Node) -> None:
    """MAX_DEPTH and MAX_NODES over the node graph with aliases expanded, without expanding
    it: each node is measured once (depth and size of what it expands to)."""
    measured: dict[int, tuple[int, int]] = {}  # id -> (depth, size)
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in measured:
            continue
        children = _children(node)
        if not children_done:
            if key in open_nodes:
                continue
            open_nodes.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    msg = "an alias refers to a value that contains it (a cycle)"
                    raise _limit(child, msg)
                if id(child) not in measured:
                    stack.append((child, False))
            continue
        open_nodes.discard(key)
        depth = 1 + max((measured[id(c)][0] for c in children), default=0)
        size = 1 + sum(measured[id(c)][1] for c in children)
        if depth > MAX_DEPTH:
            raise _limit(node, f"nested deeper than {MAX_DEPTH} levels (aliases expanded)")
        if size > MAX_NODES:
            raise _limit(node, f"more than {MAX_NODES} values (aliases expanded)")
        measured[key] = (depth, size)


def _limit(node: Node, message: str) -> yaml.MarkedYAMLError:
    return _DepthError(None, None, message, node.start_mark)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _scalar_limits(root: Node) -> Iterator[Finding]:
    """Scalars too long or holding a character no rules value may hold, each located."""
    seen_nodes: set[int] = set()
    stack: list[tuple[Node, Parts]] = [(root, ())]
    while stack:
        node, parts = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, ScalarNode):
            yield from _scalar_problems(node, parts, what="value")
        elif isinstance(node, SequenceNode):
            stack.extend((item, (*parts, index)) for index, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                key_ok = True
                if isinstance(key, ScalarNode) and id(key) not in seen_nodes:
                    seen_nodes.add(id(key))
                    problems = list(_scalar_problems(key, parts, what="key"))
                    key_ok = not problems
                    yield from problems
                name = key.value if isinstance(key, ScalarNode) and key_ok else "?"
                stack.append((value, (*parts, name)))
                if not isinstance(key, ScalarNode):
                    stack.append((key, parts))


def _scalar_problems(node: ScalarNode, parts: Parts, *, what: str) -> Iterator[Finding]:
    text: str = node.value
    line = node.start_mark.line + 1
    if len(text) > MAX_SCALAR:
        msg = f"a {what} of {len(text)} characters; at most {MAX_SCALAR} are allowed"
        yield Finding(parts, msg, line)
        return
    bad = _BAD_CHAR.search(text)
    if bad is not None:
        code = ord(bad.group())
        kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
        msg = (
            f"the {what} holds {kind} (U+{code:04X}) at character {bad.start() + 1}; "
            "rules values must be valid Unicode text"
        )
        yield Finding(parts, msg, line)


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
    refused = (yaml.constructor.ConstructorError, _DepthError)
    kind = "YAML" if isinstance(exc, refused) else "YAML syntax"
    message = f"{kind}: {problem}"
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        if exc.context_mark.line != exc.problem_mark.line:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        else:
            message += f" ({exc.context})"
    if "\\t" in problem or "\t" in problem:
        message += "; YAML indents with spaces, not tabs"
    return message
