"""deploy/daemonset.yaml: schema-valid, hardened, and its default config discovers correctly."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agent.config import ScrapeConfig, load
from agent.devtools.k8s_apiserver import FakeAPIServer
from agent.discovery.cli import first_groups
from agent.discovery.kubernetes import K8sClient, KubernetesDiscoverer
from agent.scrape.targets import build_targets

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "daemonset.yaml"
K8S_VERSION = "1.33.0"  # kubernetes_validate ships strict schemas for it


def docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def by_kind(kind: str) -> dict[str, Any]:
    (d,) = [d for d in docs() if d["kind"] == kind]
    return d


@pytest.mark.parametrize("doc", docs(), ids=lambda d: d["kind"])
def test_every_document_validates_strictly(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_validation_rejects_unknown_fields() -> None:
    ds = copy.deepcopy(by_kind("DaemonSet"))
    ds["spec"]["template"]["spec"]["containers"][0]["bogusField"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, K8S_VERSION, strict=True)


def test_daemonset_is_hardened_and_wired() -> None:
    ds = by_kind("DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "640Mi"},
    }
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert c["args"][:3] == [
        "run",
        "--config.file=/etc/scrape-agent/config.yaml",
        "--storage.path=/var/lib/scrape-agent",
    ]
    assert "--web.listen-address=0.0.0.0:9464" in c["args"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    ref = env["OTEL_EXPORTER_OTLP_ENDPOINT"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "scrape-agent-otlp", "key": "endpoint"}
    assert env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"]["key"] == "headers"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert "subPath" not in mounts["config"]  # subPath mounts never see ConfigMap updates
    assert mounts["queue"]["mountPath"] == "/var/lib/scrape-agent"
    assert pod["serviceAccountName"] == "scrape-agent"


def test_rbac_covers_discovery_and_kubelet() -> None:
    rules = by_kind("ClusterRole")["rules"]
    granted = set()
    for r in rules:
        for g in r.get("apiGroups", ["<nonresource>"]):
            for res in r.get("resources", r.get("nonResourceURLs", [])):
                for v in r["verbs"]:
                    granted.add((g, res, v))
    for res in ("nodes", "pods", "services", "endpoints", "namespaces"):
        for v in ("get", "list", "watch"):
            assert ("", res, v) in granted
    assert ("discovery.k8s.io", "endpointslices", "watch") in granted
    assert ("", "nodes/proxy", "get") in granted and ("", "nodes/metrics", "get") in granted
    assert ("<nonresource>", "/metrics/cadvisor", "get") in granted
    binding = by_kind("ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "scrape-agent", "namespace": "scrape-agent"}
    ]


@pytest.fixture
def configmap_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(by_kind("ConfigMap")["data"]["config.yaml"])
    return p


def test_configmap_config_loads(configmap_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_NAME", "node-a")
    cfg = load(str(configmap_config))
    assert [s.job_name for s in cfg.scrape_configs] == [
        "kube-state-metrics",
        "kubelet-cadvisor",
        "kubernetes-pods",
    ]
    assert cfg.agent.node_local.enabled and cfg.agent.node_local.node_name == "node-a"


async def _targets(sc: ScrapeConfig, node: str, factory: Any) -> dict[str, dict[str, str]]:
    """url -> public labels of the job's targets as the agent on ``node`` sees them."""
    out: dict[str, dict[str, str]] = {}
    for kc in sc.kubernetes_sd_configs:
        d = KubernetesDiscoverer(kc, node_name=node, job=sc.job_name, client_factory=factory)
        for g in await first_groups(d, 20):
            for r in build_targets(g, sc):
                assert r.error is None
                if r.target is not None:
                    # identical targets (one per container port, rewritten to the annotated
                    # port) collapse into one, as in Prometheus' scrape pool
                    out[r.target.url] = dict(r.target.labels)
    return out


async def test_configmap_jobs_discover_per_node(
    configmap_config: Path, tmp_path: Path, cluster_objects: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NODE_NAME", "node-a")
    cfg = load(str(configmap_config))
    sa = tmp_path / "sa"
    sa.mkdir()
    with FakeAPIServer(tls=True, token="sa-token", tmpdir=tmp_path) as api:
        api.apply_all(cluster_objects)
        (sa / "token").write_text("sa-token")
        (sa / "ca.crt").write_text(Path(api.ca_file).read_text())
        (sa / "namespace").write_text("scrape-agent")
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port)}

        def factory(c: Any) -> K8sClient:
            return K8sClient(c, environ=env, sa_dir=str(sa))

        seen: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for node in ("node-a", "node-b"):
            seen[node] = {}
            for sc in cfg.scrape_configs:
                seen[node][sc.job_name] = await _targets(sc, node, factory)
        # each agent's watch load: endpoints/services by label, pods and nodes by field
        by_path: dict[str, set[tuple[str, str]]] = {}
        for path, q in api.requests:
            sel = (q.get("labelSelector", ""), q.get("fieldSelector", ""))
            by_path.setdefault(path, set()).add(sel)
        ksm = ("app.kubernetes.io/name=kube-state-metrics", "")
        assert by_path["/api/v1/endpoints"] == {ksm}
        assert by_path["/api/v1/services"] == {ksm}
        assert by_path["/api/v1/nodes"] == {
            ("", "metadata.name=node-a"),
            ("", "metadata.name=node-b"),
        }
        assert by_path["/api/v1/pods"] == {
            ("", "spec.nodeName=node-a"),
            ("", "spec.nodeName=node-b"),
        }

    ksm_a, ksm_b = seen["node-a"]["kube-state-metrics"], seen["node-b"]["kube-state-metrics"]
    assert list(ksm_a) == ["http://10.244.0.7:8080/metrics"] and ksm_b == {}
    assert ksm_a["http://10.244.0.7:8080/metrics"] == {
        "instance": "10.244.0.7:8080",
        "job": "kube-state-metrics",
        "kubernetes_namespace": "monitoring",
        "service": "kube-state-metrics",
    }
    cadvisor = seen["node-a"]["kubelet-cadvisor"]
    (url,) = cadvisor
    assert url == "https://172.18.0.2:10250/metrics/cadvisor"
    assert cadvisor[url]["instance"] == "node-a"
    assert cadvisor[url]["topology_kubernetes_io_zone"] == "zone-1"
    assert list(seen["node-b"]["kubelet-cadvisor"]) == ["https://172.18.0.3:10250/metrics/cadvisor"]

    pods_a, pods_b = seen["node-a"]["kubernetes-pods"], seen["node-b"]["kubernetes-pods"]
    assert list(pods_a) == ["http://10.244.0.9:8080/metrics"]
    assert pods_a["http://10.244.0.9:8080/metrics"] == {
        "app": "web",
        "instance": "10.244.0.9:8080",
        "job": "kubernetes-pods",
        "namespace": "shop",
        "node": "node-a",
        "pod": "web-5d9c7b8f6-aaaaa",
        "pod_template_hash": "5d9c7b8f6",
    }
    assert list(pods_b) == ["http://10.244.1.5:8080/metrics"]


def test_dockerfile_runs_non_root_and_copies_what_it_needs() -> None:
    import fnmatch

    text = (ROOT / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert froms and all(ln.split()[1].startswith("python:3.11-slim") for ln in froms)
    assert "USER 65532:65532" in lines
    assert 'ENTRYPOINT ["scrape-agent"]' in lines
    # the default command matches the DaemonSet's args
    ds_args = by_kind("DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    cmd = next(ln for ln in lines if ln.startswith("CMD "))
    assert all(f'"{a}"' in cmd for a in ds_args)
    copied = [
        src
        for ln in lines
        if ln.startswith("COPY ") and "--from" not in ln
        for src in ln.split()[1:-1]
    ]
    assert {"pyproject.toml", "README.md", "agent", "relabel"} <= set(copied)
    ignored = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    for name in copied:
        assert (ROOT / name).exists(), name
        assert not any(fnmatch.fnmatch(name, pat) for pat in ignored), name
