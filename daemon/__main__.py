"""`python -m daemon` is the same as the `novu-failover` command."""

from daemon.cli import main

raise SystemExit(main())
