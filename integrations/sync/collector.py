"""Fewer garbage-collector passes while a sync runs.

A sync allocates and frees millions of small containers (decoded pages,
users, rows) and keeps a few hundred thousand alive (the mirror it plans
over). With Python's default first-generation threshold (700 net new
containers) the collector runs hundreds of times during a 100,000-user
import, and each older-generation pass walks every live object while holding
the interpreter lock, so the page reader, the `$batch` threads and the
database writer all stop for it: about 0.6 s of a 7-10 s import on the
benchmark machine (docs/performance.md, "Eighth session").

A sync creates almost no reference cycles (rows and pages are freed by
reference counting), so collecting after 50,000 net new containers instead
of 700 loses nothing: the few cycles wait a little longer. The thresholds
are process-wide, so nested or concurrent runs in one process (threads of a
web server) share one change, undone when the last of them ends.

Reference: https://docs.python.org/3/library/gc.html#gc.set_threshold
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Net new containers between first-generation passes while a sync runs.
SYNC_FIRST_GENERATION_THRESHOLD = 50_000

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def cyclic_collector_paused() -> Iterator[None]:
    """No cyclic collection at all for the block: for a step that builds a large heap with no
    reference cycle (the plan: some 200,000 small records at 100,000 users), where the
    collector would rescan the growing heap again and again to free nothing. Reference
    counting still frees."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def fewer_collections(first_generation: int = SYNC_FIRST_GENERATION_THRESHOLD) -> Iterator[None]:
    """Raise the collector's first-generation threshold for the block (never lower it, never
    turn automatic collection back on). Thresholds another caller sets while a sync runs
    are replaced by those saved when the first run began, once the last one ends."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            if _saved[0] != 0:  # 0: automatic collection is off, and stays off
                gc.set_threshold(max(first_generation, _saved[0]), _saved[1], _saved[2])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
