"""The `/metrics` exposition: prometheus_client's registry plus families we render ourselves.

The per-channel families (tens of thousands of series at 1,000 channels) are kept in plain
structures by their owners and rendered straight to exposition text, each channel's block
kept until its values change (`daemon.channel_counters`, `daemon.channel_metrics`).
prometheus_client formats every line of every scrape in Python and keeps a locked object
per series; for a handful of global series it stays the simplest tool.

Two formats, as prometheus_client offers them: the Prometheus text format 0.0.4 and
OpenMetrics 1.0.0 (when the client lists it; Prometheus does). Sample lines are the same
in both; the headers differ (OpenMetrics names a counter family without `_total`, escapes
`"` in HELP and ends with `# EOF`). Values and escaping follow prometheus_client's
(`floatToGoString`), so a series reads the same whichever renders it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from daemon.logs import redact, secrets_version


class Format(Enum):
    TEXT = "text/plain; version=0.0.4; charset=utf-8"
    OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

    @property
    def content_type(self) -> str:
        return self.value


def negotiate(accept: str) -> Format:
    """OpenMetrics 1.0.0 when `accept` lists it (without a version, or version 1.0.0);
    otherwise the text format 0.0.4, which every Prometheus accepts."""
    for entry in accept.split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        if media != "application/openmetrics-text":
            continue
        versions = [p.split("=", 1)[1].strip() for p in params if p.startswith("version=")]
        if not versions or versions[0] == "1.0.0":
            return Format.OPENMETRICS
    return Format.TEXT


class TextFamilies(Protocol):
    """Metric families rendered by their owner: whole families (headers and samples)."""

    def render(self, fmt: Format) -> Iterable[bytes]: ...


def exposition(registry: CollectorRegistry, families: Sequence[TextFamilies], fmt: Format) -> bytes:
    """Everything `/metrics` shows, in `fmt`."""
    return b"".join(exposition_parts(registry, families, fmt))


def exposition_parts(
    registry: CollectorRegistry, families: Sequence[TextFamilies], fmt: Format
) -> list[bytes]:
    """`exposition` in pieces (thousands: the kept blocks themselves), not joined."""
    if fmt is Format.OPENMETRICS:
        head = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
        parts = [head.removesuffix(b"# EOF\n")]
    else:
        parts = [generate_latest(registry)]
    for family in families:
        parts.extend(family.render(fmt))
    if fmt is Format.OPENMETRICS:
        parts.append(b"# EOF\n")
    return parts


def chunks(parts: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """`parts` joined into pieces of about `size` bytes: a body sent in a few writes,
    without a copy of the whole exposition (13 MB at 1,000 channels) in memory."""
    batch: list[bytes] = []
    length = 0
    for part in parts:
        batch.append(part)
        length += len(part)
        if length >= size:
            yield b"".join(batch)
            batch, length = [], 0
    if batch:
        yield b"".join(batch)


# --- text primitives -----------------------------------------------------------------------

MetricType = Literal["counter", "gauge", "histogram", "summary"]


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family's name, type and HELP; `header(fmt)` is its `# HELP`/`# TYPE`."""

    name: str
    """The family's name; a counter's without `_total` (its samples have it)."""
    type: MetricType
    help: str

    @property
    def sample(self) -> str:
        """The name of its plain samples (`_total` for a counter)."""
        return self.name + "_total" if self.type == "counter" else self.name

    def header(self, fmt: Format) -> bytes:
        if fmt is Format.OPENMETRICS:
            doc = _escape_help(self.help).replace('"', r"\"")
            name = self.name
        else:
            doc, name = _escape_help(self.help), self.sample
        return f"# HELP {name} {doc}\n# TYPE {name} {self.type}\n".encode()


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def escape_label_value(value: str) -> str:
    """A label value as it goes between the quotes (both formats escape the same three)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def label_text(labels: Mapping[str, str]) -> str:
    """`{a="1",b="2"}`, names sorted as prometheus_client sorts them; values escaped."""
    pairs = ",".join(f'{k}="{escape_label_value(labels[k])}"' for k in sorted(labels))
    return "{" + pairs + "}"


def format_value(value: float) -> str:
    """A sample value as prometheus_client writes it (its `floatToGoString`): `1.0`,
    `0.25`, `+Inf`, `NaN`, and Go's exponent form from 1e6 on (`1.7e+09`)."""
    if type(value) is int and 0 <= value < 1_000_000:
        return f"{value}.0"  # counts: the common case, without a float's repr
    number = float(value)
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    text = repr(number)
    dot = text.find(".")
    if number > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


class LabelValues:
    """Label values pass the log redactor once each, not on every update or scrape: the
    answer (and its escaped form) is remembered until another secret is registered.

    Safe across threads: an answer is remembered only under the secrets it was redacted
    with (read before redacting), so a secret registered meanwhile is never missed."""

    def __init__(self) -> None:
        self._redacted: dict[str, str] = {}
        self._quoted: dict[str, str] = {}
        self._version: object = None
        self._lock = threading.Lock()

    def current(self) -> object:
        """Changes whenever a secret is registered: text built from `quoted` is stale then."""
        version = secrets_version()
        if version is not self._version:
            with self._lock:
                if version is not self._version:
                    self._redacted, self._quoted = {}, {}
                    self._version = version
        return version

    def redacted(self, value: object) -> str:
        """`value` as a label value may show it (secrets redacted)."""
        text = str(value)
        version = self.current()
        found = self._redacted.get(text)
        if found is None:
            found = redact(text)
            with self._lock:
                if self._version is version:
                    self._redacted[text] = found
        return found

    def quoted(self, value: str) -> str:
        """`value` redacted and escaped, ready to go between a label's quotes."""
        version = self.current()
        found = self._quoted.get(value)
        if found is None:
            found = escape_label_value(self.redacted(value))
            with self._lock:
                if self._version is version:
                    self._quoted[value] = found
        return found


label_values = LabelValues()
"""The process's one cache (the secrets are process-wide too)."""
