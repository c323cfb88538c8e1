"""Figure 2: probe-driven time to failover, and the daemon's own part of it.

Each channel's primary is probed over HTTP at the probe target (interval 500 ms, fall 3);
its backup at a path that stays up. The bench marks one primary down at a time; the target
notes when it served each failing answer, the simulator when set-primary arrived.

- overhead: set-primary at Novu minus the moment the `fall`-th failing answer was served:
  what the daemon adds beyond the probes themselves (target < 100 ms);
- time to failover minus fall x interval: from the outage to the switch, less the probes'
  own minimum; it also holds where in its interval the outage began (0..interval).
Baseline: the loopback round trip bench -> daemon (`/healthz`) in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from harness import (
    BenchError,
    Figure,
    children,
    round_trips,
    sim_calls,
    start_daemon,
    start_simulator_and_target,
    wait_http,
    wait_until_up,
)
from world import SignalsOf, Slot, World, write_yaml

INTERVAL = 0.5
FALL = 3


def _signals_for(target_url: str) -> SignalsOf:
    def signals(slot: Slot, candidate: int) -> list[dict[str, Any]]:
        path = f"ch/{slot.name}" if candidate == 0 else f"ok/{slot.name}"
        return [{"http": {"url": f"{target_url}/{path}", "timeout": "400ms"}}]

    return signals


def measure(workdir: Path, *, channels: int) -> list[Figure]:
    world = World(channels=channels, candidates=2)
    seed = write_yaml(workdir / "failover-seed.yaml", world.seed())
    with children() as started:
        sim_url, target_url = start_simulator_and_target(workdir, seed=seed, started=started)
        rules = world.rules(
            novu_url=sim_url,
            signals=_signals_for(target_url),
            defaults={"interval": f"{INTERVAL}s", "timeout": "400ms", "fall": FALL, "rise": 1},
            policy={"cooldown": "0s"},
        )
        path = write_yaml(workdir / "failover-rules.yaml", rules)
        daemon, url = start_daemon(workdir, path, api_keys=world.api_keys(), name="fo-daemon")
        started.append(daemon)
        wait_http(f"{url}/readyz", child=daemon, within=120)
        wait_until_up(url, child=daemon, within=60)
        flipped: dict[tuple[str, str], tuple[Slot, float]] = {}
        with httpx.Client(timeout=10) as client:
            rtt = round_trips(client, f"{url}/healthz", 100)
            for slot in world.slots():
                flipped[(slot.environment, slot.integration(1))] = (slot, time.time())
                client.post(f"{target_url}/_down/{slot.name}").raise_for_status()
                time.sleep(0.15)  # a few outages overlap; each channel is probed on its own
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                calls = sim_calls(client, sim_url)
                if len(calls) >= channels:
                    break
                time.sleep(0.2)
            failed_at = {
                slot.name: client.get(f"{target_url}/_log/{slot.name}").json()
                for slot, _ in flipped.values()
            }
    overhead, total = [], []
    for call in calls:
        found = flipped.get((call["environment"], call["identifier"]))
        if found is None:
            continue
        slot, began = found
        failures = failed_at[slot.name]
        if len(failures) < FALL:
            continue
        overhead.append(call["arrivedUnix"] - failures[FALL - 1])
        total.append(call["arrivedUnix"] - began - FALL * INTERVAL)
    if len(overhead) < channels:
        msg = f"only {len(overhead)} of {channels} outages led to a switch; see {daemon.log_path}"
        raise BenchError(msg)
    baseline = [r * 1e3 for r in rtt]
    daemon_part = Figure(
        2,
        f"probe-driven failover: {FALL}rd failing probe -> set-primary",
        "ms",
        [o * 1e3 for o in overhead],
        baseline_name="loopback round trip bench -> daemon /healthz",
        baseline=baseline,
        target="< 100 ms",
        note=f"{len(overhead)} failovers, interval {INTERVAL * 1e3:.0f} ms, fall {FALL}",
    )
    daemon_part.met = daemon_part.p99 < 100
    return [
        daemon_part,
        Figure(
            2,
            "probe-driven failover: outage -> set-primary, minus fall x interval",
            "ms",
            [t * 1e3 for t in total],
            baseline_name="loopback round trip bench -> daemon /healthz",
            baseline=baseline,
            note="includes where in its probe interval each outage began (0 to 500 ms)",
        ),
    ]
