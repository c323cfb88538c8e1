"""`POST /v1/events/trigger` as the simulator plays it, for canaries.

A workflow here is one step per channel. Novu picks the integration of each step: the one
named by `overrides.<channel>.integrationIdentifier`, else the channel's active primary.
An identifier Novu cannot select (unknown, another channel, inactive) fails the step and
records no message, as Novu does. The message appears `message_delay` seconds after the
trigger (Novu's job runs asynchronously), with the integration's outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from daemon.sim.dto import PRIMARY_CHANNELS
from daemon.sim.outcomes import Outcome, check_outcome
from daemon.sim.records import SimEnvironment, SimError, SimIntegration

if TYPE_CHECKING:
    from daemon.sim.messages import MessageLog

DEFAULT_CHANNELS = ("email",)


@dataclass
class TriggerBook:
    """Known workflows, per-integration outcomes and the delay before a message shows."""

    workflows: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Workflow trigger identifier -> its channels; empty: any name is a workflow."""
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    """Integration identifier -> what happens to its messages (default `sent`)."""
    message_delay: float = 0.5
    triggers: int = 0

    def configure(self, data: Mapping[str, Any]) -> None:
        """Apply a control request: `workflows`, `outcomes`, `message_delay` (all checked first)."""
        unknown = sorted(set(data) - {"workflows", "outcomes", "message_delay"})
        if unknown:
            msg = f"unknown key(s): {', '.join(unknown)}"
            raise ValueError(msg)
        workflows = data.get("workflows", self.workflows)
        if not isinstance(workflows, dict) or not all(
            isinstance(v, list) and all(c in ("email", "sms") for c in v)
            for v in workflows.values()
        ):
            msg = 'workflows maps a name to its channels, e.g. {"canary": ["email"]}'
            raise ValueError(msg)
        outcomes = data.get("outcomes", {})
        if not isinstance(outcomes, dict):
            msg = 'outcomes maps an integration identifier to an outcome, e.g. {"ses": "sent"}'
            raise ValueError(msg)  # noqa: TRY004 - the control API answers ValueError with 400
        checked = {str(k): check_outcome(v) for k, v in outcomes.items()}
        delay = data.get("message_delay", self.message_delay)
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
            msg = "message_delay must be a number of seconds >= 0"
            raise ValueError(msg)
        self.workflows = {str(k): tuple(v) for k, v in workflows.items()}
        self.outcomes.update(checked)
        self.message_delay = float(delay)

    def describe(self) -> dict[str, Any]:
        return {
            "workflows": {k: list(v) for k, v in self.workflows.items()},
            "outcomes": dict(self.outcomes),
            "message_delay": self.message_delay,
            "triggers": self.triggers,
        }


def _problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["body must be an object"]
    problems: list[str] = []
    if not isinstance(body.get("name"), str) or not body["name"]:
        problems.append("name must be a string")
    to = body.get("to")
    if to is None:
        problems.append("to should not be null or undefined")
    elif not isinstance(to, str | dict | list):
        problems.append("to must be a subscriber id, a subscriber object or a list")
    if "transactionId" in body and not isinstance(body["transactionId"], str):
        problems.append("transactionId must be a string")
    overrides = body.get("overrides", {})
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        problems.append("overrides must be an object of objects")
    return problems


def _subscriber(to: Any) -> str:
    first = to[0] if isinstance(to, list) and to else to
    if isinstance(first, dict):
        return str(first.get("subscriberId", ""))
    return str(first)


def trigger(
    book: TriggerBook,
    log: MessageLog,
    env: SimEnvironment,
    integrations: list[SimIntegration],
    body: Any,
    *,
    now: float,
    transaction_id: str,
) -> dict[str, Any]:
    """Run one trigger; the `TriggerEventResponseDto` (the app adds the envelope)."""
    problems = _problems(body)
    if problems:
        raise SimError(400, problems)
    name = body["name"]
    if book.workflows and name not in book.workflows:
        message = f"workflow_not_found: workflow with identifier {name} cannot be found"
        errors = {"name": {"messages": [message], "value": name}}
        raise SimError(422, message, extra={"errors": errors})
    subscriber_id = _subscriber(body["to"])
    if not subscriber_id:
        raise SimError(400, ["to.subscriberId must be a string"])
    transaction_id = body.get("transactionId") or transaction_id
    overrides: dict[str, Any] = body.get("overrides", {})
    channels = (
        book.workflows.get(name)
        or tuple(c for c in PRIMARY_CHANNELS if c in overrides)
        or DEFAULT_CHANNELS
    )
    book.triggers += 1
    mine = [i for i in integrations if i.environment_id == env.id]
    for channel in channels:
        integration = _select(mine, channel, overrides.get(channel, {}))
        if integration is None:
            continue  # the step fails before a message exists
        outcome = book.outcomes.get(integration.identifier, "sent")
        if outcome == "never":
            continue
        log.deliver(
            env,
            channel,
            provider_id=integration.provider_id,
            at=now,
            failure_class=None if outcome == "sent" else outcome,
            transaction_id=transaction_id,
            subscriber_id=subscriber_id,
            visible_at=now + book.message_delay,
        )
    return {"acknowledged": True, "status": "processed", "transactionId": transaction_id}


def _select(
    integrations: list[SimIntegration], channel: str, override: Mapping[str, Any]
) -> SimIntegration | None:
    identifier = override.get("integrationIdentifier")
    if isinstance(identifier, str):
        return next(
            (
                i
                for i in integrations
                if i.identifier == identifier and i.channel == channel and i.active
            ),
            None,
        )
    return next((i for i in integrations if i.channel == channel and i.active and i.primary), None)
