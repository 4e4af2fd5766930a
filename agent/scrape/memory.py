"""Cap glibc's malloc arenas (``M_ARENA_MAX``) for the agent process.

glibc gives each thread that allocates its own malloc arena (up to 8 per core). The agent
allocates a few hundred MB of short-lived objects per big scrape in three threads (the event
loop, the parse worker, the translate worker), so each arena grows to the peak of the work it
last did and keeps it: measured on the 140k-sample KSM page (``bench/agent_bench.py --env
MALLOC_ARENA_MAX=2``), peak RSS ~500 MB with the default arenas, ~385 MB with two, and no
measurable CPU difference (the GIL serialises the allocating threads anyway). With the
columnar pipeline (session 2) one arena measured 247-248 MB against 255-260 MB for two, CPU
per sample within noise (3.21 / 2.89 vs 3.71 / 3.23 µs): the cap is now one.

:func:`limit_malloc_arenas` sets the cap with ``mallopt`` through ``ctypes`` before the worker
threads start. It does nothing when ``MALLOC_ARENA_MAX`` is already in the environment (glibc
read it at start-up: the operator's choice wins), on a libc other than glibc (musl has no
arenas), or if ``mallopt`` is unavailable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = ["ARENAS", "limit_malloc_arenas"]

ARENAS = 1
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap malloc arenas; True when the cap was set by this call."""
    if "MALLOC_ARENA_MAX" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, int(arenas)))
    except (OSError, AttributeError):
        return False
