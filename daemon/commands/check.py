"""`novu-failover check`: validate rules.yaml and the settings; `--online` also against Novu.

Exit 0 with a summary on stdout when both are valid; exit 2 with every problem on
stderr, one per line, each naming its file and line or its environment variable. With
`--online` every candidate is looked up in the live Novu (`daemon.commands.check_online`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import httpx

from daemon.commands.check_online import check_online
from daemon.durations import format_duration
from daemon.rules.loader import RulesError, load_rules
from daemon.rules.model import Rules
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
    parser.add_argument(
        "--online",
        action="store_true",
        help="also check every candidate against the live Novu (exists, channel, readiness)",
    )
    parser.add_argument(
        "--canaries",
        action="store_true",
        help="with --online, send each configured canary once (each is a real message)",
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
    extra = [
        *unknown_variables(os.environ),
        *_settings_warnings(settings),
        *_alert_warnings(settings, rules),
    ]
    print(_settings_line(settings))
    print(summary.render())
    if extra:
        print(f"settings warnings ({len(extra)}):")
        for warning in extra:
            print(f"  - {warning}")
    if args.online:
        return asyncio.run(_online(rules, base_dir=path.parent, canaries=args.canaries))
    return EXIT_OK


async def _online(rules: Rules, *, base_dir: Path, canaries: bool) -> int:
    async with httpx.AsyncClient() as http:
        report = await check_online(
            rules, environ=os.environ, base_dir=base_dir, http=http, canaries=canaries
        )
    print("online:")
    for line in report.lines:
        print(f"  {line}")
    if not report.problems:
        return EXIT_OK
    for problem in report.problems:
        print(problem, file=sys.stderr)
    noun = "problem" if len(report.problems) == 1 else "problems"
    print(f"{len(report.problems)} {noun} found in Novu", file=sys.stderr)
    return EXIT_INVALID


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


def _alert_warnings(settings: Settings, rules: Rules) -> list[str]:
    """Alert signals that webhooks cannot reach: without a token both webhook routes
    answer 403 (Grafana's too, unless it signs with the HMAC secret)."""
    signals = sum(
        1
        for rule in rules.channels
        for candidate in rule.candidates
        for entry in candidate.signals
        if entry.alert is not None
    )
    if not signals or settings.api_token is not None:
        return []
    routes = (
        "the Alertmanager webhook is disabled (Grafana's signed webhook still works)"
        if settings.grafana_hmac_secret is not None
        else "the alert webhooks (Alertmanager, Grafana) are disabled: they answer 403"
    )
    if rules.alertmanagers is not None:
        fallback = (
            "alert signals learn only from the Alertmanager API, every "
            f"{format_duration(rules.alertmanagers.interval)}"
        )
    else:
        fallback = "alert signals will never hear of an alert (and stay unknown)"
    return [f"{signals} alert signal(s) but no API token: {routes}; {fallback}"]
