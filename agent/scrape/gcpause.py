"""Pause the cyclic garbage collector while a big scrape is processed.

Parsing and processing a 140k-sample page allocates hundreds of thousands of tuples and
``Sample`` objects that live until the batch is translated. Each allocation burst makes
CPython's collector run: hundreds of young collections per scrape and, because those objects
survive into the oldest generation, a full collection that walks every cached series of every
target (millions of objects) about once per scrape. None of that work finds garbage: scrape
processing creates no reference cycles, everything is freed by reference counting. Measured
with ``bench/stages_bench.py`` (KSM page): the collector was ~0.8 us of ~6 us per sample.

:func:`paused` disables the collector for the duration of a ``with`` block; nested and
concurrent blocks (worker threads of several targets, the translate thread) share one pause,
and the collector is re-enabled when the last one ends, unless it was already disabled by
someone else before the first one started.

Re-enabling alone only defers the work: the first young collection afterwards would walk every
object the scrape still holds (the batch on its way to translation) and push them into the old
generations (measured: ~6 ms per young collection, ~40 ms per middle one, per scrape). So the
last pause to end also *freezes* what is alive (``gc.freeze()``: moved to a generation the
collector never walks; reference counting still frees it). Cyclic garbage made during a pause
by other threads would be frozen with it, so at most every ``FULL_COLLECT_INTERVAL`` seconds
the frozen objects are unfrozen and one full collection runs (~0.1-0.3 s on a big heap).
Between pauses the collector runs normally on new objects.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FULL_COLLECT_INTERVAL", "paused"]

FULL_COLLECT_INTERVAL = 300.0  # seconds between full collections of the frozen objects

_lock = threading.Lock()
_depth = 0
_owner = False  # did the first pauser disable the collector (it was enabled)?
_last_full = time.monotonic()


@contextmanager
def paused() -> Iterator[None]:
    global _depth, _owner, _last_full
    with _lock:
        if _depth == 0:
            _owner = gc.isenabled()
            if _owner:
                gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _owner:
                _owner = False
                now = time.monotonic()
                if now - _last_full >= FULL_COLLECT_INTERVAL:
                    _last_full = now
                    gc.unfreeze()
                    gc.collect()
                gc.freeze()
                gc.enable()
