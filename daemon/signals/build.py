"""From a rules.yaml signal entry to the probe that checks it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from daemon.rules.model import (
    AlertSignal,
    HttpSignal,
    NovuDeliverySignal,
    PrometheusSignal,
    SignalEntry,
    StatuspageSignal,
)
from daemon.signals.base import MessagesSource, Probe
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
) -> Probe | None:
    """The probe for one signal, or None for a passive `alert` signal (webhooks feed it).

    `environ` is read at each call, so a rotated secret is picked up without a restart.
    `provider_id` gives the candidate integration's Novu providerId as last seen (or None).
    Without a `messages` source a `novu_delivery` probe answers *unknown*, saying why.
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
            signal_id, spec, channel=channel, messages=messages, provider_id=provider_id
        )
    if isinstance(spec, AlertSignal):
        return None
    msg = f"signal {signal_id}: no probe for kind {entry.kind!r}"
    raise TypeError(msg)
