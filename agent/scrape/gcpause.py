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

Re-enabling alone defers some work: the first young collection afterwards walks the
containers the scrape created and still holds. Since scrape results travel as columns of
long-lived ``Series`` objects (untracked floats, a few big lists), that is cheap. An earlier
version also froze (``gc.freeze()``) everything alive at the end of a pause; it measured no
CPU gain with the columnar batches, and it kept the exporter's in-flight HTTP requests, which
become cyclic garbage holding their payload, alive until a periodic full collection: RSS
crept by ~4 MB per KSM scrape under churn (444 MB after 30 scrapes against 353 MB with
frequent collections; peak RSS on KSM 248 MB with the freeze, 234-235 MB without).

A *burst* is different: the first scrape of a big target (every target at agent start) leaves
hundreds of thousands of new long-lived objects (its series and their caches). Left to the
collector they are walked by a young collection, again by a middle one, and then by the full
collection their number triggers: ~3 µs per sample of a first KSM scrape, for no garbage.
So a pause that leaves at least ``FREEZE_MIN`` new tracked objects ends with ``gc.freeze()``
(they skip all that), and the next pause's end unfreezes them into the oldest generation,
where only the full collections of the steady state see them. Whatever was cyclic garbage at
the freeze (finished exporter requests) is therefore held one scrape longer, never more: a
burst right after an unfreeze collects first, unless a full collection already ran since.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused", "FREEZE_MIN"]

FREEZE_MIN = 100_000  # new tracked objects at the end of a pause that make it a burst

_lock = threading.Lock()
_depth = 0
_owner = False  # did the first pauser disable the collector (it was enabled)?
_frozen = False  # did the end of the last pause freeze a burst?
_full_mark = -1  # full collections so far when the last burst was unfrozen (-1: none was)


@contextmanager
def paused() -> Iterator[None]:
    global _depth, _owner
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
                _end_of_pause()
                gc.enable()


def _end_of_pause() -> None:
    global _frozen, _full_mark
    if _frozen:
        gc.unfreeze()
        _frozen = False
        _full_mark = gc.get_stats()[2]["collections"]
    elif gc.get_count()[0] >= FREEZE_MIN:
        if _full_mark == gc.get_stats()[2]["collections"]:
            gc.collect()  # the last burst's garbage (if any) has not been collected yet
        gc.freeze()
        _frozen = True
