"""The running daemon: the shell around the pure core (scheduling, Novu, state, API)."""
