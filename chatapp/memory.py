"""Large allocations go back to the operating system when freed.

Every password hash (Argon2, ``CHAT_ARGON2_MEMORY_KIB``: 19 MiB by default) takes
its memory with malloc on a thread of the CPU pool. glibc serves requests above
its mmap threshold with mmap and returns them on free, but it *raises* that
threshold to the size of each such block freed (up to 32 MiB), so from the
second hash on the 19 MiB come from the thread's heap arena and stay there:
a worker's RSS grew from 113 to 421 MiB over 300 registrations and never came
back (issue 16). Fixing the threshold (``mallopt(M_MMAP_THRESHOLD)``) turns the
adjustment off: blocks of 1 MiB and more are always mapped, and unmapped when
freed. Small allocations (sockets, rows, events) are untouched. Other C
libraries (musl) have no such adjustment; there this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_BYTES = 1024 * 1024


def map_large_allocations(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, threshold) != 1:
        log.warning("mallopt(M_MMAP_THRESHOLD) refused: freed password hashes stay in RSS")
        return False
    return True


def freeze_startup_objects() -> int:
    """Move everything alive now (modules, the app, SQLAlchemy's metadata and
    compiled statements: ~125,000 objects) out of the collector's sight.

    A full collection walked them all, ~150 ms on this machine with the event
    loop stopped, on top of the socket objects it is there for; frozen, they are
    never scanned again (they live as long as the process anyway). Returns how
    many were frozen."""
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
