"""Read the next page while the current one is written.

Fetching a page is mostly waiting (Microsoft, TLS, the network) and
writing one is mostly waiting too (the database); overlapping the two hides
one behind the other. A background thread drives the page iterator and hands
over at most `depth` pages ahead, so memory stays bounded by a few pages. The
thread never touches the database: every write, and the lease check guarding
it, stays in the caller's thread (which is why a directory client's reads may
only read the directory, `runner.DirectoryClient`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from typing import TypeVar

T = TypeVar("T")


class _Done:
    """The producer's last item: `pages` is exhausted."""


_DONE = _Done()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(pages: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """Yield the items of `pages`, produced one step ahead in a thread.

    An exception raised while producing is re-raised here, at the item where
    it happened. If the consumer stops early (an error, a lost lease) the
    producer stops after the item it is working on.
    """
    with closing(prefetched_together(pages, depth=depth, most=1)) as batches:
        for batch in batches:
            yield from batch


def prefetched_together(
    pages: Iterable[T], *, depth: int = 1, most: int = 1
) -> Generator[list[T], None, None]:
    """`prefetched`, handing over every item already waiting (at most `most`) in one list.

    A consumer slower than the producer then gets several items at once and
    can write them together (fewer transactions); one faster than the
    producer gets them one by one as they come, never waiting for a group to
    fill. Items produced before an exception are handed over first, then
    the exception is raised.
    """
    handoff: queue.Queue[T | _Failure | _Done] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: T | _Failure | _Done) -> bool:
        """Queue `item` for the consumer; False once the consumer has stopped reading."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in pages:
                if not hand_over(item):
                    break
            else:
                hand_over(_DONE)
        except BaseException as exc:  # handed to the consumer, who raises it
            hand_over(_Failure(exc))
        finally:
            close = getattr(pages, "close", None)
            if stop.is_set() and close is not None:
                close()

    producer = threading.Thread(target=produce, name="sync-page-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            batch: list[T] = []
            item = handoff.get()
            while not isinstance(item, _Done | _Failure):
                batch.append(item)
                if len(batch) >= most:
                    break
                try:
                    item = handoff.get_nowait()
                except queue.Empty:
                    break
            if batch:
                yield batch
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failure):
                raise item.error
    finally:
        # The producer notices within 50 ms, or after the request it is in;
        # it never writes anything, so it is not waited for.
        stop.set()
