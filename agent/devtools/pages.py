"""Deterministic, realistic exposition pages for benchmarks, demos and tests (stdlib only).

- :func:`ksm_page` - a kube-state-metrics ``/metrics`` page (nodes, pods, containers,
  deployments, replicasets), ~140k samples at the defaults;
- :func:`cadvisor_page` - a kubelet ``/metrics/cadvisor`` page with explicit ms timestamps;
- :func:`histogram_page` - an apiserver-like page, histogram and summary heavy.

The same arguments always give the same bytes. ``churn`` (0..1) renames that fraction of pods
(new names and uids) for each ``generation``, so a benchmark can scrape generation 0, 1, 2, ...
and show that caches follow the live series instead of growing. Families are grouped as real
exporters write them (HELP, TYPE, then every sample of the family)::

    python -m agent.devtools.pages ksm --pods 3000 > /tmp/ksm.prom
    python -m agent.devtools.pages cadvisor --pods 110 --generation 1 --churn 0.1
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Iterable

from agent.scrape._parse_common import format_om_float

__all__ = ["ksm_page", "cadvisor_page", "histogram_page", "go_float"]

_NAMESPACES = [
    "default", "kube-system", "monitoring", "ingress-nginx", "cert-manager", "payments",
    "checkout", "catalog", "search", "auth", "notifications", "data-pipeline", "ml-serving",
    "logging", "argocd", "istio-system", "frontend", "backend", "batch-jobs", "redis",
]  # fmt: skip
_APPS = [
    "api-gateway", "checkout-service", "payment-worker", "catalog-api", "search-indexer",
    "auth-server", "email-sender", "web-frontend", "order-processor", "inventory-sync",
    "recommendation-engine", "session-cache", "image-resizer", "pdf-renderer", "event-router",
    "metrics-adapter", "feature-flags", "user-profile", "cart-service", "shipping-quotes",
    "fraud-detector", "ledger", "notification-hub", "graphql-edge", "kafka-connect",
]  # fmt: skip
_IMAGES = [
    "ghcr.io/acme/{app}:v1.{minor}.{patch}", "registry.example.com/{app}:2026.{minor}.{patch}",
    "docker.io/acme/{app}:v0.{minor}.{patch}",
]  # fmt: skip
_SIDECARS = [
    ("istio-proxy", "docker.io/istio/proxyv2:1.24.2"),
    ("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.2.4"),
]
_PHASES = ["Pending", "Succeeded", "Failed", "Unknown", "Running"]
_REASONS = ["Evicted", "NodeAffinity", "NodeLost", "Shutdown"]
_QOS = ["BestEffort", "Burstable", "Guaranteed"]
_TF = ["true", "false", "unknown"]
_T0 = 1782468733  # a plausible "now" (unix seconds)


def go_float(v: float) -> str:
    """A value as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` writes it (exporters' format)."""
    out = format_om_float(float(v))
    return out[:-2] if out.endswith(".0") else out


class _Writer:
    """Accumulates lines; families are written as HELP, TYPE, samples."""

    def __init__(self, openmetrics: bool = False) -> None:
        self.parts: list[str] = []
        self.openmetrics = openmetrics

    def _meta(self, name: str, typ: str, help_text: str) -> None:
        if self.openmetrics and typ == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]  # OpenMetrics names the counter family without it
        self.parts.append(f"# HELP {name} {help_text}\n# TYPE {name} {typ}\n")

    def family(self, name: str, typ: str, help_text: str, rows: Iterable[tuple[str, str]]) -> None:
        p = self.parts
        self._meta(name, typ, help_text)
        p.extend(f"{name}{{{labels}}} {value}\n" if labels else f"{name} {value}\n"
                 for labels, value in rows)  # fmt: skip

    def family3(
        self, name: str, typ: str, help_text: str, rows: Iterable[tuple[str, str, str]]
    ) -> None:
        """Rows of (name suffix, labels, value), for histograms and summaries."""
        p = self.parts
        self._meta(name, typ, help_text)
        p.extend(f"{name}{sfx}{{{labels}}} {value}\n" if labels else f"{name}{sfx} {value}\n"
                 for sfx, labels, value in rows)  # fmt: skip

    def bytes(self) -> bytes:
        if self.openmetrics:
            self.parts.append("# EOF\n")
        return "".join(self.parts).encode("utf-8")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _suffix(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


class _Pod:
    __slots__ = ("ns", "name", "uid", "node", "ip", "host_ip", "app", "rs", "kind", "owner",
                 "containers", "created", "qos", "phase", "sa")  # fmt: skip

    ns: str
    name: str
    uid: str
    node: str
    ip: str
    host_ip: str
    app: str
    rs: str
    kind: str
    owner: str
    containers: list[tuple[str, str, str]]  # (name, image, container id)
    created: int
    qos: str
    phase: str
    sa: str


def _cluster(
    nodes: int, pods: int, seed: int, churn: float, generation: int
) -> tuple[list[tuple[str, str]], list[_Pod], list[tuple[str, str, str, int]]]:
    """Nodes (name, ip), pods, and deployments (ns, name, rs hash, replicas)."""
    rng = random.Random(seed)
    node_list = [
        (f"ip-10-{(i // 250) % 250}-{i % 250}-{10 + i % 200}.eu-west-1.compute.internal",
         f"10.{(i // 250) % 250}.{i % 250}.{10 + i % 200}")
        for i in range(max(1, nodes))
    ]  # fmt: skip
    deployments: list[tuple[str, str, str, int]] = []
    pod_list: list[_Pod] = []
    i = 0
    while len(pod_list) < pods:
        ns = _NAMESPACES[i % len(_NAMESPACES)]
        app = _APPS[(i // len(_NAMESPACES)) % len(_APPS)]
        if i >= len(_NAMESPACES) * len(_APPS):
            app = f"{app}-{i // (len(_NAMESPACES) * len(_APPS))}"
        rs = _hex(rng, 10)
        replicas = min(pods - len(pod_list), rng.choice((1, 2, 2, 3, 3, 3, 5, 8)))
        deployments.append((ns, app, rs, replicas))
        image = rng.choice(_IMAGES).format(
            app=app, minor=rng.randint(0, 40), patch=rng.randint(0, 9)
        )
        for _ in range(replicas):
            p = _Pod()
            k = len(pod_list)
            p.ns, p.app, p.rs = ns, app, rs
            p.name = f"{app}-{rs}-{_suffix(rng, 5)}"
            p.uid = _uid(rng)
            if churn > 0 and generation > 0 and (k * 2654435761 % 1000) < churn * 1000:
                crng = random.Random(f"{seed}/{k}/{generation}")
                p.name = f"{app}-{rs}-{_suffix(crng, 5)}"
                p.uid = _uid(crng)
            p.node, p.host_ip = node_list[k % len(node_list)]
            p.ip = f"100.{64 + (k >> 16) % 64}.{(k >> 8) & 255}.{k & 255}"
            p.kind, p.owner = "ReplicaSet", f"{app}-{rs}"
            p.created = _T0 - rng.randint(60, 86400 * 30)
            p.qos = rng.choice(_QOS)
            p.phase = "Running" if rng.random() < 0.97 else rng.choice(_PHASES)
            p.sa = app if rng.random() < 0.7 else "default"
            conts = [(app.split("-")[0] if rng.random() < 0.5 else app, image, _hex(rng, 64))]
            if k % 10 == 0:
                sc_name, sc_image = _SIDECARS[k % 20 // 10]
                conts.append((sc_name, sc_image, _hex(rng, 64)))
            p.containers = conts
            pod_list.append(p)
        i += 1
    return node_list, pod_list, deployments


def ksm_page(
    nodes: int = 100,
    pods: int = 3000,
    seed: int = 0,
    churn: float = 0.0,
    generation: int = 0,
    openmetrics: bool = False,
) -> bytes:
    """A kube-state-metrics page; ~140k samples at the defaults (about 46 per pod).
    ``openmetrics=True`` writes the same samples as OpenMetrics 1.0."""
    node_list, pod_list, deps = _cluster(nodes, pods, seed, churn, generation)
    w = _Writer(openmetrics)
    f = go_float

    def pod_rows(extra: Callable[[_Pod], Iterable[tuple[str, str]]]) -> Iterable[tuple[str, str]]:
        for p in pod_list:
            base = f'namespace="{p.ns}",pod="{p.name}",uid="{p.uid}"'
            for lab, val in extra(p):
                yield (base + ("," + lab if lab else "")), val

    def cont_rows(
        extra: Callable[[_Pod, int, tuple[str, str, str]], Iterable[tuple[str, str]]],
    ) -> Iterable[tuple[str, str]]:
        for p in pod_list:
            for idx, c in enumerate(p.containers):
                base = f'namespace="{p.ns}",pod="{p.name}",uid="{p.uid}",container="{c[0]}"'
                for lab, val in extra(p, idx, c):
                    yield (base + ("," + lab if lab else "")), val

    # -- nodes
    def node_rows(
        extra: Callable[[int, str, str], Iterable[tuple[str, str]]],
    ) -> Iterable[tuple[str, str]]:
        for k, (n, ip) in enumerate(node_list):
            for lab, val in extra(k, n, ip):
                yield (f'node="{n}"' + ("," + lab if lab else "")), val

    w.family("kube_node_info", "gauge", "[STABLE] Information about a cluster node.", node_rows(
        lambda k, n, ip: [(
            'kernel_version="6.1.119-129.201.amzn2023.x86_64",os_image="Amazon Linux 2023.6.20250115",'
            'container_runtime_version="containerd://1.7.25",kubelet_version="v1.31.4-eks-aeac579",'
            f'kubeproxy_version="deprecated",provider_id="aws:///eu-west-1a/i-0{k:016x}",'
            f'pod_cidr="",system_uuid="ec2{k:05x}-0000-4000-8000-{k:012x}",internal_ip="{ip}"', "1")]))  # fmt: skip
    w.family("kube_node_created", "gauge", "[STABLE] Unix creation timestamp", node_rows(
        lambda k, n, ip: [("", f(_T0 - 86400 * 40 + k * 37))]))  # fmt: skip
    w.family("kube_node_labels", "gauge", "[STABLE] Kubernetes labels converted to Prometheus labels.",
             node_rows(lambda k, n, ip: [("", "1")]))  # fmt: skip
    w.family("kube_node_spec_unschedulable", "gauge", "[STABLE] Whether a node can schedule new pods.",
             node_rows(lambda k, n, ip: [("", "0")]))  # fmt: skip
    conds = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    w.family("kube_node_status_condition", "gauge", "[STABLE] The condition of a cluster node.", node_rows(
        lambda k, n, ip: [(f'condition="{c}",status="{s}"',
                           "1" if (s == "true") == (c == "Ready") and s != "unknown" else "0")
                          for c in conds for s in _TF]))  # fmt: skip
    res = [("cpu", "core", "4"), ("ephemeral-storage", "byte", "8.5886742528e+10"),
           ("memory", "byte", "1.6222298112e+10"), ("pods", "integer", "110")]  # fmt: skip
    for fam, what in (
        ("kube_node_status_capacity", "capacity"),
        ("kube_node_status_allocatable", "allocatable"),
    ):
        w.family(fam, "gauge", f"[STABLE] The {what} for different resources of a node.", node_rows(
            lambda k, n, ip: [(f'resource="{r}",unit="{u}"', v) for r, u, v in res]))  # fmt: skip

    # -- deployments and replicasets
    def dep_rows(
        extra: Callable[[tuple[str, str, str, int]], Iterable[tuple[str, str]]],
    ) -> Iterable[tuple[str, str]]:
        for d in deps:
            for lab, val in extra(d):
                yield (f'namespace="{d[0]}",deployment="{d[1]}"' + ("," + lab if lab else "")), val

    w.family("kube_deployment_created", "gauge", "[STABLE] Unix creation timestamp",
             dep_rows(lambda d: [("", f(_T0 - 86400 * 20))]))  # fmt: skip
    for fam, help_text in (
        ("kube_deployment_spec_replicas", "[STABLE] Number of desired pods for a deployment."),
        ("kube_deployment_status_replicas", "[STABLE] The number of replicas per deployment."),
        ("kube_deployment_status_replicas_available", "[STABLE] The number of available replicas per deployment."),
        ("kube_deployment_status_replicas_ready", "[STABLE] The number of ready replicas per deployment."),
        ("kube_deployment_status_replicas_updated", "[STABLE] The number of updated replicas per deployment."),
    ):  # fmt: skip
        w.family(fam, "gauge", help_text, dep_rows(lambda d: [("", str(d[3]))]))
    w.family("kube_deployment_status_replicas_unavailable", "gauge",
             "[STABLE] The number of unavailable replicas per deployment.", dep_rows(lambda d: [("", "0")]))  # fmt: skip
    w.family("kube_deployment_status_condition", "gauge", "[STABLE] The current status conditions of a deployment.",
             dep_rows(lambda d: [(f'reason="{r}",condition="{c}",status="{s}"', "1" if s == "true" else "0")
                                 for c, r in (("Available", "MinimumReplicasAvailable"),
                                              ("Progressing", "NewReplicaSetAvailable"))
                                 for s in _TF]))  # fmt: skip
    w.family("kube_replicaset_owner", "gauge", "[STABLE] Information about the ReplicaSet's owner.", (
        (f'namespace="{d[0]}",replicaset="{d[1]}-{d[2]}",owner_kind="Deployment",owner_name="{d[1]}",'
         'owner_is_controller="true"', "1") for d in deps))  # fmt: skip
    w.family("kube_replicaset_status_replicas", "gauge", "[STABLE] The number of replicas per ReplicaSet.",
             ((f'namespace="{d[0]}",replicaset="{d[1]}-{d[2]}"', str(d[3])) for d in deps))  # fmt: skip

    # -- pods
    w.family("kube_pod_info", "gauge", "[STABLE] Information about pod.", pod_rows(lambda p: [(
        f'host_ip="{p.host_ip}",pod_ip="{p.ip}",node="{p.node}",created_by_kind="{p.kind}",'
        f'created_by_name="{p.owner}",priority_class="",host_network="false"', "1")]))  # fmt: skip
    w.family("kube_pod_start_time", "gauge", "[STABLE] Start time in unix timestamp for a pod.",
             pod_rows(lambda p: [("", f(p.created + 2))]))  # fmt: skip
    w.family("kube_pod_owner", "gauge", "[STABLE] Information about the Pod's owner.", pod_rows(lambda p: [(
        f'owner_kind="{p.kind}",owner_name="{p.owner}",owner_is_controller="true"', "1")]))  # fmt: skip
    w.family("kube_pod_labels", "gauge", "[STABLE] Kubernetes labels converted to Prometheus labels.",
             pod_rows(lambda p: [("", "1")]))  # fmt: skip
    w.family("kube_pod_created", "gauge", "[STABLE] Unix creation timestamp",
             pod_rows(lambda p: [("", f(p.created))]))  # fmt: skip
    w.family("kube_pod_restart_policy", "gauge", "[STABLE] Describes the restart policy in use by this pod.",
             pod_rows(lambda p: [('type="Always"', "1")]))  # fmt: skip
    w.family("kube_pod_service_account", "gauge", "The service account for a pod.",
             pod_rows(lambda p: [(f'service_account="{p.sa}"', "1")]))  # fmt: skip
    w.family("kube_pod_status_phase", "gauge", "[STABLE] The pods current phase.",
             pod_rows(lambda p: [(f'phase="{ph}"', "1" if ph == p.phase else "0") for ph in _PHASES]))  # fmt: skip
    w.family("kube_pod_status_ready", "gauge", "[STABLE] Describes whether the pod is ready to serve requests.",
             pod_rows(lambda p: [(f'condition="{s}"', "1" if s == "true" else "0") for s in _TF]))  # fmt: skip
    w.family("kube_pod_status_scheduled", "gauge", "[STABLE] Describes the status of the scheduling process for the pod.",
             pod_rows(lambda p: [(f'condition="{s}"', "1" if s == "true" else "0") for s in _TF]))  # fmt: skip
    w.family("kube_pod_status_qos_class", "gauge", "The pods current qosClass.",
             pod_rows(lambda p: [(f'qos_class="{q}"', "1" if q == p.qos else "0") for q in _QOS]))  # fmt: skip
    w.family("kube_pod_status_reason", "gauge", "The pod status reasons",
             pod_rows(lambda p: [(f'reason="{r}"', "0") for r in _REASONS]))  # fmt: skip
    w.family("kube_pod_tolerations", "gauge", "Information about the pod tolerations", pod_rows(lambda p: [
        (f'key="node.kubernetes.io/{k}",operator="Exists",value="",effect="NoExecute",toleration_seconds="300"', "1")
        for k in ("not-ready", "unreachable")]))  # fmt: skip
    w.family("kube_pod_ips", "gauge", "Pod IP addresses",
             pod_rows(lambda p: [(f'ip="{p.ip}",ip_family="4"', "1")]))  # fmt: skip
    w.family("kube_pod_status_scheduled_time", "gauge", "Unix timestamp when pod moved into scheduled status",
             pod_rows(lambda p: [("", f(p.created + 1))]))  # fmt: skip

    # -- containers
    def cinfo(p: _Pod, idx: int, c: tuple[str, str, str]) -> list[tuple[str, str]]:
        return [(f'image_spec="{c[1]}",image="{c[1]}",image_id="{c[1].split(":")[0]}@sha256:{c[2]}",'
                 f'container_id="containerd://{c[2]}"', "1")]  # fmt: skip

    w.family(
        "kube_pod_container_info",
        "gauge",
        "[STABLE] Information about a container in a pod.",
        cont_rows(cinfo),
    )
    for fam, help_text, val in (
        ("kube_pod_container_status_waiting", "[STABLE] Describes whether the container is currently in waiting state.", "0"),
        ("kube_pod_container_status_running", "[STABLE] Describes whether the container is currently in running state.", "1"),
        ("kube_pod_container_status_terminated", "[STABLE] Describes whether the container is currently in terminated state.", "0"),
        ("kube_pod_container_status_ready", "[STABLE] Describes whether the containers readiness check succeeded.", "1"),
    ):  # fmt: skip
        w.family(fam, "gauge", help_text, cont_rows(lambda p, i, c, v=val: [("", v)]))  # type: ignore[misc]
    w.family("kube_pod_container_status_restarts_total", "counter",
             "[STABLE] The number of container restarts per container.",
             cont_rows(lambda p, i, c: [("", str(len(p.name) % 3 if p.uid[0] in "01" else 0))]))  # fmt: skip
    w.family("kube_pod_container_state_started", "gauge", "[STABLE] Start time in unix timestamp for a pod container.",
             cont_rows(lambda p, i, c: [("", f(p.created + 5 + i))]))  # fmt: skip

    def resources(p: _Pod, idx: int, c: tuple[str, str, str]) -> list[tuple[str, str]]:
        cpu = (0.1, 0.25, 0.5, 1.0)[len(p.app) % 4] if idx == 0 else 0.05
        mem = (
            (1.34217728e8, 2.68435456e8, 5.36870912e8, 1.073741824e9)[len(p.ns) % 4]
            if idx == 0
            else 6.7108864e7
        )
        return [(f'node="{p.node}",resource="cpu",unit="core"', f(cpu)),
                (f'node="{p.node}",resource="memory",unit="byte"', f(mem))]  # fmt: skip

    w.family("kube_pod_container_resource_requests", "gauge",
             "[STABLE] The number of requested request resource by a container.", cont_rows(resources))  # fmt: skip
    w.family("kube_pod_container_resource_limits", "gauge",
             "[STABLE] The number of requested limit resource by a container.",
             cont_rows(lambda p, i, c: [(lab, f(float(v) * 2)) for lab, v in resources(p, i, c)]))  # fmt: skip
    return w.bytes()


_CADV_GAUGES = [
    ("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed"),
    ("container_memory_working_set_bytes", "Current working set in bytes."),
    ("container_memory_rss", "Size of RSS in bytes."),
    ("container_memory_cache", "Number of bytes of page cache memory."),
    ("container_memory_mapped_file", "Size of memory mapped files in bytes."),
    ("container_memory_swap", "Container swap usage in bytes."),
    ("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes"),
    ("container_memory_kernel_usage", "Size of kernel memory allocated in bytes."),
    ("container_memory_total_active_file_bytes", "Current total active file in bytes."),
    ("container_memory_total_inactive_file_bytes", "Current total inactive file in bytes."),
    ("container_spec_memory_limit_bytes", "Memory limit for the container."),
    ("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container."),
    ("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container."),
    ("container_spec_cpu_period", "CPU period of the container."),
    ("container_spec_cpu_shares", "CPU share of the container."),
    ("container_threads", "Number of threads running inside the container"),
    ("container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero"),
    ("container_processes", "Number of processes running inside the container."),
    ("container_sockets", "Number of open sockets for the container."),
    ("container_file_descriptors", "Number of open file descriptors for the container."),
    ("container_start_time_seconds", "Start time of the container since unix epoch in seconds."),
    ("container_last_seen", "Last time a container was seen by the exporter"),
    ("container_cpu_load_average_10s", "Value of container cpu load average over the last 10 seconds."),
]  # fmt: skip
_CADV_COUNTERS = [
    ("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", 'cpu="total"'),
    ("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", ""),
    ("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", ""),
    ("container_memory_failcnt", "Number of memory usage hits limits", ""),
    ("container_oom_events_total", "Count of out of memory events observed for the container", ""),
    ("container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.", ""),
    ("container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.", ""),
    ("container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.", ""),
    ("container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.", ""),
    ("container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.", ""),
    ("container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.", ""),
]  # fmt: skip
_CADV_NET = [
    ("container_network_receive_bytes_total", "Cumulative count of bytes received"),
    ("container_network_receive_packets_total", "Cumulative count of packets received"),
    ("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving"),
    ("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving"),
    ("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted"),
    ("container_network_transmit_packets_total", "Cumulative count of packets transmitted"),
    ("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting"),
    ("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting"),
]  # fmt: skip
_CADV_FS = [
    ("container_fs_reads_total", "Cumulative count of reads completed"),
    ("container_fs_writes_total", "Cumulative count of writes completed"),
    ("container_fs_reads_bytes_total", "Cumulative count of bytes read"),
    ("container_fs_writes_bytes_total", "Cumulative count of bytes written"),
]  # fmt: skip


def cadvisor_page(
    pods: int = 110,
    seed: int = 0,
    timestamp_ms: int = _T0 * 1000 + 142486,
    churn: float = 0.0,
    generation: int = 0,
) -> bytes:
    """A kubelet ``/metrics/cadvisor`` page for one node: root/QoS cgroups, per pod the pod
    cgroup, the pause container and the app containers; explicit ms timestamps on container
    samples, ``machine_*`` without. ~15k samples for 110 pods."""
    _, pod_list, _ = _cluster(max(1, pods // 110), pods, seed, churn, generation)
    rng = random.Random(seed + 7919 * generation)
    w = _Writer()
    f = go_float
    # cgroups: (container, id, image, name, namespace, pod, kind)
    cgroups: list[tuple[str, str, str, str, str, str, str]] = [
        ("", "/", "", "", "", "", "root"),
        ("", "/kubepods", "", "", "", "", "qos"),
        ("", "/kubepods/besteffort", "", "", "", "", "qos"),
        ("", "/kubepods/burstable", "", "", "", "", "qos"),
    ]
    for p in pod_list:
        qos = {"BestEffort": "besteffort", "Burstable": "burstable"}.get(p.qos, "")
        pod_id = "/kubepods/" + (qos + "/" if qos else "") + "pod" + p.uid
        cgroups.append(("", pod_id, "", "", p.ns, p.name, "pod"))
        pause = _hex(random.Random(p.uid), 64)
        cgroups.append(
            ("POD", f"{pod_id}/{pause}", "registry.k8s.io/pause:3.10", pause, p.ns, p.name, "pause")
        )
        for cname, image, cid in p.containers:
            cgroups.append((cname, f"{pod_id}/{cid}", image, cid, p.ns, p.name, "app"))
    stamps = [timestamp_ms - rng.randint(0, 15000) for _ in cgroups]

    def lab(cg: tuple[str, ...], extra: str = "") -> str:
        c, i, im, n, ns, pod, _ = cg
        e = extra + "," if extra else ""
        return f'container="{c}",{e}id="{i}",image="{im}",name="{n}",namespace="{ns}",pod="{pod}"'

    w.family("cadvisor_version_info", "gauge",
             "A metric with a constant '1' value labeled by kernel version, OS version, docker version, cadvisor version & cadvisor revision.",
             [('cadvisorRevision="",cadvisorVersion="",dockerVersion="",kernelVersion="6.1.119-129.201.amzn2023.x86_64",'
               'osVersion="Amazon Linux 2023.6.20250115"', "1")])  # fmt: skip
    for name, help_text, extra in _CADV_COUNTERS:
        rows = [(lab(cg, extra), f"{f(round(rng.uniform(0, 5e4), 6))} {stamps[k]}")
                for k, cg in enumerate(cgroups)]  # fmt: skip
        w.family(name, "counter", help_text, rows)
    for name, help_text in _CADV_GAUGES:
        rows = [
            (lab(cg), f"{f(float(rng.randint(0, 2**31)))} {stamps[k]}")
            for k, cg in enumerate(cgroups)
        ]
        w.family(name, "gauge", help_text, rows)
    for name, help_text in _CADV_NET:
        rows = [(lab(cg, 'interface="eth0"'), f"{f(float(rng.randint(0, 2**40)))} {stamps[k]}")
                for k, cg in enumerate(cgroups) if cg[6] in ("pause", "root")]  # fmt: skip
        w.family(name, "counter", help_text, rows)
    for name, help_text in _CADV_FS:
        rows = [(lab(cg, 'device="/dev/nvme0n1"'), f"{f(float(rng.randint(0, 2**30)))} {stamps[k]}")
                for k, cg in enumerate(cgroups) if cg[6] in ("app", "root")]  # fmt: skip
        w.family(name, "counter", help_text, rows)
    states = ["iowaiting", "running", "sleeping", "stopped", "uninterruptible"]
    w.family("container_tasks_state", "gauge", "Number of tasks in given state", [
        (lab(cg, f'state="{s}"'), f"{rng.randint(0, 40) if s == 'sleeping' else 0} {stamps[k]}")
        for k, cg in enumerate(cgroups) for s in states])  # fmt: skip
    machine = 'boot_id="3f08706e-fbd4-4afe-ab2e-cb273a74d98b",machine_id="ec2b1c7a9d3e4f5a",system_uuid="ec2b1c7a-9d3e-4f5a-8b6c-7d8e9f0a1b2c"'
    w.family("machine_cpu_cores", "gauge", "Number of logical CPU cores.", [(machine, "4")])
    w.family(
        "machine_cpu_physical_cores", "gauge", "Number of physical CPU cores.", [(machine, "2")]
    )
    w.family("machine_cpu_sockets", "gauge", "Number of CPU sockets.", [(machine, "1")])
    w.family("machine_memory_bytes", "gauge", "Amount of memory installed on the machine.",
             [(machine, "1.6222298112e+10")])  # fmt: skip
    w.family("machine_scrape_error", "gauge", "1 if there was an error while getting machine metrics, 0 otherwise.",
             [("", "0")])  # fmt: skip
    return w.bytes()


_APISERVER_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0,
                      4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0]  # fmt: skip
_RESOURCES = ["pods", "nodes", "services", "endpoints", "configmaps", "secrets", "deployments",
              "replicasets", "leases", "events", "namespaces", "endpointslices", "jobs",
              "customresourcedefinitions", "serviceaccounts", "horizontalpodautoscalers"]  # fmt: skip
_VERBS = ["GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE", "APPLY"]


def histogram_page(series: int = 200, seed: int = 0, openmetrics: bool = False) -> bytes:
    """An apiserver-like page: ``series`` request-duration histograms (23 buckets each), etcd
    histograms, summaries (``go_gc_duration_seconds``, watch event sizes) and ordinary counters
    and gauges. ``le`` values are written as Go writes them. ``openmetrics=True`` writes the
    same samples as OpenMetrics 1.0 (valid under the specification's rules)."""
    rng = random.Random(seed)
    w = _Writer(openmetrics)
    f = go_float
    combos = [
        (v, r, s) for r in _RESOURCES for v in _VERBS for s in ("cluster", "namespace", "resource")
    ]
    rng.shuffle(combos)
    combos = combos[:series]
    rows: list[tuple[str, str]] = []
    for verb, res, scope in combos:
        group = "apps" if res in ("deployments", "replicasets") else ""
        base = (
            f'component="apiserver",dry_run="",group="{group}",resource="{res}",'
            f'scope="{scope}",subresource="",verb="{verb}",version="v1"'
        )
        rows.extend(_buckets(base, rng.randint(10, 10**7), rng, 0.2, 0.8))
    w.family3(
        "apiserver_request_duration_seconds",
        "histogram",
        "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, "
        "version, resource, subresource, scope and component.",
        _hist_rows(rows, rng),
    )
    etcd_rows: list[tuple[str, str]] = []
    for res in _RESOURCES:
        for op in ("get", "list", "create", "update", "delete"):
            base = f'operation="{op}",type="{res}"'
            etcd_rows.extend(_buckets(base, rng.randint(100, 10**6), rng, 0.3, 0.9))
    w.family3(
        "etcd_request_duration_seconds",
        "histogram",
        "[ALPHA] Etcd request latency in seconds for each operation and object type.",
        _hist_rows(etcd_rows, rng),
    )
    gc_rows = [("", f'quantile="{q}"', f(rng.uniform(1e-5, 1e-3))) for q in ("0", "0.25", "0.5")]
    gc_rows += [("_sum", "", f(round(rng.uniform(1, 50), 6)))]
    gc_rows += [("_count", "", str(rng.randint(1000, 90000)))]
    w.family3(
        "go_gc_duration_seconds",
        "summary",
        "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
        gc_rows,
    )
    ws_rows: list[tuple[str, str, str]] = []
    for r in _RESOURCES[:6]:
        base = f'group="",kind="{r}",version="v1"'
        for q in ("0.5", "0.9", "0.99"):
            ws_rows.append(("", f'{base},quantile="{q}"', f(float(rng.randint(200, 9000)))))
        ws_rows.append(("_sum", base, str(rng.randint(10**5, 10**9))))
        ws_rows.append(("_count", base, str(rng.randint(10**3, 10**6))))
    w.family3(
        "apiserver_watch_events_sizes",
        "summary",
        "[ALPHA] Watch event size distribution in bytes",
        ws_rows,
    )
    w.family(
        "apiserver_request_total",
        "counter",
        "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, "
        "version, resource, scope, component, and HTTP response code.",
        [
            (
                f'code="{c}",component="apiserver",dry_run="",group="",resource="{r}",'
                f'scope="{s}",subresource="",verb="{v}",version="v1"',
                str(rng.randint(0, 10**7)),
            )
            for v, r, s in combos[: series // 2]
            for c in ("200", "201", "404")
        ],
    )
    w.family(
        "go_goroutines",
        "gauge",
        "Number of goroutines that currently exist.",
        [("", str(rng.randint(300, 3000)))],
    )
    w.family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        [("", f(float(rng.randint(2**28, 2**31))))],
    )
    return w.bytes()


def _buckets(
    base: str, total: int, rng: random.Random, lo: float, hi: float
) -> list[tuple[str, str]]:
    """Cumulative bucket rows (labels, count) of one series, ending with ``le="+Inf"``."""
    out = []
    acc = 0
    for le in _APISERVER_BUCKETS:
        acc += int((total - acc) * rng.uniform(lo, hi))
        out.append((f'{base},le="{go_float(le)}"', str(acc)))
    out.append((f'{base},le="+Inf"', str(total)))
    return out


def _hist_rows(
    bucket_rows: list[tuple[str, str]], rng: random.Random
) -> list[tuple[str, str, str]]:
    """Bucket rows grouped per series, each series followed by its ``_sum`` and ``_count``."""
    out: list[tuple[str, str, str]] = []
    cur: str | None = None
    last = "0"
    for lab, val in bucket_rows:
        base = lab.rsplit(',le="', 1)[0]
        if cur is not None and base != cur:
            out.extend(_sum_count(cur, last, rng))
        cur, last = base, val
        out.append(("_bucket", lab, val))
    if cur is not None:
        out.extend(_sum_count(cur, last, rng))
    return out


def _sum_count(base: str, count: str, rng: random.Random) -> list[tuple[str, str, str]]:
    total = go_float(round(int(count) * rng.uniform(0.01, 0.5), 6))
    return [("_sum", base, total), ("_count", base, count)]


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m agent.devtools.pages",
        description=__doc__.split("\n")[0] if __doc__ else None,
    )
    ap.add_argument("kind", choices=("ksm", "cadvisor", "histogram"))
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=None)
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--churn", type=float, default=0.0)
    ap.add_argument("--generation", type=int, default=0)
    ap.add_argument("--openmetrics", action="store_true", help="ksm/histogram as OpenMetrics")
    a = ap.parse_args(argv)
    if a.kind == "ksm":
        out = ksm_page(
            a.nodes, a.pods if a.pods is not None else 3000, a.seed, a.churn, a.generation
        )
    elif a.kind == "cadvisor":
        out = cadvisor_page(
            a.pods if a.pods is not None else 110, a.seed, churn=a.churn, generation=a.generation
        )
    else:
        out = histogram_page(a.series, a.seed, a.openmetrics)
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
