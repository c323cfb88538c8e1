"""The daemon: probes -> health -> policy -> actuator, on one event loop.

Everything here is the shell: it reads the clock, talks to Novu through the client, writes
state, updates metrics and logs. Each decision itself comes from `daemon.policy.decide`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import SecretStr

from daemon import __version__
from daemon.actuator import ActionOutcome, Actuator
from daemon.alerts import Alert, AlertBook, SignalUpdate, build_book, expire
from daemon.alerts import receive as receive_into
from daemon.clock import Clock
from daemon.control import JSON, ControlError
from daemon.health import observe
from daemon.logs import log_event, register_secret
from daemon.metrics import Metrics
from daemon.model import (
    AuditRecord,
    ChannelHistory,
    ChannelView,
    Decision,
    DecisionKind,
    Observation,
    Switch,
    effective_pause,
)
from daemon.novu.client import NovuClient
from daemon.novu.errors import NovuError
from daemon.policy import (
    decide,
    observe_primary,
    record_switch,
)
from daemon.rules.loader import MAX_RULES_BYTES, RulesError, load_rules
from daemon.rules.model import Rules
from daemon.secrets import SecretError, resolve_api_key
from daemon.service.recovery import interrupted_actions, settle
from daemon.service.runtime import ChannelRuntime, SignalRef, build_runtimes
from daemon.service.views import event_json, explain_json, status_json
from daemon.settings import Settings
from daemon.signals import Probe, SharedMessages, build_probe
from daemon.state import StateStore

log = logging.getLogger("novu_failover.daemon")

ProbeResult = Literal["ok", "fail", "inconclusive", "error"]
_RESULTS: dict[bool | None, ProbeResult] = {True: "ok", False: "fail", None: "inconclusive"}
HEARTBEAT_SECONDS = 2.0
HISTORY_KEEP_SECONDS = 7 * 86400.0
MAX_ACTION_BACKOFF = 300.0


class Daemon:
    """Runs the jobs and holds the channels' runtime state; `DaemonControl` serves it."""

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
    ) -> None:
        self._settings = settings
        self._rules_path = rules_path
        self._http = http
        self._clock = clock
        self._store = store
        self._metrics = metrics
        self._environ = environ
        self._started_at = clock.now()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._dirty: set[str] = set()
        self._reached: dict[str, float | None] = {}
        self._heartbeat = self._started_at
        self._scheduler: AsyncIOScheduler | None = None
        self._rules_error: str | None = None
        self._rules_fingerprint = _fingerprint(rules_path)
        self._loaded_at = self._started_at
        self._tasks: set[asyncio.Task[object]] = set()
        self._job_tasks: set[asyncio.Task[object]] = set()
        self._interrupted = interrupted_actions(store.events(limit=500, offset=0)[0])
        self._alerts = AlertBook()
        self._install(rules, previous=None)
        metrics.config_reload(True, now=self._started_at)  # the start-up load is the first

    # ----------------------------------------------------------------- set-up
    def _install(self, rules: Rules, *, previous: dict[str, ChannelRuntime] | None) -> None:
        """Build clients, runtimes and probes for `rules` (raises SecretError on a bad key)."""
        clients = {
            name: NovuClient(
                self._http,
                environment=name,
                base_url=env.api_url,
                api_key=self._api_key(name, rules),
                environment_id=env.environment_id,
                on_request=self._metrics.novu_request(name),
            )
            for name, env in rules.environments.items()
        }
        runtimes = build_runtimes(rules, previous)
        probes: dict[tuple[str, SignalRef], Probe] = {}
        for key, runtime in runtimes.items():
            messages = SharedMessages(clients[runtime.rule.environment])
            for ref, entry in runtime.entries.items():
                probe = build_probe(
                    ref[1],
                    entry,
                    channel=runtime.rule.channel,
                    http=self._http,
                    environ=self._environ,
                    messages=messages,
                    provider_id=_provider_of(runtime, ref[0]),
                )
                if probe is not None:
                    probes[(key, ref)] = probe
        self._rules = rules
        self._clients = clients
        self._runtimes = runtimes
        # Firing alerts of unchanged alert signals survive a reload, like their health.
        self._alerts = build_book(rules, self._alerts if previous is not None else None)
        self._probes = probes
        self._actuator = Actuator(
            clients=clients,
            clock=self._clock,
            audit=self._store,
            action_timeout=self._settings.action_timeout,
        )
        for name in rules.environments:
            self._reached.setdefault(name, None)
        for name in list(self._reached):
            if name not in rules.environments:
                del self._reached[name]

    def _api_key(self, environment: str, rules: Rules) -> SecretStr:
        key = resolve_api_key(
            rules.environments[environment],
            environ=self._environ,
            base_dir=self._rules_path.parent,
        )
        register_secret(key.get_secret_value())
        return key

    @property
    def rules(self) -> Rules:
        return self._rules

    @property
    def store(self) -> StateStore:
        return self._store

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def dry_run(self) -> bool:
        return self._settings.dry_run

    def lock(self, channel: str) -> asyncio.Lock:
        """The channel's lock: held while it is evaluated, acted on or re-read."""
        return self._locks[channel]

    def action_in_flight(self, channel: str) -> bool:
        """A switch is being carried out on the channel right now (not just evaluated)."""
        return self._actuator.in_flight(channel)

    @property
    def action_timeout(self) -> float:
        return self._settings.action_timeout

    async def execute(self, runtime: ChannelRuntime, decision: Decision) -> ActionOutcome:
        """Carry out a decision (the caller holds the channel's lock) and record its effects."""
        outcome = await self._actuator.execute(runtime.rule, decision)
        self._after_action(runtime, decision, outcome)
        return outcome

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the scheduler and read Novu once; probes start at once, jittered after."""
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        self._scheduler = scheduler
        self._schedule_jobs()
        scheduler.add_job(
            self._beat,
            IntervalTrigger(seconds=HEARTBEAT_SECONDS),
            id="heartbeat",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self._job(self._watch_rules),
            IntervalTrigger(seconds=self._settings.reload_poll),
            id="watch-rules",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        self.refresh_pause_metrics()
        await self.reconcile()

    def _schedule_jobs(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        for job in scheduler.get_jobs():
            if job.id.startswith(("probe:", "reconcile", "tick")):
                job.remove()
        for (key, ref), _probe in self._probes.items():
            spec = self._runtimes[key].entries[ref].spec
            scheduler.add_job(
                self._job(self._probe_job),
                IntervalTrigger(seconds=spec.interval, jitter=min(spec.interval * 0.1, 2.0)),
                args=(key, ref),
                id=f"probe:{key}:{ref[0]}:{ref[1]}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(spec.interval)),
                next_run_time=_utcnow(),
            )
        interval = self._rules.defaults.interval
        scheduler.add_job(
            self._job(self.reconcile),
            IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 2.0)),
            id="reconcile",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(interval)),
        )
        # Timers (confirm, cooldown, failback delay, pause expiry) end between probes:
        # a cheap evaluation tick makes them act on time, not on the next probe.
        scheduler.add_job(
            self._job(self._tick),
            IntervalTrigger(seconds=1.0),
            id="tick",
            max_instances=1,
            coalesce=True,
        )

    async def stop(self, *, grace: float) -> None:
        """Stop scheduling; let running jobs (probes, reads of Novu, an action) finish within
        `grace` seconds rather than cutting them off mid-request; flush state."""
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            # pause, not shutdown: APScheduler's asyncio executor cancels running jobs on
            # shutdown; it is shut down below, once they are done
            scheduler.pause()
        await asyncio.sleep(0)  # jobs submitted just before the pause start now
        running = [task for task in self._job_tasks if not task.done()]
        busy = [lock for lock in self._locks.values() if lock.locked()]
        if running or busy:
            log_event(
                log,
                logging.INFO,
                "shutdown",
                "finishing in-flight work",
                jobs=len(running),
                channels_busy=len(busy),
            )
            try:
                async with asyncio.timeout(grace):
                    while running:
                        await asyncio.wait(running)
                        running = [task for task in self._job_tasks if not task.done()]
                    for lock in busy:
                        async with lock:
                            pass
            except TimeoutError:
                log_event(
                    log,
                    logging.WARNING,
                    "shutdown",
                    f"abandoning in-flight work after {grace:g}s",
                )
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        for task in list(self._tasks):
            task.cancel()
        self._store.flush()

    def _job(self, work: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """`work` as a scheduler job that `stop` can wait for."""

        async def job(*args: object) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._job_tasks.add(task)
            try:
                await work(*args)
            finally:
                if task is not None:
                    self._job_tasks.discard(task)

        return job

    async def _beat(self) -> None:
        self._heartbeat = self._clock.now()

    async def _tick(self) -> None:
        self._alerts, updates = expire(self._alerts, now=self._clock.now())
        self._apply_alert_updates(updates)
        for key in list(self._runtimes):
            await self.evaluate(key)

    # ---------------------------------------------------------------- alerts
    async def receive_alerts(self, alerts: Sequence[Alert]) -> JSON:
        """One webhook's alerts: move the alert signals they match, then evaluate the
        affected channels at once (in the background, so the webhook is answered now).

        Alert state lives in memory only: after a restart alert signals start quiet and
        learn again from the next notification (Alertmanager repeats firing alerts every
        `repeat_interval`)."""
        self._alerts, updates = receive_into(self._alerts, alerts, now=self._clock.now())
        for key in self._apply_alert_updates(updates):
            self._spawn(self.evaluate(key))
        return {
            "accepted": len(alerts),
            "matched": [
                {
                    "channel": update.key[0],
                    "integration": update.key[1],
                    "signal": update.key[2],
                    "firing": len(update.firing),
                }
                for update in updates
            ],
        }

    def _apply_alert_updates(self, updates: Sequence[SignalUpdate]) -> list[str]:
        """Feed each update's observation to its signal; the channels whose signals moved."""
        channels: list[str] = []
        for update in updates:
            key, integration, signal_id = update.key
            runtime = self._runtimes.get(key)
            state = runtime.signals.get((integration, signal_id)) if runtime else None
            if runtime is None or state is None:
                continue
            stepped = observe(state, update.observation)
            runtime.signals[(integration, signal_id)] = stepped
            rule = runtime.rule
            self._metrics.observe_signal(
                rule.environment,
                rule.channel,
                integration,
                signal_id,
                result=_RESULTS[update.observation.ok],
                seconds=None,  # pushed, not checked: no duration to record
            )
            if stepped.state is not state.state:
                log_event(
                    log,
                    logging.WARNING,
                    "alert",
                    f"{key}: {integration} signal {signal_id} {stepped.state.value}: "
                    f"{update.observation.detail}",
                    channel=key,
                    integration=integration,
                    signal=signal_id,
                    state=stepped.state.value,
                )
            if key not in channels:
                channels.append(key)
        return channels

    def _spawn(self, work: Coroutine[object, object, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ the flow
    async def _probe_job(self, key: str, ref: SignalRef) -> None:
        runtime = self._runtimes.get(key)
        probe = self._probes.get((key, ref))
        if runtime is None or probe is None:
            return
        now = self._clock.now()
        try:
            observation = await probe(now=now)
        except Exception as exc:  # a probe is supposed to never raise; be sure anyway
            log.exception("probe %s/%s crashed", key, ref)
            observation = Observation(ref[1], None, now, f"probe crashed: {type(exc).__name__}")
        state = runtime.signals.get(ref)
        if state is None:  # rules reloaded while probing
            return
        runtime.signals[ref] = observe(state, observation)
        result: ProbeResult = _RESULTS[observation.ok]
        self._metrics.observe_signal(
            runtime.rule.environment,
            runtime.rule.channel,
            ref[0],
            ref[1],
            result=result,
            seconds=observation.latency or 0.0,
        )
        await self.evaluate(key)

    async def evaluate(self, key: str) -> Decision | None:
        """Decide for one channel and act on the decision; coalesces concurrent requests."""
        lock = self._locks[key]
        if lock.locked():
            self._dirty.add(key)
            return None
        decision = None
        async with lock:
            while True:
                self._dirty.discard(key)
                runtime = self._runtimes.get(key)
                if runtime is None:
                    return None
                decision = self._decide(runtime)
                if decision.kind in (DecisionKind.SWITCH, DecisionKind.WOULD_SWITCH):
                    await self._act(runtime, decision)
                if key not in self._dirty:
                    break
        return decision

    def _decide(self, runtime: ChannelRuntime) -> Decision:
        now = self._clock.now()
        rule = runtime.rule
        health = runtime.refresh_health(now=now)
        pause = effective_pause(
            self._store.global_pause, self._store.channel_pause(runtime.key), now
        )
        decision = decide(
            rule,
            health=health,
            view=runtime.view,
            history=self._store.history(runtime.key),
            pause=pause,
            started_at=self._started_at,
            now=now,
            dry_run=self._settings.dry_run,
        )
        previous = runtime.last_decision
        runtime.last_decision = decision
        if decision.kind is not DecisionKind.WOULD_SWITCH:
            runtime.dry_run_target = None  # a later dry-run switch is news again
        env, channel = rule.environment, rule.channel
        for candidate in rule.candidates:
            self._metrics.set_candidate_health(
                env, channel, candidate.integration, health[candidate.integration].state
            )
            for signal_id in candidate.signal_ids():
                state = runtime.signals[(candidate.integration, signal_id)]
                self._metrics.set_signal_health(
                    env, channel, candidate.integration, signal_id, state.state
                )
        self._metrics.count_decision(env, channel, decision.kind)
        self._metrics.evaluated(env, channel, now=now)
        self._metrics.set_paused(env, channel, paused=pause is not None)
        self._metrics.set_blocked(env, channel, blocked=decision.kind is DecisionKind.BLOCKED)
        if _changed(previous, decision):
            level = logging.INFO if decision.kind is DecisionKind.KEEP else logging.WARNING
            log_event(
                log,
                level,
                "decision",
                f"{runtime.key}: {decision.kind.value}: {decision.reason}",
                channel=runtime.key,
                kind=decision.kind.value,
                current=decision.current,
                target=decision.target,
                trigger=decision.trigger,
            )
        return decision

    async def _act(self, runtime: ChannelRuntime, decision: Decision) -> ActionOutcome | None:
        now = self._clock.now()
        if now < runtime.next_action_at:
            return None  # backing off after a failed action; the next decision retries
        if decision.kind is DecisionKind.WOULD_SWITCH and _same_dry_run(runtime, decision):
            return None  # already recorded this dry-run switch; don't flood the audit trail
        runtime.dry_run_target = (
            decision.target if decision.kind is DecisionKind.WOULD_SWITCH else None
        )
        return await self.execute(runtime, decision)

    def _after_action(
        self, runtime: ChannelRuntime, decision: Decision, outcome: ActionOutcome
    ) -> None:
        record = outcome.record
        rule = runtime.rule
        if outcome.view is not None:
            runtime.view = outcome.view
        self._metrics.count_action(
            rule.environment, rule.channel, result=record.result, seconds=record.duration
        )
        if outcome.ok and decision.kind is DecisionKind.SWITCH and decision.target:
            trigger = decision.trigger or "failover"
            history = record_switch(
                self._store.history(runtime.key),
                Switch(at=record.at, from_=decision.current, to=decision.target, trigger=trigger),
                keep=HISTORY_KEEP_SECONDS,
            )
            self._store.set_history(runtime.key, history)
            self._metrics.count_switch(
                rule.environment,
                rule.channel,
                from_integration=decision.current or "",
                to_integration=decision.target,
                trigger=trigger,
            )
            if runtime.view is not None:
                self._metrics.set_primary(
                    rule.environment,
                    rule.channel,
                    decision.target,
                    candidates=[c.integration for c in rule.candidates],
                )
            runtime.failed_actions = 0
            runtime.next_action_at = 0.0
        elif record.result in ("failed", "refused"):
            runtime.failed_actions += 1
            backoff = min(MAX_ACTION_BACKOFF, 5.0 * 2 ** (runtime.failed_actions - 1))
            runtime.next_action_at = self._clock.now() + backoff
        level = logging.WARNING if record.result in ("ok", "dry_run") else logging.ERROR
        log_event(
            log,
            level,
            "action",
            f"{runtime.key}: {record.trigger} {record.from_} -> {record.to}: {record.result}"
            + (f": {record.error}" if record.error else "")
            + f" ({record.attempts} attempts, {record.duration:.2f}s)",
            channel=runtime.key,
            audit_id=record.id,
            result=record.result,
        )

    async def reconcile(self) -> None:
        """Re-read every channel from Novu: drift, missing or inactive integrations."""
        for key in list(self._runtimes):
            runtime = self._runtimes.get(key)
            if runtime is None:
                continue
            lock = self._locks[key]
            if lock.locked():
                continue  # an action is running; it reads Novu back itself
            async with lock:
                await self._refresh_view(runtime)
            await self.evaluate(key)

    async def _refresh_view(self, runtime: ChannelRuntime) -> None:
        rule = runtime.rule
        client = self._clients[rule.environment]
        now = self._clock.now()
        try:
            view = await client.channel_view(rule.channel, now=now)
        except NovuError as exc:
            if runtime.view_error != str(exc):
                log_event(
                    log,
                    logging.ERROR,
                    "novu",
                    f"{runtime.key}: cannot read integrations from Novu: {exc}",
                    channel=runtime.key,
                )
            runtime.view_error = str(exc)
            return
        runtime.view = view
        runtime.view_error = None
        self._reached[rule.environment] = now
        missing = [c.integration for c in rule.candidates if view.find(c.integration) is None]
        if missing != runtime.missing:
            runtime.missing = missing
            if missing:
                log_event(
                    log,
                    logging.ERROR,
                    "novu",
                    f"{runtime.key}: Novu has no {rule.channel} integration named "
                    f"{', '.join(missing)}; check the identifiers in the rules",
                    channel=runtime.key,
                )
        history = self._store.history(runtime.key)
        interrupted = self._interrupted.pop(runtime.key, None)
        if interrupted is not None:
            history = self._settle(runtime, interrupted, view, history, now=now)
        updated = observe_primary(history, view, now=now)
        if updated != history:
            if history.last_known_primary is not None:
                log_event(
                    log,
                    logging.WARNING,
                    "drift",
                    f"{runtime.key}: primary changed outside novu-failover: "
                    f"{history.last_known_primary} -> {updated.last_known_primary}; respected",
                    channel=runtime.key,
                )
            self._store.set_history(runtime.key, updated)
        primary = view.primary
        self._metrics.set_primary(
            rule.environment,
            rule.channel,
            primary.identifier if primary else None,
            candidates=[c.integration for c in rule.candidates],
        )

    def _settle(
        self,
        runtime: ChannelRuntime,
        started: AuditRecord,
        view: ChannelView,
        history: ChannelHistory,
        *,
        now: float,
    ) -> ChannelHistory:
        final, switch = settle(started, view, now=now)
        self._store.record(final)
        log_event(
            log,
            logging.WARNING,
            "action",
            f"{runtime.key}: action {started.id} ({started.from_} -> {started.to}) was "
            f"interrupted by a restart; Novu's view says it {'landed' if switch else 'did not'}",
            channel=runtime.key,
            audit_id=started.id,
        )
        if switch is None:
            return history
        updated = record_switch(history, switch, keep=HISTORY_KEEP_SECONDS)
        self._store.set_history(runtime.key, updated)
        return updated

    # ---------------------------------------------------------------- reload
    def request_reload(self, trigger: str) -> None:
        task = asyncio.get_running_loop().create_task(self.reload(trigger=trigger))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch_rules(self) -> None:
        fingerprint = _fingerprint(self._rules_path)
        if fingerprint is not None and fingerprint != self._rules_fingerprint:
            await self.reload(trigger="file change")

    async def reload(self, *, trigger: str) -> bool:
        """Load the rules file again; keep the last good rules when the new file is bad."""
        now = self._clock.now()
        self._rules_fingerprint = _fingerprint(self._rules_path)
        try:
            # Reading and parsing block (a big or hostile file for long): not on the loop.
            rules = await asyncio.to_thread(load_rules, self._rules_path)
            if rules != self._rules:
                old = self._runtimes
                self._install(rules, previous=old)
                self._schedule_jobs()
                self._forget_stale_gauges(old)
        except RulesError as exc:
            problems = [str(p) for p in exc.errors]
            self._rules_error = f"{len(problems)} error(s): " + "; ".join(problems[:5])
        except (SecretError, OSError) as exc:
            self._rules_error = str(exc)
        except Exception as exc:  # any failure keeps the last good rules, and says so
            log.exception("rules reload (%s) failed unexpectedly", trigger)
            self._rules_error = f"unexpected {type(exc).__name__}: {str(exc)[:200]}"
        else:
            self._rules_error = None
            self._loaded_at = now
            self._metrics.config_reload(True, now=now)
            log_event(log, logging.INFO, "reload", f"rules reloaded ({trigger})", trigger=trigger)
            return True
        self._metrics.config_reload(False, now=now)
        log_event(
            log,
            logging.ERROR,
            "reload",
            f"rules reload ({trigger}) failed; keeping the last good rules: {self._rules_error}",
            trigger=trigger,
        )
        return False

    def _forget_stale_gauges(self, old: dict[str, ChannelRuntime]) -> None:
        """Drop gauges of channels a reload removed or whose candidates changed; the next
        evaluation and reconcile set them again from the new rules."""
        changed = False
        for key, runtime in old.items():
            new = self._runtimes.get(key)
            if new is None or new.rule.candidates != runtime.rule.candidates:
                self._metrics.forget_channel(runtime.rule.environment, runtime.rule.channel)
                changed = True
        if changed:
            self._spawn(self.reconcile())

    # ------------------------------------------------------- read-only views
    def alive(self) -> tuple[bool, str]:
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return False, "scheduler not running"
        age = self._clock.now() - self._heartbeat
        if age > 5 * HEARTBEAT_SECONDS:
            return False, f"no scheduler heartbeat for {age:.0f}s"
        return True, f"scheduler running; heartbeat {age:.1f}s ago"

    def ready(self) -> tuple[bool, JSON]:
        unreached = [name for name, at in self._reached.items() if at is None]
        detail: JSON = {
            "rules": {"path": str(self._rules_path), "error": self._rules_error},
            "environments": {
                name: {"reached_at": at} for name, at in sorted(self._reached.items())
            },
        }
        waiting = [f"Novu environment {name} not reached yet" for name in unreached]
        if self._rules_error is not None:  # running on the last good rules: not as configured
            waiting.insert(0, f"rules reload failed: {self._rules_error}")
        if waiting:
            detail["waiting_for"] = waiting
        return not waiting, detail

    def status(self) -> JSON:
        now = self._clock.now()
        return status_json(
            runtimes=self._runtimes,
            store=self._store,
            now=now,
            in_flight={key for key, lock in self._locks.items() if lock.locked()},
            rules_path=str(self._rules_path),
            loaded_at=self._loaded_at,
            rules_error=self._rules_error,
            dry_run=self._settings.dry_run,
            started_at=self._started_at,
            version=__version__,
        )

    def events(self, *, limit: int, offset: int) -> JSON:
        records, total = self._store.events(limit=limit, offset=offset)
        return {
            "events": [event_json(r) for r in records],
            "total": total,
            "offset": offset,
            "limit": limit,
        }

    def explain(self, channel: str) -> JSON:
        runtime = self.runtime(channel)
        return explain_json(
            runtime,
            store=self._store,
            now=self._clock.now(),
            started_at=self._started_at,
        )

    # --------------------------------------------------------------- helpers
    def runtime(self, channel: str) -> ChannelRuntime:
        """The channel's runtime; ControlError 404 naming the known channels otherwise."""
        runtime = self._runtimes.get(channel)
        if runtime is None:
            known = ", ".join(sorted(self._runtimes)) or "none"
            raise ControlError(404, f"no channel {channel!r} in the rules (known: {known})")
        return runtime

    def refresh_pause_metrics(self) -> None:
        """Pause gauges after a pause, a resume or a start (pauses expire by themselves)."""
        now = self._clock.now()
        global_pause = self._store.global_pause
        self._metrics.set_global_paused(
            paused=global_pause is not None and global_pause.active(now)
        )
        for key, runtime in self._runtimes.items():
            pause = effective_pause(self._store.global_pause, self._store.channel_pause(key), now)
            self._metrics.set_paused(
                runtime.rule.environment, runtime.rule.channel, paused=pause is not None
            )


def _provider_of(runtime: ChannelRuntime, integration: str) -> Callable[[], str | None]:
    def lookup() -> str | None:
        found = runtime.view.find(integration) if runtime.view else None
        return found.provider_id if found else None

    return lookup


def _changed(previous: Decision | None, decision: Decision) -> bool:
    if previous is None:
        return True
    return (previous.kind, previous.current, previous.target) != (
        decision.kind,
        decision.current,
        decision.target,
    )


def _same_dry_run(runtime: ChannelRuntime, decision: Decision) -> bool:
    return runtime.dry_run_target == decision.target


def _fingerprint(path: Path) -> str | None:
    """Content hash of the rules file; follows symlinks, so a ConfigMap swap is seen."""
    try:
        with path.open("rb") as file:  # a huge file is refused by load_rules: hash its head
            return hashlib.sha256(file.read(MAX_RULES_BYTES + 1)).hexdigest()
    except OSError:
        return None


def _utcnow() -> datetime:
    return datetime.now(UTC)
