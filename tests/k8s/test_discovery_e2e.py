"""KubernetesDiscoverer end to end: the real ``kubernetes`` client against the local API server."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import (
    Authorization,
    HTTPClientConfig,
    K8sAttachMetadata,
    K8sNamespaces,
    K8sSelector,
    KubernetesSDConfig,
    TLSConfig,
)
from agent.devtools.k8s_apiserver import FakeAPIServer
from agent.discovery.kubernetes import (
    K8sClient,
    KubernetesDiscoverer,
    MapResolver,
    build_endpoints,
    build_pod,
)
from agent.model import TargetGroup

pytestmark = pytest.mark.timeout(60)


class Run:
    """Runs a discoverer on the test's loop and records what it sends."""

    def __init__(self, d: KubernetesDiscoverer) -> None:
        self.d = d
        self.sends: list[list[TargetGroup]] = []
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Run:
        self.task = asyncio.create_task(self.d.run(self.sends.append))
        await self.until(lambda: len(self.sends) >= 1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        assert all(not w._thread.is_alive() for w in self.d.watchers)

    async def until(self, pred: Callable[[], Any], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if self.task is not None and self.task.done():
                self.task.result()
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached; sends: " + repr(self.sends)[-2000:])
            await asyncio.sleep(0.02)

    def current(self) -> dict[str, TargetGroup]:
        state: dict[str, TargetGroup] = {}
        for batch in self.sends:
            for g in batch:
                if g.targets:
                    state[g.source] = g
                else:
                    state.pop(g.source, None)
        return state

    def addresses(self) -> set[str]:
        return {t["__address__"] for g in self.current().values() for t in g.targets}


def disc(api: FakeAPIServer, role: str, **kw: Any) -> KubernetesDiscoverer:
    node_name = kw.pop("node_name", None)
    cfg = KubernetesSDConfig(role=role, api_server=api.url, **kw)
    return KubernetesDiscoverer(cfg, node_name=node_name, job="t", backoff_initial=0.1)


def web_pod(api: FakeAPIServer, name: str = "web-5d9c7b8f6-aaaaa") -> dict[str, Any]:
    return api.get("Pod", name, "shop")


async def test_pod_role_initial_set_matches_builders(api: FakeAPIServer) -> None:
    async with Run(disc(api, "pod")) as run:
        first = {g.source: g for g in run.sends[0]}
        assert set(first) == {
            "pod/monitoring/kube-state-metrics-6f8d4c7b9-x2kq4",
            "pod/kube-system/coredns-7d764666f9-qdcxt",
            "pod/shop/web-5d9c7b8f6-aaaaa",
            "pod/shop/web-5d9c7b8f6-bbbbb",
        }
        for src, g in first.items():
            _, ns, name = src.split("/")
            assert g == build_pod(api.get("Pod", name, ns))
        assert run.addresses() >= {"10.244.0.9:8080", "10.244.0.9:9901", "10.244.0.9"}


async def test_pods_added_relabelled_removed(api: FakeAPIServer) -> None:
    async with Run(disc(api, "pod")) as run:
        new = web_pod(api)
        new["metadata"] = {**new["metadata"], "name": "web-new", "uid": "u-new"}
        new["metadata"].pop("resourceVersion")
        api.add(new)
        await run.until(lambda: "pod/shop/web-new" in run.current())
        assert run.sends[-1] == [build_pod(api.get("Pod", "web-new", "shop"))]

        changed = api.get("Pod", "web-new", "shop")
        changed["metadata"]["labels"]["version"] = "v2"
        api.modify(changed)
        key = "__meta_kubernetes_pod_label_version"
        await run.until(lambda: run.current()["pod/shop/web-new"].labels.get(key) == "v2")

        api.delete("Pod", "web-new", "shop")
        await run.until(lambda: "pod/shop/web-new" not in run.current())
        assert run.sends[-1] == [TargetGroup(source="pod/shop/web-new")]


async def test_node_not_ready_and_node_instance(api: FakeAPIServer) -> None:
    async with Run(disc(api, "node")) as run:
        g = run.current()["node/node-a"]
        assert g.targets == (
            {
                "__address__": "172.18.0.2:10250",
                "instance": "node-a",
                "__meta_kubernetes_node_address_InternalIP": "172.18.0.2",
                "__meta_kubernetes_node_address_Hostname": "node-a",
            },
        )
        node = api.get("Node", "node-a")
        for c in node["status"]["conditions"]:
            if c["type"] == "Ready":
                c["status"] = "False"
        api.modify(node)
        key = "__meta_kubernetes_node_condition_ready"
        await run.until(lambda: run.current()["node/node-a"].labels[key] == "false")
        assert [g.source for g in run.sends[-1]] == ["node/node-a"]


async def test_endpoints_follow_endpoints_services_and_pods(api: FakeAPIServer) -> None:
    async with Run(disc(api, "endpoints")) as run:
        web = run.current()["endpoints/shop/web"]
        pods = {
            "shop/web-5d9c7b8f6-aaaaa": web_pod(api),
            "shop/web-5d9c7b8f6-bbbbb": web_pod(api, "web-5d9c7b8f6-bbbbb"),
        }
        expected = build_endpoints(
            api.get("Endpoints", "web", "shop"),
            MapResolver(pods=pods, services={"shop/web": api.get("Service", "web", "shop")}),
        )
        assert web == expected
        assert web.labels["__meta_kubernetes_service_name"] == "web"

        # an endpoint goes away
        eps = api.get("Endpoints", "web", "shop")
        eps["subsets"][0]["addresses"] = eps["subsets"][0]["addresses"][:1]
        api.modify(eps)
        await run.until(lambda: "10.244.1.5:8080" not in run.addresses())

        # the backing pod is relabelled: the endpoints group is rebuilt
        pod = web_pod(api)
        pod["metadata"]["labels"]["canary"] = "yes"
        api.modify(pod)
        key = "__meta_kubernetes_pod_label_canary"
        await run.until(
            lambda: any(t.get(key) == "yes" for t in run.current()["endpoints/shop/web"].targets)
        )

        # the service is relabelled
        svc = api.get("Service", "web", "shop")
        svc["metadata"]["labels"]["tier"] = "front"
        api.modify(svc)
        key = "__meta_kubernetes_service_label_tier"
        await run.until(lambda: run.current()["endpoints/shop/web"].labels.get(key) == "front")


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "410-status"])
async def test_watch_expiry_relists_without_flapping(api: FakeAPIServer, as_status: bool) -> None:
    async with Run(disc(api, "pod")) as run:
        (w,) = run.d.watchers
        before = run.current()
        n_sends = len(run.sends)
        api.expire(as_status=as_status)
        api.drop_watches()
        await run.until(lambda: w.lists == 2)
        # a change after the relist reaches us, and it is the only thing sent since
        pod = web_pod(api)
        pod["metadata"]["labels"]["after"] = "relist"
        api.modify(pod)
        await run.until(lambda: len(run.sends) > n_sends)
        assert run.sends[n_sends:] == [[build_pod(api.get("Pod", pod["metadata"]["name"], "shop"))]]
        assert set(run.current()) == set(before)


async def test_relist_sends_only_what_changed_while_disconnected(api: FakeAPIServer) -> None:
    async with Run(disc(api, "pod")) as run:
        (w,) = run.d.watchers
        n_sends = len(run.sends)
        api.stop()  # no watch can reconnect while we change things
        api.delete("Pod", "web-5d9c7b8f6-bbbbb", "shop")
        api.expire()
        api.start()
        await run.until(lambda: w.lists == 2)
        await run.until(lambda: len(run.sends) > n_sends)
        assert run.sends[n_sends:] == [[TargetGroup(source="pod/shop/web-5d9c7b8f6-bbbbb")]]


async def test_dropped_connection_resumes_watch(api: FakeAPIServer) -> None:
    async with Run(disc(api, "pod")) as run:
        (w,) = run.d.watchers
        api.drop_watches()
        pod = web_pod(api)
        pod["metadata"]["labels"]["x"] = "1"
        api.modify(pod)
        key = "__meta_kubernetes_pod_label_x"
        await run.until(
            lambda: run.current()["pod/shop/web-5d9c7b8f6-aaaaa"].labels.get(key) == "1"
        )
        assert w.lists == 1  # resumed from the resourceVersion, no relist


async def test_api_server_restart(api: FakeAPIServer) -> None:
    async with Run(disc(api, "pod")) as run:
        api.restart()
        pod = web_pod(api)
        pod["metadata"]["labels"]["restarted"] = "yes"
        api.modify(pod)
        key = "__meta_kubernetes_pod_label_restarted"
        await run.until(
            lambda: run.current()["pod/shop/web-5d9c7b8f6-aaaaa"].labels.get(key) == "yes"
        )


async def test_node_local_pods_and_nodes(api: FakeAPIServer) -> None:
    async with Run(disc(api, "pod", node_name="node-a")) as run:
        assert set(run.current()) == {
            "pod/monitoring/kube-state-metrics-6f8d4c7b9-x2kq4",
            "pod/shop/web-5d9c7b8f6-aaaaa",
        }
        # a pod scheduled on the other node never shows up
        other = web_pod(api, "web-5d9c7b8f6-bbbbb")
        other["metadata"]["labels"]["seen"] = "no"
        api.modify(other)
        mine = web_pod(api)
        mine["metadata"]["labels"]["seen"] = "yes"
        api.modify(mine)
        key = "__meta_kubernetes_pod_label_seen"
        await run.until(
            lambda: run.current()["pod/shop/web-5d9c7b8f6-aaaaa"].labels.get(key) == "yes"
        )
        assert "pod/shop/web-5d9c7b8f6-bbbbb" not in run.current()
    pod_watches = [q for p, q in api.requests if p == "/api/v1/pods"]
    assert pod_watches and all(q["fieldSelector"] == "spec.nodeName=node-a" for q in pod_watches)

    async with Run(disc(api, "node", node_name="node-b")) as run:
        assert set(run.current()) == {"node/node-b"}
    node_reqs = [q for p, q in api.requests if p == "/api/v1/nodes"]
    assert all(q.get("fieldSelector") == "metadata.name=node-b" for q in node_reqs)


@pytest.mark.parametrize("role", ["endpoints", "endpointslice"])
async def test_node_local_endpoints_scrape_ksm_once(api: FakeAPIServer, role: str) -> None:
    seen: dict[str, set[str]] = {}
    for node in ("node-a", "node-b"):
        async with Run(disc(api, role, node_name=node)) as run:
            seen[node] = run.addresses()
    ksm = {"10.244.0.7:8080", "10.244.0.7:8081"}
    assert ksm <= seen["node-a"] and not (ksm & seen["node-b"])
    assert "10.244.0.9:8080" in seen["node-a"] and "10.244.1.5:8080" in seen["node-b"]
    assert not (seen["node-a"] & seen["node-b"])  # every target belongs to exactly one agent
    if role == "endpoints":
        assert "10.244.1.2:9153" in seen["node-b"]


async def test_namespaces_and_selectors(api: FakeAPIServer) -> None:
    d = disc(
        api,
        "pod",
        namespaces=K8sNamespaces(names=("shop", "monitoring")),
        selectors=(K8sSelector(role="pod", label="app=web", field="status.phase=Running"),),
    )
    async with Run(d) as run:
        assert set(run.current()) == {
            "pod/shop/web-5d9c7b8f6-aaaaa",
            "pod/shop/web-5d9c7b8f6-bbbbb",
        }
        assert len(d.watchers) == 2  # one list/watch per namespace
    paths = {p for p, _ in api.requests}
    assert {"/api/v1/namespaces/shop/pods", "/api/v1/namespaces/monitoring/pods"} <= paths
    assert "/api/v1/pods" not in paths
    assert all(q.get("labelSelector") == "app=web" for p, q in api.requests)


async def test_attach_metadata_namespace_and_node(api: FakeAPIServer) -> None:
    d = disc(api, "pod", attach_metadata=K8sAttachMetadata(node=True, namespace=True))
    async with Run(d) as run:
        g = run.current()["pod/shop/web-5d9c7b8f6-aaaaa"]
        assert g.labels["__meta_kubernetes_namespace_label_team"] == "checkout"
        assert g.labels["__meta_kubernetes_namespace_annotation_owner"] == "payments@example.com"
        assert g.labels["__meta_kubernetes_node_name"] == "node-a"
        assert g.labels["__meta_kubernetes_node_label_topology_kubernetes_io_zone"] == "zone-1"
        ns = api.get("Namespace", "shop")
        ns["metadata"]["labels"]["team"] = "growth"
        api.modify(ns)
        key = "__meta_kubernetes_namespace_label_team"
        await run.until(
            lambda: run.current()["pod/shop/web-5d9c7b8f6-aaaaa"].labels[key] == "growth"
        )


async def test_tls_bearer_token_file_rotation(tmp_path: Path, cluster_objects: list) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    with FakeAPIServer(tls=True, token="first", tmpdir=tmp_path) as api:
        api.apply_all(cluster_objects)
        cfg = KubernetesSDConfig(
            role="node",
            api_server=api.url,
            http_client=HTTPClientConfig(
                tls_config=TLSConfig(ca_file=api.ca_file),
                authorization=Authorization(credentials_file=str(token)),
            ),
        )
        d = KubernetesDiscoverer(cfg, backoff_initial=0.1)
        async with Run(d) as run:
            assert set(run.current()) == {"node/node-a", "node/node-b"}
            token.write_text("second\n")
            api.token = "second"
            api.drop_watches()
            node = api.get("Node", "node-b")
            node["metadata"]["labels"]["rotated"] = "yes"
            api.modify(node)
            key = "__meta_kubernetes_node_label_rotated"
            await run.until(lambda: run.current()["node/node-b"].labels.get(key) == "yes")


async def test_in_cluster_config_and_own_namespace(tmp_path: Path, cluster_objects: list) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    with FakeAPIServer(tls=True, token="sa-token", tmpdir=tmp_path) as api:
        api.apply_all(cluster_objects)
        (sa / "token").write_text("sa-token")
        (sa / "ca.crt").write_text(Path(api.ca_file).read_text())
        (sa / "namespace").write_text("monitoring")
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port)}
        cfg = KubernetesSDConfig(role="pod", namespaces=K8sNamespaces(own_namespace=True))
        d = KubernetesDiscoverer(
            cfg,
            client_factory=lambda c: K8sClient(c, environ=env, sa_dir=str(sa)),
            backoff_initial=0.1,
        )
        async with Run(d) as run:
            assert set(run.current()) == {"pod/monitoring/kube-state-metrics-6f8d4c7b9-x2kq4"}


async def test_unreachable_api_server_keeps_retrying_and_reports() -> None:
    server = FakeAPIServer()
    server.start()
    url = server.url
    server.stop()
    d = KubernetesDiscoverer(KubernetesSDConfig(role="pod", api_server=url), backoff_initial=0.1)
    task = asyncio.create_task(d.run(lambda groups: None))
    deadline = time.monotonic() + 10
    while not d.last_error and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert url.split("//")[1] in d.last_error
    assert not task.done()  # transient errors never end the discoverer
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_fixture_objects_deserialize_with_kubernetes_models(api: FakeAPIServer) -> None:
    from kubernetes import client

    conf = client.Configuration()
    conf.host = api.url
    with client.ApiClient(conf) as c:
        core = client.CoreV1Api(c)
        assert len(core.list_pod_for_all_namespaces().items) == 4
        assert len(core.list_node().items) == 2
        assert len(core.list_service_for_all_namespaces().items) == 3
        assert len(core.list_endpoints_for_all_namespaces().items) == 3
        assert len(core.list_namespace().items) == 4
        slices = client.DiscoveryV1Api(c).list_endpoint_slice_for_all_namespaces().items
        assert {s.metadata.name for s in slices} == {"kube-state-metrics-7xk2p", "web-9qz8d"}


def test_label_and_field_selector_semantics() -> None:
    from agent.devtools.k8s_apiserver import field_selector_matches, label_selector_matches

    ls = {"app": "web", "tier": "front"}
    assert label_selector_matches("app=web,tier in (front, back)", ls)
    assert not label_selector_matches("app!=web", ls)
    assert label_selector_matches("!missing,app", ls)
    assert not label_selector_matches("tier notin (front)", ls)
    obj = copy.deepcopy({"metadata": {"name": "n"}, "spec": {"nodeName": "a"}})
    assert field_selector_matches("spec.nodeName=a,metadata.name==n", obj)
    assert not field_selector_matches("spec.nodeName!=a", obj)


async def test_heartbeat_only_updates_send_nothing(api: FakeAPIServer) -> None:
    async with Run(disc(api, "node")) as run:
        n_sends = len(run.sends)
        node = api.get("Node", "node-a")
        for c in node["status"]["conditions"]:
            c["lastHeartbeatTime"] = "2026-06-26T11:00:00Z"
        api.modify(node)  # nothing discovery reads changed
        node["metadata"]["labels"]["marker"] = "1"
        api.modify(node)
        key = "__meta_kubernetes_node_label_marker"
        await run.until(lambda: run.current()["node/node-a"].labels.get(key) == "1")
        assert len(run.sends) == n_sends + 1


EXPECTED_NODE_B = {
    "pods": {"pod/kube-system/coredns-7d764666f9-qdcxt", "pod/shop/web-5d9c7b8f6-bbbbb"},
    "kubelet": {"node/node-b"},
}


async def test_node_local_equals_plain_yaml_selectors(
    api: FakeAPIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/KUBERNETES.md: the explicit collector-form config selects what the shortcut does."""
    from agent.config import load

    monkeypatch.setenv("NODE_NAME", "node-b")
    p = tmp_path / "collector.yaml"
    p.write_text(
        f"""
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: pods
          kubernetes_sd_configs:
            - role: pod
              api_server: {api.url}
              selectors:
                - role: pod
                  field: spec.nodeName=${{env:NODE_NAME}}
        - job_name: kubelet
          kubernetes_sd_configs:
            - role: node
              api_server: {api.url}
              selectors:
                - role: node
                  field: metadata.name=${{env:NODE_NAME}}
"""
    )
    cfg = load(str(p))
    for sc in cfg.scrape_configs:
        (kc,) = sc.kubernetes_sd_configs
        async with Run(KubernetesDiscoverer(kc)) as explicit:
            plain = explicit.current()
        async with Run(disc(api, kc.role, node_name="node-b")) as shortcut:
            assert shortcut.current() == plain
        assert set(plain) == EXPECTED_NODE_B[sc.job_name]


async def test_basic_auth(cluster_objects: list) -> None:
    from agent.config import BasicAuth

    with FakeAPIServer(basic_auth=("prom", "s3cret")) as api:
        api.apply_all(cluster_objects)
        hc = HTTPClientConfig(basic_auth=BasicAuth(username="prom", password="s3cret"))
        d = KubernetesDiscoverer(
            KubernetesSDConfig(role="node", api_server=api.url, http_client=hc),
            backoff_initial=0.1,
        )
        async with Run(d) as run:
            assert set(run.current()) == {"node/node-a", "node/node-b"}


async def test_kubeconfig_file(tmp_path: Path, cluster_objects: list) -> None:
    import yaml

    with FakeAPIServer(tls=True, token="kc-token", tmpdir=tmp_path) as api:
        api.apply_all(cluster_objects)
        kc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "c", "cluster": {"server": api.url, "certificate-authority": api.ca_file}}
            ],
            "users": [{"name": "u", "user": {"token": "kc-token"}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "ctx",
        }
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kc))
        d = KubernetesDiscoverer(
            KubernetesSDConfig(role="service", kubeconfig_file=str(path)), backoff_initial=0.1
        )
        async with Run(d) as run:
            assert set(run.current()) == {
                "svc/monitoring/kube-state-metrics",
                "svc/kube-system/kube-dns",
                "svc/shop/web",
            }


async def test_in_cluster_token_rotation(tmp_path: Path, cluster_objects: list) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    with FakeAPIServer(tls=True, token="old", tmpdir=tmp_path) as api:
        api.apply_all(cluster_objects)
        (sa / "token").write_text("old")
        (sa / "ca.crt").write_text(Path(api.ca_file).read_text())
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port)}
        d = KubernetesDiscoverer(
            KubernetesSDConfig(role="node"),
            client_factory=lambda c: K8sClient(c, environ=env, sa_dir=str(sa)),
            backoff_initial=0.1,
        )
        async with Run(d) as run:
            (w,) = d.watchers
            (sa / "token").write_text("new")  # the kubelet rotated the projected token
            api.token = "new"
            api.drop_watches()
            node = api.get("Node", "node-a")
            node["metadata"]["labels"]["after-rotation"] = "yes"
            api.modify(node)
            key = "__meta_kubernetes_node_label_after_rotation"
            await run.until(lambda: run.current()["node/node-a"].labels.get(key) == "yes")
            assert not w.last_error  # the reconnect used the new token at once


async def test_no_cluster_is_a_clear_error_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = KubernetesDiscoverer(
        KubernetesSDConfig(role="pod"),
        job="pods",
        client_factory=lambda c: K8sClient(c, environ={}, sa_dir=str(tmp_path)),
    )
    sends: list[list[TargetGroup]] = []
    task = asyncio.create_task(d.run(sends.append))
    deadline = time.monotonic() + 10
    while not sends and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert sends == [[]]  # "synced", with nothing
    assert "job pods:" in d.config_error and "not running in a cluster" in d.config_error
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert any("not running in a cluster" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


async def test_discovery_manager_runs_node_local_kubernetes(api: FakeAPIServer) -> None:
    from agent.config import ScrapeConfig
    from agent.discovery.manager import DiscoveryManager

    published: list[dict[str, list[TargetGroup]]] = []
    m = DiscoveryManager(published.append, node_name="node-a", debounce=0.05)
    sc = ScrapeConfig(
        job_name="pods", kubernetes_sd_configs=(KubernetesSDConfig(role="pod", api_server=api.url),)
    )
    m.apply_config([sc])
    deadline = time.monotonic() + 15
    while not (published and published[-1].get("pods")) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert m.synced
    assert {g.source for g in published[-1]["pods"]} == {
        "pod/monitoring/kube-state-metrics-6f8d4c7b9-x2kq4",
        "pod/shop/web-5d9c7b8f6-aaaaa",
    }
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("discovery pods")]
    assert len(tasks) == 1
    m.apply_config([])  # a reload without the job stops its discoverer
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]


def test_list_is_paged_and_expired_continue_is_gone(api: FakeAPIServer) -> None:
    from agent.discovery.kubernetes.client import GoneError

    client = K8sClient(KubernetesSDConfig(role="pod", api_server=api.url))
    try:
        before = api.list_pages
        items, rv = client.list("pods", "", "", "", page_size=3)
        assert len(items) == 4 and api.list_pages - before == 2
        assert rv == str(api.resource_version)
        names = {i["metadata"]["name"] for i in items}
        assert "web-5d9c7b8f6-bbbbb" in names and len(names) == 4
        # a continue token from before a compaction is 410 Gone: the watcher relists
        raw = client._request("/api/v1/pods", [("limit", "1")], 10.0)
        token = json.loads(raw.data)["metadata"]["continue"]
        api.expire()
        with pytest.raises(GoneError):
            client._request("/api/v1/pods", [("limit", "1"), ("continue", token)], 10.0)
    finally:
        client.close()
