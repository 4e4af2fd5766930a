"""Exporter against a real OTLP receiver (HTTP and gRPC): delivery, faults, durability."""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from agent.config import AgentSection, OTLPConfig, OTLPTLSConfig, QueueConfig
from agent.devtools.otlp_receiver import OTLPReceiver, Reply
from agent.export import Exporter
from agent.export.queue import DiskQueue, MemoryQueue
from agent.export.sender import metrics_url, parse_retry_after
from agent.model import EncodedBatch

REPO = Path(__file__).resolve().parents[2]


def payload(n: int, points: int = 1) -> EncodedBatch:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "test"
    m = rm.scope_metrics.add().metrics.add()
    m.name = "batch"
    for i in range(points):
        p = m.gauge.data_points.add()
        p.as_double = float(n * 1000 + i)
        p.time_unix_nano = 1_000_000
    return EncodedBatch(req.SerializeToString(), points, time.time())


def values(rx: OTLPReceiver) -> list[float]:
    return sorted(p.point.as_double for p in rx.points())


def agent(endpoint: str, protocol: str = "http/protobuf", **kw: Any) -> AgentSection:
    q = QueueConfig(
        retry_initial=kw.pop("retry_initial", 0.02),
        retry_max=kw.pop("retry_max", 0.1),
        max_bytes=kw.pop("max_bytes", 64 * 1024 * 1024),
        drain_timeout=kw.pop("drain_timeout", 5.0),
    )
    o = OTLPConfig(endpoint=endpoint, protocol=protocol, **kw)
    return AgentSection(otlp=o, queue=q)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), timeout=30))


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- delivery


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_http_delivery_headers_and_coalescing(compression: str) -> None:
    with OTLPReceiver() as rx:

        async def main() -> None:
            a = agent(
                rx.http_endpoint, compression=compression, headers={"signoz-ingestion-key": "k"}
            )
            ex = Exporter(a)
            ex.submit(payload(0))  # before start: kept and sent after start
            await ex.start()
            for n in range(1, 20):
                ex.submit(payload(n, 3))
            await ex.stop()
            st = ex.stats()
            assert st.sent_points == 1 + 19 * 3 and st.sent_batches == 20
            assert st.sent_bytes == sum(len(payload(n, 3).payload) for n in range(1, 20)) + len(
                payload(0).payload
            )
            assert st.queued_batches == 0 and st.consecutive_failures == 0
            assert st.sent_requests <= 20  # small batches are coalesced into fewer requests

        run(main)
        assert values(rx) == sorted(
            [0.0] + [n * 1000.0 + i for n in range(1, 20) for i in range(3)]
        )
        h = rx.headers[0]
        assert h["content-type"] == "application/x-protobuf"
        assert h.get("content-encoding") == ("gzip" if compression == "gzip" else None)
        assert h["signoz-ingestion-key"] == "k"
        assert h["user-agent"].startswith("scrape-agent/")


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_http_request_lines_are_those_of_a_per_request_merge(compression: str) -> None:
    """The sender's headers live on its client (merged once): the request sent has exactly the
    header lines, in order, and the URL that httpx builds when they are given per request."""
    import httpx

    from agent.export.sender import USER_AGENT, HTTPSender

    extra = {"user-agent": "custom/1", "X-Key": "v", "accept": "application/x-protobuf"}
    with OTLPReceiver() as rx:
        cfg = OTLPConfig(endpoint=rx.http_endpoint, compression=compression, headers=extra)

        async def main() -> None:
            sender = HTTPSender(cfg)
            seen: list[httpx.Request] = []

            async def hook(request: httpx.Request) -> None:
                seen.append(request)

            sender.client.event_hooks["request"] = [hook]
            body = payload(1).payload
            try:
                result = await sender.send(body)
            finally:
                await sender.close()
            assert result.ok
            per_request = {"Content-Type": "application/x-protobuf", "User-Agent": USER_AGENT}
            if compression == "gzip":
                per_request["Content-Encoding"] = "gzip"
            per_request.update(extra)
            async with httpx.AsyncClient(trust_env=True) as ref:
                want = ref.build_request(
                    "POST", sender.url, content=seen[0].content, headers=per_request
                )
            assert len(seen) == 1
            assert seen[0].headers.raw == want.headers.raw
            assert str(seen[0].url) == str(want.url) and seen[0].method == "POST"
            sent = seen[0].content
            assert (gzip.decompress(sent) if compression == "gzip" else sent) == body

        run(main)
        assert rx.headers[0]["user-agent"] == "custom/1" and rx.headers[0]["x-key"] == "v"


def test_grpc_delivery_with_metadata_and_gzip() -> None:
    with OTLPReceiver(http=False, grpc=True) as rx:

        async def main() -> None:
            ex = Exporter(agent(rx.grpc_endpoint, "grpc", headers={"Authorization": "Bearer t"}))
            await ex.start()
            for n in range(5):
                ex.submit(payload(n, 2))
            await ex.stop()
            assert ex.stats().sent_points == 10

        run(main)
        assert len(values(rx)) == 10
        assert rx.headers[0]["authorization"] == "Bearer t"


def test_tls_http_and_grpc(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with OTLPReceiver(http=True, grpc=True, tls_ca=ca) as rx:

        async def main() -> None:
            for ep, proto in ((rx.http_endpoint, "http/protobuf"), (rx.grpc_endpoint, "grpc")):
                ex = Exporter(agent(ep, proto, tls=OTLPTLSConfig(ca_file=str(ca_file))))
                await ex.start()
                ex.submit(payload(1))
                await ex.stop()
                assert ex.stats().sent_points == 1, (proto, ex.stats().last_error)
            # Without the CA the server is not trusted: retried, never delivered.
            ex = Exporter(agent(rx.http_endpoint))
            await ex.start()
            ex.submit(payload(2))
            await wait_for(lambda: ex.stats().retries >= 1)
            await ex.stop(drain_timeout=0)
            assert ex.stats().sent_points == 0
            assert "CERTIFICATE_VERIFY_FAILED" in ex.stats().last_error or ex.stats().last_error

        run(main)
        assert values(rx) == [1000.0, 1000.0]


# ---------------------------------------------------------------- faults


def test_backend_down_then_up_nothing_lost(tmp_path: Path) -> None:
    with OTLPReceiver() as rx:
        rx.down()

        async def main() -> None:
            ex = Exporter(agent(rx.http_endpoint), storage_path=str(tmp_path / "q"))
            await ex.start()
            for n in range(10):
                ex.submit(payload(n))
            await wait_for(lambda: ex.stats().retries >= 3)
            st = ex.stats()
            assert st.sent_points == 0 and st.queued_points == 10 and st.consecutive_failures >= 3
            assert st.last_error
            rx.up()
            await wait_for(lambda: ex.stats().queued_points == 0)
            await ex.stop()
            assert ex.stats().sent_points == 10

        run(main)
        assert values(rx) == [n * 1000.0 for n in range(10)]


def test_retry_after_is_honoured() -> None:
    with OTLPReceiver() as rx:
        rx.script(Reply(status=503, retry_after="0.4"))

        async def main() -> None:
            # Backoff alone would wait >= 2.5 s: the retry must come from Retry-After.
            ex = Exporter(agent(rx.http_endpoint, retry_initial=5.0, retry_max=10.0))
            await ex.start()
            ex.submit(payload(1))
            await wait_for(lambda: ex.stats().sent_points == 1, timeout=5)
            await ex.stop()
            assert ex.stats().retries == 1

        run(main)
        first, second = rx.arrivals[:2]
        assert 0.35 <= second - first < 2.5


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def test_400_dropped_once_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    with OTLPReceiver() as rx:
        rx.script(Reply(status=400, body=b"bad metric name"))

        async def main() -> None:
            ex = Exporter(agent(rx.http_endpoint))
            await ex.start()
            ex.submit(payload(1, 4))
            await wait_for(lambda: ex.stats().rejected_points == 4)
            ex.submit(payload(2))
            await ex.stop()
            st = ex.stats()
            assert st.failed_batches == 1 and st.rejected_points == 4 and st.retries == 0
            assert st.sent_points == 1

        with caplog.at_level(logging.WARNING, logger="agent.export"):
            run(main)
        lines = [r for r in caplog.records if "rejected" in r.getMessage()]
        assert len(lines) == 1
        assert "HTTP 400" in lines[0].getMessage() and "bad metric name" in lines[0].getMessage()
        assert values(rx) == [2000.0]


def test_slow_response_times_out_and_is_retried() -> None:
    with OTLPReceiver() as rx:
        rx.script(Reply(delay=1.0))

        async def main() -> None:
            ex = Exporter(agent(rx.http_endpoint, timeout=0.2))
            await ex.start()
            ex.submit(payload(7))
            await wait_for(lambda: ex.stats().sent_points == 1)
            await ex.stop()
            st = ex.stats()
            assert st.retries >= 1 and "timeout" in st.last_error

        run(main)
        # The slow reply was processed by the backend too: at-least-once means a duplicate.
        assert set(values(rx)) == {7000.0}
        assert rx.wait_requests(2, timeout=3)


def test_partial_success_counted(caplog: pytest.LogCaptureFixture) -> None:
    with OTLPReceiver(http=True, grpc=True) as rx:
        rx.script(
            Reply(partial_rejected=2, partial_message="2 points too old"),
            Reply(partial_rejected=1, partial_message="1 bad"),
        )

        async def main() -> None:
            for ep, proto in ((rx.http_endpoint, "http/protobuf"), (rx.grpc_endpoint, "grpc")):
                ex = Exporter(agent(ep, proto))
                await ex.start()
                ex.submit(payload(1, 3))
                await ex.stop()
                st = ex.stats()
                assert st.sent_points == 3 and st.partial_rejected_points in (1, 2)

        with caplog.at_level(logging.WARNING, logger="agent.export"):
            run(main)
        assert any("2 points too old" in r.getMessage() for r in caplog.records)


def test_grpc_status_codes() -> None:
    with OTLPReceiver(http=False, grpc=True) as rx:
        rx.script(
            Reply(grpc_code="UNAVAILABLE"),
            Reply(grpc_code="RESOURCE_EXHAUSTED", retry_after="0.05"),
            Reply(grpc_code="INVALID_ARGUMENT"),
        )

        async def main() -> None:
            ex = Exporter(agent(rx.grpc_endpoint, "grpc"))
            await ex.start()
            ex.submit(payload(1))
            await wait_for(lambda: ex.stats().rejected_points == 1)
            ex.submit(payload(2))
            await ex.stop()
            st = ex.stats()
            assert st.retries == 2 and st.failed_batches == 1 and st.sent_points == 1
            assert "INVALID_ARGUMENT" in st.last_error

        run(main)
        assert values(rx) == [2000.0]


# ---------------------------------------------------------------- durability


def test_restart_replays_the_queue(tmp_path: Path) -> None:
    qdir = str(tmp_path / "q")
    with OTLPReceiver() as rx:
        rx.down()

        async def first() -> None:
            ex = Exporter(agent(rx.http_endpoint), storage_path=qdir)
            await ex.start()
            for n in range(6):
                ex.submit(payload(n, 2))
            await ex.stop(drain_timeout=0.2)
            assert ex.stats().queued_points == 12

        run(first)
        rx.up()

        async def second() -> None:
            ex = Exporter(agent(rx.http_endpoint), storage_path=qdir)
            await ex.start()
            assert ex.stats().replayed_batches == 6
            await wait_for(lambda: ex.stats().queued_points == 0)
            await ex.stop()
            assert ex.stats().sent_points == 12

        run(second)
        assert values(rx) == sorted(n * 1000.0 + i for n in range(6) for i in range(2))

        async def third() -> None:  # everything was acknowledged: nothing replays
            ex = Exporter(agent(rx.http_endpoint), storage_path=qdir)
            await ex.start()
            assert ex.stats().replayed_batches == 0
            await ex.stop()

        run(third)


def test_appends_are_fsynced_within_the_interval_and_idle_does_not_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk queue is fsynced one sync interval after appends (every append is covered),
    and the sync task does not fsync (nor wake up to) while nothing is appended."""
    import agent.export as export_mod

    monkeypatch.setattr(export_mod, "_SYNC_INTERVAL", 0.05)
    fsynced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsynced.append(fd)
        real_fsync(fd)

    with OTLPReceiver() as rx:
        rx.down()  # the batches stay queued: syncs are the only thing to watch

        async def main() -> None:
            ex = Exporter(agent(rx.http_endpoint), storage_path=str(tmp_path / "q"))
            await ex.start()
            q = ex._queue
            assert isinstance(q, DiskQueue)
            monkeypatch.setattr(os, "fsync", counting_fsync)
            try:
                for round_ in range(3):
                    before = len(fsynced)
                    ex.submit(payload(round_))
                    ex.submit(payload(round_ + 10))
                    assert q._dirty
                    await wait_for(lambda b=before: not q._dirty and len(fsynced) > b)
                    assert fsynced[before:] == [q._write_fd]
                    # idle: several intervals without appends, no further fsync
                    synced = len(fsynced)
                    await asyncio.sleep(0.3)
                    assert len(fsynced) == synced
            finally:
                monkeypatch.setattr(os, "fsync", real_fsync)
                await ex.stop(drain_timeout=0.1)

        run(main)


def test_sigkill_writer_then_replay_truncated_tail(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "fixtures/otlp/queue_writer.py"), str(qdir), "5"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    appended = -1
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("appended "):
                appended = int(line.split()[1])
            if appended >= 40:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert appended >= 40
    # Tear the newest record as a crash mid-write would.
    segs = sorted(qdir.glob("seg-*.q"))
    last = segs[-1]
    data = last.read_bytes()
    assert len(data) > 10
    last.write_bytes(data[:-7])

    q = DiskQueue(str(qdir), 64 * 1024 * 1024)
    assert q.corrupt_records == 1
    got = len(q)
    # Batches 0-4 were acknowledged; all appends that returned are there but the torn one.
    assert got >= appended - 5
    q.close()

    with OTLPReceiver() as rx:

        async def main() -> None:
            ex = Exporter(agent(rx.http_endpoint), storage_path=str(qdir))
            await ex.start()
            await wait_for(lambda: ex.stats().queued_points == 0)
            await ex.stop()

        run(main)
        assert values(rx) == [n * 1000.0 for n in range(5, 5 + got)]


def test_corrupt_record_in_the_middle_is_skipped(tmp_path: Path) -> None:
    qdir = str(tmp_path / "q")
    q = DiskQueue(qdir, 1 << 20)
    for n in range(5):
        q.append(payload(n))
    q.close()
    seg = sorted(Path(qdir).glob("seg-*.q"))[0]
    data = bytearray(seg.read_bytes())
    rec = len(data) // 5
    data[2 * rec + 30] ^= 0xFF  # inside the third record
    seg.write_bytes(bytes(data))
    q2 = DiskQueue(qdir, 1 << 20)
    assert q2.corrupt_records == 1 and len(q2) == 2  # the two before the damage
    q2.close()


def test_disk_bound_drops_oldest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    qdir = tmp_path / "q"
    one = len(payload(0, 5).payload)
    q = DiskQueue(str(qdir), max_bytes=one * 10, segment_bytes=one * 3)
    with caplog.at_level(logging.WARNING, logger="agent.export"):
        for n in range(50):
            q.append(payload(n, 5))
    assert len(q) == 10 and q.queued_bytes <= one * 10
    assert q.dropped_batches == 40 and q.dropped_points == 200
    assert sum(1 for r in caplog.records if "queue full" in r.getMessage()) == 1
    disk = sum(f.stat().st_size for f in qdir.glob("seg-*.q"))
    assert disk <= one * 10 + 2 * (one * 3 + 64 * 3)  # bound + at most the partly used segments
    q.close()
    q2 = DiskQueue(str(qdir), max_bytes=one * 10)
    firsts = []
    for e in list(q2.entries):
        firsts.append(ExportMetricsServiceRequest.FromString(asyncio.run(q2.read(e))))
    got = [
        r.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].as_double
        for r in firsts
    ]
    assert got == [n * 1000.0 for n in range(40, 50)]
    q2.close()


def test_memory_queue_bound() -> None:
    one = len(payload(0).payload)
    q = MemoryQueue(one * 3)
    for n in range(5):
        q.append(payload(n))
    assert len(q) == 3 and q.dropped_batches == 2 and q.dropped_points == 2
    big = EncodedBatch(b"x" * (one * 4), 9, time.time())
    q.append(big)  # larger than the bound on its own: dropped, the queue untouched
    assert len(q) == 3 and q.dropped_points == 11


def test_metrics_url() -> None:
    assert metrics_url("http://signoz:4318") == "http://signoz:4318/v1/metrics"
    assert metrics_url("http://signoz:4318/") == "http://signoz:4318/v1/metrics"
    assert metrics_url("https://x/otlp/v1/metrics") == "https://x/otlp/v1/metrics"
    assert metrics_url("https://x/otlp") == "https://x/otlp/v1/metrics"
    assert metrics_url("collector:4318") == "http://collector:4318/v1/metrics"
    # OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is a full URL, used as is (signal_path "")
    assert metrics_url("https://x/custom/ingest", "") == "https://x/custom/ingest"


def test_metrics_endpoint_env_is_used_as_is() -> None:
    from agent.config import loads

    cfg = loads(
        "scrape_configs: []\n",
        env={"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://x/custom/ingest"},
    )
    otlp = cfg.agent.otlp
    assert metrics_url(otlp.endpoint, otlp.signal_path) == "https://x/custom/ingest"
    cfg = loads("scrape_configs: []\n", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "https://x/base"})
    otlp = cfg.agent.otlp
    assert metrics_url(otlp.endpoint, otlp.signal_path) == "https://x/base/v1/metrics"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_translate_then_export_end_to_end(protocol: str) -> None:
    from agent.model import MetricMeta, Sample, ScrapeBatch, TargetInfo, labels_from_mapping
    from agent.translate import Translator

    def s(name: str, v: float, **kw: str) -> Sample:
        lab = labels_from_mapping({"__name__": name, "job": "api", "instance": "10.0.0.9:80", **kw})
        return Sample(lab, v, 1_700_000_000_000)

    samples = [
        s("http_requests_total", 10, code="200"),
        s("lat_bucket", 1, le="0.1"),
        s("lat_bucket", 2, le="+Inf"),
        s("lat_count", 2),
        s("lat_sum", 0.3),
        s("temp", 21.0),
    ]
    meta = {"http_requests": MetricMeta("counter"), "lat": MetricMeta("histogram")}
    target = TargetInfo("api", "10.0.0.9:80", "http", {"__scheme__": "http"})
    with OTLPReceiver(http=True, grpc=True) as rx:
        ep = rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint

        async def main() -> None:
            a = agent(ep, protocol)
            ex = Exporter(a)
            await ex.start()
            for enc in Translator(a, env={}).translate(
                ScrapeBatch(target, 1_700_000_000_000, samples, meta, [s("up", 1)])
            ):
                ex.submit(enc)
            await ex.stop()
            assert ex.stats().sent_points == 4

        run(main)
        got = {(p.metric, p.type) for p in rx.points()}
        assert got == {
            ("http_requests_total", "sum"),
            ("lat", "histogram"),
            ("temp", "gauge"),
            ("up", "gauge"),
        }
        for p in rx.points():
            assert p.resource["service.name"] == "api"
            assert p.point.time_unix_nano == 1_700_000_000_000 * 1_000_000


def test_rejected_coalesced_request_only_drops_the_bad_batch() -> None:
    with OTLPReceiver() as rx:
        rx.down()

        async def main() -> None:
            ex = Exporter(agent(rx.http_endpoint))
            await ex.start()
            for n in range(4):
                ex.submit(payload(n))
            await wait_for(lambda: ex.stats().retries >= 1)
            # The 4 batches go out together: rejected; then one by one: only the first fails.
            rx.script(Reply(status=400), Reply(status=400))
            rx.up()
            await wait_for(lambda: ex.stats().queued_batches == 0)
            await ex.stop()
            st = ex.stats()
            assert st.rejected_points == 1 and st.failed_batches == 1 and st.sent_points == 3

        run(main)
        assert values(rx) == [1000.0, 2000.0, 3000.0]


def test_reload_hands_the_disk_queue_over(tmp_path: Path) -> None:
    qdir = str(tmp_path / "q")
    with OTLPReceiver() as rx:
        rx.down()

        async def main() -> None:
            old = Exporter(agent(rx.http_endpoint), storage_path=qdir)
            await old.start()
            for n in range(5):
                old.submit(payload(n))
            await wait_for(lambda: old.stats().retries >= 1)
            new = Exporter(agent(rx.http_endpoint, retry_initial=0.01), storage_path=qdir)
            await new.start()  # takes the queue over: no second reader of the same files
            await old.stop(5.0)  # returns at once, leaves the queue alone
            assert new.stats().queued_batches == 5
            new.submit(payload(5))
            rx.up()
            await wait_for(lambda: new.stats().queued_batches == 0)
            await new.stop()
            assert new.stats().sent_points == 6

        run(main)
        assert values(rx) == [n * 1000.0 for n in range(6)]
        assert not list(Path(qdir).glob("seg-*.q"))  # all sent: no segment left behind


def test_segments_after_a_fully_acked_restart_are_replayed(tmp_path: Path) -> None:
    qdir = str(tmp_path / "q")
    for _round in range(3):  # each run sends everything; the cursor moves on
        q = DiskQueue(qdir, 1 << 20)
        for n in range(3):
            q.append(payload(n))
        q.ack(q.peek_many(100, 1 << 30))
        q.close()
    q = DiskQueue(qdir, 1 << 20)
    q.append(payload(7))
    q.append(payload(8))
    q.close()  # not sent
    q = DiskQueue(qdir, 1 << 20)
    got = [
        ExportMetricsServiceRequest.FromString(asyncio.run(q.read(e)))
        .resource_metrics[0]
        .scope_metrics[0]
        .metrics[0]
        .gauge.data_points[0]
        .as_double
        for e in list(q.entries)
    ]
    assert got == [7000.0, 8000.0]
    q.close()


def test_grpc_backend_down_then_up_nothing_lost(tmp_path: Path) -> None:
    with OTLPReceiver(http=False, grpc=True) as rx:
        rx.down()

        async def main() -> None:
            ex = Exporter(agent(rx.grpc_endpoint, "grpc"), storage_path=str(tmp_path / "q"))
            await ex.start()
            for n in range(4):
                ex.submit(payload(n))
            await wait_for(lambda: ex.stats().retries >= 2)
            assert "UNAVAILABLE" in ex.stats().last_error
            rx.up()
            await wait_for(lambda: ex.stats().queued_points == 0)
            await ex.stop()
            assert ex.stats().sent_points == 4

        run(main)
        assert values(rx) == [n * 1000.0 for n in range(4)]
