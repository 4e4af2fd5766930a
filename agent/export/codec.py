"""Compression of queued OTLP requests: gzip once before the queue, never again.

``compress_batch`` is meant for a worker thread (the runner's translate worker calls it): it
turns an ``EncodedBatch`` into one gzip member (ISA-L level 1, zlib when ISA-L is missing).
The queue stores those bytes as they are (``codec`` 1) and the exporter POSTs them as is for
OTLP/HTTP with ``compression: gzip`` - several records coalesced into one request are the
concatenation of their gzip members, a valid multi-member gzip stream (RFC 1952 2.2; Go's
``compress/gzip`` reader, used by the collector, reads all members by default). For
``compression: none`` and gRPC (which compresses on its own) they are decompressed first.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

from agent.model import CODEC_GZIP, CODEC_RAW, EncodedBatch

__all__ = ["CODEC_GZIP", "CODEC_RAW", "compress_batch", "deflate", "inflate", "raw_size"]

deflate: Callable[..., bytes]
inflate: Callable[[bytes], bytes]
try:
    from isal.igzip import compress as deflate
    from isal.igzip import decompress as inflate
except ImportError:  # pragma: no cover - a declared dependency; zlib is the fallback
    deflate = gzip.compress
    inflate = gzip.decompress


def raw_size(batch: EncodedBatch) -> int:
    """Uncompressed request bytes of a batch, whatever its codec."""
    return batch.raw_size if batch.codec == CODEC_GZIP else len(batch.payload)


def compress_batch(batch: EncodedBatch) -> EncodedBatch:
    """The batch as one gzip member (level 1, mtime 0); already compressed: unchanged."""
    if batch.codec == CODEC_GZIP:
        return batch
    return EncodedBatch(
        deflate(batch.payload, 1, mtime=0),
        batch.points,
        batch.created_unix,
        CODEC_GZIP,
        len(batch.payload),
    )


def to_gzip(payload: bytes, codec: int) -> bytes:
    return payload if codec == CODEC_GZIP else deflate(payload, 1, mtime=0)


def to_raw(payload: bytes, codec: int) -> bytes:
    return inflate(payload) if codec == CODEC_GZIP else payload
