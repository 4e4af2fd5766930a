"""Prometheus' ``http_config`` (prometheus/common config/http_config.go) and the SD configs."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import replace
from urllib.parse import urlsplit

from agent.config._decode import (
    Ctx,
    as_map,
    as_seq,
    check_keys,
    each_map,
    get_bool,
    get_duration,
    get_str,
    get_str_list,
    idx,
    is_null,
    join,
    kind,
)
from agent.config._types import (
    Authorization,
    BasicAuth,
    FileSDConfig,
    HTTPClientConfig,
    HTTPHeader,
    K8sAttachMetadata,
    K8sNamespaces,
    K8sSelector,
    KubernetesSDConfig,
    StaticConfig,
    TLSConfig,
)
from agent.config._units import valid_label_name
from agent.config._yaml import YMap, YScalar

HTTP_CLIENT_KEYS = (
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "follow_redirects",
    "enable_http2",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "http_headers",
)

# prometheus/common config/headers.go reservedHeaders (lower case).
RESERVED_HEADERS = {
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-prometheus-scrape-timeout-seconds",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
}

TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
_TLS_ORDER = {v: i for i, v in enumerate(TLS_VERSIONS)}

_UNSUPPORTED_REF = (
    "secret references (*_ref) are not supported by scrape-agent; use the inline value or a *_file"
)


def canonical_header(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey`` for ASCII names."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def parse_url(ctx: Ctx, m: YMap, key: str, path: str) -> str:
    value = get_str(ctx, m, key, path)
    if value:
        problem = ""
        try:
            parts = urlsplit(value)
            _ = parts.port
        except ValueError as exc:
            problem = str(exc)
        if not problem and value.startswith(":"):
            problem = "missing protocol scheme"  # Go's url.Parse
        if not problem and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            problem = "invalid control character in URL"
        if problem:
            ctx.error(m.key_line(key), join(path, key), f"invalid URL {value!r}: {problem}")
            return ""
    return value


def decode_tls(ctx: Ctx, node: YMap | None, path: str) -> TLSConfig:
    if node is None:
        return TLSConfig()
    check_keys(
        ctx,
        node,
        path,
        (
            "ca",
            "ca_file",
            "cert",
            "cert_file",
            "key",
            "key_file",
            "server_name",
            "insecure_skip_verify",
            "min_version",
            "max_version",
        ),
        {
            "ca_ref": _UNSUPPORTED_REF,
            "cert_ref": _UNSUPPORTED_REF,
            "key_ref": _UNSUPPORTED_REF,
            "next_protos": "next_protos is not supported by scrape-agent",
        },
    )
    t = TLSConfig(
        ca=get_str(ctx, node, "ca", path),
        ca_file=get_str(ctx, node, "ca_file", path),
        cert=get_str(ctx, node, "cert", path),
        cert_file=get_str(ctx, node, "cert_file", path),
        key=get_str(ctx, node, "key", path),
        key_file=get_str(ctx, node, "key_file", path),
        server_name=get_str(ctx, node, "server_name", path),
        insecure_skip_verify=get_bool(ctx, node, "insecure_skip_verify", path, False),
        min_version=get_str(ctx, node, "min_version", path),
        max_version=get_str(ctx, node, "max_version", path),
    )
    line = node.line
    if t.insecure_skip_verify:
        ctx.warn(
            node.key_line("insecure_skip_verify"),
            join(path, "insecure_skip_verify"),
            "TLS certificate verification is disabled: the server is not authenticated",
        )
    if t.ca and t.ca_file:
        ctx.error(line, path, "at most one of ca, ca_file & ca_ref must be configured")
    if t.cert and t.cert_file:
        ctx.error(line, path, "at most one of cert, cert_file & cert_ref must be configured")
    if t.key and t.key_file:
        ctx.error(line, path, "at most one of key and key_file must be configured")
    using_cert = bool(t.cert or t.cert_file)
    using_key = bool(t.key or t.key_file)
    if using_cert and not using_key:
        ctx.error(
            line,
            path,
            "exactly one of key or key_file must be configured when a client certificate is configured",
        )
    elif using_key and not using_cert:
        ctx.error(
            line,
            path,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        )
    for key in ("min_version", "max_version"):
        v = getattr(t, key)
        if v and v not in _TLS_ORDER:
            ctx.error(
                node.key_line(key),
                join(path, key),
                f"unknown TLS version: {v} (one of {', '.join(TLS_VERSIONS)})",
            )
    if (
        t.min_version in _TLS_ORDER
        and t.max_version in _TLS_ORDER
        and _TLS_ORDER[t.max_version] < _TLS_ORDER[t.min_version]
    ):
        ctx.error(
            line,
            path,
            "tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified",
        )
    return t


def _header_list(ctx: Ctx, hm: YMap, key: str, path: str) -> tuple[str, ...]:
    return get_str_list(ctx, hm, key, path) or ()


def decode_http_client(ctx: Ctx, m: YMap, path: str) -> HTTPClientConfig:
    """The inline ``http_config`` fields of ``m`` (keys are checked by the caller)."""
    line = m.line
    basic: BasicAuth | None = None
    bm = as_map(ctx, m.get("basic_auth"), join(path, "basic_auth"))
    if bm is not None:
        bp = join(path, "basic_auth")
        check_keys(
            ctx,
            bm,
            bp,
            ("username", "username_file", "password", "password_file"),
            {"username_ref": _UNSUPPORTED_REF, "password_ref": _UNSUPPORTED_REF},
        )
        basic = BasicAuth(
            username=get_str(ctx, bm, "username", bp),
            username_file=get_str(ctx, bm, "username_file", bp),
            password=get_str(ctx, bm, "password", bp),
            password_file=get_str(ctx, bm, "password_file", bp),
        )
        if basic.username and basic.username_file:
            ctx.error(
                bm.line,
                bp,
                "at most one of basic_auth username, username_file & username_ref must be configured",
            )
        if basic.password and basic.password_file:
            ctx.error(
                bm.line,
                bp,
                "at most one of basic_auth password, password_file & password_ref must be configured",
            )
    authz: Authorization | None = None
    am = as_map(ctx, m.get("authorization"), join(path, "authorization"))
    if am is not None:
        ap = join(path, "authorization")
        check_keys(
            ctx,
            am,
            ap,
            ("type", "credentials", "credentials_file"),
            {"credentials_ref": _UNSUPPORTED_REF},
        )
        atype = get_str(ctx, am, "type", ap).strip() or "Bearer"
        authz = Authorization(
            type=atype,
            credentials=get_str(ctx, am, "credentials", ap),
            credentials_file=get_str(ctx, am, "credentials_file", ap),
        )
        if authz.credentials and authz.credentials_file:
            ctx.error(
                am.line,
                ap,
                "at most one of authorization credentials & credentials_file must be configured",
            )
        if atype.lower() == "basic":
            ctx.error(
                am.key_line("type"),
                join(ap, "type"),
                'authorization type cannot be set to "basic", use "basic_auth" instead',
            )
    has_oauth2 = not is_null(m.get("oauth2"))
    bearer = get_str(ctx, m, "bearer_token", path)
    bearer_file = get_str(ctx, m, "bearer_token_file", path)
    if bearer and bearer_file:
        ctx.error(line, path, "at most one of bearer_token & bearer_token_file must be configured")
    elif (basic is not None or has_oauth2) and (bearer or bearer_file):
        ctx.error(
            line,
            path,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        )
    elif authz is not None and (bearer or bearer_file):
        ctx.error(
            line, path, "authorization is not compatible with bearer_token & bearer_token_file"
        )
    elif authz is not None and (basic is not None or has_oauth2):
        ctx.error(
            line, path, "at most one of basic_auth, oauth2 & authorization must be configured"
        )
    if authz is None and bearer:
        authz = Authorization(type="Bearer", credentials=bearer)
    elif authz is None and bearer_file:
        authz = Authorization(type="Bearer", credentials_file=bearer_file)
    if has_oauth2:
        ctx.error(
            m.key_line("oauth2"),
            join(path, "oauth2"),
            "oauth2 is not supported by scrape-agent (use authorization.credentials_file with a token kept fresh by a sidecar)",
        )

    tls = decode_tls(
        ctx, as_map(ctx, m.get("tls_config"), join(path, "tls_config")), join(path, "tls_config")
    )

    proxy_url = parse_url(ctx, m, "proxy_url", path)
    no_proxy = get_str(ctx, m, "no_proxy", path)
    from_env = get_bool(ctx, m, "proxy_from_environment", path, False)
    pch: dict[str, tuple[str, ...]] = {}
    pcm = as_map(ctx, m.get("proxy_connect_header"), join(path, "proxy_connect_header"))
    if pcm is not None:
        pp = join(path, "proxy_connect_header")
        for hname in pcm.items:
            pch[hname] = get_str_list(ctx, pcm, hname, pp) or ()
    if pch and not from_env and not proxy_url:
        ctx.error(
            line,
            path,
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        )
    if from_env and proxy_url:
        ctx.error(
            line, path, "if proxy_from_environment is configured, proxy_url must not be configured"
        )
    if from_env and no_proxy:
        ctx.error(
            line, path, "if proxy_from_environment is configured, no_proxy must not be configured"
        )
    if no_proxy and not proxy_url and not from_env:
        ctx.error(line, path, "if no_proxy is configured, proxy_url must also be configured")

    headers: dict[str, HTTPHeader] = {}
    hm_all = as_map(ctx, m.get("http_headers"), join(path, "http_headers"))
    if hm_all is not None:
        hp = join(path, "http_headers")
        for hname, (hline, hnode) in hm_all.items.items():
            p = join(hp, hname)
            if hname.lower() in RESERVED_HEADERS:
                ctx.error(hline, p, f'setting header "{canonical_header(hname)}" is not allowed')
            hm = as_map(ctx, hnode, p)
            if hm is None:
                headers[hname] = HTTPHeader()
                continue
            check_keys(ctx, hm, p, ("values", "secrets", "files"))
            headers[hname] = HTTPHeader(
                values=_header_list(ctx, hm, "values", p),
                secrets=_header_list(ctx, hm, "secrets", p),
                files=_header_list(ctx, hm, "files", p),
            )
    return HTTPClientConfig(
        basic_auth=basic,
        authorization=authz,
        tls_config=tls,
        proxy_url=proxy_url,
        no_proxy=no_proxy,
        proxy_from_environment=from_env,
        proxy_connect_header=pch,
        follow_redirects=get_bool(ctx, m, "follow_redirects", path, True),
        enable_http2=get_bool(ctx, m, "enable_http2", path, True),
        http_headers=headers,
    )


def join_dir(base: str, path: str) -> str:
    """Prometheus' ``config.JoinDir``: a relative file name is relative to the config file."""
    if not path or os.path.isabs(path) or not base:
        return path
    return os.path.join(base, path)


def resolve_paths(http: HTTPClientConfig, base: str) -> HTTPClientConfig:
    """Every ``*_file`` of an http_config made relative to ``base`` (``SetDirectory``)."""
    t = http.tls_config
    tls = replace(
        t,
        ca_file=join_dir(base, t.ca_file),
        cert_file=join_dir(base, t.cert_file),
        key_file=join_dir(base, t.key_file),
    )
    basic = http.basic_auth
    if basic is not None:
        basic = replace(
            basic,
            username_file=join_dir(base, basic.username_file),
            password_file=join_dir(base, basic.password_file),
        )
    authz = http.authorization
    if authz is not None:
        authz = replace(authz, credentials_file=join_dir(base, authz.credentials_file))
    headers = {
        k: replace(h, files=tuple(join_dir(base, f) for f in h.files))
        for k, h in http.http_headers.items()
    }
    return replace(
        http, tls_config=tls, basic_auth=basic, authorization=authz, http_headers=headers
    )


# ---------------------------------------------------------------------------------------------
# Service discovery


def decode_static(ctx: Ctx, m: YMap, path: str, scheme: str) -> StaticConfig:
    check_keys(ctx, m, path, ("targets", "labels"))
    targets = get_str_list(ctx, m, "targets", path) or ()
    labels: dict[str, str] = {}
    lm = as_map(ctx, m.get("labels"), join(path, "labels"))
    if lm is not None:
        lp = join(path, "labels")
        for name, (kline, v) in lm.items.items():
            if not valid_label_name(name, scheme):
                ctx.error(kline, join(lp, name), f'"{name}" is not a valid label name')
            if isinstance(v, YScalar):
                labels[name] = "" if v.tag == "null" else v.text
            else:
                ctx.error(v.line, join(lp, name), f"expected a string, got {kind(v)}")
    return StaticConfig(targets=targets, labels=labels)


_FILE_SD_NAME = re.compile(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")


def decode_file_sd(ctx: Ctx, m: YMap, path: str, base_dir: str) -> FileSDConfig:
    check_keys(ctx, m, path, ("files", "refresh_interval"))
    files = get_str_list(ctx, m, "files", path) or ()
    if not files:
        ctx.error(m.line, path, "file service discovery config must contain at least one path name")
    items = as_seq(ctx, m.get("files"), join(path, "files")) or []
    for i, name in enumerate(files):
        if not _FILE_SD_NAME.match(name):
            line = items[i].line if i < len(items) else m.line
            ctx.error(
                line,
                idx(join(path, "files"), i),
                f'path name "{name}" is not valid for file discovery (it must end in .json, .yml or .yaml)',
            )
    refresh = get_duration(ctx, m, "refresh_interval", path, 300.0)
    return FileSDConfig(
        files=files, refresh_interval=300.0 if not refresh else refresh, base_dir=base_dir
    )


K8S_ROLES = ("node", "pod", "service", "endpoints", "endpointslice", "ingress")
_ALLOWED_SELECTORS = {
    "pod": ("pod",),
    "service": ("service",),
    "endpointslice": ("pod", "service", "endpointslice"),
    "endpoints": ("pod", "service", "endpoints"),
    "node": ("node",),
    "ingress": ("ingress",),
}

_SEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_FIELD_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-/\[\]]+)\s*(==|!=|=)\s*(.*?)\s*$")
_LABEL_VAL = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_LABEL_REQ = re.compile(
    rf"^\s*(!?\s*{_SEL_KEY}"
    rf"|{_SEL_KEY}\s*(==|!=|=)\s*{_LABEL_VAL}"
    rf"|{_SEL_KEY}\s*(>|<)\s*-?\d+"
    rf"|{_SEL_KEY}\s+(in|notin)\s*\(\s*{_LABEL_VAL}(\s*,\s*{_LABEL_VAL})*\s*\))\s*$"
)


def _split_top(s: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


def field_selector_error(s: str) -> str:
    if not s.strip():
        return ""
    for part in s.split(","):
        if not _FIELD_REQ.match(part):
            return f'invalid field selector "{s}": "{part.strip()}" is not of the form key=value, key==value or key!=value'
    return ""


def label_selector_error(s: str) -> str:
    if not s.strip():
        return ""
    for part in _split_top(s):
        if not _LABEL_REQ.match(part):
            return f'invalid label selector "{s}": cannot parse "{part.strip()}"'
    return ""


def decode_k8s_sd(ctx: Ctx, m: YMap, path: str, base_dir: str = "") -> KubernetesSDConfig | None:
    check_keys(
        ctx,
        m,
        path,
        ("api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata")
        + HTTP_CLIENT_KEYS,
    )
    role = get_str(ctx, m, "role", path)
    ok = True
    if not role:
        ctx.error(
            m.line,
            path,
            "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
        )
        ok = False
    elif role not in K8S_ROLES:
        hint = difflib.get_close_matches(role.lower(), K8S_ROLES, n=1, cutoff=0.6)
        extra = f' (did you mean "{hint[0]}"?)' if hint else f" (one of {', '.join(K8S_ROLES)})"
        ctx.error(
            m.key_line("role"), join(path, "role"), f'unknown Kubernetes SD role "{role}"{extra}'
        )
        ok = False
    elif role == "ingress":
        ctx.error(
            m.key_line("role"),
            join(path, "role"),
            'role "ingress" is not supported by scrape-agent (node, pod, service, endpoints, endpointslice are)',
        )
        ok = False
    api_server = parse_url(ctx, m, "api_server", path)
    kubeconfig = get_str(ctx, m, "kubeconfig_file", path)
    http = decode_http_client(ctx, m, path)
    # Prometheus compares the parsed client config with DefaultHTTPClientConfig.
    custom_http = http != HTTPClientConfig()

    ns = K8sNamespaces()
    nm = as_map(ctx, m.get("namespaces"), join(path, "namespaces"))
    if nm is not None:
        np_ = join(path, "namespaces")
        check_keys(ctx, nm, np_, ("own_namespace", "names"))
        ns = K8sNamespaces(
            own_namespace=get_bool(ctx, nm, "own_namespace", np_, False),
            names=get_str_list(ctx, nm, "names", np_) or (),
        )
    am = as_map(ctx, m.get("attach_metadata"), join(path, "attach_metadata"))
    attach = K8sAttachMetadata()
    if am is not None:
        ap = join(path, "attach_metadata")
        check_keys(ctx, am, ap, ("node", "namespace", "deployment", "job", "cronjob"))
        for k in ("deployment", "job", "cronjob"):
            if get_bool(ctx, am, k, ap, False):
                ctx.error(
                    am.key_line(k),
                    join(ap, k),
                    f"attach_metadata.{k} is not supported by scrape-agent (node and namespace are)",
                )
        attach = K8sAttachMetadata(
            node=get_bool(ctx, am, "node", ap, False),
            namespace=get_bool(ctx, am, "namespace", ap, False),
        )

    line = m.line
    if api_server and kubeconfig:
        ctx.error(line, path, "cannot use 'kubeconfig_file' and 'api_server' simultaneously")
    if kubeconfig and custom_http:
        ctx.error(
            line,
            path,
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        )
    if not api_server and not kubeconfig and custom_http:
        ctx.error(
            line,
            path,
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        )
    if api_server and ns.own_namespace:
        ctx.error(
            line, path, "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"
        )
    if kubeconfig and ns.own_namespace:
        ctx.error(
            line, path, "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously"
        )

    def sel(sm: YMap, sp: str) -> K8sSelector | None:
        check_keys(ctx, sm, sp, ("role", "label", "field"))
        return K8sSelector(
            role=get_str(ctx, sm, "role", sp),
            label=get_str(ctx, sm, "label", sp),
            field=get_str(ctx, sm, "field", sp),
        )

    selectors = each_map(ctx, m, "selectors", path, sel)
    seen: set[str] = set()
    sel_items = as_seq(ctx, m.get("selectors"), join(path, "selectors")) or []
    for i, s in enumerate(selectors):
        sp = idx(join(path, "selectors"), i)
        sline = sel_items[i].line if i < len(sel_items) else line
        if s.role in seen:
            ctx.error(sline, sp, f"duplicated selector role: {s.role}")
        seen.add(s.role)
        if role in _ALLOWED_SELECTORS:
            allowed = _ALLOWED_SELECTORS[role]
            if role == "pod" and attach.node:
                allowed = ("pod", "node")
            if s.role not in allowed:
                ctx.error(
                    sline,
                    join(sp, "role"),
                    f"{role} role supports only {', '.join(allowed)} selectors"
                    + (
                        " (node selectors need attach_metadata: {node: true})"
                        if role == "pod" and s.role == "node"
                        else ""
                    ),
                )
        err = field_selector_error(s.field)
        if err:
            ctx.error(sline, join(sp, "field"), err)
        err = label_selector_error(s.label)
        if err:
            ctx.error(sline, join(sp, "label"), err)
    if not ok:
        return None
    return KubernetesSDConfig(
        role=role,
        api_server=api_server,
        kubeconfig_file=join_dir(base_dir, kubeconfig),
        namespaces=ns,
        selectors=selectors,
        attach_metadata=attach,
        http_client=resolve_paths(http, base_dir),
    )


# Every SD mechanism Prometheus has that scrape-agent does not (discovery/*/ and docs).
UNSUPPORTED_SD = (
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "dns_sd_configs",
    "ec2_sd_configs",
    "ecs_sd_configs",
    "eureka_sd_configs",
    "gce_sd_configs",
    "hetzner_sd_configs",
    "http_sd_configs",
    "ionos_sd_configs",
    "kuma_sd_configs",
    "lightsail_sd_configs",
    "linode_sd_configs",
    "marathon_sd_configs",
    "nerve_sd_configs",
    "nomad_sd_configs",
    "openstack_sd_configs",
    "ovhcloud_sd_configs",
    "puppetdb_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "stackit_sd_configs",
    "triton_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
)
