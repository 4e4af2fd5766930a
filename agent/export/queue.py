"""The export queue: encoded OTLP requests waiting to be sent, on disk or in memory.

``DiskQueue(path, max_bytes)`` appends each batch as one record to segment files
``<path>/seg-<n>.q``::

    record = magic "SZ" | u8 codec | u32 payload length | u32 raw length | u32 CRC32
             | u32 points | f64 created | payload

(little endian; the CRC covers codec, raw length, points, created and payload). ``codec`` is 0
for an uncompressed payload and 1 for one gzip member (``agent.export.codec``; the runner's
translate worker compresses every batch before it reaches the queue); ``raw length`` is the
uncompressed size. Records of the previous format (magic "SQ", no codec: uncompressed) are still
read and replayed. Only a small index entry per
record stays in memory; payloads are read back (``os.pread``, in a worker thread) when sent.
An ack cursor ``<path>/ack`` (segment number and offset, written to a temp file and renamed)
is persisted after each successful send; on start every record after it is replayed.

Durability / fsync policy: ``append`` writes the record with ``os.write`` before returning, so
it survives the agent process being killed (SIGKILL, OOM) - it is in the kernel's page cache.
``sync()`` (called about once a second by the exporter, off the event loop) fsyncs the active
segment, so a machine crash loses at most ~1 s of appended batches. The cursor is not fsynced:
after a machine crash it may be behind, which means duplicates, never loss.

At-least-once: a crash (or a failed cursor write) between a send being acknowledged by the
backend and the cursor being renamed causes the in-flight request (at most
``batch_max_points`` points, possibly several coalesced queued batches) to be sent again.

Replay checks every record: a bad magic, a length past the end of the file or a CRC mismatch
ends that segment (a torn or corrupt tail); the rest of the segment is skipped and counted in
``corrupt_records``/``corrupt_bytes``; nothing after the damage is replayed as garbage.

Bound: ``max_bytes`` caps the queued payload bytes *as stored* - compressed bytes for compressed
batches (about 7x fewer than the OTLP request bytes), so the bound holds ~7x more data than
its size suggests (disk for ``DiskQueue``, memory for ``MemoryQueue``); ``queued_bytes`` counts
the same stored bytes; appending past it drops the oldest records first (``dropped_batches``,
``dropped_points``). A segment file is deleted once all its records are sent or dropped, so the
disk holds at most ``max_bytes`` plus one partly consumed segment (segments are
``min(16 MiB, max_bytes / 8)``) plus 27 bytes of framing per record.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass

from agent.export.codec import raw_size
from agent.model import CODEC_GZIP, CODEC_RAW, EncodedBatch

__all__ = ["DiskQueue", "Entry", "MemoryQueue", "Queue"]

log = logging.getLogger("agent.export")

MAGIC = b"SZ"
_HDR = struct.Struct("<2sBIIIId")  # magic, codec, length, raw length, crc, points, created
_CRC_PART = struct.Struct("<BIId")  # codec, raw length, points, created: CRC'd with the payload
MAGIC_V1 = b"SQ"  # previous format: uncompressed payloads, no codec
_HDR_V1 = struct.Struct("<2sIIId")  # magic, length, crc, points, created
_CRC_PART_V1 = struct.Struct("<Id")
_CURSOR = struct.Struct("<QQ")
SEGMENT_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class Entry:
    seq: int
    points: int
    created: float
    size: int  # payload bytes as stored (compressed when codec is CODEC_GZIP)
    segment: int = -1
    offset: int = 0  # offset of the payload in the segment file
    end: int = 0  # offset just after the record
    payload: bytes | None = None  # MemoryQueue only
    codec: int = CODEC_RAW
    raw_size: int = 0  # uncompressed request bytes


class Queue:
    """Common bookkeeping of both queue kinds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(1, max_bytes)
        self.entries: collections.deque[Entry] = collections.deque()
        self.queued_bytes = 0
        self.queued_points = 0
        self.dropped_batches = 0
        self.dropped_points = 0
        self.corrupt_records = 0
        self.corrupt_bytes = 0
        self.replayed_batches = 0
        self._seq = 0
        self._last_full_log = -1e9

    # -- reading side --

    def peek_many(self, max_points: int, max_bytes: int) -> list[Entry]:
        """Oldest entries that together stay within the limits (always at least one);
        ``max_bytes`` bounds the uncompressed request bytes."""
        out: list[Entry] = []
        pts = size = 0
        for e in self.entries:
            if out and (pts + e.points > max_points or size + e.raw_size > max_bytes):
                break
            out.append(e)
            pts += e.points
            size += e.raw_size
        return out

    def oldest_created(self) -> float | None:
        return self.entries[0].created if self.entries else None

    def __len__(self) -> int:
        return len(self.entries)

    def ack(self, entries: list[Entry]) -> None:
        """Remove sent (or permanently rejected) entries, if they are still at the head."""
        for e in entries:
            if self.entries and self.entries[0].seq == e.seq:
                self._pop()
        self._after_ack()

    async def read(self, entry: Entry) -> bytes:
        raise NotImplementedError

    def append(self, batch: EncodedBatch) -> None:
        raise NotImplementedError

    async def sync(self) -> None:
        return None

    def close(self) -> None:
        return None

    # -- internals --

    def _pop(self) -> Entry:
        e = self.entries.popleft()
        self.queued_bytes -= e.size
        self.queued_points -= e.points
        self._released(e)
        return e

    def append_room(self) -> None:
        """Apply a (possibly lowered) ``max_bytes`` now."""
        self._make_room(0)

    def _admit(self, batch: EncodedBatch) -> bool:
        """Make room for ``batch`` (dropping the oldest batches), or count it dropped when it
        alone is over ``max_bytes``."""
        size = len(batch.payload)
        if size > self.max_bytes:
            self.dropped_batches += 1
            self.dropped_points += batch.points
            return False
        self._make_room(size)
        return True

    def _make_room(self, size: int) -> None:
        dropped = 0
        while self.entries and self.queued_bytes + size > self.max_bytes:
            e = self._pop()
            dropped += e.points
            self.dropped_batches += 1
        if dropped or (self.entries and self.queued_bytes + size > self.max_bytes):
            self.dropped_points += dropped
            now = time.monotonic()
            if now - self._last_full_log >= 60.0:
                self._last_full_log = now
                log.warning(
                    "export queue full (max_bytes=%d): dropping the oldest batches "
                    "(%d points dropped so far); the backend is slower than the scrapes",
                    self.max_bytes,
                    self.dropped_points,
                )
            self._after_ack()

    def _push(self, e: Entry) -> None:
        self.entries.append(e)
        self.queued_bytes += e.size
        self.queued_points += e.points

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _released(self, e: Entry) -> None:
        return None

    def _after_ack(self) -> None:
        return None


class MemoryQueue(Queue):
    """Bounded in-memory queue (``storage_path=None``): lost when the process exits."""

    def append(self, batch: EncodedBatch) -> None:
        if not self._admit(batch):
            return
        size = len(batch.payload)
        self._push(
            Entry(
                self._next_seq(),
                batch.points,
                batch.created_unix,
                size,
                payload=batch.payload,
                codec=batch.codec,
                raw_size=raw_size(batch),
            )
        )

    async def read(self, entry: Entry) -> bytes:
        assert entry.payload is not None
        return entry.payload


class DiskQueue(Queue):
    def __init__(self, path: str, max_bytes: int, segment_bytes: int | None = None) -> None:
        super().__init__(max_bytes)
        self.path = path
        if segment_bytes is None:
            segment_bytes = max(64 * 1024, min(SEGMENT_BYTES, max_bytes // 8))
        self.segment_bytes = segment_bytes
        os.makedirs(path, exist_ok=True)
        self._ack = os.path.join(path, "ack")
        self._ack_tmp = os.path.join(path, "ack.tmp")
        self._live: dict[int, int] = {}  # segment -> entries still queued in it
        self._write_seg = -1
        self._write_fd = -1
        self._write_off = 0
        self._dirty = False
        self._cursor: tuple[int, int] = (0, 0)
        self._replay()
        # New segments must sort after the cursor's, or a later replay would skip them as sent.
        self._open_segment(max([self._write_seg, self._cursor[0], *self._segments()]) + 1)

    # -- files --

    def _seg_path(self, n: int) -> str:
        return os.path.join(self.path, f"seg-{n:012d}.q")

    def _segments(self) -> list[int]:
        out = []
        for name in os.listdir(self.path):
            if name.startswith("seg-") and name.endswith(".q"):
                with contextlib.suppress(ValueError):
                    out.append(int(name[4:-2]))
        return sorted(out)

    def _open_segment(self, n: int) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
        self._write_seg = n
        self._write_fd = os.open(self._seg_path(n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._write_off = os.fstat(self._write_fd).st_size
        self._live.setdefault(n, 0)

    def _load_cursor(self) -> tuple[int, int]:
        try:
            with open(os.path.join(self.path, "ack"), "rb") as f:
                data = f.read()
            seg, off = _CURSOR.unpack(data[: _CURSOR.size])
            return int(seg), int(off)
        except (OSError, struct.error):
            return (0, 0)

    def _save_cursor(self) -> None:
        # os-level calls: no buffered file object per ack (the same file, mode and rename)
        try:
            fd = os.open(self._ack_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                data = _CURSOR.pack(*self._cursor)
                if os.write(fd, data) != len(data):
                    raise OSError(f"short write to {self._ack_tmp}")
            finally:
                os.close(fd)
            os.replace(self._ack_tmp, self._ack)
        except OSError as e:  # a stale cursor only means duplicates after a restart
            log.warning("could not persist the export queue cursor in %s: %s", self.path, e)

    # -- replay --

    def _replay(self) -> None:
        self._cursor = cur_seg, cur_off = self._load_cursor()
        for seg in self._segments():
            if seg < cur_seg:
                self._unlink(seg)
                continue
            start = cur_off if seg == cur_seg else 0
            self._scan(seg, start)
        # Keep the bound after a restart with a smaller max_bytes.
        self._make_room(0)
        if self.replayed_batches:
            log.info(
                "export queue: replaying %d batches (%d points) left by a previous run",
                self.replayed_batches,
                self.queued_points,
            )

    def _scan(self, seg: int, start: int) -> None:
        path = self._seg_path(seg)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            log.warning("export queue: cannot read %s: %s", path, e)
            return
        off = start
        n = len(data)
        count = 0
        while off < n:
            if n - off < _HDR.size:
                self._corrupt(path, off, n - off, "truncated record header")
                break
            magic = data[off : off + 2]
            if magic == MAGIC:
                _, codec, length, rawlen, crc, points, created = _HDR.unpack_from(data, off)
                body = off + _HDR.size
                part = _CRC_PART.pack(codec, rawlen, points, created)
            elif magic == MAGIC_V1:
                _, length, crc, points, created = _HDR_V1.unpack_from(data, off)
                codec, rawlen = CODEC_RAW, length
                body = off + _HDR_V1.size
                part = _CRC_PART_V1.pack(points, created)
            else:
                self._corrupt(path, off, n - off, "bad record magic")
                break
            if body + length > n:
                self._corrupt(path, off, n - off, "truncated record")
                break
            payload = memoryview(data)[body : body + length]
            if zlib.crc32(payload, zlib.crc32(part)) != crc:
                self._corrupt(path, off, n - off, "CRC mismatch")
                break
            if codec not in (CODEC_RAW, CODEC_GZIP):
                self._corrupt(path, off, n - off, f"unknown payload codec {codec}")
                break
            self._push(
                Entry(
                    self._next_seq(),
                    points,
                    created,
                    length,
                    seg,
                    body,
                    body + length,
                    codec=codec,
                    raw_size=rawlen,
                )
            )
            count += 1
            off = body + length
        self.replayed_batches += count
        if count:
            self._live[seg] = self._live.get(seg, 0) + count
        else:
            self._unlink(seg)

    def _corrupt(self, path: str, off: int, nbytes: int, why: str) -> None:
        self.corrupt_records += 1
        self.corrupt_bytes += nbytes
        log.warning(
            "export queue: %s in %s at offset %d; skipping the last %d bytes of that segment",
            why,
            path,
            off,
            nbytes,
        )

    # -- queue operations --

    def append(self, batch: EncodedBatch) -> None:
        if not self._admit(batch):
            return
        size = len(batch.payload)
        if self._write_off >= self.segment_bytes:
            self._open_segment(self._write_seg + 1)
        codec, rawlen = batch.codec, raw_size(batch)
        part = _CRC_PART.pack(codec, rawlen, batch.points, batch.created_unix)
        crc = zlib.crc32(batch.payload, zlib.crc32(part))
        hdr = _HDR.pack(MAGIC, codec, size, rawlen, crc, batch.points, batch.created_unix)
        record = hdr + batch.payload
        written = 0
        try:
            while written < len(record):
                written += os.write(self._write_fd, record[written:])
        except OSError as e:
            # Disk full or I/O error: the partial record is a torn tail for the next replay;
            # continue in a new segment so later records stay readable.
            log.error("export queue: writing to %s failed: %s; batch dropped", self.path, e)
            self.dropped_batches += 1
            self.dropped_points += batch.points
            self._write_off += written
            with contextlib.suppress(OSError):
                self._open_segment(self._write_seg + 1)
            return
        body = self._write_off + _HDR.size
        self._write_off += len(record)
        self._dirty = True
        self._push(
            Entry(
                self._next_seq(),
                batch.points,
                batch.created_unix,
                size,
                self._write_seg,
                body,
                body + size,
                codec=codec,
                raw_size=rawlen,
            )
        )
        self._live[self._write_seg] = self._live.get(self._write_seg, 0) + 1

    async def read(self, entry: Entry) -> bytes:
        # A private fd per read: the segment may be released (and unlinked) by the event loop
        # while the worker thread reads it; a shared fd could be closed and its number reused.
        return await asyncio.to_thread(
            _pread, self._seg_path(entry.segment), entry.size, entry.offset
        )

    def _released(self, e: Entry) -> None:
        self._cursor = (e.segment, e.end)
        left = self._live.get(e.segment, 1) - 1
        self._live[e.segment] = left
        if left <= 0 and e.segment != self._write_seg:
            self._unlink(e.segment)

    def _after_ack(self) -> None:
        self._save_cursor()

    def _unlink(self, seg: int) -> None:
        self._live.pop(seg, None)
        with contextlib.suppress(OSError):
            os.unlink(self._seg_path(seg))

    async def sync(self) -> None:
        if self._dirty and self._write_fd >= 0:
            self._dirty = False
            fd = self._write_fd
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.fsync, fd)

    def close(self) -> None:
        self._save_cursor()
        if self._write_fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self._write_fd)
            os.close(self._write_fd)
            self._write_fd = -1
        # An active segment whose records were all sent (or dropped) is dead weight.
        if self._live.get(self._write_seg, 0) == 0:
            with contextlib.suppress(OSError):
                os.unlink(self._seg_path(self._write_seg))


def _pread(path: str, size: int, offset: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, size, offset)
    finally:
        os.close(fd)
    if len(data) != size:
        raise OSError(f"{path}: short read at offset {offset} ({len(data)} of {size} bytes)")
    return data


def age_seconds(created: float | None) -> float:
    return 0.0 if created is None else max(0.0, time.time() - created)


def read_records(path: str) -> list[tuple[str, int, int, bytes]]:
    """Unacknowledged records of the disk queue in ``path`` (for tests and tools):
    ``(segment file, record offset, record end, uncompressed payload)``, in order, stopping
    at the first torn or corrupt record of each segment."""
    from agent.export.codec import to_raw

    cur_seg, cur_off = 0, 0
    with contextlib.suppress(OSError, struct.error):
        with open(os.path.join(path, "ack"), "rb") as f:
            cur_seg, cur_off = _CURSOR.unpack(f.read()[: _CURSOR.size])
    segs = []
    for name in os.listdir(path):
        if name.startswith("seg-") and name.endswith(".q"):
            with contextlib.suppress(ValueError):
                segs.append((int(name[4:-2]), os.path.join(path, name)))
    out = []
    for n, seg in sorted(segs):
        if n < cur_seg:
            continue
        with open(seg, "rb") as f:
            data = f.read()
        off = cur_off if n == cur_seg else 0
        while True:
            magic = data[off : off + 2]
            if magic == MAGIC and off + _HDR.size <= len(data):
                _, codec, length, _raw, _crc, _pts, _created = _HDR.unpack_from(data, off)
                body = off + _HDR.size
            elif magic == MAGIC_V1 and off + _HDR_V1.size <= len(data):
                _, length, _crc, _pts, _created = _HDR_V1.unpack_from(data, off)
                codec, body = CODEC_RAW, off + _HDR_V1.size
            else:
                break
            if body + length > len(data):
                break
            out.append((seg, off, body + length, to_raw(data[body : body + length], codec)))
            off = body + length
    return out
