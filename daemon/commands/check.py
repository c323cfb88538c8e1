"""`novu-failover check`: validate rules.yaml and the settings without touching Novu.

Exit 0 with a summary on stdout when both are valid; exit 2 with every problem on
stderr, one per line, each naming its file and line or its environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from daemon.rules.loader import RulesError, load_rules
from daemon.rules.summary import summarize
from daemon.settings import ENV_PREFIX, Settings, SettingsError, load_settings, unknown_variables

EXIT_OK = 0
EXIT_INVALID = 2


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    del name
    parser.add_argument(
        "rules_file",
        nargs="?",
        type=Path,
        default=None,
        metavar="RULES",
        help="the rules file (same as --rules)",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the rules file (default: ${ENV_PREFIX}RULES, else rules.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    given: Path | None = args.rules or args.rules_file
    if args.rules and args.rules_file and args.rules != args.rules_file:
        print(f"two rules files given: {args.rules_file} and --rules {args.rules}", file=sys.stderr)
        return EXIT_INVALID
    errors: list[str] = []
    settings: Settings | None = None
    overrides = {"rules": given} if given is not None else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        errors.extend(f"settings: {problem}" for problem in exc.problems)
    path = _rules_path(given, settings)
    try:
        rules = load_rules(path)
    except RulesError as exc:
        errors.extend(str(problem) for problem in exc.errors)
    except OSError as exc:  # load_rules' contract: RulesError or OSError, nothing else
        errors.append(f"{path}: cannot read the rules file: {exc.strerror or exc}")
    if errors or settings is None:
        for error in errors:
            print(error, file=sys.stderr)
        noun = "error" if len(errors) == 1 else "errors"
        print(f"{len(errors)} {noun}; nothing was loaded", file=sys.stderr)
        return EXIT_INVALID
    summary = summarize(
        rules,
        file=str(path),
        environ=os.environ,
        base_dir=path.parent,
        force_dry_run=settings.dry_run,
    )
    extra = [*unknown_variables(os.environ), *_settings_warnings(settings)]
    print(_settings_line(settings))
    print(summary.render())
    if extra:
        print(f"settings warnings ({len(extra)}):")
        for warning in extra:
            print(f"  - {warning}")
    return EXIT_OK


def _rules_path(given: Path | None, settings: Settings | None) -> Path:
    if given is not None:
        return given
    if settings is not None:
        return settings.rules
    return Path(os.environ.get(f"{ENV_PREFIX}RULES", "rules.yaml"))


def _settings_line(settings: Settings) -> str:
    token = "set" if settings.api_token is not None else "not set"
    return (
        f"settings: listen {settings.listen}, state_dir {settings.state_dir}, "
        f"log {settings.log_format}/{settings.log_level}, "
        f"dry_run {'on' if settings.dry_run else 'off'}, api token {token}"
    )


def _settings_warnings(settings: Settings) -> list[str]:
    if settings.api_token is None:
        return [
            f"no API token ({ENV_PREFIX}API_TOKEN or {ENV_PREFIX}API_TOKEN_FILE): "
            "the control endpoints (pause, resume, ack, failover) are disabled"
        ]
    return []
