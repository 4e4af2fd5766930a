"""``load`` / ``loads``: the user's scrape YAML -> ``Config``, strictly, with every error.

Two forms are accepted:

- plain Prometheus YAML (``global``, ``scrape_configs``, ``scrape_config_files`` ...). No environment
  expansion, as in Prometheus — except in ``global.external_labels`` values, where Prometheus
  expands ``$VAR``/``${VAR}`` itself (``config.Load``), and so do we.
- the OpenTelemetry Collector form: ``receivers: prometheus[/name]: config: {...}`` (a whole
  collector file is fine: ``exporters``, ``service`` ... are ignored). Strings go through the
  collector's expansion first: ``$$`` is ``$``, ``${env:VAR}``/``${VAR}`` (and ``:-default``) come
  from the environment, a bare ``$VAR`` is left alone.

Prometheus sections an agent has no use for: ``remote_write``, ``storage``, ``tracing``,
``runtime``, ``otlp`` are accepted and ignored with a warning; ``rule_files``, ``alerting``,
``remote_read`` are errors when non-empty (Prometheus' agent mode refuses them too).

Native-histogram and other Prometheus 3 options scrape-agent does not implement
(``scrape_native_histograms``, ``convert_classic_histograms_to_nhcb``, ``native_histogram_*``,
``extra_scrape_metrics``, ``scrape_failure_log_file``, ``PrometheusProto`` in ``scrape_protocols``)
are accepted and ignored, with a warning when they would change anything.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from typing import Any

import relabel
from agent.config._agent import decode_agent
from agent.config._decode import (
    Ctx,
    as_map,
    as_seq,
    check_keys,
    each_map,
    get_bool,
    get_duration,
    get_float,
    get_size,
    get_str,
    get_str_list,
    get_uint,
    idx,
    is_null,
    join,
    kind,
)
from agent.config._http import (
    HTTP_CLIENT_KEYS,
    UNSUPPORTED_SD,
    decode_file_sd,
    decode_http_client,
    decode_k8s_sd,
    decode_static,
    resolve_paths,
)
from agent.config._types import (
    DEFAULT_SCRAPE_PROTOCOLS,
    AgentSection,
    Config,
    GlobalConfig,
    ScrapeConfig,
)
from agent.config._units import os_expand, valid_label_name
from agent.config._yaml import YAMLLoadError, YMap, YNode, YScalar, YSeq, parse_yaml, to_plain


class ConfigError(ValueError):
    """The configuration is invalid; ``errors`` lists every problem ("file:line: path: msg")."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors) if self.errors else "invalid configuration")


SCRAPE_PROTOCOLS = (
    "PrometheusProto",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
)
VALIDATION_SCHEMES = ("utf8", "legacy")
ESCAPING_SCHEMES = ("allow-utf-8", "underscores", "dots", "values")

GLOBAL_KEYS = (
    "scrape_interval",
    "scrape_timeout",
    "scrape_protocols",
    "evaluation_interval",
    "rule_query_offset",
    "query_log_file",
    "scrape_failure_log_file",
    "external_labels",
    "body_size_limit",
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "keep_dropped_targets",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "scrape_native_histograms",
    "convert_classic_histograms_to_nhcb",
    "always_scrape_classic_histograms",
    "extra_scrape_metrics",
)

SCRAPE_KEYS = (
    "job_name",
    "honor_labels",
    "honor_timestamps",
    "track_timestamps_staleness",
    "params",
    "scrape_interval",
    "scrape_timeout",
    "scrape_protocols",
    "fallback_scrape_protocol",
    "scrape_native_histograms",
    "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "scrape_failure_log_file",
    "metrics_path",
    "scheme",
    "enable_compression",
    "body_size_limit",
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor",
    "keep_dropped_targets",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "extra_scrape_metrics",
    "relabel_configs",
    "metric_relabel_configs",
    "static_configs",
    "file_sd_configs",
    "kubernetes_sd_configs",
) + HTTP_CLIENT_KEYS

_SD_SUPPORTED = "static_configs, file_sd_configs and kubernetes_sd_configs are"
UNSUPPORTED_SCRAPE = {
    k: f"{k} is not supported by scrape-agent ({_SD_SUPPORTED})" for k in UNSUPPORTED_SD
}

RELABEL_KEYS = (
    "source_labels",
    "separator",
    "regex",
    "modulus",
    "target_label",
    "replacement",
    "action",
)

TOP_KEYS = ("global", "scrape_configs", "scrape_config_files", "scrape_agent")
IGNORED_SECTIONS = {
    "remote_write": "ignored: scrape-agent sends OTLP (see scrape_agent.otlp), not remote write",
    "storage": "ignored: scrape-agent has no local storage",
    "tracing": "ignored: scrape-agent does not export its own traces",
    "runtime": "ignored: Go runtime settings do not apply to scrape-agent",
    "otlp": "ignored: this is Prometheus' OTLP *receiver* section; scrape-agent's export settings live in scrape_agent.otlp",
}
AGENT_MODE_REJECTED = ("rule_files", "alerting", "remote_read")
COLLECTOR_REJECTED = ("rule_files", "alerting", "remote_read", "remote_write")
COLLECTOR_TOP_IGNORED = ("exporters", "processors", "extensions", "service", "connectors")
RECEIVER_IGNORED = {
    "trim_metric_suffixes": "ignored by scrape-agent (metric names are translated as the receiver does by default)",
    "use_start_time_metric": "ignored: use scrape_agent.start_time",
    "start_time_metric_regex": "ignored: use scrape_agent.start_time",
    "report_extra_scrape_metrics": "ignored by scrape-agent",
    "api_server": "ignored: scrape-agent serves /api/v1/targets on its own port",
    "enable_protobuf_negotiation": "ignored: scrape-agent scrapes text formats",
}

_RULE_PATH = re.compile(r"^[^*]*(\*[^/]*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------------------------
# entry points


def load(path: str, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config file at ``path`` (either form); raises ``ConfigError``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: config file is not valid UTF-8: {exc}"]) from None
    return loads(text, source=path, env=env, base_dir=os.path.dirname(os.path.abspath(path)))


def loads(
    text: str,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
    base_dir: str | None = None,
) -> Config:
    """Load and validate config text. ``env`` replaces ``os.environ`` (for tests).

    ``base_dir`` resolves relative ``scrape_config_files`` / ``file_sd_configs`` paths; it defaults
    to the current directory.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    ctx = Ctx(source)
    loader = _Loader(ctx, environ, base_dir if base_dir is not None else os.getcwd())
    cfg = loader.run(text)
    if ctx.errors:
        raise ConfigError(_in_file_order(ctx.errors))
    assert cfg is not None
    return cfg


# ---------------------------------------------------------------------------------------------


_LOC = re.compile(r"^(.*?):(\d+): ")


def _in_file_order(errors: list[str]) -> list[str]:
    """Errors sorted by file (in order of first appearance) then line; stable otherwise."""
    files: dict[str, int] = {}
    keyed = []
    for i, e in enumerate(errors):
        m = _LOC.match(e)
        f, line = (m.group(1), int(m.group(2))) if m else ("\uffff", 0)
        files.setdefault(f, len(files))
        keyed.append((files[f], line, i, e))
    return [e for *_k, e in sorted(keyed)]


class _Loader:
    def __init__(self, ctx: Ctx, env: Mapping[str, str], base_dir: str) -> None:
        self.ctx = ctx
        self.env = env
        self.base_dir = base_dir
        self.collector = False

    def run(self, text: str) -> Config | None:
        ctx = self.ctx
        more: list[int] = []
        try:
            root = parse_yaml(text, more)
        except YAMLLoadError as exc:
            ctx.error(exc.line, "", exc.message)
            return None
        if more:
            ctx.warn(
                more[0],
                "",
                "a second YAML document is ignored (only the first counts, as in Prometheus)",
            )
        if root is None:
            root = YMap(line=1)
        if not isinstance(root, YMap):
            ctx.error(root.line, "", f"the config must be a mapping, got {kind(root)}")
            return None

        agent_node: YNode | None = None
        agent_path = "scrape_agent"
        prefix = ""
        collector = "receivers" in root.items
        self.collector = collector
        if collector:
            prom, prefix = self._collector_root(root)
            # The collector expands every string; only what we read matters (an exporter's
            # ${file:...} must not fail here).
            if prom is not None:
                _expand_collector(ctx, prom, self.env, prefix.rstrip("."))
            if root.get("scrape_agent") is not None:
                _expand_collector(ctx, root.items["scrape_agent"][1], self.env, "scrape_agent")
            top_agent = root.get("scrape_agent")
            inner_agent = prom.get("scrape_agent") if prom is not None else None
            if not is_null(top_agent) and not is_null(inner_agent):
                ctx.error(
                    root.key_line("scrape_agent"),
                    "scrape_agent",
                    f"scrape_agent is set both at the top of the file and in {prefix}scrape_agent; keep one",
                )
            if not is_null(top_agent):
                agent_node = top_agent
            else:
                agent_node, agent_path = inner_agent, prefix + "scrape_agent"
            if prom is None:
                return None
        else:
            prom = root
            agent_node = root.get("scrape_agent")

        if collector and not is_null(root.get("exporters")):
            otlp_node = agent_node.get("otlp") if isinstance(agent_node, YMap) else None
            endpoint_set = isinstance(otlp_node, YMap) and not is_null(otlp_node.get("endpoint"))
            if not endpoint_set:
                ctx.warn(
                    root.key_line("exporters"),
                    "exporters",
                    "the collector's exporters are ignored: scrape-agent sends to "
                    "scrape_agent.otlp.endpoint (else OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT, "
                    "else http://localhost:4318)",
                )
        gcfg, gextra = self._global(prom, prefix, collector)
        scrape_configs = self._scrape_configs(prom, prefix, gcfg, gextra)
        agent = decode_agent(ctx, as_map(ctx, agent_node, agent_path), agent_path, self.env)
        raw = to_plain(prom) or {}
        if not isinstance(raw, dict):  # pragma: no cover - prom is a YMap
            raw = {}
        raw["scrape_agent"] = to_plain(agent_node) if not is_null(agent_node) else {}
        if ctx.errors:
            return None
        return Config(
            global_config=gcfg,
            scrape_configs=scrape_configs,
            agent=agent if isinstance(agent, AgentSection) else AgentSection(),
            source_path=ctx.source,
            raw=raw,
            warnings=tuple(ctx.warnings),
        )

    # -- forms ---------------------------------------------------------------------------------

    def _collector_root(self, root: YMap) -> tuple[YMap | None, str]:
        ctx = self.ctx
        check_keys(ctx, root, "", ("receivers", "scrape_agent") + COLLECTOR_TOP_IGNORED)
        recv = as_map(ctx, root.get("receivers"), "receivers")
        if recv is None:
            ctx.error(root.key_line("receivers"), "receivers", "no prometheus receiver found")
            return None, ""
        names = [k for k in recv.items if k == "prometheus" or k.startswith("prometheus/")]
        if not names:
            ctx.error(
                recv.line,
                "receivers",
                "no prometheus receiver found (expected receivers: prometheus: config: ...)",
            )
            return None, ""
        if len(names) > 1:
            used = [n for n in names if n in _pipeline_receivers(root)]
            if len(used) == 1:
                ctx.warn(
                    recv.line,
                    "receivers",
                    f"using {used[0]}, the prometheus receiver in service.pipelines; "
                    f"ignoring {', '.join(n for n in names if n != used[0])}",
                )
                names = used
        if len(names) > 1:
            ctx.error(
                recv.line,
                "receivers",
                f"several prometheus receivers ({', '.join(names)}): scrape-agent runs one config; "
                "merge their scrape_configs into one receiver",
            )
            return None, ""
        name = names[0]
        rpath = f"receivers.{name}"
        rm = as_map(ctx, recv.get(name), rpath)
        if rm is None:
            ctx.error(recv.key_line(name), rpath, "the receiver has no config")
            return None, ""
        check_keys(
            ctx,
            rm,
            rpath,
            ("config",) + tuple(RECEIVER_IGNORED),
            {
                "target_allocator": "target_allocator is not supported by scrape-agent (it discovers targets itself; use scrape_agent.node_local for a DaemonSet)",
                "config_file": "config_file is not supported: put the Prometheus config under config:",
            },
        )
        for k, why in RECEIVER_IGNORED.items():
            if k in rm.items and not is_null(rm.get(k)):
                ctx.warn(rm.key_line(k), join(rpath, k), why)
        cpath = join(rpath, "config")
        prom = as_map(ctx, rm.get("config"), cpath)
        if prom is None:
            prom = YMap(line=rm.line)
        if _empty(prom.get("scrape_configs")) and _empty(prom.get("scrape_config_files")):
            # as the receiver's Validate: "no Prometheus scrape_configs or target_allocator set"
            ctx.error(rm.key_line("config"), cpath, "no Prometheus scrape_configs set")
        return prom, cpath + "."

    def _global(
        self, prom: YMap, prefix: str, collector: bool
    ) -> tuple[GlobalConfig, dict[str, Any]]:
        ctx = self.ctx
        rejected = COLLECTOR_REJECTED if collector else AGENT_MODE_REJECTED
        unsupported: dict[str, str] = {}
        for k in rejected:
            node = prom.get(k)
            if k in prom.items and not _empty(node):
                why = (
                    "is not supported by the collector's prometheus receiver either"
                    if collector
                    else "is not allowed in agent mode (scrape-agent only scrapes and exports)"
                )
                unsupported[k] = f"{k} {why}"
        known = [k for k in TOP_KEYS] + [k for k in rejected if k not in unsupported]
        if not collector:
            known += list(IGNORED_SECTIONS)
        check_keys(ctx, prom, prefix.rstrip("."), known, unsupported)
        if not collector:
            for k, why in IGNORED_SECTIONS.items():
                if k in prom.items and not _empty(prom.get(k)):
                    ctx.warn(prom.key_line(k), prefix + k, why)

        path = prefix + "global"
        g = as_map(ctx, prom.get("global"), path)
        extra: dict[str, Any] = {}
        if g is not None:
            check_keys(ctx, g, path, GLOBAL_KEYS)
        scheme = get_str(ctx, g, "metric_name_validation_scheme", path) or "utf8"
        if scheme not in VALIDATION_SCHEMES:
            ctx.error(
                g.key_line("metric_name_validation_scheme") if g else 0,
                join(path, "metric_name_validation_scheme"),
                f'unknown name validation scheme "{scheme}", must be either "utf8" or "legacy"',
            )
            scheme = "utf8"
        interval = get_duration(ctx, g, "scrape_interval", path) or 60.0
        timeout = get_duration(ctx, g, "scrape_timeout", path) or 0.0
        if timeout > interval:
            ctx.error(
                g.key_line("scrape_timeout") if g else 0,
                path,
                "global scrape timeout greater than scrape interval",
            )
        if timeout == 0:
            timeout = min(10.0, interval)
        protocols = self._protocols(g, path, "for global config")
        escaping = get_str(ctx, g, "metric_name_escaping_scheme", path)
        if escaping and escaping not in ESCAPING_SCHEMES:
            ctx.error(
                g.key_line("metric_name_escaping_scheme") if g else 0,
                join(path, "metric_name_escaping_scheme"),
                f'unknown global name escaping method specified, must be one of {", ".join(ESCAPING_SCHEMES)}, got "{escaping}"',
            )
        extra["escaping"] = escaping or ("underscores" if scheme == "legacy" else "allow-utf-8")
        extra["protocols_set"] = g is not None and not is_null(g.get("scrape_protocols"))
        for key in (
            "scrape_native_histograms",
            "convert_classic_histograms_to_nhcb",
            "extra_scrape_metrics",
        ):
            extra[key] = get_bool(ctx, g, key, path, False)
        get_bool(ctx, g, "always_scrape_classic_histograms", path, False)
        for key in ("evaluation_interval", "rule_query_offset"):
            get_duration(ctx, g, key, path)
        get_str(ctx, g, "query_log_file", path)
        extra["scrape_failure_log_file"] = get_str(ctx, g, "scrape_failure_log_file", path)
        self._feature_warnings(g, path, extra)

        labels: dict[str, str] = {}
        lp = join(path, "external_labels")
        lm = as_map(ctx, g.get("external_labels") if g else None, lp)
        if lm is not None:
            for name, (kline, v) in lm.items.items():
                if not valid_label_name(name, scheme):
                    ctx.error(kline, join(lp, name), f'"{name}" is not a valid label name')
                    continue
                if not isinstance(v, YScalar):
                    ctx.error(v.line, join(lp, name), f"expected a string, got {kind(v)}")
                    continue
                value = "" if v.tag == "null" else v.text
                if not collector:
                    missing: list[str] = []
                    value = os_expand(value, dict(self.env), missing)
                    for var in missing:
                        ctx.warn(kline, join(lp, name), f"environment variable {var} is empty")
                labels[name] = value
        gcfg = GlobalConfig(
            scrape_interval=interval,
            scrape_timeout=timeout,
            scrape_protocols=protocols or DEFAULT_SCRAPE_PROTOCOLS,
            external_labels=labels,
            body_size_limit=get_size(ctx, g, "body_size_limit", path),
            sample_limit=get_uint(ctx, g, "sample_limit", path),
            label_limit=get_uint(ctx, g, "label_limit", path),
            label_name_length_limit=get_uint(ctx, g, "label_name_length_limit", path),
            label_value_length_limit=get_uint(ctx, g, "label_value_length_limit", path),
            target_limit=get_uint(ctx, g, "target_limit", path),
            keep_dropped_targets=get_uint(ctx, g, "keep_dropped_targets", path),
            metric_name_validation_scheme=scheme,
        )
        return gcfg, extra

    def _feature_warnings(self, m: YMap | None, path: str, values: Mapping[str, Any]) -> None:
        if m is None:
            return
        notes = {
            "scrape_native_histograms": "native histograms are not scraped by scrape-agent (it scrapes text formats); classic histograms are kept",
            "convert_classic_histograms_to_nhcb": "ignored: classic histograms are exported as OTLP explicit-bucket histograms",
            "extra_scrape_metrics": "ignored: scrape-agent does not emit the extra scrape_* series",
        }
        for key, why in notes.items():
            if values.get(key):
                self.ctx.warn(m.key_line(key), join(path, key), why)
        if values.get("scrape_failure_log_file"):
            self.ctx.warn(
                m.key_line("scrape_failure_log_file"),
                join(path, "scrape_failure_log_file"),
                "ignored: scrape failures are shown on /targets and logged",
            )

    def _protocols(self, m: YMap | None, path: str, what: str) -> tuple[str, ...] | None:
        ctx = self.ctx
        if m is None or is_null(m.get("scrape_protocols")):
            return None
        p = join(path, "scrape_protocols")
        values = get_str_list(ctx, m, "scrape_protocols", path)
        if values is None:
            return None
        line = m.key_line("scrape_protocols")
        if not values:
            ctx.error(line, p, f"scrape_protocols cannot be empty {what}")
            return None
        seen: set[str] = set()
        out = []
        for v in values:
            if v.lower() in seen:
                ctx.error(
                    line,
                    p,
                    f"duplicated protocol in scrape_protocols, got [{' '.join(values)}] {what}",
                )
                return None
            seen.add(v.lower())
            if v not in SCRAPE_PROTOCOLS:
                ctx.error(
                    line,
                    p,
                    f"unknown scrape protocol {v}, supported: [{' '.join(sorted(SCRAPE_PROTOCOLS))}] {what}",
                )
                return None
            if v == "PrometheusProto":
                ctx.warn(
                    line,
                    p,
                    "PrometheusProto is not supported by scrape-agent and is left out of the Accept header",
                )
                continue
            out.append(v)
        if not out:
            ctx.error(
                line,
                p,
                "scrape_protocols has no protocol scrape-agent supports (only PrometheusProto)",
            )
            return None
        return tuple(out)

    # -- scrape configs ------------------------------------------------------------------------

    def _scrape_configs(
        self, prom: YMap, prefix: str, g: GlobalConfig, gextra: dict[str, Any]
    ) -> tuple[ScrapeConfig, ...]:
        ctx = self.ctx
        out: list[ScrapeConfig] = []
        jobs: dict[str, str] = {}
        path = prefix + "scrape_configs"
        items = as_seq(ctx, prom.get("scrape_configs"), path) or []
        for i, item in enumerate(items):
            sc = self._one_scrape_config(ctx, item, idx(path, i), g, gextra, self.base_dir)
            self._unique(ctx, jobs, item, "main config file", idx(path, i))
            if sc is not None:
                out.append(sc)

        files = get_str_list(ctx, prom, "scrape_config_files", prefix.rstrip(".")) or ()
        fpath = prefix + "scrape_config_files"
        fnodes = prom.get("scrape_config_files")
        flines = [n.line for n in fnodes.items] if isinstance(fnodes, YSeq) else []
        for i, pattern in enumerate(files):
            if not _RULE_PATH.match(pattern):
                ctx.error(
                    flines[i] if i < len(flines) else prom.key_line("scrape_config_files"),
                    idx(fpath, i),
                    f'invalid scrape config file path "{pattern}"',
                )
                continue
            full = pattern if os.path.isabs(pattern) else os.path.join(self.base_dir, pattern)
            for filename in sorted(glob.glob(full)):
                out.extend(self._scrape_file(filename, g, gextra, jobs))
        return tuple(out)

    def _unique(self, ctx: Ctx, jobs: dict[str, str], item: YNode, where: str, ipath: str) -> None:
        if not isinstance(item, YMap):
            return
        node = item.get("job_name")
        if not isinstance(node, YScalar) or node.tag == "null" or not node.text:
            return
        job = node.text
        if job in jobs:
            first = jobs[job]
            extra = (
                ""
                if first == "main config file" and where == first
                else f", first found in {first}"
            )
            ctx.error(
                item.key_line("job_name"),
                f'{ipath} (job "{job}")',
                f'found multiple scrape configs with job name "{job}"{extra}',
            )
        else:
            jobs[job] = where

    def _scrape_file(
        self, filename: str, g: GlobalConfig, gextra: dict[str, Any], jobs: dict[str, str]
    ) -> list[ScrapeConfig]:
        fctx = Ctx(filename)
        fctx.errors = self.ctx.errors
        fctx.warnings = self.ctx.warnings
        try:
            with open(filename, encoding="utf-8") as f:
                text = f.read()
            root = parse_yaml(text)
        except OSError as exc:
            fctx.error(0, "", f"cannot read scrape config file: {exc.strerror or exc}")
            return []
        except UnicodeDecodeError:
            fctx.error(0, "", "scrape config file is not valid UTF-8")
            return []
        except YAMLLoadError as exc:
            fctx.error(exc.line, "", exc.message)
            return []
        if root is None:
            return []
        m = as_map(fctx, root, "")
        if m is None:
            return []
        check_keys(fctx, m, "", ("scrape_configs",))
        out: list[ScrapeConfig] = []
        items = as_seq(fctx, m.get("scrape_configs"), "scrape_configs") or []
        base = os.path.dirname(os.path.abspath(filename))
        for i, item in enumerate(items):
            sc = self._one_scrape_config(fctx, item, idx("scrape_configs", i), g, gextra, base)
            self._unique(fctx, jobs, item, f'"{filename}"', idx("scrape_configs", i))
            if sc is not None:
                out.append(sc)
        return out

    def _one_scrape_config(
        self,
        ctx: Ctx,
        item: YNode,
        ipath: str,
        g: GlobalConfig,
        gextra: dict[str, Any],
        base_dir: str,
    ) -> ScrapeConfig | None:
        m = as_map(ctx, item, ipath)
        if m is None:
            if is_null(item):
                ctx.error(item.line, ipath, "empty or null scrape config section")
            return None
        job = get_str(ctx, m, "job_name", ipath)
        if not job:
            ctx.error(m.line, ipath, "job_name is empty")
            path = ipath + ": "
        else:
            path = f'{ipath} (job "{job}"): '
        nerr = len(ctx.errors)
        check_keys(ctx, m, path, SCRAPE_KEYS, UNSUPPORTED_SCRAPE)

        interval = get_duration(ctx, m, "scrape_interval", path) or g.scrape_interval
        timeout = get_duration(ctx, m, "scrape_timeout", path) or 0.0
        if timeout > interval:
            ctx.error(
                m.key_line("scrape_timeout"),
                join(path, "scrape_timeout"),
                f'scrape timeout greater than scrape interval for scrape config with job name "{job}"',
            )
        if timeout == 0:
            timeout = min(g.scrape_timeout, interval)

        native = get_bool(
            ctx, m, "scrape_native_histograms", path, gextra["scrape_native_histograms"]
        )
        protocols = self._protocols(m, path, f'for scrape config with job name "{job}"')
        if protocols is None:
            protocols = g.scrape_protocols
        fallback = get_str(ctx, m, "fallback_scrape_protocol", path)
        if fallback and fallback not in SCRAPE_PROTOCOLS:
            ctx.error(
                m.key_line("fallback_scrape_protocol"),
                join(path, "fallback_scrape_protocol"),
                f'invalid fallback_scrape_protocol for scrape config with job name "{job}": unknown scrape protocol {fallback}, supported: [{" ".join(sorted(SCRAPE_PROTOCOLS))}]',
            )
        elif fallback == "PrometheusProto":
            ctx.error(
                m.key_line("fallback_scrape_protocol"),
                join(path, "fallback_scrape_protocol"),
                "PrometheusProto is not supported by scrape-agent",
            )

        scheme_v = get_str(ctx, m, "metric_name_validation_scheme", path)
        if scheme_v and scheme_v not in VALIDATION_SCHEMES:
            ctx.error(
                m.key_line("metric_name_validation_scheme"),
                join(path, "metric_name_validation_scheme"),
                f"unknown scrape config name validation method specified, must be either '', 'legacy' or 'utf8', got {scheme_v}",
            )
            scheme_v = ""
        vscheme = scheme_v or g.metric_name_validation_scheme
        escaping = get_str(ctx, m, "metric_name_escaping_scheme", path)
        if not escaping:
            if not scheme_v:
                escaping = gextra["escaping"]
            else:
                escaping = "underscores" if vscheme == "legacy" else "allow-utf-8"
        if escaping not in ESCAPING_SCHEMES:
            ctx.error(
                m.key_line("metric_name_escaping_scheme"),
                join(path, "metric_name_escaping_scheme"),
                f'unknown scrape config name escaping method specified, must be one of {", ".join(ESCAPING_SCHEMES)}, got "{escaping}"',
            )
        elif escaping == "allow-utf-8" and vscheme != "utf8":
            ctx.error(
                m.line, path, "utf8 metric names requested but validation scheme is not set to UTF8"
            )

        scheme = get_str(ctx, m, "scheme", path) or "http"
        if scheme not in ("http", "https"):
            ctx.error(
                m.key_line("scheme"),
                join(path, "scheme"),
                f'invalid scheme "{scheme}" (http or https)',
            )
        metrics_path = get_str(ctx, m, "metrics_path", path) or "/metrics"

        params: dict[str, tuple[str, ...]] = {}
        pm = as_map(ctx, m.get("params"), join(path, "params"))
        if pm is not None:
            for k in pm.items:
                params[k] = get_str_list(ctx, pm, k, join(path, "params")) or ()

        feats = {
            "scrape_native_histograms": native and not gextra["scrape_native_histograms"],
            "convert_classic_histograms_to_nhcb": get_bool(
                ctx, m, "convert_classic_histograms_to_nhcb", path, False
            ),
            "extra_scrape_metrics": get_bool(ctx, m, "extra_scrape_metrics", path, False),
            "scrape_failure_log_file": get_str(ctx, m, "scrape_failure_log_file", path),
        }
        self._feature_warnings(m, path, feats)
        get_bool(ctx, m, "always_scrape_classic_histograms", path, False)
        get_uint(ctx, m, "native_histogram_bucket_limit", path)
        get_float(ctx, m, "native_histogram_min_bucket_factor", path)

        http = resolve_paths(decode_http_client(ctx, m, path), base_dir)
        relabels = self._relabel(ctx, m, "relabel_configs", path, vscheme, "target")
        metric_relabels = self._relabel(ctx, m, "metric_relabel_configs", path, vscheme, "metric")

        static = each_map(
            ctx, m, "static_configs", path, lambda sm, sp: decode_static(ctx, sm, sp, "utf8")
        )
        rc_node = m.get("relabel_configs")
        if not isinstance(rc_node, YSeq) or not rc_node.items:
            for si, st in enumerate(static):
                for t in st.targets:
                    if "/" in t:
                        ctx.error(
                            m.key_line("static_configs"),
                            join(path, f"static_configs[{si}].targets"),
                            f'"{t}" is not a valid hostname (write host:port; set scheme and metrics_path separately)',
                        )
        file_sd = each_map(
            ctx, m, "file_sd_configs", path, lambda fm, fp: decode_file_sd(ctx, fm, fp, base_dir)
        )
        k8s = each_map(
            ctx,
            m,
            "kubernetes_sd_configs",
            path,
            lambda km, kp: decode_k8s_sd(ctx, km, kp, base_dir),
        )

        d = ScrapeConfig(job_name=job)
        sc = ScrapeConfig(
            job_name=job,
            scrape_interval=interval,
            scrape_timeout=timeout,
            honor_labels=get_bool(ctx, m, "honor_labels", path, d.honor_labels),
            honor_timestamps=get_bool(ctx, m, "honor_timestamps", path, d.honor_timestamps),
            track_timestamps_staleness=get_bool(ctx, m, "track_timestamps_staleness", path, False),
            scrape_protocols=protocols,
            fallback_scrape_protocol=fallback,
            metrics_path=metrics_path,
            scheme=scheme,
            params=params,
            enable_compression=get_bool(ctx, m, "enable_compression", path, True),
            body_size_limit=get_size(ctx, m, "body_size_limit", path) or g.body_size_limit,
            sample_limit=get_uint(ctx, m, "sample_limit", path) or g.sample_limit,
            label_limit=get_uint(ctx, m, "label_limit", path) or g.label_limit,
            label_name_length_limit=get_uint(ctx, m, "label_name_length_limit", path)
            or g.label_name_length_limit,
            label_value_length_limit=get_uint(ctx, m, "label_value_length_limit", path)
            or g.label_value_length_limit,
            target_limit=get_uint(ctx, m, "target_limit", path) or g.target_limit,
            keep_dropped_targets=get_uint(ctx, m, "keep_dropped_targets", path)
            or g.keep_dropped_targets,
            metric_name_validation_scheme=vscheme,
            relabel_configs=relabels,
            metric_relabel_configs=metric_relabels,
            static_configs=static,
            file_sd_configs=file_sd,
            kubernetes_sd_configs=k8s,
            http_client=http,
        )
        if len(ctx.errors) > nerr or not job:
            return None
        return sc

    def _relabel(
        self, ctx: Ctx, m: YMap, key: str, path: str, scheme: str, kind_: str
    ) -> tuple[Any, ...]:
        p = join(path, key)
        items = as_seq(ctx, m.get(key), p)
        if not items:
            return ()
        rules: list[Any] = []
        for i, item in enumerate(items):
            ip = idx(p, i)
            rm = as_map(ctx, item, ip)
            if rm is None:
                if is_null(item):
                    ctx.error(
                        item.line, ip, f"empty or null {kind_} relabeling rule in scrape config"
                    )
                continue
            nerr = len(ctx.errors)
            check_keys(ctx, rm, ip, RELABEL_KEYS)
            rule: dict[str, Any] = {}
            for k in ("separator", "regex", "target_label", "replacement", "action"):
                node = rm.get(k)
                if node is not None and not is_null(node):
                    rule[k] = get_str(ctx, rm, k, ip)
                elif node is not None:
                    # An explicit null is Go's zero value (yaml.v2 does not call the field's
                    # unmarshaler for null): "" here, which relabel.parse treats as Prometheus does.
                    rule[k] = None
            if not self.collector:
                for k in ("replacement", "target_label"):
                    if "$$" in rule.get(k, ""):
                        ctx.warn(
                            rm.key_line(k),
                            join(ip, k),
                            "contains $$, which is a literal $ in plain Prometheus YAML; if this "
                            "block comes from a collector config, load the whole collector file "
                            "(receivers: prometheus: config:) or write $1",
                        )
            sl = get_str_list(ctx, rm, "source_labels", ip)
            if sl is not None:
                rule["source_labels"] = list(sl)
            if not is_null(rm.get("modulus")):
                rule["modulus"] = get_uint(ctx, rm, "modulus", ip)
            if len(ctx.errors) > nerr:
                continue
            try:
                parsed = _parse_rule(rule, scheme)
            except relabel.RelabelConfigError as exc:
                field = getattr(exc, "field", None) or ""
                line = rm.key_line(field) if field else rm.line
                msg = getattr(exc, "reason", None) or str(exc)
                ctx.error(line, join(ip, field) if field else ip, msg)
                continue
            rules.extend(parsed)
        return tuple(rules)


def _parse_rule(rule: dict[str, Any], scheme: str) -> list[Any]:
    return list(relabel.parse([rule], validation_scheme=scheme))


def _pipeline_receivers(root: YMap) -> set[str]:
    """Receiver names used by ``service.pipelines.*.receivers`` of a collector file."""
    out: set[str] = set()
    service = root.get("service")
    pipelines = service.get("pipelines") if isinstance(service, YMap) else None
    if isinstance(pipelines, YMap):
        for _name, (_line, p) in pipelines.items.items():
            recvs = p.get("receivers") if isinstance(p, YMap) else None
            if isinstance(recvs, YSeq):
                out.update(r.text for r in recvs.items if isinstance(r, YScalar))
    return out


def _empty(node: YNode | None) -> bool:
    if is_null(node):
        return True
    if isinstance(node, YSeq):
        return not node.items
    if isinstance(node, YMap):
        return not node.items
    return False


# ---------------------------------------------------------------------------------------------
# collector expansion (confmap): $$ -> $, ${env:VAR} / ${VAR} (:-default) from the environment


def _expand_collector(ctx: Ctx, node: YNode, env: Mapping[str, str], path: str) -> None:
    if isinstance(node, YMap):
        for k, (_kl, v) in node.items.items():
            _expand_collector(ctx, v, env, join(path, k))
    elif isinstance(node, YSeq):
        for i, v in enumerate(node.items):
            _expand_collector(ctx, v, env, idx(path, i))
    elif node.tag == "str" and "$" in node.text:
        missing: list[str] = []
        try:
            text, whole = expand_collector_string(node.text, env, missing)
        except ValueError as exc:
            ctx.error(node.line, path, str(exc))
            return
        for name in missing:
            ctx.warn(node.line, path, f'environment variable {name} is not set (expanded to "")')
        node.text = text
        node.value = text
        if whole:
            # "${env:X}" alone: the collector re-reads the value as YAML (so "15" is an int).
            try:
                retyped = parse_yaml(text)
            except YAMLLoadError:
                retyped = None
            if isinstance(retyped, YScalar):
                node.tag, node.value = retyped.tag, retyped.value


def expand_collector_string(
    s: str, env: Mapping[str, str], missing: list[str] | None = None
) -> tuple[str, bool]:
    """The collector's expansion of one string value; returns (result, whole-value reference)."""
    out: list[str] = []
    i = 0
    n = len(s)
    refs = 0
    while i < n:
        c = s[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if s.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if s.startswith("${", i):
            end = s.find("}", i + 2)
            if end == -1:
                out.append(c)
                i += 1
                continue
            ref = s[i + 2 : end]
            out.append(_resolve_ref(ref, env, missing))
            refs += 1
            i = end + 1
            continue
        out.append(c)
        i += 1
    whole = refs == 1 and s.startswith("${") and s.endswith("}") and s.find("}") == len(s) - 1
    return "".join(out), whole


def _resolve_ref(ref: str, env: Mapping[str, str], missing: list[str] | None) -> str:
    scheme, sep, rest = ref.partition(":")
    if sep and scheme != "env":
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", scheme):
            raise ValueError(
                f'config provider "{scheme}" in "${{{ref}}}" is not supported by scrape-agent (only env is)'
            )
        raise ValueError(f'invalid reference "${{{ref}}}" (write $$ for a literal $)')
    name = rest if sep else ref
    default: str | None = None
    if ":-" in name:
        name, default = name.split(":-", 1)
    if not _ENV_NAME.match(name):
        raise ValueError(
            f'environment variable "{name}" has invalid name: must match regex {_ENV_NAME.pattern} '
            f'(write $${{{ref}}} for a literal "${{{ref}}}")'
        )
    value = env.get(name)
    if value is None or (value == "" and default is not None):
        if default is None and missing is not None:
            missing.append(name)
        return default if default is not None else ""
    return value


# ---------------------------------------------------------------------------------------------
# redaction

SECRET = "<secret>"
_SECRET_KEYS = {"password", "credentials", "bearer_token", "key", "client_secret", "secret_key"}
_SECRET_LIST_KEYS = {"secrets"}
_SECRET_MAP_KEYS = {"headers", "proxy_connect_header"}
_URL_KEYS = {"proxy_url", "api_server", "endpoint", "url"}


def redacted(cfg_or_raw: Config | Mapping[str, Any]) -> dict[str, Any]:
    """The loaded YAML with every secret replaced by ``<secret>`` (for the config page and logs).

    Hidden: ``password``, ``credentials``, ``bearer_token``, TLS ``key``, ``client_secret``,
    ``http_headers.*.secrets``, every ``headers`` map value (OTLP and collector exporters),
    ``proxy_connect_header`` values and the password of URLs (``user:pass@``).
    """
    raw = cfg_or_raw.raw if isinstance(cfg_or_raw, Config) else cfg_or_raw
    out = _redact(dict(raw), "")
    assert isinstance(out, dict)
    return out


def _redact(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        if key in _SECRET_MAP_KEYS:
            return {str(k): _hide_all(v) for k, v in value.items()}
        return {str(k): _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        if key in _SECRET_LIST_KEYS:
            return [_hide_all(v) for v in value]
        return [_redact(v, key) for v in value]
    if key in _SECRET_KEYS and value not in (None, ""):
        return SECRET
    if key in _URL_KEYS and isinstance(value, str) and "@" in value:
        return _redact_url(value)
    return value


def _hide_all(v: Any) -> Any:
    if isinstance(v, list):
        return [_hide_all(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _hide_all(x) for k, x in v.items()}
    return SECRET if v not in (None, "") else v


def _redact_url(u: str) -> str:
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/@]*)@(.*)$", u)
    if not m:
        return u
    userinfo = m.group(2)
    if ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        return f"{m.group(1)}{user}:{SECRET}@{m.group(3)}"
    return u
