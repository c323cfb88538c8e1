"""Reading Novu's view of every channel: one integration list per environment, shared by
all of its channels, environments read concurrently.

Each channel's owner applies its part (settling an open action, noticing drift); a channel
with an action in flight is skipped, since the action reads Novu back itself.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, MutableMapping

from daemon.clock import Clock
from daemon.model import ChannelView
from daemon.novu.client import NovuClient
from daemon.novu.errors import NovuError
from daemon.service.owner import ChannelOwner

CONCURRENT_READS = 32
"""Environments read at once. All 500 environments of 1,000 channels at once spent 70% of
the CPU in httpx's connection pool (its request queue is scanned per connection event)."""


async def reconcile(
    owners: Iterable[ChannelOwner],
    *,
    clients: dict[str, NovuClient],
    clock: Clock,
    reached: MutableMapping[str, float | None],
) -> None:
    """Read every environment once and hand each owner its channel; `reached` notes when
    each environment last answered."""
    by_environment: defaultdict[str, list[ChannelOwner]] = defaultdict(list)
    for owner in owners:
        by_environment[owner.runtime.rule.environment].append(owner)
    reads = asyncio.Semaphore(CONCURRENT_READS)
    await asyncio.gather(
        *(
            _environment(clients[name], members, clock=clock, reached=reached, reads=reads)
            for name, members in by_environment.items()
            if name in clients
        )
    )


async def _environment(
    client: NovuClient,
    owners: list[ChannelOwner],
    *,
    clock: Clock,
    reached: MutableMapping[str, float | None],
    reads: asyncio.Semaphore,
) -> None:
    try:
        async with reads:
            integrations = await client.list_integrations()
    except NovuError as exc:
        for owner in owners:
            owner.view_failed(exc)
        return
    now = clock.now()
    reached[client.environment] = now
    for owner in owners:
        channel = owner.runtime.rule.channel
        view = ChannelView.split(client.environment, channel, integrations, now=now)
        if owner.lock.locked():
            owner.kick()  # busy: its action reads back; evaluate again afterwards
            continue
        async with owner.lock:
            await owner.apply_view(view)
        owner.kick()
