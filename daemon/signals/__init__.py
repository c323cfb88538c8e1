"""Signal probes: each turns one source of health evidence into `Observation`s.

A failing, slow or hanging endpoint is an observation (`ok=False`, or `ok=None` when it is
no evidence either way), never an exception. Details name the URL's host and path only,
never a query string, a header value or anything filled in from `${ENV}`.
"""

from __future__ import annotations

from daemon.signals.base import MessagesSource, MissingVariableError, Probe, TemplateError
from daemon.signals.build import build_probe, failure_patterns, probe_jitter
from daemon.signals.canary import CanaryProbe
from daemon.signals.http import HttpProbe
from daemon.signals.novu_delivery import NovuDeliveryProbe, SharedMessages, UnavailableProbe
from daemon.signals.prometheus import PrometheusProbe
from daemon.signals.statuspage import StatuspageProbe

__all__ = [
    "CanaryProbe",
    "HttpProbe",
    "MessagesSource",
    "MissingVariableError",
    "NovuDeliveryProbe",
    "Probe",
    "PrometheusProbe",
    "SharedMessages",
    "StatuspageProbe",
    "TemplateError",
    "UnavailableProbe",
    "build_probe",
    "failure_patterns",
    "probe_jitter",
]
