"""Batches gzip-compressed before the queue: stored as is, sent without recompressing."""

from __future__ import annotations

import asyncio
import gzip
import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from agent.config import AgentSection, OTLPConfig, QueueConfig
from agent.devtools.otlp_receiver import OTLPReceiver
from agent.export import Exporter
from agent.export.codec import CODEC_GZIP, CODEC_RAW, compress_batch, raw_size
from agent.export.queue import DiskQueue, MemoryQueue, read_records
from agent.model import EncodedBatch


def batch(n: int, points: int = 50) -> EncodedBatch:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    kv = rm.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "test"
    m = rm.scope_metrics.add().metrics.add()
    m.name = "compressed_batch"
    for i in range(points):
        p = m.gauge.data_points.add()
        p.as_double = float(n * 1000 + i)
        p.time_unix_nano = 1_000_000
    return EncodedBatch(req.SerializeToString(), points, time.time())


def section(endpoint: str, protocol: str, compression: str) -> AgentSection:
    q = QueueConfig(retry_initial=0.02, retry_max=0.1, drain_timeout=5.0)
    return AgentSection(
        otlp=OTLPConfig(endpoint=endpoint, protocol=protocol, compression=compression), queue=q
    )


def test_compress_batch_roundtrip() -> None:
    b = batch(1)
    c = compress_batch(b)
    assert c.codec == CODEC_GZIP and b.codec == CODEC_RAW
    assert c.raw_size == len(b.payload) == raw_size(c) == raw_size(b)
    assert len(c.payload) < len(b.payload)
    assert gzip.decompress(c.payload) == b.payload
    assert compress_batch(c) is c  # compressed once, never again


@pytest.mark.parametrize(
    ("protocol", "compression"),
    [("http/protobuf", "gzip"), ("http/protobuf", "none"), ("grpc", "gzip"), ("grpc", "none")],
)
def test_compressed_and_raw_batches_delivered(protocol: str, compression: str) -> None:
    raw = [batch(n) for n in range(12)]
    # Mixed on purpose: a coalesced request may hold both kinds.
    sub = [compress_batch(b) if n % 3 else b for n, b in enumerate(raw)]
    with OTLPReceiver(http=True, grpc=True) as rx:
        ep = rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint

        async def main() -> None:
            ex = Exporter(section(ep, protocol, compression))
            await ex.start()
            for b in sub:
                ex.submit(b)
            await ex.stop()
            st = ex.stats()
            assert st.sent_batches == 12 and st.sent_points == 12 * 50
            assert st.sent_bytes == sum(len(b.payload) for b in raw)  # uncompressed bytes
            assert st.sent_requests < 12  # coalesced

        asyncio.run(asyncio.wait_for(main(), 30))
        got = sorted(p.point.as_double for p in rx.points())
        assert got == sorted(float(n * 1000 + i) for n in range(12) for i in range(50))
        if protocol != "grpc":
            enc = {h.get("content-encoding", "") for h in rx.headers}
            assert enc == ({"gzip"} if compression == "gzip" else {""})
            assert rx.raw_bytes_total == sum(len(b.payload) for b in raw)
            if compression == "gzip":
                assert rx.bytes_total < rx.raw_bytes_total
            else:
                assert rx.bytes_total == rx.raw_bytes_total


def test_receiver_decodes_multi_member_gzip_body() -> None:
    import httpx

    a, b = batch(1, 3), batch(2, 4)
    body = compress_batch(a).payload + compress_batch(b).payload
    with OTLPReceiver() as rx:
        r = httpx.post(
            rx.http_endpoint + "/v1/metrics",
            content=body,
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        )
        assert r.status_code == 200
        assert rx.points_total == 7
        assert rx.raw_bytes_total == len(a.payload) + len(b.payload)


def test_disk_queue_stores_compressed_and_replays_codec(tmp_path: Path) -> None:
    path = str(tmp_path / "q")
    raw = [batch(n) for n in range(5)]
    q = DiskQueue(path, 1 << 20)
    for b in raw[:3]:
        q.append(compress_batch(b))
    q.append(raw[3])  # an uncompressed one in the same segment
    q.append(compress_batch(raw[4]))
    stored = sum(len(compress_batch(b).payload) for b in raw[:3] + raw[4:]) + len(raw[3].payload)
    assert q.queued_bytes == stored < sum(len(b.payload) for b in raw)
    q.close()
    segs = [f for f in os.listdir(path) if f.endswith(".q")]
    disk = sum(os.path.getsize(os.path.join(path, f)) for f in segs)
    assert disk == stored + 5 * 27  # 27 bytes of framing per record

    q2 = DiskQueue(path, 1 << 20)
    assert q2.replayed_batches == 5 and q2.corrupt_records == 0
    assert [e.codec for e in q2.entries] == [1, 1, 1, 0, 1]
    assert [e.raw_size for e in q2.entries] == [len(b.payload) for b in raw]
    assert [r[3] for r in read_records(path)] == [b.payload for b in raw]

    async def read_all() -> list[bytes]:
        return [await q2.read(e) for e in q2.entries]

    data = asyncio.run(read_all())
    assert data[3] == raw[3].payload and gzip.decompress(data[0]) == raw[0].payload
    q2.close()


def test_previous_format_records_are_replayed(tmp_path: Path) -> None:
    """Records of the previous format (magic "SQ", uncompressed, no codec) stay readable."""
    path = tmp_path / "q"
    path.mkdir()
    old = struct.Struct("<2sIIId")
    recs = b""
    raw = [batch(n, 5) for n in range(3)]
    for b in raw:
        crc = zlib.crc32(b.payload, zlib.crc32(struct.pack("<Id", b.points, b.created_unix)))
        recs += old.pack(b"SQ", len(b.payload), crc, b.points, b.created_unix) + b.payload
    (path / "seg-000000000001.q").write_bytes(recs)
    q = DiskQueue(str(path), 1 << 20)
    assert q.replayed_batches == 3 and q.corrupt_records == 0
    assert all(e.codec == CODEC_RAW for e in q.entries)
    q.append(compress_batch(batch(9, 5)))  # new records go to a new segment
    q.close()
    got = [ExportMetricsServiceRequest.FromString(r[3]) for r in read_records(str(path))]
    assert [len(r.resource_metrics) for r in got] == [1, 1, 1, 1]


def test_corrupt_codec_or_torn_compressed_tail_is_skipped(tmp_path: Path) -> None:
    path = str(tmp_path / "q")
    q = DiskQueue(path, 1 << 20)
    for n in range(3):
        q.append(compress_batch(batch(n)))
    q.close()
    (seg,) = [os.path.join(path, f) for f in os.listdir(path) if f.endswith(".q")]
    size = os.path.getsize(seg)
    with open(seg, "r+b") as f:
        f.truncate(size - 5)  # torn tail
    q2 = DiskQueue(path, 1 << 20)
    assert q2.replayed_batches == 2 and q2.corrupt_records == 1
    q2.close()
    # Flip the codec byte of the first record: the CRC covers it, the segment ends there.
    with open(seg, "r+b") as f:
        f.seek(2)
        f.write(b"\x00")
    q3 = DiskQueue(path, 1 << 20)
    assert q3.replayed_batches == 0 and q3.corrupt_records == 1
    q3.close()


def test_bound_counts_compressed_bytes() -> None:
    raw = [batch(n, 200) for n in range(10)]
    comp = [compress_batch(b) for b in raw]
    # Room for all ten compressed batches, not for even half of them uncompressed.
    bound = sum(len(c.payload) for c in comp)
    assert bound < sum(len(b.payload) for b in raw[:5])
    q = MemoryQueue(bound)
    for c in comp:
        q.append(c)
    assert len(q) == 10 and q.dropped_batches == 0 and q.queued_bytes == bound
