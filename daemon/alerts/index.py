"""Which alert signals may want an alert, found without asking every one of them.

A notification used to be matched against every alert signal of the rules: at 1,000
channels that is thousands of matcher evaluations per alert, twice per webhook (the book,
then the unmatched count). Almost every signal has an `=` matcher on a label with a
non-empty value (`novu_integration="sendgrid-main"`), and an alert can only match such a
signal if it carries that very label and value. So each signal is filed under one of its
`=` matchers; an alert looks up its own labels and only those signals (plus the few with
no such matcher) are matched in full.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from daemon.alerts.matchers import Matcher

Label = tuple[str, str]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class MatcherIndex(Generic[K]):
    """Keys filed by one `=` matcher each; `order` keeps the keys' order of filing."""

    by_label: Mapping[Label, tuple[K, ...]] = field(default_factory=dict)
    always: tuple[K, ...] = ()
    """Keys without an `=` matcher on a non-empty value: matched against every alert."""
    order: Mapping[K, int] = field(default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable[tuple[K, tuple[Matcher, ...]]]) -> MatcherIndex[K]:
        by_label: dict[Label, list[K]] = {}
        always: list[K] = []
        order: dict[K, int] = {}
        for key, matchers in entries:
            order[key] = len(order)
            label = _filing_label(matchers)
            if label is None:
                always.append(key)
            else:
                by_label.setdefault(label, []).append(key)
        filed = {label: tuple(keys) for label, keys in by_label.items()}
        return cls(by_label=filed, always=tuple(always), order=order)

    def candidates(self, labels: Mapping[str, str]) -> list[K]:
        """The keys whose matchers may match `labels`, in filing order (a superset of those
        that do: match each one in full)."""
        found = list(self.always)
        for item in labels.items():
            found.extend(self.by_label.get(item, ()))
        if len(found) > 1:
            found.sort(key=self.order.__getitem__)
        return found


def _filing_label(matchers: tuple[Matcher, ...]) -> Label | None:
    """The `=` matcher to file under: a non-empty value (`team=""` matches a missing label,
    so it cannot be looked up); the first such matcher."""
    for matcher in matchers:
        if matcher.op == "=" and matcher.value:
            return (matcher.name, matcher.value)
    return None
