"""Alertmanager label matchers: `=`, `!=`, `=~`, `!~`, with Alertmanager's semantics.

Regular expressions are fully anchored (`=~"critical|page"` is `^(?:critical|page)$`) and a
label the alert does not carry counts as the empty string, so `severity!="info"` matches an
alert without `severity`, and `team=""` matches only alerts without (or with an empty) team.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from daemon.rules.model import parse_matcher


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None
    """The compiled value for `=~` / `!~`; None for `=` / `!=`."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value!r}"


def compile_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Matchers from rules.yaml strings (ValueError for a bad one, as the loader reports)."""
    compiled: list[Matcher] = []
    for text in texts:
        name, op, value = parse_matcher(text)
        pattern = re.compile(value) if op in ("=~", "!~") else None
        compiled.append(Matcher(name=name, op=op, value=value, pattern=pattern))
    return tuple(compiled)


def matches(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches `labels` (an empty list matches everything)."""
    return all(matcher.matches(labels) for matcher in matchers)
