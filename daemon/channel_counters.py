"""Per-channel counters, histograms and summaries in plain structures, rendered to text.

At 1,000 channels prometheus_client kept ~60,000 labelled children (each an object with
its own locks) and formatted ~100,000 lines in Python on every scrape. Here each channel
keeps its counts in a few dicts and lists, and each (family, channel) block of exposition
text is kept until that channel's values in that family change: most channels' decisions,
switches and actions do not change between scrapes; the check families change with each
probe and are cheap to render again. Zero series (`channel_loaded`) are not stored at
all: they are written from the channel's candidates at render time.

Keys are the raw identifiers the daemon passes; label values are redacted and escaped when
rendered (`daemon.exposition.label_values`), so a secret registered later is redacted in
existing series too. A channel `retain` no longer lists leaves the next scrape.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

from daemon.channel_series import (
    ACTION_BUCKETS,
    ACTION_DURATION_AT,
    ACTIONS_AT,
    CHECK_DURATION_AT,
    CHECK_TIME_AT,
    CHECKS_AT,
    DECISIONS_AT,
    FAILURES_AT,
    FAMILIES,
    SIGNAL_BUCKETS,
    SWITCHES_AT,
    ChannelSeries,
    Histogram,
    LabelTexts,
)
from daemon.exposition import Format, label_values


class ChannelCounters:
    """The per-channel counting families (`FAMILIES`), for every channel.

    Updates come from the event loop, scrapes from a worker thread: both hold one lock,
    a scrape only while it renders one channel's changed blocks."""

    def __init__(self) -> None:
        self._channels: dict[tuple[str, str], ChannelSeries] = {}
        self._lock = threading.Lock()
        self._version: object = None
        self._labels = LabelTexts()

    def _channel(self, environment: str, channel: str) -> ChannelSeries:
        found = self._channels.get((environment, channel))
        if found is None:
            found = self._channels[(environment, channel)] = ChannelSeries(environment, channel)
        return found

    # --- updates ----------------------------------------------------------------------

    def load(self, environment: str, channel: str, candidates: Sequence[str]) -> None:
        """The channel's rules loaded: zero series for its candidates, kinds and results."""
        with self._lock:
            found = self._channel(environment, channel)
            found.candidates = tuple(candidates)
            found.texts[SWITCHES_AT] = found.texts[DECISIONS_AT] = found.texts[ACTIONS_AT] = None

    def retain(self, keys: Iterable[tuple[str, str]]) -> None:
        """Only these (environment, channel) stay; every other channel's series go."""
        keep = set(keys)
        with self._lock:
            self._channels = {k: v for k, v in self._channels.items() if k in keep}
            self._labels = LabelTexts()  # forget the label texts of channels gone

    def check(
        self,
        key: tuple[str, str, str, str],
        *,
        result: str,
        seconds: float | None,
        failure_class: str | None,
    ) -> None:
        """One check of signal `key` = (environment, channel, integration, signal)."""
        environment, channel, integration, signal = key
        with self._lock:
            found = self._channel(environment, channel)
            texts = found.texts
            counted = (integration, signal, result)
            found.checks[counted] = found.checks.get(counted, 0) + 1
            texts[CHECKS_AT] = None
            if failure_class is not None:
                failed = (integration, signal, failure_class)
                found.failures[failed] = found.failures.get(failed, 0) + 1
                texts[FAILURES_AT] = None
            if seconds is not None:
                if found.check_duration is None:
                    found.check_duration = Histogram(SIGNAL_BUCKETS)
                found.check_duration.observe(seconds)
                timed = found.check_time.get((integration, signal))
                if timed is None:
                    found.check_time[(integration, signal)] = [1, float(seconds)]
                else:
                    timed[0] += 1
                    timed[1] += seconds
                texts[CHECK_DURATION_AT] = texts[CHECK_TIME_AT] = None

    def decision(self, environment: str, channel: str, kind: str) -> None:
        with self._lock:
            found = self._channel(environment, channel)
            found.decisions[kind] = found.decisions.get(kind, 0) + 1
            found.texts[DECISIONS_AT] = None

    def switch(self, environment: str, channel: str, switch: tuple[str, str, str]) -> None:
        """A switch (from, to, trigger); from is "" when there was no primary."""
        with self._lock:
            found = self._channel(environment, channel)
            found.switches[switch] = found.switches.get(switch, 0) + 1
            found.texts[SWITCHES_AT] = None

    def action(self, environment: str, channel: str, *, result: str, seconds: float) -> None:
        with self._lock:
            found = self._channel(environment, channel)
            found.actions[result] = found.actions.get(result, 0) + 1
            if found.action_duration is None:
                found.action_duration = Histogram(ACTION_BUCKETS)
            found.action_duration.observe(seconds)
            found.texts[ACTIONS_AT] = found.texts[ACTION_DURATION_AT] = None

    # --- scrape -----------------------------------------------------------------------

    def render(self, fmt: Format) -> Iterator[bytes]:
        """Every family, its channels in load order; only changed blocks are rendered."""
        version = label_values.current()
        with self._lock:
            if version is not self._version:  # a secret was registered: quote again
                for each in self._channels.values():
                    each.forget_texts()
                self._version, self._labels = version, LabelTexts()
            channels, labels = list(self._channels.values()), self._labels
        blocks = []
        for each in channels:
            with self._lock:
                blocks.append(each.rendered(labels))
        for index, family in enumerate(FAMILIES):
            yield family.header(fmt)
            for texts in blocks:
                yield texts[index]
