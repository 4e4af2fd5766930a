"""HTTP(S) fetching against a real local target server (trustme TLS, real sockets)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from agent.config import Authorization, BasicAuth, HTTPClientConfig, HTTPHeader, TLSConfig
from agent.devtools.target_server import OPENMETRICS_CONTENT_TYPE, Page, TargetServer
from agent.scrape.http import ScrapeClient, ScrapeError, accept_header, format_seconds

BODY = b"# TYPE a gauge\na 1\n"


def fetch(client: ScrapeClient, url: str, timeout: float = 5.0) -> Any:
    async def go() -> Any:
        try:
            return await client.fetch(url, timeout)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_accept_header_matches_prometheus_default() -> None:
    from agent.config import DEFAULT_SCRAPE_PROTOCOLS

    assert accept_header(DEFAULT_SCRAPE_PROTOCOLS) == (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "application/openmetrics-text;version=0.0.1;q=0.5,"
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
        "text/plain;version=0.0.4;q=0.3,"
        "*/*;q=0.2"
    )
    assert (
        accept_header(["PrometheusText0.0.4"], "legacy")
        == "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
    )
    assert accept_header(["PrometheusText1.0.0"], "legacy") == (
        "text/plain;version=1.0.0;escaping=underscores;q=0.6,*/*;q=0.5"
    )


def test_format_seconds() -> None:
    assert [format_seconds(x) for x in (10, 0.5, 2.25, 0)] == ["10", "0.5", "2.25", "0"]


def test_plain_scrape_sends_prometheus_headers(scrape_config: Any) -> None:
    with TargetServer() as srv:
        srv.set("/metrics", Page(BODY, content_type=OPENMETRICS_CONTENT_TYPE))
        cfg = scrape_config({"job_name": "j", "scrape_timeout": 7.5})
        resp = fetch(ScrapeClient(cfg), srv.url(), timeout=7.5)
        assert resp.body == BODY
        assert resp.content_type == OPENMETRICS_CONTENT_TYPE
        h = srv.requests_for("/metrics")[0].headers
        assert h["accept"].startswith("application/openmetrics-text;version=1.0.0")
        assert h["accept-encoding"] == "gzip"
        assert h["user-agent"].startswith("scrape-agent/")
        assert h["x-prometheus-scrape-timeout-seconds"] == "7.5"
        assert "authorization" not in h


def test_gzip_and_identity(scrape_config: Any) -> None:
    with TargetServer() as srv:
        srv.set("/metrics", BODY * 100)
        resp = fetch(ScrapeClient(scrape_config({"job_name": "j"})), srv.url())
        assert resp.body == BODY * 100
        resp = fetch(
            ScrapeClient(scrape_config({"job_name": "j", "enable_compression": False})), srv.url()
        )
        assert resp.body == BODY * 100
        encodings = [r.headers["accept-encoding"] for r in srv.requests_for("/metrics")]
        assert encodings == ["gzip", "identity"]


def test_https_with_ca_and_rotating_token_file(ca: Any, tmp_path: Path, scrape_config: Any) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    current = {"token": "first"}
    with TargetServer(tls_ca=ca, token=lambda: current["token"]) as srv:
        srv.set("/metrics", BODY)
        hc = HTTPClientConfig(
            authorization=Authorization(credentials_file=str(token_file)),
            tls_config=TLSConfig(ca_file=str(ca_file), server_name="localhost"),
        )
        cfg = scrape_config({"job_name": "j", "scheme": "https", "http_client": hc})
        client = ScrapeClient(cfg)

        async def go() -> list[Any]:
            out: list[Any] = [await client.fetch(srv.url(), 5)]
            # Rotate: the server now wants a new token; the file changes too.
            current["token"] = "second"
            try:
                await client.fetch(srv.url(), 5)
            except ScrapeError as exc:
                out.append(exc)
            token_file.write_text("second")
            out.append(await client.fetch(srv.url(), 5))
            await client.aclose()
            return out

        first, failed, rotated = asyncio.run(go())
        assert first.body == BODY and rotated.body == BODY
        assert str(failed) == "server returned HTTP status 401 Unauthorized"
        auths = [r.headers.get("authorization") for r in srv.requests_for("/metrics")]
        assert auths == ["Bearer first", "Bearer first", "Bearer second"]


def test_https_unknown_ca_fails_clearly(ca: Any, scrape_config: Any) -> None:
    with TargetServer(tls_ca=ca) as srv:
        srv.set("/metrics", BODY)
        with pytest.raises(
            ScrapeError,
            match=r'^Get "https://127\.0\.0\.1:\d+/metrics": tls: failed to verify certificate: ',
        ):
            fetch(ScrapeClient(scrape_config({"job_name": "j"})), srv.url())
        hc = HTTPClientConfig(tls_config=TLSConfig(insecure_skip_verify=True))
        resp = fetch(ScrapeClient(scrape_config({"job_name": "j", "http_client": hc})), srv.url())
        assert resp.body == BODY


def test_basic_auth_password_file_and_headers(tmp_path: Path, scrape_config: Any) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    hdr = tmp_path / "hdr"
    hdr.write_text("from-file")
    hc = HTTPClientConfig(
        basic_auth=BasicAuth(username="u", password_file=str(pw)),
        http_headers={
            "X-Plain": HTTPHeader(values=("a",)),
            "X-Secret": HTTPHeader(secrets=("s",)),
            "X-File": HTTPHeader(files=(str(hdr),)),
            "X-Mixed": HTTPHeader(values=("v",), secrets=("s",), files=(str(hdr),)),
        },
    )
    with TargetServer() as srv:
        srv.set("/metrics", BODY)
        fetch(ScrapeClient(scrape_config({"job_name": "j", "http_client": hc})), srv.url())
        h = srv.requests_for("/metrics")[0].headers
        assert h["authorization"] == "Basic dTpzM2NyZXQ="  # u:s3cret
        assert (h["x-plain"], h["x-secret"], h["x-file"]) == ("a", "s", "from-file")
        assert h["x-mixed"] == "v, s, from-file"  # every value, as Prometheus adds them all


def test_missing_credentials_file_is_a_clear_error(tmp_path: Path, scrape_config: Any) -> None:
    hc = HTTPClientConfig(authorization=Authorization(credentials_file=str(tmp_path / "nope")))
    with TargetServer() as srv:
        srv.set("/metrics", BODY)
        with pytest.raises(
            ScrapeError, match="unable to read authorization credentials file .*nope"
        ):
            fetch(ScrapeClient(scrape_config({"job_name": "j", "http_client": hc})), srv.url())


def test_redirects_same_host_keep_token_cross_host_drop_it(scrape_config: Any) -> None:
    hc = HTTPClientConfig(
        authorization=Authorization(credentials="tok"),
        http_headers={"X-Secret": HTTPHeader(secrets=("s",)), "X-Plain": HTTPHeader(values=("p",))},
    )
    with TargetServer() as a, TargetServer() as b:
        b.set("/final", BODY)
        a.set("/final", BODY)
        a.set("/same", Page(redirect="/final"))
        a.set("/cross", Page(redirect=b.url("/final")))
        cfg = scrape_config({"job_name": "j", "http_client": hc})
        assert fetch(ScrapeClient(cfg), a.url("/same")).body == BODY
        assert a.requests_for("/final")[0].headers["authorization"] == "Bearer tok"
        assert fetch(ScrapeClient(cfg), a.url("/cross")).body == BODY
        leaked = b.requests_for("/final")[0].headers
        assert "authorization" not in leaked
        assert "x-secret" not in leaked
        assert leaked["x-plain"] == "p"


def test_redirect_not_followed_when_disabled_and_loop_limit(scrape_config: Any) -> None:
    hc = HTTPClientConfig(follow_redirects=False)
    with TargetServer() as srv:
        srv.set("/r", Page(redirect="/metrics"))
        srv.set("/loop", Page(redirect="/loop"))
        with pytest.raises(ScrapeError, match="^server returned HTTP status 302 Found$"):
            fetch(ScrapeClient(scrape_config({"job_name": "j", "http_client": hc})), srv.url("/r"))
        with pytest.raises(ScrapeError, match="stopped after 10 redirects"):
            fetch(ScrapeClient(scrape_config({"job_name": "j"})), srv.url("/loop"))
        assert len(srv.requests_for("/loop")) == 11


def test_slow_target_times_out(scrape_config: Any) -> None:
    with TargetServer() as srv:
        srv.set("/slow", Page(BODY, delay=3))
        srv.set("/trickle", Page(BODY * 50, trickle=0.2, chunk_size=10, gzip=False))
        client_cfg = scrape_config({"job_name": "j"})
        for path in ("/slow", "/trickle"):
            with pytest.raises(ScrapeError) as ei:
                fetch(ScrapeClient(client_cfg), srv.url(path), timeout=0.3)
            assert str(ei.value) == f'Get "{srv.url(path)}": context deadline exceeded'


def test_body_size_limit_counts_decompressed_bytes(scrape_config: Any) -> None:
    big = b"x_total 1\n" * 10_000  # 100 kB, compresses to ~1 kB
    with TargetServer() as srv:
        srv.set("/metrics", big)
        cfg = scrape_config({"job_name": "j", "body_size_limit": 50_000})
        with pytest.raises(ScrapeError, match="^body size limit exceeded$"):
            fetch(ScrapeClient(cfg), srv.url())
        # Exactly at the limit fails too (Prometheus reads limit bytes and errors when n >= limit).
        cfg = scrape_config({"job_name": "j", "body_size_limit": len(big)})
        with pytest.raises(ScrapeError, match="body size limit exceeded"):
            fetch(ScrapeClient(cfg), srv.url())
        cfg = scrape_config({"job_name": "j", "body_size_limit": len(big) + 1})
        assert fetch(ScrapeClient(cfg), srv.url()).body == big


def test_http_errors(scrape_config: Any) -> None:
    with TargetServer() as srv:
        srv.set("/500", Page(b"boom", status=500))
        srv.set("/reset", Page(reset=True))
        cfg = scrape_config({"job_name": "j"})
        with pytest.raises(
            ScrapeError, match="^server returned HTTP status 500 Internal Server Error$"
        ):
            fetch(ScrapeClient(cfg), srv.url("/500"))
        with pytest.raises(ScrapeError, match=r'^Get "http://127\.0\.0\.1:\d+/reset": .+'):
            fetch(ScrapeClient(cfg), srv.url("/reset"))
        port = srv.port
    refused = rf'^Get "http://127\.0\.0\.1:{port}/metrics": dial tcp 127\.0\.0\.1:{port}: connect: connection refused$'
    with pytest.raises(ScrapeError, match=refused):
        fetch(ScrapeClient(cfg), f"http://127.0.0.1:{port}/metrics")


def test_proxy_url_and_no_proxy(scrape_config: Any) -> None:
    with TargetServer() as proxy, TargetServer() as target:
        proxy.set("/metrics", BODY)  # the "proxy" answers absolute-form requests itself
        target.set("/metrics", b"direct 1\n")
        far = "http://unreachable.invalid:9100/metrics"
        hc = HTTPClientConfig(proxy_url=proxy.url("/"), no_proxy="127.0.0.1,.internal.example")
        cfg = scrape_config({"job_name": "j", "http_client": hc})
        assert fetch(ScrapeClient(cfg), far).body == BODY
        assert proxy.requests[0].raw_target == far
        # no_proxy hosts are reached directly.
        assert fetch(ScrapeClient(cfg), target.url()).body == b"direct 1\n"
        assert len(proxy.requests) == 1


def test_proxy_from_environment(scrape_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with TargetServer() as proxy, TargetServer() as target:
        proxy.set("/metrics", BODY)
        target.set("/metrics", b"direct 1\n")
        monkeypatch.setenv("HTTP_PROXY", proxy.url("/"))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        far = "http://unreachable.invalid:9100/metrics"
        hc = HTTPClientConfig(proxy_from_environment=True)
        cfg = scrape_config({"job_name": "j", "http_client": hc})
        assert fetch(ScrapeClient(cfg), far).body == BODY
        assert proxy.requests[0].raw_target == far
        assert fetch(ScrapeClient(cfg), target.url()).body == b"direct 1\n"
        # without proxy_from_environment the variables are ignored, as in Prometheus
        cfg = scrape_config({"job_name": "j"})
        with pytest.raises(ScrapeError):
            fetch(ScrapeClient(cfg), far, timeout=2.0)
        assert len(proxy.requests) == 1


def test_tls_client_certificate_and_min_version(
    ca: Any, tmp_path: Path, scrape_config: Any
) -> None:
    import ssl

    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("scrape-agent")
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "k.pem"
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    with TargetServer(tls_ca=ca, client_ca=ca) as srv:
        srv.set("/metrics", BODY)
        tls = TLSConfig(ca_file=str(ca_file))
        cfg = scrape_config({"job_name": "j", "http_client": HTTPClientConfig(tls_config=tls)})
        with pytest.raises(ScrapeError, match=r'^Get "https://'):
            fetch(ScrapeClient(cfg), srv.url())
        tls = TLSConfig(ca_file=str(ca_file), cert_file=str(cert_file), key_file=str(key_file))
        cfg = scrape_config({"job_name": "j", "http_client": HTTPClientConfig(tls_config=tls)})
        assert fetch(ScrapeClient(cfg), srv.url()).body == BODY
        # Inline PEMs work the same.
        tls = TLSConfig(
            ca=ca.cert_pem.bytes().decode(), cert=cert_file.read_text(), key=key_file.read_text()
        )
        cfg = scrape_config({"job_name": "j", "http_client": HTTPClientConfig(tls_config=tls)})
        assert fetch(ScrapeClient(cfg), srv.url()).body == BODY
    with TargetServer(tls_ca=ca, max_tls_version=ssl.TLSVersion.TLSv1_2) as srv:
        srv.set("/metrics", BODY)
        tls = TLSConfig(ca_file=str(ca_file), min_version="TLS13")
        cfg = scrape_config({"job_name": "j", "http_client": HTTPClientConfig(tls_config=tls)})
        with pytest.raises(ScrapeError, match="VERSION|version|alert"):
            fetch(ScrapeClient(cfg), srv.url())
        tls = TLSConfig(ca_file=str(ca_file), min_version="TLS12")
        cfg = scrape_config({"job_name": "j", "http_client": HTTPClientConfig(tls_config=tls)})
        assert fetch(ScrapeClient(cfg), srv.url()).body == BODY


def test_unreadable_ca_file_fails_each_scrape_until_fixed(
    ca: Any, tmp_path: Path, scrape_config: Any
) -> None:
    ca_file = tmp_path / "ca.pem"  # not there yet (a Secret mounted later)
    hc = HTTPClientConfig(tls_config=TLSConfig(ca_file=str(ca_file)))
    with TargetServer(tls_ca=ca) as srv:
        srv.set("/metrics", BODY)
        client = ScrapeClient(scrape_config({"job_name": "j", "http_client": hc}))

        async def go() -> tuple[str, bytes]:
            try:
                await client.fetch(srv.url(), 5)
            except ScrapeError as exc:
                err = str(exc)
            ca.cert_pem.write_to_path(str(ca_file))
            body = (await client.fetch(srv.url(), 5)).body
            await client.aclose()
            return err, body

        err, body = asyncio.run(go())
    assert err.startswith(f'Get "{srv.url()}": unable to load TLS config: ')
    assert "No such file" in err
    assert body == BODY


@pytest.mark.parametrize("fast", [True, False], ids=["isal", "httpx-zlib"])
def test_gzip_bodies_inflate_alike_and_corrupt_gzip_fails_the_scrape(
    scrape_config: Any, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    import agent.scrape.http as http_mod

    if not fast:
        monkeypatch.setattr(http_mod, "_fast_zlib", None)
    elif http_mod._fast_zlib is None:
        pytest.skip("isal not installed")
    big = b"".join(b'm{i="%d"} %d\n' % (i, i) for i in range(20_000))
    with TargetServer() as srv:
        srv.set("/big", Page(big, chunk_size=4096))
        srv.set(
            "/bad",
            Page(b"this is not gzip", gzip=False, headers={"Content-Encoding": "gzip"}),
        )
        srv.set("/limit", big)
        resp = fetch(ScrapeClient(scrape_config({"job_name": "j"})), srv.url("/big"))
        assert resp.body == big
        with pytest.raises(ScrapeError, match="^Get .*/bad"):
            fetch(ScrapeClient(scrape_config({"job_name": "j"})), srv.url("/bad"))
        cfg = scrape_config({"job_name": "j", "body_size_limit": len(big)})
        with pytest.raises(ScrapeError, match="^body size limit exceeded$"):
            fetch(ScrapeClient(cfg), srv.url("/limit"))
        cfg = scrape_config({"job_name": "j", "body_size_limit": len(big) + 1})
        assert fetch(ScrapeClient(cfg), srv.url("/limit")).body == big


def test_lazy_fetch_inflates_gzip_piece_by_piece_with_the_same_errors(scrape_config: Any) -> None:
    import agent.scrape.http as http_mod

    if http_mod._fast_zlib is None:
        pytest.skip("isal not installed")
    big = b"".join(b'm{i="%d"} %d\n' % (i, i) for i in range(200_000))  # ~4 MB
    noise = os.urandom(300_000)
    with TargetServer() as srv:
        srv.set("/big", Page(big, chunk_size=65536))
        srv.set(
            "/bad",
            Page(b"this is not gzip", gzip=False, headers={"Content-Encoding": "gzip"}),
        )
        srv.set("/noise", Page(noise, gzip=False, headers={"Content-Encoding": "gzip"}))

        def lazy(cfg: dict[str, Any], path: str) -> Any:
            async def go() -> Any:
                client = ScrapeClient(scrape_config(cfg))
                try:
                    return await client.fetch(srv.url(path), 5, lazy=True)
                finally:
                    await client.aclose()

            return asyncio.run(go())

        resp = lazy({"job_name": "j"}, "/big")
        assert resp.gzipped and len(resp.body) < len(big) // 3
        pieces = list(resp.pieces())
        assert len(pieces) >= 4 and max(map(len, pieces)) <= 1 << 20
        assert b"".join(pieces) == big
        bad = lazy({"job_name": "j"}, "/bad")
        with pytest.raises(ScrapeError, match="^Get .*/bad"):
            list(bad.pieces())
        at_limit = lazy({"job_name": "j", "body_size_limit": len(big)}, "/big")
        with pytest.raises(ScrapeError, match="^body size limit exceeded$"):
            list(at_limit.pieces())
        ok = lazy({"job_name": "j", "body_size_limit": len(big) + 1}, "/big")
        assert b"".join(ok.pieces()) == big
        # a compressed body that alone proves the limit exceeded stops the download
        with pytest.raises(ScrapeError, match="^body size limit exceeded$"):
            lazy({"job_name": "j", "body_size_limit": 100_000}, "/noise")
