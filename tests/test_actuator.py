"""Actuator: re-read, refuse or act, verify, and one audit record for every attempt.

Most tests run against `FakeNovu`, a few-line stateful stand-in speaking Novu's protocol
(set-primary side effects as shared/novu/README.md describes) whose answers a test can bend
to produce exact anomalies. The tests at the end run against the Novu simulator.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from daemon.actuator import IN_FLIGHT, ActionOutcome, Actuator
from daemon.clock import FakeClock
from daemon.model import AuditRecord, Decision, DecisionKind, Trigger
from daemon.novu import NovuClient, RetryPolicy
from daemon.rules.model import ChannelRule
from daemon.sim.faults import Fault
from daemon.sim.novu import NovuSimulator, create_novu_app

ENV = "65a1b2c3d4e5f6a7b8c9d0e1"
IDS = {
    "sendgrid-main": "64f000000000000000000001",
    "ses-backup": "64f000000000000000000002",
    "mailgun-spare": "64f000000000000000000003",
    "twilio-sms": "64f000000000000000000004",
    "vonage-sms": "64f000000000000000000005",
}
CONDITIONS = [
    {
        "isNegated": False,
        "type": "BOOLEAN",
        "value": "AND",
        "children": [{"field": "tier", "value": "gold", "operator": "EQUAL", "on": "payload"}],
    }
]
SET_PRIMARY = re.compile(r"^/v1/integrations/([0-9a-f]{24})/set-primary$")
ONE = re.compile(r"^/v1/integrations/([0-9a-f]{24})$")


class FakeNovu:
    """Integrations of one environment; GET list, POST set-primary, PUT, as Novu does them.

    `hooks[(method, kind)]` may replace an answer (return a Response) or wait (async).
    """

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.hooks: dict[tuple[str, str], Callable[[httpx.Request], Any]] = {}
        self.ignore_writes = False

    def add(
        self,
        identifier: str,
        *,
        channel: str = "email",
        active: bool = True,
        primary: bool = False,
        conditions: list[dict[str, Any]] | None = None,
    ) -> None:
        self.rows[IDS[identifier]] = {
            "_id": IDS[identifier],
            "_environmentId": ENV,
            "_organizationId": "65a000000000000000000000",
            "name": identifier,
            "identifier": identifier,
            "providerId": identifier.split("-", maxsplit=1)[0],
            "channel": channel,
            "credentials": {"apiKey": "provider-secret"},
            "active": active,
            "deleted": False,
            "primary": primary,
            "conditions": conditions or [],
        }

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        kind = "list" if path == "/v1/integrations" else "set-primary" if "set-" in path else "one"
        hook = self.hooks.get((request.method, kind))
        if hook is not None:
            answer = hook(request)
            if asyncio.iscoroutine(answer):
                answer = await answer
            if isinstance(answer, httpx.Response):
                return answer
        if request.method == "GET" and kind == "list":
            return httpx.Response(200, json={"data": list(self.rows.values())})
        if request.method == "POST" and (match := SET_PRIMARY.match(path)):
            return self._set_primary(match.group(1))
        if request.method == "PUT" and (match := ONE.match(path)):
            row = self.rows[match.group(1)]
            if not self.ignore_writes:
                row.update(json.loads(request.content))
                row.pop("check", None)
            return httpx.Response(200, json={"data": row})
        return httpx.Response(404, json={"statusCode": 404, "message": "no route"})

    def _set_primary(self, integration_id: str) -> httpx.Response:
        target = self.rows.get(integration_id)
        if target is None:
            return httpx.Response(404, json={"statusCode": 404, "message": "Integration not found"})
        if not target["primary"] and not self.ignore_writes:
            for row in self.rows.values():
                if row["channel"] == target["channel"] and row["primary"]:
                    row["primary"] = False
            target.update(active=True, primary=True, conditions=[])
        return httpx.Response(200, json={"data": target})

    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method != "GET"]

    def primary(self, channel: str = "email") -> tuple[str, bool] | None:
        rows = [r for r in self.rows.values() if r["channel"] == channel and r["primary"]]
        return (rows[0]["identifier"], rows[0]["active"]) if len(rows) == 1 else None


class Audit:
    """Keeps final records in `records` and write-ahead `started` records in `started`."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.started: list[AuditRecord] = []
        self.order: list[str] = []

    async def record(self, entry: AuditRecord) -> None:
        (self.started if entry.result == "started" else self.records).append(entry)
        self.order.append(f"{entry.id}:{entry.result}")


async def no_sleep(seconds: float) -> None:
    del seconds


def make_rule(
    channel: str = "email",
    *,
    candidates: tuple[str, ...] = ("sendgrid-main", "ses-backup"),
    allow_erase: bool = False,
) -> ChannelRule:
    return ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": channel,
            "candidates": [
                {"integration": name, "signals": [{"http": {"url": "http://127.0.0.1:9/"}}]}
                for name in candidates
            ],
            "policy": {"allow_erase_conditions": allow_erase},
        }
    )


def decision(
    target: str = "ses-backup",
    *,
    kind: DecisionKind = DecisionKind.SWITCH,
    channel: str = "production/email",
    trigger: Trigger = "failover",
    current: str | None = "sendgrid-main",
) -> Decision:
    return Decision(
        channel=channel,
        kind=kind,
        reason="sendgrid-main is down: statuspage says major_outage",
        at=1_700_000_000.0,
        current=current,
        target=target,
        trigger=trigger,
        evidence=("statuspage: Mail Sending major_outage",),
    )


class Rig:
    """An Actuator over FakeNovu with a fake clock and an in-memory audit sink."""

    def __init__(
        self,
        novu: FakeNovu,
        *,
        action_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.novu = novu
        self.audit = Audit()
        self.clock = FakeClock()
        http = httpx.AsyncClient(transport=httpx.MockTransport(novu))
        client = NovuClient(
            http,
            environment="production",
            base_url="http://novu.test",
            api_key=SecretStr("sk-actuator-test"),
            retry=retry or RetryPolicy(),
            sleep=no_sleep,
        )
        ids = iter(f"action{n}" for n in range(1, 100))
        self.actuator = Actuator(
            clients={"production": client},
            clock=self.clock,
            audit=self.audit,
            action_timeout=action_timeout,
            new_id=lambda: next(ids),
        )

    async def run(
        self, rule: ChannelRule | None = None, d: Decision | None = None
    ) -> ActionOutcome:
        return await self.actuator.execute(rule or make_rule(), d or decision())


def email_channel(**ses: Any) -> FakeNovu:
    novu = FakeNovu()
    novu.add("sendgrid-main", primary=True)
    novu.add("ses-backup", **ses)
    novu.add("twilio-sms", channel="sms", primary=True)
    return novu


# -- the happy path -------------------------------------------------------------------------


async def test_switch_sets_the_primary_verifies_it_and_audits_once() -> None:
    rig = Rig(email_channel())
    outcome = await rig.run()
    assert outcome.ok
    assert rig.novu.primary() == ("ses-backup", True)
    assert rig.novu.primary("sms") == ("twilio-sms", True)
    (write,) = rig.novu.writes()
    assert write.url.path == f"/v1/integrations/{IDS['ses-backup']}/set-primary"
    assert write.headers["Idempotency-Key"] == "novu-failover-action1"
    assert rig.audit.records == [outcome.record]
    # write-ahead: a `started` record of the same action came before the final one
    assert rig.audit.order == ["action1:started", "action1:ok"]
    (started,) = rig.audit.started
    assert (started.from_, started.to, started.trigger) == (
        "sendgrid-main",
        "ses-backup",
        "failover",
    )
    record = outcome.record
    assert (record.id, record.result, record.error) == ("action1", "ok", None)
    assert not record.dry_run
    assert (record.environment, record.channel) == ("production", "email")
    assert (record.from_, record.to, record.trigger) == ("sendgrid-main", "ses-backup", "failover")
    assert record.reason == "sendgrid-main is down: statuspage says major_outage"
    assert record.evidence == ("statuspage: Mail Sending major_outage",)
    assert (record.attempts, record.at) == (1, rig.clock.now())
    assert outcome.view is not None
    assert outcome.view.primary is not None
    assert outcome.view.primary.identifier == "ses-backup"


async def test_each_action_gets_a_fresh_idempotency_key() -> None:
    rig = Rig(email_channel())
    await rig.run()
    await rig.run(d=decision("sendgrid-main", trigger="failback", current="ses-backup"))
    keys = [r.headers["Idempotency-Key"] for r in rig.novu.writes()]
    assert keys == ["novu-failover-action1", "novu-failover-action2"]


async def test_a_retried_set_primary_keeps_its_key_and_counts_its_attempts() -> None:
    novu = email_channel()
    answers = iter(
        [httpx.Response(409, json={"message": "in progress"}, headers={"Retry-After": "1"})]
    )
    novu.hooks["POST", "set-primary"] = lambda request: next(answers, None)
    rig = Rig(novu)
    outcome = await rig.run()
    assert outcome.ok
    assert outcome.record.attempts == 2
    assert {r.headers["Idempotency-Key"] for r in novu.writes()} == {"novu-failover-action1"}


async def test_a_manual_decision_is_executed_and_audited_as_manual() -> None:
    rig = Rig(email_channel())
    outcome = await rig.run(d=decision(trigger="manual"))
    assert outcome.ok
    assert outcome.record.trigger == "manual"


async def test_the_duration_is_measured_on_the_injected_clock() -> None:
    novu = email_channel()
    rig = Rig(novu)
    novu.hooks["POST", "set-primary"] = lambda request: rig.clock.advance(2.5) and None
    outcome = await rig.run()
    assert outcome.record.duration == 2.5


# -- dry run, refusals ----------------------------------------------------------------------


async def test_would_switch_records_a_dry_run_without_writing() -> None:
    rig = Rig(email_channel())
    outcome = await rig.run(d=decision(kind=DecisionKind.WOULD_SWITCH))
    assert outcome.ok
    assert (outcome.record.result, outcome.record.dry_run) == ("dry_run", True)
    assert rig.novu.writes() == []
    assert rig.novu.primary() == ("sendgrid-main", True)
    assert outcome.record.extra["plan"] == "set-primary"
    assert rig.audit.started == [], "nothing is written, so no write-ahead record"


@pytest.mark.parametrize(
    "kind", [k for k in DecisionKind if k not in (DecisionKind.SWITCH, DecisionKind.WOULD_SWITCH)]
)
async def test_decisions_that_do_not_act_are_rejected(kind: DecisionKind) -> None:
    rig = Rig(email_channel())
    with pytest.raises(ValueError, match="only switch decisions"):
        await rig.run(d=decision(kind=kind))
    assert rig.novu.requests == []
    assert rig.audit.records == []


async def test_a_decision_for_another_channel_is_rejected() -> None:
    rig = Rig(email_channel())
    with pytest.raises(ValueError, match="production/sms"):
        await rig.run(d=decision(channel="production/sms"))


async def test_a_target_missing_from_novu_is_refused() -> None:
    rig = Rig(email_channel())
    outcome = await rig.run(d=decision("mailgun-spare"))
    assert not outcome.ok
    assert outcome.record.result == "refused"
    assert "mailgun-spare is not an integration of production/email" in (outcome.record.error or "")
    assert rig.novu.writes() == []
    assert rig.audit.records == [outcome.record]
    assert rig.audit.started == []


async def test_a_target_of_another_channel_is_refused() -> None:
    rig = Rig(email_channel())
    outcome = await rig.run(d=decision("twilio-sms"))
    assert outcome.record.result == "refused"
    assert rig.novu.writes() == []


async def test_a_target_with_conditions_is_refused_unless_allowed() -> None:
    rig = Rig(email_channel(conditions=CONDITIONS))
    outcome = await rig.run()
    assert outcome.record.result == "refused"
    assert "allow_erase_conditions" in (outcome.record.error or "")
    assert outcome.record.erased_conditions == ()
    assert rig.novu.writes() == []
    assert rig.novu.rows[IDS["ses-backup"]]["conditions"] == CONDITIONS


async def test_allowed_erasing_of_conditions_is_recorded() -> None:
    rig = Rig(email_channel(conditions=CONDITIONS))
    outcome = await rig.run(make_rule(allow_erase=True))
    assert outcome.ok
    assert outcome.record.erased_conditions == tuple(CONDITIONS)
    assert rig.novu.rows[IDS["ses-backup"]]["conditions"] == []
    assert json.loads(json.dumps(asdict(outcome.record)))["erased_conditions"] == CONDITIONS


async def test_a_dry_run_reports_the_conditions_it_would_erase() -> None:
    rig = Rig(email_channel(conditions=CONDITIONS))
    outcome = await rig.run(make_rule(allow_erase=True), decision(kind=DecisionKind.WOULD_SWITCH))
    assert outcome.record.result == "dry_run"
    assert outcome.record.erased_conditions == tuple(CONDITIONS)
    assert rig.novu.writes() == []


async def test_a_dry_run_that_would_be_refused_says_refused() -> None:
    rig = Rig(email_channel(conditions=CONDITIONS))
    outcome = await rig.run(d=decision(kind=DecisionKind.WOULD_SWITCH))
    assert (outcome.record.result, outcome.record.dry_run) == ("refused", True)


# -- the primary's active flag --------------------------------------------------------------


async def test_an_inactive_primary_target_is_activated_with_put_not_set_primary() -> None:
    novu = FakeNovu()
    novu.add("sendgrid-main")
    novu.add("ses-backup", primary=True, active=False)
    rig = Rig(novu)
    outcome = await rig.run(d=decision(current="ses-backup"))
    assert outcome.ok
    (write,) = novu.writes()
    assert (write.method, write.url.path) == ("PUT", f"/v1/integrations/{IDS['ses-backup']}")
    assert json.loads(write.content) == {"active": True, "check": False}
    assert novu.primary() == ("ses-backup", True)
    assert outcome.record.extra["activated"] == "true"
    assert outcome.record.from_ == "ses-backup"


async def test_an_already_active_primary_target_is_a_noop_never_a_recorded_switch() -> None:
    novu = FakeNovu()
    novu.add("sendgrid-main")
    novu.add("ses-backup", primary=True)
    rig = Rig(novu)
    outcome = await rig.run(d=decision(current="ses-backup"))
    assert (outcome.kind, outcome.record) == ("noop", None)
    assert novu.writes() == []
    assert rig.audit.records == rig.audit.started == []


@pytest.mark.parametrize(
    "primary",
    ["ses-backup", "mailgun-spare"],
    ids=["person-chose-the-target", "person-chose-another"],
)
async def test_a_primary_changed_since_the_decision_supersedes_the_action(primary: str) -> None:
    """Compare-and-set: the decision said sendgrid-main was primary; Novu now says otherwise."""
    novu = FakeNovu()
    novu.add("sendgrid-main")
    novu.add("ses-backup", primary=primary == "ses-backup")
    novu.add("mailgun-spare", primary=primary == "mailgun-spare")
    rig = Rig(novu)
    outcome = await rig.run()
    assert (outcome.kind, outcome.record) == ("superseded", None)
    assert novu.writes() == []
    assert rig.audit.records == rig.audit.started == []
    assert outcome.view is not None
    assert outcome.view.primary is not None
    assert outcome.view.primary.identifier == primary


async def test_a_set_primary_answer_with_an_inactive_target_is_followed_by_activate() -> None:
    novu = email_channel(active=False)

    def inactive_answer(request: httpx.Request) -> httpx.Response:
        row = novu.rows[IDS["ses-backup"]]
        for other in novu.rows.values():
            if other["channel"] == "email":
                other["primary"] = False
        row.update(primary=True)  # an old server that forgot to activate
        return httpx.Response(200, json=row)

    novu.hooks["POST", "set-primary"] = inactive_answer
    rig = Rig(novu)
    outcome = await rig.run()
    assert outcome.ok
    assert [r.method for r in novu.requests] == ["GET", "POST", "PUT", "GET"]
    assert novu.primary() == ("ses-backup", True)
    assert outcome.record.attempts == 2


# -- verification and failures --------------------------------------------------------------


async def test_a_read_back_that_does_not_show_the_target_fails_precisely() -> None:
    novu = email_channel()
    novu.ignore_writes = True
    rig = Rig(novu)
    outcome = await rig.run()
    assert not outcome.ok
    assert outcome.record.result == "failed"
    assert outcome.record.error == "read-back: primary is sendgrid-main, not ses-backup"


async def test_a_read_back_with_two_primaries_fails() -> None:
    novu = email_channel()
    novu.hooks["GET", "list"] = lambda request: (
        novu.rows[IDS["sendgrid-main"]].update(primary=True) if novu.writes() else None
    )
    outcome = await Rig(novu).run()
    assert outcome.record.result == "failed"
    assert outcome.record.error == (
        "read-back: 2 primaries (sendgrid-main, ses-backup); expected only ses-backup"
    )


async def test_a_target_that_stays_inactive_fails() -> None:
    novu = email_channel()
    novu.hooks["PUT", "one"] = lambda request: httpx.Response(
        200, json=novu.rows[IDS["ses-backup"]]
    )
    novu.hooks["POST", "set-primary"] = lambda request: (
        novu.rows[IDS["sendgrid-main"]].update(primary=False),
        novu.rows[IDS["ses-backup"]].update(primary=True, active=False),
        httpx.Response(200, json=novu.rows[IDS["ses-backup"]]),
    )[-1]
    outcome = await Rig(novu).run()
    assert outcome.record.result == "failed"
    assert outcome.record.error == "read-back: ses-backup is still inactive after activating it"


async def test_novu_unavailable_fails_the_action_with_the_attempts_made() -> None:
    novu = email_channel()
    novu.hooks["POST", "set-primary"] = lambda request: httpx.Response(
        503, json={"statusCode": 503, "message": "Service Unavailable"}
    )
    rig = Rig(novu)
    outcome = await rig.run()
    # 503s may come from a proxy after Novu made the change: the outcome is not known, so
    # the action stays open (its write-ahead record only) to be settled from Novu's view.
    assert outcome.kind == "open"
    assert outcome.record is not None
    assert outcome.record.result == "started"
    assert outcome.record.from_ == "sendgrid-main"
    assert outcome.deadline == rig.clock.now() + 30.0
    assert rig.audit.records == []
    assert [r.id for r in rig.audit.started] == [outcome.record.id]


async def test_a_refused_write_is_not_retried_and_fails() -> None:
    novu = email_channel()
    novu.hooks["POST", "set-primary"] = lambda request: httpx.Response(
        403, json={"statusCode": 403, "message": "Forbidden"}
    )
    outcome = await Rig(novu).run()
    assert (outcome.record.result, outcome.record.attempts) == ("failed", 1)
    assert "HTTP 403: Forbidden" in (outcome.record.error or "")


async def test_an_unreadable_channel_fails_before_any_write() -> None:
    novu = email_channel()
    novu.hooks["GET", "list"] = lambda request: httpx.Response(
        401, json={"message": "Unauthorized"}
    )
    outcome = await Rig(novu).run()
    assert outcome.record.result == "failed"
    assert (outcome.record.error or "").startswith("reading the channel: ")
    assert (outcome.record.attempts, outcome.record.from_) == (0, "sendgrid-main")
    assert novu.writes() == []


async def test_an_environment_without_a_client_fails() -> None:
    rig = Rig(email_channel())
    rule = ChannelRule.model_validate({**make_rule().model_dump(), "environment": "staging"})
    d = decision(channel="staging/email")
    outcome = await rig.actuator.execute(rule, d)
    assert outcome.record.result == "failed"
    assert outcome.record.error == "no Novu client for environment 'staging'"


# -- concurrency and time -------------------------------------------------------------------


async def test_one_action_in_flight_per_channel_the_second_is_refused() -> None:
    novu = email_channel()
    novu.add("twilio-sms", channel="sms", primary=True)
    novu.add("vonage-sms", channel="sms")
    release = asyncio.Event()
    entered = asyncio.Event()

    async def held(request: httpx.Request) -> None:
        if "ses-backup" in novu.rows[request.url.path.split("/")[3]]["identifier"]:
            entered.set()
            await release.wait()

    novu.hooks["POST", "set-primary"] = held
    rig = Rig(novu)
    first = asyncio.create_task(rig.run())
    await entered.wait()
    assert rig.actuator.in_flight("production/email")
    second = await rig.run(d=decision("ses-backup"))
    assert (second.ok, second.record.result, second.record.error) == (False, "refused", IN_FLIGHT)
    other = await rig.run(
        make_rule("sms", candidates=("twilio-sms", "vonage-sms")),
        decision("vonage-sms", channel="production/sms", current="twilio-sms"),
    )
    assert other.ok  # another channel is not held up
    release.set()
    assert (await first).ok
    assert not rig.actuator.in_flight("production/email")
    assert [r.result for r in rig.audit.records] == ["refused", "ok", "ok"]
    assert len({r.id for r in rig.audit.records}) == 3


async def test_the_whole_action_is_bounded_by_action_timeout() -> None:
    novu = email_channel()

    async def hang(request: httpx.Request) -> None:
        await asyncio.Event().wait()

    novu.hooks["POST", "set-primary"] = hang
    # long enough for the read before it on a busy machine; only the hung write uses it up
    rig = Rig(novu, action_timeout=0.5)
    began = rig.clock.now()
    outcome = await rig.run()
    assert outcome.kind == "open"  # Novu may still carry out the call it was sent
    assert outcome.deadline == began + 0.5
    assert not rig.actuator.in_flight("production/email")
    assert rig.audit.records == []
    assert [r.result for r in rig.audit.started] == ["started"]


async def test_a_timeout_before_any_write_fails_for_certain() -> None:
    novu = email_channel()

    async def hang(request: httpx.Request) -> None:
        await asyncio.Event().wait()

    novu.hooks["GET", "list"] = hang
    rig = Rig(novu, action_timeout=0.05)
    outcome = await rig.run()
    assert outcome.record is not None
    assert (outcome.kind, outcome.record.result) == ("failed", "failed")
    assert outcome.record.error == "timed out after 50ms while reading the channel"
    assert rig.audit.started == []


async def cancelled_while_hung_at(hook: tuple[str, str]) -> Rig:
    """Run an action whose request `hook` hangs inside Novu, and cancel it there."""
    novu = email_channel()
    entered = asyncio.Event()

    async def hang(request: httpx.Request) -> None:
        entered.set()
        await asyncio.Event().wait()

    novu.hooks[hook] = hang
    rig = Rig(novu)
    task = asyncio.create_task(rig.run())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return rig


async def test_a_cancelled_write_stays_open_for_settlement() -> None:
    rig = await cancelled_while_hung_at(("POST", "set-primary"))
    assert rig.audit.records == []  # never `failed`: Novu may have performed it
    assert [r.result for r in rig.audit.started] == ["started"]
    assert not rig.actuator.in_flight("production/email")


async def test_a_cancelled_action_before_any_write_is_audited_as_failed() -> None:
    rig = await cancelled_while_hung_at(("GET", "list"))
    (record,) = rig.audit.records
    assert (record.result, record.error) == ("failed", "cancelled while reading the channel")
    assert rig.audit.started == []


async def test_an_unexpected_error_is_audited_as_failed_not_lost() -> None:
    novu = email_channel()
    rig = Rig(novu)

    def broken(request: httpx.Request) -> None:
        raise KeyError("bug")

    novu.hooks["POST", "set-primary"] = broken
    outcome = await rig.run()
    # after the write-ahead record the outcome is unknown: open, its started record kept
    assert outcome.kind == "open"
    assert [r.result for r in rig.audit.started] == ["started"]

    novu.hooks.pop(("POST", "set-primary"))
    novu.hooks["GET", "list"] = broken
    outcome = await rig.run()
    assert outcome.record is not None
    assert outcome.record.result == "failed"
    assert outcome.record.error == "unexpected KeyError while reading the channel"
    assert rig.audit.records == [outcome.record]


async def test_a_write_ahead_record_that_cannot_be_kept_stops_the_action() -> None:
    novu = email_channel()
    rig = Rig(novu)

    async def refuse(entry: AuditRecord) -> None:
        if entry.result == "started":
            raise OSError(28, "No space left on device")

    rig.audit.record = refuse  # type: ignore[method-assign]
    outcome = await rig.run()
    assert outcome.record is not None
    assert (outcome.kind, outcome.record.result) == ("failed", "failed")
    assert "cannot keep the write-ahead audit record" in (outcome.record.error or "")
    assert novu.writes() == []


# -- against the Novu simulator -------------------------------------------------------------


class SimRig:
    """An Actuator over the Novu simulator (httpx.ASGITransport), fake clocks on both sides."""

    def __init__(
        self,
        sim: NovuSimulator | None = None,
        *,
        action_timeout: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self.sim = sim or NovuSimulator(clock=FakeClock(), rate_limit=None)
        self.audit = Audit()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_novu_app(self.sim)))
        client = NovuClient(
            http,
            environment="production",
            base_url="http://novu.sim",
            api_key=SecretStr(self.sim.api_key("production")),
            sleep=no_sleep,
            timeout=timeout,
        )
        self.actuator = Actuator(
            clients={"production": client},
            clock=FakeClock(),
            audit=self.audit,
            action_timeout=action_timeout,
        )

    async def run(
        self, rule: ChannelRule | None = None, d: Decision | None = None
    ) -> ActionOutcome:
        return await self.actuator.execute(rule or make_rule(), d or decision())

    def primary(self, channel: str = "email") -> tuple[str, bool] | None:
        found = self.sim.primary("production", channel)
        return (found.identifier, found.active) if found else None

    def writes(self) -> list[str]:
        return [f"{c.method} {c.identifier} {c.status}" for c in self.sim.calls]


async def test_sim_switch_lands_on_the_target_and_is_verified() -> None:
    rig = SimRig()
    outcome = await rig.run()
    assert (outcome.ok, outcome.record.result, outcome.record.attempts) == (True, "ok", 1)
    assert rig.primary() == ("ses-backup", True)
    assert rig.writes() == ["POST ses-backup 200"]
    assert rig.sim.calls[0].idempotency_key == f"novu-failover-{outcome.record.id}"
    assert outcome.view is not None
    assert outcome.view.find("sendgrid-main") is not None


async def test_sim_dry_run_writes_nothing() -> None:
    rig = SimRig()
    outcome = await rig.run(d=decision(kind=DecisionKind.WOULD_SWITCH))
    assert outcome.record.result == "dry_run"
    assert rig.writes() == []
    assert rig.primary() == ("sendgrid-main", True)


async def test_sim_inactive_primary_target_is_activated() -> None:
    rig = SimRig()
    for item in rig.sim.integrations("production"):
        if item.channel == "email":
            item.primary = item.identifier == "ses-backup"
            item.active = item.identifier != "ses-backup"
    outcome = await rig.run(d=decision(current="ses-backup"))
    assert outcome.ok
    assert rig.writes() == ["PUT ses-backup 200"]
    assert rig.primary() == ("ses-backup", True)


async def test_sim_conditions_refused_by_default() -> None:
    rig = SimRig()
    rig.sim.integration("ses-backup").conditions = [dict(c) for c in CONDITIONS]
    outcome = await rig.run()
    assert outcome.record.result == "refused"
    assert rig.writes() == []
    assert rig.sim.integration("ses-backup").conditions == CONDITIONS


async def test_sim_conditions_erased_when_allowed_and_recorded() -> None:
    rig = SimRig()
    rig.sim.integration("ses-backup").conditions = [dict(c) for c in CONDITIONS]
    outcome = await rig.run(make_rule(allow_erase=True))
    assert outcome.ok
    assert outcome.record.erased_conditions == tuple(CONDITIONS)
    assert rig.sim.integration("ses-backup").conditions == []


async def test_sim_5xx_are_retried_and_the_switch_completes() -> None:
    rig = SimRig()
    rig.sim.faults.add(Fault(kind="error", path="/v1/integrations/", count=2, status=503))
    outcome = await rig.run()
    assert (outcome.ok, outcome.record.attempts) == (True, 3)
    assert rig.writes() == ["POST ses-backup 503", "POST ses-backup 503", "POST ses-backup 200"]
    assert len({c.idempotency_key for c in rig.sim.calls}) == 1


async def test_sim_a_lost_answer_is_replayed_and_noted() -> None:
    rig = SimRig()
    rig.sim.faults.add(
        Fault(kind="error", path="/v1/integrations/", count=1, status=503, phase="after")
    )
    outcome = await rig.run()
    assert outcome.ok
    assert outcome.record.extra["replayed"] == "true"
    assert [c.executed for c in rig.sim.calls] == [True, False]


async def test_sim_novu_down_fails_the_action_and_leaves_the_primary() -> None:
    rig = SimRig()
    rig.sim.faults.add(Fault(kind="error", path="/v1/integrations/", status=500))
    outcome = await rig.run()
    assert outcome.kind == "open"  # settled later from Novu's view (which shows no change)
    assert rig.primary() == ("sendgrid-main", True)
    assert [c.executed for c in rig.sim.calls if c.kind == "set-primary"] == [False] * 5


async def test_sim_one_action_in_flight_per_channel() -> None:
    gate, holding = asyncio.Event(), asyncio.Event()

    async def held(seconds: float) -> None:
        holding.set()
        await gate.wait()

    rig = SimRig(NovuSimulator(clock=FakeClock(), rate_limit=None, sleep=held))
    rig.sim.faults.add(Fault(kind="latency", path="/v1/integrations/", method="POST", count=1))
    first = asyncio.create_task(rig.run())
    await holding.wait()
    second = await rig.run(d=decision("mailgun-backup"))
    assert (second.record.result, second.record.error) == ("refused", IN_FLIGHT)
    gate.set()
    assert (await first).ok
    assert rig.primary() == ("ses-backup", True)
    assert [r.result for r in rig.audit.records] == ["refused", "ok"]


async def test_sim_a_hung_novu_is_cut_by_the_action_timeout() -> None:
    rig = SimRig(action_timeout=0.5)  # the read before the hung write must fit, under load
    rig.sim.faults.add(Fault(kind="timeout", path="/v1/integrations/", method="POST"))
    try:
        outcome = await rig.run()
    finally:
        rig.sim.release_hangs()
    assert outcome.kind == "open"
    assert rig.audit.records == []
    assert not rig.actuator.in_flight("production/email")
