"""Ctrl-C at safe points.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, including inside a weakref
callback or an object's finaliser, where it cannot be raised and is printed as "Exception ignored" instead.
Long-running commands (``spinlock generate``) therefore defer the first Ctrl-C: it only requests a stop,
which the work honours at its next safe point (between batches, between completed shards) by raising
``KeyboardInterrupt`` there; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

_requested = threading.Event()


def stop_requested() -> bool:
    """Whether a deferred Ctrl-C is waiting to be honoured."""
    return _requested.is_set()


def check_stop() -> None:
    """A safe point: raise ``KeyboardInterrupt`` if a stop was requested."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_interrupts(
    notice: str = "stopping at the next safe point (Ctrl-C again to stop now)",
) -> Iterator[None]:
    """Within the block, the first SIGINT prints ``notice`` to stderr and requests a stop (see
    :func:`check_stop`); a second one raises ``KeyboardInterrupt`` immediately. Outside the main thread,
    nothing changes (signal handlers belong to the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()
        print(notice, file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


__all__ = ["check_stop", "deferred_interrupts", "stop_requested"]
