"""Role builders against Prometheus' own test expectations and real cluster objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.discovery.kubernetes import (
    MapResolver,
    build_endpoints,
    build_endpointslice,
    build_node,
    build_pod,
    build_service,
)
from agent.discovery.kubernetes._labels import join_host_port, sanitize
from agent.model import TargetGroup

ROOT = Path(__file__).resolve().parents[2]
CASES = yaml.safe_load((ROOT / "fixtures" / "k8s" / "prometheus_cases.yaml").read_text())
REAL = ROOT.parent / "shared" / "realdata"


def build(role: str, obj: dict[str, Any], resolve: dict[str, Any] | None = None) -> TargetGroup:
    r = MapResolver(**(resolve or {}))
    if role == "node":
        return build_node(obj)
    if role == "pod":
        node = r.node(obj.get("spec", {}).get("nodeName", ""))
        ns = obj["metadata"].get("namespace", "")
        return build_pod(obj, node=node, namespace_obj=r.namespace(ns))
    if role == "service":
        return build_service(obj, namespace_obj=r.namespace(obj["metadata"]["namespace"]))
    if role == "endpoints":
        return build_endpoints(obj, r)
    return build_endpointslice(obj, r)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_prometheus_cases(case: dict[str, Any]) -> None:
    g = build(case["role"], case["object"], case.get("resolve"))
    exp = case["expected"]
    assert g.source == exp["source"]
    assert dict(g.labels) == exp["labels"]
    assert [dict(t) for t in g.targets] == exp["targets"]


def test_sanitize_and_join() -> None:
    assert sanitize("app.kubernetes.io/name") == "app_kubernetes_io_name"
    assert sanitize("ünïcode-key") == "_n_code_key"
    assert join_host_port("fd00::1", 9100) == "[fd00::1]:9100"
    assert join_host_port("10.0.0.1", "80") == "10.0.0.1:80"


def test_endpoints_not_ready_and_last_matching_container_wins() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "nodeName": "n",
            "containers": [
                {"name": "a", "image": "a", "ports": [{"containerPort": 80, "name": "pa"}]},
                {"name": "b", "image": "b", "ports": [{"containerPort": 80, "name": "pb"}]},
            ],
        },
        "status": {"podIP": "10.1.1.1"},
    }
    eps = {
        "metadata": {"name": "svc", "namespace": "ns"},
        "subsets": [
            {
                "notReadyAddresses": [
                    {"ip": "10.1.1.1", "targetRef": {"kind": "Pod", "name": "p", "namespace": "ns"}}
                ],
                "ports": [{"port": 80, "protocol": "TCP"}],
            }
        ],
    }
    g = build_endpoints(eps, MapResolver(pods={"ns/p": pod}))
    assert len(g.targets) == 1  # port 80 is bound: no extra target for either container
    t = g.targets[0]
    assert t["__meta_kubernetes_endpoint_ready"] == "false"
    assert t["__meta_kubernetes_pod_container_name"] == "b"
    assert t["__meta_kubernetes_pod_container_port_name"] == "pb"


def test_endpointslice_dual_stack_secondary_family_is_skipped() -> None:
    svc = {
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80}]},
    }
    v6 = {
        "metadata": {
            "name": "s-v6",
            "namespace": "ns",
            "labels": {"kubernetes.io/service-name": "s"},
        },
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["fd00::1"]}],
        "ports": [{"port": 80}],
    }
    r = MapResolver(services={"ns/s": svc})
    assert build_endpointslice(v6, r).targets == ()
    v4 = dict(v6, addressType="IPv4", endpoints=[{"addresses": ["10.0.0.1"]}])
    assert [t["__address__"] for t in build_endpointslice(v4, r).targets] == ["10.0.0.1:80"]


def test_endpointslice_without_port_uses_bare_address() -> None:
    eps = {
        "metadata": {"name": "x", "namespace": "ns"},
        "addressType": "IPv6",
        "endpoints": [{"addresses": ["fd00::2"]}],
        "ports": [{"name": "any"}],
    }
    (t,) = build_endpointslice(eps, MapResolver()).targets
    assert t["__address__"] == "fd00::2"
    assert "__meta_kubernetes_endpointslice_port" not in t


def test_node_without_address_has_no_targets() -> None:
    g = build_node({"metadata": {"name": "n"}, "status": {}})
    assert g.source == "node/n" and g.targets == ()


def test_fixture_cluster_roles(cluster_objects: list[dict]) -> None:
    by_kind: dict[str, dict[str, dict]] = {}
    for o in cluster_objects:
        md = o["metadata"]
        key = f"{md['namespace']}/{md['name']}" if "namespace" in md else md["name"]
        by_kind.setdefault(o["kind"], {})[key] = o
    r = MapResolver(pods=by_kind["Pod"], services=by_kind["Service"])
    web = build_endpointslice(by_kind["EndpointSlice"]["shop/web-9qz8d"], r)
    addrs = sorted(t["__address__"] for t in web.targets)
    # two bound 8080 targets, plus envoy's admin port on pod a (not bound to the service)
    assert addrs == ["10.244.0.9:8080", "10.244.0.9:9901", "10.244.1.5:8080"]
    assert web.labels["__meta_kubernetes_service_name"] == "web"
    lb = build_service(by_kind["Service"]["shop/web"])
    assert lb.targets[0]["__meta_kubernetes_service_loadbalancer_ip"] == "203.0.113.10"
    pod_a = build_pod(by_kind["Pod"]["shop/web-5d9c7b8f6-aaaaa"])
    init = [t for t in pod_a.targets if t["__meta_kubernetes_pod_container_init"] == "true"]
    assert [t["__address__"] for t in init] == ["10.244.0.9"]
    assert init[0]["__meta_kubernetes_pod_container_id"] == "containerd://aaaa0000"


def _real(path: str) -> list[dict[str, Any]]:
    p = REAL / path
    if not p.exists():
        pytest.skip(f"{p} absent (../shared is not part of a user's clone)")
    doc = yaml.safe_load(p.read_text())
    return list(doc.get("items") or [])


def test_real_cluster_nodes_and_pods() -> None:
    nodes = _real("k8s_real_cluster_nri/v1_35/nodes.yaml")
    for n in nodes:
        g = build_node(n)
        (t,) = g.targets
        internal = [a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
        assert t["__address__"] == f"{internal[0]}:10250"
        assert t["instance"] == n["metadata"]["name"]
        assert g.labels["__meta_kubernetes_node_condition_ready"] == "true"
        for k in n["metadata"].get("labels", {}):
            assert g.labels[f"__meta_kubernetes_node_labelpresent_{sanitize(k)}"] == "true"
    pods = _real("k8s_real_cluster_nri/v1_35/pods.yaml")
    for p in pods:
        g = build_pod(p)
        if not p["status"].get("podIP"):
            assert g.targets == ()
            continue
        expected = sum(
            max(1, len(c.get("ports") or ()))
            for c in p["spec"]["containers"] + p["spec"].get("initContainers", [])
        )
        assert len(g.targets) == expected
        for t in g.targets:
            assert t["__address__"].startswith(p["status"]["podIP"])
            assert t["__meta_kubernetes_pod_container_id"].startswith("containerd://")


def test_real_cluster_endpoints_resolve_pods() -> None:
    pods = _real("k8s_real_cluster_nri/v1_35/pods.yaml")
    services = _real("k8s_real_cluster_nri/v1_35/services.yaml")
    eps = _real("k8s_real_cluster_nri/v1_35/endpoints.yaml")
    key = lambda o: f"{o['metadata']['namespace']}/{o['metadata']['name']}"  # noqa: E731
    r = MapResolver(pods={key(p): p for p in pods}, services={key(s): s for s in services})
    dns = next(e for e in eps if e["metadata"]["name"] == "kube-dns")
    g = build_endpoints(dns, r)
    bound = [t for t in g.targets if "__meta_kubernetes_endpoint_port_name" in t]
    assert {t["__meta_kubernetes_endpoint_port_name"] for t in bound} == {
        "metrics",
        "dns-tcp",
        "dns",
    }
    assert all(t["__meta_kubernetes_pod_name"].startswith("coredns-") for t in g.targets)
    assert g.labels["__meta_kubernetes_service_name"] == "kube-dns"
    # coredns' liveness/readiness probe ports are not in the service: extra targets
    unbound = {t["__meta_kubernetes_pod_container_port_name"] for t in g.targets if t not in bound}
    assert unbound == {"liveness-probe", "readiness-probe"}


def test_roundtrip_fixtures_from_kubernetes_api_repo() -> None:
    d = REAL / "k8s_objects" / "k8s_api_roundtrip_fixtures"
    if not d.exists():
        pytest.skip("../shared absent")
    import json

    node = json.loads((d / "core.v1.Node.json").read_text())
    pod = json.loads((d / "core.v1.Pod.json").read_text())
    eps = json.loads((d / "discovery.k8s.io.v1.EndpointSlice.json").read_text())
    # These objects fill every field with placeholder values: the builders must not crash and
    # must produce the object's source.
    assert build_node(node).source.startswith("node/")
    assert build_pod(pod).source.startswith("pod/")
    assert build_endpointslice(eps, MapResolver()).source.startswith("endpointslice/")


def test_slim_objects_build_the_same_groups(cluster_objects: list[dict]) -> None:
    from agent.discovery.kubernetes._slim import slim

    objs = list(cluster_objects)
    for path in ("pods.yaml", "nodes.yaml", "services.yaml", "endpoints.yaml"):
        p = REAL / "k8s_real_cluster_nri" / "v1_35" / path
        if p.exists():
            objs.extend(yaml.safe_load(p.read_text())["items"])
    resource = {
        "Pod": "pods",
        "Node": "nodes",
        "Service": "services",
        "Endpoints": "endpoints",
        "EndpointSlice": "endpointslices",
    }
    checked = 0
    for o in objs:
        res = resource.get(o["kind"])
        if res is None:
            continue
        role = {"pods": "pod", "nodes": "node", "services": "service"}.get(res, res[:-1])
        role = "endpointslice" if res == "endpointslices" else role
        role = "endpoints" if res == "endpoints" else role
        assert build(role, slim(res, o)) == build(role, o), o["metadata"]["name"]
        checked += 1
    assert checked >= 13
    node = next(o for o in cluster_objects if o["kind"] == "Node")
    s = slim("nodes", node)
    assert "nodeInfo" not in s["status"]
    assert all(set(c) == {"type", "status"} for c in s["status"]["conditions"])


def test_victoriametrics_kind_cluster_lists() -> None:
    import json

    d = REAL / "k8s_objects" / "victoriametrics_kind_cluster"
    if not d.exists():
        pytest.skip("../shared absent")

    def items(name: str) -> list[dict[str, Any]]:
        return list(json.loads((d / name).read_text())["items"])

    pods = {
        f"{p['metadata']['namespace']}/{p['metadata']['name']}": p
        for p in items("pod_testPodsList.json")
    }
    services = {
        f"{s['metadata']['namespace']}/{s['metadata']['name']}": s
        for s in items("service_list.json")
    }
    n_targets = 0
    for role, name in (
        ("node", "node_list.json"),
        ("pod", "pod_testPodsList.json"),
        ("service", "service_list.json"),
        ("endpoints", "endpoints_list.json"),
        ("endpointslice", "endpointslice_list.json"),
    ):
        for o in items(name):
            if (
                role == "endpointslice"
                and o.get("apiVersion", "discovery.k8s.io/v1") != "discovery.k8s.io/v1"
            ):
                continue
            g = build(role, o, {"pods": pods, "services": services})
            for t in g.targets:
                assert t["__address__"]
                assert all(v != "" for v in t.values())
                n_targets += 1
    assert n_targets >= 10
    for name in ("pod_testPodsListIPv6Address.json", "pod_testPodsListIPv6AddressNoPorts.json"):
        for p in items(name):
            for t in build_pod(p).targets:
                ip = p["status"]["podIP"]
                assert t["__address__"] in (
                    ip,
                    f"[{ip}]:{t.get('__meta_kubernetes_pod_container_port_number')}",
                )
