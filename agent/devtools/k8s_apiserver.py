"""A small, real Kubernetes API server for tests: list/watch over HTTP(S) on 127.0.0.1.

It speaks the REST protocol the ``kubernetes`` client and client-go use for the resources
discovery reads::

    /api/v1/{nodes,pods,services,endpoints,namespaces}
    /api/v1/namespaces/{ns}/{pods,services,endpoints}
    /apis/discovery.k8s.io/v1/endpointslices
    /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices

- LIST returns ``{kind}List`` with ``metadata.resourceVersion``, paged with ``limit`` and
  ``continue``;
- ``?watch=true&resourceVersion=N`` streams JSON lines (chunked) of ADDED/MODIFIED/DELETED events
  after N, then live events, BOOKMARKs when ``allowWatchBookmarks=true``, and ends after
  ``timeoutSeconds``. Objects that move in or out of a selector produce ADDED/DELETED;
- ``labelSelector`` (``=``, ``==``, ``!=``, ``in``, ``notin``, exists, ``!key``) and
  ``fieldSelector`` (any dotted path, ``=``/``==``/``!=``);
- ``expire()`` compacts history: older resourceVersions get 410 Gone (as an ERROR watch event,
  or a 410 status response with ``expire(as_status=True)``);
- ``drop_watches()`` cuts open watch connections; ``stop()``/``start()`` restart on the same port;
- optional HTTPS (trustme CA), bearer token check (``token``; change it to rotate) or basic
  auth (``basic_auth=(user, password)``).

Use as a context manager; threads are daemons and everything stops on exit::

    with FakeAPIServer() as api:
        api.add(pod_dict)
        ... api.url ...
"""

from __future__ import annotations

import copy
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]

# resource -> (kind, apiVersion, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "pods": ("Pod", "v1", True),
    "services": ("Service", "v1", True),
    "endpoints": ("Endpoints", "v1", True),
    "nodes": ("Node", "v1", False),
    "namespaces": ("Namespace", "v1", False),
    "endpointslices": ("EndpointSlice", "discovery.k8s.io/v1", True),
}
KIND_TO_RESOURCE = {kind: res for res, (kind, _, _) in RESOURCES.items()}

_CORE = re.compile(r"^/api/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<res>[a-z]+)$")
_DISC = re.compile(
    r"^/apis/discovery\.k8s\.io/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<res>endpointslices)$"
)


# --------------------------------------------------------------------------- selectors


def _split_top(expr: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return [p for p in parts if p]


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    for req in _split_top(selector):
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", req)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in" and labels.get(key) not in vals:
                return False
            if op == "notin" and key in labels and labels[key] in vals:
                return False
            continue
        if "!=" in req:
            k, v = (s.strip() for s in req.split("!=", 1))
            if labels.get(k) == v:
                return False
        elif "==" in req or "=" in req:
            k, v = (s.strip() for s in re.split("==|=", req, maxsplit=1))
            if labels.get(k) != v:
                return False
        elif req.startswith("!"):
            if req[1:].strip() in labels:
                return False
        elif req not in labels:
            return False
    return True


def _field(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def field_selector_matches(selector: str, obj: Mapping[str, Any]) -> bool:
    for req in _split_top(selector):
        if "!=" in req:
            k, v = req.split("!=", 1)
            if _field(obj, k.strip()) == v.strip():
                return False
        else:
            k, v = re.split("==|=", req, maxsplit=1)
            if _field(obj, k.strip()) != v.strip():
                return False
    return True


# --------------------------------------------------------------------------- server


class _Event:
    __slots__ = ("rv", "type", "resource", "obj", "old")

    def __init__(self, rv: int, type_: str, resource: str, obj: Obj, old: Obj | None) -> None:
        self.rv, self.type, self.resource, self.obj, self.old = rv, type_, resource, obj, old


class FakeAPIServer:
    def __init__(
        self,
        *,
        tls: bool = False,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        port: int = 0,
        bookmark_interval: float = 1.0,
        tmpdir: str | Path | None = None,
    ) -> None:
        self.tls = tls
        self.token = token
        self.basic_auth = basic_auth
        self.bookmark_interval = bookmark_interval
        self._lock = threading.Condition()
        self._rv = 100
        self._compacted = 0
        self._expire_as_status = False
        self._store: dict[str, dict[str, Obj]] = {r: {} for r in RESOURCES}
        self._events: list[_Event] = []
        self._watch_socks: set[socket.socket] = set()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, query) of every request
        self.list_pages = 0  # LIST responses served
        self.ca_file = ""
        self._ssl_ctx: ssl.SSLContext | None = None
        if tls:
            import tempfile

            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            d = Path(tmpdir) if tmpdir else Path(tempfile.mkdtemp(prefix="fake-apiserver-"))
            self.ca_file = str(d / "ca.crt")
            ca.cert_pem.write_to_path(self.ca_file)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(ctx)
            self._ssl_ctx = ctx

    # ---- lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    def start(self) -> FakeAPIServer:
        server = self

        class Handler(_Handler):
            api = server

        httpd = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        httpd.daemon_threads = True
        if self._ssl_ctx is not None:
            httpd.socket = self._ssl_ctx.wrap_socket(httpd.socket, server_side=True)
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (the data is kept: ``start()`` again = an API server restart)."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        self.drop_watches()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def restart(self) -> None:
        self.stop()
        for _ in range(50):
            try:
                self.start()
                return
            except OSError:
                time.sleep(0.05)
        self.start()

    def __enter__(self) -> FakeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- data

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def _key(self, resource: str, obj: Mapping[str, Any]) -> str:
        md = obj.get("metadata") or {}
        if RESOURCES[resource][2]:
            return f"{md.get('namespace', 'default')}/{md['name']}"
        return str(md["name"])

    def _record(self, type_: str, resource: str, obj: Obj, old: Obj | None) -> None:
        self._events.append(_Event(self._rv, type_, resource, obj, old))
        self._lock.notify_all()

    def apply(self, obj: Mapping[str, Any]) -> Obj:
        """Add or replace an object (``kind`` picks the resource); bumps resourceVersion."""
        resource = KIND_TO_RESOURCE[str(obj["kind"])]
        kind, api_version, namespaced = RESOURCES[resource]
        new = copy.deepcopy(dict(obj))
        new["kind"], new["apiVersion"] = kind, api_version
        md = new.setdefault("metadata", {})
        if namespaced:
            md.setdefault("namespace", "default")
        md.setdefault("uid", f"uid-{resource}-{md['name']}")
        md.setdefault("creationTimestamp", "2026-06-26T10:12:19Z")
        with self._lock:
            self._rv += 1
            md["resourceVersion"] = str(self._rv)
            key = self._key(resource, new)
            old = self._store[resource].get(key)
            self._store[resource][key] = new
            self._record("MODIFIED" if old else "ADDED", resource, new, old)
        return new

    add = apply
    modify = apply

    def apply_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        for o in objs:
            self.apply(o)

    def get(self, kind: str, name: str, namespace: str = "default") -> Obj:
        resource = KIND_TO_RESOURCE[kind]
        key = f"{namespace}/{name}" if RESOURCES[resource][2] else name
        with self._lock:
            return copy.deepcopy(self._store[resource][key])

    def delete(self, kind: str, name: str, namespace: str = "default") -> None:
        resource = KIND_TO_RESOURCE[kind]
        key = f"{namespace}/{name}" if RESOURCES[resource][2] else name
        with self._lock:
            old = self._store[resource].pop(key)
            self._rv += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._record("DELETED", resource, gone, old)

    def expire(self, *, as_status: bool = False) -> None:
        """Compact history: watches from any resourceVersion seen so far get 410 Gone."""
        with self._lock:
            self._rv += 1
            self._compacted = self._rv
            self._expire_as_status = as_status
            self._events.clear()

    def drop_watches(self) -> None:
        """Cut every open watch connection (as a load balancer idle timeout would)."""
        with self._lock:
            socks = list(self._watch_socks)
            self._watch_socks.clear()
            self._lock.notify_all()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def open_watches(self) -> int:
        with self._lock:
            return len(self._watch_socks)

    # ---- queries used by the handler

    def _list(self, resource: str, ns: str | None, q: Mapping[str, str]) -> tuple[list[Obj], int]:
        with self._lock:
            items = [
                copy.deepcopy(o)
                for o in self._store[resource].values()
                if _matches(o, ns, q) is True
            ]
            return items, self._rv


def _matches(obj: Mapping[str, Any] | None, ns: str | None, q: Mapping[str, str]) -> bool:
    if obj is None:
        return False
    md = obj.get("metadata") or {}
    if ns is not None and md.get("namespace") != ns:
        return False
    if q.get("labelSelector") and not label_selector_matches(
        q["labelSelector"], md.get("labels") or {}
    ):
        return False
    return not (q.get("fieldSelector") and not field_selector_matches(q["fieldSelector"], obj))


def _status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class _Handler(BaseHTTPRequestHandler):
    api: FakeAPIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def _send_json(self, code: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        api = self.api
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with api._lock:
            api.requests.append((parts.path, q))
        if api.basic_auth is not None:
            import base64

            want = base64.b64encode(":".join(api.basic_auth).encode()).decode()
            if self.headers.get("Authorization", "") != f"Basic {want}":
                self._send_json(401, _status(401, "Unauthorized", "Unauthorized"))
                return
        if api.token is not None:
            scheme, _, cred = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or cred.strip() != api.token:
                self._send_json(401, _status(401, "Unauthorized", "Unauthorized"))
                return
        if parts.path == "/version":
            self._send_json(200, {"major": "1", "minor": "35", "gitVersion": "v1.35.0"})
            return
        m = _CORE.match(parts.path) or _DISC.match(parts.path)
        if not m or m.group("res") not in RESOURCES:
            self._send_json(
                404, _status(404, "NotFound", f"the server could not find {parts.path}")
            )
            return
        resource, ns = m.group("res"), m.group("ns")
        if ns is not None and not RESOURCES[resource][2]:
            self._send_json(404, _status(404, "NotFound", "not namespaced"))
            return
        if q.get("watch") in ("true", "1"):
            self._watch(resource, ns, q)
            return
        items, rv = api._list(resource, ns, q)
        kind, api_version, _ = RESOURCES[resource]
        for it in items:
            it.pop("kind", None)
            it.pop("apiVersion", None)
        list_meta: dict[str, str] = {"resourceVersion": str(rv)}
        limit = int(q.get("limit") or 0)
        if limit > 0:
            # Paging: the continue token is "<rv of the first page>:<offset>"; it expires with
            # compaction (410), as the real API server's tokens do.
            offset = 0
            if q.get("continue"):
                first_rv, _, off = q["continue"].partition(":")
                with api._lock:
                    expired = int(first_rv) < api._compacted
                if expired:
                    self._send_json(410, _status(410, "Expired", "continue token expired"))
                    return
                rv, offset = int(first_rv), int(off)
                list_meta["resourceVersion"] = str(rv)
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            if offset + limit < len(items):
                list_meta["continue"] = f"{rv}:{offset + limit}"
            items = items[offset : offset + limit]
        with api._lock:
            api.list_pages += 1
        self._send_json(
            200,
            {
                "kind": kind + "List",
                "apiVersion": api_version,
                "metadata": list_meta,
                "items": items,
            },
        )

    def _chunk(self, payload: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def _watch(self, resource: str, ns: str | None, q: Mapping[str, str]) -> None:
        api = self.api
        kind, api_version, _ = RESOURCES[resource]
        try:
            since = int(q.get("resourceVersion") or 0)
        except ValueError:
            since = 0
        with api._lock:
            too_old = since != 0 and since < api._compacted
            as_status = api._expire_as_status
            if since == 0:
                since = api._rv
        if too_old and as_status:
            self._send_json(410, _status(410, "Expired", f"too old resource version: {since}"))
            return
        timeout = float(q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sock = self.connection
        with api._lock:
            api._watch_socks.add(sock)
        try:
            if too_old:
                err = _status(410, "Expired", f"too old resource version: {since}")
                self._chunk(json.dumps({"type": "ERROR", "object": err}).encode() + b"\n")
                self._chunk(b"")
                return
            last_bookmark = time.monotonic()
            while True:
                with api._lock:
                    if sock not in api._watch_socks:
                        return  # dropped
                    pending = [e for e in api._events if e.rv > since and e.resource == resource]
                    if not pending:
                        wait = min(deadline, last_bookmark + api.bookmark_interval)
                        api._lock.wait(max(0.0, wait - time.monotonic()))
                        pending = [
                            e for e in api._events if e.rv > since and e.resource == resource
                        ]
                    rv_now = api._rv
                    if sock not in api._watch_socks:
                        return
                lines = []
                for e in pending:
                    since = e.rv
                    new_in = _matches(e.obj, ns, q) if e.type != "DELETED" else False
                    old_in = _matches(e.old, ns, q)
                    if e.type == "DELETED":
                        etype = "DELETED" if old_in else ""
                    elif new_in and old_in:
                        etype = "MODIFIED"
                    elif new_in:
                        etype = "ADDED"
                    elif old_in:
                        etype = "DELETED"
                    else:
                        etype = ""
                    if etype:
                        lines.append(json.dumps({"type": etype, "object": e.obj}).encode())
                now = time.monotonic()
                if not pending and bookmarks and now - last_bookmark >= api.bookmark_interval:
                    since = max(since, rv_now)
                    bm = {
                        "kind": kind,
                        "apiVersion": api_version,
                        "metadata": {"resourceVersion": str(rv_now)},
                    }
                    lines.append(json.dumps({"type": "BOOKMARK", "object": bm}).encode())
                    last_bookmark = now
                for line in lines:
                    self._chunk(line + b"\n")
                if now >= deadline:
                    self._chunk(b"")
                    return
        except OSError:
            return
        finally:
            with api._lock:
                api._watch_socks.discard(sock)
            self.close_connection = True


def load_objects(path: str | Path) -> list[Obj]:
    """Objects from a YAML file of documents or ``kind: List`` (fixtures/k8s/*.yaml)."""
    import yaml

    out: list[Obj] = []
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            if doc.get("kind") == "List" or doc.get("kind", "").endswith("List"):
                out.extend(doc.get("items") or ())
            else:
                out.append(doc)
    return out
