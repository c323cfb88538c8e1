"""Figure 1: alert webhook arrival -> set-primary arriving at the Novu simulator.

Every channel's primary and backup carry one alert signal each (no probes run, so nothing
else competes). For each channel in turn the bench posts an Alertmanager v4 notification
that fires on the primary and notes the time; the simulator records when set-primary
arrived. Baseline: a bare loopback round trip from the bench to the daemon (`/healthz`),
measured in the same run over the same kept-alive connection, and one to the simulator
(a provider health endpoint) to show the floor "one loopback request + one Novu request".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from harness import (
    TOKEN,
    BenchError,
    Figure,
    children,
    median,
    round_trips,
    sim_calls,
    start_daemon,
    start_simulator_and_target,
    wait_http,
    wait_until_up,
)
from world import SignalsOf, Slot, World, write_yaml

DELAYED_ACK_SUSPECT = 0.02
"""A loopback round trip this slow means a server without TCP_NODELAY (delayed ACKs)."""


def _signals_for(target_url: str) -> SignalsOf:
    """An alert signal each, and one http probe at start-up (rise 1) as the evidence of
    `up` a backup needs; the probes then sleep for the rest of the run (interval 5m)."""

    def signals(slot: Slot, candidate: int) -> list[dict[str, Any]]:
        integration = slot.integration(candidate)
        matchers = [f'bench_channel="{slot.name}"', f'novu_integration="{integration}"']
        probe = {"url": f"{target_url}/ok/{slot.name}/{integration}", "rise": 1}
        return [{"alert": {"matchers": matchers}}, {"http": probe}]

    return signals


def _notification(slot: Slot) -> dict[str, Any]:
    labels = {
        "alertname": "NovuProviderDown",
        "bench_channel": slot.name,
        "novu_integration": slot.integration(0),
        "severity": "critical",
    }
    return {
        "receiver": "novu-failover",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "bench"},
                "startsAt": "2026-11-30T10:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1/graph",
                "fingerprint": f"{slot.index:016x}",
            }
        ],
        "groupLabels": {"alertname": "NovuProviderDown"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "bench"},
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": f"{{}}:{{bench_channel={slot.name!r}}}",
        "truncatedAlerts": 0,
    }


def measure(workdir: Path, *, switches: int) -> list[Figure]:
    world = World(channels=switches, candidates=2)
    seed = write_yaml(workdir / "alert-seed.yaml", world.seed())
    with children() as started:
        sim_url, target_url = start_simulator_and_target(workdir, seed=seed, started=started)
        rules = world.rules(
            novu_url=sim_url,
            signals=_signals_for(target_url),
            defaults={"interval": "5m", "timeout": "5s"},
            policy={"cooldown": "0s"},
        )
        path = write_yaml(workdir / "alert-rules.yaml", rules)
        daemon, url = start_daemon(workdir, path, api_keys=world.api_keys(), name="alert-daemon")
        started.append(daemon)
        wait_http(f"{url}/readyz", child=daemon, within=120)
        wait_until_up(url, child=daemon, within=60)
        sent: dict[tuple[str, str], float] = {}
        headers = {"authorization": f"Bearer {TOKEN}"}
        with httpx.Client(timeout=10) as client:
            daemon_rtt = round_trips(client, f"{url}/healthz", 200)
            sim_rtt = round_trips(client, f"{sim_url}/providers/sendgrid/api/health", 200)
            for slot in world.slots():
                body = _notification(slot)
                began = time.time()
                client.post(
                    f"{url}/v1/alerts/alertmanager", json=body, headers=headers
                ).raise_for_status()
                sent[(slot.environment, slot.integration(1))] = began  # the backup
                time.sleep(0.02)  # one switch at a time: the figure is latency, not load
            deadline = time.monotonic() + 30
            calls = sim_calls(client, sim_url)
            while len(calls) < switches and time.monotonic() < deadline:
                time.sleep(0.2)
                calls = sim_calls(client, sim_url)
    reaction, simulator_work = [], []
    for call in calls:
        fired = sent.get((call["environment"], call["identifier"]))
        if fired is None:
            continue
        # Arrival at the simulator's handler: its own work (answering) is not the daemon's.
        reaction.append(call["arrivedUnix"] - fired)
        simulator_work.append(call["atUnix"] - call["arrivedUnix"])
    if len(reaction) < switches:
        msg = f"only {len(reaction)} of {switches} alerts led to a switch; see {daemon.log_path}"
        raise BenchError(msg)
    note = f"{len(reaction)} switches on distinct channels; floor (daemon + simulator round "
    note += f"trip) {(median(daemon_rtt) + median(sim_rtt)) * 1e3:.2f} ms; the simulator's "
    note += f"own work on set-primary (not counted) {median(simulator_work) * 1e3:.2f} ms median"
    if median(sim_rtt) > DELAYED_ACK_SUSPECT:
        note += "; SIMULATOR ROUND TRIP OVER 20 ms: TCP_NODELAY missing on its connections?"
    reaction_figure = Figure(
        1,
        "alert webhook -> set-primary at Novu",
        "ms",
        [r * 1e3 for r in reaction],
        baseline_name="loopback round trip bench -> daemon /healthz",
        baseline=[r * 1e3 for r in daemon_rtt],
        target="p99 < 25 ms; median < 5x the loopback round trip",
        note=note,
    )
    reaction_figure.met = reaction_figure.p99 < 25 and reaction_figure.ratio < 5
    return [
        reaction_figure,
        Figure(
            1,
            "  baseline: loopback round trip bench -> simulator",
            "ms",
            [r * 1e3 for r in sim_rtt],
            baseline_name="loopback round trip bench -> daemon /healthz",
            baseline=[r * 1e3 for r in daemon_rtt],
            note="the Novu request's floor (TCP_NODELAY check)",
        ),
    ]
