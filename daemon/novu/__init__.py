"""Novu's REST API: the client the daemon (probes, actuator, start-up checks) talks through."""

from daemon.novu.client import CallResult, NovuClient, RetryPolicy
from daemon.novu.errors import (
    NovuApiError,
    NovuAuthError,
    NovuError,
    NovuNotFound,
    NovuProtocolError,
    NovuUnavailable,
)

__all__ = [
    "CallResult",
    "NovuApiError",
    "NovuAuthError",
    "NovuClient",
    "NovuError",
    "NovuNotFound",
    "NovuProtocolError",
    "NovuUnavailable",
    "RetryPolicy",
]
