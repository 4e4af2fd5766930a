"""Hostile configs and security defaults.

Covered elsewhere (referenced in docs/RELIABILITY.md, not repeated here): credentials files
re-read on every scrape and rotated service-account tokens (tests/scrape/test_http.py::
test_https_with_ca_and_rotating_token_file, tests/k8s/test_discovery_e2e.py::
test_in_cluster_token_rotation), credentials never sent to another host on redirect
(tests/scrape/test_http.py::test_redirects_same_host_keep_token_cross_host_drop_it), the
manifest's hardening (tests/k8s/test_manifests.py), lifecycle disabled (tests/e2e).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
import yaml
from reliability_helpers import AgentProcess, wait_until

import relabel
from agent.config import ConfigError, loads
from agent.devtools.k8s_apiserver import FakeAPIServer
from agent.devtools.otlp_receiver import OTLPReceiver
from agent.devtools.target_server import TargetServer

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------- configs

INVALID = [
    ("scrape_configs:\n  - job_name: a\n    scrape_interval: fast\n", "scrape_configs[0]"),
    ("scrape_configs:\n  - job_name: a\n    scrape_intervall: 1s\n", "scrape_intervall"),
    ("scrape_configs:\n  - job_name: a\n  - job_name: a\n", "scrape_configs[1]"),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: '('\n",
        "relabel_configs[0]",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: explode\n",
        "relabel_configs[0]",
    ),
    (
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: 5\n",
        "static_configs[0]",
    ),
    ("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", "scheme"),
    (
        "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pods\n",
        "kubernetes_sd_configs[0]",
    ),
    ("scrape_configs:\n  - job_name: a\n    body_size_limit: lots\n", "body_size_limit"),
    ("scrape_configs:\n  - job_name: a\n    sample_limit: -1\n", "sample_limit"),
    ("global:\n  scrape_timeout: 20s\n  scrape_interval: 10s\n", "global: global scrape timeout"),
    ("scrape_agent:\n  queue:\n    max_bytes: 0\n", "scrape_agent.queue.max_bytes"),
    ("scrape_agent:\n  otlp:\n    protocol: carrier-pigeon\n", "scrape_agent.otlp"),
    ("scrape_configs: {a: 1}\n", "scrape_configs"),
    ("scrape_configs:\n  - job_name: [a]\n", "job_name"),
]


def test_every_invalid_config_names_the_yaml_path() -> None:
    shown = []
    for text, path in INVALID:
        with pytest.raises(ConfigError) as ei:
            loads(text, source="scrape.yml")
        msg = str(ei.value)
        shown.append(msg.splitlines()[0])
        assert path in msg and "scrape.yml:" in msg, (text, msg)
        assert "Traceback" not in msg
    print(f"\n{len(INVALID)} invalid configs, e.g.:\n  " + "\n  ".join(shown[:4]))


TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!custom {{a: 1}}",
    "!!set {{a, b}}",
]


@pytest.mark.parametrize("tag", TAGS)
def test_no_yaml_tag_constructs_objects(tag: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"global:\n  external_labels:\n    x: {tag.format(marker=marker)}\nscrape_configs: []\n"
    with pytest.raises(ConfigError) as ei:
        loads(text, source="scrape.yml")
    assert "scrape.yml:3" in str(ei.value) and "tag" in str(ei.value), str(ei.value)
    assert not marker.exists()


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "global:\n  external_labels:\n" + "\n".join(lines) + "\n"
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as ei:
        loads(text, source="bomb.yml")
    took = time.perf_counter() - t0
    print(f"\nbillion-laughs config (10^9 expanded nodes) refused in {took * 1000:.0f} ms")
    assert "excessive aliasing" in str(ei.value)
    assert took < 5


CATASTROPHIC = ["(a+)+$", "(a|aa)+$", "(a|a?)+$", "(.*a){12}$", "((a*)*)*b"]


@pytest.mark.parametrize("regex", CATASTROPHIC)
def test_catastrophic_regex_cannot_hang_relabelling(regex: str) -> None:
    rules = relabel.parse(
        [
            {"source_labels": ["v"], "regex": regex, "target_label": "hit", "replacement": "y"},
            {"source_labels": ["v"], "regex": regex, "action": "keep"},
        ]
    )
    value = "a" * 5000 + "!"
    t0 = time.perf_counter()
    out = relabel.process({"__name__": "m", "v": value}, rules)
    took = time.perf_counter() - t0
    print(f"\n{regex!r} on a 5001-char value: {took * 1000:.1f} ms")
    assert out is None  # anchored full match fails: keep drops it
    assert took < 2.0


# --------------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_env(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ca = trustme.CA()
    with (
        TargetServer(tls_ca=ca) as target,
        TargetServer(tls_ca=ca) as fake_otlp,
        FakeAPIServer(tls=True, tmpdir=tmp_path) as api,
    ):
        target.set("/metrics", b"# TYPE x gauge\nx 1\n")
        yield {"target": target, "otlp": fake_otlp, "api": api}


def _tls_config(env: dict[str, Any], insecure: bool) -> str:
    skip = "\n    tls_config: {insecure_skip_verify: true}" if insecure else ""
    k8s_skip = ", tls_config: {insecure_skip_verify: true}" if insecure else ""
    otlp_skip = "\n    tls: {insecure_skip_verify: true}" if insecure else ""
    return f"""
global: {{scrape_interval: 500ms, scrape_timeout: 400ms}}
scrape_configs:
  - job_name: https-target
    scheme: https{skip}
    static_configs: [{{targets: ['{env["target"].address}']}}]
  - job_name: k8s
    kubernetes_sd_configs: [{{role: node, api_server: '{env["api"].url}'{k8s_skip}}}]
scrape_agent:
  otlp:
    endpoint: {env["otlp"].url("")}{otlp_skip}
    timeout: 1s
  queue: {{drain_timeout: 1s}}
"""


def test_tls_verification_is_on_by_default(
    tls_env: dict[str, Any], start_agent: Callable[..., AgentProcess]
) -> None:
    agent = start_agent(_tls_config(tls_env, insecure=False))
    assert wait_until(lambda: _up(agent), 20), agent.log()

    def shown() -> bool:
        ts = [t for t in agent.targets() if t["scrapePool"] == "https-target"]
        return bool(ts) and "certificate" in ts[0]["lastError"] and _export_failed(agent)

    assert wait_until(shown, 15), agent.log()
    assert wait_until(lambda: "certificate verify failed" in _k8s_lines(agent.log()), 10)
    target = next(t for t in agent.targets() if t["scrapePool"] == "https-target")
    export_err = _export_error(agent.log())
    print(
        f"\ntarget: {target['lastError']}\nOTLP: {export_err}\n"
        f"API server: {_k8s_lines(agent.log())[:200]}"
    )
    assert not tls_env["target"].requests_for("/metrics"), "no request may pass the handshake"
    assert not [t for t in agent.targets() if t["scrapePool"] == "k8s"]
    assert "certificate" in export_err


def test_insecure_skip_verify_only_when_configured_with_a_warning(
    tls_env: dict[str, Any], start_agent: Callable[..., AgentProcess], tmp_path: Path
) -> None:
    text = _tls_config(tls_env, insecure=True)
    cfg = tmp_path / "insecure.yml"
    cfg.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    warned = [ln for ln in (out.stdout + out.stderr).splitlines() if "verification" in ln]
    print("\n" + "\n".join(warned))
    assert len(warned) == 3, out.stdout + out.stderr
    assert any("scrape_agent.otlp.tls.insecure_skip_verify" in w for w in warned)
    agent = start_agent(text)
    agent.wait_ready()
    assert wait_until(
        lambda: {t["scrapePool"]: t["health"] for t in agent.targets()}.get("https-target") == "up",
        15,
    ), agent.log()


def test_run_logs_config_warnings(
    tls_env: dict[str, Any], start_agent: Callable[..., AgentProcess]
) -> None:
    """Regression: `run` used to log none of the config's warnings (fixed in agent/runner.py)."""
    agent = start_agent(_tls_config(tls_env, insecure=True))
    agent.wait_ready()
    assert "insecure_skip_verify" in agent.log()


def _up(agent: AgentProcess) -> bool:
    assert agent.proc.poll() is None, agent.log()
    try:
        return agent.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _export_failed(agent: AgentProcess) -> bool:
    return agent.metric("scrape_agent_export_consecutive_failures") > 0


def _export_error(log: str) -> str:
    for line in log.splitlines():
        if "logger=agent.export" in line and "failed" in line:
            return line.split("msg=", 1)[1][:240]
    return ""


def _k8s_lines(log: str) -> str:
    return "\n".join(ln for ln in log.splitlines() if "kubernetes" in ln.lower())


# --------------------------------------------------------------------------------- secrets

TOKEN = "tok-SECRET-7f3a9c1e"
PASSWORD = "pw-SECRET-0b8d2e44"
HEADER_SECRET = "hdr-SECRET-51c0aa9f"
INGEST_KEY = "ingest-SECRET-e2d4c6b8"


def test_secrets_never_shown(start_agent: Callable[..., AgentProcess], tmp_path: Path) -> None:
    pw_file = tmp_path / "password"
    pw_file.write_text(PASSWORD + "\n")
    with TargetServer(token=lambda: "a-different-token") as srv, OTLPReceiver() as rx:
        srv.set("/metrics", b"x 1\n")
        srv.set("/redirect", b"x 1\n")
        agent = start_agent(
            f"""
global: {{scrape_interval: 500ms, scrape_timeout: 400ms}}
scrape_configs:
  - job_name: bearer
    authorization: {{credentials: {TOKEN}}}
    static_configs: [{{targets: ['{srv.address}']}}]
  - job_name: basic
    basic_auth: {{username: u, password_file: {pw_file}}}
    static_configs: [{{targets: ['{srv.address}']}}]
  - job_name: header
    http_headers:
      X-Api-Key: {{secrets: [{HEADER_SECRET}]}}
    static_configs: [{{targets: ['{srv.address}']}}]
  - job_name: self
    static_configs: [{{targets: ['127.0.0.1:1']}}]
scrape_agent:
  otlp:
    endpoint: {rx.http_endpoint}
    headers: {{signoz-ingestion-key: {INGEST_KEY}}}
""",
            "--log.level=debug",
        )
        agent.wait_ready()
        assert wait_until(
            lambda: (
                agent.metric("scrape_agent_scrape_failures_total") >= 6 and rx.requests_total >= 1
            ),
            15,
        ), agent.log()
        # every page the agent serves, and what the backend received
        pages = {}
        for path in (
            "/api/v1/targets",
            "/targets",
            "/metrics",
            "/config",
            "/api/v1/status/config",
            "/api/v1/targets?state=dropped",
            "/-/healthy",
            "/-/ready",
            "/healthz",
            "/readyz",
        ):
            pages[path] = agent.get(path).text
        sent = " ".join(str(r.headers) for r in srv.requests_for("/metrics"))
        assert TOKEN in sent and HEADER_SECRET in sent and "Basic " in sent  # really in use
        agent.stop()
    pages["log"] = agent.log()
    pages["otlp"] = "".join(str(r) for r in rx.requests)
    leaks = [
        (where, s)
        for where, text in pages.items()
        for s in (TOKEN, PASSWORD, HEADER_SECRET, INGEST_KEY)
        if s in text
    ]
    print(f"\nsearched {len(pages)} outputs ({sum(map(len, pages.values()))} chars): leaks {leaks}")
    assert not leaks


# --------------------------------------------------------------------------------- server


def test_http_server_changes_nothing_but_reload(
    start_agent: Callable[..., AgentProcess],
) -> None:
    agent = start_agent(
        "scrape_configs: []\nscrape_agent: {otlp: {endpoint: 'http://127.0.0.1:1'}}\n"
    )
    agent.wait_ready()
    paths = [
        "/",
        "/metrics",
        "/targets",
        "/config",
        "/api/v1/targets",
        "/api/v1/status/config",
        "/healthz",
        "/readyz",
        "/-/healthy",
        "/-/ready",
        "/-/quit",
        "/-/reload",
        "/api/v1/admin/tsdb/delete_series",
        "/api/v1/write",
    ]
    accepted = []
    for path in paths:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            code = agent.request(method, path).status_code
            if code < 400:
                accepted.append((method, path, code))
    print(f"\n{len(paths) * 4} state-changing requests tried; accepted: {accepted}")
    # POST and PUT /-/reload, as Prometheus' lifecycle API
    assert {(m, p) for m, p, _ in accepted} <= {("POST", "/-/reload"), ("PUT", "/-/reload")}
    assert ("POST", "/-/reload", 200) in accepted
    assert agent.proc.poll() is None


def test_default_listen_address_is_loopback_only() -> None:
    from agent.runner import DEFAULT_LISTEN

    assert DEFAULT_LISTEN.startswith("127.0.0.1:")
    other = _non_loopback_address()
    if other is None:
        pytest.skip("this host has no non-loopback IPv4 address to probe from")
    # an agent bound to the default host is not reachable on the host's other address
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with socket.socket() as c:
            c.settimeout(2)
            assert c.connect_ex((other, port)) != 0


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            addr = str(s.getsockname()[0])
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def test_manifest_rbac_is_read_only_and_minimal() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "daemonset.yaml").read_text()))
    roles = [d for d in docs if d and d.get("kind") in ("ClusterRole", "Role")]
    verbs = {v for r in roles for rule in r["rules"] for v in rule["verbs"]}
    resources = {res for r in roles for rule in r["rules"] for res in rule.get("resources", [])}
    print(f"\nRBAC verbs {sorted(verbs)}; resources {sorted(resources)}")
    assert verbs <= {"get", "list", "watch"}
    assert not resources & {"secrets", "configmaps", "*"}
    assert "*" not in {g for r in roles for rule in r["rules"] for g in rule.get("apiGroups", [])}
    ds = next(d for d in docs if d and d.get("kind") == "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    for c in spec["containers"]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["runAsNonRoot"] is True and sc["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["runAsUser"] != 0
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
