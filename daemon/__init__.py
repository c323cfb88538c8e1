"""novu-failover: keeps every Novu email and SMS channel on a healthy provider."""

__version__ = "0.1.0"
