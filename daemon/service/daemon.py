"""The daemon: probes -> health -> policy -> actuator, one owner per channel, one event loop.

This module wires the pieces together; each concern lives in its own module:
assembly (clients and probes from the rules), owner (a channel's decide -> act -> record ->
back-off and settlement), reconcile (reading Novu), reload (reading the rules file), jobs
(the scheduler and shutdown), views (the JSON the API serves).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from daemon import __version__
from daemon.actuator import Actuator
from daemon.alerts import Alert
from daemon.clock import Clock
from daemon.control import JSON, SUMMARY, ControlError, StatusQuery
from daemon.heap import settled
from daemon.logs import log_event
from daemon.metrics import Metrics
from daemon.model import ChannelKey, ChannelView
from daemon.policy import retention
from daemon.rules.model import Rules
from daemon.secrets import SecretError
from daemon.service.alert_feed import AlertFeed
from daemon.service.alert_sync import AlertSync
from daemon.service.assembly import Assembly, assemble
from daemon.service.context import ActionGate, OpenGate, OwnerContext
from daemon.service.durable import DurableState
from daemon.service.gauges import channel_samples
from daemon.service.jobs import Jobs
from daemon.service.owner import ChannelOwner
from daemon.service.probing import ProbeSlots, schedule_probes
from daemon.service.publish import probe_result
from daemon.service.reconcile import reconcile
from daemon.service.recovery import open_actions, remember_finished_switches
from daemon.service.reload import fingerprint, hand_over, read_rules
from daemon.service.runtime import ChannelRuntime, build_runtimes
from daemon.service.status_view import StatusRead
from daemon.service.timeline import Timeline
from daemon.service.views import events_json, explain_json, known_names, ready_json
from daemon.settings import Settings
from daemon.state import StateStore

log = logging.getLogger("novu_failover.daemon")

HEARTBEAT_SECONDS = 2.0
TICK_SECONDS = 1.0
MAX_CONCURRENT_ACTIONS = 32
PROBES_AFTER_FIRST_READ = 10.0
"""Probes start when the first reconcile (which readiness waits for) is done, or after this
many seconds: at 1,000 channels, probes beside it took a quarter of the start-up CPU, and
evaluations of channels not read yet another tenth."""


class Daemon:
    """Holds the channel owners and runs the jobs; `DaemonControl` serves it."""

    def __init__(
        self,
        rules: Rules,
        *,
        rules_path: Path,
        settings: Settings,
        http: httpx.AsyncClient,
        clock: Clock,
        store: StateStore,
        metrics: Metrics,
        environ: Mapping[str, str],
        gate: ActionGate | None = None,
        probe_http: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = settings
        self._rules_path = rules_path
        self._http = http
        self._probe_http, self._probe_slots = probe_http or http, ProbeSlots()
        self._clock = clock
        self._metrics = metrics
        self._environ = environ
        self._started_at = clock.now()
        self._heartbeat = self._started_at
        self._jobs = Jobs()
        self._rules_error: str | None = None
        self._rules_fingerprint = fingerprint(rules_path)
        self._loaded_at = self._started_at
        self._reached: dict[str, float | None] = {}
        self._read_once = False  # the first reconcile is done: probes and tick run
        self.state = DurableState(store, metrics=metrics)
        self._owners: dict[ChannelKey, ChannelOwner] = {}
        self._alerts = AlertFeed(rules, owners=self._owners, metrics=metrics, clock=clock)
        self._alert_sync = AlertSync(
            http=http, clock=clock, apply=self._alerts.reconcile, metrics=metrics, environ=environ
        )
        runtimes = build_runtimes(rules)
        assembly = self._assemble(rules, runtimes)  # raises SecretError before anything runs
        self._context = OwnerContext(
            clock=clock,
            state=self.state,
            metrics=metrics,
            actuator=self._actuator(assembly),
            clients=assembly.clients,
            started_at=self._started_at,
            dry_run=settings.dry_run,
            action_slots=asyncio.Semaphore(MAX_CONCURRENT_ACTIONS),
            gate=gate or OpenGate(),
        )
        interrupted = open_actions(store, action_timeout=settings.action_timeout)
        remember_finished_switches(store)
        for key, runtime in runtimes.items():
            self._owners[key] = ChannelOwner(
                runtime, context=self._context, open_action=interrupted.get(key)
            )
        self._install(assembly)
        metrics.watch_channels(channel_samples(self.owners, store=store, clock=clock))

    # ----------------------------------------------------------------- set-up
    def _assemble(
        self,
        rules: Rules,
        runtimes: Mapping[ChannelKey, ChannelRuntime],
        previous: Assembly | None = None,
    ) -> Assembly:
        return assemble(
            rules,
            runtimes,
            http=self._http,
            probe_http=self._probe_http,
            environ=self._environ,
            rules_dir=self._rules_path.parent,
            metrics=self._metrics,
            view_of=self._view_of,
            clock=self._clock,
            previous=previous,
        )

    def _actuator(self, assembly: Assembly) -> Actuator:
        return Actuator(
            clients=assembly.clients,
            clock=self._clock,
            audit=self.state,
            action_timeout=self._settings.action_timeout,
        )

    def _install(self, assembly: Assembly) -> None:
        self._assembly = assembly
        self.store.set_retention(
            {rule.key: retention(rule.policy) for rule in assembly.rules.channels}
        )
        self._context.clients = assembly.clients
        self._context.actuator = self._actuator(assembly)
        self._reached = {name: self._reached.get(name) for name in assembly.rules.environments}
        self._alert_sync.configure(assembly.rules)
        self._metrics.channels_loaded(  # a channel the rules no longer have leaves /metrics
            (rule.environment, rule.channel, [c.integration for c in rule.candidates])
            for rule in assembly.rules.channels
        )

    def _view_of(self, key: ChannelKey) -> ChannelView | None:
        owner = self._owners.get(key)
        return owner.runtime.view if owner else None

    @property
    def rules(self) -> Rules:
        return self._assembly.rules

    @property
    def store(self) -> StateStore:
        return self.state.store

    @property
    def timeline(self) -> Timeline:
        """Recent health transitions, decisions and actions per channel (the status page's)."""
        return self._context.timeline

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def dry_run(self) -> bool:
        return self._settings.dry_run

    @property
    def action_timeout(self) -> float:
        return self._settings.action_timeout

    def owner(self, channel: str) -> ChannelOwner:
        """The channel's owner; ControlError 404 naming (some of) the known channels otherwise."""
        owner = self._owners.get(channel)
        if owner is None:
            msg = f"no channel {channel!r} in the rules (known: {known_names(self._owners)})"
            raise ControlError(404, msg)
        return owner

    def owners(self) -> list[ChannelOwner]:
        return list(self._owners.values())

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the jobs and read Novu once (settling interrupted actions that landed).

        The probes and the timer tick start once that read is done (or after
        PROBES_AFTER_FIRST_READ): each channel is first evaluated when its environment's
        integrations arrive, not once before with nothing to go on."""
        await self._alert_sync.run_once()  # learn what fires before the first decision
        self.refresh_pause_metrics()  # before the jobs run: it kicks no channel yet
        self._jobs.start()
        self._jobs.every("heartbeat", HEARTBEAT_SECONDS, self._beat)
        self._jobs.every("watch-rules", self._settings.reload_poll, self._watch_rules)
        self._schedule_routine()
        first_read = self._jobs.spawn(self.reconcile())  # cancelled by `stop` if need be
        await asyncio.wait({first_read}, timeout=PROBES_AFTER_FIRST_READ)
        self._read_once = True
        self._schedule_routine()  # now with the probes and the tick
        await first_read
        settled()  # what the first read built lives on: out of the collector's way

    def _schedule_routine(self) -> None:
        self._jobs.remove_routine()
        interval = self.rules.defaults.interval
        self._jobs.every("reconcile", interval, self.reconcile, jitter=min(interval * 0.1, 2.0))
        sync_interval = self._alert_sync.interval
        if sync_interval is not None:  # "reconcile-..." is a routine job: a reload redoes it
            self._jobs.every("reconcile-alerts", sync_interval, self._alert_sync.run)
        if self._read_once:
            self._schedule_probes()
            # Timers (confirm, cooldown, failback delay, pause expiry, settlement) end between
            # probes: a cheap tick makes them act on time, not on the next probe.
            self._jobs.every("tick", TICK_SECONDS, self._tick)

    def _schedule_probes(self) -> None:
        specs = {p: self._owners[p[0]].runtime.entries[p[1]].spec for p in self._assembly.probes}
        schedule_probes(self._jobs, specs, self._probe)

    async def stop(self, *, grace: float) -> None:
        """Let running work finish within `grace` seconds; flush state."""
        await self._jobs.stop(grace=grace, also=[owner.task for owner in self._owners.values()])
        self.store.flush()

    async def _beat(self) -> None:
        self._heartbeat = self._clock.now()

    async def _tick(self) -> None:
        self._alerts.expire()
        self.state.catch_up()  # state.json's index of open actions, if the trail moved on
        for owner in self._owners.values():
            if owner.due(self._clock.now()):  # most channels: nothing changed, no timer ended
                owner.kick()

    # ------------------------------------------------------------- the flow
    async def _probe(self, key: ChannelKey, ref: tuple[str, str]) -> None:
        probe = self._assembly.probes.get((key, ref))
        owner = self._owners.get(key)
        if probe is None or owner is None:
            return
        observation = await self._probe_slots.run(probe, ref, clock=self._clock)
        if not owner.observe(ref, observation):
            return  # rules reloaded while probing
        rule = owner.runtime.rule
        self._metrics.observe_signal(
            rule.environment,
            rule.channel,
            ref[0],
            ref[1],
            result=probe_result(observation.ok),
            seconds=observation.latency or 0.0,
            failure_class=observation.failure_class,
        )
        owner.kick()

    async def reconcile(self) -> None:
        """Re-read Novu for every channel: drift, missing or inactive integrations."""
        await reconcile(
            self.owners(),
            clients=self._context.clients,
            clock=self._clock,
            reached=self._reached,
        )

    # ---------------------------------------------------------------- alerts
    async def receive_alerts(self, alerts: Sequence[Alert]) -> JSON:
        """One webhook's alerts: move the alert signals they match and evaluate the affected
        channels at once, each in its own owner's task (the webhook is answered now)."""
        return self._alerts.receive(alerts)

    # ---------------------------------------------------------------- reload
    def request_reload(self, trigger: str) -> None:
        self._jobs.spawn(self.reload(trigger=trigger))

    async def _watch_rules(self) -> None:
        seen = await asyncio.to_thread(fingerprint, self._rules_path)
        if seen is not None and seen != self._rules_fingerprint:
            await self.reload(trigger="file change")

    async def reload(self, *, trigger: str) -> bool:
        """Load the rules file again; keep the last good rules when the new file is bad.

        Owners stay: a channel still in the rules adopts its new rule (signal evidence,
        back-off and any action in flight or open are kept)."""
        loaded = await read_rules(self._rules_path)
        now = self._clock.now()
        self._rules_fingerprint = loaded.fingerprint
        error = loaded.error
        if loaded.rules is not None and loaded.rules != self.rules:
            try:
                self._adopt(loaded.rules)
            except SecretError as exc:
                error = str(exc)
            except Exception as exc:  # any failure keeps the last good rules, and says so
                log.exception("rules reload (%s) failed installing the new rules", trigger)
                error = f"cannot install the new rules: unexpected {type(exc).__name__}"
        self._rules_error = error
        self._metrics.config_reload(error is None, now=now)
        if error is None:
            self._loaded_at = now
            log_event(log, logging.INFO, "reload", f"rules reloaded ({trigger})", trigger=trigger)
            return True
        log_event(
            log,
            logging.ERROR,
            "reload",
            f"rules reload ({trigger}) failed; keeping the last good rules: {error}",
            trigger=trigger,
        )
        return False

    def _adopt(self, rules: Rules) -> None:
        """Install `rules`: build first (a bad key changes nothing), then hand owners over."""
        previous = {key: owner.runtime for key, owner in self._owners.items()}
        runtimes = build_runtimes(rules, previous)
        assembly = self._assemble(rules, runtimes, previous=self._assembly)
        reshaped = hand_over(self._owners, runtimes, context=self._context)
        self._alerts.adopt(rules)
        self._install(assembly)
        if self._jobs.running:
            self._schedule_routine()
        if reshaped:
            self._jobs.spawn(self.reconcile())

    # ------------------------------------------------------- read-only views
    def alive(self) -> tuple[bool, str]:
        if not self._jobs.running:
            return False, "scheduler not running"
        age = self._clock.now() - self._heartbeat
        if age > 5 * HEARTBEAT_SECONDS:
            return False, f"no scheduler heartbeat for {age:.0f}s"
        return True, f"scheduler running; heartbeat {age:.1f}s ago"

    def ready(self) -> tuple[bool, JSON]:
        return ready_json(
            reached=self._reached,
            rules_path=str(self._rules_path),
            rules_error=self._rules_error,
            state_error=self.state.error,
        )

    def status(self, query: StatusQuery = SUMMARY) -> JSON:
        return self.status_read(query).all()

    def status_read(self, query: StatusQuery = SUMMARY) -> StatusRead:
        rules = {"path": str(self._rules_path), "loaded_at": self._loaded_at}
        head = {"rules": {**rules, "error": self._rules_error}, "version": __version__}
        return StatusRead(
            owners=self._owners,
            environments=self.rules.environments,
            query=query,
            store=self.store,
            now=self._clock.now(),
            dry_run=self._settings.dry_run,
            head={**head, "started_at": self._started_at},
        )

    def events(self, *, limit: int, offset: int) -> JSON:
        records, total = self.store.events(limit=limit, offset=offset)
        return events_json(records, total=total, limit=limit, offset=offset)

    def explain(self, channel: str) -> JSON:
        return explain_json(
            self.owner(channel),
            store=self.store,
            now=self._clock.now(),
            started_at=self._started_at,
            dry_run=self._settings.dry_run,
        )

    def refresh_pause_metrics(self) -> None:
        """After a pause, a resume or a start: the global gauge; every channel decides again."""
        global_pause = self.store.global_pause
        self._metrics.set_global_paused(
            paused=global_pause is not None and global_pause.active(self._clock.now())
        )
        if self._jobs.running:
            for owner in self._owners.values():
                owner.kick()
