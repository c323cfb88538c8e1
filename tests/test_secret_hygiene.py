"""No secret leaves the Novu client or the actuator: not in a log line (DEBUG included), an
exception's str/repr (whole cause chain), an audit record, a returned value or its repr —
on success paths and on error paths where a server echoes the key or credentials back."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from inprocess import until
from pydantic import SecretStr
from signals_loopback import serve

from daemon.actuator import Actuator
from daemon.cli import main as cli_main
from daemon.clock import FakeClock
from daemon.logs import LIBRARY_LOGGERS, configure_logging
from daemon.model import AuditRecord, Decision, DecisionKind
from daemon.novu import NovuClient, NovuError, RetryPolicy
from daemon.rules.model import ChannelRule
from daemon.service.server import Running, run_daemon
from daemon.settings import load_settings
from daemon.sim import serve_simulation
from daemon.sim.faults import Fault
from daemon.sim.novu import NovuSimulator, create_novu_app

API_KEY = "sk-TEST-DO-NOT-LEAK-9f8e7d"
WRONG_KEY = "sk-WRONG-DO-NOT-LEAK-3c2b1a"
DEV_KEY = "sk-DEV-DO-NOT-LEAK-55aa66"
CREDENTIALS = {
    "sendgrid-main": {"apiKey": "SG.cred-DO-NOT-LEAK-sendgrid"},
    "ses-backup": {
        "apiKey": "AKIA-cred-DO-NOT-LEAK-ses",
        "secretKey": "cred-DO-NOT-LEAK-ses-secret",
    },
    "twilio-main": {
        "accountSid": "AC-cred-DO-NOT-LEAK-twilio",
        "token": "cred-DO-NOT-LEAK-twilio-token",
    },
    "sendgrid-dev": {"apiKey": "SG.cred-DO-NOT-LEAK-dev"},
}
SECRETS = [
    API_KEY,
    WRONG_KEY,
    DEV_KEY,
    *(value for creds in CREDENTIALS.values() for value in creds.values()),
]
ENV_ID = "6650a1b2c3d4e5f6000000a1"
IDS = {
    "sendgrid-main": "6650a1b2c3d4e5f600000101",
    "ses-backup": "6650a1b2c3d4e5f600000102",
    "twilio-main": "6650a1b2c3d4e5f600000201",
    "sendgrid-dev": "6650a1b2c3d4e5f600000d01",
}
WOULD_SWITCH = DecisionKind.WOULD_SWITCH
CONDITIONS = [
    {
        "isNegated": False,
        "type": "BOOLEAN",
        "value": "AND",
        "children": [{"field": "tier", "value": "gold", "operator": "EQUAL", "on": "payload"}],
    }
]


def seed() -> dict[str, Any]:
    def integration(identifier: str, channel: str, *, primary: bool) -> dict[str, Any]:
        return {
            "id": IDS[identifier],
            "identifier": identifier,
            "providerId": identifier.split("-", maxsplit=1)[0],
            "channel": channel,
            "primary": primary,
            "credentials": CREDENTIALS[identifier],
        }

    return {
        "environments": [
            {
                "name": "production",
                "id": ENV_ID,
                "api_key": API_KEY,
                "integrations": [
                    integration("sendgrid-main", "email", primary=True),
                    integration("ses-backup", "email", primary=False),
                    integration("twilio-main", "sms", primary=True),
                ],
            },
            {
                "name": "development",
                "id": "6650a1b2c3d4e5f6000000d1",
                "api_key": DEV_KEY,
                "integrations": [integration("sendgrid-dev", "email", primary=True)],
            },
        ]
    }


class Evidence:
    """Everything a secret could leak into, gathered for one assertion at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def value(self, value: object) -> None:
        self.texts.append(repr(value))
        self.texts.append(str(value))

    def error(self, exc: BaseException) -> None:
        seen: BaseException | None = exc
        while seen is not None:
            self.value(seen)
            self.texts.extend(str(arg) for arg in seen.args)
            seen = seen.__cause__ or seen.__context__

    def record(self, record: AuditRecord) -> None:
        self.texts.append(json.dumps(asdict(record)))
        self.value(record)

    def assert_clean(self, caplog: pytest.LogCaptureFixture) -> None:
        logged = [caplog.text, *(r.getMessage() for r in caplog.records)]
        assert caplog.records, "nothing was logged: the log check would prove nothing"
        for text in [*self.texts, *logged]:
            for secret in SECRETS:
                assert secret not in text, f"a secret leaked into: {text[:300]}"


class Audit:
    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.records: list[AuditRecord] = []

    async def record(self, entry: AuditRecord) -> None:
        self.records.append(entry)
        self.evidence.record(entry)


async def no_sleep(seconds: float) -> None:
    del seconds


@pytest.fixture
def caplog_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def client_over(
    transport: httpx.AsyncBaseTransport,
    *,
    api_key: str = API_KEY,
    base_url: str = "http://novu.sim",
    environment_id: str | None = None,
    timeout: float = 10.0,
) -> NovuClient:
    return NovuClient(
        httpx.AsyncClient(transport=transport),
        environment="production",
        base_url=base_url,
        api_key=SecretStr(api_key),
        environment_id=environment_id,
        retry=RetryPolicy(attempts=3),
        timeout=timeout,
        sleep=no_sleep,
    )


def email_rule(*, allow_erase: bool = False) -> ChannelRule:
    return ChannelRule.model_validate(
        {
            "environment": "production",
            "channel": "email",
            "candidates": [
                {"integration": name, "signals": [{"http": {"url": "http://127.0.0.1:9/"}}]}
                for name in ("sendgrid-main", "ses-backup")
            ],
            "policy": {"allow_erase_conditions": allow_erase},
        }
    )


def switch(target: str, current: str | None, *, kind: DecisionKind) -> Decision:
    return Decision(
        channel="production/email",
        kind=kind,
        reason="test",
        at=0.0,
        current=current,
        target=target,
        trigger="manual",
        evidence=("manual",),
    )


async def exercise(client: NovuClient, evidence: Evidence) -> None:
    """Every client call and every actuator path, keeping what they return or raise."""
    audit = Audit(evidence)
    actuator = Actuator(clients={"production": client}, clock=FakeClock(), audit=audit)
    evidence.value(client)

    def act(target: str, kind: DecisionKind = DecisionKind.SWITCH) -> Any:
        async def run() -> Any:
            current = "sendgrid-main"  # the decision's `current`: Novu's, where it answers
            try:
                view = await client.channel_view("email", now=0.0)
                current = view.primary.identifier if view.primary else None
            except NovuError as exc:
                evidence.error(exc)
            return await actuator.execute(email_rule(), switch(target, current, kind=kind))

        return run

    calls = [
        client.list_integrations,
        lambda: client.channel_view("email", now=0.0),
        lambda: client.recent_messages("email", since=0.0),
        lambda: client.set_primary(IDS["ses-backup"], idempotency_key="hygiene-1"),
        lambda: client.activate(IDS["ses-backup"]),
        act("sendgrid-main"),
        act("ses-backup", DecisionKind.WOULD_SWITCH),
        act("ses-backup"),
    ]
    for call in calls:
        try:
            result = await call()
        except NovuError as exc:
            evidence.error(exc)
        else:
            evidence.value(result)
            if isinstance(result, list):
                for item in result:
                    evidence.texts.append(json.dumps(asdict(item)))
    # each action leaves a record (a final one, or the started one of an open action whose
    # outcome is unknown), except a no-op (its target already primary) or a failed read
    assert audit.records


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="live-like"),
        pytest.param({"old_server": True}, id="old-server-decrypted-credentials"),
        pytest.param({"envelope": False}, id="bare"),
    ],
)
async def test_success_paths_leak_nothing(
    caplog_debug: pytest.LogCaptureFixture, options: dict[str, Any]
) -> None:
    sim = NovuSimulator.from_dict(seed(), clock=FakeClock(), rate_limit=None, **options)
    sim.send("email", now=1.0)
    evidence = Evidence()
    environment_id = ENV_ID if options.get("old_server") else None
    client = client_over(
        httpx.ASGITransport(app=create_novu_app(sim)), environment_id=environment_id
    )
    await exercise(client, evidence)
    evidence.assert_clean(caplog_debug)


async def test_conditions_refused_and_erased_paths_leak_nothing(
    caplog_debug: pytest.LogCaptureFixture,
) -> None:
    sim = NovuSimulator.from_dict(seed(), clock=FakeClock(), rate_limit=None)
    sim.integration("ses-backup").conditions = [dict(c) for c in CONDITIONS]
    evidence = Evidence()
    audit = Audit(evidence)
    client = client_over(httpx.ASGITransport(app=create_novu_app(sim)))
    actuator = Actuator(clients={"production": client}, clock=FakeClock(), audit=audit)
    refused = await actuator.execute(
        email_rule(), switch("ses-backup", "sendgrid-main", kind=DecisionKind.SWITCH)
    )
    erased = await actuator.execute(
        email_rule(allow_erase=True),
        switch("ses-backup", "sendgrid-main", kind=DecisionKind.SWITCH),
    )
    assert (refused.record.result, erased.record.result) == ("refused", "ok")
    evidence.value(refused)
    evidence.value(erased)
    evidence.assert_clean(caplog_debug)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(kind="error", status=500), id="500"),
        pytest.param(Fault(kind="error", status=503, seconds=1), id="503"),
        pytest.param(Fault(kind="rate_limit"), id="429"),
        pytest.param(Fault(kind="error", status=503, phase="after", count=1), id="lost-answer"),
    ],
)
async def test_simulated_faults_leak_nothing(
    caplog_debug: pytest.LogCaptureFixture, fault: Fault
) -> None:
    sim = NovuSimulator.from_dict(seed(), clock=FakeClock(), rate_limit=None)
    sim.faults.add(fault)
    evidence = Evidence()
    await exercise(client_over(httpx.ASGITransport(app=create_novu_app(sim))), evidence)
    evidence.assert_clean(caplog_debug)


async def test_a_wrong_key_leaks_neither_key(caplog_debug: pytest.LogCaptureFixture) -> None:
    sim = NovuSimulator.from_dict(seed(), clock=FakeClock(), rate_limit=None)
    evidence = Evidence()
    client = client_over(httpx.ASGITransport(app=create_novu_app(sim)), api_key=WRONG_KEY)
    await exercise(client, evidence)
    assert any("HTTP 401" in text for text in evidence.texts)
    evidence.assert_clean(caplog_debug)


def echoing_server(status: int, *, body_kind: str = "error") -> httpx.MockTransport:
    """A hostile server: every answer echoes the Authorization header and credentials."""

    def handler(request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("Authorization", "")
        key = authorization.removeprefix("ApiKey ")
        credentials = CREDENTIALS["ses-backup"]
        if body_kind == "non-json":
            return httpx.Response(status, text=f"<html>{authorization} {credentials}</html>")
        if body_kind == "bad-integration":  # a 200 whose integration lacks a field
            return httpx.Response(status, json={"data": [{"credentials": credentials, "k": key}]})
        message: Any = f"invalid key {key} for {authorization}; credentials {credentials}"
        if body_kind == "list":
            message = [f"apiKey={key} is wrong", f"secretKey: {credentials['secretKey']}"]
        body = {
            "statusCode": status,
            "timestamp": "2024-05-01T10:00:00.000Z",
            "path": request.url.path,
            "message": message,
            "errors": {"credentials": {"messages": ["bad"], "value": credentials}},
            "ctx": {"authorization": authorization},
        }
        return httpx.Response(status, json=body, headers={"X-Echo": key})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("status", "body_kind"),
    [
        pytest.param(400, "error", id="400"),
        pytest.param(400, "list", id="400-list-message"),
        pytest.param(401, "error", id="401"),
        pytest.param(403, "error", id="403"),
        pytest.param(404, "error", id="404"),
        pytest.param(422, "error", id="422"),
        pytest.param(429, "error", id="429"),
        pytest.param(500, "error", id="500"),
        pytest.param(503, "non-json", id="503-html"),
        pytest.param(200, "non-json", id="200-html"),
        pytest.param(200, "bad-integration", id="200-bad-shape"),
    ],
)
async def test_a_server_echoing_secrets_back_leaks_nothing(
    caplog_debug: pytest.LogCaptureFixture, status: int, body_kind: str
) -> None:
    evidence = Evidence()
    await exercise(client_over(echoing_server(status, body_kind=body_kind)), evidence)
    assert any("Novu" in text for text in evidence.texts), "no error was raised or recorded"
    evidence.assert_clean(caplog_debug)


async def test_real_loopback_http_leaks_nothing_even_in_httpcore_debug_logs(
    caplog_debug: pytest.LogCaptureFixture,
) -> None:
    """httpx/httpcore log at DEBUG over a real socket: the key must not be among it."""
    sim = NovuSimulator.from_dict(seed(), rate_limit=None)
    sim.faults.add(Fault(kind="error", status=500, count=1))
    evidence = Evidence()
    with serve(create_novu_app(sim)) as url:
        transport = httpx.AsyncHTTPTransport()
        await exercise(client_over(transport, base_url=url), evidence)
        wrong = client_over(httpx.AsyncHTTPTransport(), base_url=url, api_key=WRONG_KEY)
        with pytest.raises(NovuError) as info:
            await wrong.list_integrations()
        evidence.error(info.value)
    assert any(r.name.startswith("httpcore") for r in caplog_debug.records)
    evidence.assert_clean(caplog_debug)


# -- the whole daemon: every output scanned for distinctive secrets ---------------------------

SCAN_TOKEN = "tok-SCAN-DO-NOT-LEAK-41c2e9"
URL_PASSWORD = "URLPASS-SCAN-DO-NOT-LEAK-777"
HEADER_SECRET = "hdr-SCAN-DO-NOT-LEAK-9d3e5f"
SIM_CREDENTIAL = "SIM-SECRET-"
"""Every provider credential in the simulator's seed starts with this."""
SCAN_RULES = """\
defaults: {{interval: 200ms, timeout: 150ms, fall: 2, rise: 2}}
environments:
  production: {{api_url: {novu}, api_key_env: NOVU_KEY}}
channels:
  - environment: production
    channel: email
    candidates:
      - integration: sendgrid-main
        signals:
          - http:
              url: "{secret_providers}/sendgrid/api/health"
              headers: {{Authorization: "Bearer ${{SENDGRID_KEY}}"}}
      - integration: ses-backup
        signals: [{{http: {{url: "{providers}/ses/api/health"}}}}]
    policy: {{cooldown: 0s}}
"""
_LIBRARIES = ("novu_failover", "httpx", "httpcore", "uvicorn", "uvicorn.error", "apscheduler")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging rewires real loggers: put them back for the other tests."""
    saved = {
        name: (list(log.handlers), log.level, log.propagate)
        for name in _LIBRARIES
        for log in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        log = logging.getLogger(name)
        log.handlers[:] = handlers
        log.setLevel(level)
        log.propagate = propagate


class Scan:
    """Every output of a daemon run, and the secrets none of them may hold."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.outputs: dict[str, str] = {}

    def add(self, name: str, text: str) -> None:
        self.outputs[name] = self.outputs.get(name, "") + text

    def leaks(self) -> list[str]:
        return [
            f"{name}: ...{text[max(0, text.index(s) - 80) : text.index(s) + 40]}..."
            for name, text in self.outputs.items()
            for s in self.secrets
            if s in text
        ]


async def _cli(scan: Scan, capsys: pytest.CaptureFixture[str], *argv: str) -> int:
    """A CLI command in a worker thread (it speaks synchronous HTTP to this very loop)."""
    code = await asyncio.to_thread(cli_main, list(argv))
    out, err = capsys.readouterr()
    scan.add(f"cli {' '.join(argv[:2])}", out + err)
    return code


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_a_daemon_run_leaks_no_secret_into_any_output(
    fmt: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    simulation = await serve_simulation("127.0.0.1", 0)
    novu_key = simulation.api_key("production")
    scan = Scan([novu_key, SCAN_TOKEN, URL_PASSWORD, HEADER_SECRET, SIM_CREDENTIAL])
    stream = io.StringIO()
    configure_logging(fmt=fmt, level="DEBUG", stream=stream, chatty=LIBRARY_LOGGERS)
    providers = simulation.providers_url
    rules = tmp_path / "rules.yaml"
    good = SCAN_RULES.format(
        novu=simulation.url,
        providers=providers,
        secret_providers=providers.replace("http://", f"http://probe:{URL_PASSWORD}@"),
    )
    rules.write_text(good)
    state_dir = tmp_path / "state"
    environ = {"NOVU_KEY": novu_key, "SENDGRID_KEY": HEADER_SECRET}
    settings = load_settings(
        rules=rules, listen="127.0.0.1:0", state_dir=state_dir, api_token=SCAN_TOKEN
    )
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_daemon(settings, environ=environ, on_started=started, handle_signals=False)
    )
    running = await asyncio.wait_for(started, timeout=10)
    daemon = running.daemon
    auth = {"authorization": f"Bearer {SCAN_TOKEN}"}
    api = httpx.AsyncClient(base_url=running.url, timeout=30)
    for name, value in {**environ, "NOVU_FAILOVER_API_TOKEN": SCAN_TOKEN}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOVU_FAILOVER_URL", running.url)
    try:
        await until(lambda: daemon.ready()[0], within=20, what="the daemon to be ready")
        pasted = f"pasted {novu_key} and {SCAN_TOKEN} and http://u:{URL_PASSWORD}@x"
        for path, body in [
            ("/v1/pause", {"channel": "production/email", "reason": pasted}),
            ("/v1/resume", {"channel": "production/email"}),
            ("/v1/pause", {"channel": None, "reason": pasted, "for": "1h"}),
            ("/v1/resume", {"channel": None}),
            ("/v1/ack", {"channel": "production/email"}),
        ]:
            await api.post(path, json=body, headers=auth)
        refused = await api.post(  # a refusal must not echo the key either
            "/v1/pause",
            content=f'{{"channel":null,"reason":"{novu_key}\\ud800"}}'.encode(),
            headers={**auth, "content-type": "application/json"},
        )
        assert refused.status_code == 400
        scan.add("refusal", refused.text)
        await until(
            lambda: all(c["state"] == "up" for c in daemon.status()["channels"][0]["candidates"]),
            within=20,
            what="both candidates up",
        )
        answer = await api.post(
            "/v1/failover",
            json={"channel": "production/email", "target": "ses-backup", "reason": pasted},
            headers=auth,
        )
        assert answer.status_code == 200, answer.text
        # errors: a provider outage probed through the URL with a password, Novu failing
        simulation.set_provider_down("sendgrid", down=True)
        simulation.sim.faults.add(Fault(kind="error", status=500, count=3))
        await until(
            lambda: daemon.status()["channels"][0]["candidates"][0]["state"] == "down",
            within=20,
            what="sendgrid-main down",
        )
        # reloads: one refused (its error echoes a URL with a password), one good
        rules.write_text(good.replace(f"{providers}/ses/api/health", f"ftp://a:{URL_PASSWORD}@h"))
        assert not await daemon.reload(trigger="scan")
        assert "ftp://a:***@h" in str(daemon.status()["rules"]["error"])
        rules.write_text(good)
        assert await daemon.reload(trigger="scan")
        await api.post(
            "/v1/alerts/alertmanager",
            json={"version": "4", "status": "firing", "alerts": [{"labels": {"k": novu_key}}]},
            headers=auth,
        )
        # every CLI command against the daemon, and check on the same rules
        for argv in (
            ["status"],
            ["status", "--json"],
            ["events", "--limit", "500"],
            ["events", "--json", "--limit", "500"],
            ["explain", "production/email"],
            ["explain", "production/email", "--json"],
            ["pause", "--channel", "production/email", "--reason", pasted],
            ["resume", "--channel", "production/email"],
            ["ack", "production/email"],
            ["failover", "production/email", "sendgrid-main", "--force", "--reason", pasted],
            ["check", str(rules)],
        ):
            await _cli(scan, capsys, *argv)
        for path in ("/metrics", "/v1/status", "/v1/events?limit=500", "/healthz", "/readyz"):
            scan.add(path, (await api.get(path)).text)
        scan.add("explain", (await api.get("/v1/explain/production/email")).text)
    finally:
        await api.aclose()
        running.stop.set()
        assert await task == 0
        await simulation.stop()
    for path in sorted(state_dir.iterdir()):
        scan.add(f"state {path.name}", path.read_bytes().decode("utf-8", "replace"))
    scan.add("log", stream.getvalue())

    assert scan.leaks() == []
    # The scan proves something only if the values were there to leak and were redacted:
    assert "pasted *** and *** and http://u:***@x" in scan.outputs["/v1/events?limit=500"]
    assert "pasted *** and *** and http://u:***@x" in scan.outputs["cli pause --channel"]
    log = stream.getvalue()
    assert "httpcore" in log, "DEBUG lines of httpcore were not captured"
    assert "***" in log
    assert len(scan.outputs) >= 20
