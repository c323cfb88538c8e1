"""The built-in demo: simulator, simulated providers and the real daemon on loopback."""
