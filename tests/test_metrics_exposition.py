"""The whole `/metrics` exposition, parsed, equals what prometheus_client itself would have
served for the same events (`tests/metrics_reference.py`), in both formats, through
updates, scrapes, a reload that removes a channel and hostile label values."""

from __future__ import annotations

import math
import random
from typing import Any

import httpx
import pytest
from fake_control_plane import FakePlane
from hypothesis import given
from hypothesis import strategies as st
from metrics_reference import Reference, replay
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from daemon.api.app import create_app
from daemon.channel_metrics import ChannelSample
from daemon.exposition import Format, escape_label_value, format_value, negotiate
from daemon.logs import register_secret
from daemon.metrics import Metrics
from daemon.model import DecisionKind, Health

SECRET = "hostile_secret_value_7431"
HOSTILE = 'quo"te \\back\\slash \\n \\" \\\\ \nnew line, ünïcødé ☃ %d %s {a="b"},x="y'
"""A label value with every character the text format escapes (and escapes of them),
and a few it does not."""

Families = dict[str, tuple[str, str, set[tuple[str, tuple[tuple[str, str], ...], float]]]]


def parsed(text: str, *, openmetrics: bool = False) -> Families:
    """name -> (type, HELP, {(sample, labels, value)}); OpenMetrics' parser is strict."""
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    return {
        family.name: (
            family.type,
            family.documentation,
            {(s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples},
        )
        for family in parse(text)
    }


class World:
    """`Metrics` and the reference, fed the same calls; the channels' state is shared."""

    def __init__(self) -> None:
        self.metrics = Metrics(CollectorRegistry(), version="9.9.9")
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.samples: list[ChannelSample] = []
        self.metrics.watch_channels(lambda: list(self.samples))

    def call(self, name: str, *args: Any, **kwargs: Any) -> None:
        getattr(self.metrics, name)(*args, **kwargs)
        self.calls.append((name, args, kwargs))

    def load(self, channels: list[tuple[str, str, list[str]]]) -> None:
        """A (re)load of the rules: these channels, each with these candidates."""
        self.metrics.channels_loaded(channels)
        keep = {(env, chan) for env, chan, _ in channels}
        # What the reference would hold had it started on these rules: the calls of the
        # channels kept, and each channel's zeros for its candidates now.
        self.calls = [c for c in self.calls if c[0] != "channel_loaded" and c[1][:2] in keep]
        self.calls += [("channel_loaded", (env, chan, names), {}) for env, chan, names in channels]

    def expected(self) -> Reference:
        reference = replay(self.calls)
        reference.samples = [
            s._replace(
                environment=Metrics.label(s.environment),
                channel=Metrics.label(s.channel),
            )
            for s in self.samples
        ]
        return reference

    def check(self) -> None:
        """Both formats, parsed, hold exactly the reference's per-channel families; the
        global families come from prometheus_client in both (not compared here)."""
        reference = parsed(self.expected().text())
        for fmt in Format:
            got = parsed(self.metrics.text(fmt), openmetrics=fmt is Format.OPENMETRICS)
            mine = {name: got[name] for name in reference}
            assert mine == reference, fmt
            if fmt is Format.OPENMETRICS:
                assert self.metrics.text(fmt).endswith("# EOF\n")


def state(
    env: str, chan: str, names: list[str], *, primary: str | None, at: float, health: Health
) -> ChannelSample:
    return ChannelSample(
        Metrics.label(env),
        Metrics.label(chan),
        candidates=[(Metrics.label(n), health if i else None) for i, n in enumerate(names)],
        signals=[(Metrics.label(n), Metrics.label(f"http {n}"), health) for n in names],
        primary=None if primary is None else Metrics.label(primary),
        primary_known=primary is not None,
        paused=at > 1_700_000_010,
        blocked=health is Health.DOWN,
        evaluated_at=at,
        ready=[(Metrics.label(n), i % 2 == 0) for i, n in enumerate(names)],
    )


def test_the_exposition_equals_prometheus_clients_through_updates_and_a_reload() -> None:
    register_secret(SECRET)
    world = World()
    channels = [
        ("production", "email", ["sendgrid-main", "ses-backup", f"key-{SECRET}"]),
        ("production", "sms", ["twilio", HOSTILE]),
        (HOSTILE, "email", ["mailgun", "postmark", "ses"]),
        ("staging", f"chan-{SECRET}", ["a", "b"]),
    ]
    world.load(channels)
    world.check()  # zeros only: every switch pair, kind and result of every channel
    rng = random.Random(11)
    results = ("ok", "fail", "inconclusive", "error")
    for round_ in range(4):
        for _ in range(300):
            env, chan, names = rng.choice(channels)
            integration = rng.choice(names)
            world.call(
                "observe_signal",
                env,
                chan,
                integration,
                rng.choice(["http", "statuspage", HOSTILE]),
                result=rng.choice(results),
                seconds=rng.choice([None, rng.uniform(0, 40), 0.01, 30.0]),
                failure_class=rng.choice([None, "outage", "quota"]),
            )
        for env, chan, names in channels:
            world.call("count_decision", env, chan, rng.choice(list(DecisionKind)))
            to = rng.choice(names)
            world.call(
                "count_switch",
                env,
                chan,
                from_integration=rng.choice([None, "not-a-candidate", *names]),
                to_integration=to,
                trigger=rng.choice(["failover", "failback", "manual"]),
            )
            world.call("count_action", env, chan, result="ok", seconds=rng.uniform(0, 200))
        world.samples = [
            state(
                e,
                c,
                n,
                primary=n[round_ % len(n)],
                at=1_700_000_000.0 + round_ * 7.25,
                health=list(Health)[(round_ + i) % 3],
            )
            for i, (e, c, n) in enumerate(channels)
        ]
        world.check()
        world.check()  # a second scrape, from the kept text
    # A reload drops the hostile environment's channel and a candidate of another.
    channels = [c for c in channels if c[0] != HOSTILE]
    channels[0] = ("production", "email", ["sendgrid-main", "ses-backup"])
    world.load(channels)
    world.samples = [s for s in world.samples if s.environment != HOSTILE]
    world.check()
    text = world.metrics.text()
    assert SECRET not in text
    assert "key-***" in text
    assert 'environment="quo' not in text, "the removed channel is gone"


def test_a_secret_registered_later_is_redacted_in_series_that_exist_already() -> None:
    metrics = Metrics(CollectorRegistry())
    secret = "registered_after_the_series_2291"
    metrics.observe_signal("prod", "email", f"x-{secret}", "http", result="ok", seconds=0.1)
    assert secret in metrics.text()
    register_secret(secret)
    text = metrics.text()
    assert secret not in text
    assert 'integration="x-***"' in text


def test_a_reload_that_removes_a_channel_removes_its_series() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.channels_loaded([("prod", "email", ["a", "b"]), ("prod", "sms", ["c", "d"])])
    metrics.observe_signal("prod", "sms", "c", "http", result="ok", seconds=0.2)
    metrics.count_action("prod", "sms", result="failed", seconds=1.0)
    assert 'channel="sms"' in metrics.text()
    metrics.channels_loaded([("prod", "email", ["a", "b"])])
    text = metrics.text()
    assert 'channel="sms"' not in text
    assert 'novu_failover_switches_total{channel="email",environment="prod",' in text


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 10**12))
def test_values_are_written_as_prometheus_client_writes_them(value: float) -> None:
    assert format_value(value) == floatToGoString(value)


@given(st.text())
def test_any_label_value_reads_back_the_same(value: str) -> None:
    line = f'm{{l="{escape_label_value(value)}"}} 1.0\n'
    (family,) = text_string_to_metric_families(line)
    assert family.samples[0].labels == {"l": value}


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        pytest.param(PROMETHEUS_ACCEPT, Format.OPENMETRICS, id="prometheus"),
        pytest.param("application/openmetrics-text", Format.OPENMETRICS, id="openmetrics"),
        pytest.param("application/openmetrics-text; version=0.0.1", Format.TEXT, id="om-0.0.1"),
        pytest.param("application/openmetrics-text;version=2.0.0", Format.TEXT, id="om-2"),
        pytest.param("text/plain;version=1.0.0;escaping=allow-utf-8", Format.TEXT, id="text-1"),
        pytest.param("*/*", Format.TEXT, id="any"),
        pytest.param("", Format.TEXT, id="none"),
    ],
)
def test_the_format_is_negotiated(accept: str, fmt: Format) -> None:
    assert negotiate(accept) is fmt


@pytest.mark.parametrize("accept", [PROMETHEUS_ACCEPT, "*/*"])
async def test_the_metrics_route_serves_the_daemons_families(accept: str) -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.channels_loaded([("prod", "email", ["a", "b"])])
    metrics.observe_signal("prod", "email", "a", "http", result="fail", seconds=0.3)
    app = create_app(
        FakePlane(), registry=metrics.registry, families=metrics.families, api_token=None
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
        response = await client.get("/metrics", headers={"accept": accept})
    fmt = negotiate(accept)
    assert response.headers["content-type"] == fmt.content_type
    families = parsed(response.text, openmetrics=fmt is Format.OPENMETRICS)
    checks = families["novu_failover_signal_checks"][2]
    labels = (("channel", "email"), ("environment", "prod"), ("integration", "a"))
    wanted = (*labels, ("result", "fail"), ("signal", "http"))
    assert ("novu_failover_signal_checks_total", wanted, 1.0) in checks
    assert "novu_failover_config_valid" in families
    assert not math.isnan(families["novu_failover_signal_check_seconds"][2].pop()[2])
