"""`novu-failover check --online`: every candidate against the live Novu (the simulator),
each problem on its own line, exit 2; ready candidates say so, exit 0."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from daemon.commands.check_online import check_online
from daemon.rules.loader import load_rules
from daemon.sim import Simulation, serve_simulation

CANARY = (
    "{canary: {workflow: canary, subscriber_id: sink, email: sink@example.test, "
    "deadline: 10s, poll: 1s}}"
)
RULES = """\
environments:
  production: {{api_url: "{url}", api_key_env: NOVU_KEY}}
  development: {{api_url: "{url}", api_key_env: NOVU_DEV_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{canary}]
      - integration: ses-backup
        signals: [{{novu_delivery: {{}}}}]
      - integration: mailgun-backup
        signals: [{canary}]
      - integration: twilio-main
        signals: [{{novu_delivery: {{}}}}]
      - integration: sendgrid-dev
        signals: [{{novu_delivery: {{}}}}]
      - integration: ghost
        signals: [{{novu_delivery: {{}}}}]
  - environment: production
    channel: sms
    candidates:
      - integration: vonage-backup
        signals: [{{novu_delivery: {{}}}}]
"""
CONDITION = {
    "isNegated": False,
    "type": "BOOLEAN",
    "value": "AND",
    "children": [{"field": "tier", "value": "gold", "operator": "EQUAL", "on": "subscriber"}],
}
EXPECTED_PROBLEMS = [
    "production/email: ses-backup: ses-backup has 1 condition that set-primary would erase "
    "(allow_erase_conditions is off)",
    "production/email: twilio-main: twilio-main is not an integration of production/email in "
    "Novu (it is an sms integration: wrong channel)",
    "production/email: sendgrid-dev: sendgrid-dev is not an integration of production/email "
    "in Novu (found in environment development)",
    "production/email: ghost: ghost is not an integration of production/email in Novu",
]


@pytest.fixture
async def simulation() -> AsyncIterator[Simulation]:
    simulation = await serve_simulation("127.0.0.1", 0)
    simulation.sim.triggers.configure({"message_delay": 0})
    simulation.sim.integration("ses-backup").conditions = [CONDITION]
    yield simulation
    await simulation.stop()


def _environ(simulation: Simulation) -> dict[str, str]:
    return {
        "NOVU_KEY": simulation.sim.api_key("production"),
        "NOVU_DEV_KEY": simulation.sim.api_key("development"),
    }


def _rules_file(tmp_path: Path, simulation: Simulation) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(url=simulation.url, canary=CANARY))
    return path


async def test_each_problem_is_reported_once_with_its_reason(
    simulation: Simulation, tmp_path: Path
) -> None:
    rules_path = _rules_file(tmp_path, simulation)
    async with httpx.AsyncClient() as http:
        report = await check_online(
            load_rules(rules_path), environ=_environ(simulation), base_dir=tmp_path, http=http
        )
    assert report.problems == EXPECTED_PROBLEMS
    assert (
        "production/email: sendgrid-main: ready (canary canary not sent; --canaries sends it)"
        in (report.lines)
    )
    assert "production/sms: vonage-backup: ready" in report.lines
    assert simulation.sim.triggers.triggers == 0  # no real message without --canaries


async def test_canaries_are_sent_once_and_a_failed_one_is_a_problem(
    simulation: Simulation, tmp_path: Path
) -> None:
    simulation.sim.triggers.configure({"outcomes": {"mailgun-backup": "credentials"}})
    rules_path = _rules_file(tmp_path, simulation)
    async with httpx.AsyncClient() as http:
        report = await check_online(
            load_rules(rules_path),
            environ=_environ(simulation),
            base_dir=tmp_path,
            http=http,
            canaries=True,
        )
    (failed,) = [p for p in report.problems if "canary" in p]
    assert failed.startswith(
        "production/email: mailgun-backup: canary failed: canary via mailgun-backup: error after "
    )
    assert "(credentials): Unauthorized: Forbidden" in failed
    assert any(
        line.startswith("production/email: sendgrid-main: ready (canary via sendgrid-main: sent in")
        for line in report.lines
    )
    assert simulation.sim.triggers.triggers == 2


async def test_unreachable_novu_is_a_problem_per_environment(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(url="http://127.0.0.1:9", canary=CANARY))
    async with httpx.AsyncClient() as http:
        report = await check_online(
            load_rules(path),
            environ={"NOVU_KEY": "k", "NOVU_DEV_KEY": "k"},
            base_dir=tmp_path,
            http=http,
        )
    assert [p.split(":")[0] for p in report.problems] == [
        "environment production",
        "environment development",
    ]
    assert all("cannot read Novu's integrations" in p for p in report.problems)


async def test_the_command_exits_2_listing_every_problem(
    simulation: Simulation, tmp_path: Path
) -> None:
    rules_path = _rules_file(tmp_path, simulation)
    env = {**os.environ, **_environ(simulation)}
    env = {k: v for k, v in env.items() if not k.startswith("NOVU_FAILOVER_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "daemon",
        "check",
        "--online",
        str(rules_path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2, (out, err)
    assert err.decode().splitlines() == [*EXPECTED_PROBLEMS, "4 problems found in Novu"]
    assert "online:" in out.decode()
