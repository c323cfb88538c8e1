"""The status/control HTTP API over a `daemon.control.ControlPlane`."""

from daemon.api.app import create_app

__all__ = ["create_app"]
