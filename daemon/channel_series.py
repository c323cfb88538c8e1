"""One channel's counted series: its values in plain structures, and its exposition text.

The values of one channel (`ChannelSeries`) for the families `FAMILIES`, and each family's
block of text for that channel, kept until one of its values changes. The check families
change with every probe, so their text is a %-template written once per set of series and
filled with the values in one call.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, chain
from typing import get_args

from daemon.exposition import Family, format_value, label_values
from daemon.model import AuditResult, DecisionKind, Trigger

PREFIX = "novu_failover_"
SIGNAL_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ACTION_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

CHECKS = Family(PREFIX + "signal_checks", "counter", "Signal checks by result.")
CHECK_DURATION = Family(
    PREFIX + "signal_check_duration_seconds",
    "histogram",
    "How long the channel's signal checks took.",
)
CHECK_TIME = Family(
    PREFIX + "signal_check_seconds",
    "summary",
    "Time spent in one signal's checks (_sum) and checks timed (_count).",
)
FAILURES = Family(
    PREFIX + "signal_failures",
    "counter",
    "Failed signal checks by failure class (recipient, credentials, quota, outage, "
    "unknown); recipient failures do not count toward down by default.",
)
SWITCHES = Family(
    PREFIX + "switches",
    "counter",
    "Primary switches made, by trigger (failover, failback, manual).",
)
DECISIONS = Family(
    PREFIX + "decisions", "counter", "Policy decisions by kind (keep, switch, hold, blocked, ...)."
)
ACTIONS = Family(PREFIX + "actions", "counter", "Actions (switch attempts) by result.")
ACTION_DURATION = Family(
    PREFIX + "action_duration_seconds",
    "histogram",
    "How long actions took, retries and verification included.",
)
FAMILIES = (
    CHECKS,
    CHECK_DURATION,
    CHECK_TIME,
    FAILURES,
    SWITCHES,
    DECISIONS,
    ACTIONS,
    ACTION_DURATION,
)
(CHECKS_AT, CHECK_DURATION_AT, CHECK_TIME_AT, FAILURES_AT, SWITCHES_AT, DECISIONS_AT, ACTIONS_AT,
 ACTION_DURATION_AT) = range(len(FAMILIES))  # fmt: skip
"""Each family's index in `FAMILIES` (and in a channel's `texts`)."""

_KINDS = tuple(kind.value for kind in DecisionKind)
_RESULTS = tuple(r for r in get_args(AuditResult) if r != "started")  # audited, never counted
_TRIGGERS: tuple[str, ...] = get_args(Trigger)

_LES = {
    bounds: tuple(format_value(b) for b in (*bounds, float("inf")))
    for bounds in (SIGNAL_BUCKETS, ACTION_BUCKETS)
}
"""Each histogram's `le` label values, written once."""


class Histogram:
    """Counts per bucket (not cumulative; the last is +Inf) and the sum, as prometheus_client
    keeps them."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        if value == value:  # noqa: PLR0124 -- NaN lands in no bucket (as in prometheus_client)
            self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value
        self.total += value

    def template(self, family: Family, base: str) -> str:
        name, lines = family.name, []
        for le in _LES[self.bounds]:
            lines.append(f'{name}_bucket{{{base},le="{le}"}} %d.0\n')
        lines.append(f"{name}_count{{{base}}} %d.0\n{name}_sum{{{base}}} %r\n")
        return "".join(lines)

    def values(self) -> tuple[float, ...]:
        running = list(accumulate(self.counts))
        return (*running, running[-1], self.total)


class ChannelSeries:
    """One channel's values. `texts[i]` is its block of `FAMILIES[i]`, None when a value
    changed since (or never rendered); `templates[i]` its text around the values, with
    the number of series it was written for."""

    __slots__ = (
        "action_duration",
        "actions",
        "base",
        "candidates",
        "check_duration",
        "check_time",
        "checks",
        "decisions",
        "environment",
        "failures",
        "name",
        "switches",
        "templates",
        "texts",
    )

    def __init__(self, environment: str, name: str) -> None:
        self.environment, self.name = environment, name
        self.candidates: tuple[str, ...] | None = None
        """Set once its rules loaded: zero series for every kind, result and switch."""
        self.checks: dict[tuple[str, str, str], int] = {}
        self.failures: dict[tuple[str, str, str], int] = {}
        self.check_time: dict[tuple[str, str], list[float]] = {}
        """(integration, signal) -> [checks timed, seconds]."""
        self.check_duration: Histogram | None = None
        self.switches: dict[tuple[str, str, str], int] = {}
        self.decisions: dict[str, int] = {}
        self.actions: dict[str, int] = {}
        self.action_duration: Histogram | None = None
        self.texts: list[bytes | None] = [None] * len(FAMILIES)
        self.templates: dict[int, tuple[int, bytes]] = {}
        self.base: str | None = None
        """Its own labels' text (`channel="...",environment="..."`)."""

    def forget_texts(self) -> None:
        """Label values must be quoted again (a secret was registered)."""
        self.texts = [None] * len(FAMILIES)
        self.templates = {}
        self.base = None

    def rendered(self, labels: LabelTexts) -> tuple[bytes, ...]:
        """Every family's block, rendering those whose values changed."""
        texts = self.texts
        if None in texts:
            base = self.base
            if base is None:
                q = labels.quote
                base = self.base = f'channel="{q(self.name)}",environment="{q(self.environment)}"'
            for index, text in enumerate(texts):
                if text is None:
                    texts[index] = _RENDER[index](self, base, labels)
        return tuple(texts)  # type: ignore[arg-type]  # none is None any more

    def _template(self, index: int, size: int, lines: Callable[[], Iterable[str]]) -> bytes:
        """The family's text around its values, written again when its series changed."""
        known = self.templates.get(index)
        if known is None or known[0] != size:
            known = self.templates[index] = (size, "".join(lines()).encode())
        return known[1]

    # --- each family's block, after the channel's own labels (`base`) ---------------------
    # The check families change with every probe: their text is a %-template (label values
    # with `%` doubled) filled with the values in one call: counts as `%d.0`, sums as `%r`
    # (the shortest text that reads back as the same float).

    def _checks(self, base: str, labels: LabelTexts) -> bytes:
        counts = self.checks

        def lines() -> Iterator[str]:
            for key in counts:
                yield _pct(f"{CHECKS.sample}{{{base},{labels.check(key)}}} ") + "%d.0\n"

        return self._template(CHECKS_AT, len(counts), lines) % tuple(counts.values())

    def _failures(self, base: str, labels: LabelTexts) -> bytes:
        counts = self.failures

        def lines() -> Iterator[str]:
            for key in counts:
                yield _pct(f"{FAILURES.sample}{{{base},{labels.failure(key)}}} ") + "%d.0\n"

        return self._template(FAILURES_AT, len(counts), lines) % tuple(counts.values())

    def _check_time(self, base: str, labels: LabelTexts) -> bytes:
        timed, name = self.check_time, CHECK_TIME.name

        def lines() -> Iterator[str]:
            for key in timed:
                series = _pct(f"{base},{labels.signal(key)}")
                yield f"{name}_count{{{series}}} %d.0\n{name}_sum{{{series}}} %r\n"

        values = tuple(chain.from_iterable(timed.values()))
        return self._template(CHECK_TIME_AT, len(timed), lines) % values

    def _check_duration(self, base: str, labels: LabelTexts) -> bytes:
        return _histogram(self, CHECK_DURATION_AT, self.check_duration, base)

    def _action_duration(self, base: str, labels: LabelTexts) -> bytes:
        return _histogram(self, ACTION_DURATION_AT, self.action_duration, base)

    def _switches(self, base: str, labels: LabelTexts) -> bytes:
        name, counts = SWITCHES.sample, self.switches
        return "".join(
            f"{name}{{{base},{labels.switch(key)}}} {format_value(counts.get(key, 0))}\n"
            for key in self._switch_keys()
        ).encode()

    def _switch_keys(self) -> Iterator[tuple[str, str, str]]:
        """Every pair of candidates and trigger (at 0 until counted), then any other
        switch counted (from no primary, or from a primary that is not a candidate)."""
        names = self.candidates or ()
        for from_ in names:
            for to in names:
                if from_ != to:
                    for trigger in _TRIGGERS:
                        yield from_, to, trigger
        for key in self.switches:
            from_, to, _ = key
            if from_ == to or from_ not in names or to not in names:
                yield key

    def _decisions(self, base: str, labels: LabelTexts) -> bytes:
        zeros = _KINDS if self.candidates is not None else ()
        return _by_label(
            DECISIONS, base, label="kind", counts=self.decisions, zeros=zeros, q=labels.quote
        )

    def _actions(self, base: str, labels: LabelTexts) -> bytes:
        zeros = _RESULTS if self.candidates is not None else ()
        return _by_label(
            ACTIONS, base, label="result", counts=self.actions, zeros=zeros, q=labels.quote
        )


def _pct(text: str) -> str:
    """`text` as literal text of a %-template."""
    return text.replace("%", "%%")


def _histogram(channel: ChannelSeries, index: int, histogram: Histogram | None, base: str) -> bytes:
    if histogram is None:
        return b""
    family = FAMILIES[index]
    template = channel._template(index, 1, lambda: [histogram.template(family, _pct(base))])
    return template % histogram.values()


def _by_label(
    family: Family,
    base: str,
    *,
    label: str,
    counts: dict[str, int],
    zeros: tuple[str, ...],
    q: Callable[[str], str],
) -> bytes:
    """One series per value of `label`: every value of `zeros`, then any other counted."""
    name = family.sample
    return "".join(
        f'{name}{{{base},{label}="{q(value)}"}} {format_value(counts.get(value, 0))}\n'
        for value in (*zeros, *(v for v in counts if v not in zeros))
    ).encode()


class LabelTexts:
    """The label text after a channel's own labels, per series key, shared by every
    channel: integration, signal and enum values repeat across channels. Quoted
    (redacted, escaped) under one secrets version; a new version starts a new one."""

    __slots__ = ("checks", "failures", "signals", "switches")

    quote = staticmethod(label_values.quoted)

    def __init__(self) -> None:
        self.checks: dict[tuple[str, str, str], str] = {}
        self.failures: dict[tuple[str, str, str], str] = {}
        self.signals: dict[tuple[str, str], str] = {}
        self.switches: dict[tuple[str, str, str], str] = {}

    def check(self, key: tuple[str, str, str]) -> str:
        found = self.checks.get(key)
        if found is None:
            (integration, signal, result), q = key, self.quote
            found = f'integration="{q(integration)}",result="{q(result)}",signal="{q(signal)}"'
            self.checks[key] = found
        return found

    def failure(self, key: tuple[str, str, str]) -> str:
        found = self.failures.get(key)
        if found is None:
            (integration, signal, failure_class), q = key, self.quote
            found = self.failures[key] = (
                f'failure_class="{q(failure_class)}",integration="{q(integration)}",'
                f'signal="{q(signal)}"'
            )
        return found

    def signal(self, key: tuple[str, str]) -> str:
        found = self.signals.get(key)
        if found is None:
            (integration, signal), q = key, self.quote
            found = self.signals[key] = f'integration="{q(integration)}",signal="{q(signal)}"'
        return found

    def switch(self, key: tuple[str, str, str]) -> str:
        found = self.switches.get(key)
        if found is None:
            (from_, to, trigger), q = key, self.quote
            found = self.switches[key] = (
                f'from_integration="{q(from_)}",to_integration="{q(to)}",trigger="{q(trigger)}"'
            )
        return found


_RENDER = (
    ChannelSeries._checks,
    ChannelSeries._check_duration,
    ChannelSeries._check_time,
    ChannelSeries._failures,
    ChannelSeries._switches,
    ChannelSeries._decisions,
    ChannelSeries._actions,
    ChannelSeries._action_duration,
)
