"""The channel owner's cycle under an injected clock: compare-and-set, settlement of open
actions, reloads that hand over the rule, write-ahead failures, and channels that act
independently. Novu is the simulator over ASGI; no sleeps, time moves by `advance()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from daemon.actuator import Actuator
from daemon.clock import FakeClock
from daemon.metrics import Metrics
from daemon.model import AuditRecord, DecisionKind, Observation
from daemon.novu.client import NovuClient
from daemon.policy import brake_status
from daemon.rules.loader import parse_rules
from daemon.service.context import OwnerContext
from daemon.service.durable import DurableState
from daemon.service.owner import ChannelOwner
from daemon.service.reconcile import reconcile
from daemon.service.runtime import build_runtimes
from daemon.service.settlement import SETTLE_MARGIN, OpenAction
from daemon.sim import NovuSimulator, create_novu_app
from daemon.sim.faults import Fault
from daemon.state import StateError, StateStore

pytestmark = pytest.mark.timeout(30)

RULES = """\
defaults: {interval: 10s, timeout: 2s, fall: 1, rise: 1}
environments:
  production: {api_url: "http://novu.sim", api_key_env: NOVU_KEY}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals: [{http: {url: "http://127.0.0.1:9/sendgrid"}}]
      - integration: ses-backup
        signals: [{http: {url: "http://127.0.0.1:9/ses"}}]
      - integration: mailgun-backup
        signals: [{http: {url: "http://127.0.0.1:9/mailgun"}}]
    policy: {cooldown: 0s, confirm: 0s, startup_grace: 0s, failback: {after: 60s},
             brake: {max: 3, per: 1h}}
  - environment: production
    channel: sms
    candidates:
      - integration: twilio-main
        signals: [{http: {url: "http://127.0.0.1:9/twilio"}}]
      - integration: vonage-backup
        signals: [{http: {url: "http://127.0.0.1:9/vonage"}}]
    policy: {cooldown: 0s, confirm: 0s, startup_grace: 0s}
"""
EMAIL, SMS = "production/email", "production/sms"


async def no_sleep(seconds: float) -> None:
    del seconds


class Rig:
    """Owners for the rules above over one shared context, as the daemon builds them."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        action_timeout: float = 30.0,
        sim: NovuSimulator | None = None,
        rules: str = RULES,
    ) -> None:
        self.tmp_path = tmp_path
        self.clock = FakeClock()
        self.sim = sim or NovuSimulator(clock=self.clock, rate_limit=None)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_novu_app(self.sim)))
        client = NovuClient(
            http,
            environment="production",
            base_url="http://novu.sim",
            api_key=SecretStr(self.sim.api_key("production")),
            sleep=no_sleep,
        )
        self.store = StateStore.open(tmp_path / "state")
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.state = DurableState(self.store, metrics=self.metrics)
        self.context = OwnerContext(
            clock=self.clock,
            state=self.state,
            metrics=self.metrics,
            actuator=Actuator(
                clients={"production": client},
                clock=self.clock,
                audit=self.state,
                action_timeout=action_timeout,
            ),
            clients={"production": client},
            started_at=self.clock.now(),
            dry_run=False,
            action_slots=asyncio.Semaphore(4),
        )
        self.rules = parse_rules(rules, filename="rules.yaml")
        self.owners = {
            key: ChannelOwner(runtime, context=self.context)
            for key, runtime in build_runtimes(self.rules).items()
        }

    def owner(self, key: str = EMAIL) -> ChannelOwner:
        return self.owners[key]

    def health(self, key: str = EMAIL, **up: bool) -> None:
        """Feed one observation per named candidate (integration=True means up)."""
        owner = self.owner(key)
        for integration, ok in up.items():
            name = integration.replace("_", "-")
            (ref,) = [r for r in owner.runtime.signals if r[0] == name]
            owner.observe(ref, Observation(ref[1], ok, self.clock.now(), "test"))

    async def read(self, key: str = EMAIL) -> None:
        owner = self.owner(key)
        async with owner.lock:
            await owner.read_view()

    def person_switches_to(self, identifier: str) -> None:
        """A person sets the primary in Novu's dashboard (not through the daemon)."""
        env = self.sim.environment("production")
        self.sim.set_primary(env, self.sim.integration(identifier).id)

    def primary(self, channel: str = "email") -> str | None:
        found = self.sim.primary("production", channel)
        return found.identifier if found else None

    def audit(self) -> list[AuditRecord]:
        return list(reversed(self.store.events(limit=100, offset=0)[0]))


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_a_switch_is_written_ahead_made_once_and_counts_for_the_brake(rig: Rig) -> None:
    await rig.read()
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    decision = await rig.owner().evaluate()
    assert decision is not None
    assert decision.kind is DecisionKind.SWITCH
    assert rig.sim.set_primary_targets() == ["ses-backup"]
    assert [(r.result, r.to) for r in rig.audit()] == [
        ("started", "ses-backup"),
        ("ok", "ses-backup"),
    ]
    history = rig.store.history(EMAIL)
    assert [(s.to, s.trigger) for s in history.switches] == [("ses-backup", "failover")]
    policy = rig.owner().runtime.rule.policy
    assert brake_status(policy, history, now=rig.clock.now())[0] == 1


async def test_a_person_switching_elsewhere_after_our_last_read_is_never_overridden(
    rig: Rig,
) -> None:
    await rig.read()  # the cached view: sendgrid-main is primary
    rig.person_switches_to("mailgun-backup")  # after the daemon's last read
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    decision = await rig.owner().evaluate()
    assert decision is not None
    assert decision.kind is DecisionKind.KEEP  # decided again from the fresh view
    assert rig.sim.set_primary_targets() == []  # the daemon made no call
    assert rig.primary() == "mailgun-backup"
    (drift,) = rig.audit()
    assert (drift.action, drift.trigger, drift.from_, drift.to) == (
        "drift",
        "manual",
        "sendgrid-main",
        "mailgun-backup",
    )
    # failback never undoes a person's choice, however long sendgrid-main stays up
    rig.health(sendgrid_main=True)
    rig.clock.advance(3600)
    assert (await rig.owner().evaluate()) is not None
    assert rig.primary() == "mailgun-backup"
    assert rig.sim.set_primary_targets() == []


async def test_a_person_switching_to_our_target_is_recorded_as_theirs_not_ours(rig: Rig) -> None:
    await rig.read()
    rig.person_switches_to("ses-backup")
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    assert (await rig.owner().evaluate()) is not None
    assert rig.sim.set_primary_targets() == []  # the daemon made no call
    assert [(r.action, r.result, r.trigger) for r in rig.audit()] == [("drift", "ok", "manual")]
    history = rig.store.history(EMAIL)
    assert [s.trigger for s in history.switches] == ["manual"]
    policy = rig.owner().runtime.rule.policy
    assert brake_status(policy, history, now=rig.clock.now())[0] == 0  # the brake ignores it


async def test_an_interrupted_switch_that_landed_is_settled_ok_as_our_own(rig: Rig) -> None:
    """A restart finds a started record whose set-primary Novu did perform."""
    started = await write_started(rig, to="ses-backup")
    rig.person_switches_to("ses-backup")  # what the lost call did
    owner = reopen(rig, started)
    await rig.read()
    assert owner.open_action is None
    final = rig.audit()[-1]
    assert (final.id, final.result) == (started.id, "ok")
    assert "shows ses-backup as the active primary" in final.extra["settled"]
    assert not [r for r in rig.audit() if r.action == "drift"]  # not mistaken for a person
    assert [s.trigger for s in rig.store.history(EMAIL).switches] == ["failover"]


async def test_an_interrupted_switch_blocks_the_channel_until_its_deadline_then_fails(
    rig: Rig,
) -> None:
    started = await write_started(rig, to="ses-backup")
    owner = reopen(rig, started)
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    await rig.read()  # Novu still shows sendgrid-main: not conclusive before the deadline
    decision = await owner.evaluate()
    assert decision is not None
    assert decision.kind is DecisionKind.WAIT
    assert decision.reason.startswith(f"settling action {started.id}")
    assert rig.sim.set_primary_targets() == []  # no action on the channel meanwhile
    assert [r.result for r in rig.audit()] == ["started"]

    rig.clock.advance(30.0 + SETTLE_MARGIN)
    assert (await owner.evaluate()) is not None
    final = rig.audit()[-1]
    assert (final.id, final.result) == (started.id, "failed")
    assert "did not land: Novu shows sendgrid-main as primary" in (final.error or "")
    assert rig.sim.set_primary_targets() == []  # backing off after the failure
    rig.clock.advance(5.0)
    assert (await owner.evaluate()) is not None
    assert rig.sim.set_primary_targets() == ["ses-backup"]


async def test_a_write_that_times_out_stays_open_and_is_settled_when_novu_did_it(
    tmp_path: Path,
) -> None:
    """Novu performs a slow set-primary after the daemon gave up on it: never `failed`."""
    gate = asyncio.Event()

    async def held(seconds: float) -> None:
        await gate.wait()

    sim = NovuSimulator(clock=FakeClock(), rate_limit=None, sleep=held)
    rig = Rig(tmp_path, sim=sim, action_timeout=0.5)  # only the held write uses it up
    await rig.read()
    sim.faults.add(Fault(kind="latency", path="/v1/integrations/", method="POST", count=1))
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    owner = rig.owner()
    assert (await owner.evaluate()) is not None
    assert owner.open_action is not None
    assert [r.result for r in rig.audit()] == ["started"]
    # Novu carries the call out late (here: the same request, replayed by its key)
    rig.person_switches_to("ses-backup")
    await rig.read()
    assert owner.open_action is None
    assert [r.result for r in rig.audit()] == ["started", "ok"]
    assert not [r for r in rig.audit() if r.action == "drift"]
    gate.set()


async def test_a_reload_hands_the_owner_its_rule_and_the_result_lands_on_it(rig: Rig) -> None:
    """A reload during a switch: no lost result, no phantom switch, no false drift."""
    gate, holding = asyncio.Event(), asyncio.Event()

    async def held(seconds: float) -> None:
        holding.set()
        await gate.wait()

    rig.sim._sleep = held
    await rig.read()
    rig.sim.faults.add(Fault(kind="latency", path="/v1/integrations/", method="POST", count=1))
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    owner = rig.owner()
    acting = asyncio.create_task(owner.evaluate())
    await holding.wait()
    reloaded = parse_rules(
        RULES.replace("failback: {after: 60s}", "failback: {after: 90s}"), filename="rules.yaml"
    )
    previous = {key: o.runtime for key, o in rig.owners.items()}
    owner.adopt(build_runtimes(reloaded, previous)[EMAIL])
    gate.set()
    await acting
    assert owner.runtime.rule.policy.failback.after == 90.0
    assert owner.runtime.view is not None
    assert owner.runtime.view.primary is not None
    assert owner.runtime.view.primary.identifier == "ses-backup"
    await rig.read()
    assert (await owner.evaluate()) is not None
    assert [(r.result, r.from_, r.to) for r in rig.audit()] == [
        ("started", "sendgrid-main", "ses-backup"),
        ("ok", "sendgrid-main", "ses-backup"),
    ]
    assert rig.sim.set_primary_targets() == ["ses-backup"]


async def test_back_off_survives_a_reload(rig: Rig) -> None:
    await rig.read()
    rig.sim.integration("ses-backup").conditions = [{"filter": "AND", "children": []}]
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=False)
    owner = rig.owner()
    assert (await owner.evaluate()) is not None
    assert [r.result for r in rig.audit()] == ["refused"]
    not_before = owner.backoff.not_before
    assert not_before > rig.clock.now()
    owner.adopt(build_runtimes(rig.rules, {EMAIL: owner.runtime})[EMAIL])
    assert (await owner.evaluate()) is not None
    assert owner.backoff.not_before == not_before
    assert [r.result for r in rig.audit()] == ["refused"]  # no retry before the back-off


async def test_a_write_ahead_failure_stops_the_action_backs_off_and_is_reported(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await rig.read()

    def full(entries: Sequence[AuditRecord]) -> list[StateError | None]:
        msg = "cannot append to audit.jsonl: No space left on device"
        return [StateError(msg) for _ in entries]

    monkeypatch.setattr(rig.store, "record_many", full)
    rig.health(sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    owner = rig.owner()
    assert (await owner.evaluate()) is not None
    assert rig.sim.set_primary_targets() == []  # nothing written to Novu without the record
    assert owner.backoff.failures == 1
    assert rig.state.error is not None
    assert "No space left on device" in rig.state.error
    assert rig.registry.get_sample_value("novu_failover_state_write_errors_total") >= 1
    monkeypatch.undo()
    rig.clock.advance(5.0)
    assert (await owner.evaluate()) is not None
    assert rig.sim.set_primary_targets() == ["ses-backup"]
    assert rig.state.error is None


async def test_one_channels_hung_action_does_not_hold_up_another_channel(rig: Rig) -> None:
    rig.sim.faults.add(
        Fault(
            kind="timeout",
            path=f"/v1/integrations/{rig.sim.integration('ses-backup').id}/set-primary",
            seconds=30.0,
            count=1,
        )
    )
    await rig.read(EMAIL)
    await rig.read(SMS)
    rig.health(EMAIL, sendgrid_main=False, ses_backup=True, mailgun_backup=True)
    rig.health(SMS, twilio_main=False, vonage_backup=True)
    email = rig.owner(EMAIL).kick()
    await rig.sim.wait_hanging(1)  # email's set-primary is held inside Novu
    assert rig.owner(EMAIL).acting
    sms = rig.owner(SMS).kick()
    assert sms is not None
    await sms
    assert rig.primary("sms") == "vonage-backup"
    assert rig.owner(EMAIL).acting  # still hung, and it did not matter
    rig.sim.release_hangs()
    assert email is not None
    await email
    assert rig.primary("email") == "ses-backup"


# -- helpers --------------------------------------------------------------------------------


async def write_started(rig: Rig, *, to: str) -> AuditRecord:
    record = AuditRecord(
        id="interrupted1",
        at=rig.clock.now(),
        environment="production",
        channel="email",
        from_="sendgrid-main",
        to=to,
        trigger="failover",
        reason="primary sendgrid-main down",
        result="started",
        extra={"deadline": repr(rig.clock.now() + 30.0)},
    )
    await rig.state.record(record)
    return record


def reopen(rig: Rig, started: AuditRecord) -> ChannelOwner:
    """The owner as a restarted daemon builds it: with the open action from the trail."""
    owner = rig.owner()
    owner.open_action = OpenAction.of(started, action_timeout=30.0, why="interrupted by a restart")
    return owner


async def test_reconcile_reads_each_environment_once_and_keeps_other_channels_for_readiness(
    rig: Rig,
) -> None:
    """One integration list per environment serves all its channels; each channel's view
    keeps the environment's other integrations, so readiness can say 'wrong channel'."""
    reached: dict[str, float | None] = {"production": None}
    await reconcile(
        list(rig.owners.values()),
        clients=rig.context.clients,
        clock=rig.clock,
        reached=reached,
    )
    assert reached["production"] == rig.clock.now()
    email = rig.owner(EMAIL).runtime.view
    assert email is not None
    assert email.primary is not None
    assert email.primary.identifier == "sendgrid-main"
    twilio = email.find_elsewhere("twilio-main")
    assert twilio is not None
    assert twilio.channel == "sms"
    sms = rig.owner(SMS).runtime.view
    assert sms is not None
    assert sms.find("twilio-main") is not None
    for owner in rig.owners.values():
        if owner.task is not None:
            await owner.task
