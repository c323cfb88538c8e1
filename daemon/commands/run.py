"""`novu-failover run`: the long-lived service."""

from __future__ import annotations

import argparse
import asyncio
import sys

from daemon.logs import LIBRARY_LOGGERS, PROCESS_LOGGERS, configure_logging
from daemon.service.server import run_daemon
from daemon.settings import SettingsError, load_settings


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    del name
    parser.add_argument("--rules", help="rules file (default: $NOVU_FAILOVER_RULES or rules.yaml)")
    parser.add_argument("--listen", help="host:port for the API (default: 127.0.0.1:9555)")
    parser.add_argument("--state-dir", help="where state survives restarts (default: ./state)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="decide and audit, but never change Novu",
    )


def run(args: argparse.Namespace) -> int:
    overrides = {
        key: value
        for key, value in {
            "rules": args.rules,
            "listen": args.listen,
            "state_dir": args.state_dir,
            "dry_run": args.dry_run,
        }.items()
        if value is not None
    }
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(
        fmt=settings.log_format,
        level=settings.log_level,
        capture=PROCESS_LOGGERS,
        chatty=LIBRARY_LOGGERS,
    )
    return asyncio.run(run_daemon(settings))
