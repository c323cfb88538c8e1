"""From a rules.yaml signal entry to the probe that checks it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import httpx

from daemon.clock import Clock, SystemClock
from daemon.health.classes import ClassPattern, pattern
from daemon.rules.model import (
    AlertSignal,
    CanarySignal,
    HttpSignal,
    NovuDeliverySignal,
    PrometheusSignal,
    Rules,
    SignalEntry,
    SignalSpec,
    StatuspageSignal,
)
from daemon.signals.base import MessagesSource, Probe
from daemon.signals.canary import CanaryNovu, CanaryProbe
from daemon.signals.http import HttpProbe
from daemon.signals.novu_delivery import NovuDeliveryProbe, UnavailableProbe
from daemon.signals.prometheus import PrometheusProbe
from daemon.signals.statuspage import StatuspageProbe


def build_probe(
    signal_id: str,
    entry: SignalEntry,
    *,
    channel: str,
    http: httpx.AsyncClient,
    environ: Mapping[str, str],
    messages: MessagesSource | None,
    provider_id: Callable[[], str | None],
    integration: str = "",
    novu: CanaryNovu | None = None,
    clock: Clock | None = None,
    patterns: Sequence[ClassPattern] = (),
) -> Probe | None:
    """The probe for one signal, or None for a passive `alert` signal (webhooks feed it).

    `environ` is read at each call, so a rotated secret is picked up without a restart.
    `provider_id` gives the candidate integration's Novu providerId as last seen (or None).
    Without a `messages` source a `novu_delivery` probe answers *unknown*, saying why;
    without `novu` a `canary` does the same. `patterns` are the user's failure classes.
    """
    spec = entry.spec
    if isinstance(spec, HttpSignal):
        return HttpProbe(signal_id, spec, http=http, environ=environ)
    if isinstance(spec, StatuspageSignal):
        return StatuspageProbe(signal_id, spec, http=http, environ=environ)
    if isinstance(spec, PrometheusSignal):
        return PrometheusProbe(signal_id, spec, http=http, environ=environ)
    if isinstance(spec, NovuDeliverySignal):
        if messages is None:
            return UnavailableProbe(signal_id, "no Novu messages source to read delivery from")
        return NovuDeliveryProbe(
            signal_id,
            spec,
            channel=channel,
            messages=messages,
            provider_id=provider_id,
            patterns=patterns,
        )
    if isinstance(spec, CanarySignal):
        if novu is None:
            return UnavailableProbe(signal_id, "no Novu client to send the canary through")
        return CanaryProbe(
            signal_id,
            spec,
            channel=channel,
            integration=integration,
            novu=novu,
            clock=clock or SystemClock(),
            patterns=patterns,
        )
    if isinstance(spec, AlertSignal):
        return None
    msg = f"signal {signal_id}: no probe for kind {entry.kind!r}"
    raise TypeError(msg)


def failure_patterns(rules: Rules) -> tuple[ClassPattern, ...]:
    """The user's failure-class patterns of `rules`, compiled (the loader checked them)."""
    return tuple(
        pattern(p.failure_class, p.match, p.providers) for p in rules.failure_classes
    )


def probe_jitter(spec: SignalSpec) -> float:
    """Seconds of random delay per run: a tenth of the interval, at most 2s; a canary gets
    its full tenth, so canaries of many candidates do not all send at once."""
    if isinstance(spec, CanarySignal):
        return spec.interval * 0.1
    return min(spec.interval * 0.1, 2.0)
