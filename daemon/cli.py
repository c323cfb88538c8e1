"""The `novu-failover` command line: a thin dispatcher over `daemon.commands.*`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from daemon import __version__
from daemon.heap import collector_paused, freeze_after_start_up

# subcommand -> (module under daemon.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run the failover daemon (the long-lived service)"),
    "check": ("check", "validate rules.yaml and settings; exit 0 if good, 2 with located errors"),
    "demo": ("demo", "the built-in demo: simulator, providers and the real daemon on loopback"),
    "simulate": ("simulate", "serve the Novu simulator and simulated providers on loopback"),
    "status": ("control", "show a running daemon's channels, health and decisions"),
    "events": ("control", "show a running daemon's audit trail, newest first"),
    "explain": ("control", "why a channel did or did not switch"),
    "pause": ("control", "pause automatic switching (all channels or one)"),
    "resume": ("control", "resume automatic switching"),
    "ack": ("control", "acknowledge a tripped brake on a channel"),
    "failover": ("control", "switch a channel to a named candidate now"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, only that command's module is imported (the
    others' arguments are left out: `run` need not import the simulator and the demo)."""
    parser = argparse.ArgumentParser(
        prog="novu-failover",
        description="Keeps every Novu email and SMS channel on a healthy provider.",
    )
    parser.add_argument("--version", action="version", version=f"novu-failover {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            module = importlib.import_module(f"daemon.commands.{module_name}")
            module.add_arguments(cmd, name)
            cmd.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the program itself (tests pass argv and run it in their process)
        freeze_after_start_up()
    argv = sys.argv[1:] if argv is None else list(argv)
    # The first word that is not an option names the command (the top level has no option
    # that takes a value); an unknown one gets the whole parser and its usage error.
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    with collector_paused():  # the imports of the command
        args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    code: int = args._module.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
