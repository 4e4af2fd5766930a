"""Connection to the Kubernetes API and the list/watch loop (one thread per resource+namespace).

The ``kubernetes`` package provides configuration (in-cluster, kubeconfig, TLS) and the HTTP
transport; objects are read as plain JSON dicts (no model deserialisation: less CPU and memory,
and the builders only read a few fields).

Configuration sources, as Prometheus:

- ``api_server`` set: that URL with the job's HTTP client options (``tls_config``,
  ``authorization``/``bearer_token(_file)``, ``basic_auth``); credential files are re-read on
  every request;
- ``kubeconfig_file``: the kubeconfig's current context;
- neither: in-cluster (``KUBERNETES_SERVICE_HOST``/``_PORT``, the service account token and CA
  under ``/var/run/secrets/kubernetes.io/serviceaccount/``; the token is re-read for every
  request, so projected token rotation is followed at once).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from agent.config import KubernetesSDConfig

log = logging.getLogger("agent.discovery.kubernetes")

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
USER_AGENT = "scrape-agent/kubernetes-sd"

# resource -> (API path prefix, namespaced)
PATHS: dict[str, tuple[str, bool]] = {
    "pods": ("/api/v1", True),
    "services": ("/api/v1", True),
    "endpoints": ("/api/v1", True),
    "nodes": ("/api/v1", False),
    "namespaces": ("/api/v1", False),
    "endpointslices": ("/apis/discovery.k8s.io/v1", True),
}


class K8sConfigError(Exception):
    """The discovery can't be configured (no in-cluster env, unreadable kubeconfig, ...)."""


class APIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class GoneError(APIError):
    """410 Gone: the resourceVersion is too old; relist."""


def resource_path(resource: str, namespace: str = "") -> str:
    prefix, namespaced = PATHS[resource]
    if namespaced and namespace:
        return f"{prefix}/namespaces/{namespace}/{resource}"
    return f"{prefix}/{resource}"


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class K8sClient:
    """Builds a ``kubernetes.client.ApiClient`` from a ``KubernetesSDConfig``."""

    def __init__(
        self,
        cfg: KubernetesSDConfig,
        *,
        environ: Mapping[str, str] | None = None,
        sa_dir: str = SA_DIR,
    ) -> None:
        from kubernetes import client as kclient

        self.cfg = cfg
        self.sa_dir = sa_dir
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._auth_header: Callable[[], str | None] = lambda: None
        conf = kclient.Configuration()
        env = os.environ if environ is None else environ
        if cfg.api_server:
            conf.host = cfg.api_server.rstrip("/")
            self._configure_http(conf)
        elif cfg.kubeconfig_file:
            from kubernetes import config as kconfig

            try:
                kconfig.load_kube_config(config_file=cfg.kubeconfig_file, client_configuration=conf)  # type: ignore[no-untyped-call]
            except Exception as e:  # the loader raises many types
                raise K8sConfigError(
                    f"kubeconfig_file {cfg.kubeconfig_file!r}: cannot load it: {e}"
                ) from e
        else:
            from kubernetes.config.config_exception import ConfigException
            from kubernetes.config.incluster_config import InClusterConfigLoader

            try:
                loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
                    token_filename=os.path.join(sa_dir, "token"),
                    cert_filename=os.path.join(sa_dir, "ca.crt"),
                    try_refresh_token=True,
                    environ=env,
                )
                loader.load_and_set(conf)  # type: ignore[no-untyped-call]
                # Re-read the (projected, rotating) token on every request rather than once a
                # minute: lists and watches are few, and a rotated token is used at once.
                token_path = os.path.join(sa_dir, "token")

                def refresh(c: Any) -> None:
                    try:
                        c.api_key["BearerToken"] = "Bearer " + _read(token_path)
                    except OSError as e:
                        log.warning("kubernetes discovery: cannot read %s: %s", token_path, e)

                conf.refresh_api_key_hook = refresh  # type: ignore[assignment]
            except ConfigException as e:
                raise K8sConfigError(
                    "kubernetes_sd_configs: no api_server or kubeconfig_file given and not running "
                    f"in a cluster ({e}); set api_server or kubeconfig_file"
                ) from e
        self.host = conf.host
        self.api = kclient.ApiClient(conf)
        self.api.user_agent = USER_AGENT

    # ---- configuration helpers

    def _file_from(self, inline: str, name: str) -> str:
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="scrape-agent-k8s-")
        p = Path(self._tmpdir.name) / name
        p.write_text(inline, encoding="utf-8")
        p.chmod(0o600)
        return str(p)

    def _configure_http(self, conf: Any) -> None:
        hc = self.cfg.http_client
        tls = hc.tls_config
        if tls.ca_file:
            conf.ssl_ca_cert = tls.ca_file
        elif tls.ca:
            conf.ssl_ca_cert = self._file_from(tls.ca, "ca.crt")
        if tls.cert_file or tls.cert:
            conf.cert_file = tls.cert_file or self._file_from(tls.cert, "client.crt")
            conf.key_file = tls.key_file or self._file_from(tls.key, "client.key")
        if tls.insecure_skip_verify:
            conf.verify_ssl = False
        if tls.server_name:
            conf.tls_server_name = tls.server_name
        if hc.proxy_url:
            conf.proxy = hc.proxy_url
        auth = hc.authorization
        basic = hc.basic_auth
        if auth is not None and (auth.credentials or auth.credentials_file):
            a = auth

            def bearer() -> str | None:
                cred = _read(a.credentials_file) if a.credentials_file else a.credentials
                return f"{a.type or 'Bearer'} {cred}"

            self._auth_header = bearer
        elif basic is not None:
            b = basic

            def basic_header() -> str | None:
                user = _read(b.username_file) if b.username_file else b.username
                pw = _read(b.password_file) if b.password_file else b.password
                return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()

            self._auth_header = basic_header

    def own_namespace(self) -> str:
        try:
            return _read(os.path.join(self.sa_dir, "namespace"))
        except OSError as e:
            raise K8sConfigError(
                f"namespaces.own_namespace: cannot read {self.sa_dir}/namespace: {e.strerror}"
            ) from e

    def close(self) -> None:
        try:
            self.api.close()  # type: ignore[no-untyped-call]
        except Exception:  # pragma: no cover - best effort
            pass
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    # ---- requests

    def _request(self, path: str, query: list[tuple[str, Any]], read_timeout: float) -> Any:
        headers: dict[str, str] = {"Accept": "application/json"}
        h = self._auth_header()
        if h:
            headers["Authorization"] = h
        req = self.api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        resp = self.api.call_api(*req, _request_timeout=(10.0, read_timeout))
        raw = resp.response
        if resp.status != 200:
            body = raw.data.decode("utf-8", "replace") if raw.data else ""
            raw.release_conn()
            msg = body
            try:
                msg = json.loads(body).get("message") or body
            except ValueError:
                pass
            cls = GoneError if resp.status == 410 else APIError
            raise cls(resp.status, f"GET {path}: {msg}")
        return raw

    def list(
        self, resource: str, namespace: str, label: str, field: str, page_size: int = 500
    ) -> tuple[list[dict[str, Any]], str]:
        """All objects (paged by ``page_size``, as client-go's reflector) and the list's RV."""
        items: list[dict[str, Any]] = []
        cont = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", str(page_size))]
            if cont:
                query.append(("continue", cont))
            if label:
                query.append(("labelSelector", label))
            if field:
                query.append(("fieldSelector", field))
            raw = self._request(resource_path(resource, namespace), query, 60.0)
            data = json.loads(raw.data)
            raw.release_conn()
            md = data.get("metadata") or {}
            items.extend(data.get("items") or ())
            cont = str(md.get("continue") or "")
            if not cont:
                return items, str(md.get("resourceVersion") or "")

    def watch(
        self,
        resource: str,
        namespace: str,
        label: str,
        field: str,
        resource_version: str,
        timeout_seconds: int,
        on_open: Callable[[Any], None],
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label:
            query.append(("labelSelector", label))
        if field:
            query.append(("fieldSelector", field))
        raw = self._request(resource_path(resource, namespace), query, timeout_seconds + 30.0)
        on_open(raw)
        buf = b""
        try:
            for chunk in raw.stream(65536, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        ev = json.loads(line)
                        yield str(ev.get("type") or ""), ev.get("object") or {}
            if buf.strip():
                ev = json.loads(buf)
                yield str(ev.get("type") or ""), ev.get("object") or {}
        finally:
            raw.release_conn()


# Callbacks run on the watcher thread; the discoverer hands them to its event loop.
OnSync = Callable[[list[dict[str, Any]]], None]
OnEvent = Callable[[str, dict[str, Any]], None]


class ListWatcher:
    """List then watch one (resource, namespace, selectors) in a daemon thread.

    - the first list and every relist call ``on_sync(items)`` with the complete set;
    - watch events (ADDED/MODIFIED/DELETED) call ``on_event(type, obj)``;
    - BOOKMARKs advance the resourceVersion; 410 Gone (status or ERROR event) relists;
    - errors and dropped connections back off 1 s, 2 s, ... 30 s, then resume the watch from the
      last resourceVersion.
    """

    def __init__(
        self,
        client: K8sClient,
        resource: str,
        namespace: str,
        label: str,
        field: str,
        on_sync: OnSync,
        on_event: OnEvent,
        *,
        name: str = "",
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        watch_timeout: tuple[int, int] = (300, 600),
    ) -> None:
        self.client = client
        self.resource, self.namespace, self.label, self.field = resource, namespace, label, field
        self.on_sync, self.on_event = on_sync, on_event
        self.name = name or f"{resource}/{namespace or '*'}"
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.watch_timeout = watch_timeout
        self.last_error = ""
        self.lists = 0  # number of (re)lists done, for tests and logs
        self._stop = threading.Event()
        self._resp: Any = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"k8s-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()
            except Exception:
                try:
                    resp.close()
                except Exception:
                    pass

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _set_resp(self, resp: Any) -> None:
        self.last_error = ""  # the watch is (re)established
        with self._lock:
            self._resp = resp
        if self._stop.is_set():
            self.stop()

    def _run(self) -> None:
        rv = ""
        backoff = self.backoff_initial
        while not self._stop.is_set():
            try:
                if not rv:
                    items, rv = self.client.list(
                        self.resource, self.namespace, self.label, self.field
                    )
                    self.lists += 1
                    if self._stop.is_set():
                        return
                    self.on_sync(items)
                    self.last_error = ""
                started = time.monotonic()
                got_any = False
                timeout = random.randint(*self.watch_timeout)
                for etype, obj in self.client.watch(
                    self.resource,
                    self.namespace,
                    self.label,
                    self.field,
                    rv,
                    timeout,
                    self._set_resp,
                ):
                    if self._stop.is_set():
                        return
                    got_any = True
                    new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                    if etype == "ERROR":
                        code = obj.get("code")
                        if code == 410:
                            raise GoneError(410, str(obj.get("message") or "Gone"))
                        raise APIError(int(code or 500), str(obj.get("message") or obj))
                    if new_rv:
                        rv = new_rv
                    if etype in ("ADDED", "MODIFIED", "DELETED"):
                        self.on_event(etype, obj)
                backoff = self.backoff_initial
                # A watch that ends at once without any event would spin: pause a little.
                if not got_any and time.monotonic() - started < 1.0:
                    self._stop.wait(self.backoff_initial)
            except GoneError:
                log.info("kubernetes %s: resourceVersion %s expired, relisting", self.name, rv)
                rv = ""
            except Exception as e:
                if self._stop.is_set():
                    return
                self.last_error = f"{self.client.host}: {self.name}: {e}"
                log.warning("kubernetes discovery %s: %s; retrying in %.1fs", self.name, e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
            finally:
                with self._lock:
                    self._resp = None
