"""Loader semantics: defaults, inheritance, both forms, env handling, errors, redaction."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from agent.config import Authorization, Config, ConfigError, load, loads, redacted
from agent.config._units import format_duration, os_expand, parse_duration, parse_size

SHARED_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"


def load_text(text: str, env: dict[str, str] | None = None) -> Config:
    return loads(textwrap.dedent(text), source="t.yml", env=env or {})


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads(textwrap.dedent(text), source="t.yml", env=env or {})
    return info.value.errors


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1d", 86400),
        ("1w", 604800),
        ("1y", 31536000),
        ("0", 0),
        ("1m1s1ms", 61.001),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1.5s", "", "15", "s", "1h1d", "-1s", "1 s", "10S"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (90, "1m30s"), (3600, "1h"), (0.5, "500ms"), (0, "0s"), (86400, "1d")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512B", 512),
        ("10KB", 10240),
        ("10KiB", 10240),
        ("1MB", 1 << 20),
        ("1GiB", 1 << 30),
        ("1.5KB", 1536),
        ("0", 0),
        ("1MB512KB", (1 << 20) + (512 << 10)),
    ],
)
def test_parse_size_is_base2(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10kB", "10", "", "MB", "1.2.3MB", "-", "10mb"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_parse_size_sign_as_go() -> None:
    assert parse_size("-1MB") == -(1 << 20)
    assert parse_size("+2KiB") == 2048


def test_yaml_v2_quirks() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - job_name: a
            sample_limit: 5.0
            body_size_limit: -1MB
        ---
        scrape_configs: []
        """
    )
    sc = cfg.scrape_configs[0]
    assert sc.sample_limit == 5  # an integral float fills an integer field
    assert sc.body_size_limit == 0  # negative: no limit, as Prometheus treats it
    assert cfg.warnings == (
        "t.yml:7: a second YAML document is ignored (only the first counts, as in Prometheus)",
    )
    errs = errors_of("global:\n  body_size_limit: 1000\n")
    assert errs[0].startswith('t.yml:2: global.body_size_limit: size "1000" needs a unit')


def test_os_expand_like_go() -> None:
    env = {"A": "x", "B_1": "y"}
    assert os_expand("$A-${B_1}", env) == "x-y"
    assert os_expand("$$A", env) == "$A"
    assert os_expand("${}z", env) == "z"  # invalid syntax eaten, as Go does
    assert os_expand("cost $", env) == "cost $"
    missing: list[str] = []
    assert os_expand("${NOPE}", env, missing) == "" and missing == ["NOPE"]


# -- defaults and inheritance -------------------------------------------------------------------


def test_defaults_and_global_inheritance() -> None:
    cfg = load_text(
        """
        global:
          scrape_interval: 5s
          sample_limit: 100
          label_limit: 7
        scrape_configs:
          - job_name: a
          - job_name: b
            scrape_interval: 1m
          - job_name: c
            scrape_interval: 2m
            scrape_timeout: 30s
            sample_limit: 5
        """
    )
    a, b, c = cfg.scrape_configs
    # global timeout defaults to min(10s, global interval) = 5s
    assert cfg.global_config.scrape_timeout == 5
    assert (a.scrape_interval, a.scrape_timeout) == (5, 5)
    # job timeout defaults to min(global timeout, job interval)
    assert (b.scrape_interval, b.scrape_timeout) == (60, 5)
    assert (c.scrape_interval, c.scrape_timeout) == (120, 30)
    assert (a.sample_limit, c.sample_limit, a.label_limit) == (100, 5, 7)
    assert a.metrics_path == "/metrics" and a.scheme == "http" and a.honor_timestamps
    assert a.scrape_protocols[0] == "OpenMetricsText1.0.0"
    assert a.metric_name_validation_scheme == "utf8"


def test_empty_file_uses_prometheus_defaults() -> None:
    cfg = load_text("")
    assert cfg.scrape_configs == ()
    assert cfg.global_config.scrape_interval == 60 and cfg.global_config.scrape_timeout == 10


def test_job_timeout_below_default_interval() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - job_name: fast
            scrape_interval: 3s
        """
    )
    assert cfg.scrape_configs[0].scrape_timeout == 3


def test_bearer_token_file_folded_into_authorization() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - job_name: a
            bearer_token_file: /t
          - job_name: b
            bearer_token: s3cret
          - job_name: c
            authorization:
              credentials: x
        """
    )
    a, b, c = (sc.http_client.authorization for sc in cfg.scrape_configs)
    assert a == Authorization(type="Bearer", credentials_file="/t")
    assert b == Authorization(type="Bearer", credentials="s3cret")
    assert c == Authorization(type="Bearer", credentials="x")


def test_scalars_keep_their_text_in_string_fields() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - job_name: 010
            metrics_path: /m
            params:
              n: [1.0, 0x1F]
        """
    )
    sc = cfg.scrape_configs[0]
    assert sc.job_name == "010"
    assert sc.params == {"n": ("1.0", "0x1F")}


def test_relabel_rules_are_parsed_with_the_job_validation_scheme() -> None:
    text = """
        scrape_configs:
          - job_name: a
            metric_name_validation_scheme: {scheme}
            relabel_configs:
              - source_labels: [__address__]
                target_label: "service.name"
        """
    cfg = load_text(text.format(scheme="utf8"))
    assert cfg.scrape_configs[0].relabel_configs[0].target_label == "service.name"
    errs = errors_of(text.format(scheme="legacy"))
    assert len(errs) == 1 and "relabel_configs[0].target_label" in errs[0]


def test_all_errors_are_reported_with_lines() -> None:
    errs = errors_of(
        """
        global:
          scrape_interval: 1.5s
        scrape_configs:
          - job_name: a
            scrape_timeout: banana
            honor_labels: 3
          - job_name: b
            consul_sd_configs: []
            metric_relabel_configs:
              - action: nope
          - job_name: a
        """
    )
    want = [
        "t.yml:3: global.scrape_interval:",
        't.yml:6: scrape_configs[0] (job "a"): scrape_timeout:',
        't.yml:7: scrape_configs[0] (job "a"): honor_labels:',
        't.yml:9: scrape_configs[1] (job "b"): consul_sd_configs: consul_sd_configs is not supported by scrape-agent',
        't.yml:11: scrape_configs[1] (job "b"): metric_relabel_configs[0].action: unknown relabel action "nope"',
        't.yml:12: scrape_configs[2] (job "a"): found multiple scrape configs with job name "a"',
    ]
    for w in want:
        assert any(e.startswith(w) for e in errs), (w, errs)
    assert len(errs) == len(want)


def test_unsupported_and_ignored_options() -> None:
    cfg = load_text(
        """
        global:
          scrape_protocols: [PrometheusProto, PrometheusText0.0.4]
        remote_write:
          - url: http://x
        scrape_configs:
          - job_name: a
            scrape_native_histograms: true
            native_histogram_bucket_limit: 100
        """
    )
    assert cfg.global_config.scrape_protocols == ("PrometheusText0.0.4",)
    warnings = "\n".join(cfg.warnings)
    assert "t.yml:3: global.scrape_protocols: PrometheusProto is not supported" in warnings
    assert "t.yml:4: remote_write: ignored" in warnings
    assert (
        'scrape_configs[0] (job "a"): scrape_native_histograms: native histograms are not scraped'
        in warnings
    )
    errs = errors_of("alerting:\n  alertmanagers:\n    - static_configs: [{targets: [a:1]}]\n")
    assert errs == [
        "t.yml:1: alerting: alerting is not allowed in agent mode (scrape-agent only scrapes and exports)"
    ]


def test_yaml_objects_cannot_be_constructed() -> None:
    errs = errors_of("global: !!python/object/new:os.getcwd []\n")
    assert "is not allowed" in errs[0]


def test_anchors_and_merge_keys() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - &base
            job_name: a
            scrape_interval: 7s
            metrics_path: /x
          - <<: *base
            job_name: b
            metrics_path: /own
        """
    )
    a, b = cfg.scrape_configs
    assert (a.job_name, a.scrape_interval, a.metrics_path) == ("a", 7, "/x")
    assert (b.job_name, b.scrape_interval, b.metrics_path) == ("b", 7, "/own")


def test_kubernetes_default_http_fields_are_not_custom() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - job_name: a
            kubernetes_sd_configs:
              - role: pod
                follow_redirects: true
                enable_http2: true
                tls_config: {insecure_skip_verify: false}
        """
    )
    assert cfg.scrape_configs[0].kubernetes_sd_configs[0].role == "pod"
    errs = errors_of(
        """
        scrape_configs:
          - job_name: a
            kubernetes_sd_configs:
              - role: pod
                follow_redirects: false
        """
    )
    assert errs == [
        't.yml:5: scrape_configs[0] (job "a"): kubernetes_sd_configs[0]: to use custom HTTP client '
        "configuration please provide the 'api_server' URL explicitly"
    ]


def test_plain_form_warns_about_collector_escapes() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - job_name: a
            relabel_configs:
              - source_labels: [a]
                target_label: b
                replacement: $$1
        """
    )
    assert cfg.scrape_configs[0].relabel_configs[0].replacement == "$$1"
    assert (
        len(cfg.warnings) == 1 and "relabel_configs[0].replacement: contains $$" in cfg.warnings[0]
    )


# -- environment ------------------------------------------------------------------------------


def test_plain_form_has_no_env_expansion_except_external_labels() -> None:
    env = {"REGION": "eu", "NODE": "n1"}
    cfg = load_text(
        """
        global:
          external_labels:
            region: $REGION
            cost: "$$5"
        scrape_configs:
          - job_name: a
            relabel_configs:
              - target_label: node
                replacement: ${NODE}
        """,
        env=env,
    )
    assert cfg.global_config.external_labels == {"region": "eu", "cost": "$5"}
    assert cfg.scrape_configs[0].relabel_configs[0].replacement == "${NODE}"


def test_collector_form_expansion() -> None:
    env = {"NODE_NAME": "node-7", "INTERVAL": "20s", "LIMIT": "50"}
    cfg = load_text(
        """
        receivers:
          prometheus:
            config:
              global:
                scrape_interval: ${env:INTERVAL}
              scrape_configs:
                - job_name: pods
                  sample_limit: ${LIMIT}
                  kubernetes_sd_configs:
                    - role: pod
                      selectors:
                        - role: pod
                          field: spec.nodeName=${env:NODE_NAME}
                  relabel_configs:
                    - source_labels: [a, b]
                      regex: (.+);(.+)
                      replacement: $$1:$${2}
                      target_label: c
                    - target_label: d
                      replacement: $HOME-${env:MISSING:-dflt}
        """,
        env=env,
    )
    sc = cfg.scrape_configs[0]
    assert cfg.global_config.scrape_interval == 20
    assert sc.sample_limit == 50  # "${LIMIT}" alone is re-read as YAML: an int
    assert sc.kubernetes_sd_configs[0].selectors[0].field == "spec.nodeName=node-7"
    assert sc.relabel_configs[0].replacement == "$1:${2}"
    assert sc.relabel_configs[1].replacement == "$HOME-dflt"  # bare $VAR is left alone
    assert cfg.raw["scrape_configs"][0]["relabel_configs"][0]["replacement"] == "$1:${2}"
    assert cfg.warnings == ()
    cfg = load_text(
        """
        receivers:
          prometheus:
            config:
              scrape_configs:
                - job_name: pods
                  kubernetes_sd_configs:
                    - role: pod
                      selectors: [{role: pod, field: "spec.nodeName=${env:NODE_NAME}"}]
        """
    )
    assert cfg.warnings == (
        "t.yml:9: receivers.prometheus.config.scrape_configs[0].kubernetes_sd_configs[0].selectors[0].field: "
        'environment variable NODE_NAME is not set (expanded to "")',
    )


def test_collector_form_paths_and_receiver_names() -> None:
    errs = errors_of(
        """
        receivers:
          prometheus/k8s:
            config:
              scrape_configs:
                - job_name: a
                  scrape_interval: 1.5s
        exporters:
          otlp: {endpoint: x:4317}
        """
    )
    assert errs == [
        't.yml:7: receivers.prometheus/k8s.config.scrape_configs[0] (job "a"): scrape_interval: not a valid duration string: "1.5s"'
    ]
    errs = errors_of("receivers:\n  prometheus: {config: {}}\n  prometheus/b: {config: {}}\n")
    assert "several prometheus receivers (prometheus, prometheus/b)" in errs[0]
    cfg = load_text(
        """
        receivers:
          prometheus/old:
            config: {scrape_configs: [{job_name: old}]}
          prometheus/new:
            config: {scrape_configs: [{job_name: new}]}
        service:
          pipelines:
            metrics: {receivers: [prometheus/new], exporters: [otlp]}
        """
    )
    assert [sc.job_name for sc in cfg.scrape_configs] == ["new"]
    assert "using prometheus/new, the prometheus receiver in service.pipelines" in cfg.warnings[0]
    errs = errors_of("receivers:\n  prometheus:\n    target_allocator: {endpoint: x}\n")
    assert "target_allocator is not supported by scrape-agent" in errs[0]


def test_agent_section_at_top_of_collector_file() -> None:
    cfg = load_text(
        """
        receivers:
          prometheus:
            config:
              scrape_configs: [{job_name: a}]
        exporters:
          otlp:
            headers: {key: "${file:/run/secret}"}
        scrape_agent:
          cluster_name: ${env:CLUSTER}
        """,
        env={"CLUSTER": "prod"},
    )
    assert cfg.agent.cluster_name == "prod"
    assert cfg.warnings == (
        "t.yml:6: exporters: the collector's exporters are ignored: scrape-agent sends to "
        "scrape_agent.otlp.endpoint (else OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT, else http://localhost:4318)",
    )
    errs = errors_of("receivers:\n  prometheus:\n    config:\n      scrape_configs: []\n")
    assert errs == ["t.yml:3: receivers.prometheus.config: no Prometheus scrape_configs set"]


# -- agent section and OTEL_* fallbacks ---------------------------------------------------------


def test_agent_defaults() -> None:
    a = load_text("").agent
    assert a.otlp.endpoint == "http://localhost:4318" and a.otlp.signal_path == "/v1/metrics"
    assert (
        a.otlp.protocol == "http/protobuf" and a.otlp.compression == "gzip" and a.otlp.timeout == 10
    )
    assert a.start_time == "true_reset_point" and not a.node_local.enabled


def test_agent_env_fallbacks_and_precedence() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:4318/custom/v1/metrics",
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=x%20y",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "api-key=s%3Dcret",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_RESOURCE_ATTRIBUTES": "team=obs,env=dev",
        "NODE_NAME": "node-3",
    }
    a = load_text("", env=env).agent
    assert a.otlp.endpoint == "http://metrics:4318/custom/v1/metrics" and a.otlp.signal_path == ""
    assert a.otlp.headers == {"api-key": "s=cret"}  # the _METRICS_ variable wins
    assert a.otlp.timeout == 2.5 and a.otlp.compression == "none"
    assert a.otlp.tls.ca_file == "/ca.pem" and a.otlp.tls.insecure is True
    assert a.node_local.node_name == "node-3"
    assert a.resource_attributes == {"team": "obs", "env": "dev"}

    a = load_text(
        """
        scrape_agent:
          otlp:
            endpoint: https://signoz:4318
            headers: {k: v}
            timeout: 3s
            compression: gzip
          node_local: {enabled: true, node_name: mine}
          resource_attributes: {env: prod}
        """,
        env=env,
    ).agent
    # explicit configuration wins over the environment
    assert a.otlp.endpoint == "https://signoz:4318" and a.otlp.signal_path == "/v1/metrics"
    assert a.otlp.headers == {"k": "v"} and a.otlp.timeout == 3 and a.otlp.compression == "gzip"
    assert a.node_local.node_name == "mine"
    assert a.resource_attributes == {"team": "obs", "env": "prod"}

    generic = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318"}
    assert load_text("", env=generic).agent.otlp.endpoint == "http://generic:4318"


def test_agent_grpc_default_port_and_bad_env() -> None:
    a = load_text("scrape_agent: {otlp: {protocol: grpc}}").agent
    assert a.otlp.endpoint == "http://localhost:4317" and a.otlp.signal_path == ""
    errs = errors_of(
        "", env={"OTEL_EXPORTER_OTLP_TIMEOUT": "soon", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
    )
    assert any(e.startswith("environment variable OTEL_EXPORTER_OTLP_TIMEOUT:") for e in errs)
    assert any(e.startswith("environment variable OTEL_EXPORTER_OTLP_PROTOCOL:") for e in errs)


def test_agent_queue_sizes() -> None:
    q = load_text(
        "scrape_agent: {queue: {max_bytes: 64MiB, batch_max_bytes: 1048576, retry_max: 1m}}"
    ).agent.queue
    assert (q.max_bytes, q.batch_max_bytes, q.retry_max) == (64 << 20, 1 << 20, 60)
    errs = errors_of("scrape_agent: {queue: {max_bytes: 1MiB, batch_max_bytes: 2MiB}}")
    assert errs == ["t.yml:1: scrape_agent.queue: batch_max_bytes must not exceed max_bytes"]


# -- files --------------------------------------------------------------------------------------


def test_scrape_config_files_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "one.yml").write_text(
        "scrape_configs:\n  - job_name: one\n    file_sd_configs:\n      - files: [sd/*.json]\n"
    )
    (tmp_path / "jobs" / "two.yml").write_text("scrape_configs:\n  - job_name: main\n")
    main = tmp_path / "prometheus.yml"
    main.write_text("scrape_config_files: ['jobs/one.yml']\nscrape_configs:\n  - job_name: main\n")
    cfg = load(str(main), env={})
    assert [sc.job_name for sc in cfg.scrape_configs] == ["main", "one"]
    assert cfg.scrape_configs[1].file_sd_configs[0].base_dir == str(tmp_path / "jobs")

    main.write_text("scrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - job_name: main\n")
    with pytest.raises(ConfigError) as info:
        load(str(main), env={})
    (err,) = info.value.errors
    assert err.startswith(
        f'{tmp_path / "jobs" / "two.yml"}:2: scrape_configs[0] (job "main"): found multiple'
    )


def test_relative_file_names_are_relative_to_the_config(tmp_path: Path) -> None:
    main = tmp_path / "prometheus.yml"
    main.write_text(
        "scrape_configs:\n"
        "  - job_name: a\n"
        "    bearer_token_file: secrets/token\n"
        "    tls_config: {ca_file: ca.pem, cert_file: /abs/c.pem, key_file: k.pem}\n"
        "    http_headers: {X-Key: {files: [h.txt]}}\n"
        "    kubernetes_sd_configs:\n"
        "      - role: pod\n"
        "        kubeconfig_file: kube/config\n"
    )
    sc = load(str(main), env={}).scrape_configs[0]
    http = sc.http_client
    assert http.authorization is not None
    assert http.authorization.credentials_file == str(tmp_path / "secrets" / "token")
    assert http.tls_config.ca_file == str(tmp_path / "ca.pem")
    assert http.tls_config.cert_file == "/abs/c.pem"
    assert http.tls_config.key_file == str(tmp_path / "k.pem")
    assert http.http_headers["X-Key"].files == (str(tmp_path / "h.txt"),)
    assert sc.kubernetes_sd_configs[0].kubeconfig_file == str(tmp_path / "kube" / "config")


def test_missing_file() -> None:
    with pytest.raises(ConfigError) as info:
        load("/nonexistent/prometheus.yml")
    assert info.value.errors[0].startswith("/nonexistent/prometheus.yml: cannot read config file")


# -- redaction ----------------------------------------------------------------------------------


def test_redacted_hides_every_secret() -> None:
    cfg = load_text(
        """
        scrape_configs:
          - job_name: a
            basic_auth: {username: u, password: pw1}
            proxy_url: http://user:pw2@proxy:3128
            tls_config: {cert: c, key: pw3}
            http_headers:
              X-Key: {values: [visible], secrets: [pw4]}
          - job_name: b
            bearer_token: pw5
          - job_name: c
            authorization: {credentials: pw6}
        scrape_agent:
          otlp:
            headers: {signoz-ingestion-key: pw7}
        """
    )
    text = repr(redacted(cfg))
    for secret in ("pw1", "pw2", "pw3", "pw4", "pw5", "pw6", "pw7"):
        assert secret not in text
    assert text.count("<secret>") == 7
    assert "visible" in text and "'username': 'u'" in text
    assert "pw1" in repr(cfg.raw)  # raw itself is untouched


# -- the users' examples (only when ../shared is there) -------------------------------------------


@pytest.mark.parametrize("name", ["signoz-ksm-cadvisor.yaml", "collector-receiver.yaml"])
def test_shared_examples_load_as_they_are(name: str) -> None:
    path = SHARED_EXAMPLES / name
    if not path.exists():
        pytest.skip("../shared/examples is not available")
    cfg = load(str(path), env={})
    assert cfg.scrape_configs
    assert not os.path.isabs(name)
